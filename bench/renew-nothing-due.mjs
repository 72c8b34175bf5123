#!/usr/bin/env node
/**
 * Bench: `renew` when nothing is due.
 *
 * 1. 200 lineages, certctl vs certbot, same machine, same Pebble (up while
 *    timing, though neither client should need it). certctl's lineages are
 *    issued for real (`certctl apply --concurrency 8`); certbot's are one
 *    certificate issued by certbot, its lineage copied under 200 names (see
 *    bench/lib.mjs certbotLineages). Target: certctl ≤ 1/5 of certbot.
 * 2. certctl alone, 100,000 lineages in the ledger (generated with prepared
 *    statements in one transaction: each lineage one 90-day certificate issued
 *    10 days ago, a tenth with an older version too, one finished order each;
 *    the CA directory cached in the ledger so nothing is sent), twice: a CA
 *    without ARI (lifetime rule) and with ARI (each certificate's window
 *    cached, next check tomorrow). Target: < 1.5 s wall, < 200 MB peak RSS.
 *
 * Needs `npm run build`, `apt-get install -y pebble certbot time`.
 *
 *   node bench/renew-nothing-due.mjs [--runs 5] [--lineages 200] [--big 100000] [--keep DIR] [--no-write]
 */
import fs from 'node:fs';
import path from 'node:path';
import * as L from './lib.mjs';

const RUNS = Number(L.arg('runs', 5));
const N = Number(L.arg('lineages', 200));
const BIG = Number(L.arg('big', 100_000));
const keep = L.arg('keep', undefined);
L.requireBins(L.CERTBOT, '/usr/bin/pebble', L.TIME);

const work = L.tmpDir('renew');
const cc = path.join(work, 'certctl');
const cb = path.join(work, 'certbot');

// ------------------------------------------------------------ 1. 200 lineages
const small = { cc: [], cb: [], ccRss: 0, cbRss: 0, buildCc: 0, buildCb: 0 };
const ccArgs = ['--state-dir', cc, '--config', path.join(cc, 'no-config.json'), 'renew', '--no-random-sleep'];
const cbArgs = ['renew', '--no-random-sleep-on-renew', ...L.certbotDirs(cb)];
const pebble = await L.startBenchPebble();
try {
  process.stderr.write(`issuing ${N} certctl lineages (apply --concurrency 8) …\n`);
  small.buildCc = await L.certctlLineages(pebble, cc, N);
  process.stderr.write(`certctl: ${L.fmtMs(small.buildCc)}; certbot: one issuance + ${N - 1} copies …\n`);
  small.buildCb = await L.certbotLineages(pebble, cb, N);
  const env = { ...process.env, REQUESTS_CA_BUNDLE: pebble.caBundle };

  // Sanity: every lineage looked at, none renewed.
  const j = JSON.parse((await L.certctlOk(['--json', ...ccArgs])).stdout);
  if (j.counts.kept !== N) throw new Error(`certctl renew kept ${j.counts.kept} of ${N}: ${JSON.stringify(j.counts)}`);
  const c = await L.runOk(L.CERTBOT, cbArgs, { env });
  const notDue = ((c.stdout + c.stderr).match(/\(skipped\)/g) ?? []).length;
  if (notDue < N) throw new Error(`certbot renew: expected ${N} lineages "(skipped)" as not due, saw ${notDue}\n${c.stdout.slice(-2000)}\n${c.stderr.slice(-2000)}`);

  for (let round = 0; round < RUNS; round++) {
    small.cc.push((await L.certctlOk(ccArgs)).ms);
    small.cb.push((await L.runOk(L.CERTBOT, cbArgs, { env })).ms);
  }
  small.ccRss = (await L.run(L.NODE, [L.CERTCTL, ...ccArgs], { rss: true })).rssMb;
  small.cbRss = (await L.run(L.CERTBOT, cbArgs, { rss: true, env })).rssMb;
} finally {
  await pebble.stop();
}
const smallRatio = L.median(small.cc) / L.median(small.cb);
const smallOk = smallRatio <= 0.2;

