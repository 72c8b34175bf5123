#!/usr/bin/env node
'use strict';
// Tiny launcher (CommonJS: bin/package.json; no ES module loader at start-up). The CLI is bundled
// (npm run build; scripts/bundle.mjs, docs/architecture.md "How dist/ is built"): a command line that
// names a command runs that command's bundle, dist/cli/<command>.bundle.cjs (only the code it can
// reach), with the V8 code cache the build made for it; help and unknown commands run dist/certctl.js
// (every command). A bare --version is answered here, before any bundle loads (BENCHMARKS.md "cold
// start"); the output is the same as commander's.
const path = require('node:path');

const DIST = path.join(__dirname, '..', 'dist');
/** The source a command's bundle runs as: the bundle in CommonJS's function wrapper. */
const WRAP = ['(function (exports, require, module, __filename, __dirname) {', '\n})'];

/**
 * Compile a command's bundle with its code cache (`<bundle>.cache`, made at build time by
 * scripts/code-cache.cjs) as vm.Script: the functions the cache holds are not parsed and compiled
 * again. No cache, or one V8 rejects (another Node, other V8 flags): V8 compiles it as usual.
 */
function compileBundle(file, vm, fs) {
  const text = fs.readFileSync(file);
  const source = WRAP[0] + text.toString('utf8') + WRAP[1];
  let cachedData;
  try {
    cachedData = cacheFor(text, fs.readFileSync(file + '.cache'));
  } catch {
    /* no cache: compiled as usual */
  }
  return new vm.Script(source, { filename: file, cachedData });
}

/** Bytes of the digest in front of a cache file's V8 data. */
const DIGEST_BYTES = 20;
/** SHA-1 of the bundle's bytes and the V8 data: what a cache file starts with (scripts/code-cache.cjs). */
function cacheDigest(bundle, data) {
  return require('node:crypto').createHash('sha1').update(bundle).update(data).digest();
}
/**
 * The V8 data of a cache file, or undefined unless its digest matches this bundle and this data. V8
 * checks only the source's length (and its own version and flags) and trusts the data: a damaged byte
 * crashed the process (V8 "unreachable code", SIGSEGV), and a same-length edit of the bundle ran the
 * old code. A cache that does not match is not used: the bundle is compiled as usual.
 */
function cacheFor(bundle, file) {
  if (file.length <= DIGEST_BYTES) return undefined;
  const data = file.subarray(DIGEST_BYTES);
  return cacheDigest(bundle, data).equals(file.subarray(0, DIGEST_BYTES)) ? data : undefined;
}

/**
 * Run a compiled bundle as a CommonJS module of its own file; its exports. The bundle's import()s
 * (ES-only packages, node: built-ins; never a relative path) call `module.__dyn$`, this file's
 * import() (scripts/bundle.mjs): a vm.Script's own import() needs --experimental-vm-modules on Node 20,
 * and its main-context loader is experimental and fails once the code comes from a cache. Resolved
 * from bin/, a package name finds the node_modules that dist/cli/ would.
 */
function runBundle(script, file) {
  const mod = { exports: {}, __dyn$: (specifier) => import(specifier) };
  script.runInThisContext()(mod.exports, require('node:module').createRequire(file), mod, file, path.dirname(file));
  return mod.exports;
}

/** The named command's main(argv). */
function commandMain(command, sourceMaps) {
  const file = path.join(DIST, 'cli', `${command}.bundle.cjs`);
  // Stack traces through the source map (--verbose, CERTCTL_DEBUG) need Node's CommonJS loader, which
  // reads the map.
  if (sourceMaps) return require(file).main;
  return runBundle(compileBundle(file, require('node:vm'), require('node:fs')), file).main;
}

function launch() {
  const args = process.argv.slice(2);
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    process.stdout.write(require('../package.json').version + '\n');
    return;
  }
  // Stack traces name src/ files through the bundle's source map, read only when one may be printed
  // (--verbose prints an internal error's stack) or asked for: loading the map costs start-up.
  const sourceMaps = Boolean(process.env.CERTCTL_DEBUG || args.includes('--verbose') || args.includes('-v'));
  if (sourceMaps) process.setSourceMapsEnabled(true);
  const command = require('../dist/cli/commands/index.cjs').commandOf(args);
  if (command) return commandMain(command, sourceMaps)(process.argv);
  return import('../dist/certctl.js').then(({ main }) => main(process.argv));
}

if (require.main === module) launch();
else module.exports = { compileBundle, runBundle, cacheDigest, WRAP };
