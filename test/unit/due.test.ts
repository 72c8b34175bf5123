/** renew/due.ts renewalDue: the one "is it due" rule that renew, plan and the scheduler share. */
import { describe, expect, it } from 'vitest';
import { ariDecides, renewalDue } from '../../src/core/renew/due.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-03-02T10:00:00Z');
// 90-day certificate issued 10 days ago: due (a third left) 60 days after issue.
const cert = { not_before: NOW - 10 * DAY, not_after: NOW + 80 * DAY };

describe('renewalDue', () => {
  it('takes the rules in order: open orders, no certificate, --force-renewal, renewDays, ARI, a third of the lifetime', () => {
    const ariLater = { due: false, at: NOW + DAY, reason: 'ARI later' };
    expect(renewalDue({ openOrders: 2, soonest: cert, ari: ariLater }, NOW)).toMatchObject({ due: true, rule: 'resume', reason: '2 interrupted order(s) to finish' });
    expect(renewalDue({ openOrders: 0, soonest: undefined }, NOW)).toMatchObject({ due: true, rule: 'first', reason: 'no certificate yet' });
    expect(renewalDue({ openOrders: 0, soonest: cert, forceRenewal: true, renewDays: 1 }, NOW)).toMatchObject({ due: true, rule: 'forced' });
    expect(renewalDue({ openOrders: 0, soonest: cert, renewDays: 85, ari: ariLater }, NOW)).toMatchObject({ due: true, rule: 'days', reason: 'fewer than 85 days left', nextAt: null });
    expect(renewalDue({ openOrders: 0, soonest: cert, renewDays: 30, ari: ariLater }, NOW)).toMatchObject({ due: false, rule: 'days', reason: 'more than 30 days left', nextAt: cert.not_after - 30 * DAY });
    expect(renewalDue({ openOrders: 0, soonest: cert, ari: ariLater }, NOW)).toMatchObject({ due: false, rule: 'ari', reason: 'ARI later', nextAt: NOW + DAY });
    const lifetime = renewalDue({ openOrders: 0, soonest: cert }, NOW);
    expect(lifetime).toMatchObject({ due: false, rule: 'lifetime', nextAt: cert.not_after - 30 * DAY });
    expect(lifetime.reason).toBe(`not due before ${new Date(cert.not_after - 30 * DAY).toISOString()}`);
    expect(renewalDue({ openOrders: 0, soonest: cert }, cert.not_after - 30 * DAY)).toMatchObject({ due: true, rule: 'lifetime', reason: 'less than a third of its lifetime left' });
  });

  it('asks ARI only when ARI decides (a certificate, nothing to resume, not forced, no renewDays)', () => {
    expect(ariDecides({ openOrders: 0, soonest: cert })).toBe(true);
    expect(ariDecides({ openOrders: 1, soonest: cert })).toBe(false);
    expect(ariDecides({ openOrders: 0, soonest: undefined })).toBe(false);
    expect(ariDecides({ openOrders: 0, soonest: cert, forceRenewal: true })).toBe(false);
    expect(ariDecides({ openOrders: 0, soonest: cert, renewDays: 30 })).toBe(false);
  });
});

describe('renewalDue: a revoked current certificate', () => {
  const DAY = 86_400_000;
  const cert = { not_before: 0, not_after: 90 * DAY };
  it('is due at once, whatever its dates, and ARI does not decide it', async () => {
    const { renewalDue, ariDecides, revokedAt } = await import('../../src/core/renew/due.js');
    const facts = { openOrders: 0, soonest: cert, revokedAt: revokedAt([{ revoked_at: null }, { revoked_at: 5 * DAY }]) };
    expect(ariDecides(facts)).toBe(false);
    expect(renewalDue({ ...facts, ari: null }, 6 * DAY)).toMatchObject({ due: true, rule: 'revoked', dueAt: 5 * DAY, nextAt: null });
    expect(renewalDue({ openOrders: 0, soonest: cert, revokedAt: revokedAt([{ revoked_at: null }]) }, 6 * DAY)).toMatchObject({ due: false, rule: 'lifetime' });
    // Open orders are still finished first.
    expect(renewalDue({ ...facts, openOrders: 1 }, 6 * DAY).rule).toBe('resume');
  });
});
