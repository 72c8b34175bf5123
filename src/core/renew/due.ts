/**
 * When a certificate is due for renewal, without ARI: when less than one
 * third of its lifetime is left (half for lifetimes of 10 days or less),
 * as certbot 4.x, lego --dynamic and CertMagic do. A user's `renewDays`
 * (renew when fewer than N days are left) replaces the ratio. Pure.
 */

const DAY = 86_400_000;
/** Lifetimes this short (LE shortlived: 160 h) renew at half, so one failed run still leaves time. */
const SHORT_LIFETIME = 10 * DAY;

/** The moment a certificate becomes due. */
export function dueAt(cert: { not_before: number; not_after: number }, overrideDays?: number): number {
  if (overrideDays !== undefined && overrideDays > 0) return cert.not_after - overrideDays * DAY;
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
