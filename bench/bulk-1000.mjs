#!/usr/bin/env node
/**
 * Bench (issue 19): a platform's certificates through one `certctl apply`.
 *
 *  1. Throughput and peak RSS: COUNT single-name lineages under DOMAINS
 *     registered domains (cN.dK-tag.test), declared in one config file with a
 *     custom policy that allows them (the config's `policies: default:` —
 *     Pebble is an unknown CA, so certctl's conservative default policy would
 *     stop at 300 new orders per 3 h and 10 pending orders), issued by
 *     `certctl apply --concurrency N` for N = 1, 4, 16 on one Pebble, each from
 *     a state dir holding only its ACME account. Peak RSS of the certctl
 *     process by GNU time.
 *  2. certbot as its users script it: `certbot certonly` once per certificate,
 *     one after the other — measured on a SAMPLE of certificates and
 *     extrapolated to COUNT (said so in the table).
 *  3. Planner exactness: 120 certificates under ONE registered domain with a
 *     policy of 50 per registered domain per week, at --concurrency 16 through
 *     the ACME test proxy: exactly 50 issued, 70 blocked before anything is
 *     sent (newOrders and issuances counted at the proxy).
 *  4. Hostile: apply --concurrency 16 SIGKILLed when a third of its
 *     certificates are issued, then run again: every certificate issued exactly
 *     once in all (counted at the proxy), one ledger certificate per lineage, no
 *     lineage half-written (live/ complete, key matches certificate).
 *
 * Targets: ≥ 30× certbot's throughput, peak RSS ≤ 250 MB, planner exact.
 * Default size runs in a few minutes on the loaded 2-core machine; --full is
 * issue 19's 1,000 certificates under 100 registered domains.
 *
 *   node bench/bulk-1000.mjs [--full] [--count 100] [--domains 10] [--certbot-sample 5] [--no-write]
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as L from './lib.mjs';

const FULL = L.flag('full');
const COUNT = Number(L.arg('count', FULL ? 1000 : 100));
const DOMAINS = Number(L.arg('domains', FULL ? 100 : 10));
const CB_SAMPLE = Number(L.arg('certbot-sample', FULL ? 30 : 5));
const CONCS = [1, 4, 16];
const PLANNER_ASKED = 120;
const PLANNER_CAP = 50;
L.requireBins(L.CERTBOT, '/usr/bin/pebble', L.TIME);
const Database = createRequire(import.meta.url)('better-sqlite3');

const work = L.tmpDir('bulk1000');
const names = (tag, n, domains) => Array.from({ length: n }, (_, i) => `c${i}.d${i % domains}-${tag}.test`);

/** A config declaring `list` with a policy allowing `perDomain` per registered domain per week. */
function writeConfig(server, pebble, state, list, perDomain) {
  L.emptyConfig(state);
  const file = path.join(state, 'certctl.json');
  const policy = {
    'certificates-per-domain': { kind: 'window', count: perDomain, window: '7d' },
    'new-orders': { kind: 'window', count: 100000, window: '3h' },
    'pending-orders': { kind: 'concurrent', count: 64, lifetime: '7d' },
  };
  fs.writeFileSync(
    file,
    JSON.stringify({
      defaults: { server, caBundle: pebble.caBundle, webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@example.test' },
      policies: { default: policy },
      certificates: list.map((n) => ({ domains: [n] })),
    }, null, 2),
  );
  return file;
}

/** The state dir gets its ACME account first (one `certctl issue`, not timed), as a platform's has. */
async function prepared(server, pebble, tag, list, perDomain) {
  const state = path.join(work, tag);
  const config = writeConfig(server, pebble, state, list, perDomain);
  await L.certctlOk(['--state-dir', state, '--config', config, 'issue', '-d', `acct.acct-${tag}.test`, '--server', server, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '--email', 'ops@example.test']);
  return { state, config };
}

const applyArgs = (p, conc) => ['--state-dir', p.state, '--config', p.config, '--json', 'apply', '--concurrency', String(conc)];
function summary(stdout) {
  const doc = JSON.parse(stdout);
  const count = (a) => doc.certificates.filter((c) => c.action === a).length;
  return { issued: count('issued'), blocked: count('blocked'), failed: count('failed'), other: doc.certificates.filter((c) => !['issued', 'blocked', 'failed'].includes(c.action)).slice(0, 3) };
}

/** Each lineage of `list` has live/ complete, one certificate row, and its key matches its certificate. */
function lineagesWhole(state, list) {
  const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
  const rows = db.prepare("SELECT lineage, COUNT(*) AS n FROM certificates WHERE lineage LIKE 'c%' GROUP BY lineage").all();
  db.close();
  const perLineage = new Map(rows.map((r) => [r.lineage, r.n]));
  const bad = [];
  for (const n of list) {
    if (perLineage.get(n) !== 1) bad.push(`${n}: ${perLineage.get(n) ?? 0} certificate rows`);
    const live = path.join(state, 'live', n);
    try {
      const key = crypto.createPublicKey(fs.readFileSync(path.join(live, 'privkey.pem')));
      const cert = new crypto.X509Certificate(fs.readFileSync(path.join(live, 'fullchain.pem')));
      for (const f of ['cert.pem', 'chain.pem']) fs.accessSync(path.join(live, f));
      if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(key.export({ type: 'spki', format: 'der' }))) bad.push(`${n}: key does not match`);
    } catch (err) {
      bad.push(`${n}: ${err.message}`);
    }
  }
  return bad;
}

