/**
 * `certctl renew`: walk the lineages, renew exactly what is due, exactly
 * once. Interrupted orders are resumed first (a crash never costs a second
 * certificate); a lineage that is not due is left alone; a due one goes
 * through the same gate as `issue` (planner, readiness checks), so a limit
 * the ledger knows — including a 429 recorded by an earlier run — stops it
 * before anything is sent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Context } from '../../cli/context.js';
import type { Ledger, LineageRow, CertificateRow } from '../ledger/ledger.js';
import { Ledger as LedgerClass } from '../ledger/ledger.js';
import { findCa, unknownCa, type CaProfile } from '../ca/registry.js';
import { statePaths } from '../paths.js';
import { LineageStore } from '../store/lineage.js';
import { obtain } from '../obtain.js';
import { gateFor } from '../gate.js';
import { isDue, dueAt } from './due.js';
import { refreshAri, renewalInfoUrl, type AriDecision, type Getter } from './ari.js';
import { runHook, type HookResult } from './hooks.js';
import { AcmeError, CertctlError, ExitCode } from '../errors.js';
import { acmeGet } from '../acme/transport.js';
import { mapLimit } from '../concurrency.js';

export interface RenewOptions {
  /** Renew when fewer than this many days are left (overrides ARI and the lifetime rule). */
  days?: number;
  forceRenewal?: boolean;
  dryRun?: boolean;
  /** Lineages renewed at the same time. */
  concurrency: number;
  precheck: boolean;
  preHook?: string;
  postHook?: string;
  deployHook?: string;
  /** Only these lineages (--cert-name). */
  only?: string[];
  resolver?: string;
  httpPort?: number;
  /** Called after each lineage (progress on a TTY). */
  onProgress?: (done: number, total: number) => void;
}

export type Action = 'kept' | 'renewed' | 'recovered' | 'blocked' | 'failed' | 'dry-run';

export interface LineageOutcome {
  lineage: string;
  names: string[];
  action: Action;
  reason: string;
  /** When it will be due / retried (kept, blocked). */
  nextAt: number | null;
  exitCode: number;
  serial?: string;
  notAfter?: number;
  ari?: { windowStart: number | null; windowEnd: number | null; chosenAt: number | null } | null;
  hooks: HookResult[];
}

export interface RenewReport {
  outcomes: LineageOutcome[];
  hooks: HookResult[];
  exitCode: number;
}

function caOf(l: LineageRow): CaProfile {
  const known = findCa(l.ca_id);
  return known ? { ...known, directoryUrl: l.directory_url } : unknownCa(l.directory_url);
}

/** Severity order for the run's exit code: the most serious outcome wins. */
const SEVERITY: number[] = [ExitCode.INTERNAL, ExitCode.RATE_LIMITED, ExitCode.BLOCKED, ExitCode.VALIDATION_FAILED, ExitCode.PRECHECK_FAILED, ExitCode.CA_ERROR, ExitCode.CONFIG, ExitCode.LOCKED];

function worst(codes: number[]): number {
  for (const c of SEVERITY) if (codes.includes(c)) return c;
  return codes.find((c) => c !== ExitCode.OK) ?? ExitCode.OK;
}


export async function runRenew(ctx: Context, ledger: Ledger, o: RenewOptions): Promise<RenewReport> {
  const store = new LineageStore(ctx.paths);
  let lineages = ledger.lineages();
  if (o.only?.length) lineages = lineages.filter((l) => o.only!.includes(l.name));
  const hooks: HookResult[] = [];
  // Pre-hooks run once per distinct command, before the first lineage that needs it is attempted
  // (the command line's, or a lineage's own, e.g. imported from certbot); post-hooks once each at the end.
  const preRuns = new Map<string, Promise<boolean>>();
  const postHooks = new Set<string>();
  const beforeAttempt = async (l: LineageRow): Promise<boolean> => {
    const post = o.postHook ?? (l.settings.postHook as string | undefined);
    if (post) postHooks.add(post);
    const pre = o.preHook ?? (l.settings.preHook as string | undefined);
    if (!pre) return true;
    if (!preRuns.has(pre)) {
      preRuns.set(
        pre,
        runHook('pre-hook', pre).then((r) => {
          hooks.push(r);
          return r.ok;
        }),
      );
    }
    return preRuns.get(pre)!;
  };

  let done = 0;
  const outcomes = await mapLimit(lineages, o.concurrency, async (l) => {
    const out = await renewOne(ctx, ledger, store, l, o, beforeAttempt);
    o.onProgress?.(++done, lineages.length);
    return out;
  });
  for (const post of postHooks) hooks.push(await runHook('post-hook', post));
  const hookFailed = [...hooks, ...outcomes.flatMap((x) => x.hooks)].some((h) => !h.ok);
  const code = worst(outcomes.map((x) => x.exitCode));
  return { outcomes, hooks, exitCode: code === ExitCode.OK && hookFailed ? ExitCode.INTERNAL : code };
}