// ----------------------------------------------------- 2. 100,000 lineages
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const ARI_URL = 'https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo';
const DAY = 86_400_000;
const bigDir = keep ?? path.join(work, 'big');
const bigFile = path.join(bigDir, 'ledger.sqlite');
const { Ledger } = await import(path.join(L.ROOT, 'dist/core/ledger/ledger.js'));
L.emptyConfig(bigDir);

let genMs = 0;
if (!fs.existsSync(bigFile)) {
  process.stderr.write(`generating ${BIG.toLocaleString('en')} lineages …\n`);
  const t0 = performance.now();
  const now = Date.now();
  const ledger = Ledger.open(bigFile);
  const db = ledger.db;
  db.pragma('synchronous = OFF');
  const acct = ledger.saveAccount({ directory_url: LE_DIR, ca_id: 'letsencrypt', account_url: 'https://acme-v02.api.letsencrypt.org/acme/acct/1', key_path: path.join(bigDir, 'accounts/x/account.key'), key_type: 'ecdsa', email: 'ops@example.com', eab_kid: null, now: now - 365 * DAY });
  const insLineage = db.prepare(
    `INSERT INTO lineages (name, names_json, set_key, ca_id, directory_url, key_type, challenge, webroot, standalone_addr, settings_json, current_version, created_at, updated_at)
     VALUES (?, ?, ?, 'letsencrypt', ?, 'ecdsa:p256', 'webroot', '/var/www/html', NULL, ?, ?, ?, ?)`,
  );
  const insOrder = db.prepare(
    `INSERT INTO orders (lineage, account_id, ca_id, directory_url, names_json, set_key, key_type, order_url, finalize_url, certificate_url, status, step, state, created_at, updated_at)
     VALUES (?, ?, 'letsencrypt', ?, ?, ?, 'ecdsa:p256', ?, ?, ?, 'valid', 'done', 'done', ?, ?)`,
  );
  const insCert = db.prepare(
    `INSERT INTO certificates (lineage, version, order_id, role, source, ca_id, directory_url, issuer, serial, names_json, set_key, key_type, not_before, not_after, issued_at, ari_cert_id, created_at)
     VALUES (?, ?, ?, 'main', 'certctl', 'letsencrypt', ?, 'CN=E6,O=Let''s Encrypt,C=US', ?, ?, ?, 'ecdsa:p256', ?, ?, ?, ?, ?)`,
  );
  const insDom = db.prepare('INSERT OR IGNORE INTO certificate_domains (registered_domain, issued_at, cert_id) VALUES (?, ?, ?)');
  const insAri = db.prepare(
    `INSERT INTO renewal_info (cert_id, ari_cert_id, window_start, window_end, chosen_at, next_check, explanation_url, fetched_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < BIG; i++) {
      const domain = `site${i}.example.com`;
      const names = [domain, `www.${domain}`];
      const namesJson = JSON.stringify(names);
      const setKey = [...names].sort().join(',');
      const versions = i % 10 === 0 ? 2 : 1;
      // Issued between 5 and 25 days ago: a 90-day certificate is due after 60 days.
      const issued = now - (5 + (i % 21)) * DAY;
      insLineage.run(domain, namesJson, setKey, LE_DIR, JSON.stringify({ email: 'ops@example.com' }), versions, issued - 60 * DAY * (versions - 1), issued);
      for (let v = 1; v <= versions; v++) {
        const at = issued - 60 * DAY * (versions - v);
        const serial = `${(i * 2 + v).toString(16).padStart(8, '0')}fa11ed`;
        const { lastInsertRowid: orderId } = insOrder.run(domain, acct, LE_DIR, namesJson, setKey, `https://acme/order/${i}-${v}`, `https://acme/finalize/${i}-${v}`, `https://acme/cert/${i}-${v}`, at, at);
        const ariId = `aki${i}.${serial}`;
        const { lastInsertRowid: certId } = insCert.run(domain, v, orderId, LE_DIR, serial, namesJson, setKey, at - 3_600_000, at + 90 * DAY - 3_600_000, at, ariId, at);
        insDom.run(domain, at, certId);
        if (v === versions) insAri.run(certId, ariId, at + 60 * DAY, at + 62 * DAY, at + 61 * DAY, now + DAY, now);
      }
    }
  })();
  db.pragma('synchronous = NORMAL');
  db.exec('ANALYZE');
  ledger.close();
  genMs = performance.now() - t0;
}
const bigMb = fs.statSync(bigFile).size / 1e6;

