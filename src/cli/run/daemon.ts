/**
 * The scheduler loop: compute the next wake-up from the ledger and the cron
 * schedule (nextWake), sleep, run renew, log one line, repeat. The config
 * file is read again before each run. A signal during the sleep ends the
 * daemon at once; during a run, the run finishes first (every step of an
 * order is journalled, but a run cut short would leave work for the next).
 */
import type { Context } from '../context.js';
import { assertFleetKeyGiven } from '../context.js';
import { write } from '../output.js';
import type { RenewCliOptions } from './renew.js';
import { Output } from '../output.js';
import { CertctlError, ExitCode, LedgerUnreachableError } from '../../core/errors.js';
import { utc } from '../../core/clock.js';
import type { Wake } from '../../core/schedule/wake.js';

export interface DaemonOptions {
  schedule?: string;
  precheck: boolean;
  /** Also answer HTTP-01 from the fleet's ledger, as `certctl serve` (true: the default address). */
  serve?: string | true;
}

/** Sleep in slices no longer than this, then look again (clock changes, a ledger written by a manual run). */
const MAX_SLEEP_MS = 15 * 60_000;
/** While the shared ledger cannot be reached, the daemon asks again this often: one connection attempt, cheap for the server coming back. */
const UNREACHABLE_RETRY_MS = 30_000;

/** An Output that keeps renew's JSON document instead of printing it: the daemon logs one line per run. */
class RunCapture extends Output {
  doc: Record<string, unknown> | null = null;
  constructor(parent: Output) {
    super({ ...parent.opts, json: true, quiet: true });
  }
  override document(_schema: string, body: Record<string, unknown>): void {
    this.doc = body;
  }
  override error(): void {}
}

export async function runDaemon(ctx: Context, o: DaemonOptions): Promise<number> {
  const { cronSchedule, cronExpression, randomTwiceDaily } = await import('../../core/schedule/cron.js');
  const { nextWake } = await import('../../core/schedule/wake.js');
  const { scheduleFacts } = await import('../../core/schedule/facts.js');
  const { loadConfig, clearConfigCache } = await import('../../core/config/index.js');
  const { runRenewCommand, tellLedgerUnreachable } = await import('./renew.js');

  const schedule = cronSchedule(o.schedule ?? cronExpression(randomTwiceDaily()));
  await loadConfig(ctx.opts.config); // a broken config stops the start (exit 2), not a run hours later
  const serveAt = o.serve === undefined ? undefined : (await import('./serve.js')).serveSettings({ listen: o.serve === true ? undefined : o.serve }, '--serve');
  let ledger: Awaited<ReturnType<Context['ledger']>>;
  try {
    ledger = await ctx.ledger();
  } catch (err) {
    // Started while the shared ledger is down: exit 10 (systemd starts it again), and a person is told.
    if (err instanceof LedgerUnreachableError) await tellLedgerUnreachable(ctx, err);
    throw err;
  }
  assertFleetKeyGiven(ledger);
  let responder: { address: string; close(): Promise<void> } | undefined;
  if (serveAt) {
    (await import('./serve.js')).assertServable(ledger);
    responder = await (await import('../../core/fleet/serve.js')).startChallengeResponder(ledger, serveAt);
  }

  const log = (event: string, text: string, fields: Record<string, unknown>, attention = false) => {
    if (ctx.out.json) write(process.stdout, JSON.stringify({ schema: 'certctl.daemon/1', event, at: new Date(ctx.now()).toISOString(), ...fields }) + '\n');
    else if (attention) ctx.out.attention(`${utc(ctx.now())} ${text}`);
    else ctx.out.info(`${utc(ctx.now())} ${text}`);
  };

  let stopping: string | null = null;
  let running = false;
  let wakeUp: (() => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = sig;
    if (running) log('stopping', `${sig}: finishing the current renew run, then stopping`, { signal: sig });
    wakeUp?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  log('started', `certctl daemon started (pid ${process.pid}): schedule "${schedule.expr}", state ${ctx.paths.root}${responder ? `, answering HTTP-01 from the ledger on ${responder.address}` : ''}`, { pid: process.pid, schedule: schedule.expr, stateDir: ctx.paths.root, serve: responder?.address ?? null });
  let lastCode: number = ExitCode.OK;
  // Sleep until `at` (in slices), unless a signal comes.
  const sleepUntil = async (at: number) => {
    while (!stopping && ctx.now() < at) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(MAX_SLEEP_MS, Math.max(0, at - ctx.now())));
        wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wakeUp = null;
    }
  };
  let toldUnreachable = false;
  try {
    while (!stopping) {
      const now = ctx.now();
      let wake: Wake;
      try {
        wake = nextWake(scheduleFacts(ledger, now), schedule, now);
        toldUnreachable = false;
      } catch (err) {
        // The shared ledger is down: the daemon waits for it (nothing to plan without it; the files in
        // live/ are served as they are), and resumes its schedule once it answers (docs/fleet.md).
        if (!(err instanceof LedgerUnreachableError)) throw err;
        log('waiting', `${err.message} Trying again in ${UNREACHABLE_RETRY_MS / 1000} s.`, { error: err.message, retryAt: new Date(now + UNREACHABLE_RETRY_MS).toISOString() }, true);
        // Told once per outage (and once per notify period from this host, docs/notify.md): not at every
        // retry, which with every target down too would send again and wait out their time-outs each 30 s.
        if (!toldUnreachable) await tellLedgerUnreachable(ctx, err);
        toldUnreachable = true;
        await sleepUntil(now + UNREACHABLE_RETRY_MS);
        continue;
      }
      if (wake.at > now) {
        log('next', `next run ${utc(wake.at)} (${describe(wake)})`, { nextAt: new Date(wake.at).toISOString(), reason: wake.reason, lineage: wake.lineage });
        await sleepUntil(wake.at);
        if (stopping) break;
      }
      running = true;
      lastCode = await renewOnce(ctx, o, runRenewCommand, clearConfigCache, loadConfig, log, wake);
      running = false;
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await responder?.close();
  }
  log('stopped', `certctl daemon stopped (${stopping ?? 'done'})`, { signal: stopping, lastExitCode: lastCode });
  return ExitCode.OK;
}

