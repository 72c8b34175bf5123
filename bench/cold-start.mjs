#!/usr/bin/env node
/**
 * Bench: cold start — `certctl --version` and `certctl status` (an empty
 * state directory, and one with 200 lineages) vs `certbot --version` and
 * `certbot certificates` on the same states. Each process is started fresh
 * (page cache warm: one warm-up run of each is not counted); the commands
 * take turns in each round.
 *
 * Lineages: certctl's 200 are issued for real from Pebble (`certctl apply
 * --concurrency 8`); certbot's 200 are one certificate issued by certbot from
 * the same Pebble, its lineage copied under 200 names (bench/lib.mjs,
 * certbotLineages). Pebble is stopped before anything is timed.
 *
 * Target (issue 9): each certctl command ≤ 1/4 of certbot's wall time.
 * Needs `npm run build`, `apt-get install -y pebble certbot time`.
 *
 *   node bench/cold-start.mjs [--runs 10] [--lineages 200] [--no-write]
 */
import fs from 'node:fs';
import path from 'node:path';
import * as L from './lib.mjs';

const RUNS = Number(L.arg('runs', 10));
const N = Number(L.arg('lineages', 200));
L.requireBins(L.CERTBOT, '/usr/bin/pebble', L.TIME);

const work = L.tmpDir('cold');
const emptyCc = path.join(work, 'certctl-empty');
const fullCc = path.join(work, 'certctl-full');
const emptyCb = path.join(work, 'certbot-empty');
const fullCb = path.join(work, 'certbot-full');
fs.mkdirSync(emptyCc);
fs.mkdirSync(emptyCb);

let buildCc = 0;
let buildCb = 0;
const pebble = await L.startBenchPebble();
try {
  process.stderr.write(`issuing ${N} certctl lineages (apply --concurrency 8) …\n`);
  buildCc = await L.certctlLineages(pebble, fullCc, N);
  process.stderr.write(`certctl: ${L.fmtMs(buildCc)}; certbot: one issuance + ${N - 1} copies …\n`);
  buildCb = await L.certbotLineages(pebble, fullCb, N);
} finally {
  await pebble.stop();
}

