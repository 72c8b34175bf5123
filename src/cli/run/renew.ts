/** `certctl renew`: lock, walk (deciding first), the random delay only if something is due, report. */
import { runEnv, type Context, assertFleetKeyGiven } from '../context.js';
import { InputError, LedgerUnreachableError, StateError } from '../../core/errors.js';
import { assertLineageName, quote } from '../../core/names.js';
import { parseResolver } from '../../core/precheck/dns.js';
import * as v from '../validate.js';
import { acquireRunLock, renewLockName } from '../../core/store/lock.js';
import { lockWaitNotice, serialText } from '../output.js';
import { runRenew, type LineageOutcome, type RenewOptions } from '../../core/renew/runner.js';
import { utc, isoTime } from '../../core/clock.js';
import { wrap, utcTimes } from '../layout.js';
import { verdictJson } from '../ca-verdicts.js';
import { withConfigDefaults } from '../../core/config/index.js';
import { optionGiven } from '../action.js';
import { stopOnSignals } from '../signals.js';
import { interruption } from '../../core/interrupt.js';

/** The runner's options as commander parses them, plus what only the command uses. */
export interface RenewCliOptions extends Omit<RenewOptions, 'only' | 'onProgress' | 'leaseTtlMs'> {
  /** The caller handles SIGINT/SIGTERM (the daemon: the current run finishes, then it stops): renew installs no handler. */
  callerHandlesSignals?: boolean;
  /** Seconds a lineage's lease lives without a heartbeat (shared ledger; default 600). */
  leaseTtl?: number;
  certName?: string[];
  randomSleep: boolean;
  /** Upper bound of the random delay off a terminal, seconds (default 480). */
  randomSleepMax?: number;
  lockWait: number;
  ctSync: 'auto' | 'never';
  ctMaxAge: number;
  ctUrl?: string;
  /** The cron file that runs this renew (default /etc/cron.d/certctl): its schedule says when the next run is. */
  scheduleFile?: string;
  /** The daemon: it wakes at each chosen ARI moment itself, so no next-run estimate. */
  scheduledExactly?: boolean;
}

/** Default upper bound of the random delay before a non-interactive run, as certbot uses. */
export const RANDOM_SLEEP_MAX_S = 480;
/** The largest --random-sleep-max: half a day, the period of the twice-daily schedule. */
export const RANDOM_SLEEP_LIMIT_S = 43_200;

/** The random delay of this run, in whole seconds from 1 to max (0: none): only off a terminal, never for --dry-run. */
export function randomDelaySeconds(o: Pick<RenewCliOptions, 'randomSleep' | 'randomSleepMax' | 'dryRun'>, onTerminal: boolean, random: () => number = Math.random): number {
  const max = o.randomSleepMax ?? RANDOM_SLEEP_MAX_S;
  if (!o.randomSleep || o.dryRun || onTerminal || max <= 0) return 0;
  return 1 + Math.floor(random() * max);
}

export async function runRenewCommand(ctx: Context, o: RenewCliOptions): Promise<number> {
  try {
    return await renewCommand(ctx, o);
  } catch (err) {
    if (err instanceof LedgerUnreachableError && !o.dryRun) await tellLedgerUnreachable(ctx, err);
    throw err;
  }
}

/**
 * A shared ledger that cannot be reached cannot record a notification either: the config's targets
 * are told from memory, once per period from this host (docs/notify.md "ledger-unreachable"). The
 * run's outcome (exit 10, one sentence) is the same whether that is sent or not.
 */
export async function tellLedgerUnreachable(ctx: Context, err: LedgerUnreachableError): Promise<void> {
  try {
    const { loadConfig } = await import('../../core/config/index.js');
    const config = await loadConfig(ctx.opts.config);
    if (!config.notify?.targets.length) return;
    const { resolveHostName } = await import('../../core/fleet/host.js');
    const { notifyUnrecorded } = await import('../../core/notify/index.js');
    const { event } = await import('../../core/notify/types.js');
    const host = resolveHostName(ctx.opts.host);
    const now = ctx.now();
    await notifyUnrecorded(ctx.paths.root, config.notify, event({
      kind: 'ledger-unreachable',
      subject: host,
      at: now,
      summary: `certctl on ${host} cannot reach the shared ledger: no certificate can be renewed from this host until it is back.`,
      reason: err.message,
      next: `${err.hint ?? 'Run the same command again once the database is back.'} This is sent at most once per ${Math.round(config.notify.periodMs / 3_600_000)} h from this host while it lasts.`,
    }), now, ctx.out, host);
  } catch (e) {
    ctx.out.verbose(`notify: ledger-unreachable not sent: ${(e as Error).message}`);
  }
}

