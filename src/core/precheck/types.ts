/**
 * The shapes every readiness check shares. A check never throws for a
 * condition of the site (a 404, a SERVFAIL, a CAA record forbidding the CA):
 * it returns a result with `ok: false`, the evidence and what to do. Only
 * bad input (an unparsable resolver address) throws InputError.
 */

/** The readiness checks (dns01: the DNS-01 solver's probe, challenge/dns01.ts), in the order they are reported. */
export type CheckName = 'dns' | 'http01' | 'dns01' | 'caa' | 'failures';

export const CHECK_ORDER: readonly CheckName[] = ['dns', 'http01', 'dns01', 'caa', 'failures'];

/** One check of one name. `evidence` is JSON-safe: what was asked, what came back, which record. */
export interface PrecheckResult {
  name: string;
  check: CheckName;
  ok: boolean;
  summary: string;
  evidence: Record<string, unknown>;
  /** What to do next; present on every failure, sometimes on a pass with a caveat. */
  advice?: string;
}

/** A check that was not run for a name, and why (e.g. HTTP-01 without --webroot/--standalone). */
export interface SkippedCheck {
  name: string;
  check: CheckName;
  reason: string;
}

export interface PrecheckReport {
  /** True when every result passed. Skipped checks do not make it false. */
  ok: boolean;
  results: PrecheckResult[];
  skipped: SkippedCheck[];
}

/** Make a string safe to print on a terminal: control characters become \xNN, and it is cut to `max` characters. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  return clean.length > max ? clean.slice(0, max) + `… (${clean.length - max} more characters)` : clean;
}
