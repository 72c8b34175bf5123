#!/usr/bin/env node
/**
 * The command line bundled with esbuild: dist/cli/<command>.bundle.cjs for each command (what that
 * command can reach, and nothing else; CommonJS, with a V8 code cache made at the end), and
 * dist/certctl.js with every command (help, unknown commands), each with its .map. bin/certctl.js
 * picks one (commandOf from dist/cli/commands/index.cjs, the same rule main.ts uses).
 * `npm run build` runs tsc first (dist/index.js, the .d.ts files and dist/core/… for the library entry
 * and the tests), then this. Why these options, with the numbers:
 * docs/architecture.md "How dist/ is built" and BENCHMARKS.md.
 *
 * - No code splitting: certctl reaches most modules through a lazy import(), so esbuild's splitting
 *   made a chunk per module (158 files; `plan` loaded 46, as many as tsc's output). In one file a
 *   lazily imported module still runs only when first imported (esbuild's lazy module wrappers); what
 *   it costs is parsing the file, so each command gets a file of its own: `status` parses 266 kB
 *   instead of the 775 kB of every command.
 * - Packages and node: built-ins stay outside and are `require`d when the module that imports them
 *   first runs (lazyExternals below). An ES module's static imports all load before its first line
 *   runs, so a one-file bundle with plain external imports loads node-forge, SQLite and node:tls for a
 *   `status`. better-sqlite3 (a native addon) and pg must stay outside anyway. commander is the
 *   exception: every command line needs it, and inside the bundle it is one parse instead of ten files.
 * - Whitespace and syntax minified (a smaller file parses faster), identifiers and class names kept,
 *   so a stack trace names certctl's functions even without the source map. The map is read only when
 *   CERTCTL_DEBUG is set or --verbose is given (bin/certctl.js), so traces then name src/ files.
 */
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
/** Bundled into the file instead of required from node_modules. */
const INLINE = new Set(['commander']);

/**
 * A command's bundle (CommonJS, code-cached) also carries better-sqlite3's JavaScript (not its addon:
 * the ledger passes the addon's path, src/core/ledger/ledger.ts nativeBinding): eleven files fewer to
 * resolve and compile, and their compiled code in the cache; still run only when the ledger module
 * first runs. (tldts inside too measured no better: its cost is running its tables, not compiling.)
 */
const INLINE_IN_COMMANDS = new Set([...INLINE, 'better-sqlite3']);

/**
 * The lazy-externals plugin for a bundle written to directory `outDir` (the vendored acme-client is
 * named relative to it), bundling the packages of `inline`.
 */