function describe(w: Wake): string {
  switch (w.reason) {
    case 'schedule':
      return 'schedule';
    case 'catch-up':
      return 'no renew run in the last 13 h';
    case 'ari':
      return `ARI window of ${w.lineage}`;
    case 'retry-after':
      return `Retry-After of ${w.lineage} ends`;
    case 'due':
      return `${w.lineage} becomes due`;
    case 'resume':
      return `${w.lineage} has work to resume`;
  }
}

async function renewOnce(
  ctx: Context,
  o: DaemonOptions,
  runRenewCommand: (ctx: Context, o: RenewCliOptions) => Promise<number>,
  clearConfigCache: () => void,
  loadConfig: (file?: string) => Promise<{ defaults: { concurrency?: number } }>,
  log: (event: string, text: string, fields: Record<string, unknown>, attention?: boolean) => void,
  wake: Wake,
): Promise<number> {
  const started = Date.now();
  const out = new RunCapture(ctx.out);
  let code: number;
  let counts: Record<string, number> = {};
  let error: string | null = null;
  try {
    clearConfigCache();
    const cfg = await loadConfig(ctx.opts.config);
    code = await runRenewCommand({ ...ctx, out }, { concurrency: cfg.defaults.concurrency ?? 1, precheck: o.precheck, randomSleep: false, lockWait: 600, ctSync: 'never', ctMaxAge: 24, scheduledExactly: true, callerHandlesSignals: true });
    counts = ((out.doc?.counts ?? {}) as Record<string, number>) ?? {};
  } catch (err) {
    code = err instanceof CertctlError ? err.exitCode : ExitCode.INTERNAL;
    error = (err as Error).message;
  }
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const summary = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  log('run', `renew (${wake.reason}) exit ${code}: ${error ?? (summary || 'no lineages')} (${secs} s)`, { reason: wake.reason, exitCode: code, counts, error, seconds: Number(secs) }, code !== ExitCode.OK);
  return code;
}