function soonestOf(certs: CertificateRow[]): CertificateRow | undefined {
  return certs.reduce<CertificateRow | undefined>((a, c) => (!a || c.not_after < a.not_after ? c : a), undefined);
}

async function renewOne(
  ctx: Context,
  ledger: Ledger,
  store: LineageStore,
  l: LineageRow,
  o: RenewOptions,
  beforeAttempt: (l: LineageRow) => Promise<boolean>,
): Promise<LineageOutcome> {
  const now = ctx.now();
  const ca = caOf(l);
  const base = { lineage: l.name, names: l.names, hooks: [] as HookResult[] };
  const open = ledger.openOrders(l.name);
  const certs = ledger.currentCertificates(l.name);
  const soonest = soonestOf(certs);
  const days = o.days ?? l.settings.renewDays;
  const get: Getter = (url) => acmeGet(url, { caBundle: l.settings.caBundle, verbose: ctx.opts.verbose ? (x) => ctx.out.verbose(x) : undefined });

  let due = false;
  let reason = '';
  let ari: AriDecision | null = null;
  let replaces: string | null = null;
  if (open.length) {
    due = true;
    reason = `${open.length} interrupted order(s) to finish`;
  } else if (!soonest) {
    due = true;
    reason = 'no certificate yet';
  } else if (o.forceRenewal) {
    due = true;
    reason = '--force-renewal';
  } else if (days !== undefined) {
    due = isDue(soonest, now, days);
    reason = due ? `fewer than ${days} days left` : `more than ${days} days left`;
  } else {
    const endpoint = await renewalInfoUrl(ledger, l.directory_url, now, get);
    if (endpoint) {
      const id = soonest.ari_cert_id ?? (await computeAriId(store, l, soonest));
      if (id) {
        if (!soonest.ari_cert_id) ledger.setAriCertId(soonest.id, id);
        replaces = id;
        ari = await refreshAri(ledger, soonest, id, endpoint, now, get);
      }
    }
    if (ari) {
      due = ari.due;
      reason = ari.reason;
    } else {
      due = isDue(soonest, now);
      reason = due ? 'less than a third of its lifetime left' : `not due before ${new Date(dueAt(soonest)).toISOString()}`;
    }
  }
  const ariInfo = ari ? { windowStart: ari.windowStart, windowEnd: ari.windowEnd, chosenAt: ari.at } : null;

  if (o.dryRun) return dryRun(ctx, ledger, l, ca, o, base, reason);

  if (!due) {
    const nextAt = ari?.at ?? (soonest ? dueAt(soonest, days) : null);
    return { ...base, action: 'kept', reason, nextAt, exitCode: ExitCode.OK, serial: soonest?.serial, notAfter: soonest?.not_after, ari: ariInfo };
  }

  if (!(await beforeAttempt(l))) {
    return { ...base, action: 'failed', reason: 'the pre-hook failed; nothing was ordered', nextAt: null, exitCode: ExitCode.INTERNAL, ari: ariInfo };
  }
  const attempt = (rep: string | null) =>
    obtain(
      { lineage: l, ca, replaces: rep, forced: o.forceRenewal, precheckSkipped: !o.precheck },
      {
        ledger,
        paths: ctx.paths,
        now: ctx.now,
        log: (x) => ctx.out.verbose(x),
        verbose: ctx.opts.verbose ? (x) => ctx.out.verbose(x) : undefined,
        gate: gateFor(ctx, ledger, l, ca, { precheck: o.precheck, renewal: true, replaces: rep, ariWindowOpen: ari?.windowOpen, resolver: o.resolver, httpPort: o.httpPort }),
      },
    );
  try {
    let result;
    try {
      result = await attempt(replaces);
    } catch (err) {
      // RFC 9773: an already-replaced certificate → order again without `replaces`.
      if (replaces && err instanceof AcmeError && /alreadyReplaced|:conflict$/.test(err.problem.type)) {
        ctx.out.verbose(`${l.name}: the CA says this certificate was already replaced; ordering without "replaces"`);
        result = await attempt(null);
      } else throw err;
    }
    const c = result.certificates[0]!;
    const outcome: LineageOutcome = {
      ...base,
      action: result.resumed ? 'recovered' : 'renewed',
      reason: result.resumed ? `finished an interrupted order (${reason})` : reason,
      nextAt: null,
      exitCode: ExitCode.OK,
      serial: c.serial,
      notAfter: c.notAfter,
      ari: ariInfo,
    };
    const deployHook = o.deployHook ?? (l.settings.deployHook as string | undefined);
    if (deployHook) {
      const r = await runHook('deploy-hook', deployHook, { RENEWED_LINEAGE: store.liveDir(l.name), RENEWED_DOMAINS: l.names.join(' ') });
      outcome.hooks.push(r);
    }
    return outcome;
  } catch (err) {
    if (!(err instanceof CertctlError)) throw err;
    const blocked = err.exitCode === ExitCode.BLOCKED || err.exitCode === ExitCode.RATE_LIMITED;
    const retry = err instanceof AcmeError ? (err.problem.retryAfter ?? null) : null;
    return { ...base, action: blocked ? 'blocked' : 'failed', reason: err.message, nextAt: retry, exitCode: err.exitCode, ari: ariInfo };
  }
}

