/**
 * What the ledger says about the future, for the scheduler, `metrics` and
 * `status`: each lineage's next action (ARI chosen moment, due date,
 * Retry-After in force) and the last renew run. Reads only.
 */
import type { Ledger } from '../ledger/ledger.js';
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

/** One next action per lineage, plus account-wide Retry-Afters (a 429 on new-order holds every lineage at that CA). */
export function scheduleFacts(ledger: Ledger, now: number): LedgerFacts {
  const active = ledger.activeProblems(now);
  const actions: ScheduledAction[] = [];
  for (const l of ledger.lineages()) {
    const certs = ledger.currentCertificates(l.name);
    const soonest = soonestExpiring(certs);
    const openOrders = ledger.openOrders(l.name).length;
    // renew's rule (renew/due.ts), from what the ledger knows: when it is due, and whether by the CA's ARI moment.
    const facts = { openOrders, soonest, revokedAt: revokedAt(certs), renewDays: l.settings.renewDays };
    const due = renewalDue({ ...facts, ari: soonest && ariDecides(facts) ? ariDecision(ledger.renewalInfo(soonest.id), now) : null }, now);
    const retry = active.filter((p) => p.lineage === l.name || (p.lineage === null && p.directory_url === l.directory_url)).reduce<number | null>((m, p) => Math.max(m ?? 0, p.retry_after!), null);
    actions.push(
      lineageAction(
        {
          name: l.name,
          openOrders,
          hasCertificate: Boolean(soonest),
          ariChosenAt: due.rule === 'ari' ? due.dueAt : null,
          dueAt: due.rule === 'ari' ? null : due.dueAt,
          retryAfter: retry,
        },
        now,
      ),
    );
  }
  const run = lastRenewRun(ledger);
  return { actions, lastRunAt: run?.finishedAt ?? null };
}