function setDirectory(renewalInfo) {
  const ledger = Ledger.open(bigFile);
  ledger.saveDirectoryInfo(LE_DIR, renewalInfo, null, Date.now());
  ledger.db.prepare('UPDATE renewal_info SET next_check = ?').run(Date.now() + DAY);
  ledger.close();
}
const bigArgs = ['--state-dir', bigDir, '--config', path.join(bigDir, 'no-config.json'), '--quiet', 'renew', '--no-random-sleep', '--no-precheck'];
const big = {};
try {
  for (const [variant, ri] of [['no ARI (lifetime rule)', null], ['ARI (windows cached)', ARI_URL]]) {
    setDirectory(ri);
    // Sanity: all kept, and not one request sent (-v prints each request).
    const j = await L.certctlOk(['-v', '--json', ...bigArgs.filter((a) => a !== '--quiet')]);
    const kept = JSON.parse(j.stdout).counts.kept;
    if (kept !== BIG) throw new Error(`renew kept ${kept} of ${BIG}`);
    if (/\b(GET|POST|HEAD) https?:/.test(j.stderr)) throw new Error(`renew sent a request:\n${j.stderr.slice(0, 2000)}`);
    const ms = [];
    const cpu = [];
    let rss = 0;
    for (let i = 0; i < RUNS; i++) {
      const r = await L.run(L.NODE, [L.CERTCTL, ...bigArgs], { rss: true });
      if (r.code !== 0) throw new Error(`renew exited ${r.code}: ${r.stderr.slice(-2000)}`);
      ms.push(r.ms);
      cpu.push(r.cpuMs);
      rss = Math.max(rss, r.rssMb);
    }
    big[variant] = { ms, rss, cpu };
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true }); // the big ledger too, unless --keep put it elsewhere
}

// ------------------------------------------------------------------ report
let ok = smallOk;
const smallTable = L.table(
  ['', `certctl, median of ${RUNS} (min–max)`, 'certbot', 'certctl / certbot', 'target', '', 'peak RSS certctl / certbot'],
  [[`renew, ${N} lineages, none due`, L.fmtRange(small.cc), L.fmtRange(small.cb), `${smallRatio.toFixed(2)} (1/${(1 / smallRatio).toFixed(1)})`, '≤ 0.20', L.verdict(smallOk), `${small.ccRss?.toFixed(0)} / ${small.cbRss?.toFixed(0)} MB`]],
);
const bigRows = [];
for (const [variant, r] of Object.entries(big)) {
  const m = L.median(r.ms);
  const t = m < 1500;
  const s = r.rss < 200;
  ok &&= t && s;
  bigRows.push([`${BIG.toLocaleString('en')} lineages, ${variant}: wall, median of ${RUNS}`, L.fmtRange(r.ms), '< 1.5 s', L.verdict(t)]);
  bigRows.push([`  same: peak RSS (max of ${RUNS})`, `${r.rss.toFixed(0)} MB`, '< 200 MB', L.verdict(s)]);
  bigRows.push([`  same: CPU time, user + sys (median)`, L.fmtRange(r.cpu), '', '']);
}
const bigTable = L.table(['certctl renew, nothing due', 'result', 'target', ''], bigRows);
console.log(smallTable + '\n\n' + bigTable);
console.log(`\nledger with ${BIG.toLocaleString('en')} lineages: ${bigMb.toFixed(0)} MB${genMs ? `, generated in ${L.fmtMs(genMs)}` : ' (reused)'}`);

