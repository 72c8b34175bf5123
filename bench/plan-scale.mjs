#!/usr/bin/env node
/**
 * Bench: `certctl plan` for one request on a ledger of 1,000,000 certificates
 * over 50,000 registered domains (20 per domain, spread over the last 120
 * days, so about 1 in 20 of a domain's certificates is inside LE's two-week
 * lookback; every 4th domain re-issues one set, so the renewal look-ups work).
 *
 * Targets (issue 3): < 30 ms of work in the process (median, warm), < 150 ms
 * for the whole `node bin/certctl.js plan …` process, < 150 MB peak RSS; issue 19:
 * the whole process ≤ 100 ms (`node -e 0` timed beside it).
 * Needs `npm run build` first (imports dist/). Exits 1 when a target is missed.
 *
 *   node bench/plan-scale.mjs [--certs 1000000] [--domains 50000] [--keep DIR]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Ledger } = await import(path.join(ROOT, 'dist/core/ledger/ledger.js'));
const { planFromLedger } = await import(path.join(ROOT, 'dist/core/plan.js'));

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const CERTS = Number(arg('certs', 1_000_000));
const DOMAINS = Number(arg('domains', 50_000));
const TARGET_IN_PROCESS_MS = 30;
const TARGET_PROCESS_MS = 150;
/** Issue 19: the whole process, with `node -e 0` beside it (Node's own start-up is most of it). */
const TARGET_PROCESS_MS_19 = 100;
const TARGET_RSS_MB = 150;
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const DAY = 86_400_000;
const NOW = Date.parse('2026-03-02T10:00:00Z');

const keep = arg('keep', undefined);
const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-bench-'));
const file = path.join(dir, 'ledger.sqlite');

// ------------------------------------------------------------------ generate
let genMs = 0;
if (!fs.existsSync(file) || !keep) {
  const t0 = performance.now();
  const ledger = Ledger.open(file);
  const db = ledger.db;
  db.pragma('synchronous = OFF');
  const insCert = db.prepare(
    `INSERT INTO certificates (lineage, version, source, ca_id, directory_url, issuer, serial, names_json, set_key, key_type, not_before, not_after, issued_at, seen_in_ct, created_at)
     VALUES (NULL, NULL, 'ct', 'letsencrypt', @dir, 'CN=R11', @serial, @names, @key, 'ecdsa:p256', @nb, @na, @at, 1, @at)`,
  );
  const insDom = db.prepare('INSERT OR IGNORE INTO certificate_domains (registered_domain, issued_at, cert_id) VALUES (?, ?, ?)');
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const perDomain = Math.ceil(CERTS / DOMAINS);
  db.transaction(() => {
    let n = 0;
    for (let d = 0; d < DOMAINS && n < CERTS; d++) {
      const domain = `d${d}.com`;
      for (let k = 0; k < perDomain && n < CERTS; k++, n++) {
        const names = d % 4 === 0 && k % 2 === 0 ? [domain, `www.${domain}`] : [`h${k}.${domain}`];
        const at = NOW - Math.floor(rand() * 120 * DAY);
        const key = [...names].sort().join(',');
        const { lastInsertRowid } = insCert.run({ dir: LE_DIR, serial: `s${n}`, names: JSON.stringify(names), key, nb: at - 3_600_000, na: at + 90 * DAY, at });
        insDom.run(domain, at, lastInsertRowid);
      }
    }
  })();
  const acct = ledger.saveAccount({ directory_url: LE_DIR, ca_id: 'letsencrypt', account_url: 'https://acme/acct/1', key_path: '/k', key_type: 'ecdsa', email: null, eab_kid: null, now: NOW - 365 * DAY });
  const insOrder = db.prepare(
    `INSERT INTO orders (account_id, ca_id, directory_url, names_json, set_key, key_type, order_url, status, step, state, created_at, updated_at)
     VALUES (?, 'letsencrypt', ?, ?, ?, 'ecdsa:p256', ?, 'valid', 'done', 'done', ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) {
      const at = NOW - Math.floor(rand() * 120 * DAY);
      insOrder.run(acct, LE_DIR, '["x.d1.com"]', 'x.d1.com', `https://acme/order/${i}`, at, at);
    }
  })();
  db.pragma('synchronous = NORMAL');
  db.exec('ANALYZE');
  ledger.close();
  genMs = performance.now() - t0;
}
const sizeMb = fs.statSync(file).size / 1e6;

