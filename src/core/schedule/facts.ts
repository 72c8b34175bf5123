/**
 * What the ledger says about the future, for the scheduler, `metrics` and
 * `status`: each lineage's next action (ARI chosen moment, due date,
 * Retry-After in force) and the last renew run. Reads only.
 */
import type { Ledger } from '../ledger/ledger.js';
import { dueAt, soonestExpiring } from '../renew/due.js';
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

/** One next action per lineage, plus account-wide Retry-Afters (a 429 on new-order holds every lineage at that CA). */
export function scheduleFacts(ledger: Ledger, now: number): LedgerFacts {
  const active = ledger.activeProblems(now);
  const actions: ScheduledAction[] = [];
  for (const l of ledger.lineages()) {
    const certs = ledger.currentCertificates(l.name);
    const soonest = soonestExpiring(certs);
    const ari = soonest ? ledger.renewalInfo(soonest.id) : undefined;
    const retry = active.filter((p) => p.lineage === l.name || (p.lineage === null && p.directory_url === l.directory_url)).reduce<number | null>((m, p) => Math.max(m ?? 0, p.retry_after!), null);
    actions.push(
      lineageAction(
        {
          name: l.name,
          openOrders: ledger.openOrders(l.name).length,
          hasCertificate: Boolean(soonest),
          ariChosenAt: ari?.chosen_at ?? null,
          dueAt: soonest ? dueAt(soonest, l.settings.renewDays) : null,
          retryAfter: retry,
        },
        now,
      ),
    );
  }
  const run = lastRenewRun(ledger);
  return { actions, lastRunAt: run?.finishedAt ?? null };
}
