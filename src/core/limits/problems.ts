/**
 * Which limit a CA's rate-limit problem is about, from its type and detail
 * text. Pure: the ACME layer calls it when it records a problem (to fill
 * problems.limit_name / scope), the planner when it reads an older row that
 * has none. Knows every text in the reference, including the old ones still
 * found in logs and forum posts (Let's Encrypt 2016-2024, SM2 ACME Service).
 */
import type { LimitName } from './policies.js';

export interface ProblemClass {
  /** The limit, or null when the text names none certctl models. */
  limit: LimitName | null;
  /** The registered domain or identifier the text names, if it names one (lower case). */
  subject: string | null;
  /** "retry after 2026-01-01 12:00:00 UTC" in the text, as ms; null when absent. */
  retryAfter: number | null;
}

/** Tried in order: the specific texts before the generic "too many certificates already issued". */
const PATTERNS: { re: RegExp; limit: LimitName }[] = [
  { re: /exact set of (identifiers|domains)/i, limit: 'duplicate-certificates' },
  { re: /temporarily prevented from requesting certificates|\bpaused\b/i, limit: 'consecutive-failures' },
  { re: /too many failed authorizations|too many failed validations/i, limit: 'failed-authorizations' },
  { re: /too many (currently )?pending authorizations/i, limit: 'pending-authorizations' },
  { re: /pending (validation )?orders/i, limit: 'pending-orders' },
  { re: /too many new orders/i, limit: 'new-orders' },
  { re: /too many (new )?registrations|too many accounts/i, limit: 'registrations-per-ip' },
  { re: /too many (domains|names|identifiers) in one certificate|too many (dns )?names|too many identifiers/i, limit: 'names-per-certificate' },
  { re: /too many certificates/i, limit: 'certificates-per-domain' },
];

const RATE_LIMITED = /:rateLimited$/;

/** Classify a problem document. `type` like urn:ietf:params:acme:error:rateLimited (or the pre-RFC urn:acme:error:…). */
export function classifyProblem(type: string | null | undefined, detail: string | null | undefined): ProblemClass {
  const text = detail ?? '';
  const retryAfter = retryAfterInDetail(text);
  const hit = PATTERNS.find((p) => p.re.test(text));
  if (!hit) return { limit: null, subject: null, retryAfter };
  // A text that only looks like a limit on another problem type (e.g. "malformed") counts only for names-per-certificate, which LE reports outside rateLimited.
  if (type && !RATE_LIMITED.test(type) && hit.limit !== 'names-per-certificate' && hit.limit !== 'consecutive-failures') {
    return { limit: null, subject: null, retryAfter };
  }
  return { limit: hit.limit, subject: subjectOf(hit.limit, text), retryAfter };
}

function subjectOf(limit: LimitName, text: string): string | null {
  if (limit !== 'certificates-per-domain' && limit !== 'failed-authorizations' && limit !== 'consecutive-failures') return null;
  const quoted = /for "([^"]+)"/.exec(text);
  if (quoted) return quoted[1]!.toLowerCase();
  // Old text: "too many certificates already issued for: example.com"
  const colon = /issued for:\s*([a-z0-9*][a-z0-9.*-]*\.[a-z0-9-]+)/i.exec(text);
  if (colon) return colon[1]!.toLowerCase();
  // Paused: "… requesting certificates for example.com and …"
  const paused = /requesting certificates for ([a-z0-9*][a-z0-9.*-]*\.[a-z0-9-]+)/i.exec(text);
  if (paused) return paused[1]!.toLowerCase();
  return null;
}

/** "retry after 2026-01-01 12:00:00 UTC" → ms, or null. */
export function retryAfterInDetail(text: string): number | null {
  const m = /retry after (\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\s*UTC|Z)?/i.exec(text);
  if (!m) return null;
  const t = Date.parse(`${m[1]}T${m[2]}Z`);
  return Number.isNaN(t) ? null : t;
}
