/**
 * What a renew run tells a person (docs/notify.md), from its outcomes:
 *   renewal-failed   a due lineage's attempt failed (readiness check, validation, the CA's refusal
 *                    or 429, the pre-hook): why, that certctl tries again, when;
 *   predicted-block  the planner refused before anything was sent and the limit frees only after the
 *                    current certificate expires (or never as asked): which limit, when it frees;
 *                    a block that frees in time is no event — certctl renews once it is allowed;
 *   ca-failover      renewed at another CA than the first of the lineage's list;
 *   renewed          renewed (or an interrupted order finished);
 *   headroom-low     a registered domain of a lineage worked on has `headroomBelow` certificate slots
 *                    left or fewer (certificates-per-domain, from the ledger).
 * Pure apart from the ledger read for headroom.
 */
import type { Ledger } from '../ledger/ledger.js';
import type { PolicyOverride } from '../limits/policies.js';
import type { NextRun } from './ari.js';
import { event, type NotifyEvent } from '../notify/types.js';
import { utc } from '../clock.js';
import { ExitCode, type BlockFacts } from '../errors.js';

/** What these rules read of a renew outcome (runner.ts LineageOutcome has it; declared here so runner imports this file, not the reverse). */
export interface OutcomeFacts {
  lineage: string;
  names: string[];
  action: string;
  reason: string;
  nextAt: number | null;
  exitCode: number;
  serial?: string;
  notAfter?: number;
  expiresAt?: number | null;
  block?: BlockFacts;
  ca?: { ca: string; first: string; failedOver: boolean; reason: string };
}
type LineageOutcome = OutcomeFacts;

/** The blocking limit that frees last (null allowedAt = never, which is the latest). */
function bindingLimit(o: LineageOutcome): { name: string; scope: string; freesAt: number | null } | null {
  const limits = o.block?.limits ?? [];
  if (!limits.length) return null;
  const last = [...limits].sort((a, b) => (b.allowedAt ?? Infinity) - (a.allowedAt ?? Infinity))[0]!;
  return { name: last.name, scope: last.scope, freesAt: last.allowedAt };
}

