/**
 * ACME Renewal Information (RFC 9773) on the client side: ask the CA when to
 * renew, choose one random moment inside its suggested window, and keep that
 * choice in the ledger so cron runs agree with each other. Retry-After is
 * honoured and clamped; after an error the CA is asked again in about 6 h.
 */
import type { Ledger, CertificateRow, RenewalInfoRow } from '../ledger/ledger.js';
import { isoTime, parseRetryAfter } from '../clock.js';

/** Retry-After of a renewalInfo answer is clamped into this range (RFC 9773 §4.3). */
export const ARI_RETRY_MIN_MS = 60_000;
export const ARI_RETRY_MAX_MS = 86_400_000;
/** When the CA sends no Retry-After, or answers with an error: ask again after this. */
export const ARI_DEFAULT_RECHECK_MS = 6 * 3_600_000;
/** Directory contents (renewalInfo URL, profiles) are re-read after this. */
export const DIRECTORY_CACHE_MS = 86_400_000;

export type Getter = (url: string) => Promise<{ status: number; headers: Record<string, string | undefined>; data: unknown }>;

/** Pure: the moment to ask the CA again, from its Retry-After header. */
export function nextCheck(retryAfter: string | undefined, now: number): number {
  const at = parseRetryAfter(retryAfter, now);
  if (at === undefined) return now + ARI_DEFAULT_RECHECK_MS;
  return now + Math.min(ARI_RETRY_MAX_MS, Math.max(ARI_RETRY_MIN_MS, at - now));
}

/**
 * Pure: a uniformly random moment in the WHOLE window [start, end) (RFC 9773 §4.2). A moment
 * already past (the window opened before this run, or lies in the past after a revocation)
 * means renew now; picking only in [now, end) instead would put a narrow window's moment still
 * ahead, and a cron job that runs next after the window would miss it (acme.sh#7024).
 */
export function chooseInWindow(start: number, end: number, random: () => number = Math.random): number {
  return start + Math.floor(random() * (end - start));
}

/** When certctl will run renew next, and what says so (the cron schedule, the run history). */
export interface NextRun {
  at: number;
  /** For the reason: "the schedule in /etc/cron.d/certctl", "the ledger's renew runs (every 12 h)". */
  source: string;
}

/**
 * Pure: RFC 9773 §4.2's last rule. A client that cannot wake at exactly the chosen moment (cron)
 * renews now when the moment comes before its next run — else the window, Let's Encrypt's about
 * ±1 % of the lifetime, may close between two runs and the renewal loses the ARI exemption. One
 * refinement: before the window opens, when the next run still falls inside it, that run renews
 * (inside the window, exempt) rather than this one (before it, not exempt). `next` null: the
 * caller wakes at the chosen moment itself (the daemon) or does not know its schedule.
 */
export function dueBeforeNextRun(d: AriDecision, now: number, next: NextRun | null): AriDecision {
  if (d.due || !next || d.at === null || d.windowStart === null || d.windowEnd === null || next.at <= d.at) return d;
  const window = `the CA suggests renewing between ${isoTime(d.windowStart)} and ${isoTime(d.windowEnd)}; certctl chose ${isoTime(d.at)}`;
  if (now < d.windowStart && next.at < d.windowEnd) {
    return { ...d, reason: `${window}; the next run (${isoTime(next.at)}, by ${next.source}) falls inside the window and renews then` };
  }
  return { ...d, due: true, reason: `${window}, before the next run (${isoTime(next.at)}, by ${next.source}): renewing now so the window is not missed (RFC 9773 §4.2)` };
}

export interface AriDecision {
  due: boolean;
  /** The chosen renewal moment, if the CA gave a window. */
  at: number | null;
  windowStart: number | null;
  windowEnd: number | null;
  /** The window has opened (for LE's exemption of `replaces` orders). */
  windowOpen: boolean;
  explanationUrl: string | null;
  /** Why, for the renew report. */
  reason: string;
}

