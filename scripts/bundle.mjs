#!/usr/bin/env node
/**
 * The command line as one ES module: dist/certctl.js (+ .map), run by bin/certctl.js. `npm run build`
 * runs tsc first (dist/index.js, the .d.ts files and dist/core/… for the library entry and the tests),
 * then this. Why one file and why these options, with the numbers: docs/architecture.md
 * "How dist/ is built" and BENCHMARKS.md.
 *
 * - One file, no code splitting: certctl's own code reaches most modules through a lazy import(), so
 *   esbuild's splitting made a chunk per module (158 files; `plan` loaded 46 of them, as many as tsc's
 *   output). In one file a lazily imported module is still run only when first imported (esbuild's
 *   lazy module wrappers); what it costs is parsing the whole file once.
 * - Packages and node: built-ins stay outside and are `require`d when the module that imports them
 *   first runs (lazyExternals below). An ES module's static imports all load before its first line
 *   runs, so a one-file bundle with plain external imports loads node-forge, SQLite and node:tls for a
 *   `status`. better-sqlite3 (a native addon) and pg must stay outside anyway. commander is the
 *   exception: every command line needs it, and inside the bundle it is one parse instead of ten files.
 * - Whitespace and syntax minified (a smaller file parses faster), identifiers kept: a stack trace
 *   names certctl's functions even without the source map. The map (dist/certctl.js.map) is read
 *   only when CERTCTL_DEBUG is set or --verbose is given (bin/certctl.js), so traces then name src/ files.
 */
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** Bundled into the file instead of required from node_modules. */
const INLINE = new Set(['commander']);

const lazyExternals = {
  name: 'lazy-externals',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (a) => {
      if (a.namespace === 'lazy-external') return { path: a.path, external: true };
      if (INLINE.has(packageName(a.path))) return undefined; // esbuild resolves and bundles it
      // import() stays import(): it is lazy already. So does an ES-only package (chalk, the proxy
      // agents): require() of an ES module needs Node 20.19, and engines says >=20.
      if (a.kind === 'dynamic-import' || esOnly(a.path)) return { path: a.path, external: true };
      return { path: a.path, namespace: 'lazy-external' };
    });
    // A CommonJS stand-in: esbuild runs it (and so the require) when the importing module first runs.
    build.onLoad({ filter: /.*/, namespace: 'lazy-external' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
  },
};

function packageName(spec) {
  return /^(@[^/]+\/)?[^/]+/.exec(spec)?.[0] ?? spec;
}

/** A package without a CommonJS entry ("type": "module" and no "require" condition). */
function esOnly(spec) {
  if (spec.startsWith('node:')) return false;
  let meta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', packageName(spec), 'package.json'), 'utf8'));
  } catch {
    return false; // a built-in named without node: (fs, path …)
  }
  return meta.type === 'module' && !JSON.stringify(meta.exports ?? {}).includes('"require"');
}

await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: ['src/cli/main.ts'],
  outfile: process.env.CERTCTL_BUNDLE_OUT ?? path.join(ROOT, 'dist', 'certctl.js'),
  bundle: true,
  splitting: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  // A class in a lazily run module is emitted as `X = class _X`: without this, new.target.name (an
  // error's kind in --json, certctl.error/1) would read _InterruptedError.
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
  plugins: [lazyExternals],
  define: { CERTCTL_VERSION: JSON.stringify(pkg.version) },
  // The `require` the stand-ins above call (an ES module has none of its own).
  banner: { js: "import{createRequire as __certctlRequire}from'node:module';const require=__certctlRequire(import.meta.url);" },
});
