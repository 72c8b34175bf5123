#!/usr/bin/env node
/**
 * Bench: `status` at scale (issue 19) and the PostgreSQL ledger beside SQLite (issue 16).
 *
 * 1. Ledgers of 10,000 and 100,000 lineages, the same rows on SQLite and on PostgreSQL
 *    (Debian's, started here by testkit/postgres on loopback): testkit/status-ledger.ts
 *    with `quiet` (varied — single, dual and SM2 bundles, two versions, ARI rows, CA lists
 *    and choices, failed orders, fleet hosts — but nothing due, so `renew` has nothing to
 *    do), generated on SQLite and copied into PostgreSQL with multi-row INSERTs. Timed:
 *    `status`, `status --json`, `metrics` and `renew` with nothing due, wall time and peak
 *    RSS (GNU time -v), output to a pipe. With --before COMMIT, that commit's build
 *    (compiled into the temp dir once) on the 10,000 ledgers too, one run each, for a
 *    before/after. Default none: the pre-paging build (60c14da) cannot open these ledgers
 *    any more (it knows schema 9; a ledger is made at today's schema, and an older certctl
 *    refuses a newer ledger), so a COMMIT must know the schema of this one.
 * 2. 200 lineages: `certctl status` vs `certbot certificates` (lineages as in cold-start:
 *    certctl's issued for real from Pebble, certbot's one issuance copied 200 times).
 *
 * Goals: status on 100,000 ≤ 2 s on SQLite and ≤ 4 s on PostgreSQL, ≤ 250 MB; PostgreSQL
 * `status` and `renew` within 2× of SQLite; status on 200 ≤ 1/6 of certbot certificates.
 * Needs `npm run build && npm run build:testkit`, `apt-get install -y pebble certbot time postgresql`.
 *
 *   node bench/status-scale.mjs [--runs 3] [--sizes 10000,100000] [--lineages 200] [--before COMMIT|none] [--no-peers] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as L from './lib.mjs';

const RUNS = Number(L.arg('runs', 3));
const SIZES = L.arg('sizes', '10000,100000').split(',').map(Number);
const N_PEERS = Number(L.arg('lineages', 200));
const BEFORE = L.arg('before', 'none');
const PEERS = !L.flag('no-peers');
L.requireBins(L.TIME, ...(PEERS ? [L.CERTBOT, '/usr/bin/pebble'] : []));
if (!fs.existsSync(path.join(L.ROOT, 'dist-testkit/testkit/status-ledger.js'))) {
  console.error('dist-testkit/ is missing: run `npm run build:testkit` first (npm run bench:all does)');
  process.exit(2);
}
const { Ledger } = await import(path.join(L.ROOT, 'dist/core/ledger/ledger.js'));
const { fillStatusLedger, copyLedger, DIR_A, DIR_B } = await import(path.join(L.ROOT, 'dist-testkit/testkit/status-ledger.js'));
const { startPostgres } = await import(path.join(L.ROOT, 'dist-testkit/testkit/postgres.js'));

/** certctl as it was at `commit`, compiled once into the temp dir (as test/e2e/status-paging.test.ts does). */
function buildCommit(commit) {
  const dir = path.join(os.tmpdir(), `certctl-before-${commit.slice(0, 12)}`);
  const bin = path.join(dir, 'bin', 'certctl.js');
  if (fs.existsSync(path.join(dir, '.built'))) return bin;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['-C', L.ROOT, 'archive', '--format=tar', commit, 'src', 'bin', 'tsconfig.json', 'package.json'], { maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(L.ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  execFileSync(L.NODE, [path.join(L.ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(dir, 'tsconfig.json')], { stdio: 'pipe' });
  fs.writeFileSync(path.join(dir, '.built'), commit + '\n');
  return bin;
}
const beforeBin = BEFORE !== 'none' ? buildCommit(BEFORE) : null;

const work = L.tmpDir('status');
const COMMANDS = [
  { id: 'status', args: ['status'] },
  { id: 'status --json', args: ['--json', 'status'] },
  { id: 'metrics', args: ['metrics'] },
  { id: 'renew, nothing due', args: ['--quiet', 'renew', '--no-random-sleep', '--no-precheck'] },
];

/** Run `bin` with `args` RUNS times under time -v: wall times, the highest peak RSS. */
async function measure(bin, args, runs) {
  const ms = [];
  let rss = 0;
  for (let i = 0; i < runs; i++) {
    const r = await L.run(L.NODE, [bin, ...args], { rss: true });
    if (r.code !== 0) throw new Error(`certctl ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    ms.push(r.ms);
    rss = Math.max(rss, r.rssMb);
  }
  return { ms, rss };
}

const results = []; // { n, backend, id, ms, rss, beforeMs?, beforeRss? }
const gen = {};
const pg = await startPostgres();
try {
  for (const n of SIZES) {
    const now = Date.now();
    const sqDir = path.join(work, `sqlite-${n}`);
    const pgDir = path.join(work, `pg-${n}`);
    L.emptyConfig(sqDir);
    L.emptyConfig(pgDir);
    process.stderr.write(`generating ${n.toLocaleString('en')} lineages (SQLite) …\n`);
    let t0 = performance.now();
    const sq = Ledger.open(path.join(sqDir, 'ledger.sqlite'));
    sq.db.pragma('synchronous = OFF');
    fillStatusLedger(sq, { count: n, now, quiet: true });
    // Both CAs' directories cached (no ARI): nothing is asked of a CA, by renew or anyone.
    sq.saveDirectoryInfo(DIR_A, null, null, now);
    sq.saveDirectoryInfo(DIR_B, null, null, now);
    sq.db.pragma('synchronous = NORMAL');
    sq.db.exec('ANALYZE');
    const sqliteMs = performance.now() - t0;
    process.stderr.write(`copying into PostgreSQL …\n`);
    t0 = performance.now();
    const url = await pg.createDatabase('status_bench');
    const pl = Ledger.open(url);
    copyLedger(sq, pl);
    // VACUUM as well: right after the copy, autovacuum would otherwise visit the new tables while
    // the commands below are timed (seen: every figure of the run ~25% slower, SQLite's too).
    pl.db.exec('VACUUM (ANALYZE)');
    pl.close();
    sq.close();
    gen[n] = { sqliteMs, pgMs: performance.now() - t0, mb: fs.statSync(path.join(sqDir, 'ledger.sqlite')).size / 1e6 };
    for (const [backend, dir, extra] of [['SQLite', sqDir, []], ['PostgreSQL', pgDir, ['--ledger', url]]]) {
      const global = ['--state-dir', dir, '--config', path.join(dir, 'no-config.json'), ...extra];
      // Sanity: every lineage listed; renew keeps every one and sends nothing (-v prints each request).
      const s = JSON.parse((await L.certctlOk([...global, '--json', 'status'])).stdout);
      if (s.lineages.length !== n) throw new Error(`${backend}: status listed ${s.lineages.length} of ${n}`);
      const r = await L.certctlOk([...global, '-v', '--json', 'renew', '--no-random-sleep', '--no-precheck']);
      const kept = JSON.parse(r.stdout).counts.kept;
      if (kept !== n) throw new Error(`${backend}: renew kept ${kept} of ${n}`);
      if (/\b(GET|POST|HEAD) https?:/.test(r.stderr)) throw new Error(`${backend}: renew sent a request:\n${r.stderr.slice(0, 2000)}`);
      for (const c of COMMANDS) {
        process.stderr.write(`${n} ${backend}: ${c.id} …\n`);
        const m = await measure(L.CERTCTL, [...global, ...c.args], RUNS);
        const row = { n, backend, id: c.id, ...m };
        if (beforeBin && n <= 10_000 && c.id !== 'renew, nothing due') {
          const b = await measure(beforeBin, [...global, ...c.args], 1);
          row.beforeMs = b.ms[0];
          row.beforeRss = b.rss;
        }
        results.push(row);
      }
    }
    fs.rmSync(sqDir, { recursive: true, force: true });
    fs.rmSync(pgDir, { recursive: true, force: true });
  }
} finally {
  await pg.stop();
}

// ------------------------------------------------------------ 200 lineages vs certbot
const peers = { cc: [], cb: [], ccRss: 0, cbRss: 0 };
if (PEERS) {
  const cc = path.join(work, 'certctl-200');
  const cb = path.join(work, 'certbot-200');
  const pebble = await L.startBenchPebble();
  try {
    process.stderr.write(`issuing ${N_PEERS} certctl lineages (apply --concurrency 8) …\n`);
    await L.certctlLineages(pebble, cc, N_PEERS);
    await L.certbotLineages(pebble, cb, N_PEERS);
  } finally {
    await pebble.stop();
  }
  const ccArgs = ['--state-dir', cc, '--config', path.join(cc, 'no-config.json'), 'status'];
  const cbArgs = ['certificates', ...L.certbotDirs(cb)];
  const held = JSON.parse((await L.certctlOk([...ccArgs.slice(0, 4), '--json', 'status'])).stdout).lineages.length;
  const cbHeld = ((await L.runOk(L.CERTBOT, cbArgs)).stdout.match(/Certificate Name:/g) ?? []).length;
  if (held !== N_PEERS || cbHeld !== N_PEERS) throw new Error(`status lists ${held}, certbot certificates ${cbHeld}, of ${N_PEERS}`);
  await L.certctlOk(ccArgs); // warm-up, not counted
  await L.runOk(L.CERTBOT, cbArgs);
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    peers.cc.push((await L.certctlOk(ccArgs)).ms);
    peers.cb.push((await L.runOk(L.CERTBOT, cbArgs)).ms);
  }
  peers.ccRss = (await L.run(L.NODE, [L.CERTCTL, ...ccArgs], { rss: true })).rssMb;
  peers.cbRss = (await L.run(L.CERTBOT, cbArgs, { rss: true })).rssMb;
}
fs.rmSync(work, { recursive: true, force: true });

// ------------------------------------------------------------------ report
let ok = true;
const get = (n, backend, id) => results.find((r) => r.n === n && r.backend === backend && r.id === id);
const rows = [];
for (const r of results) {
  const m = L.median(r.ms);
  let goal = '';
  let verdict = '';
  if (r.id === 'status' && r.n === 100_000) {
    const limit = r.backend === 'SQLite' ? 2000 : 4000;
    const pass = m <= limit && r.rss <= 250;
    ok &&= pass;
    goal = `≤ ${limit / 1000} s, ≤ 250 MB`;
    verdict = L.verdict(pass);
  }
  if (r.backend === 'PostgreSQL' && (r.id === 'status' || r.id === 'renew, nothing due')) {
    const ratio = m / L.median(get(r.n, 'SQLite', r.id).ms);
    const pass = ratio <= 2;
    if (r.n === 100_000) ok &&= pass;
    goal += `${goal ? '; ' : ''}PG/SQLite ${ratio.toFixed(2)}× (≤ 2×)`;
    verdict += `${verdict ? ' ' : ''}${r.n === 100_000 ? L.verdict(pass) : ''}`;
  }
  rows.push([
    r.n.toLocaleString('en'),
    r.backend,
    r.id,
    L.fmtRange(r.ms),
    `${r.rss.toFixed(0)} MB`,
    ...(beforeBin ? [r.beforeMs !== undefined ? `${L.fmtMs(r.beforeMs)}, ${r.beforeRss.toFixed(0)} MB` : ''] : []),
    goal,
    verdict,
  ]);
}
const scaleTable = L.table(['lineages', 'ledger', 'command', `wall, median of ${RUNS} (min–max)`, 'peak RSS', ...(beforeBin ? [`before (${BEFORE.slice(0, 7)}), 1 run`] : []), 'goal', ''], rows);
let peerTable = '';
if (PEERS) {
  const ratio = L.median(peers.cc) / L.median(peers.cb);
  const pass = ratio <= 1 / 6;
  ok &&= pass;
  peerTable = L.table(
    ['', `certctl status, median of ${peers.cc.length} (min–max)`, 'certbot certificates', 'certctl / certbot', 'goal', '', 'peak RSS certctl / certbot'],
    [[`${N_PEERS} lineages`, L.fmtRange(peers.cc), L.fmtRange(peers.cb), `${ratio.toFixed(3)} (1/${(1 / ratio).toFixed(1)})`, '≤ 1/6', L.verdict(pass), `${peers.ccRss.toFixed(0)} / ${peers.cbRss.toFixed(0)} MB`]],
  );
}
const genLines = Object.entries(gen).map(([n, g]) => `${Number(n).toLocaleString('en')} lineages: SQLite ${g.mb.toFixed(0)} MB generated in ${L.fmtMs(g.sqliteMs)}, copied into PostgreSQL in ${L.fmtMs(g.pgMs)}`);
console.log(scaleTable + (peerTable ? '\n\n' + peerTable : '') + '\n\n' + genLines.join('\n'));

if (!L.flag('no-write')) {
  const m = L.machine();
  L.updateSection(
    'status at scale',
    `
What (issues 19 and 16): \`status\`, \`status --json\`, \`metrics\` and \`renew\` with nothing
due on one ledger of 10,000 and one of 100,000 lineages, the same rows on SQLite and on
PostgreSQL (Debian's, a fresh cluster on loopback started by the bench, fsync off as in
the tests). The rows come from testkit/status-ledger.ts (\`quiet\`: varied — single-key,
dual and SM2 bundles, a fifth with two versions, ARI rows, CA lists and choices, failed
orders, fleet hosts on a third — but nothing due, so \`renew\` has nothing to do; both
CAs' directories cached, and the bench checks with \`-v\` that renew sends nothing).
Output to a pipe, read in full by the bench.${beforeBin ? ` "before" is the build of ${BEFORE.slice(0, 7)}
(compiled from git) on the same ledgers, one run.` : ''}
Then ${N_PEERS} lineages: \`certctl status\` vs \`certbot certificates\` (lineages as in cold-start).

${L.machineLine(m)}

Reproduce (after \`npm run build && npm run build:testkit\`; \`apt-get install -y pebble certbot time postgresql\`):

\`\`\`
node bench/status-scale.mjs --runs ${RUNS} --sizes ${SIZES.join(',')} --lineages ${N_PEERS}${beforeBin ? ` --before ${BEFORE}` : ''}
/usr/bin/time -v certctl --state-dir D --config D/no-config.json [--ledger postgres://…] status   # and --json status, metrics, --quiet renew --no-random-sleep --no-precheck
\`\`\`

Results:

${scaleTable}

${peerTable}

${genLines.join('; ')}.

How: \`status\` used to read every lineage row, then five or six queries per lineage
(current certificates, open orders, last CA choice, renewed_by, and scheduleFacts'
own per-lineage reads), build the whole report and sort it in memory, and write one
JSON string. Now \`Ledger.statusPages\` reads ONE statement sorted as the report is
(soonest expiry first, lineages without a certificate before, then by name) as it
goes — SQLite steps through it, PostgreSQL through a server-side cursor (2,000 rows
per FETCH; looking pages of names up instead cost PostgreSQL a scan of the lineages per
page; a large SQLite ledger is read ahead in a worker thread). Each lineage's latest CA
choice and fleet hosts come in that statement on PostgreSQL (two CTEs joined by hash, the
lineages numbered in report order first so the big sort compares integers) and from a query
per page of 1,000 on SQLite. Before the first line, every lineage and current certificate
row is checked for damage (exit 10 before any output) by SQL that hands over only suspect
rows to the JavaScript checks (PostgreSQL casts the texts to json; a text that is not JSON
fails the cast, and then every row is read and judged in JavaScript). The CLI
writes each page as it comes (text in 32 KB pieces; JSON in batches of items,
byte-identical to \`JSON.stringify(doc, null, 2)\`, waiting while over 1 MB is queued for the pipe). \`metrics\` reads each per-lineage
family the same way (the next actions through \`renewalScan\`, as \`renew\`). What
still grows with the ledger: \`metrics\`' rate-limit families (limitsOverview: one
query per registered domain, ~1,000 here). test/e2e/status-paging.test.ts checks the
output against the pre-paging build byte for byte on both ledgers.
`,
  );
}
process.exit(ok ? 0 : 1);
