#!/usr/bin/env node
/**
 * Before/after on one machine: the built CLI of an older checkout against this one, runs alternating,
 * medians — so a change is judged against the same machine at the same moment (BENCHMARKS.md, first section).
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s /path/to/this/checkout/node_modules . && npx tsc -p tsconfig.json)
 *   node bench/renew-nothing-due.mjs --runs 1 --lineages 2 --keep /tmp/big100k --no-write
 *   cp -r /tmp/big100k /tmp/big-old && cp -r /tmp/big100k /tmp/big-new
 *   node bench/plan-scale.mjs --keep /tmp/plan1m && echo 1772445600000 > /tmp/plan1m/now
 *   (cd /tmp/before && node bench/plan-scale.mjs --keep /tmp/plan1m-old)   # the older checkout's own ledger
 *   node bench/compare-commits.mjs --before /tmp/before [--runs 7]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bi = process.argv.indexOf('--before');
if (bi < 0) { console.error('usage: node bench/compare-commits.mjs --before DIR (a built checkout of the older commit)'); process.exit(2); }
const OLD = path.join(path.resolve(process.argv[bi + 1]), 'bin', 'certctl.js'), NEW = path.join(ROOT, 'bin', 'certctl.js');
const preload = `--import ${path.join(ROOT, 'test', 'helpers', 'fake-clock.mjs')}`;
const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 7;
function run(bin, args, env) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0 && r.status !== 3) console.error(bin, args.join(' '), r.status, r.stderr.slice(0, 300));
  return performance.now() - t;
}
const median = (w) => w.sort((a, b) => a - b)[Math.floor(w.length / 2)];
/** Older and newer run by turns (old, new, old, new …), so a machine that slows down mid-way slows both alike. */
function pair(oldArgs, newArgs, env = {}, n = RUNS) {
  const a = [], b = [];
  for (let i = 0; i < n; i++) { a.push(run(OLD, oldArgs, env)); b.push(run(NEW, newArgs, env)); }
  return [median(a), median(b)];
}
const rows = [];
const floor = []; for (let i = 0; i < RUNS; i++) { const t = performance.now(); spawnSync(process.execPath, ['-e', '0']); floor.push(performance.now() - t); } floor.sort((a,b)=>a-b);
rows.push(['node -e 0', median(floor), median(floor)]);
rows.push(['--version', ...pair(['--version'], ['--version'])]);
const e1 = fs.mkdtempSync(path.join(os.tmpdir(), 'cmp-')), e2 = fs.mkdtempSync(path.join(os.tmpdir(), 'cmp-'));
rows.push(['status, empty state dir', ...pair(['--state-dir', e1, 'status'], ['--state-dir', e2, 'status'])]);
const big = (v) => ['--json', '--state-dir', `/tmp/big-${v}`, '--config', `/tmp/big-${v}/no-config.json`, 'renew', '--no-random-sleep', '--no-precheck'];
rows.push(['renew --json, 100,000 lineages, nothing due', ...pair(big('old'), big('new'), {}, Math.max(3, RUNS - 2))]);
if (fs.existsSync('/tmp/plan1m')) {
  const NOW = Number(fs.readFileSync('/tmp/plan1m/now', 'utf8'));
  // The older checkout gets a ledger of its own (the same generator, run by that checkout): the newer one
  // migrates /tmp/plan1m on first use, and an older certctl refuses a ledger from a newer one.
  const planArgs = (dir) => ['--state-dir', dir, '--json', 'plan', '-d', 'www.d1234.com', '-d', 'd1234.com', '-d', 'new.d1234.com', '--key-type', 'dual'];
  const oldPlanDir = fs.existsSync('/tmp/plan1m-old') ? '/tmp/plan1m-old' : '/tmp/plan1m';
    // Both with the test clock preloaded: the newer checkout moves the clock only through it, and the
  // older one (which read CERTCTL_TEST_NOW itself) then pays the same module load, so neither is favoured.
  const env = { CERTCTL_TEST_NOW: String(NOW), NODE_OPTIONS: preload };
  rows.push(['plan, 1,000,000 certificates (process)', ...pair(planArgs(oldPlanDir), planArgs('/tmp/plan1m'), env)]);
}
console.log('| measure | before | after | after / before |\n|---|---|---|---|');
for (const [m, a, b] of rows) console.log(`| ${m} | ${a.toFixed(0)} ms | ${b.toFixed(0)} ms | ${(b / a).toFixed(2)} |`);