async function computeAriId(store: LineageStore, l: LineageRow, cert: CertificateRow): Promise<string | null> {
  try {
    const suffix = !cert.role || cert.role === 'main' ? '' : `-${cert.role}`;
    const pem = fs.readFileSync(path.join(store.archiveDir(l.name), `cert${suffix}${cert.version}.pem`), 'utf8');
    const { ariCertId } = (await import('../acme/ari.js' as string)) as { ariCertId(pem: string): string };
    return ariCertId(pem);
  } catch {
    return null;
  }
}

/**
 * --dry-run: the whole request against the staging CA of the same family,
 * in a throw-away state directory, so neither live/ nor the ledger's
 * lineages change. Without a staging CA: plan and readiness checks only.
 */
async function dryRun(ctx: Context, ledger: Ledger, l: LineageRow, ca: CaProfile, o: RenewOptions, base: Pick<LineageOutcome, 'lineage' | 'names' | 'hooks'>, reason: string): Promise<LineageOutcome> {
  const stagingUrl = !ca.stagingId ? null : ca.stagingId === ca.id ? l.directory_url : (findCa(ca.stagingId)?.directoryUrl ?? null);
  const staging = stagingUrl ? { ...(findCa(ca.stagingId!) ?? ca), directoryUrl: stagingUrl } : null;
  try {
    if (!staging) {
      await gateFor(ctx, ledger, l, ca, { precheck: o.precheck, renewal: true, resolver: o.resolver, httpPort: o.httpPort })();
      return { ...base, action: 'dry-run', reason: `${ca.name} has no staging CA known to certctl: planned and checked readiness only (${reason})`, nextAt: null, exitCode: ExitCode.OK };
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-dry-run-'));
    const tmpLedger = LedgerClass.open(path.join(tmp, 'ledger.sqlite'));
    try {
      tmpLedger.saveLineage({ ...l, directory_url: staging.directoryUrl, ca_id: staging.id, now: ctx.now() });
      const tl = tmpLedger.lineage(l.name)!;
      const r = await obtain(
        { lineage: tl, ca: staging, precheckSkipped: !o.precheck },
        { ledger: tmpLedger, paths: statePaths(tmp), now: ctx.now, log: (x) => ctx.out.verbose(x), gate: gateFor(ctx, tmpLedger, tl, staging, { precheck: o.precheck, resolver: o.resolver, httpPort: o.httpPort }) },
      );
      return { ...base, action: 'dry-run', reason: `a test certificate was issued by ${staging.name} (serial ${r.certificates[0]!.serial}); live files untouched`, nextAt: null, exitCode: ExitCode.OK };
    } finally {
      tmpLedger.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    if (!(err instanceof CertctlError)) throw err;
    return { ...base, action: 'failed', reason: `dry run: ${err.message}`, nextAt: null, exitCode: err.exitCode };
  }
}
