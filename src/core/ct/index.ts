/**
 * `certctl sync ct`: what Certificate Transparency knows about a registered
 * domain, into the ledger. Rate limits per registered domain and per exact
 * set are global (every host, every client, every account); CT is the only
 * public record of all of it, so a host that syncs sees what the CA counts.
 * CT cannot show account-scoped limits, ARI exemptions or overrides.
 *
 * Two crt.sh queries per domain: "%.example.com" (every name below it) and
 * "example.com" (the apex alone: a LIKE '%.example.com' pattern does not
 * match it). Both share one time budget; either failing, or either hitting
 * crt.sh's 10,000-row cap, makes the sync "incomplete", recorded as such.
 */
import type { Ledger } from '../ledger/ledger.js';
import { ctSyncRow, importCtCertificates, recordCtSync, type CtImportCounts } from '../ledger/ct.js';
import { queryCrtSh, DEFAULT_CRTSH, CRTSH_ROW_CAP, type CrtShOptions } from './crtsh.js';
import { collapseRows, caIdForIssuer } from './parse.js';

export { DEFAULT_CRTSH, type CrtShOptions } from './crtsh.js';

export interface DomainSyncResult extends CtImportCounts {
  domain: string;
  complete: boolean;
  /** Raw crt.sh rows received (precertificate + certificate usually two rows for one issuance). */
  rows: number;
  /** Distinct certificates after collapsing pairs. */
  certificates: number;
  /** Rows that could not be read. */
  skipped: number;
  attempts: number;
  error: string | null;
}

/** Sync one registered domain. Never throws for network trouble: the result (and ct_sync) says what happened. */
export async function syncCtDomain(ledger: Ledger, domain: string, opts: CrtShOptions, now: () => number): Promise<DomainSyncResult> {
  const started = Date.now();
  const rows = [];
  const errors: string[] = [];
  let attempts = 0;
  let capped = false;
  for (const q of [`%.${domain}`, domain]) {
    const left = opts.totalTimeoutMs - (Date.now() - started);
    if (left <= 0) {
      errors.push(`no time left for the query ${q}`);
      continue;
    }
    const r = await queryCrtSh(q, { ...opts, totalTimeoutMs: left });
    attempts += r.attempts;
    if (!r.ok) errors.push(`${q}: ${r.error}`);
    if (r.capped) {
      capped = true;
      errors.push(`${q}: ${r.rows.length} rows, crt.sh's cap of ${CRTSH_ROW_CAP}: more certificates may exist`);
    }
    rows.push(...r.rows);
  }
  const at = now();
  const parsed = collapseRows(rows, at);
  const counts = importCtCertificates(ledger, parsed.certificates, at, caIdForIssuer);
  const complete = errors.length === 0 && !capped;
  const error = errors.length ? errors.join('; ') : null;
  recordCtSync(ledger, { registered_domain: domain, synced_at: at, complete: complete ? 1 : 0, rows: rows.length, error });
  return { domain, complete, rows: rows.length, certificates: parsed.certificates.length, skipped: parsed.skipped, attempts, error, ...counts };
}

const TEST_TLDS = /\.(test|example|invalid|localhost|local)$/;
/** A failed sync is retried by `auto` after this long, even if --ct-max-age is longer. */
export const FAILED_RETRY_MS = 3_600_000;

/** Should `--ct-sync auto` sync this domain now? */
export function needsCtSync(ledger: Ledger, domain: string, now: number, maxAgeMs: number): boolean {
  const r = ctSyncRow(ledger, domain);
  if (!r) return true;
  const age = now - r.synced_at;
  if (age > maxAgeMs) return true;
  return r.error !== null && r.rows < CRTSH_ROW_CAP && age > FAILED_RETRY_MS;
}

export interface AutoSyncOptions {
  mode: 'auto' | 'never';
  maxAgeMs: number;
  crtsh?: Partial<CrtShOptions>;
  log?: (line: string) => void;
}

/**
 * `--ct-sync auto`: sync the registered domains whose last sync is older than
 * maxAgeMs (or never happened; or failed more than an hour ago). Names under
 * reserved test TLDs and IP addresses are never in public CT and are skipped.
 */
export async function autoSyncCt(ledger: Ledger, domains: readonly string[], now: () => number, o: AutoSyncOptions): Promise<DomainSyncResult[]> {
  if (o.mode !== 'auto') return [];
  const out: DomainSyncResult[] = [];
  const opts = { ...DEFAULT_CRTSH, ...(o.crtsh ?? {}) };
  for (const d of [...new Set(domains)].sort()) {
    if (TEST_TLDS.test(d) || d.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(d)) continue;
    if (!needsCtSync(ledger, d, now(), o.maxAgeMs)) continue;
    o.log?.(`syncing ${d} from Certificate Transparency (${opts.baseUrl})…`);
    out.push(await syncCtDomain(ledger, d, opts, now));
  }
  return out;
}

export interface PlanCtOptions {
  ctSync?: string;
  ctMaxAge?: number;
  ctUrl?: string;
}

/**
 * For `plan` (and `renew`): with --ct-sync auto, sync the domains that need
 * it; then the CT status of every domain, for one line each and the JSON
 * `ctSync` list.
 */
export async function ctForPlan(ledger: Ledger, domains: readonly string[], now: () => number, o: PlanCtOptions, log?: (line: string) => void): Promise<CtStatusJson[]> {
  const { ctStatus } = await import('../ledger/ct.js');
  const maxAgeMs = (o.ctMaxAge ?? 24) * 3_600_000;
  await autoSyncCt(ledger, domains, now, { mode: o.ctSync === 'auto' ? 'auto' : 'never', maxAgeMs, crtsh: o.ctUrl ? { baseUrl: o.ctUrl } : {}, log });
  return ctStatus(ledger, domains, now(), maxAgeMs).map((s) => ({
    domain: s.domain,
    state: s.state,
    syncedAt: s.syncedAt === null ? null : new Date(s.syncedAt).toISOString(),
    ageHours: s.ageMs === null ? null : Math.round((s.ageMs / 3_600_000) * 10) / 10,
    complete: s.complete,
    rows: s.rows,
    error: s.error,
    text: s.text,
  }));
}

export interface CtStatusJson {
  domain: string;
  state: string;
  syncedAt: string | null;
  ageHours: number | null;
  complete: boolean;
  rows: number;
  error: string | null;
  text: string;
}
