import { describe, expect, it } from 'vitest';
import { bucketAllowedAt, bucketFreeTimes, bucketState } from '../../src/core/limits/bucket.js';
import { windowAllowedAt, windowFreeTimes, windowState } from '../../src/core/limits/window.js';
import { applyOverrides, findPolicy, lookbackMs, policyFor, POLICIES, TIME } from '../../src/core/limits/policies.js';
import { classifyProblem, retryAfterInDetail } from '../../src/core/limits/problems.js';
import { headroom } from '../../src/core/limits/headroom.js';
import { dueAt, isDue } from '../../src/core/renew/due.js';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const { SECOND, MINUTE, HOUR, DAY, WEEK } = TIME;

describe('token bucket (GCRA, continuous refill)', () => {
  const REFILL = WEEK / 50; // LE per-domain: 201.6 min
  it.each([
    // spends (offsets from T0), now offset, expected available, next token offset
    { name: 'empty', spends: [], now: 0, available: 50, next: null },
    { name: 'one spend', spends: [0], now: 0, available: 49, next: REFILL },
    { name: 'one second before the token is back', spends: [0], now: REFILL - SECOND, available: 49, next: REFILL },
    { name: 'exactly when the token is back', spends: [0], now: REFILL, available: 50, next: null },
    { name: 'future spends are ignored', spends: [0, 10 * SECOND], now: 5 * SECOND, available: 49, next: REFILL },
  ])('$name', ({ spends, now, available, next }) => {
    const s = bucketState(spends.map((o) => ({ at: T0 + o })), 50, REFILL, T0 + now);
    expect(s.available).toBe(available);
    expect(s.used).toBe(50 - available);
    expect(s.nextTokenAt).toBe(next === null ? null : T0 + next);
  });

  it('a burst of 5 into a 5-token bucket: next token after one interval, full after five', () => {
    const refill = WEEK / 5; // LE duplicate: 33.6 h
    const s = bucketState([0, 1, 2, 3, 4].map((i) => ({ at: T0 + i * MINUTE })), 5, refill, T0 + 10 * MINUTE);
    expect(s.available).toBe(0);
    // The spends queue up behind the first: TAT = T0 + 5 intervals; token 1 is back at TAT - 4 intervals = T0 + 33.6 h.
    expect(s.nextTokenAt).toBe(T0 + refill);
    expect(bucketAllowedAt(s, 1, T0 + 10 * MINUTE)).toBe(T0 + refill);
    expect(bucketAllowedAt(s, 2, T0 + 10 * MINUTE)).toBe(T0 + 2 * refill);
    expect(bucketAllowedAt(s, 6, T0)).toBeNull();
    expect(bucketFreeTimes(s)).toEqual([1, 2, 3, 4, 5].map((k) => T0 + k * refill));
    expect(s.fullAt).toBe(T0 + 5 * refill);
  });

  it('refill boundary to the second: 36 s per new order', () => {
    const spends = Array.from({ length: 300 }, () => ({ at: T0 }));
    const s = bucketState(spends, 300, (3 * HOUR) / 300, T0);
    expect(s.available).toBe(0);
    expect(bucketAllowedAt(s, 1, T0)).toBe(T0 + 36 * SECOND);
    const s2 = bucketState(spends, 300, (3 * HOUR) / 300, T0 + 35 * SECOND);
    expect(s2.available).toBe(0);
    const s3 = bucketState(spends, 300, (3 * HOUR) / 300, T0 + 36 * SECOND);
    expect(s3.available).toBe(1);
  });

  it('spends older than a period have fully refilled', () => {
    const s = bucketState([{ at: T0 - WEEK - SECOND }], 50, WEEK / 50, T0);
    expect(s.available).toBe(50);
  });

  it('overspent facts (more than capacity) push the next token further out', () => {
    const s = bucketState(Array.from({ length: 7 }, () => ({ at: T0 })), 5, HOUR, T0);
    expect(s.available).toBe(0);
    expect(s.nextTokenAt).toBe(T0 + 3 * HOUR); // TAT = T0 + 7 h, token 1 back at TAT - 4 h
  });
});

