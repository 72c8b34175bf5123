/**
 * A 429 holds only the requests its limit applies to (issue 17). Every limit Let's Encrypt
 * answers 429 for × a request exempt from it or not × the same account or another, planned
 * on a real SQLite ledger with the 429 recorded as the ACME layer records it (limit_name and
 * scope from acme/session.ts problemScope, Let's Encrypt's detail texts).
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { openTestLedger } from '../helpers/ledgers.js';
import { planFromLedger } from '../../src/core/plan.js';
import type { Decision, PlanRequest } from '../../src/core/planner/plan.js';
import { registeredDomains, setKey } from '../../src/core/names.js';
import { TIME } from '../../src/core/limits/policies.js';
import { problemScope } from '../../src/core/acme/session.js';
import { classifyProblem } from '../../src/core/limits/problems.js';

const { HOUR, DAY } = TIME;
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const T = Date.parse('2026-09-01T10:00:00Z');
const NOW = T + HOUR;
const RETRY = T + 2 * DAY;
const RA = '2026-09-03 10:00:00 UTC';

let dir: string;
let ledger: Ledger;
let serial = 1;

beforeEach(async () => {
  ({ ledger, dir } = await openTestLedger('sqlite', 'certctl-problems-'));
  // www.example.com was issued 30 days ago: renewing it is a renewal by LE's rule (same set within 120 days).
  issue(['www.example.com'], T - 30 * DAY);
});
afterEach(() => {
  ledger.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function issue(names: string[], at: number): void {
  ledger.insertCertificate({
    lineage: null, version: null, order_id: null, bundle_id: null, role: null, source: 'certctl', ca_id: 'letsencrypt', directory_url: LE_DIR,
    issuer: 'CN=Test', serial: String(serial++), names, set_key: setKey(names), key_type: 'ecdsa:p256', not_before: at - HOUR, not_after: at + 90 * DAY,
    issued_at: at, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null, registered_domains: registeredDomains(names), now: at,
  });
}

/** Record a 429 the way acme/session.ts does: classify the text, compute the scope. */
function record429(detail: string, o: { account: number | null; lineage?: string | null; set?: string[]; type?: string }): void {
  const type = o.type ?? 'urn:ietf:params:acme:error:rateLimited';
  const cls = classifyProblem(type, detail);
  ledger.recordProblem({
    at: T, ca_id: 'letsencrypt', directory_url: LE_DIR, account_id: o.account, order_id: null, lineage: o.lineage ?? null, endpoint: 'newOrder', http_status: 429,
    type, detail: `${detail}, retry after ${RA}: see https://letsencrypt.org/docs/rate-limits/`, retry_after: RETRY,
    limit_name: cls.limit, scope: problemScope(cls.limit, cls.subject, o.account, o.set ? setKey(o.set) : undefined),
  });
}