const cases = [
  { id: 'version', what: '--version', cc: ['--version'], cb: ['--version'] },
  { id: 'empty', what: 'status / certificates, empty', cc: ['--state-dir', emptyCc, 'status'], cb: ['certificates', ...L.certbotDirs(emptyCb)] },
  { id: 'full', what: `status / certificates, ${N} lineages`, cc: ['--state-dir', fullCc, 'status'], cb: ['certificates', ...L.certbotDirs(fullCb)] },
];
const t = {};
const rss = {};
const baseline = [];
try {
  // Sanity: both list the lineages.
  const s = await L.certctlOk(['--state-dir', fullCc, '--json', 'status']);
  const held = JSON.parse(s.stdout).lineages.length;
  const c = await L.runOk(L.CERTBOT, ['certificates', ...L.certbotDirs(fullCb)]);
  const cbHeld = (c.stdout.match(/Certificate Name:/g) ?? []).length;
  if (held !== N || cbHeld !== N) throw new Error(`expected ${N} lineages, certctl lists ${held}, certbot ${cbHeld}`);

  for (let round = -1; round < RUNS; round++) {
    const b = await L.run(L.NODE, ['-e', '0']);
    if (round >= 0) baseline.push(b.ms);
    for (const k of cases) {
      const a = await L.certctlOk(k.cc);
      const p = await L.runOk(L.CERTBOT, k.cb);
      if (round < 0) continue;
      (t[`cc-${k.id}`] ??= []).push(a.ms);
      (t[`cb-${k.id}`] ??= []).push(p.ms);
    }
  }
  // Peak RSS: one more run of each under GNU time.
  for (const k of cases) {
    rss[`cc-${k.id}`] = (await L.run(L.NODE, [L.CERTCTL, ...k.cc], { rss: true })).rssMb;
    rss[`cb-${k.id}`] = (await L.run(L.CERTBOT, k.cb, { rss: true })).rssMb;
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

let ok = true;
const rows = cases.map((k) => {
  const cc = t[`cc-${k.id}`];
  const cb = t[`cb-${k.id}`];
  const ratio = L.median(cc) / L.median(cb);
  const good = ratio <= 0.25;
  ok &&= good;
  return [k.what, L.fmtRange(cc), L.fmtRange(cb), `${ratio.toFixed(2)} (1/${(1 / ratio).toFixed(1)})`, '≤ 0.25', L.verdict(good), `${rss[`cc-${k.id}`]?.toFixed(0)} / ${rss[`cb-${k.id}`]?.toFixed(0)} MB`];
});
const result = L.table(['command', `certctl, median of ${RUNS} (min–max)`, 'certbot', 'certctl / certbot', 'target', '', 'peak RSS certctl / certbot'], rows);
console.log(result);
console.log(`\nnode -e 0 (the floor for any Node CLI here): ${L.fmtRange(baseline)}`);

if (!L.flag('no-write')) {
  const m = L.machine();
  L.updateSection(
    'cold start: certctl vs certbot',
    `
What: a fresh process for \`--version\`, and for listing what is held —
\`certctl status\` / \`certbot certificates\` — on an empty state directory and on
one with ${N} lineages. Wall time of the whole process, stdout to a pipe (no
colour). The commands take turns in each round; one warm-up round is not counted.
Target (issue 9): certctl ≤ 1/4 of certbot's wall time.

Lineages: certctl's ${N} were issued for real from Pebble by \`certctl apply
--concurrency 8\` (${N} single-name certificates under ${N} registered domains,
${L.fmtMs(buildCc)}). certbot's are one certificate issued by certbot from the same
Pebble (${L.fmtMs(buildCb)}), its \`live/\`, \`archive/\` and \`renewal/*.conf\` copied under
${N} names with the paths rewritten, so \`certbot certificates\` parses ${N}
renewal confs and loads ${N} certificates as it would for issued ones.

${L.machineLine(m)} ${L.PEBBLE_NOTE}

Reproduce (after \`npm run build\`; \`apt-get install -y pebble certbot time\`):

\`\`\`
node bench/cold-start.mjs --runs ${RUNS} --lineages ${N}
# what it times:
certctl --version            |  certbot --version
certctl --state-dir D status |  certbot certificates --config-dir D/conf --work-dir D/work --logs-dir D/logs
\`\`\`

Results:

${result}

\`node -e 0\` alone (the floor for any Node.js CLI on this machine): ${L.fmtRange(baseline)}.

Where certctl's start-up goes (\`node --cpu-prof\`, and timing each \`import()\`
in one process): Node itself is the floor above; then commander ~15 ms (it
loads \`node:child_process\` and streams), the 13 command modules ~15–25 ms
(Node's ESM loader, per module — 13 empty modules cost ~5 ms; their own code is
small), better-sqlite3 ~8 ms (the \`bindings\` path search and the native
addon), \`core/status.js\` ~8 ms (store/lineage → atomic → \`node:crypto\`;
schedule/facts), and opening the ledger. acme-client, axios, the X.509 parsers,
psl, yaml and chalk are not loaded by \`status\` or \`--version\` (already lazy).

Done for issue 9: \`certctl --version\` is answered before commander and the
command modules load, and commander is \`require\`d only when a command line is
parsed (src/cli/main.ts): --version went from ~45 ms above Node's own start-up
to ~12 ms (0.31 of certbot before, 0.21–0.23 after, in the runs here).

Done for issue 19: the command line is bundled (scripts/bundle.mjs): each command
runs one file, \`dist/cli/<command>.bundle.cjs\` (with a V8 code cache), instead of resolving ~15–45 ES
modules, and commander is inside it (docs/architecture.md "How dist/ is built").

Not done, for \`status\` on large state dirs: \`statusReport\` reads 2 queries per
lineage; a batched read like renew's \`Ledger.renewalScan\` would help (issue 19's
paging part).
`,
  );
}
process.exit(ok ? 0 : 1);
