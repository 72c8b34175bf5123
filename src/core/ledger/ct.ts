/**
 * The ledger side of Certificate Transparency sync: certificates seen in CT
 * (source 'ct', seen_in_ct = 1), matched against certificates the ledger
 * already holds so nothing is counted twice, and one ct_sync row per
 * registered domain saying how fresh and how complete the last sync was.
 *
 * Matching a CT certificate with a ledger row: (1) same serial and same
 * issuer as an order-insensitive attribute set (crt.sh and node:crypto spell
 * DNs differently); (2) if no issuer matches, same serial and the same
 * registered domain, when exactly one such row exists (serials are random
 * 64+ bits at every public CA, so this is the same certificate with an
 * issuer spelled beyond recognition). Look-ups go through certificate_domains
 * (registered_domain, issued_at), bounded by the CT certificates' own dates.
 */
import type { Ledger } from './ledger.js';
import { issuerKey } from '../dn.js';

/** One certificate read from CT (ct/parse.ts collapseRows), as the ledger records it. */
export interface CtCertificate {
  /** Issuer as the ledger writes it (Node's X509Certificate style: "C=US, O=…, CN=…"). */
  issuer: string;
  /** Order-insensitive attribute set, for matching against certificates read from files. */
  issuerKey: string;
  serial: string;
  names: string[];
  setKey: string;
  registeredDomains: string[];
  notBefore: number;
  notAfter: number;
  issuedAt: number;
  /** The spend moment came from a CT entry timestamp (else notBefore + 1 h). */
  fromEntryTimestamp: boolean;
  /** crt.sh ids of the rows folded into this certificate. */
  crtshIds: number[];
  issuerCaId: number | null;
}

const DAY = 86_400_000;

export interface CtSyncRow {
  registered_domain: string;
  synced_at: number;
  complete: number;
  rows: number;
  error: string | null;
}

export function ctSyncRow(ledger: Ledger, domain: string): CtSyncRow | undefined {
  return ledger.db.prepare('SELECT * FROM ct_sync WHERE registered_domain = ?').get(domain) as CtSyncRow | undefined;
}

/** Record the outcome of one sync attempt (synced_at = the attempt, even a failed one). */
export function recordCtSync(ledger: Ledger, r: CtSyncRow): void {
  ledger.db
    .prepare(
      `INSERT INTO ct_sync (registered_domain, synced_at, complete, rows, error) VALUES (@registered_domain, @synced_at, @complete, @rows, @error)
       ON CONFLICT(registered_domain) DO UPDATE SET synced_at = excluded.synced_at, complete = excluded.complete, rows = excluded.rows, error = excluded.error`,
    )
    .run(r);
}

export interface CtImportCounts {
  /** New rows (source 'ct'). */
  inserted: number;
  /** Already in the ledger from an earlier sync. */
  already: number;
  /** Certificates the ledger had from elsewhere (issued by certctl, imported from certbot or PEM): marked seen_in_ct, not added. */
  matched: number;
  /** How the matched ones were found. */
  matchedByIssuer: number;
  matchedBySerialAndDomain: number;
}

interface Candidate {
  id: number;
  issuer: string;
  serial: string;
  source: string;
  seen_in_ct: number;
  registered_domain: string;
}

/**
 * Write CT certificates into the ledger in one transaction. `caIdFor` maps an
 * issuer to certctl's CA id (null: unknown CA).
 */