describe('sliding window', () => {
  it.each([
    { name: 'empty', times: [], now: 0, used: 0, leaves: null, allowed1: 0 },
    { name: 'full; oldest leaves exactly one window later', times: [0, HOUR, 2 * HOUR], now: 3 * HOUR, used: 3, leaves: WEEK, allowed1: WEEK },
    { name: 'one second before it leaves', times: [0, HOUR, 2 * HOUR], now: WEEK - SECOND, used: 3, leaves: WEEK, allowed1: WEEK },
    { name: 'at the moment it leaves', times: [0, HOUR, 2 * HOUR], now: WEEK, used: 2, leaves: WEEK + HOUR, allowed1: WEEK },
  ])('$name', ({ times, now, used, leaves, allowed1 }) => {
    const s = windowState(times.map((t) => T0 + t), 3, WEEK, T0 + now);
    expect(s.used).toBe(used);
    expect(s.oldestLeavesAt).toBe(leaves === null ? null : T0 + leaves);
    expect(windowAllowedAt(s, 1, T0 + now)).toBe(T0 + allowed1);
  });

  it('a cost of 3 waits for three events to leave; more than the count is never', () => {
    const times = [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY].map((t) => T0 + t);
    const s = windowState(times, 10, WEEK, T0 + 5 * DAY);
    expect(windowAllowedAt(s, 5, T0 + 5 * DAY)).toBe(T0 + 5 * DAY);
    expect(windowAllowedAt(s, 8, T0 + 5 * DAY)).toBe(T0 + 2 * DAY + WEEK);
    expect(windowAllowedAt(s, 11, T0 + 5 * DAY)).toBeNull();
    expect(windowFreeTimes(s, 2)).toEqual([T0 + WEEK, T0 + DAY + WEEK]);
  });
});