const lazyExternals = (outDir, inline = INLINE) => ({
  name: 'lazy-externals',
  setup(build) {
    build.onResolve({ filter: /vendor\/acme-client\.cjs$/, namespace: 'acme-vendor' }, (a) => ({ path: a.path, external: true }));
    build.onResolve({ filter: /^[^./]/ }, (a) => {
      if (a.namespace === 'lazy-external') return { path: a.path, external: true };
      // acme-client is its own bundle, dist/vendor/acme-client.cjs (below), required where src/ imports
      // it: import() of a CommonJS file runs Node's cjs-module-lexer over it (~0.1–0.26 s for its 400 kB).
      if (a.path === 'acme-client') return { path: a.path, namespace: 'acme-vendor' };
      if (inline.has(packageName(a.path))) return undefined; // esbuild resolves and bundles it
      // import() stays import(): it is lazy already. So does an ES-only package (chalk, the proxy
      // agents): require() of an ES module needs Node 20.19, and engines says >=20.
      if (a.kind === 'dynamic-import' || esOnly(a.path)) return { path: a.path, external: true };
      return { path: a.path, namespace: 'lazy-external' };
    });
    // A CommonJS stand-in: esbuild runs it (and so the require) when the importing module first runs.
    build.onLoad({ filter: /.*/, namespace: 'lazy-external' }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
    build.onLoad({ filter: /.*/, namespace: 'acme-vendor' }, () => {
      const rel = path.relative(outDir, ACME_VENDOR).split(path.sep).join('/');
      return { contents: `module.exports = require(${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)});`, loader: 'js' };
    });
  },
});

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

/** Only command `only` can be loaded (src/cli/commands/index.ts rewritten): a per-command bundle. */
function onlyCommand(only) {
  return {
    name: 'only-command',
    setup(build) {
      build.onLoad({ filter: /src[\\/]cli[\\/]commands[\\/]index\.ts$/ }, (a) => {
        const text = fs.readFileSync(a.path, 'utf8');
        let kept = 0;
        const contents = text.replace(/^(\s+)([a-z]+): \(\) => import\('\.\/([a-z-]+)\.js'\),$/gm, (line, sp, name) => {
          if (name === only) { kept++; return line; }
          return `${sp}${name}: () => Promise.reject(new Error('certctl: the ${only} bundle cannot load ${name}')),`;
        });
        if (kept !== 1) throw new Error(`scripts/bundle.mjs: commands/index.ts has no loader line for ${only}`);
        return { contents, loader: 'ts' };
      });
    },
  };
}

/** What every bundle here is built with. */
const common = {
  absWorkingDir: ROOT,
  bundle: true,
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
};
const options = {
  ...common,
  entryPoints: ['src/cli/main.ts'],
  splitting: false,
  format: 'esm',
  define: { CERTCTL_VERSION: JSON.stringify(pkg.version) },
  // The `require` the stand-ins above call (an ES module has none of its own).
  banner: { js: "import{createRequire as __certctlRequire}from'node:module';const require=__certctlRequire(import.meta.url);" },
};
const OUT = process.env.CERTCTL_BUNDLE_OUT ?? path.join(ROOT, 'dist');
const ACME_VENDOR = path.join(OUT, 'vendor', 'acme-client.cjs');

/**
 * acme-client (pinned in package.json) with axios and its other dependencies in one CommonJS file,
 * dist/vendor/acme-client.cjs, which the CLI bundles import() where src/ imports 'acme-client' (the
 * library entry, dist/index.js, still imports the package). Loading the package file by file was
 * ~0.3 s of CPU of one `issue` on the loaded 2-core machine (`node --cpu-prof`): resolving and
 * compiling ~90 files, of which @peculiar/x509 (~0.17 s), node-forge (~0.05 s) and asn1js are used
 * only by acme-client's crypto helpers (CSR and certificate parsing, the TLS-ALPN certificate), which
 * certctl does not call on its way through an order (certctl makes its CSRs and keys itself, and its
 * finalize sends the CSR's DER through adapter.ts). Those three stay outside, required from
 * acme-client's own directory the first time one of them is used — rewriteAcme below, which fails
 * the build if acme-client's text is not what it rewrites.
 */
const ACME_LAZY = ['@peculiar/x509', 'asn1js', 'node-forge'];
const ACME_REWRITES = {
  'src/crypto/index.js': [
    ["const asn1js = require('asn1js');", "const asn1js = __certctlLazy(() => __certctlAcmeRequire('asn1js'));"],
    // x509's crypto provider is set when x509 is first used, not when acme-client loads.
    ["const x509 = require('@peculiar/x509');", "const x509 = __certctlLazy(() => { const m = __certctlAcmeRequire('@peculiar/x509'); m.cryptoProvider.set(crypto.webcrypto); return m; });"],
    ['x509.cryptoProvider.set(crypto.webcrypto);', ''],
  ],
  'src/crypto/forge.js': [["const forge = require('node-forge');", "const forge = __certctlLazy(() => __certctlAcmeRequire('node-forge'));"]],
  // acme.forge (node-forge helpers) is a getter: the module is loaded when it is read.
  'src/index.js': [["exports.forge = require('./crypto/forge');", "Object.defineProperty(exports, 'forge', { enumerable: true, get: () => require('./crypto/forge') });"]],
};
/**
 * axios (acme-client's HTTP client, told to use its Node http adapter) builds its fetch adapter when
 * it loads: reading globalThis.fetch, Request and Response loads Node's undici and makes test
 * Requests, ~10–15 ms of one `issue`'s CPU (\`node --cpu-prof\`) for an adapter acme-client never
 * uses. The eager call goes; axios still builds it on first use (knownAdapters.fetch's getter).
 * The build fails if axios' text is not what these rewrite.
 */
const AXIOS_REWRITES = [
  ['\ngetFetch();\n', '\n'],
  // Reading globalThis.FormData loads undici too: read on the first isFormData() instead.
  ["const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;", "let FormDataCtor$;\nconst FormDataCtor = () => (FormDataCtor$ === undefined ? (FormDataCtor$ = typeof G.FormData !== 'undefined' ? G.FormData : null) : FormDataCtor$);"],
  ['if (FormDataCtor && thing instanceof FormDataCtor) return true;', 'if (FormDataCtor() && thing instanceof FormDataCtor()) return true;'],
];
const rewriteAxios = {
  name: 'rewrite-axios',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]axios[\\/]dist[\\/]node[\\/]axios\.cjs$/ }, (a) => {
      let text = fs.readFileSync(a.path, 'utf8');
      for (const [from, to] of AXIOS_REWRITES) {
        if (text.split(from).length !== 2) throw new Error(`scripts/bundle.mjs: axios' dist/node/axios.cjs no longer has exactly one \`${from.trim()}\`: check AXIOS_REWRITES against the new version`);
        text = text.replace(from, () => to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};
const rewriteAcme = {
  name: 'rewrite-acme-client',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]acme-client[\\/]src[\\/].*\.js$/ }, (a) => {
      const rel = a.path.split(/[\\/]node_modules[\\/]acme-client[\\/]/).pop().split(path.sep).join('/');
      let text = fs.readFileSync(a.path, 'utf8');
      for (const [from, to] of ACME_REWRITES[rel] ?? []) {
        if (text.split(from).length !== 2) throw new Error(`scripts/bundle.mjs: acme-client's ${rel} no longer has exactly one \`${from}\`: check ACME_REWRITES against the new version`);
        text = text.replace(from, () => to);
      }
      return { contents: text, loader: 'js' };
    });
  },
};
// A module required lazily: the real one is loaded on the first property read (or \`in\`, or new).
const ACME_BANNER = [
  "const __certctlAcmeRequire = require('node:module').createRequire(require.resolve('acme-client'));",
  'const __certctlLazy = (load) => { let m; const get = () => (m ??= load()); return new Proxy({}, { get: (_, k) => get()[k], has: (_, k) => k in get(), ownKeys: () => Reflect.ownKeys(get()), getOwnPropertyDescriptor: (_, k) => { const d = Reflect.getOwnPropertyDescriptor(get(), k); return d && { ...d, configurable: true }; } }); };',
].join('\n');
const acmeVendor = () =>
  esbuild.build({
    ...common,
    entryPoints: [path.join(ROOT, 'node_modules', 'acme-client', 'src', 'index.js')],
    format: 'cjs',
    external: ACME_LAZY,
    banner: { js: ACME_BANNER },
    outfile: ACME_VENDOR,
    plugins: [rewriteAcme, rewriteAxios],
  });
