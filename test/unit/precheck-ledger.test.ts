/** The ledger side of the readiness checks, on a real SQLite file in a temp dir. */
import fs from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { latestPrechecks, recordPrechecks } from '../../src/core/ledger/prechecks.js';
import { checkFailures } from '../../src/core/precheck/failures.js';

const T0 = Date.parse('2026-01-20T12:00:00Z');
const MIN = 60_000;
describe.each(BACKENDS)('prechecks on the %s ledger', (backend) => {
  afterAll(stopTestPostgres);

  let dir: string;
  let ledger: Ledger;

  beforeEach(async () => {
    ({ ledger, dir } = await openTestLedger(backend, 'certctl-ledger-'));
  });
  afterEach(() => {
    ledger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function fail(identifier: string, at: number, status = 'invalid', directory_url = 'https://ca.test/dir'): void {
    ledger.recordAuthorization({ order_id: null, account_id: null, directory_url, identifier, authz_url: null, status, challenge_type: 'http-01', error_type: 'urn:ietf:params:acme:error:unauthorized', error_detail: 'Invalid response from http://x/: 404', at });
  }

  describe('failed-validations check', () => {
    it('passes below the limit and counts only invalid authorizations in the last hour', () => {
      fail('a.example.com', T0 - 61 * MIN); // outside the window
      fail('a.example.com', T0 - 30 * MIN);
      fail('a.example.com', T0 - 20 * MIN, 'valid');
      fail('b.example.com', T0 - 10 * MIN);
      const r = checkFailures(ledger, 'a.example.com', T0);
      expect(r.ok).toBe(true);
      expect(r.evidence.failedLastHour).toBe(1);
    });

    it('fails at the limit and says when the name is allowed again', () => {
      for (const m of [50, 40, 30, 20, 10]) fail('a.example.com', T0 - m * MIN);
      const r = checkFailures(ledger, 'a.example.com', T0, 5);
      expect(r.ok).toBe(false);
      expect(r.summary).toContain('5 failed validations in the last hour');
      // The oldest of the five leaves the window at T0 - 50 min + 1 h.
      expect(r.evidence.nextAllowedAt).toBe(new Date(T0 + 10 * MIN).toISOString());
      expect(r.advice).toContain('2026-01-20 12:10:00 UTC');
      expect(r.advice).toContain('404');
    });

    it('honours a custom limit and a directory filter', () => {
      fail('a.example.com', T0 - 5 * MIN);
      fail('a.example.com', T0 - 4 * MIN, 'invalid', 'https://other/dir');
      expect(checkFailures(ledger, 'a.example.com', T0, 2).ok).toBe(false);
      expect(checkFailures(ledger, 'a.example.com', T0, 2, 'https://ca.test/dir').ok).toBe(true);
    });
  });

  describe('recordPrechecks / latestPrechecks', () => {
    it('stores results and returns the newest per name and check', () => {
      recordPrechecks(ledger, [
        { name: 'a.example.com', check: 'dns', ok: false, summary: 'SERVFAIL', evidence: { outcome: 'servfail' }, advice: 'fix it' },
        { name: 'a.example.com', check: 'caa', ok: true, summary: 'no CAA', evidence: {} },
      ], T0);
      recordPrechecks(ledger, [{ name: 'a.example.com', check: 'dns', ok: true, summary: 'resolves', evidence: { A: ['1.2.3.4'] } }], T0 + MIN);
      recordPrechecks(ledger, [{ name: 'b.example.com', check: 'dns', ok: true, summary: 'resolves', evidence: {} }], T0);
      const rows = latestPrechecks(ledger, ['a.example.com']);
      expect(rows.map((r) => [r.check, r.ok, r.at])).toEqual([
        ['caa', true, T0],
        ['dns', true, T0 + MIN],
      ]);
      expect(rows[1]!.evidence).toEqual({ A: ['1.2.3.4'] });
      expect(rows[0]!.advice).toBeNull();
      expect(latestPrechecks(ledger, [])).toEqual([]);
    });
  });
});