export function importCtCertificates(ledger: Ledger, certs: readonly CtCertificate[], now: number, caIdFor: (issuer: string) => string | null): CtImportCounts {
  const counts: CtImportCounts = { inserted: 0, already: 0, matched: 0, matchedByIssuer: 0, matchedBySerialAndDomain: 0 };
  if (certs.length === 0) return counts;
  return ledger.tx(() => {
    // Every certificate of these registered domains issued since a day before the oldest CT notBefore:
    // one indexed range per domain. A ledger row of the same certificate has issued_at >= notBefore - backdate.
    const domains = [...new Set(certs.flatMap((c) => c.registeredDomains))];
    const since = Math.min(...certs.map((c) => Math.min(c.notBefore, c.issuedAt))) - DAY;
    const q = ledger.db.prepare(
      `SELECT c.id, c.issuer, c.serial, c.source, c.seen_in_ct, cd.registered_domain
       FROM certificate_domains cd JOIN certificates c ON c.id = cd.cert_id
       WHERE cd.registered_domain = @domain AND cd.issued_at >= @since`,
    );
    const bySerial = new Map<string, Candidate[]>();
    for (const d of domains) {
      for (const r of q.all({ domain: d, since }) as Candidate[]) {
        const list = bySerial.get(r.serial) ?? [];
        if (!list.some((x) => x.id === r.id && x.registered_domain === r.registered_domain)) list.push(r);
        bySerial.set(r.serial, list);
      }
    }
    const mark = ledger.db.prepare('UPDATE certificates SET seen_in_ct = 1 WHERE id = ?');
    for (const c of certs) {
      const cands = bySerial.get(c.serial) ?? [];
      const exact = cands.find((x) => x.issuer === c.issuer);
      if (exact) {
        if (exact.source === 'ct') counts.already++;
        else {
          counts.matched++;
          counts.matchedByIssuer++;
        }
        if (!exact.seen_in_ct) mark.run(exact.id);
        continue;
      }
      const sameIssuer = cands.find((x) => issuerKey(x.issuer) === c.issuerKey);
      if (sameIssuer) {
        if (sameIssuer.source === 'ct') counts.already++;
        else {
          counts.matched++;
          counts.matchedByIssuer++;
        }
        if (!sameIssuer.seen_in_ct) mark.run(sameIssuer.id);
        continue;
      }
      const sameDomain = [...new Set(cands.filter((x) => c.registeredDomains.includes(x.registered_domain)).map((x) => x.id))];
      if (sameDomain.length === 1) {
        const hit = cands.find((x) => x.id === sameDomain[0])!;
        if (hit.source === 'ct') counts.already++;
        else {
          counts.matched++;
          counts.matchedBySerialAndDomain++;
        }
        if (!hit.seen_in_ct) mark.run(hit.id);
        continue;
      }
      const caId = caIdFor(c.issuer);
      const r = ledger.insertCertificate({
        lineage: null,
        version: null,
        order_id: null,
        bundle_id: null,
        role: null,
        source: 'ct',
        ca_id: caId,
        directory_url: null,
        issuer: c.issuer,
        serial: c.serial,
        names: c.names,
        set_key: c.setKey,
        key_type: null,
        not_before: c.notBefore,
        not_after: c.notAfter,
        issued_at: c.issuedAt,
        replaces: null,
        ari_cert_id: null,
        seen_in_ct: 1,
        fingerprint: null,
        registered_domains: c.registeredDomains,
        now,
      });
      if (r.inserted) counts.inserted++;
      else counts.already++;
    }
    return counts;
  });
}

export type CtState = 'never' | 'fresh' | 'stale' | 'incomplete' | 'failed';

export interface CtStatus {
  domain: string;
  state: CtState;
  syncedAt: number | null;
  ageMs: number | null;
  complete: boolean;
  rows: number;
  error: string | null;
  /** One honest line for people. */
  text: string;
}

function age(ms: number): string {
  const h = ms / 3_600_000;
  if (h < 1) return `${Math.max(0, Math.round(ms / 60_000))} min old`;
  if (h < 48) return `${Math.round(h)} h old`;
  return `${Math.round(h / 24)} days old`;
}

/**
 * How far the ledger's view of each registered domain in CT can be trusted.
 * `maxAgeMs`: older than this is "stale" (default 24 h).
 */
export function ctStatus(ledger: Ledger, domains: readonly string[], now: number, maxAgeMs = DAY): CtStatus[] {
  const out: CtStatus[] = [];
  for (const domain of [...new Set(domains)].sort()) {
    const r = ctSyncRow(ledger, domain);
    if (!r) {
      out.push({
        domain,
        state: 'never',
        syncedAt: null,
        ageMs: null,
        complete: false,
        rows: 0,
        error: null,
        text: `CT sync for ${domain}: never — certificates issued by other hosts or clients are not counted (certctl sync ct ${domain})`,
      });
      continue;
    }
    const ageMs = now - r.synced_at;
    const base = { domain, syncedAt: r.synced_at, ageMs, complete: r.complete === 1, rows: r.rows, error: r.error };
    if (r.complete !== 1 && r.error && r.rows === 0) {
      out.push({ ...base, state: 'failed', text: `CT sync for ${domain} failed ${age(ageMs).replace(' old', ' ago')}: ${r.error} — counts may be low` });
    } else if (r.complete !== 1) {
      out.push({ ...base, state: 'incomplete', text: `CT sync for ${domain} is ${age(ageMs)} and incomplete (${r.rows} rows${r.error ? `; ${r.error}` : ''}) — counts may be low` });
    } else if (ageMs > maxAgeMs) {
      out.push({ ...base, state: 'stale', text: `CT sync for ${domain} is ${age(ageMs)} (${r.rows} rows) — issuance since then by other hosts is not counted` });
    } else {
      out.push({ ...base, state: 'fresh', text: `CT sync for ${domain} is ${age(ageMs)}, complete (${r.rows} rows)` });
    }
  }
  return out;
}
