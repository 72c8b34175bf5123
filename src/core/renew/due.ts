/**
 * When a certificate is due for renewal, without ARI: when less than one
 * third of its lifetime is left (half for lifetimes of 10 days or less),
 * as certbot 4.x, lego --dynamic and CertMagic do. A user's `renewDays`
 * (renew when fewer than N days are left) replaces the ratio. Pure.
 */
import { isoTime } from '../clock.js';

const DAY = 86_400_000;
/** Lifetimes this short (LE shortlived: 160 h) renew at half, so one failed run still leaves time. */
const SHORT_LIFETIME = 10 * DAY;

/**
 * renewDays counts only while it is shorter than the certificate's lifetime. The profile decides
 * the lifetime (Let's Encrypt: classic 90 days, 64 from 2027-02-10, 45 from 2028-02-16;
 * tlsserver 45; shortlived 160 h): a `renewDays: 30` written for 90-day certificates would make a
 * 6-day certificate due the moment it is issued, and every run would order it again until the
 * duplicate limit (5 a week) refuses and the site's certificate expires. At or beyond the
 * lifetime, the lifetime rule (and the CA's ARI window) decides instead.
 */
export function renewDaysFits(cert: { not_before: number; not_after: number }, days: number): boolean {
  return days * DAY < cert.not_after - cert.not_before;
}

/** The moment a certificate becomes due. */
export function dueAt(cert: { not_before: number; not_after: number }, overrideDays?: number): number {
  if (overrideDays !== undefined && overrideDays > 0 && renewDaysFits(cert, overrideDays)) return cert.not_after - overrideDays * DAY;
  const lifetime = cert.not_after - cert.not_before;
  const ratio = lifetime <= SHORT_LIFETIME ? 1 / 2 : 1 / 3;
  return cert.not_after - Math.round(lifetime * ratio);
}

/** True when the certificate should be renewed at `now` (expired certificates are due). */
export function isDue(cert: { not_before: number; not_after: number }, now: number, overrideDays?: number): boolean {
  return now >= dueAt(cert, overrideDays);
}

/** The certificate of a set that expires first: a lineage's renewal and status follow it (dual and SM2 lineages hold several). */
export function soonestExpiring<T extends { not_after: number }>(certs: readonly T[]): T | undefined {
  return certs.reduce<T | undefined>((a, c) => (!a || c.not_after < a.not_after ? c : a), undefined);
}

/** What the ledger (and, for renew, the CA's ARI answer) says about one lineage. */
export interface DueFacts {
  /** Interrupted orders of the lineage (finished first, whatever else is true). */
  openOrders: number;
  /** Its certificate that expires first (soonestExpiring); undefined: none yet. */
  soonest: { not_before: number; not_after: number } | undefined;
  /** When a current certificate was revoked (certctl revoke; the earliest if several): due at once. */
  revokedAt?: number | null;
  /** --force-renewal. */
  forceRenewal?: boolean;
  /** Renew when fewer than this many days are left (--days, or the lineage's renewDays): replaces ARI and the lifetime rule. */
  renewDays?: number;
  /** The CA's ARI window as decided from the ledger's row (renew/ari.ts ariDecision); used only when `ariDecides`. */
  ari?: { due: boolean; at: number | null; reason: string } | null;
}

export interface DueVerdict {
  due: boolean;
  /** resume: open orders; first: no certificate yet; revoked: a current certificate was revoked; forced; days: renewDays; ari: the CA's window; lifetime: the third-of-lifetime rule. */
  rule: 'resume' | 'first' | 'revoked' | 'forced' | 'days' | 'ari' | 'lifetime';
  reason: string;
  /** The moment the rule makes it due, past or future (the ARI moment, the renewDays or lifetime date; the revocation); null for resume/first/forced. */
  dueAt: number | null;
  /** When it becomes due if it is not due yet; null when due now. */
  nextAt: number | null;
}

/** Whether the CA's ARI window decides for this lineage (so renew asks or reads ARI only then): a certificate, nothing to resume, not forced, no renewDays. */
export function ariDecides(f: Omit<DueFacts, 'ari'>): boolean {
  return f.openOrders === 0 && f.soonest !== undefined && !f.revokedAt && !f.forceRenewal && (f.renewDays === undefined || !renewDaysFits(f.soonest, f.renewDays));
}

/**
 * Is this lineage due for renewal — the one rule, used by `renew`, `plan`
 * and the scheduler: open orders are finished first, a lineage without a
 * certificate gets one, --force-renewal is due, renewDays replaces ARI and
 * the lifetime rule, the CA's ARI moment decides when known, else a third
 * of the lifetime left. Pure.
 */
export function renewalDue(f: DueFacts, now: number): DueVerdict {
  if (f.openOrders > 0) return { due: true, rule: 'resume', reason: `${f.openOrders} interrupted order(s) to finish`, dueAt: null, nextAt: null };
  const cert = f.soonest;
  if (!cert) return { due: true, rule: 'first', reason: 'no certificate yet', dueAt: null, nextAt: null };
  // A revoked certificate is refused by clients that check (OCSP, CRLs): replace it now, whatever its dates.
  if (f.revokedAt) return { due: true, rule: 'revoked', reason: `its certificate was revoked on ${new Date(f.revokedAt).toISOString()}`, dueAt: f.revokedAt, nextAt: null };
  if (f.forceRenewal) return { due: true, rule: 'forced', reason: '--force-renewal', dueAt: null, nextAt: null };
  const days = f.renewDays;
  const ignored = days !== undefined && !renewDaysFits(cert, days) ? ` (renewDays ${days} ignored: not shorter than this certificate's ${Number(((cert.not_after - cert.not_before) / DAY).toFixed(2))}-day lifetime)` : '';
  if (days !== undefined && !ignored) {
    const at = dueAt(cert, days);
    const due = isDue(cert, now, days);
    return { due, rule: 'days', reason: due ? `fewer than ${days} days left` : `more than ${days} days left`, dueAt: at, nextAt: due ? null : at };
  }
  if (f.ari) {
    const at = f.ari.at ?? dueAt(cert);
    return { due: f.ari.due, rule: 'ari', reason: f.ari.reason + ignored, dueAt: at, nextAt: f.ari.due ? null : at };
  }
  const at = dueAt(cert);
  const due = now >= at;
  const part = cert.not_after - cert.not_before <= SHORT_LIFETIME ? 'half' : 'a third';
  return { due, rule: 'lifetime', reason: (due ? `less than ${part} of its lifetime left` : `not due before ${isoTime(at)}`) + ignored, dueAt: at, nextAt: due ? null : at };
}

/** The earliest revocation among a lineage's current certificates (DueFacts.revokedAt), null when none is revoked. */
export function revokedAt(certs: readonly { revoked_at?: number | null }[]): number | null {
  let at: number | null = null;
  for (const c of certs) if (c.revoked_at && (at === null || c.revoked_at < at)) at = c.revoked_at;
  return at;
}