const res = { cc: {}, cb: [], planner: null, kill: null };
const pebble = await L.startBenchPebble();
const { startAcmeTestProxy } = await import(path.join(L.ROOT, 'dist-testkit/testkit/acme-proxy.js'));
const proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
try {
  // Warm-up (not counted).
  {
    const p = await prepared(pebble.directoryUrl, pebble, 'warm', names('warm', 4, 2), COUNT);
    await L.certctlOk(applyArgs(p, 4));
  }
  // 1. Throughput and peak RSS, straight to Pebble.
  for (const conc of CONCS) {
    const list = names(`n${conc}`, COUNT, DOMAINS);
    const p = await prepared(pebble.directoryUrl, pebble, `n${conc}`, list, COUNT);
    const r = await L.run(L.NODE, [L.CERTCTL, ...applyArgs(p, conc)], { rss: true });
    if (r.code !== 0) throw new Error(`apply --concurrency ${conc} exited ${r.code}\n${r.stderr.slice(-2000)}`);
    const s = summary(r.stdout);
    if (s.issued !== COUNT) throw new Error(`apply --concurrency ${conc} issued ${s.issued} of ${COUNT}: ${JSON.stringify(s)}`);
    res.cc[conc] = { ms: r.ms, rssMb: r.rssMb, cpuMs: r.cpuMs };
    process.stderr.write(`certctl apply --concurrency ${conc}: ${COUNT} in ${L.fmtMs(r.ms)}, peak RSS ${r.rssMb?.toFixed(0)} MB\n`);
  }
  // 2. certbot, once per certificate, on a sample.
  const cbDir = path.join(work, 'certbot');
  const w = L.certbotIssue(pebble, cbDir, ['warm.warm-cb.test']);
  await L.runOk(L.CERTBOT, w.args, { env: w.env });
  for (const n of names('cb', CB_SAMPLE, Math.min(DOMAINS, CB_SAMPLE))) {
    const c = L.certbotIssue(pebble, cbDir, [n]);
    res.cb.push((await L.runOk(L.CERTBOT, c.args, { env: c.env })).ms);
  }
  process.stderr.write(`certbot × ${CB_SAMPLE}: median ${L.fmtMs(L.median(res.cb))}\n`);

  // 3. Planner exactness through the proxy (counts what reaches the CA).
  {
    const list = Array.from({ length: PLANNER_ASKED }, (_, i) => `c${i}.one-domain.test`);
    const p = await prepared(proxy.directoryUrl, pebble, 'planner', list, PLANNER_CAP);
    proxy.resetObservations();
    const r = await L.certctlOk(applyArgs(p, 16), {}, 4);
    res.planner = { ...summary(r.stdout), newOrders: proxy.counts.newOrder, atCa: proxy.issued, ms: r.ms };
    process.stderr.write(`planner: ${JSON.stringify(res.planner)}\n`);
  }

  // 4. SIGKILL mid-run at --concurrency 16, then again.
  {
    const list = names('kill', COUNT, DOMAINS);
    const p = await prepared(proxy.directoryUrl, pebble, 'kill', list, COUNT);
    proxy.resetObservations();
    const child = spawn(L.NODE, [L.CERTCTL, ...applyArgs(p, 16)], { stdio: 'ignore' });
    const ended = new Promise((r) => child.on('close', r));
    const killAt = Math.ceil(COUNT / 3);
    const deadline = Date.now() + 600_000;
    while (proxy.issued < killAt && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await ended;
    const issuedBeforeKill = proxy.issued;
    const again = await L.run(L.NODE, [L.CERTCTL, ...applyArgs(p, 16)]);
    const s = summary(again.stdout);
    res.kill = { killAt, issuedBeforeKill, secondExit: again.code, second: s, atCa: proxy.issued, newOrders: proxy.counts.newOrder, bad: lineagesWhole(p.state, list) };
    process.stderr.write(`kill: ${JSON.stringify({ ...res.kill, bad: res.kill.bad.slice(0, 5) })}\n`);
  }
} finally {
  await proxy.stop();
  await pebble.stop();
  fs.rmSync(work, { recursive: true, force: true });
}

const cbPer = L.median(res.cb);
const tpCb = 1000 / cbPer;
const tp = (c) => COUNT / (res.cc[c].ms / 1000);
const best = Math.max(...CONCS.map(tp));
const peakRss = Math.max(...CONCS.map((c) => res.cc[c].rssMb ?? Infinity));
const ratio = best / tpCb;
const plannerOk = res.planner.issued === PLANNER_CAP && res.planner.blocked === PLANNER_ASKED - PLANNER_CAP && res.planner.failed === 0 && res.planner.atCa === PLANNER_CAP && res.planner.newOrders === PLANNER_CAP;
const killOk = res.kill.atCa === COUNT && res.kill.secondExit === 0 && res.kill.bad.length === 0;

const result = L.table(
  ['client', `${COUNT} certificates, wall`, 'certificates / s', 'peak RSS', 'vs certbot'],
  [
    ...CONCS.map((c) => [`certctl apply --concurrency ${c}`, L.fmtMs(res.cc[c].ms), tp(c).toFixed(2), `${res.cc[c].rssMb?.toFixed(0)} MB`, `${(tp(c) / tpCb).toFixed(1)}×`]),
    [`certbot certonly × ${COUNT}, sequential — extrapolated from ${CB_SAMPLE} runs (median ${L.fmtMs(cbPer)}, ${L.fmtRange(res.cb)})`, L.fmtMs(cbPer * COUNT), tpCb.toFixed(2), '—', '1.0×'],
  ],
);
const target = L.table(
  ['target', 'result', ''],
  [
    ['certctl throughput ≥ 30× certbot', `${ratio.toFixed(1)}×`, L.verdict(ratio >= 30)],
    ['peak RSS of certctl ≤ 250 MB', `${peakRss.toFixed(0)} MB`, L.verdict(peakRss <= 250)],
    [`planner at --concurrency 16: ${PLANNER_ASKED} for one registered domain, policy ${PLANNER_CAP}/week → ${PLANNER_CAP} issued, ${PLANNER_ASKED - PLANNER_CAP} blocked before sending`, `${res.planner.issued} issued, ${res.planner.blocked} blocked, ${res.planner.failed} failed; at the CA ${res.planner.newOrders} newOrders, ${res.planner.atCa} issued`, L.verdict(plannerOk)],
    [`SIGKILL at --concurrency 16 after ${res.kill.killAt} issued, then apply again → each of ${COUNT} issued once, none half-written`, `${res.kill.issuedBeforeKill} before the kill; second run exit ${res.kill.secondExit}; at the CA ${res.kill.atCa} issued, ${res.kill.newOrders} newOrders; ${res.kill.bad.length} lineages wrong`, L.verdict(killOk)],
  ],
);
console.log(result + '\n\n' + target);
if (res.kill.bad.length) console.log(res.kill.bad.slice(0, 10).join('\n'));

if (!L.flag('no-write')) {
  const m = L.machine();
  L.updateSection(
    "bulk at scale: many lineages through apply --concurrency 1/4/16 (issue 19)",
    `
What: ${COUNT} single-name lineages (\`cN.dK-tag.test\`, ${COUNT / DOMAINS} per registered
domain) declared in one config file, issued by one \`certctl apply --concurrency N\`
from the same Pebble (HTTP-01, same webroot), from a state dir holding only its
ACME account. The config's \`policies: default:\` allows them (Pebble is an
unknown CA: certctl's default policy would stop at 300 new orders per 3 h and
10 pending orders): certificates-per-domain ${COUNT}/week, new-orders 100,000 per 3 h,
pending-orders 64. Peak RSS of the certctl process by GNU time. certbot is run
once per certificate as its users script it, on a sample of ${CB_SAMPLE}
certificates, and **extrapolated** to ${COUNT}. The planner check goes through
the ACME test proxy, which counts what reaches the CA; so does the kill check.
Targets (issue 19): ≥ 30× certbot's throughput, peak RSS ≤ 250 MB, planner exact.

${L.machineLine(m)} ${L.PEBBLE_NOTE}

Reproduce (after \`npm run build && npm run build:testkit\`; \`apt-get install -y pebble certbot time\`):

\`\`\`
node bench/bulk-1000.mjs${FULL ? ' --full' : ''}   # default: 100 certificates under 10 domains, certbot sample 5; --full: 1,000 under 100, sample 30
\`\`\`

Results:

${result}

${target}

Where the time goes: certctl's work runs on one Node thread, about 55 ms of CPU
per certificate after this change (\`node --cpu-prof\` of 40 lineages at
--concurrency 16: 2.6 s CPU under the profiler; JWS signing, TLS, the SQLite journal, X.509 parsing,
fsyncs, which block the event loop), and Pebble validates and signs on the same
two cores. From --concurrency 4 up the run is CPU-bound on what the loaded
machine leaves it, so 16 is no faster than 4 (slower in the --full run:
more work in flight, more memory). Before it, every ACME session
built an \`https.Agent\` with \`ca: [~140 roots, the bundle]\`, which parsed them
into a new TLS context for every connection: 40 % of apply's CPU (5.8 s under the profiler for the
same 40 lineages), and 20 certificates took 6.4 s at --concurrency 1 and 7.2 s at
16 (no gain from concurrency at all). The kill row's newOrders above its
issuances are orders in flight when the kill came: a newOrder whose answer the kill
took is journalled as possible and ordered again, at most one per worker, never
an extra certificate (the CA's count of issuances is exact).
`,
  );
}
process.exit(ratio >= 30 && peakRss <= 250 && plannerOk && killOk ? 0 : 1);
