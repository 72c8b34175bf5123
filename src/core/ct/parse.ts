/**
 * From crt.sh rows to the facts the rate limits need: one entry per
 * certificate (a precertificate and its final certificate share serial and
 * issuer and are one issuance), its names, issuer, serial, validity and the
 * moment the CA spent the capacity.
 *
 * The spend moment (issued_at): the earliest CT entry timestamp of the pair —
 * the precertificate is logged seconds before the certificate is returned, so
 * that is within seconds of finalize. Without any entry timestamp: notBefore
 * + 1 h, because Boulder (Let's Encrypt) backdates notBefore by one hour
 * (rate-limits.md); never later than `now`.
 */
import { registeredDomains, setKey } from '../names.js';

import type { CrtShRow } from './crtsh.js';
import { issuerKey, ledgerIssuer, splitDn } from '../dn.js';
import type { CtCertificate } from '../ledger/ct.js';

// The DN spellings and the certificate shape the ledger records, where they have always been imported from.
export { splitDn, issuerKey, ledgerIssuer } from '../dn.js';
export type { CtCertificate } from '../ledger/ct.js';

export const BOULDER_BACKDATE_MS = 3_600_000;


export interface ParseReport {
  certificates: CtCertificate[];
  /** Rows that could not be read (no serial, no issuer, bad dates, no names). */
  skipped: number;
}

/** Parse crt.sh's UTC timestamps ("2024-05-01T12:00:00", "2024-05-01T12:00:00.123", sometimes with a space). */
export function parseCtTime(s: string | null | undefined): number | null {
  if (!s) return null;
  const t = s.trim().replace(' ', 'T');
  const withZone = /(Z|[+-]\d\d:?\d\d)$/.test(t) ? t : t + 'Z';
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? null : ms;
}

/** Lower-case hex without colons or leading zeros: the spelling certFacts uses. */
export function normalizeSerial(s: string): string {
  return s.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+(?=.)/, '');
}

function namesOf(r: CrtShRow): string[] {
  const raw = r.name_value && r.name_value.trim() ? r.name_value : (r.common_name ?? '');
  return raw
    .split(/\r?\n/)
    .map((n) => n.trim().toLowerCase().replace(/\.$/, ''))
    .filter((n) => n.length > 0 && !n.includes(' ') && !n.includes('@'));
}

/** Collapse crt.sh rows into certificates (precertificate + certificate = one). */
export function collapseRows(rows: readonly CrtShRow[], now: number): ParseReport {
  const byKey = new Map<string, { issuer: string; issuerKey: string; serial: string; names: Set<string>; notBefore: number; notAfter: number; entry: number | null; ids: number[]; caId: number | null }>();
  let skipped = 0;
  for (const r of rows) {
    if (!r || typeof r !== 'object') {
      skipped++;
      continue;
    }
    const serial = r.serial_number ? normalizeSerial(String(r.serial_number)) : '';
    const issuerName = typeof r.issuer_name === 'string' ? r.issuer_name : '';
    const nb = parseCtTime(r.not_before);
    const na = parseCtTime(r.not_after);
    const names = namesOf(r);
    if (!serial || !issuerName.trim() || nb === null || na === null || names.length === 0) {
      skipped++;
      continue;
    }
    const ik = issuerKey(issuerName);
    const key = `${ik}\u0000${serial}`;
    const entry = parseCtTime(r.entry_timestamp);
    const cur = byKey.get(key);
    if (cur) {
      for (const n of names) cur.names.add(n);
      if (entry !== null && (cur.entry === null || entry < cur.entry)) cur.entry = entry;
      if (typeof r.id === 'number') cur.ids.push(r.id);
    } else {
      byKey.set(key, {
        issuer: ledgerIssuer(issuerName),
        issuerKey: ik,
        serial,
        names: new Set(names),
        notBefore: nb,
        notAfter: na,
        entry,
        ids: typeof r.id === 'number' ? [r.id] : [],
        caId: typeof r.issuer_ca_id === 'number' ? r.issuer_ca_id : null,
      });
    }
  }
  const certificates: CtCertificate[] = [];
  for (const c of byKey.values()) {
    const names = [...c.names].sort();
    const issuedAt = c.entry ?? Math.min(c.notBefore + BOULDER_BACKDATE_MS, now);
    certificates.push({
      issuer: c.issuer,
      issuerKey: c.issuerKey,
      serial: c.serial,
      names,
      setKey: setKey(names),
      registeredDomains: registeredDomains(names),
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      issuedAt,
      fromEntryTimestamp: c.entry !== null,
      crtshIds: c.ids.sort((a, b) => a - b),
      issuerCaId: c.caId,
    });
  }
  certificates.sort((a, b) => a.issuedAt - b.issuedAt || a.serial.localeCompare(b.serial));
  return { certificates, skipped };
}

/**
 * The CA (certctl's registry id) of a CT issuer, for the planner's per-CA
 * counting. Let's Encrypt's issuers all carry O=Let's Encrypt; its staging
 * issuers say "(STAGING)". Others: null (shown by `certctl limits`, not
 * counted against a known CA's policy).
 */
export function caIdForIssuer(issuer: string): string | null {
  const attrs = new Map(splitDn(issuer).map(([t, v]) => [t.toUpperCase(), v.toLowerCase()]));
  const o = attrs.get('O') ?? attrs.get('ORGANIZATIONNAME') ?? '';
  if (o.includes("let's encrypt")) return o.includes('staging') ? 'letsencrypt-staging' : 'letsencrypt';
  return null;
}