async function renewCommand(ctx: Context, o: RenewCliOptions): Promise<number> {
  // Config file defaults (README "Config file"); a flag given on the command line wins.
  o = await withConfigDefaults(ctx.opts.config, o, 'renew', (k) => optionGiven(o, k));
  // Every value is checked before the ledger is opened or anything is sent (exit 2).
  o.concurrency = v.wholeNumber(o.concurrency, '--concurrency', 1, 64)!;
  if (o.days !== undefined) {
    const d = Number(o.days);
    if (!(d > 0) || !Number.isFinite(d)) throw new InputError(`--days ${quote(String(o.days))} must be a positive number of days.`);
    o.days = d;
  }
  o.lockWait = v.seconds(o.lockWait, '--lock-wait')!;
  o.leaseTtl = v.wholeNumber(o.leaseTtl, '--lease-ttl', 2, 86_400);
  o.httpPort = v.wholeNumber(o.httpPort, '--http-port', 1, 65535);
  o.preferredChain = v.nonEmpty(o.preferredChain, '--preferred-chain', 'the Common Name of the issuer of the chain\'s topmost certificate, e.g. "ISRG Root X1"');
  if (o.resolver !== undefined) parseResolver(v.plain(o.resolver, '--resolver')!);
  o.ctMaxAge = v.seconds(o.ctMaxAge, '--ct-max-age', 24 * 365 * 10)!;
  v.url(o.ctUrl, '--ct-url');
  for (const n of o.certName ?? []) assertLineageName(n);
  if (o.scheduleFile !== undefined) {
    const fs = await import('node:fs');
    const file = v.plain(o.scheduleFile, '--schedule-file')!;
    try {
      fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(`--schedule-file ${quote(file)} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, 'Give the cron file that runs this renew (certctl cron install writes /etc/cron.d/certctl), or leave --schedule-file out.');
    }
  }
  for (const [k, flag] of [['preHook', '--pre-hook'], ['postHook', '--post-hook'], ['deployHook', '--deploy-hook']] as const) {
    v.hookCommand(o[k], flag);
  }
  if (o.randomSleepMax !== undefined && !(Number.isInteger(o.randomSleepMax) && o.randomSleepMax >= 0 && o.randomSleepMax <= RANDOM_SLEEP_LIMIT_S)) {
    throw new InputError(`--random-sleep-max must be a whole number of seconds from 0 to ${RANDOM_SLEEP_LIMIT_S} (0: no random delay).`);
  }
  // Off a terminal (cron, timers, fleets) renew waits a random delay so hosts do not reach the CA
  // in the same second, but only when something is due: the walk decides first (from the ledger,
  // ARI as cached) and stops at the first due lineage; the lock is released for the wait, and the
  // walk runs again after it. A run with nothing due returns at once.
  // A certbot migration cut short: certbot's links may point half at certctl's files; a renewal now
  // would give them a certificate and a key of different versions. Finish or revert it first.
  const { unfinishedMigration } = await import('../../core/import/migrate.js');
  const cut = unfinishedMigration(ctx.paths);
  if (cut) {
    throw new StateError(
      `A certbot migration of ${cut.certbotDir} is unfinished (${cut.state}): certctl renews nothing until it is finished or reverted.`,
      `Run certctl migrate certbot ${cut.certbotDir} --yes to finish it, or add --revert to undo it.`,
    );
  }
  // SIGINT/SIGTERM: stop, clean up, say where each order stopped (exit 130/143) — unless the caller (the
  // daemon) handles them itself: it lets the current run finish, then exits 0.
  if (!o.callerHandlesSignals) stopOnSignals(ctx.out);
  let delay = randomDelaySeconds(o, Boolean(process.stdout.isTTY));
  let waited = 0;
  const runStartedAt = ctx.now();
  const ledger = await ctx.ledger();
  assertFleetKeyGiven(ledger);
  const onWait = lockWaitNotice(ctx);
  let lock = await acquireRunLock(ledger, o.lockWait * 1000, ctx.now, onWait, renewLockName(ledger));
  // When cron starts renew next: an ARI moment chosen before then is renewed now (RFC 9773 §4.2).
  const nextRun = o.scheduledExactly ? null : (await import('../../core/schedule/next-run.js')).estimateNextRun(ledger, ctx.now(), o.scheduleFile);
  const runId = ledger.startRun('renew', ctx.now());
  try {
    // Other hosts' issuance counts against the same global limits: bring CT up to date first if asked.
    const { ctForPlan } = await import('../../core/ct/index.js');
    const { managedDomains } = await import('../../core/ledger/snapshot.js');
    const ctSync = o.ctSync === 'auto' ? await ctForPlan(ledger, managedDomains(ledger), ctx.now, { ctSync: o.ctSync, ctMaxAge: o.ctMaxAge, ctUrl: o.ctUrl }, (l) => ctx.out.verbose(l)) : [];
    const walk = () =>
      runRenew(runEnv(ctx), ledger, {
        days: o.days,
        forceRenewal: o.forceRenewal,
        dryRun: o.dryRun,
        concurrency: o.concurrency,
        precheck: o.precheck,
        preHook: o.preHook,
        postHook: o.postHook,
        deployHook: o.deployHook,
        only: o.certName,
        resolver: o.resolver,
        httpPort: o.httpPort,
        preferredChain: o.preferredChain,
        haltAtFirstDue: delay > 0,
        runStartedAt,
        nextRun,
        leaseTtlMs: o.leaseTtl === undefined ? undefined : o.leaseTtl * 1000,
        onProgress: (done, total) => {
          if (total > 1) ctx.out.progress(`${done}/${total} lineages checked`);
        },
      });
    let report = await walk();
    const deployedFirst = report.deployed;
    if (report.halted) {
      ctx.out.progressDone();
      ctx.out.info(`waiting ${delay} s before contacting the CA (random delay; --no-random-sleep to skip)`);
      lock.release();
      await interruption.sleep(delay * 1000); // a signal ends the wait (nothing was sent yet)
      waited = delay;
      delay = 0;
      lock = await acquireRunLock(ledger, o.lockWait * 1000, ctx.now, onWait, renewLockName(ledger));
      report = await walk();
      // What this host wrote from the ledger before the wait is part of this run's report.
      report = { ...report, deployed: [...deployedFirst, ...report.deployed], exitCode: Math.max(report.exitCode, ...deployedFirst.map((d) => d.exitCode)) };
    }
    ctx.out.progressDone();
    const counts = { ...Object.fromEntries(['renewed', 'recovered', 'kept', 'blocked', 'failed', 'dry-run'].map((a) => [a, report.outcomes.filter((x) => x.action === a).length])), deployed: report.deployed.filter((d) => d.action === 'deployed').length };
    ledger.finishRun(runId, report.exitCode, { ...counts, randomSleepSeconds: waited }, ctx.now());
    const now = ctx.now();
    if (ctx.out.json) {
      ctx.out.document('certctl.renew/1', {
        exitCode: report.exitCode,
        counts,
        randomSleepSeconds: waited,
        lineages: report.outcomes.map((x) => ({
          ...x,
          nextAt: iso(x.nextAt),
          notAfter: iso(x.notAfter),
          ari: x.ari ? { windowStart: iso(x.ari.windowStart), windowEnd: iso(x.ari.windowEnd), chosenAt: iso(x.ari.chosenAt) } : null,
          ...(x.expiresAt !== undefined ? { expiresAt: iso(x.expiresAt) } : {}),
          ...(x.block ? { block: { allowedAt: iso(x.block.allowedAt), limits: x.block.limits.map((l) => ({ ...l, allowedAt: iso(l.allowedAt) })) } } : {}),
          ...(x.ca ? { ca: { ...x.ca, verdicts: x.ca.verdicts?.map(verdictJson) ?? [] } } : {}),
        })),
        hooks: report.hooks,
        notifications: report.notifications ?? null,
        host: ledger.fleetMode ? ledger.host : null,
        deployed: report.deployed,
        ctSync,
      });
      return report.exitCode;
    }
    const p = ctx.out.palette;
    for (const d of report.deployed) {
      if (d.action === 'deployed') ctx.out.attention(`${p.ok('deployed')} ${d.lineage}: ${d.reason}`);
      else ctx.out.attention(`${p.bad('failed')}   ${d.lineage}: writing version ${d.version} from the ledger: ${d.reason}`);
    }
    if (report.outcomes.length === 0) ctx.out.info('No lineages yet: nothing to renew.');
    for (const x of report.outcomes) {
      if (x.action === 'kept' && ctx.opts.quiet) continue; // --quiet never prints kept lines: do not build them
      line(ctx, x, now);
    }
    for (const h of [...report.hooks, ...report.outcomes.flatMap((x) => x.hooks), ...report.deployed.flatMap((x) => x.hooks)]) {
      if (!h.ok) ctx.out.attention(wrap(ctx.out.palette.bad(`${h.hook} failed (exit ${h.code}): ${h.output.split('\n').slice(-3).join(' | ')}`), 4));
    }
    return report.exitCode;
  } finally {
    lock.release();
  }
}

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : isoTime(ms);
}

/** One lineage's line, wrapped under its name (layout.ts); every time once, in UTC. */
function line(ctx: Context, x: LineageOutcome, _now: number): void {
  const p = ctx.out.palette;
  const reason = utcTimes(x.reason);
  // The moment after the reason only when the reason does not already name it.
  const at = (label: string) => (x.nextAt && !reason.includes(utc(x.nextAt)) ? ` (${label} ${utc(x.nextAt)})` : '');
  switch (x.action) {
    case 'kept':
      ctx.out.info(wrap(`${p.dim('kept')}     ${x.lineage}: ${reason}${at('due')}`, 9));
      break;
    case 'renewed':
    case 'recovered':
      ctx.out.attention(wrap(`${p.ok(x.action)}${x.action === 'renewed' ? '  ' : ' '}${x.lineage}: serial ${serialText(x.serial!)}, valid until ${utc(x.notAfter!)} — ${reason}${x.ca ? ` (CA ${x.ca.ca}${x.ca.failedOver ? `, failed over from ${x.ca.first}: ${x.ca.reason}` : ''})` : ''}`, 9));
      break;
    case 'dry-run':
      ctx.out.attention(wrap(`${p.ok('dry-run')}  ${x.lineage}: ${reason}`, 9));
      break;
    default:
      ctx.out.attention(wrap(`${p.bad(x.action)}${' '.repeat(Math.max(1, 9 - x.action.length))}${x.lineage}: ${reason}${at('next try')}`, 9));
  }
}
