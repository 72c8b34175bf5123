/**
 * What the ledger says about the future, for the scheduler, `metrics` and
 * `status`: each lineage's next action (ARI chosen moment, due date,
 * Retry-After in force) and the last renew run. Reads only.
 */
import type { Ledger, ProblemRow, RenewalInfoRow } from '../ledger/ledger.js';
import { ariDecides, renewalDue, revokedAt, soonestExpiring } from '../renew/due.js';
import { ariDecision } from '../renew/ari.js';
import { lineageAction, type LedgerFacts, type ScheduledAction } from './wake.js';

export interface LastRun {
  startedAt: number;
  finishedAt: number;
  exitCode: number | null;
}

export function lastRenewRun(ledger: Ledger): LastRun | null {
  const r = ledger.lastRun('renew');
  return r && r.finished_at !== null ? { startedAt: r.started_at, finishedAt: r.finished_at, exitCode: r.exit_code } : null;
}

/**
 * The Retry-Afters in force (activeProblems(now)) by what they hold back: a lineage, or (no
 * lineage) every lineage at a CA directory — the latest of each. Built once per scan, so a
 * lineage's next action looks up two keys instead of walking every problem in force (status on
 * 100,000 lineages with 4,349 of them in force took 9-12 s walking them).
 */
export interface RetryIndex {
  lineage: Map<string, number>;
  directory: Map<string, number>;
}

export function retryIndex(active: readonly ProblemRow[]): RetryIndex {
  const ix: RetryIndex = { lineage: new Map(), directory: new Map() };
  for (const p of active) {
    const [map, key] = p.lineage !== null ? [ix.lineage, p.lineage] : [ix.directory, p.directory_url];
    if (key === null || key === undefined) continue;
    map.set(key, Math.max(map.get(key) ?? 0, p.retry_after!));
  }
  return ix;
}

/** What nextAction needs of a lineage's current certificates. */
export type ActionCertificate = { id: number; not_before: number; not_after: number; revoked_at?: number | null };

/**
 * One lineage's next action (the scheduler's, metrics' and status' "next"), from the rows the
 * caller read for it: its current certificates (ORDER BY id), their renewal_info rows, its open
 * orders, and the problems whose Retry-After is in force (retryIndex of activeProblems(now), read once).
 */
export function nextAction(
  l: { name: string; directory_url: string; settings: { renewDays?: number } },
  certs: readonly ActionCertificate[],
  openOrders: number,
  renewalInfo: (certId: number) => RenewalInfoRow | undefined,
  active: RetryIndex,
  now: number,
): ScheduledAction {
  const soonest = soonestExpiring(certs);
  // renew's rule (renew/due.ts), from what the ledger knows: when it is due, and whether by the CA's ARI moment.
  const facts = { openOrders, soonest, revokedAt: revokedAt(certs), renewDays: l.settings.renewDays };
  const due = renewalDue({ ...facts, ari: soonest && ariDecides(facts) ? ariDecision(renewalInfo(soonest.id), now) : null }, now);
  const own = active.lineage.get(l.name);
  const ca = active.directory.get(l.directory_url);
  const retry = own === undefined && ca === undefined ? null : Math.max(own ?? 0, ca ?? 0);
  return lineageAction(
    {
      name: l.name,
      openOrders,
      hasCertificate: Boolean(soonest),
      ariChosenAt: due.rule === 'ari' ? due.dueAt : null,
      dueAt: due.rule === 'ari' ? null : due.dueAt,
      retryAfter: retry,
    },
    now,
  );
}

/** Lineages read per query by scheduleActions. */
const PAGE = 2000;

/**
 * Every lineage's next action, ORDER BY lineage name, a page at a time (Ledger.renewalScan: one
 * query per page; the open orders and the problems in force once): memory does not grow with the
 * ledger, and no query is asked per lineage.
 */
export function* scheduleActions(ledger: Ledger, now: number): Generator<ScheduledAction[]> {
  const active = retryIndex(ledger.activeProblems(now));
  const open = new Map<string, number>();
  for (const o of ledger.openOrders()) if (o.lineage !== null) open.set(o.lineage, (open.get(o.lineage) ?? 0) + 1);
  let after: string | undefined;
  for (;;) {
    const page = ledger.renewalScan({ after, limit: PAGE });
    if (!page.length) return;
    yield page.map((e) => {
      const info = new Map(e.current.map((c) => [c.id, c.renewal_info]));
      return nextAction(e.lineage, e.current, open.get(e.lineage.name) ?? 0, (id) => info.get(id), active, now);
    });
    if (page.length < PAGE) return;
    after = page[page.length - 1]!.lineage.name;
  }
}

/** One next action per lineage, plus account-wide Retry-Afters (a 429 on new-order holds every lineage at that CA). */
export function scheduleFacts(ledger: Ledger, now: number): LedgerFacts {
  const actions: ScheduledAction[] = [];
  for (const page of scheduleActions(ledger, now)) actions.push(...page);
  const run = lastRenewRun(ledger);
  return { actions, lastRunAt: run?.finishedAt ?? null };
}