/** Pure: what a stored ARI row says at `now`. */
export function ariDecision(row: RenewalInfoRow | undefined, now: number): AriDecision | null {
  if (!row || row.window_start === null || row.window_end === null || row.chosen_at === null) return null;
  const due = now >= row.chosen_at;
  return {
    due,
    at: row.chosen_at,
    windowStart: row.window_start,
    windowEnd: row.window_end,
    windowOpen: now >= row.window_start,
    explanationUrl: row.explanation_url,
    reason: due ? `inside the CA's suggested renewal window (ARI), chosen moment ${isoTime(row.chosen_at)} has passed` : `the CA suggests renewing between ${isoTime(row.window_start)} and ${isoTime(row.window_end)}; certctl chose ${isoTime(row.chosen_at)}`,
  };
}

/** The renewalInfo URL of a directory, from the ledger's cache or the CA. */
export async function renewalInfoUrl(ledger: Ledger, directoryUrl: string, now: number, get: Getter): Promise<string | null> {
  const cached = ledger.directoryInfo(directoryUrl);
  if (cached && now - cached.fetched_at < DIRECTORY_CACHE_MS) return cached.renewal_info;
  try {
    const r = await get(directoryUrl);
    if (r.status !== 200 || typeof r.data !== 'object' || r.data === null) return cached?.renewal_info ?? null;
    const d = r.data as { renewalInfo?: unknown; meta?: { profiles?: Record<string, string> } };
    const url = typeof d.renewalInfo === 'string' ? d.renewalInfo : null;
    ledger.saveDirectoryInfo(directoryUrl, url, d.meta?.profiles ?? null, now);
    return url;
  } catch {
    return cached?.renewal_info ?? null;
  }
}

/**
 * Refresh the ARI row of `cert` if it is time to ask, and return the
 * decision. Never throws for a CA fault: a failed ask keeps the old window
 * and asks again in about 6 h; with no window at all, returns null (the
 * caller falls back to the lifetime rule).
 */
export async function refreshAri(ledger: Ledger, cert: CertificateRow, ariCertId: string, endpoint: string, now: number, get: Getter, random: () => number = Math.random): Promise<AriDecision | null> {
  const row = ledger.renewalInfo(cert.id);
  if (row && row.ari_cert_id === ariCertId && row.next_check !== null && row.next_check > now) return ariDecision(row, now);
  let next = now + ARI_DEFAULT_RECHECK_MS;
  let fresh: RenewalInfoRow | undefined;
  try {
    const r = await get(`${endpoint.replace(/\/$/, '')}/${ariCertId}`);
    next = r.status === 200 ? nextCheck(r.headers['retry-after'], now) : now + ARI_DEFAULT_RECHECK_MS;
    const w = (r.data as { suggestedWindow?: { start?: string; end?: string }; explanationURL?: string } | null)?.suggestedWindow;
    const start = w?.start ? Date.parse(w.start) : NaN;
    const end = w?.end ? Date.parse(w.end) : NaN;
    if (r.status === 200 && !Number.isNaN(start) && !Number.isNaN(end) && end > start) {
      const same = row && row.window_start === start && row.window_end === end && row.chosen_at !== null;
      fresh = {
        cert_id: cert.id,
        ari_cert_id: ariCertId,
        window_start: start,
        window_end: end,
        chosen_at: same ? row!.chosen_at : chooseInWindow(start, end, random),
        next_check: next,
        explanation_url: (r.data as { explanationURL?: string }).explanationURL ?? null,
        fetched_at: now,
      };
    }
  } catch {
    /* network fault: keep what we had, ask again later */
  }
  fresh ??= { ...(row ?? { cert_id: cert.id, window_start: null, window_end: null, chosen_at: null, explanation_url: null }), ari_cert_id: ariCertId, next_check: next, fetched_at: now };
  ledger.saveRenewalInfo(fresh);
  return ariDecision(fresh, now);
}
