/** The planner as a pure function: hand-built snapshots, a fixed clock, every policy and limit. */
import { describe, expect, it } from 'vitest';
import { planRequest, type IssuedFact, type PlanRequest, type Snapshot } from '../../src/core/planner/plan.js';
import { findPolicy, TIME } from '../../src/core/limits/policies.js';
import { setKey } from '../../src/core/names.js';

const { SECOND, MINUTE, HOUR, DAY, WEEK } = TIME;
const NOW = Date.parse('2026-03-02T10:00:00Z');
const LE = findPolicy('letsencrypt')!;
const SM2 = findPolicy('sm2acme')!;
const DEFAULT = findPolicy('default')!;

function snap(p: Partial<Snapshot> = {}): Snapshot {
  return { byDomain: {}, bySet: [], lastSameSetAt: null, orders: [], openOrders: [], authz: {}, accountsCreated: [], held: [], problems: [], ...p };
}
function req(names: string[], p: Partial<PlanRequest> = {}): PlanRequest {
  return { names, caId: 'letsencrypt', directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', policyId: 'letsencrypt', accountId: 1, parts: 1, ...p };
}
const cert = (at: number, names: string[], prevSameSetAt: number | null = null, ari = false): IssuedFact => ({ at, setKey: setKey(names), prevSameSetAt, ari });
const limit = (d: ReturnType<typeof planRequest>, name: string, scope?: string) => d.limits.find((l) => l.name === name && (scope === undefined || l.scope === scope))!;

describe('certificates per registered domain (LE bucket, 50 / 7 d)', () => {
  const names = ['new.example.com'];
  const full = Array.from({ length: 50 }, (_, i) => cert(NOW - HOUR + i * SECOND, [`h${i}.example.com`]));
  it('empty ledger: allowed, 1 of 50 spent', () => {
    const d = planRequest(snap(), LE, req(names), NOW);
    expect(d.verdict).toBe('allowed');
    expect(d.allowedAt).toBe(NOW);
    expect(limit(d, 'certificates-per-domain')).toMatchObject({ scope: 'example.com', used: 0, capacity: 50, spend: 1, after: 49, allowedAt: NOW });
  });
  it('49 used: the last slot (warn)', () => {
    const d = planRequest(snap({ byDomain: { 'example.com': full.slice(0, 49) } }), LE, req(names), NOW);
    expect(d.verdict).toBe('last-slot');
    expect(limit(d, 'certificates-per-domain')).toMatchObject({ used: 49, after: 0 });
    expect(d.notes.join('\n')).toMatch(/last slot for example.com/);
  });
  it('50 used: blocked until the first token is back, to the second', () => {
    const d = planRequest(snap({ byDomain: { 'example.com': full } }), LE, req(names), NOW);
    expect(d.verdict).toBe('blocked');
    // 50 spends queue up from NOW - 1 h: TAT = NOW - 1 h + 50 × 201.6 min; one token back 49 intervals earlier.
    const expected = NOW - HOUR + WEEK / 50;
    expect(d.allowedAt).toBe(expected);
    expect(limit(d, 'certificates-per-domain')).toMatchObject({ used: 50, after: -1, nextFreeAt: expected, allowedAt: expected });
    expect(planRequest(snap({ byDomain: { 'example.com': full } }), LE, req(names), expected - SECOND).verdict).toBe('blocked');
    expect(planRequest(snap({ byDomain: { 'example.com': full } }), LE, req(names), expected).verdict).toBe('last-slot');
  });
  it('names under two registered domains spend one slot of each', () => {
    const d = planRequest(snap(), LE, req(['a.example.com', 'b.example.org']), NOW);
    expect(d.limits.filter((l) => l.name === 'certificates-per-domain').map((l) => l.scope)).toEqual(['example.com', 'example.org']);
  });
});

describe('renewal exemptions', () => {
  const names = ['example.com', 'www.example.com'];
  const fullDomain = Array.from({ length: 50 }, (_, i) => cert(NOW - HOUR + i * SECOND, [`h${i}.example.com`]));
  it('LE: same exact set issued within 120 days is exempt from per-domain and new-orders, not from duplicates', () => {
    const last = NOW - 119 * DAY;
    const d = planRequest(snap({ byDomain: { 'example.com': fullDomain }, lastSameSetAt: last, orders: Array.from({ length: 300 }, () => ({ at: NOW - MINUTE, setKey: 'x', prevSameSetAt: null, ari: false })) }), LE, req(names), NOW);
    expect(d.renewal).toEqual({ sameSet: true, ari: false });
    expect(limit(d, 'certificates-per-domain')).toMatchObject({ exempt: true, spend: 0 });
    expect(limit(d, 'new-orders')).toMatchObject({ exempt: true, spend: 0 });
    expect(limit(d, 'duplicate-certificates').exempt).toBeUndefined();
    expect(d.verdict).toBe('allowed');
  });
  it('LE: 121 days ago is no longer a renewal', () => {
    const d = planRequest(snap({ byDomain: { 'example.com': fullDomain }, lastSameSetAt: NOW - 121 * DAY }), LE, req(names), NOW);
    expect(d.renewal.sameSet).toBe(false);
    expect(d.verdict).toBe('blocked');
  });
  it('LE: past renewals did not spend the per-domain bucket', () => {
    const renewals = Array.from({ length: 50 }, (_, i) => cert(NOW - HOUR + i * SECOND, [`h${i}.example.com`], NOW - 60 * DAY));
    const d = planRequest(snap({ byDomain: { 'example.com': renewals } }), LE, req(['new.example.com']), NOW);
    expect(limit(d, 'certificates-per-domain').used).toBe(0);
  });
  it('LE: ARI replaces inside the window is exempt from every limit; outside the window it is not', () => {
    const dup = Array.from({ length: 5 }, (_, i) => cert(NOW - HOUR + i, names));
    const s = snap({ byDomain: { 'example.com': fullDomain }, bySet: dup, lastSameSetAt: NOW - HOUR });
    const inside = planRequest(s, LE, req(names, { replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', ariWindowOpen: true }), NOW);
    expect(inside.verdict).toBe('allowed');
    expect(inside.limits.filter((l) => l.name !== 'names-per-certificate').every((l) => l.exempt)).toBe(true);
    const outside = planRequest(s, LE, req(names, { replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE', ariWindowOpen: false }), NOW);
    expect(outside.verdict).toBe('blocked');
    expect(outside.notes.join('\n')).toMatch(/ARI window is not open/);
  });
  it('SM2 ACME: same set is exempt from per-domain only; the default policy has no exemptions', () => {
    const sm = planRequest(snap({ lastSameSetAt: NOW - DAY }), SM2, req(names, { policyId: 'sm2acme' }), NOW);
    expect(limit(sm, 'certificates-per-domain').exempt).toBe(true);
    expect(limit(sm, 'new-orders').exempt).toBeUndefined();
    const df = planRequest(snap({ lastSameSetAt: NOW - DAY }), DEFAULT, req(names, { policyId: 'default' }), NOW);
    expect(df.limits.some((l) => l.exempt)).toBe(false);
  });
});

describe('exact set (duplicates) and the dual-key case', () => {
  const names = ['example.com', 'www.example.com'];
  const four = [0, 1, 2, 3].map((i) => cert(NOW - 2 * HOUR + i * MINUTE, names));
  it('dual = 2 certificates: with 4 of 5 used it does not fit; a single key does (last slot)', () => {
    const s = snap({ bySet: four, lastSameSetAt: NOW - 2 * HOUR + 3 * MINUTE });
    const single = planRequest(s, LE, req(names), NOW);
    expect(single.verdict).toBe('last-slot');
    const dual = planRequest(s, LE, req(names, { parts: 2 }), NOW);
    expect(dual.verdict).toBe('blocked');
    expect(limit(dual, 'duplicate-certificates')).toMatchObject({ used: 4, spend: 2, after: -1 });
    // TAT = NOW - 2 h + 4 × 33.6 h; 2 tokens at once when TAT - 3 intervals ≤ t.
    expect(dual.allowedAt).toBe(NOW - 2 * HOUR + (WEEK / 5) * 1);
    expect(dual.notes.join('\n')).toMatch(/produces 2 certificates/);
  });
  it('set keys are case- and order-insensitive', () => {
    const s = snap({ bySet: four });
    const d = planRequest(s, LE, req(['WWW.example.com', 'example.com']), NOW);
    expect(limit(d, 'duplicate-certificates').scope).toBe('example.com,www.example.com');
  });
  it('a valid held certificate makes the verdict duplicate, unless forced or a renewal', () => {
    const held = [{ lineage: 'example.com', notBefore: NOW - DAY, notAfter: NOW + 89 * DAY, keyType: 'ecdsa:p256' }];
    expect(planRequest(snap({ held }), LE, req(names), NOW).verdict).toBe('duplicate');
    expect(planRequest(snap({ held }), LE, req(names, { forceRenewal: true }), NOW).verdict).toBe('allowed');
    expect(planRequest(snap({ held }), LE, req(names, { renewalOf: 'example.com' }), NOW).verdict).toBe('allowed');
    const expired = [{ ...held[0]!, notAfter: NOW - 1 }];
    expect(planRequest(snap({ held: expired }), LE, req(names), NOW).verdict).toBe('allowed');
  });
});

describe('account limits', () => {
  it('new orders: 300 in the bucket → next order 36 s after the first', () => {
    const orders = Array.from({ length: 300 }, () => ({ at: NOW - 10 * SECOND, setKey: 'x', prevSameSetAt: null, ari: false }));
    const d = planRequest(snap({ orders }), LE, req(['a.example.com']), NOW);
    expect(d.verdict).toBe('blocked');
    expect(limit(d, 'new-orders')).toMatchObject({ scope: 'account 1', used: 300, allowedAt: NOW - 10 * SECOND + 36 * SECOND });
  });
  it('a request without an account has no order history', () => {
    const orders = Array.from({ length: 300 }, () => ({ at: NOW - 10 * SECOND, setKey: 'x', prevSameSetAt: null, ari: false }));
    const d = planRequest(snap({ orders }), LE, req(['a.example.com'], { accountId: null, newAccount: true }), NOW);
    expect(limit(d, 'new-orders')).toMatchObject({ scope: 'new account', used: 0 });
    expect(limit(d, 'registrations-per-ip')).toMatchObject({ used: 0, spend: 1 });
  });
  it('failed authorizations: 5 in the hour → new-order refused until the first comes back (12 min)', () => {
    const failures = [0, 1, 2, 3, 4].map((i) => NOW - 30 * MINUTE + i * MINUTE);
    const d = planRequest(snap({ authz: { 'www.example.com': { failures, lastSuccessAt: null } } }), LE, req(['*.example.com', 'www.example.com']), NOW);
    const l = limit(d, 'failed-authorizations', 'www.example.com (account 1)');
    // 5 failures from 30 min ago: TAT = NOW + 30 min, so 2 of 5 are back already.
    expect(l).toMatchObject({ used: 3, spend: 0, allowedAt: NOW });
    expect(d.verdict).toBe('allowed');
    const d2 = planRequest(snap({ authz: { 'www.example.com': { failures: failures.map((t) => t + 25 * MINUTE), lastSuccessAt: null } } }), LE, req(['www.example.com']), NOW);
    expect(d2.verdict).toBe('blocked');
    expect(d2.allowedAt).toBe(NOW - 5 * MINUTE + 12 * MINUTE);
    // the wildcard is validated as its base name
    expect(d.limits.filter((x) => x.name === 'failed-authorizations').map((x) => x.scope)).toEqual(['example.com (account 1)', 'www.example.com (account 1)']);
  });
  it('consecutive failures: 1,152 since the last success pause the identifier (only the portal lifts it)', () => {
    const failures = Array.from({ length: 1152 }, (_, i) => NOW - 1152 * MINUTE + i * MINUTE);
    const paused = planRequest(snap({ authz: { 'example.com': { failures, lastSuccessAt: null } } }), LE, req(['example.com']), NOW);
    expect(paused.verdict).toBe('blocked');
    expect(paused.allowedAt).toBeNull();
    expect(limit(paused, 'consecutive-failures').reason).toMatch(/unpause portal/);
    const reset = planRequest(snap({ authz: { 'example.com': { failures, lastSuccessAt: NOW - 90 * SECOND } } }), LE, req(['example.com']), NOW);
    expect(limit(reset, 'consecutive-failures')).toMatchObject({ used: 1, allowedAt: NOW });
    // still refused for now by the hourly failed-authorizations bucket, but not paused
    expect(reset.allowedAt).toBe(limit(reset, 'failed-authorizations').allowedAt);
    expect(reset.allowedAt).not.toBeNull();
  });
  it('SM2 ACME pending orders: 10 open → blocked until the oldest expires; a bundle needs 3 free', () => {
    const open = Array.from({ length: 8 }, (_, i) => NOW - DAY + i * HOUR);
    const d = planRequest(snap({ openOrders: open }), SM2, req(['a.example.cn'], { policyId: 'sm2acme', parts: 3 }), NOW);
    expect(limit(d, 'pending-orders')).toMatchObject({ used: 8, spend: 3, after: -1 });
    expect(d.allowedAt).toBe(NOW - DAY + 7 * DAY);
  });
  it('names per certificate: 21 names at SM2 ACME can never be issued as one certificate', () => {
    const names = Array.from({ length: 21 }, (_, i) => `n${i}.example.cn`);
    const d = planRequest(snap(), SM2, req(names, { policyId: 'sm2acme' }), NOW);
    expect(d.verdict).toBe('blocked');
    expect(d.allowedAt).toBeNull();
    expect(limit(d, 'names-per-certificate').reason).toMatch(/at most 20/);
  });
  it('registrations per IP only count when a new account would be made (SM2: 10 per 8 h window)', () => {
    const accountsCreated = Array.from({ length: 10 }, (_, i) => NOW - 7 * HOUR + i * MINUTE);
    const d = planRequest(snap({ accountsCreated }), SM2, req(['a.example.cn'], { policyId: 'sm2acme', accountId: null, newAccount: true }), NOW);
    expect(d.verdict).toBe('blocked');
    expect(d.allowedAt).toBe(NOW - 7 * HOUR + 8 * HOUR);
    expect(planRequest(snap({ accountsCreated }), SM2, req(['a.example.cn'], { policyId: 'sm2acme' }), NOW).limits.some((l) => l.name === 'registrations-per-ip')).toBe(false);
  });
});

describe('recorded 429s beat the model', () => {
  const base = { id: 9, at: NOW - HOUR, type: 'urn:ietf:params:acme:error:rateLimited', accountId: 1, lineage: null, limitName: null, scope: null };
  it('a per-domain 429 (classified from its text) holds the limit shut until Retry-After', () => {
    const problems = [{ ...base, detail: 'too many certificates (50) already issued for "example.com" in the last 168h0m0s', retryAfter: NOW + 3 * DAY + 4 * HOUR }];
    const d = planRequest(snap({ problems }), LE, req(['www.example.com']), NOW);
    expect(d.verdict).toBe('blocked');
    expect(d.allowedAt).toBe(NOW + 3 * DAY + 4 * HOUR);
    expect(limit(d, 'certificates-per-domain').evidence?.problemId).toBe(9);
    // another registered domain is not affected
    expect(planRequest(snap({ problems }), LE, req(['www.example.org']), NOW).verdict).toBe('allowed');
  });
  it('a stored limit_name + scope is used as is; an expired Retry-After is ignored', () => {
    const problems = [{ ...base, detail: null, limitName: 'duplicate-certificates', scope: 'example.com,www.example.com', retryAfter: NOW + HOUR }];
    expect(planRequest(snap({ problems }), LE, req(['www.example.com', 'example.com']), NOW).allowedAt).toBe(NOW + HOUR);
    expect(planRequest(snap({ problems }), LE, req(['www.example.com', 'example.com']), NOW + HOUR).verdict).toBe('allowed');
  });
  it('an unclassifiable 429 for this account blocks until Retry-After', () => {
    const problems = [{ ...base, detail: 'slow down', retryAfter: NOW + 10 * MINUTE }];
    const d = planRequest(snap({ problems }), LE, req(['a.example.com']), NOW);
    expect(d.verdict).toBe('blocked');
    expect(limit(d, 'unclassified').allowedAt).toBe(NOW + 10 * MINUTE);
  });
});

describe('public suffixes and IDN', () => {
  it.each([
    [['a.b.co.uk'], 'b.co.uk'],
    [['foo.github.io'], 'foo.github.io'],
    [['www.xn--bcher-kva.de'], 'xn--bcher-kva.de'],
    [['192.0.2.7'], '192.0.2.7'],
    [['2001:db8:1:2:3::7'], '2001:db8:1:2::/64'],
  ])('%j counts against %s', (names, domain) => {
    const d = planRequest(snap(), LE, req(names), NOW);
    expect(d.limits.filter((l) => l.name === 'certificates-per-domain').map((l) => l.scope)).toEqual([domain]);
  });
  it('two github.io sites do not share a bucket, two co.uk names under one domain do', () => {
    const full = Array.from({ length: 50 }, (_, i) => cert(NOW - HOUR + i, [`h${i}.foo.github.io`]));
    expect(planRequest(snap({ byDomain: { 'foo.github.io': full } }), LE, req(['bar.github.io']), NOW).verdict).toBe('allowed');
    expect(planRequest(snap({ byDomain: { 'foo.github.io': full } }), LE, req(['www.foo.github.io']), NOW).verdict).toBe('blocked');
  });
});
