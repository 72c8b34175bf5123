#!/usr/bin/env node
/**
 * Bench: registered-domain look-ups (issue 19). certctl's src/core/suffixes.ts (tldts, built) against
 * psl itself and, with --before DIR (a built older checkout), that checkout's suffixes.js (before issue
 * 19: a matcher over psl's private data file). Start-up: a fresh process that imports the module and
 * answers one name, minus `node -e 0`, alternating, median of --runs. Per call: 1,000,000 names
 * (50,000 registered domains under a mix of suffixes, 1–3 labels above them) in one process, median of 5.
 * Needs `npm run build`; psl is a devDependency (the agreement test uses it too).
 *
 *   node bench/suffixes.mjs [--before DIR] [--runs 21]
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (n, d) => { const i = process.argv.indexOf(`--${n}`); return i > 0 ? process.argv[i + 1] : d; };
const RUNS = Number(arg('runs', 21));
const before = arg('before', undefined);
const url = (f) => pathToFileURL(f).href;
const impls = {
  'certctl (tldts)': `const { registrableDomain: f } = await import(${JSON.stringify(url(path.join(ROOT, 'dist/core/suffixes.js')))});`,
  'psl.parse': `const { createRequire } = await import('node:module'); const psl = createRequire(${JSON.stringify(url(path.join(ROOT, 'package.json')))})('psl'); const f = (n) => psl.parse(n).domain ?? null;`,
};
if (before) impls['before (psl data file)'] = `const { registrableDomain: f } = await import(${JSON.stringify(url(path.join(path.resolve(before), 'dist/core/suffixes.js')))});`;

const SUFFIXES = ['com', 'co.uk', 'github.io', 'com.cn', 'de', 'kobe.jp', 'xn--fiqs8s', 's3.amazonaws.com', 'org', 'unlisted-tld'];
const corpus = `const names = []; for (let i = 0; i < 1_000_000; i++) { const s = ${JSON.stringify(SUFFIXES)}[i % ${SUFFIXES.length}]; const d = 'd' + (i % 50_000) + '.' + s; names.push(i % 3 === 0 ? d : i % 3 === 1 ? 'www.' + d : 'a' + (i % 7) + '.b.' + d); }`;

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const ms = (args) => { const t = performance.now(); const r = spawnSync(process.execPath, args, { encoding: 'utf8' }); if (r.status !== 0) throw new Error(r.stderr); return performance.now() - t; };
const start = Object.fromEntries(Object.keys(impls).map((k) => [k, []]));
const floor = [];
for (let i = -1; i < RUNS; i++) {
  const f = ms(['-e', '0']);
  if (i >= 0) floor.push(f);
  for (const [k, code] of Object.entries(impls)) {
    const t = ms(['--input-type=module', '-e', `${code} if (f('www.example.co.uk') !== 'example.co.uk') process.exit(1);`]);
    if (i >= 0) start[k].push(t);
  }
}
console.log('| implementation | start-up (process − node -e 0), median | 1,000,000 look-ups, median of 5 | per call |\n|---|---|---|---|');
for (const [k, code] of Object.entries(impls)) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `${code} ${corpus} const w = []; let x = 0; for (let k = 0; k < 6; k++) { const t = performance.now(); for (const n of names) if (f(n)) x++; if (k) w.push(performance.now() - t); } w.sort((a, b) => a - b); console.log(w[2], x);`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  const perM = Number(r.stdout.split(' ')[0]);
  console.log(`| ${k} | ${(median(start[k]) - median(floor)).toFixed(1)} ms | ${perM.toFixed(0)} ms | ${((perM * 1000) / 1e6).toFixed(2)} µs |`);
}
console.log(`\nnode -e 0: ${median(floor).toFixed(0)} ms (median of ${RUNS})`);