if (!L.flag('no-write')) {
  const m = L.machine();
  L.updateSection(
    'renew with nothing due: certctl vs certbot, and 100,000 lineages',
    `
What: the cron job on a day when nothing is due.

1. ${N} lineages, \`certctl renew\` vs \`certbot renew\`, same machine, same Pebble
   (running, though neither needs it). certctl's ${N} lineages were issued for real
   from Pebble by \`certctl apply --concurrency 8\` (${N} single-name certificates under
   ${N} registered domains, ${L.fmtMs(small.buildCc)}); certbot's are one certificate issued
   by certbot from the same Pebble (${L.fmtMs(small.buildCb)}), its \`live/\`, \`archive/\` and
   \`renewal/*.conf\` copied under ${N} names with the paths rewritten — certbot
   parses every renewal conf and loads every certificate as it would for issued
   ones. Output to a pipe, both clients' default verbosity. Target: certctl ≤ 1/5.
2. certctl alone on a ledger of ${BIG.toLocaleString('en')} lineages (${bigMb.toFixed(0)} MB), generated
   through the Ledger module with prepared statements in one transaction: each
   lineage two names, one 90-day ECDSA certificate issued 5–25 days ago (a tenth
   with an older version as well), a finished order each. The CA (Let's Encrypt's
   URL) is never reached: its directory is cached in the ledger's \`directories\`
   table; once as a CA without ARI (the lifetime rule decides), once with ARI
   (each current certificate's window cached, next check tomorrow). The bench
   checks with \`-v\` that no request is sent. Targets: < 1.5 s, < 200 MB peak RSS.

${L.machineLine(m)} ${L.PEBBLE_NOTE}

Reproduce (after \`npm run build\`; \`apt-get install -y pebble certbot time\`):

\`\`\`
node bench/renew-nothing-due.mjs --runs ${RUNS} --lineages ${N} --big ${BIG}   # --keep DIR keeps the big ledger
# what it times:
certctl --state-dir D --config D/no-config.json renew --no-random-sleep
certbot renew --no-random-sleep-on-renew --config-dir D/conf --work-dir D/work --logs-dir D/logs
/usr/bin/time -v certctl --state-dir BIG --config BIG/no-config.json --quiet renew --no-random-sleep --no-precheck
\`\`\`

Results:

${smallTable}

${bigTable}

What was optimised for these numbers (issue 9; before: 200 lineages 0.30 of
certbot, 100,000 lineages 23 s and 445 MB): \`renew\` asked the ledger 3–4
queries per lineage (lineage list, open orders, current certificates, the
directory's cached info, the ARI row), each ~30–100 µs with its \`prepare\`, and
built every outcome by spreading objects. Now src/core/renew/runner.ts reads
lineages in pages of 2,000 through one new query, \`Ledger.renewalScan\` (each
lineage with its current certificates and their ARI rows, only the columns the
decision needs; the full lineage row is read only for one that is due), the
open orders in one query, the directory row once per run while it is fresh,
answers a still-fresh ARI window from the row already read (refreshAri's own
first step), and loads obtain, the gate and the ACME transport (acme-client,
axios) only when something is due. The outcomes are unchanged (the E2E tests
test/e2e/renew*.test.ts pass; test/unit/ledger-renewal-scan.test.ts checks the
scan against the per-lineage reads). What is left, by \`node --cpu-prof\` on the
ARI case: the scan itself (SQLite reading three B-trees per lineage) ~35 %,
garbage collection ~20 %, \`ariDecision\`'s reason text (three ISO dates per
lineage, src/core/renew/ari.ts) ~13 %; src/cli/run/renew.ts also builds every
"kept" line before \`--quiet\` drops it (~5 %).
`,
  );
}
process.exit(ok ? 0 : 1);
