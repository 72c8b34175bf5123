/**
 * `certctl plan` and `certctl limits` as a user runs them: the BUILT CLI
 * (npm run build first) as a subprocess, on a ledger prepared through the
 * ledger module, with the clock fixed by CERTCTL_TEST_NOW.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { registeredDomains, setKey } from '../../src/core/names.js';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/certctl.js');
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const NOW = Date.parse('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
let dir: string;
let serial = 1;

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/commands/plan.js'))) throw new Error('dist/ is missing plan.js: run `npm run build` before the CLI tests');
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-plan-cli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function withLedger(fn: (l: Ledger) => void): void {
  const l = Ledger.open(path.join(dir, 'ledger.sqlite'));
  try {
    fn(l);
  } finally {
    l.close();
  }
}
function issue(l: Ledger, names: string[], at: number, lineage: string | null = null, version: number | null = null): void {
  l.insertCertificate({
    lineage, version, order_id: null, bundle_id: null, role: null, source: 'certctl', ca_id: 'letsencrypt', directory_url: LE_DIR,
    issuer: 'CN=Test', serial: String(serial++), names, set_key: setKey(names), key_type: 'ecdsa:p256',
    not_before: at - HOUR, not_after: at + 90 * DAY, issued_at: at, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null,
    registered_domains: registeredDomains(names), now: at,
  });
}
function lineage(l: Ledger, name: string, names: string[], issuedAt: number): void {
  l.saveLineage({ name, names, set_key: setKey(names), ca_id: 'letsencrypt', directory_url: LE_DIR, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: '/var/www', standalone_addr: null, settings: {}, now: issuedAt });
  issue(l, names, issuedAt, name, 1);
  l.setLineageVersion(name, 1, issuedAt);
}
function run(args: string[], now = NOW): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, '--state-dir', dir, ...args], { encoding: 'utf8', env: { ...process.env, CERTCTL_TEST_NOW: String(now), NO_COLOR: '1', TZ: 'UTC' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('certctl plan -d', () => {
  it('empty ledger: allowed, exit 0, each limit with used/capacity/spend/left', () => {
    const r = run(['plan', '-d', 'example.com', '-d', 'www.example.com']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/certificates-per-domain\s+example\.com\s+used 0\/50, spend 1, left 49; fits/);
    expect(r.stdout).toMatch(/duplicate-certificates\s+example\.com,www\.example\.com\s+used 0\/5, spend 1, left 4; fits/);
    expect(r.stdout).toContain('Verdict: ALLOWED');
  });

  it('same set issued 5 times: blocked, exit 4, with the earliest time once, in UTC', () => {
    withLedger((l) => {
      for (let i = 0; i < 5; i++) issue(l, ['example.com', 'www.example.com'], NOW - 2 * HOUR + i * 60_000);
    });
    const r = run(['plan', '-d', 'www.example.com', '-d', 'example.com']);
    expect(r.code).toBe(4);
    const at = NOW - 2 * HOUR + WEEK / 5; // 2026-03-03 17:36:00 UTC
    expect(new Date(at).toISOString()).toBe('2026-03-03T17:36:00.000Z');
    // One time per line (issue 20): not the same moment again in local time and relative.
    expect(r.stdout).toMatch(/duplicate-certificates\s+example\.com,www\.example\.com\s+used 5\/5, spend 1, none left \(1 short\); blocked until 2026-03-03 17:36:00 UTC\n/);
    expect(r.stdout).toMatch(/certificates-per-domain\s+example\.com\s+exempt: renewal/);
    expect(r.stdout.replace(/\n\s+/g, ' ')).toContain('Verdict: BLOCKED: the CA would refuse this request; earliest allowed 2026-03-03 17:36:00 UTC');
    expect(r.stdout.replace(/\n\s+/g, ' ')).toMatch(/running the same command again spends another duplicate slot/);

    const j = run(['--json', 'plan', '-d', 'www.example.com', '-d', 'example.com']);
    expect(j.code).toBe(4);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.plan/1', mode: 'request', verdict: 'blocked', exitCode: 4 });
    expect(doc.plans[0]).toMatchObject({ names: ['www.example.com', 'example.com'], keyType: 'ecdsa:p256', parts: 1, verdict: 'blocked', allowedAt: '2026-03-03T17:36:00.000Z', policy: { id: 'letsencrypt' } });
    expect(doc.plans[0].limits.find((x: { name: string }) => x.name === 'duplicate-certificates')).toMatchObject({ used: 5, capacity: 5, spend: 1, after: -1, allowedAt: '2026-03-03T17:36:00.000Z', exempt: false });
  });

  it('4 of 5 used: a single key takes the last slot (exit 0, warned); dual needs 2 (exit 4)', () => {
    withLedger((l) => {
      for (let i = 0; i < 4; i++) issue(l, ['example.com'], NOW - HOUR + i);
    });
    const single = run(['plan', '-d', 'example.com']);
    expect(single.code).toBe(0);
    expect(single.stdout).toContain('Verdict: ALLOWED, LAST SLOT');
    const dual = run(['--json', 'plan', '-d', 'example.com', '--key-type', 'dual']);
    expect(dual.code).toBe(4);
    expect(JSON.parse(dual.stdout).plans[0]).toMatchObject({ keyType: 'dual', parts: 2, verdict: 'blocked' });
  });

  it('held and valid: duplicate, exit 3; --force-renewal plans the order anyway', () => {
    withLedger((l) => lineage(l, 'example.com', ['example.com'], NOW - DAY));
    const r = run(['plan', '-d', 'example.com']);
    expect(r.code).toBe(3);
    r.stdout = r.stdout.replace(/\n\s+/g, ' '); // wrapped at 80 columns, at word boundaries
    expect(r.stdout).toContain('Verdict: DUPLICATE: a valid certificate');
    expect(r.stdout).toContain('use --force-renewal only if you must replace it'); // not blocked: forcing would be allowed
    expect(r.stdout).toMatch(/You already hold a valid certificate for exactly these names \(lineage example\.com/);
    expect(run(['plan', '-d', 'example.com', '--force-renewal']).code).toBe(0);
    expect(run(['plan', '-d', 'example.com', '--staging']).code).toBe(0); // another CA holds nothing
  });

  it('an account whose registration never finished (no URL) is not an account: plan counts the new registration, as issue does', () => {
    // A run was killed between writing the account row and the CA's answer: the row has no URL, so the
    // next issue registers a new account and spends registrations-per-ip. Nine more accounts made in
    // the last minute fill Let's Encrypt's ten: the registration would be refused.
    withLedger((l) => {
      l.saveAccount({ directory_url: LE_DIR, ca_id: 'letsencrypt', account_url: null, key_path: path.join(dir, 'accounts/le.key'), key_type: 'ecdsa:p256', email: null, eab_kid: null, now: NOW - 60_000 });
      for (let i = 0; i < 9; i++) {
        l.saveAccount({ directory_url: `https://ca${i}.test/directory`, ca_id: 'custom', account_url: `https://ca${i}.test/acct/1`, key_path: path.join(dir, `accounts/${i}.key`), key_type: 'ecdsa:p256', email: null, eab_kid: null, now: NOW - 60_000 });
      }
    });
    const r = run(['--json', 'plan', '-d', 'example.com']);
    const doc = JSON.parse(r.stdout);
    const reg = doc.plans[0].limits.find((x: { name: string }) => x.name === 'registrations-per-ip');
    expect(reg, r.stdout).toBeDefined();
    expect(doc.verdict).toBe('blocked');
    expect(r.code).toBe(4);
  });

  it('bad input is exit 2, with nothing planned', () => {
    const r = run(['plan', '-d', 'co.uk']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/public suffix/);
  });
});

describe('certctl plan (renewal run)', () => {
  it('lists due renewals and whether each fits; not-due ones with their date', () => {
    withLedger((l) => {
      // lifetime 90 d + 1 h (notBefore backdated 1 h): due when a third is left
      lineage(l, 'old.example.com', ['old.example.com'], NOW - 70 * DAY);
      lineage(l, 'fresh.example.org', ['fresh.example.org'], NOW - 10 * DAY);
    });
    const r = run(['plan']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Plan (renewal of old.example.com): old.example.com');
    expect(r.stdout).toMatch(/fresh\.example\.org: not due until 2026-04-21 09:40:00 UTC/);
    expect(r.stdout).toContain('1 of 1 due renewal(s) fit');
    const j = JSON.parse(run(['--json', 'plan']).stdout);
    expect(j).toMatchObject({ schema: 'certctl.plan/1', mode: 'renewals', verdict: 'allowed' });
    expect(j.plans.map((p: { lineage: string }) => p.lineage)).toEqual(['old.example.com']);
    expect(j.notDue).toEqual([{ lineage: 'fresh.example.org', names: ['fresh.example.org'], dueAt: '2026-04-21T09:40:00.000Z', caChoice: null }]);
  });

  it('a due renewal blocked by a recorded 429 for its lineage makes the run exit 4', () => {
    withLedger((l) => {
      lineage(l, 'old.example.com', ['old.example.com'], NOW - 70 * DAY);
      l.recordProblem({ at: NOW - HOUR, ca_id: 'letsencrypt', directory_url: LE_DIR, account_id: null, order_id: null, lineage: 'old.example.com', endpoint: 'new-order', http_status: 429,
        type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-03-04 10:00:00 UTC', retry_after: NOW + 2 * DAY, limit_name: null, scope: null });
    });
    const r = run(['plan']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/blocked until 2026-03-04 10:00:00 UTC/);
    expect(r.stdout).toContain('0 of 1 due renewal(s) fit');
  });
});

describe('certctl limits', () => {
  it('shows each bucket of a domain with its fill and when slots free (text and JSON)', () => {
    withLedger((l) => {
      issue(l, ['a.example.com'], NOW - 2 * HOUR);
      issue(l, ['b.example.com'], NOW - HOUR);
    });
    const r = run(['limits', 'www.example.com']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('letsencrypt (policy letsencrypt)');
    expect(r.stdout).toMatch(/certificates-per-domain\s+example\.com: 2\/50 used, 48 free/);
    expect(r.stdout).toMatch(/duplicate-certificates\s+a\.example\.com: 1\/5 used, 4 free/);
    const j = JSON.parse(run(['--json', 'limits', 'example.com']).stdout);
    expect(j).toMatchObject({ schema: 'certctl.limits/1', domains: ['example.com'] });
    const dom = j.entries.find((e: { name: string }) => e.name === 'certificates-per-domain');
    expect(dom).toMatchObject({ caId: 'letsencrypt', used: 2, capacity: 50, available: 48 });
    expect(dom.freesAt).toHaveLength(2);
    expect(dom.nextFreeAt).toBe(new Date(NOW - 2 * HOUR + WEEK / 50).toISOString());
  });
});
