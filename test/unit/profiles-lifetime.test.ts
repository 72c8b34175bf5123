/** Profile lifetimes (Let's Encrypt 2026-2029, the Baseline Requirements' cap) and the renewal schedule they drive. Pure, fixed clocks. */
import { describe, expect, it } from 'vitest';
import { expectedLifetimeMs, policyFor, profileRule, TIME } from '../../src/core/limits/policies.js';
import { dueAt, renewalDue } from '../../src/core/renew/due.js';
import { planRequest, type Snapshot } from '../../src/core/planner/plan.js';

const { HOUR, DAY } = TIME;
const at = (s: string) => Date.parse(`${s}T12:00:00Z`);
const le = policyFor('letsencrypt');

describe('profile lifetimes follow the published dates', () => {
  it.each([
    ['classic', '2026-09-01', 90 * DAY],
    ['classic', '2027-02-09', 90 * DAY],
    ['classic', '2027-02-10', 64 * DAY],
    ['classic', '2028-02-16', 45 * DAY],
    ['tlsserver', '2026-05-12', 90 * DAY],
    ['tlsserver', '2026-05-13', 45 * DAY],
    ['shortlived', '2026-09-01', 160 * HOUR],
    [undefined, '2026-09-01', 90 * DAY], // no profile asked: the CA's default (classic)
  ])('%s on %s', (profile, date, ms) => {
    expect(expectedLifetimeMs(le, profile, at(date))).toBe(ms);
  });
  it('a CA without known profiles: unknown (the certificate itself says when it arrives)', () => {
    expect(expectedLifetimeMs(policyFor('default'), undefined, at('2026-09-01'))).toBeUndefined();
    expect(profileRule(le, 'no-such-profile')).toBeUndefined();
  });
});

describe('the renewal schedule a lifetime drives', () => {
  const cert = (lifetime: number, from = at('2026-09-01')) => ({ not_before: from, not_after: from + lifetime });
  it('without ARI: a third left for 90 and 45 days, half for the 160 h shortlived', () => {
    expect(cert(90 * DAY).not_after - dueAt(cert(90 * DAY))).toBe(30 * DAY);
    expect(cert(45 * DAY).not_after - dueAt(cert(45 * DAY))).toBe(15 * DAY);
    expect(cert(160 * HOUR).not_after - dueAt(cert(160 * HOUR))).toBe(80 * HOUR);
  });
  it('renewDays 30 (written for 90-day certificates) on a 6-day certificate is ignored: no renewal on every run', () => {
    const c = cert(160 * HOUR);
    // One hour after issuance: with renewDays honoured it would already be due (30 days > 6 days).
    const v = renewalDue({ openOrders: 0, soonest: c, renewDays: 30 }, c.not_before + HOUR);
    expect(v).toMatchObject({ due: false, rule: 'lifetime', dueAt: c.not_after - 80 * HOUR });
    expect(v.reason).toMatch(/renewDays 30 ignored: not shorter than this certificate's 6\.67-day lifetime/);
    expect(renewalDue({ openOrders: 0, soonest: c, renewDays: 30 }, c.not_after - 79 * HOUR)).toMatchObject({ due: true, rule: 'lifetime' });
  });
  it('renewDays shorter than the lifetime still decides (30 of 90 days; 30 of 45 days); 45 of 45 does not', () => {
    expect(renewalDue({ openOrders: 0, soonest: cert(90 * DAY), renewDays: 30 }, at('2026-09-01'))).toMatchObject({ rule: 'days', dueAt: cert(90 * DAY).not_after - 30 * DAY });
    expect(renewalDue({ openOrders: 0, soonest: cert(45 * DAY), renewDays: 30 }, at('2026-09-01'))).toMatchObject({ rule: 'days', dueAt: cert(45 * DAY).not_after - 30 * DAY });
    expect(renewalDue({ openOrders: 0, soonest: cert(45 * DAY), renewDays: 45 }, at('2026-09-01'))).toMatchObject({ rule: 'lifetime', dueAt: cert(45 * DAY).not_after - 15 * DAY });
  });
});

describe('the planner under a profile (pure)', () => {
  const empty: Snapshot = { byDomain: {}, bySet: [], lastSameSetAt: null, orders: [], openOrders: [], authz: {}, accountsCreated: [], held: [], problems: [] };
  const names = (n: number) => Array.from({ length: n }, (_, i) => `n${i}.example.com`);
  const plan = (ns: string[], profile?: string, policy = le) =>
    planRequest(empty, policy, { names: ns, caId: 'letsencrypt', directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', policyId: policy.id, accountId: 1, parts: 1, profile }, at('2026-09-01'));
  it('25 fit tlsserver and shortlived, 26 do not (never, as asked); classic and no profile take 100', () => {
    for (const p of ['tlsserver', 'shortlived']) {
      expect(plan(names(25), p).verdict).toBe('allowed');
      const d = plan(names(26), p);
      expect(d.verdict).toBe('blocked');
      expect(d.allowedAt).toBeNull();
      expect(d.limits.find((l) => l.name === 'names-per-certificate')).toMatchObject({ capacity: 25, used: 26, after: -1 });
    }
    expect(plan(names(100), 'classic').verdict).toBe('allowed');
    expect(plan(names(100)).verdict).toBe('allowed');
    expect(plan(names(101)).verdict).toBe('blocked');
  });
  it('IP addresses: only under shortlived; a CA without profiles (Pebble, default policy) is not second-guessed', () => {
    expect(plan(['192.0.2.1']).limits.find((l) => l.name === 'identifier-types')).toMatchObject({ allowedAt: null });
    expect(plan(['192.0.2.1', '2001:db8::1'], 'tlsserver').verdict).toBe('blocked');
    expect(plan(['192.0.2.1', 'example.com'], 'shortlived').verdict).toBe('allowed');
    expect(plan(['192.0.2.1'], undefined, policyFor('default')).limits.some((l) => l.name === 'identifier-types')).toBe(false);
  });
  it('an unknown profile is the CA\'s business: a note, the general limits', () => {
    const d = plan(names(30), 'custom');
    expect(d.verdict).toBe('allowed');
    expect(d.notes.join('\n')).toMatch(/certctl knows no rules for the profile "custom" at this CA \(it knows classic, tlsserver, shortlived\)/);
  });
});
