/**
 * Ledger queries for the readiness checks: storing their results (shown later
 * by `plan`) and counting the recent failed authorizations that make a CA
 * pause an identifier.
 */
import type { Ledger } from './ledger.js';

/** What a stored check looks like (precheck/types.ts PrecheckResult, without importing upward). */
export interface PrecheckInput {
  name: string;
  check: string;
  ok: boolean;
  summary: string;
  evidence: Record<string, unknown>;
  advice?: string;
}

export interface PrecheckRow {
  id: number;
  at: number;
  name: string;
  check: string;
  ok: boolean;
  summary: string;
  evidence: Record<string, unknown>;
  advice: string | null;
}

/** Store one run of checks, all at the same time `at`, in one transaction. */
export function recordPrechecks(ledger: Ledger, results: readonly PrecheckInput[], at: number): void {
  if (results.length === 0) return;
  // Rows go in by the hundred, one statement each: on PostgreSQL every statement is a round trip
  // (BENCHMARKS.md, fleet); 100 rows × 7 values stay far under either database's parameter limit.
  ledger.tx(() => {
    for (let i = 0; i < results.length; i += 100) {
      const chunk = results.slice(i, i + 100);
      const ins = ledger.db.prepare(`INSERT INTO prechecks (at, name, check_name, ok, summary, evidence_json, advice) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`);
      ins.run(...chunk.flatMap((r) => [at, r.name, r.check, r.ok ? 1 : 0, r.summary, JSON.stringify(r.evidence ?? {}), r.advice ?? null]));
    }
  });
}

/** The most recent result of each check for each of `names` (one row per name and check). */
export function latestPrechecks(ledger: Ledger, names: readonly string[]): PrecheckRow[] {
  if (names.length === 0) return [];
  const stmt = ledger.db.prepare(
    `SELECT p.* FROM prechecks p
     WHERE p.name = ? AND p.id = (SELECT q.id FROM prechecks q WHERE q.name = p.name AND q.check_name = p.check_name ORDER BY q.at DESC, q.id DESC LIMIT 1)
     ORDER BY p.check_name`,
  );
  const out: PrecheckRow[] = [];
  for (const name of names) {
    for (const r of stmt.all(name) as Record<string, unknown>[]) {
      out.push({
        id: r.id as number,
        at: r.at as number,
        name: r.name as string,
        check: r.check_name as string,
        ok: r.ok === 1,
        summary: r.summary as string,
        evidence: r.evidence_json ? (JSON.parse(r.evidence_json as string) as Record<string, unknown>) : {},
        advice: (r.advice as string | null) ?? null,
      });
    }
  }
  return out;
}

export interface FailedAuthorizations {
  /** Times (ms) of the failed authorizations in the window, oldest first. */
  times: number[];
  /** The most recent failure's error, for evidence. */
  lastError: { type: string | null; detail: string | null } | null;
}

/**
 * Authorizations for `identifier` (or its bare form, for a wildcard) that
 * ended 'invalid' in (since, until]. Optionally only at one CA directory.
 */
export function failedAuthorizations(ledger: Ledger, identifier: string, since: number, until: number, directoryUrl?: string): FailedAuthorizations {
  const bare = identifier.replace(/^\*\./, '');
  const rows = ledger.db
    .prepare(
      `SELECT at, error_type, error_detail FROM authorizations
       WHERE identifier IN (?, ?) AND status = 'invalid' AND at > ? AND at <= ? AND (CAST(? AS TEXT) IS NULL OR directory_url = ?)
       ORDER BY at`,
    )
    .all(identifier, bare, since, until, directoryUrl ?? null, directoryUrl ?? null) as { at: number; error_type: string | null; error_detail: string | null }[];
  const last = rows[rows.length - 1];
  return { times: rows.map((r) => r.at), lastError: last ? { type: last.error_type, detail: last.error_detail } : null };
}