describe('policies', () => {
  it('every policy has a source and a date, and LE numbers match the published ones', () => {
    for (const p of POLICIES) {
      expect(p.source.length).toBeGreaterThan(10);
      expect(p.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    const le = findPolicy('letsencrypt')!;
    expect(le.limits['certificates-per-domain']).toMatchObject({ kind: 'bucket', capacity: 50, refillMs: 201.6 * MINUTE });
    expect(le.limits['duplicate-certificates']).toMatchObject({ kind: 'bucket', capacity: 5, refillMs: 33.6 * HOUR });
    expect(le.limits['new-orders']).toMatchObject({ capacity: 300, refillMs: 36 * SECOND });
    expect(le.limits['failed-authorizations']).toMatchObject({ capacity: 5, refillMs: 12 * MINUTE });
    expect(le.limits['registrations-per-ip']).toMatchObject({ capacity: 10, refillMs: 18 * MINUTE });
    expect(le.limits['consecutive-failures']).toMatchObject({ capacity: 1152, refillMs: DAY });
    expect(le.renewal).toEqual({ sameSetWithinMs: 120 * DAY, sameSetExempt: ['certificates-per-domain', 'new-orders'], ariExemptAll: true });
    expect(findPolicy('sm2acme')!.limits['certificates-per-domain']).toMatchObject({ kind: 'window', count: 10, windowMs: WEEK });
    expect(findPolicy('sm2acme')!.limits['pending-orders']).toMatchObject({ kind: 'concurrent', count: 10 });
    expect(findPolicy('letsencrypt-2016')!.limits['certificates-per-domain']).toMatchObject({ kind: 'window', count: 5, windowMs: WEEK });
    expect(findPolicy('letsencrypt-staging')!.limits['certificates-per-domain']).toMatchObject({ capacity: 30_000 });
  });

  it('an unknown policy id gets the conservative default', () => {
    expect(policyFor('nope').id).toBe('default');
  });

  it('lookback: a bucket reads two periods, a window one', () => {
    expect(lookbackMs(findPolicy('letsencrypt')!.limits['certificates-per-domain']!)).toBe(2 * WEEK);
    expect(lookbackMs(findPolicy('sm2acme')!.limits['certificates-per-domain']!)).toBe(WEEK);
  });

  it('overrides raise a capacity, keep the refill interval, and record the source', () => {
    const le = findPolicy('letsencrypt')!;
    const raised = applyOverrides(le, { source: 'LE override form 2026-05', limits: { 'certificates-per-domain': { capacity: 300 } } });
    expect(raised.limits['certificates-per-domain']).toMatchObject({ kind: 'bucket', capacity: 300, refillMs: WEEK / 50 });
    expect(raised.source).toContain('LE override form 2026-05');
    expect(le.limits['certificates-per-domain']).toMatchObject({ capacity: 50 }); // the table itself is untouched
    const withPeriod = applyOverrides(le, { limits: { 'certificates-per-domain': { capacity: 300, periodMs: WEEK } } });
    expect(withPeriod.limits['certificates-per-domain']).toMatchObject({ capacity: 300, refillMs: WEEK / 300 });
    const removed = applyOverrides(le, { limits: { 'new-orders': null } });
    expect(removed.limits['new-orders']).toBeUndefined();
    expect(policyFor('letsencrypt', { letsencrypt: { limits: { 'duplicate-certificates': { capacity: 10 } } } }).limits['duplicate-certificates']).toMatchObject({ capacity: 10 });
  });

  it('overrides with bad input are refused', () => {
    const le = findPolicy('letsencrypt')!;
    expect(() => applyOverrides(le, { limits: { 'certificates-per-domain': { capacity: -1 } } })).toThrow(/positive number/);
    expect(() => applyOverrides(le, { limits: { bogus: { capacity: 1 } } as never })).toThrow(/Unknown rate limit/);
    expect(() => applyOverrides(le, { limits: { 'pending-orders': { count: 5 } } })).toThrow(/kind/);
    expect(() => applyOverrides(le, { limits: { 'pending-orders': { kind: 'concurrent', count: 5 } } })).toThrow(/lifetimeMs/);
  });
});

describe('classifyProblem', () => {
  const RL = 'urn:ietf:params:acme:error:rateLimited';
  it.each([
    [RL, 'too many certificates (50) already issued for "example.com" in the last 168h0m0s, retry after 2026-01-01 12:00:00 UTC: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-registered-domain', 'certificates-per-domain', 'example.com'],
    [RL, 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-01-01 12:00:00 UTC', 'duplicate-certificates', null],
    [RL, 'too many new orders (300) from this account in the last 3h0m0s, retry after 2026-01-01 12:00:00 UTC', 'new-orders', null],
    [RL, 'too many failed authorizations (5) for "www.example.com" in the last 1h0m0s, retry after 2026-01-01 12:00:00 UTC', 'failed-authorizations', 'www.example.com'],
    [RL, 'Your account is temporarily prevented from requesting certificates for example.com and possibly others. Please visit: https://portal.letsencrypt.org/sfe/v1/unpause?jwt=x', 'consecutive-failures', 'example.com'],
    [RL, 'Error creating new cert :: too many certificates already issued for exact set of domains: a.example.com,b.example.com', 'duplicate-certificates', null],
    ['urn:acme:error:rateLimited', 'There were too many requests of a given type :: Error creating new cert :: Too many certificates already issued for: example.com', 'certificates-per-domain', 'example.com'],
    ['urn:acme:error:rateLimited', 'There were too many requests of a given type :: Error creating new cert :: Too many certificates already issued for:', 'certificates-per-domain', null],
    [RL, 'too many new orders recently', 'new-orders', null],
    [RL, 'too many failed authorizations recently', 'failed-authorizations', null],
    [RL, 'too many currently pending authorizations', 'pending-authorizations', null],
    [RL, 'too many registrations for this IP', 'registrations-per-ip', null],
    [RL, 'too many new registrations (10) from this IP address in the last 3h0m0s, retry after 2026-01-01 12:00:00 UTC', 'registrations-per-ip', null],
    [RL, 'too many certificates already issued', 'certificates-per-domain', null],
    [RL, 'too many domains in one certificate', 'names-per-certificate', null],
    [RL, 'too many pending validation orders on this account', 'pending-orders', null],
    ['urn:ietf:params:acme:error:malformed', 'JWS verification error', null, null],
    ['urn:ietf:params:acme:error:caa', 'too many certificates already issued (but this is a CAA problem)', null, null],
  ])('%s: %s', (type, detail, limit, subject) => {
    const c = classifyProblem(type, detail);
    expect(c.limit).toBe(limit);
    expect(c.subject).toBe(subject);
  });

  it('reads the retry-after time from the text', () => {
    expect(retryAfterInDetail('..., retry after 2026-01-01 12:00:00 UTC: see ...')).toBe(Date.parse('2026-01-01T12:00:00Z'));
    expect(classifyProblem('urn:ietf:params:acme:error:rateLimited', 'too many new orders recently').retryAfter).toBeNull();
  });
});

describe('headroom', () => {
  it('lists when each slot frees', () => {
    const rule = findPolicy('sm2acme')!.limits['certificates-per-domain']!;
    const h = headroom(rule, [T0, T0 + HOUR], T0 + 2 * HOUR);
    expect(h).toEqual({ used: 2, capacity: 10, available: 8, nextFreeAt: T0 + WEEK, freesAt: [T0 + WEEK, T0 + HOUR + WEEK] });
  });
});

describe('isDue', () => {
  const nb = Date.parse('2026-01-01T00:00:00Z');
  const cert = { not_before: nb, not_after: nb + 90 * DAY };
  it.each([
    [59 * DAY, false],
    [60 * DAY, true],
    [91 * DAY, true],
  ])('90-day certificate at +%i ms: %s', (off, due) => expect(isDue(cert, nb + off)).toBe(due));
  it('short-lived certificates renew at half their lifetime; a days override wins', () => {
    expect(dueAt({ not_before: nb, not_after: nb + 6 * DAY })).toBe(nb + 3 * DAY);
    expect(isDue(cert, nb + 70 * DAY, 10)).toBe(false);
    expect(isDue(cert, nb + 80 * DAY, 10)).toBe(true);
  });
});
