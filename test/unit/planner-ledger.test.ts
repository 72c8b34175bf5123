/** planFromLedger on a real SQLite ledger in a temp dir: the snapshot SQL and the three seed stories. */
import fs from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { planFromLedger, limitsOverview } from '../../src/core/plan.js';
import type { PlanRequest } from '../../src/core/planner/plan.js';
import { registeredDomains, setKey } from '../../src/core/names.js';
import { TIME } from '../../src/core/limits/policies.js';

const { MINUTE, HOUR, DAY, WEEK } = TIME;
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const SM2_DIR = 'https://sm2acme.example.cn/directory';
describe.each(BACKENDS)('planner on the %s ledger', (backend) => {
  afterAll(stopTestPostgres);

  let dir: string;
  let ledger: Ledger;
  let serial = 1;

  beforeEach(async () => {
    ({ ledger, dir } = await openTestLedger(backend, 'certctl-planner-'));
  });
  afterEach(() => {
    ledger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function issue(names: string[], issuedAt: number, o: { caId?: string; dir?: string; lineage?: string | null; version?: number; bundle?: string | null; role?: string; replaces?: string | null; lifetime?: number } = {}): number {
    return ledger.insertCertificate({
      lineage: o.lineage ?? null,
      version: o.version ?? null,
      order_id: null,
      bundle_id: o.bundle ?? null,
      role: o.role ?? null,
      source: 'certctl',
      ca_id: o.caId ?? 'letsencrypt',
      directory_url: o.dir ?? LE_DIR,
      issuer: 'CN=Test',
      serial: String(serial++),
      names,
      set_key: setKey(names),
      key_type: 'rsa:2048',
      not_before: issuedAt - HOUR,
      not_after: issuedAt + (o.lifetime ?? 90 * DAY),
      issued_at: issuedAt,
      replaces: o.replaces ?? null,
      ari_cert_id: null,
      seen_in_ct: 0,
      fingerprint: null,
      registered_domains: registeredDomains(names),
      now: issuedAt,
    }).id;
  }

  const req = (names: string[], p: Partial<PlanRequest> = {}): PlanRequest => ({ names, caId: 'letsencrypt', directoryUrl: LE_DIR, policyId: 'letsencrypt', accountId: null, parts: 1, ...p });

  describe('seed 000: names added to a SAN certificate several times in a week (LE, January 2016)', () => {
    const at = (s: string) => Date.parse(s);
    const sets = [
      ['example.net', 'www.example.net'],
      ['example.net', 'www.example.net', 'mail.example.net'],
      ['example.net', 'www.example.net', 'mail.example.net', 'dev.example.net'],
      ['example.net', 'www.example.net', 'mail.example.net', 'dev.example.net'],
      ['example.net', 'www.example.net', 'mail.example.net', 'dev.example.net', 'shop.example.net'],
    ];
    const times = ['2016-01-17T21:49:00Z', '2016-01-17T21:53:00Z', '2016-01-17T21:57:00Z', '2016-01-20T21:25:00Z', '2016-01-20T21:45:00Z'].map(at);
    beforeEach(() => sets.forEach((s, i) => issue(s, times[i]!)));

    it('the sixth certificate is blocked until Jan 17 21:49:00 + 7 days, to the second', () => {
      const r = req(['example.net', 'www.example.net', 'mail.example.net', 'dev.example.net', 'shop.example.net', 'blog.example.net'], { policyId: 'letsencrypt-2016' });
      const d = planFromLedger(ledger, r, at('2016-01-21T09:00:00Z'));
      expect(d.verdict).toBe('blocked');
      expect(d.allowedAt).toBe(at('2016-01-24T21:49:00Z'));
      const l = d.limits.find((x) => x.name === 'certificates-per-domain')!;
      expect(l).toMatchObject({ scope: 'example.net', used: 5, capacity: 5, spend: 1, after: -1, nextFreeAt: at('2016-01-24T21:49:00Z') });
      expect(d.notes.join('\n')).toMatch(/adding or removing a name makes a new exact set/);
      expect(planFromLedger(ledger, r, at('2016-01-24T21:48:59Z')).verdict).toBe('blocked');
      const then = planFromLedger(ledger, r, at('2016-01-24T21:49:00Z'));
      expect(then.verdict).toBe('last-slot');
      expect(then.notes.join('\n')).toMatch(/last slot for example.net/);
    });

    it('re-running the same set is said to spend the duplicate limit (today\'s LE)', () => {
      const d = planFromLedger(ledger, req(sets[3]!), at('2016-01-21T09:00:00Z'));
      // issued Jan 17 21:57 and Jan 20 21:25: the first token is back after 33.6 h, the second still out
      expect(d.limits.find((x) => x.name === 'duplicate-certificates')!.used).toBe(1);
      expect(d.notes.join('\n')).toMatch(/running the same command again spends another duplicate slot/);
    });
  });

  describe('seed 001: the same exact set re-ordered until the duplicate limit (LE today)', () => {
    const names = Array.from({ length: 19 }, (_, i) => `h${i}.example.mil`);
    const T = Date.parse('2019-03-01T08:00:00Z');
    it('five issuances: the sixth is blocked 33.6 h after the first; per-domain and new-orders are exempt (renewal)', () => {
      for (let i = 0; i < 5; i++) issue(names, T + i * 10 * MINUTE);
      const now = T + 90 * MINUTE;
      const d = planFromLedger(ledger, req(names), now);
      expect(d.verdict).toBe('blocked');
      expect(d.renewal.sameSet).toBe(true);
      const dup = d.limits.find((x) => x.name === 'duplicate-certificates')!;
      expect(dup).toMatchObject({ used: 5, capacity: 5, spend: 1, after: -1 });
      expect(d.allowedAt).toBe(T + WEEK / 5);
      expect(d.limits.find((x) => x.name === 'certificates-per-domain')!.exempt).toBe(true);
      // only the first of the five spent a per-domain token (the others were renewals of it)
      const ov = limitsOverview(ledger, 'example.mil', now);
      expect(ov.entries.find((e) => e.name === 'certificates-per-domain' && e.caId === 'letsencrypt')!.used).toBe(1);
      expect(ov.entries.find((e) => e.name === 'duplicate-certificates')!).toMatchObject({ used: 5, nextFreeAt: T + WEEK / 5 });
    });

    it('a clock set back does not forget them: planned 2 min before the newest record, still blocked, and the note says why', () => {
      for (let i = 0; i < 5; i++) issue(names, T + i * 10 * MINUTE);
      // The newest record is at T+40 min; this machine's clock says T+38 min (a restored VM, an NTP step back).
      const d = planFromLedger(ledger, req(names), T + 38 * MINUTE);
      expect(d.verdict).toBe('blocked');
      expect(d.limits.find((x) => x.name === 'duplicate-certificates')!).toMatchObject({ used: 5, capacity: 5 });
      expect(d.allowedAt).toBe(T + WEEK / 5);
      expect(d.notes[0]).toMatch(/clock is 2 min behind the newest record in the ledger/);
      // Ordinary skew (under a minute) is not worth a note.
      expect(planFromLedger(ledger, req(names), T + 40 * MINUTE - 30_000).notes.join('\n')).not.toMatch(/clock is/);
    });

    it('a recorded 429 (old text) holds the set shut until its Retry-After even when the count has room', () => {
      issue(names, T);
      ledger.recordProblem({
        at: T + HOUR, ca_id: 'letsencrypt', directory_url: LE_DIR, account_id: 3, order_id: null, lineage: null, endpoint: 'new-cert', http_status: 429,
        type: 'urn:ietf:params:acme:error:rateLimited', detail: 'Error creating new cert :: too many certificates already issued for exact set of domains: …',
        retry_after: T + 2 * DAY, limit_name: 'duplicate-certificates', scope: setKey(names),
      });
      const d = planFromLedger(ledger, req(names, { accountId: 3 }), T + 2 * HOUR);
      expect(d.verdict).toBe('blocked');
      expect(d.allowedAt).toBe(T + 2 * DAY);
      expect(d.limits.find((x) => x.name === 'duplicate-certificates')!.evidence?.retryAfter).toBe(T + 2 * DAY);
    });

    it('once the certificate is stored in a lineage, ordering again is a duplicate', () => {
      ledger.saveLineage({ name: 'h0.example.mil', names, set_key: setKey(names), ca_id: 'letsencrypt', directory_url: LE_DIR, key_type: 'rsa:2048', challenge: 'webroot', webroot: '/var/www', standalone_addr: null, settings: {}, now: T });
      issue(names, T, { lineage: 'h0.example.mil', version: 1 });
      ledger.setLineageVersion('h0.example.mil', 1, T);
      const d = planFromLedger(ledger, req(names), T + HOUR);
      expect(d.verdict).toBe('duplicate');
      expect(d.held[0]!.lineage).toBe('h0.example.mil');
      // another CA's directory does not hold it
      expect(planFromLedger(ledger, req(names, { caId: 'letsencrypt-staging', directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory', policyId: 'letsencrypt-staging' }), T + HOUR).verdict).toBe('allowed');
    });
  });

  describe('seed 004: SM2 ACME Service, 10 certificates per registered domain per week, bundles of 3', () => {
    const T = Date.parse('2023-02-06T09:00:00Z'); // a Monday
    const sm2 = (names: string[], p: Partial<PlanRequest> = {}) => req(names, { caId: 'sm2acme', directoryUrl: SM2_DIR, policyId: 'sm2acme', parts: 3, ...p });
    function bundle(names: string[], at: number, id: string) {
      for (const role of ['main', 'sm2-sign', 'sm2-enc']) issue(names, at, { caId: 'sm2acme', dir: SM2_DIR, bundle: id, role });
    }
    beforeEach(() => {
      bundle(['www.example.com.cn'], T, 'b1');
      bundle(['shop.example.com.cn'], T + DAY, 'b2');
      bundle(['mail.example.com.cn'], T + 2 * DAY, 'b3');
    });
    it('9 of 10 used: a fourth bundle (3) is blocked until the first bundle leaves the window, a single certificate takes the last slot', () => {
      const now = T + 4 * DAY;
      const d = planFromLedger(ledger, sm2(['api.example.com.cn']), now);
      const l = d.limits.find((x) => x.name === 'certificates-per-domain')!;
      expect(l).toMatchObject({ scope: 'example.com.cn', used: 9, capacity: 10, spend: 3, after: -2 });
      expect(d.verdict).toBe('blocked');
      expect(d.allowedAt).toBe(T + WEEK);
      expect(planFromLedger(ledger, sm2(['api.example.com.cn']), T + WEEK).verdict).toBe('allowed');
      expect(planFromLedger(ledger, sm2(['api.example.com.cn'], { parts: 1 }), now).verdict).toBe('last-slot');
    });
    it('a renewal bundle of the same set is exempt from per-domain but its 3 certificates exceed the duplicate limit (3 + 3 > 5) within the week', () => {
      const d = planFromLedger(ledger, sm2(['www.example.com.cn']), T + 4 * DAY);
      expect(d.limits.find((x) => x.name === 'certificates-per-domain')!.exempt).toBe(true);
      expect(d.limits.find((x) => x.name === 'duplicate-certificates')).toMatchObject({ used: 3, spend: 3, after: -1 });
      expect(d.allowedAt).toBe(T + WEEK);
    });
    it('the parts of one bundle are not renewals of each other', () => {
      const ov = limitsOverview(ledger, 'example.com.cn', T + 4 * DAY, { caId: 'sm2acme' });
      expect(ov.entries.find((e) => e.name === 'certificates-per-domain' && e.caId === 'sm2acme')).toMatchObject({ used: 9, freesAt: [T + WEEK, T + WEEK, T + WEEK, T + DAY + WEEK, T + DAY + WEEK, T + DAY + WEEK, T + 2 * DAY + WEEK, T + 2 * DAY + WEEK, T + 2 * DAY + WEEK] });
    });
  });

  describe('snapshot SQL', () => {
    const T = Date.parse('2026-03-02T10:00:00Z');
    it('counts certificates by CA, by registered domain (co.uk, github.io, IDN), and uses issued_at, not not_before', () => {
      issue(['a.b.co.uk'], T - HOUR);
      issue(['c.co.uk'], T - HOUR);
      issue(['x.foo.github.io'], T - HOUR);
      issue(['www.xn--bcher-kva.de'], T - HOUR);
      issue(['other.b.co.uk'], T - HOUR, { caId: 'letsencrypt-staging', dir: 'https://acme-staging-v02.api.letsencrypt.org/directory' });
      const used = (names: string[]) => planFromLedger(ledger, req(names), T).limits.find((l) => l.name === 'certificates-per-domain')!.used;
      expect(used(['new.b.co.uk'])).toBe(1);
      expect(used(['bar.github.io'])).toBe(0);
      expect(used(['foo.github.io'])).toBe(1);
      expect(used(['xn--bcher-kva.de'])).toBe(1);
      // issued an hour after its notBefore (Boulder backdates): still counted from issued_at
      const d = planFromLedger(ledger, req(['new.b.co.uk']), T);
      expect(d.limits.find((l) => l.name === 'certificates-per-domain')!.nextFreeAt).toBe(T - HOUR + WEEK / 50);
    });

    it('reads orders per account, failed authorizations per identifier, open orders', () => {
      const acct = ledger.saveAccount({ directory_url: LE_DIR, ca_id: 'letsencrypt', account_url: 'https://acme/acct/1', key_path: '/k', key_type: 'ecdsa', email: null, eab_kid: null, now: T - DAY });
      for (let i = 0; i < 3; i++) {
        const id = ledger.createOrder({ lineage: null, account_id: acct, ca_id: 'letsencrypt', directory_url: LE_DIR, names: ['a.example.com'], set_key: 'a.example.com', key_type: 'ecdsa', now: T - 20_000 + i });
        ledger.updateOrder(id, { order_url: `https://acme/order/${i}`, status: 'pending', step: 'authorizing' }, T - 20_000 + i);
        ledger.recordAuthorization({ order_id: id, account_id: acct, directory_url: LE_DIR, identifier: 'a.example.com', authz_url: null, status: 'invalid', challenge_type: 'http-01', error_type: 'unauthorized', error_detail: '404', at: T - 5 * MINUTE + i });
      }
      // an order whose creation failed at the CA is refunded
      const failed = ledger.createOrder({ lineage: null, account_id: acct, ca_id: 'letsencrypt', directory_url: LE_DIR, names: ['a.example.com'], set_key: 'a.example.com', key_type: 'ecdsa', now: T - MINUTE });
      ledger.updateOrder(failed, { state: 'failed', status: 'error' }, T - MINUTE);
      const d = planFromLedger(ledger, req(['a.example.com'], { accountId: acct }), T);
      // three orders 20 s ago in a 36 s-refill bucket: all three still out
      expect(d.limits.find((l) => l.name === 'new-orders')!.used).toBe(3);
      expect(d.limits.find((l) => l.name === 'failed-authorizations')!.used).toBe(3);
      expect(d.limits.find((l) => l.name === 'consecutive-failures')!.used).toBe(3);
      const sm = planFromLedger(ledger, req(['a.example.com'], { accountId: acct, policyId: 'sm2acme' }), T);
      expect(sm.limits.find((l) => l.name === 'pending-orders')!.used).toBe(3);
    });

    // SQLite's EXPLAIN QUERY PLAN; PostgreSQL plans by table statistics (a test-sized table is always a seq scan), so this is SQLite's alone.
  if (backend === 'sqlite') it('query plans use indexes, never a full scan of certificates, orders or authorizations', () => {
      const plans: string[] = [];
      const orig = ledger.db.prepare.bind(ledger.db);
      (ledger.db as unknown as { prepare: (s: string) => unknown }).prepare = (sql: string) => {
        if (/^\s*SELECT/i.test(sql) && !/FROM (accounts|lineages)\b/.test(sql)) {
          const rows = orig(`EXPLAIN QUERY PLAN ${sql}`).all({ domain: 'x', since: 0, now: 1, ca: 'a', dir: 'b', key: 'k', acct: 1, ident: 'i', lineage: 'l', version: 1 }) as { detail: string }[];
          plans.push(...rows.map((r) => r.detail));
        }
        return orig(sql);
      };
      planFromLedger(ledger, req(['a.example.com'], { accountId: 1, policyId: 'sm2acme' }), T);
      planFromLedger(ledger, req(['a.example.com'], { accountId: 1 }), T);
      expect(plans.length).toBeGreaterThan(5);
      // SCAN CONSTANT ROW is the one row of a SELECT without FROM (latestRecordedAt's four look-ups in one statement), not a table.
      expect(plans.filter((p) => /^SCAN (?!CONSTANT ROW$)/.test(p))).toEqual([]);
      expect(plans.some((p) => /SEARCH cd USING PRIMARY KEY \(registered_domain=/.test(p))).toBe(true);
    });
  });
});