export function renewEvents(outcomes: readonly LineageOutcome[], now: number, nextRun: NextRun | null): NotifyEvent[] {
  const out: NotifyEvent[] = [];
  const nextRunText = nextRun ? `the next renew run (${utc(nextRun.at)}, from ${nextRun.source})` : 'the next renew run';
  for (const o of outcomes) {
    if (!o) continue;
    const base = { subject: o.lineage, lineage: o.lineage, names: o.names, at: now, exitCode: o.exitCode };
    const expiresAt = o.expiresAt ?? null;
    if (o.action === 'renewed' || o.action === 'recovered') {
      const ca = o.ca ? { ca: o.ca.ca, first: o.ca.first, reason: o.ca.reason } : null;
      out.push(
        event({
          ...base,
          kind: 'renewed',
          summary: `${o.lineage} was renewed${o.notAfter ? `; the new certificate is valid until ${utc(o.notAfter)}` : ''}.`,
          reason: o.reason,
          next: 'nothing to do: the new certificate is in live/ and the deploy hook has run; certctl renews it again when it is due.',
          expiresAt: o.notAfter ?? null,
          serial: o.serial ?? null,
          ca,
        }),
      );
      if (o.ca?.failedOver) {
        out.push(
          event({
            ...base,
            kind: 'ca-failover',
            summary: `${o.lineage} was renewed at ${o.ca.ca} instead of ${o.ca.first}, the first CA of its list.`,
            reason: o.ca.reason,
            next: `nothing urgent: certctl returns to ${o.ca.first} once it allows the renewal (unless caStick is set); check why ${o.ca.first} refused.`,
            expiresAt: o.notAfter ?? null,
            serial: o.serial ?? null,
            ca,
          }),
        );
      }
      continue;
    }
    if (o.action !== 'failed' && o.action !== 'blocked') continue;
    const limit = bindingLimit(o);
    const predicted = o.exitCode === ExitCode.BLOCKED && o.block !== undefined;
    if (predicted) {
      const freesAt = o.block!.allowedAt;
      if (freesAt !== null && (expiresAt === null || freesAt <= expiresAt)) continue; // frees in time: renewed once allowed
      const what = limit ? `${limit.name} (${limit.scope})` : 'a rate limit';
      out.push(
        event({
          ...base,
          kind: 'predicted-block',
          summary:
            `${o.lineage} will expire${expiresAt !== null ? ` ${utc(expiresAt)}` : ''} before the CA allows its renewal: ${what} ` +
            (freesAt === null ? 'does not allow it as asked.' : `frees ${utc(freesAt)}.`),
          reason: o.reason,
          next:
            'certctl sent nothing to the CA and will not until the limit allows it (each run checks again). To keep the site up: ' +
            'add a second CA to the lineage (ca: [first, second], docs/cas.md), ask the CA for a higher limit (config policies), or change the set of names.',
          retryAt: freesAt,
          expiresAt,
          limit,
        }),
      );
      continue;
    }
    const retryAt = Math.max(o.nextAt ?? 0, nextRun?.at ?? 0) || null;
    const rateLimited = o.exitCode === ExitCode.RATE_LIMITED;
    out.push(
      event({
        ...base,
        kind: 'renewal-failed',
        summary: `Renewing ${o.lineage} failed (exit ${o.exitCode})${expiresAt !== null ? `; the current certificate expires ${utc(expiresAt)}` : ''}.`,
        reason: o.reason,
        next:
          (rateLimited && o.nextAt ? `the CA refuses until ${utc(o.nextAt)}; certctl sends nothing before then and tries again at ${nextRunText} after it` : `certctl tries again at ${nextRunText}`) +
          (o.nextAt && expiresAt !== null && o.nextAt > expiresAt ? ' — after the certificate expires: act now (another CA, or fix the cause and run certctl renew).' : '; fix the cause above so that it succeeds.'),
        retryAt,
        expiresAt,
        limit,
      }),
    );
  }
  return out;
}

/** headroom-low events: the registered domains of the lineages worked on this run with few certificate slots left. */
export async function headroomEvents(ledger: Ledger, outcomes: readonly LineageOutcome[], now: number, below: number, overrides: Record<string, PolicyOverride> | undefined): Promise<NotifyEvent[]> {
  const worked = outcomes.filter((o) => o && o.action !== 'kept' && o.action !== 'dry-run');
  if (!worked.length) return [];
  const [{ registeredDomains }, { limitsOverview }] = await Promise.all([import('../names.js'), import('../plan.js')]);
  const domains = new Map<string, string>(); // domain → a lineage of it
  for (const o of worked) for (const d of registeredDomains(o.names)) if (!domains.has(d)) domains.set(d, o.lineage);
  const out: NotifyEvent[] = [];
  for (const [domain, lineage] of domains) {
    const ov = limitsOverview(ledger, domain, now, { overrides });
    const low = ov.entries.filter((e) => e.name === 'certificates-per-domain' && e.scope === domain && e.used > 0 && e.available <= below).sort((a, b) => a.available - b.available)[0];
    if (!low) continue;
    out.push(
      event({
        kind: 'headroom-low',
        subject: domain,
        lineage,
        names: [domain],
        at: now,
        summary: `${domain} has ${low.available} of ${low.capacity} certificates left at ${low.caId} (certificates-per-domain)${low.nextFreeAt !== null ? ` until ${utc(low.nextFreeAt)}` : ''}.`,
        reason: low.reason || 'the CA limits certificates per registered domain',
        next: 'certctl keeps renewing within the limit; hold back new names under this domain (issue, apply) until slots free, or ask the CA for more (config policies).',
        retryAt: null,
        headroom: { domain, limit: 'certificates-per-domain', available: low.available, capacity: low.capacity, nextFreeAt: low.nextFreeAt },
      }),
    );
  }
  return out;
}
