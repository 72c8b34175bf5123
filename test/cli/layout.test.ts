/**
 * Terminal layout of `plan`, `renew` and `status` (issue 20): on an 80-column
 * pty every line fits 80 columns — long reasons wrap at word boundaries with
 * an indent, never mid-word, nothing that matters shortened — a time is
 * printed once per line, and `status | head -1` exits 0 with nothing on
 * stderr. The ledger is a realistic one built with the ledger API: several
 * lineages, a set issued 5 times this week (blocked), ARI rows, a 429 on
 * record. Nothing here reaches a CA: every due renewal is blocked by the
 * planner before any request, the directory is cached.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { registeredDomains, setKey } from '../../src/core/names.js';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/certctl.js');
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const NOW = Date.parse('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let dir: string;
let serial = 0x8b0b4d5d67889f1n;

const BLOCKED = ['shop.example.com', 'www.shop.example.com', 'static.shop.example.com', 'img.shop.example.com'];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/commands/plan.js'))) throw new Error('dist/ is missing: run `npm run build` before the CLI tests');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-layout-'));
  const l = Ledger.open(path.join(dir, 'ledger.sqlite'));
  try {
    // The directory is known (renewalInfo endpoint cached): renew decides from the ledger alone.
    l.saveDirectoryInfo(LE_DIR, 'https://acme-v02.api.letsencrypt.org/draft-ietf-acme-ari-03/renewalInfo', { classic: 'classic', tlsserver: 'tlsserver' }, NOW);
    const cert = (names: string[], at: number, lineage: string | null, version: number | null, days = 90): number =>
      l.insertCertificate({
        lineage, version, order_id: null, bundle_id: null, role: null, source: 'certctl', ca_id: 'letsencrypt', directory_url: LE_DIR,
        issuer: 'CN=R11,O=Let\'s Encrypt,C=US', serial: (serial++).toString(16), names, set_key: setKey(names), key_type: 'ecdsa:p256',
        not_before: at - HOUR, not_after: at + days * DAY, issued_at: at, replaces: null, ari_cert_id: `aYhba4dGQEHhs3uEe6CuLN4ByNQ.${(serial).toString(16)}`, seen_in_ct: 0, fingerprint: null,
        registered_domains: registeredDomains(names), now: at,
      }).id;
    const lineage = (name: string, names: string[], issuedAt: number, days = 90): number => {
      l.saveLineage({ name, names, set_key: setKey(names), ca_id: 'letsencrypt', directory_url: LE_DIR, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: '/var/www/html', standalone_addr: null, settings: {}, now: issuedAt });
      const id = cert(names, issuedAt, name, 1, days);
      l.setLineageVersion(name, 1, issuedAt);
      return id;
    };
    // Held, not due; its ARI window in the future.
    const a = lineage('www.example.com', ['www.example.com', 'example.com'], NOW - 10 * DAY);
    l.saveRenewalInfo({ cert_id: a, ari_cert_id: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.a', window_start: NOW + 49 * DAY, window_end: NOW + 51 * DAY, chosen_at: NOW + 50 * DAY, next_check: NOW + 6 * HOUR, explanation_url: null, fetched_at: NOW - HOUR });
    lineage('api.example.net', ['api.example.net'], NOW - 30 * DAY);
    // Due (a short-lived certificate near its end), and its exact set spent 5 times this week: blocked.
    lineage('shop.example.com', BLOCKED, NOW - 5 * DAY, 6);
    for (let i = 0; i < 5; i++) cert(BLOCKED, NOW - 5 * HOUR + i * HOUR, null, null);
    // Due by its ARI window (open now), same set spent 5 times too.
    const m = lineage('mail.example.org', ['mail.example.org', 'smtp.example.org', 'imap.example.org'], NOW - 60 * DAY);
    l.saveRenewalInfo({ cert_id: m, ari_cert_id: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.b', window_start: NOW - DAY, window_end: NOW + DAY, chosen_at: NOW - HOUR, next_check: NOW + 6 * HOUR, explanation_url: 'https://letsencrypt.org/2026/03/01/incident-report-with-a-long-address', fetched_at: NOW - HOUR });
    for (let i = 0; i < 4; i++) cert(['mail.example.org', 'smtp.example.org', 'imap.example.org'], NOW - 3 * DAY + i * HOUR, null, null);
    // A lineage at another CA (a private one), RSA: plan -d for its names plans against it, not Let's Encrypt.
    l.saveLineage({ name: 'intranet', names: ['intranet.corp.example'], set_key: setKey(['intranet.corp.example']), ca_id: 'custom', directory_url: 'https://acme.corp.example/directory', key_type: 'rsa:3072', challenge: 'webroot', webroot: '/var/www/html', standalone_addr: null, settings: {}, now: NOW - DAY });
    l.insertCertificate({
      lineage: 'intranet', version: 1, order_id: null, bundle_id: null, role: null, source: 'certctl', ca_id: 'custom', directory_url: 'https://acme.corp.example/directory',
      issuer: 'CN=Corp CA', serial: '01', names: ['intranet.corp.example'], set_key: setKey(['intranet.corp.example']), key_type: 'rsa:3072',
      not_before: NOW - DAY, not_after: NOW + 89 * DAY, issued_at: NOW - DAY, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null, registered_domains: ['corp.example'], now: NOW - DAY,
    });
    l.setLineageVersion('intranet', 1, NOW - DAY);
    // A 429 on record for that set, its Retry-After ahead.
    l.recordProblem({
      at: NOW - 2 * HOUR, ca_id: 'letsencrypt', directory_url: LE_DIR, account_id: null, order_id: null, lineage: 'mail.example.org', endpoint: 'finalize', http_status: 429,
      type: 'urn:ietf:params:acme:error:rateLimited',
      detail: 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-03-03 09:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers',
      retry_after: NOW + 23 * HOUR, limit_name: 'duplicate-certificates', scope: setKey(['mail.example.org', 'smtp.example.org', 'imap.example.org']),
    });
  } finally {
    l.close();
  }
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run certctl on an 80-column pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onPty(args: string[]): { code: number; lines: string[]; raw: string } {
  const cmd = ['stty cols 80 rows 50;', 'exec', process.execPath, BIN, '--state-dir', dir, ...args].map((a, i) => (i < 2 ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80', CERTCTL_TEST_NOW: String(NOW), TZ: 'Europe/Berlin', TERM: 'xterm' } });
  // eslint-disable-next-line no-control-regex
  const out = r.stdout.replace(/\r\n/g, '\n').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  // A carriage return (renew's progress line on the tty, rewritten in place) starts the line again: what the screen shows.
  const lines = out.split('\n').map((x) => x.slice(x.lastIndexOf('\r') + 1));
  if (lines[lines.length - 1] === '') lines.pop();
  return { code: r.status ?? -1, lines, raw: lines.join('\n') };
}

const TIME = /\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}/g;

function assertLayout(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(3);
  for (const line of lines) {
    expect([...line].length, `longer than 80 columns:\n${line}`).toBeLessThanOrEqual(80);
    // A time once per line: never the same moment twice (in two formats).
    const moments = (line.match(TIME) ?? []).map((t) => t.replace('T', ' '));
    expect(new Set(moments).size, `one moment twice on one line:\n${line}`).toBe(moments.length);
    expect(line, 'an ISO time in text output (the text writes UTC as 2026-01-24 04:12:00 UTC)').not.toMatch(/\d{2}:\d{2}:\d{2}(\.\d+)?Z/);
    expect(line, 'a relative time beside an absolute one').not.toMatch(/UTC[^)]*\((in |\d+ [dhm] ago)/);
  }
}

describe('80 columns on a terminal', () => {
  beforeEach(() => {});

  it('plan (every due renewal): every line fits, wrapped at word boundaries, the blocked sets and their times in full', () => {
    const r = onPty(['plan']);
    if (process.env.SHOW) console.log(r.raw);
    expect(r.code, r.raw).toBe(4);
    assertLayout(r.lines);
    // Nothing that matters shortened: every name of the blocked set is there, no ellipsis.
    for (const n of BLOCKED) expect(r.raw).toContain(n);
    expect(r.raw).not.toContain('…,');
    // Words whole: every reason and note of the plan (as --json has them) is in the text, read back
    // with its line breaks joined — so no word was split and nothing left out (a long URL breaks after a '/').
    const joined = r.raw.replace(/\/\n\s+/g, '/').replace(/\n\s+#/g, '#').replace(/\n\s+/g, ' ');
    const doc = JSON.parse(spawnSync(process.execPath, [BIN, '--state-dir', dir, '--json', 'plan'], { encoding: 'utf8', env: { ...process.env, CERTCTL_TEST_NOW: String(NOW) } }).stdout);
    const texts = doc.plans.flatMap((p: { notes: string[]; limits: { reason: string; exempt: boolean; allowedAt: string | null }[] }) => [
      ...p.notes,
      ...p.limits.filter((l) => l.exempt || l.allowedAt === null || Date.parse(l.allowedAt) > Date.parse(doc.now)).map((l) => l.reason),
    ]);
    expect(texts.length).toBeGreaterThan(5);
    // (Compared without white space: an exact set in a note may wrap after one of its commas.)
    for (const t of texts) expect(joined.replace(/\s+/g, '')).toContain(t.replace(/\s+/g, ''));
  });

  it('plan -d on a held and blocked set: the verdict says both, and what --force-renewal would meet', () => {
    const r = onPty(['plan', '-d', 'mail.example.org', '-d', 'smtp.example.org', '-d', 'imap.example.org']);
    if (process.env.SHOW) console.log(r.raw);
    assertLayout(r.lines);
    expect(r.code, r.raw).toBe(3);
    const text = r.raw.replace(/\n\s+/g, ' ');
    expect(text).toMatch(/Verdict: DUPLICATE and BLOCKED: .*held.*--force-renewal would be refused until 2026-03-03 \d\d:\d\d:\d\d UTC/);
    expect(text).not.toMatch(/use --force-renewal only if you must/);
    // The lineage that holds the names is named, and its CA used.
    expect(text).toMatch(/held by lineage mail\.example\.org/);
  });

  it('plan -d without --server/--ca: the CA and key type of the lineage holding the names, which is named; --server still wins', () => {
    const r = onPty(['plan', '-d', 'intranet.corp.example']);
    assertLayout(r.lines);
    const text = r.raw.replace(/\n\s+/g, ' ');
    expect(text).toContain('CA ACME CA at https://acme.corp.example/directory (https://acme.corp.example/directory)');
    expect(text).toContain('key rsa:3072');
    expect(text).toContain('These names are held by lineage intranet: planned with its CA and key type');
    const j = spawnSync(process.execPath, [BIN, '--state-dir', dir, '--json', 'plan', '-d', 'intranet.corp.example'], { encoding: 'utf8', env: { ...process.env, CERTCTL_TEST_NOW: String(NOW) } });
    expect(JSON.parse(j.stdout).plans[0]).toMatchObject({ ca: { directoryUrl: 'https://acme.corp.example/directory' }, keyType: 'rsa:3072' });
    const le = onPty(['plan', '-d', 'intranet.corp.example', '--server', LE_DIR]);
    expect(le.raw).toContain(`CA Let's Encrypt (${LE_DIR})`);
    expect(le.raw).not.toContain('held by lineage');
  });

  it('renew: every line fits (kept lines with their reason, blocked ones with the next try once)', () => {
    const r = onPty(['renew', '--no-random-sleep']);
    if (process.env.SHOW) console.log(r.raw);
    assertLayout(r.lines);
    expect(r.code, r.raw).toBe(4);
    expect(r.raw).toMatch(/blocked\s+shop\.example\.com/);
    expect(r.raw).toMatch(/kept\s+www\.example\.com/);
    expect(r.raw).toMatch(/kept\s+intranet/);
    // mail.example.org renews inside its ARI window (exempt from every limit): the 429 recorded for its
    // duplicate-certificates limit does not hold it, so it is tried — and stops at its readiness check
    // (this test has no DNS), before anything reaches a CA. Every other due one was blocked first.
    expect(r.raw).toMatch(/failed\s+mail\.example\.org: Not ready to order/);
    expect(r.raw.match(/^failed/gm)).toHaveLength(1);
  });

  it('status: every line fits, times once', () => {
    const r = onPty(['status']);
    if (process.env.SHOW) console.log(r.raw);
    expect(r.code, r.raw).toBe(0);
    assertLayout(r.lines);
    expect(r.raw).toContain('www.example.com');
  });

  it('status | head -1: exit 0, nothing on stderr', () => {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" --state-dir "${dir}" status | head -1`], { encoding: 'utf8', env: { ...process.env, CERTCTL_TEST_NOW: String(NOW) } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