// ------------------------------------------------------------- in-process
const req = { names: ['www.d1234.com', 'd1234.com', 'new.d1234.com'], caId: 'letsencrypt', directoryUrl: LE_DIR, policyId: 'letsencrypt', accountId: 1, parts: 2, newAccount: false };
const ledger = Ledger.open(file);
let t = performance.now();
const first = planFromLedger(ledger, req, NOW);
const coldMs = performance.now() - t;
const runs = [];
for (let i = 0; i < 50; i++) {
  t = performance.now();
  planFromLedger(ledger, req, NOW);
  runs.push(performance.now() - t);
}
ledger.close();
runs.sort((a, b) => a - b);
const median = runs[Math.floor(runs.length / 2)];
const p95 = runs[Math.floor(runs.length * 0.95)];

// ------------------------------------------------------------ whole process
const cli = [path.join(ROOT, 'bin/certctl.js'), '--state-dir', dir, '--json', 'plan', '-d', 'www.d1234.com', '-d', 'd1234.com', '-d', 'new.d1234.com', '--key-type', 'dual'];
// certctl has no clock override: the test-side clock is preloaded (test/helpers/fake-clock.cjs).
const env = { ...process.env, CERTCTL_TEST_NOW: String(NOW), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(ROOT, 'test', 'helpers', 'fake-clock.cjs')}`.trim() };
const wall = [];
let rssMb = 0;
let exitCode = null;
for (let i = 0; i < 7; i++) {
  const t1 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...cli], { env, encoding: 'utf8' });
  wall.push(performance.now() - t1);
  exitCode = r.status;
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  if (m) rssMb = Math.max(rssMb, Number(m[1]) / 1024);
}
wall.sort((a, b) => a - b);
const procMedian = wall[Math.floor(wall.length / 2)];
// Node's own start-up, timed the same way (under time -v), for scale.
const bare = [];
for (let i = 0; i < 7; i++) {
  const t1 = performance.now();
  spawnSync('/usr/bin/time', ['-v', process.execPath, '-e', '0'], { env, encoding: 'utf8' });
  bare.push(performance.now() - t1);
}
bare.sort((a, b) => a - b);
const nodeMedian = bare[Math.floor(bare.length / 2)];

// ------------------------------------------------------------------ report
const rows = [
  ['ledger', `${CERTS.toLocaleString('en')} certificates, ${DOMAINS.toLocaleString('en')} domains, ${sizeMb.toFixed(0)} MB`, '', ''],
  ['generate (one transaction)', genMs ? `${(genMs / 1000).toFixed(1)} s` : 'reused', '', ''],
  ['plan in-process, first call', `${coldMs.toFixed(1)} ms`, '', ''],
  ['plan in-process, median of 50', `${median.toFixed(2)} ms`, `< ${TARGET_IN_PROCESS_MS} ms`, median < TARGET_IN_PROCESS_MS ? 'ok' : 'MISSED'],
  ['plan in-process, p95', `${p95.toFixed(2)} ms`, '', ''],
  ['plan process (wall, median of 7)', `${procMedian.toFixed(0)} ms`, `< ${TARGET_PROCESS_MS} ms`, procMedian < TARGET_PROCESS_MS ? 'ok' : 'MISSED'],
  ['plan process ≤ 100 ms (issue 19)', `${procMedian.toFixed(0)} ms; node -e 0: ${nodeMedian.toFixed(0)} ms`, `≤ ${TARGET_PROCESS_MS_19} ms`, procMedian <= TARGET_PROCESS_MS_19 ? 'ok' : 'MISSED'],
  ['plan process peak RSS', `${rssMb.toFixed(1)} MB`, `< ${TARGET_RSS_MB} MB`, rssMb > 0 && rssMb < TARGET_RSS_MB ? 'ok' : 'MISSED'],
  ['verdict / CLI exit code', `${first.verdict} / ${exitCode}`, '', ''],
];
const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length)));
console.log(`node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'})`);
for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`);
if (!keep) fs.rmSync(dir, { recursive: true, force: true });
const missed = rows.some((r) => r[3] === 'MISSED');
process.exit(missed ? 1 : 0);