// A command's bundle is CommonJS (dist/cli/<command>.bundle.cjs): bin/ then runs it without Node's ES
// module loader, and through vm.Script with a V8 code cache (below). `import.meta.url` is the file's URL
// as in the ES module. A vm.Script cannot import() on Node 20 (without --experimental-vm-modules), so
// each import( becomes __dyn$( (as long, so the source map's columns hold): bin/ passes its own
// import() as module.__dyn$; loaded by require() or import() instead, the bundle's own import() serves.
const commandOptions = {
  ...options,
  format: 'cjs',
  define: { ...options.define, 'import.meta.url': '__certctlUrl' },
  banner: { js: 'var __certctlUrl=require("node:url").pathToFileURL(__filename).href,__dyn$=module.__dyn$||(s=>import(s));' },
};
function routeImports(file) {
  const text = fs.readFileSync(file, 'utf8');
  const banner = commandOptions.banner.js;
  if (!text.startsWith(banner)) throw new Error(`scripts/bundle.mjs: ${file} does not start with its banner`);
  const body = text.slice(banner.length).replace(/(?<![\w$.])import\((?=")/g, '__dyn$(');
  const left = /(?<![\w$.])import\(/.exec(body);
  if (left) throw new Error(`scripts/bundle.mjs: ${file} keeps an import( at ${left.index}: ${body.slice(left.index, left.index + 60)}`);
  fs.writeFileSync(file, banner + body);
}
const { COMMANDS } = await import(pathToFileURL(path.join(ROOT, 'dist', 'cli', 'commands', 'index.js')).href);
await Promise.all([
  acmeVendor(),
  esbuild.build({ ...options, outfile: path.join(OUT, 'certctl.js'), plugins: [lazyExternals(OUT)] }),
  ...Object.keys(COMMANDS).map(async (c) => {
    const outfile = path.join(OUT, 'cli', `${c}.bundle.cjs`);
    await esbuild.build({ ...commandOptions, outfile, plugins: [lazyExternals(path.join(OUT, 'cli'), INLINE_IN_COMMANDS), onlyCommand(c)] });
    routeImports(outfile);
  }),
  // bin/ (CommonJS) reads commandOf from this copy of tsc's commands/index.js; its import()s stay lazy.
  esbuild.build({ absWorkingDir: ROOT, entryPoints: ['src/cli/commands/index.ts'], bundle: false, format: 'cjs', platform: 'node', target: 'node20', outfile: path.join(OUT, 'cli', 'commands', 'index.cjs'), logLevel: 'warning' }),
]);

// The V8 code cache of each command's bundle (dist/cli/<command>.bundle.cjs.cache): bytecode of the
// functions a run compiled, so the next run does not parse and compile them again (BENCHMARKS.md "plan
// on 1,000,000 certificates"). Written by a run of the bundle (scripts/code-cache.cjs) over an empty
// state dir: plan and status run for real, the others print their help. V8 checks the cache against
// its own version, flags and the source, and compiles as usual when it does not fit (another Node): a
// cache can make a run slower by nothing but its read. A cache that cannot be made is left out.
if (!process.env.CERTCTL_BUNDLE_OUT) {
  const { execFileSync } = await import('node:child_process');
  const os = await import('node:os');
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-code-cache-'));
  // The training runs touch nothing of the machine's: their own state dir, SQLite ledger and empty
  // config, and an environment without the builder's (a CERTCTL_LEDGER exported in the shell that runs
  // `npm ci` would otherwise be opened — and a fleet's PostgreSQL ledger migrated — by the build).
  const config = path.join(state, 'config.json');
  fs.writeFileSync(config, '{}\n');
  const own = ['--state-dir', state, '--ledger', path.join(state, 'ledger.sqlite'), '--config', config];
  const runs = {
    plan: [...own, '--json', 'plan', '-d', 'www.example.com', '-d', 'example.com', '--key-type', 'dual'],
    status: [...own, 'status'],
  };
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: state, NO_COLOR: '1', CERTCTL_HOME: state, XDG_CONFIG_HOME: state, XDG_STATE_HOME: state };
  try {
    for (const c of Object.keys(COMMANDS)) {
      try {
        execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'code-cache.cjs'), c, ...(runs[c] ?? [c, '--help'])], { stdio: ['ignore', 'ignore', 'pipe'], env });
      } catch (err) {
        console.warn(`scripts/bundle.mjs: no code cache for ${c}: ${String(err.stderr ?? err.message).trim().split('\n')[0]}`);
      }
    }
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}
