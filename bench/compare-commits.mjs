#!/usr/bin/env node
/**
 * Before/after on one machine: the built CLI of an older checkout against this one, runs alternating,
 * medians — so a change is judged against the same machine at the same moment (BENCHMARKS.md, first section).
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s $PWD/node_modules . && npx tsc -p tsconfig.json)
 *   node bench/renew-nothing-due.mjs --runs 1 --lineages 2 --keep /tmp/big100k --no-write
 *   cp -r /tmp/big100k /tmp/big-old && cp -r /tmp/big100k /tmp/big-new
 *   node bench/plan-scale.mjs --keep /tmp/plan1m && echo 1772445600000 > /tmp/plan1m/now
 *   node bench/compare-commits.mjs --before /tmp/before
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
function time(bin, args, env = {}, n = 7) {
  const w = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); const r = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 30 }); w.push(performance.now() - t); if (r.status !== 0 && r.status !== 3) { console.error(bin, args.join(' '), r.status, r.stderr.slice(0, 300)); } }
  w.sort((a, b) => a - b); return w[Math.floor(n / 2)];
}
const rows = [];
const floor = []; for (let i = 0; i < 7; i++) { const t = performance.now(); spawnSync(process.execPath, ['-e', '0']); floor.push(performance.now() - t); } floor.sort((a,b)=>a-b);
rows.push(['node -e 0', floor[3], floor[3]]);
rows.push(['--version', time(OLD, ['--version']), time(NEW, ['--version'])]);
const e1 = fs.mkdtempSync(path.join(os.tmpdir(), 'cmp-')), e2 = fs.mkdtempSync(path.join(os.tmpdir(), 'cmp-'));
rows.push(['status, empty state dir', time(OLD, ['--state-dir', e1, 'status']), time(NEW, ['--state-dir', e2, 'status'])]);
const big = (v) => ['--json', '--state-dir', `/tmp/big-${v}`, '--config', `/tmp/big-${v}/no-config.json`, 'renew', '--no-random-sleep', '--no-precheck'];
rows.push(['renew --json, 100,000 lineages, nothing due', time(OLD, big('old'), {}, 5), time(NEW, big('new'), {}, 5)]);
if (fs.existsSync('/tmp/plan1m')) {
  const NOW = Number(fs.readFileSync('/tmp/plan1m/now', 'utf8'));
  const plan = ['--state-dir', '/tmp/plan1m', '--json', 'plan', '-d', 'www.d1234.com', '-d', 'd1234.com', '-d', 'new.d1234.com', '--key-type', 'dual'];
  rows.push(['plan, 1,000,000 certificates (process)', time(OLD, plan, { CERTCTL_TEST_NOW: String(NOW) }), time(NEW, plan, { CERTCTL_TEST_NOW: String(NOW), NODE_OPTIONS: preload })]);
}
console.log('| measure | before (176b118) | after (this session) | after / before |\n|---|---|---|---|');
for (const [m, a, b] of rows) console.log(`| ${m} | ${a.toFixed(0)} ms | ${b.toFixed(0)} ms | ${(b / a).toFixed(2)} |`);
