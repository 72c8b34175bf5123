#!/usr/bin/env node
/**
 * Before/after on one machine: the built CLI of older checkouts against this one, runs taking turns
 * (old1, old2, new, then the next round in a rotated order), medians — so a change is judged against the
 * same machine at the same moment (BENCHMARKS.md, first section). Besides the wall time it gives the
 * CPU time of the process (user + system, from /proc/self/stat's children times, averaged over the
 * runs), which a busy shared machine disturbs less than the wall time.
 *
 *   D=/tmp/cmp; mkdir -p $D
 *   for c in 176b118 60c14da; do mkdir $D/$c && git archive $c | tar -x -C $D/$c && ln -s $PWD/node_modules $D/$c/ \
 *     && (cd $D/$c && npm run build); done          # (176b118: `npx tsc -p tsconfig.json`)
 *   node bench/renew-nothing-due.mjs --runs 1 --lineages 2 --keep $D/big100k --no-write
 *   for v in 176b118 60c14da new; do cp -r $D/big100k $D/big-$v; done
 *   node bench/plan-scale.mjs --keep $D/plan1m-new && echo 1772445600000 > $D/plan1m-new/now
 *   (cd $D/176b118 && node bench/plan-scale.mjs --keep $D/plan1m-176b118)   # an older checkout's own ledger
 *   cp -r $D/plan1m-new $D/plan1m-60c14da
 *   node bench/compare-commits.mjs --data $D --before $D/176b118 --before $D/60c14da [--runs 11]
 *
 * Each build gets ledgers of its own (DATA/big-<name>, DATA/plan1m-<name>; "new" is this checkout): a
 * newer certctl migrates a ledger that an older one then refuses. Without --data, /tmp.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const values = (name) => argv.flatMap((a, i) => (a === `--${name}` ? [argv[i + 1]] : []));
const befores = values('before').map((d) => path.resolve(d));
if (befores.length === 0) {
  console.error('usage: node bench/compare-commits.mjs --before DIR [--before DIR …] [--data DIR] [--runs N] (DIR: a built checkout of an older commit)');
  process.exit(2);
}
const DATA = path.resolve(values('data')[0] ?? os.tmpdir());
const RUNS = Number(values('runs')[0]) || 7;
const builds = [...befores.map((d) => ({ name: path.basename(d), bin: path.join(d, 'bin', 'certctl.js') })), { name: 'new', bin: path.join(ROOT, 'bin', 'certctl.js') }];
const preload = `--require ${path.join(ROOT, 'test', 'helpers', 'fake-clock.cjs')}`;

/** CPU time (ms) of this process's waited-for children so far. */
function childCpuMs() {
  const f = fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(f[13]) + Number(f[14])) * (1000 / 100); // cutime + cstime, in clock ticks (USER_HZ 100)
}
function run(args, env) {
  const c = childCpuMs();
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = performance.now() - t;
  if (r.status !== 0 && r.status !== 3) console.error(args.join(' '), r.status, r.stderr.slice(0, 300));
  return { ms, cpu: childCpuMs() - c };
}
const median = (w) => [...w].sort((a, b) => a - b)[Math.floor(w.length / 2)];
/** Every build by turns; `argsOf(build)` gives its arguments. Returns per build { wall median, cpu mean }. */
function turns(argsOf, env = {}, n = RUNS) {
  const wall = builds.map(() => []);
  const cpu = builds.map(() => 0);
  for (let round = -1; round < n; round++) {
    for (let k = 0; k < builds.length; k++) {
      const i = (k + Math.max(round, 0)) % builds.length; // rotate who goes first
      const r = run(argsOf(builds[i]), env);
      if (round < 0) continue; // one warm-up round (page cache)
      wall[i].push(r.ms);
      cpu[i] += r.cpu;
    }
  }
  return builds.map((_, i) => ({ wall: median(wall[i]), cpu: cpu[i] / n }));
}

const rows = [];
rows.push(['node -e 0', turns(() => ['-e', '0'])]);
rows.push(['--version', turns((b) => [b.bin, '--version'])]);
const empty = Object.fromEntries(builds.map((b) => [b.name, fs.mkdtempSync(path.join(os.tmpdir(), 'cmp-'))]));
rows.push(['status, empty state dir', turns((b) => [b.bin, '--state-dir', empty[b.name], 'status'])]);
if (builds.every((b) => fs.existsSync(path.join(DATA, `big-${b.name}`)))) {
  const big = (b) => [b.bin, '--json', '--state-dir', path.join(DATA, `big-${b.name}`), '--config', path.join(DATA, `big-${b.name}`, 'no-config.json'), 'renew', '--no-random-sleep', '--no-precheck'];
  rows.push(['renew --json, 100,000 lineages, nothing due', turns(big, {}, Math.max(3, RUNS - 2))]);
} else console.error(`skipping renew: needs ${builds.map((b) => path.join(DATA, `big-${b.name}`)).join(', ')}`);
const nowFile = builds.map((b) => path.join(DATA, `plan1m-${b.name}`, 'now')).find((f) => fs.existsSync(f));
if (nowFile && builds.every((b) => fs.existsSync(path.join(DATA, `plan1m-${b.name}`)))) {
  // All with the test clock preloaded: the newer checkouts move the clock only through it, and an older
  // one (which read CERTCTL_TEST_NOW itself) then pays the same module load, so none is favoured.
  const env = { CERTCTL_TEST_NOW: fs.readFileSync(nowFile, 'utf8').trim(), NODE_OPTIONS: preload };
  const plan = (b) => [b.bin, '--state-dir', path.join(DATA, `plan1m-${b.name}`), '--json', 'plan', '-d', 'www.d1234.com', '-d', 'd1234.com', '-d', 'new.d1234.com', '--key-type', 'dual'];
  rows.push(['plan, 1,000,000 certificates (process)', turns(plan, env)]);
} else console.error('skipping plan: needs DATA/plan1m-<build> for every build and a `now` file');

const last = builds.length - 1;
const head = ['measure', ...builds.map((b) => `${b.name}: wall (CPU)`), ...befores.map((_, i) => `new / ${builds[i].name} wall (CPU)`)];
console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
for (const [m, r] of rows) {
  const cells = r.map((x) => `${x.wall.toFixed(0)} ms (${x.cpu.toFixed(0)})`);
  const ratios = befores.map((_, i) => `${(r[last].wall / r[i].wall).toFixed(2)} (${(r[last].cpu / r[i].cpu).toFixed(2)})`);
  console.log(`| ${[m, ...cells, ...ratios].join(' | ')} |`);
}
console.log(`\n${RUNS} rounds (renew ${Math.max(3, RUNS - 2)}), wall = median, CPU = mean user+system per run; load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
