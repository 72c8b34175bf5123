/**
 * The ledger-side check: has this name already failed validation so often
 * that the CA will refuse (or pause) it? Let's Encrypt allows 5 failed
 * authorizations per identifier per account per hour; one more order now
 * would only add another failure.
 */
import { utc } from '../clock.js';
import type { Ledger } from '../ledger/ledger.js';
import { failedAuthorizations } from '../ledger/prechecks.js';
import type { PrecheckResult } from './types.js';

/** Let's Encrypt's "Failed Validations" limit: 5 per identifier per account per hour. */
export const DEFAULT_FAILURE_LIMIT = 5;
export const FAILURE_WINDOW_MS = 3_600_000;

export function checkFailures(ledger: Ledger, name: string, now: number, limit = DEFAULT_FAILURE_LIMIT, directoryUrl?: string): PrecheckResult {
  const { times, lastError } = failedAuthorizations(ledger, name, now - FAILURE_WINDOW_MS, now, directoryUrl);
  const evidence: Record<string, unknown> = { failedLastHour: times.length, limit, windowMs: FAILURE_WINDOW_MS, failures: times.map((t) => new Date(t).toISOString()) };
  if (lastError) evidence.lastError = lastError;
  if (times.length < limit) {
    return {
      name,
      check: 'failures',
      ok: true,
      summary: times.length === 0 ? 'no failed validations in the last hour' : `${times.length} failed validation${times.length > 1 ? 's' : ''} in the last hour (limit ${limit})`,
      evidence,
    };
  }
  // Allowed again when enough of the oldest failures have left the window for the count to drop below the limit.
  const nextAt = times[times.length - limit]! + FAILURE_WINDOW_MS;
  evidence.nextAllowedAt = new Date(nextAt).toISOString();
  return {
    name,
    check: 'failures',
    ok: false,
    summary: `${times.length} failed validations in the last hour: at the CA's limit of ${limit} per hour`,
    evidence,
    advice: `The CA will refuse ${name} until ${utc(nextAt)}. Fix the cause of the last failure${lastError?.detail ? ` ("${lastError.detail}")` : ''} first; the other checks show what is still wrong.`,
  };
}