const req = (names: string[], p: Partial<PlanRequest> = {}): PlanRequest => ({ names, caId: 'letsencrypt', directoryUrl: LE_DIR, policyId: 'letsencrypt', accountId: 3, parts: 1, ...p });
/** A renewal of www.example.com (lineage www): the same set as 30 days ago. */
const renewal = (p: Partial<PlanRequest> = {}) => req(['www.example.com'], { renewalOf: 'www', forceRenewal: true, ...p });
/** The same, as an ARI renewal inside its window: exempt from every limit. */
const ariRenewal = (p: Partial<PlanRequest> = {}) => renewal({ replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', ariWindowOpen: true, ...p });
const plan = (r: PlanRequest): Decision => planFromLedger(ledger, r, NOW);

function expectHeld(d: Decision, limit: string): void {
  expect(d.verdict).toBe('blocked');
  expect(d.allowedAt).toBe(RETRY);
  const l = d.limits.find((x) => x.name === limit && x.evidence)!;
  expect(l).toBeDefined();
  expect(l.evidence!.retryAfter).toBe(RETRY);
  expect(d.limits.some((x) => x.name === 'unclassified')).toBe(false);
}

function expectFree(d: Decision): void {
  expect(d.verdict).not.toBe('blocked');
  expect(d.allowedAt).toBe(NOW);
  expect(d.limits.some((x) => x.name === 'unclassified')).toBe(false);
  expect(d.limits.some((x) => x.evidence)).toBe(false);
  // What the user reads: the 429 is mentioned, and why it does not hold this request.
  expect(d.notes.join('\n')).toMatch(/A 429 from this CA .* lasts until 2026-09-03 10:00:00 UTC; (this request is exempt from|it is for)/);
}

describe('certificates-per-domain (global across accounts; a renewal of the same set is exempt)', () => {
  // The story of the issue: a new name was refused, lineage "new", account 3.
  beforeEach(() => record429('too many certificates (50) already issued for "example.com" in the last 168h0m0s', { account: 3, lineage: 'new', set: ['new.example.com'] }));
  it('not exempt (another new name), same account: held until the Retry-After by certificates-per-domain', () => expectHeld(plan(req(['shop.example.com'])), 'certificates-per-domain'));
  it('not exempt, another account: held too (the limit is per registered domain, not per account)', () => expectHeld(plan(req(['shop.example.com'], { accountId: 4 })), 'certificates-per-domain'));
  it('exempt (renewal of a set issued within 120 days), same account: allowed — not an account-wide "unclassified" block', () => {
    const d = plan(renewal());
    expectFree(d);
    expect(d.limits.find((x) => x.name === 'certificates-per-domain')!.exempt).toBe(true);
    expect(d.notes.join('\n')).toMatch(/exempt from certificates-per-domain \(renewal: the same exact set was issued/);
  });
  it('exempt, another account: allowed', () => expectFree(plan(renewal({ accountId: 4 }))));
  it('exempt by ARI, same account: allowed', () => expectFree(plan(ariRenewal())));
  it('another registered domain, same account: allowed', () => expectFree(plan(req(['example.org']))));
  it('the lineage that was refused, asked again: held', () => expectHeld(plan(req(['new.example.com'], { renewalOf: 'new' })), 'certificates-per-domain'));
  it('old text without a subject ("too many certificates already issued for: example.com"): same result', () => {
    ledger.db.prepare('DELETE FROM problems').run();
    record429('Error creating new cert :: too many certificates already issued for: example.com', { account: 3, lineage: 'new' });
    expectHeld(plan(req(['shop.example.com'])), 'certificates-per-domain');
    expectFree(plan(renewal()));
  });
});

describe('duplicate-certificates (global; a plain renewal is NOT exempt, an ARI renewal is)', () => {
  beforeEach(() => record429('too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s', { account: 3, lineage: 'www', set: ['www.example.com'] }));
  it('not exempt (plain renewal), same account: held by duplicate-certificates', () => expectHeld(plan(renewal()), 'duplicate-certificates'));
  it('not exempt, another account: held (the exact set is global)', () => expectHeld(plan(renewal({ accountId: 4 })), 'duplicate-certificates'));
  it('exempt (ARI renewal inside the window), same account: allowed', () => expectFree(plan(ariRenewal())));
  it('exempt, another account: allowed', () => expectFree(plan(ariRenewal({ accountId: 4 }))));
  it('another exact set of the same domain, same account: allowed', () => expectFree(plan(req(['www.example.com', 'example.com']))));
});

describe('new-orders (per account; a renewal of the same set is exempt)', () => {
  beforeEach(() => record429('too many new orders (300) from this account in the last 3h0m0s', { account: 3, lineage: 'new', set: ['new.example.com'] }));
  it('not exempt (a new set), same account: held by new-orders', () => expectHeld(plan(req(['shop.example.com'])), 'new-orders'));
  it('not exempt, another account: allowed (another account\'s bucket)', () => expectFree(plan(req(['shop.example.com'], { accountId: 4 }))));
  it('exempt (renewal), same account: allowed', () => {
    const d = plan(renewal());
    expectFree(d);
    expect(d.notes.join('\n')).toMatch(/exempt from new-orders/);
  });
  it('exempt, another account: allowed', () => expectFree(plan(renewal({ accountId: 4 }))));
  it('exempt by ARI, same account: allowed', () => expectFree(plan(ariRenewal())));
});

describe('failed-authorizations (per identifier per account; only an ARI renewal is exempt)', () => {
  beforeEach(() => record429('too many failed authorizations (5) for "www.example.com" in the last 1h0m0s', { account: 3, lineage: 'www' }));
  it('not exempt (plain renewal), same account: held by failed-authorizations', () => expectHeld(plan(renewal()), 'failed-authorizations'));
  it('not exempt, another account: allowed (another account\'s failures)', () => expectFree(plan(renewal({ accountId: 4 }))));
  it('not exempt, same account, another identifier: allowed', () => expectFree(plan(req(['shop.example.com']))));
  it('exempt (ARI), same account: allowed', () => expectFree(plan(ariRenewal())));
  it('exempt (ARI), another account: allowed', () => expectFree(plan(ariRenewal({ accountId: 4 }))));
});

describe('consecutive-failures (paused: per identifier per account; only an ARI renewal is exempt)', () => {
  beforeEach(() =>
    record429('Your account is temporarily prevented from requesting certificates for www.example.com and possibly others. Please visit: https://portal.letsencrypt.org/sfe/v1/unpause?jwt=x', { account: 3, lineage: 'www' }),
  );
  it('not exempt, same account: held by consecutive-failures', () => expectHeld(plan(renewal()), 'consecutive-failures'));
  it('not exempt, another account: allowed', () => expectFree(plan(renewal({ accountId: 4 }))));
  it('exempt (ARI), same account: allowed', () => expectFree(plan(ariRenewal())));
  it('exempt (ARI), another account: allowed', () => expectFree(plan(ariRenewal({ accountId: 4 }))));
});

describe('registrations-per-ip (this host; only a request that registers an account spends it)', () => {
  beforeEach(() => record429('too many registrations (10) for this IP in the last 3h0m0s', { account: null, lineage: 'www' }));
  it('a request that registers a new account: held by registrations-per-ip', () => expectHeld(plan(renewal({ accountId: null, newAccount: true })), 'registrations-per-ip'));
  it('the same lineage with an account now: allowed (no registration to refuse)', () => expectFree(plan(renewal())));
  it('another lineage with an account (another account): allowed', () => expectFree(plan(req(['shop.example.com'], { accountId: 4 }))));
  it('ARI renewal, account exists: allowed', () => expectFree(plan(ariRenewal())));
});

describe('a 429 for a limit Let\'s Encrypt\'s policy does not model, or that certctl cannot name: held when it concerns this request', () => {
  it('"too many currently pending authorizations" (gone at LE, not modelled): the same account is held, even a renewal', () => {
    record429('too many currently pending authorizations', { account: 3, lineage: 'new' });
    for (const d of [plan(req(['shop.example.com'])), plan(renewal()), plan(ariRenewal())]) {
      expect(d.verdict).toBe('blocked');
      expect(d.allowedAt).toBe(RETRY);
      expect(d.limits.find((x) => x.name === 'unclassified')!.reason).toMatch(/pending-authorizations.*a limit this CA's policy does not model/);
    }
    expectFree(plan(req(['shop.example.com'], { accountId: 4 })));
  });
  it('an unrecognised text: held for the same account, not for another', () => {
    record429('slow down, please', { account: 3, lineage: 'new' });
    const d = plan(renewal());
    expect(d.verdict).toBe('blocked');
    expect(d.limits.find((x) => x.name === 'unclassified')!.reason).toMatch(/does not recognise/);
    expectFree(plan(renewal({ accountId: 4 })));
  });
  it('after the Retry-After nothing holds', () => {
    record429('too many certificates (50) already issued for "example.com" in the last 168h0m0s', { account: 3, lineage: 'new' });
    const d = planFromLedger(ledger, req(['shop.example.com']), RETRY);
    expect(d.verdict).toBe('allowed');
    expect(d.notes.join('\n')).not.toMatch(/A 429/);
  });
});
