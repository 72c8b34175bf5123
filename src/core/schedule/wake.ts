/**
 * When the scheduler should run renew next: at the next tick of its cron
 * schedule, or earlier when the ledger says something happens sooner — the
 * moment chosen inside a CA's ARI window, a certificate becoming due by the
 * lifetime rule, or the end of a Retry-After the CA imposed. Pure: facts, a
 * schedule and the clock in, one moment out.
 */

/** Something the ledger says will need a renew run at `at`. */
export interface ScheduledAction {
  lineage: string | null;
  at: number;
  /** ari: the moment chosen in the CA's renewal window; due: lifetime rule / renewDays; retry-after: a CA refusal ends; resume: an interrupted order or a lineage without a certificate. */
  kind: 'ari' | 'due' | 'retry-after' | 'resume';
}

export interface LedgerFacts {
  actions: ScheduledAction[];
  /** When the last renew run finished (null: never). */
  lastRunAt: number | null;
}

/** The next tick of a schedule strictly after `after`. */
export interface Schedule {
  next(after: number): number;
}

export interface Wake {
  at: number;
  reason: 'schedule' | 'catch-up' | ScheduledAction['kind'];
  lineage: string | null;
}

/** Never wake sooner than this after a run (a blocked lineage due "now" must not spin the loop). */
export const MIN_GAP_MS = 60_000;
/** Wake a little after a Retry-After ends, not at the exact second the CA named. */
export const RETRY_MARGIN_MS = 60_000;
/** A daemon that finds no renew run this recent runs one at once (the machine was off at the scheduled time). */
export const CATCH_UP_AFTER_MS = 13 * 3_600_000;

/**
 * The next wake-up: the earliest of the schedule's next tick and every
 * future action, but never before `now + MIN_GAP_MS` — except a catch-up run
 * when renew has not run for CATCH_UP_AFTER_MS (or never), which is at `now`.
 * Actions already in the past are the scheduled runs' business (a lineage
 * still blocked must not make the daemon spin).
 */
export function nextWake(facts: LedgerFacts, schedule: Schedule, now: number): Wake {
  if (facts.lastRunAt === null || now - facts.lastRunAt > CATCH_UP_AFTER_MS) return { at: now, reason: 'catch-up', lineage: null };
  let best: Wake = { at: schedule.next(now), reason: 'schedule', lineage: null };
  for (const a of facts.actions) {
    const at = a.kind === 'retry-after' ? a.at + RETRY_MARGIN_MS : a.at;
    if (at <= now) continue;
    if (at < best.at) best = { at, reason: a.kind, lineage: a.lineage };
  }
  if (best.at < now + MIN_GAP_MS) best = { ...best, at: now + MIN_GAP_MS };
  return best;
}

/**
 * The next action of one lineage, from what the ledger holds: a Retry-After
 * in force wins over everything (nothing can be ordered before it), then an
 * open order or a missing certificate (resume now), then the ARI moment, then
 * the lifetime rule.
 */
export function lineageAction(l: { name: string; openOrders: number; hasCertificate: boolean; ariChosenAt: number | null; dueAt: number | null; retryAfter: number | null }, now: number): ScheduledAction {
  if (l.retryAfter !== null && l.retryAfter > now) return { lineage: l.name, at: l.retryAfter, kind: 'retry-after' };
  if (l.openOrders > 0 || !l.hasCertificate) return { lineage: l.name, at: now, kind: 'resume' };
  if (l.ariChosenAt !== null) return { lineage: l.name, at: l.ariChosenAt, kind: 'ari' };
  return { lineage: l.name, at: l.dueAt ?? now, kind: 'due' };
}
