#!/usr/bin/env node
'use strict';
/**
 * Make the V8 code cache of one command's bundle: `node scripts/code-cache.cjs <command> <argv…>`
 * compiles dist/cli/<command>.bundle.cjs exactly as bin/certctl.js does (its compileBundle, without a
 * cache), runs main(argv), and when the process exits writes what V8 compiled meanwhile to
 * dist/cli/<command>.bundle.cjs.cache (a temporary file renamed into place). scripts/bundle.mjs runs it
 * for each command at build time.
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { compileBundle, runBundle, cacheDigest } = require('../bin/certctl.js');

const [command, ...argv] = process.argv.slice(2);
const file = path.join(__dirname, '..', 'dist', 'cli', `${command}.bundle.cjs`);
fs.rmSync(file + '.cache', { force: true });
const script = compileBundle(file, vm, fs);
process.on('exit', () => {
  const tmp = `${file}.cache.${process.pid}.tmp`;
  // The digest first (bin/certctl.js cacheFor): a cache is used only for the bundle it was made from, undamaged.
  const data = script.createCachedData();
  fs.writeFileSync(tmp, Buffer.concat([cacheDigest(fs.readFileSync(file), data), data]), { mode: 0o644 });
  fs.renameSync(tmp, file + '.cache');
  process.exitCode = 0; // the run only trained the cache: its verdict is not the build's
});
runBundle(script, file).main(['node', 'certctl', ...argv]);
