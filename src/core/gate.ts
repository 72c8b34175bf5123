/**
 * The gate before any request reaches a CA: the planner's verdict (rate
 * limits, duplicates) and the readiness checks (DNS, HTTP-01, CAA). Shared by
 * `issue` and `renew`, so both refuse the same things for the same reasons.
 */
import type { RunEnv } from './env.js';
import type { Ledger, LineageRow } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import type { PolicyOverride } from './limits/policies.js';
import type { StatePaths } from './paths.js';
import { BlockedError, PrecheckError } from './errors.js';
import { utc } from './clock.js';

export interface GateOptions {
  force?: boolean;
  forceRenewal?: boolean;
  precheck: boolean;
  resolver?: string;
  httpPort?: number;
  replaces?: string | null;
  ariWindowOpen?: boolean;
  renewal?: boolean;
  /** Policy overrides (config file `policies`); default: those of the config file in effect (--config). */
  overrides?: Record<string, PolicyOverride>;
  /** The state directory whose live/ and archive/ this ledger describes (default: the run's; a dry run's throw-away one). */
  paths?: StatePaths;
}

/**
 * What `obtain` needs from the gate: `check` (planner + readiness checks,
 * before anything is sent) and `recheck` (the planner alone, silent unless
 * blocked), given as a synchronous function that obtain runs inside the ONE
 * IMMEDIATE transaction that journals the orders (on PostgreSQL: under the
 * ledger's advisory lock) — so requests running at the same time, in one
 * process (`renew --concurrency`) or on several hosts of a fleet renewing
 * different lineages of one registered domain, cannot each take the same
 * last slot: the second sees the first's orders in the journal.
 */
export interface Gate {
  check(): Promise<void>;
  /** Loads what planning needs (policies, modules), then returns the planner as a synchronous check that throws BlockedError. */
  recheck(): Promise<() => void>;
}

export function gateFor(env: RunEnv, ledger: Ledger, l: LineageRow, ca: CaProfile, o: GateOptions): Gate {
  const planner = async () => {
    const { planFromLedger, planRequestFor } = await import('./plan.js');
    const overrides = o.overrides ?? (await (await import('./config/index.js')).loadConfig(env.configFile)).policies;
    return (speak: boolean) => planWith(planFromLedger, planRequestFor, overrides, speak);
  };
  const planWith = (planFromLedger: typeof import('./plan.js').planFromLedger, planRequestFor: typeof import('./plan.js').planRequestFor, overrides: Record<string, PolicyOverride> | undefined, speak: boolean) => {
    const now = env.now();
    const decision = planFromLedger(
      ledger,
      planRequestFor(ledger, {
        names: l.names,
        ca,
        directoryUrl: l.directory_url,
        keyType: l.key_type,
        replaces: o.replaces ?? null,
        ariWindowOpen: o.ariWindowOpen,
        forceRenewal: o.forceRenewal || o.renewal,
        renewalOf: o.renewal ? l.name : undefined,
        profile: l.settings.profile ?? null,
      }),
      now,
      overrides,
    );
    const liveHeld = decision.held.filter((h) => h.notAfter > now);
    if (speak && o.forceRenewal && !o.renewal && liveHeld.length > 0) {
      const dup = decision.limits.find((x) => x.name === 'duplicate-certificates');
      env.sink.attention(
        `warning: --force-renewal orders a certificate for exactly the names already held (valid until ${utc(Math.min(...liveHeld.map((h) => h.notAfter)))})` +
          (dup ? `; it spends ${dup.spend} of the CA's ${dup.capacity} duplicate slots (${Math.max(0, dup.after)} left after it).` : '.'),
      );
    }
    if (decision.verdict === 'blocked') {
      const blocking = decision.limits.filter((x) => x.after < 0 || x.evidence).sort((a, b) => (b.allowedAt ?? Infinity) - (a.allowedAt ?? Infinity));
      const why = blocking.length ? blocking.map((x) => `${x.reason}`).join('; ') : decision.notes.join(' ');
      const when = decision.allowedAt === null ? 'It will not be allowed as asked (change the request).' : `Next allowed ${utc(decision.allowedAt)}.` /* one time, in UTC, as every text line writes it */;
      const msg = `The CA would refuse this request: ${why}. ${when}`;
      const facts = { allowedAt: decision.allowedAt, limits: blocking.map((x) => ({ name: x.name, scope: x.scope, allowedAt: x.allowedAt })) };
      if (!o.force) throw new BlockedError(msg, 'Nothing was sent. See the whole picture with: certctl plan -d … ; --force sends anyway (and will most likely be refused).', facts);
      if (speak) env.sink.attention(`warning: ${msg} Sending anyway because of --force.`);
    } else if (speak && decision.verdict === 'last-slot') {
      env.sink.attention(`warning: this request spends the last free slot of a rate limit (see certctl plan).`);
    }
  };
  return {
    check: () => checkAll(),
    recheck: async () => {
      const plan = await planner();
      return () => plan(false);
    },
  };

  async function checkAll(): Promise<void> {
    const now = env.now();
    // Certificates in the state directory the ledger does not know (a lost or replaced ledger) are not ordered again.
    (await import('./import/state.js')).assertStateKnown(ledger, o.paths ?? env.paths, l);
    (await planner())(true);
    if (!o.precheck) {
      env.sink.info('Readiness checks skipped (--no-precheck); recorded on the order.');
      return;
    }
    // The readiness check belongs to the lineage's challenge solver (its own probe, plus DNS, CAA, failures).
    const { solverFor } = await import('./challenge/index.js');
    const { recordPrechecks } = await import('./ledger/prechecks.js');
    const resolver = o.resolver ?? l.settings.resolver;
    const report = await solverFor(l, { ledger, now: env.now, log: (line) => env.sink.info(line), resolver }).precheck({
      names: l.names,
      resolver,
      httpPort: o.httpPort ?? l.settings.httpPort,
      caaIdentities: ca.caaIdentities,
      caName: ca.name,
      directoryUrl: l.directory_url,
      ledger,
      now,
    });
    recordPrechecks(ledger, report.results, now);
    if (!report.ok) {
      const failed = report.results.filter((r) => !r.ok);
      throw new PrecheckError(
        `Not ready to order — ${failed.length} check(s) failed, so no order was created:\n  ${failed.map((r) => `${r.name} ${r.check}: ${r.summary}${r.advice ? ` → ${r.advice}` : ''}`).join('\n  ')}`,
        'Fix these and run again (details: certctl check -d …). --no-precheck skips the checks.',
      );
    }
  }
}
