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
import type { RunEnv } from '../env.js';
import type { Ledger, LineageRow, OrderRow, RenewalScanEntry, ScannedCertificate, ScannedLineage } from '../ledger/ledger.js';
import { findCa, caForLineage, candidateFor, type CaProfile } from '../ca/registry.js';
import { statePaths } from '../paths.js';
import { LineageStore } from '../store/lineage.js';
import { ariDecides, renewalDue, revokedAt, soonestExpiring } from './due.js';
import { refreshAri, renewalInfoUrl, ariDecision, dueBeforeNextRun, DIRECTORY_CACHE_MS, type AriDecision, type Getter, type NextRun } from './ari.js';
import { hookKey, hookSpecs, runHookSpec, type HookResult, type HookSpec } from './hooks.js';
import { AcmeError, BlockedError, CertctlError, ExitCode, type BlockFacts } from '../errors.js';
import type { NotifyReport } from '../notify/index.js';
import { InterruptedError, interruption } from '../interrupt.js';
import { humanDuration } from '../clock.js';
import type { DeployOutcome } from './deploy.js';
import { LEASE_TTL_MS, tryAcquireLease, usesLeases } from '../store/lease.js';
// obtain, the gate and the ACME transport (acme-client, axios, X.509 parsing) are
// imported only when a lineage is due or asks the CA: a run with nothing due never loads them.

export interface RenewOptions {
  /** Renew when fewer than this many days are left (overrides ARI and the lifetime rule). */
  days?: number;
  /** An ordered list of CA ids to choose from for every lineage of this run, instead of each lineage's own list (library renew({ ca })). */
  cas?: string[];
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
  /** --preferred-chain: from now on, write the chain whose topmost certificate is issued by this CN (recorded in each renewed lineage). */
  preferredChain?: string;
  /** Called after each lineage (progress on a TTY). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Stop at the first lineage that is due, before anything is attempted for it (no pre-hook, no
   * order): the report comes back with `halted: true` and no outcomes. `renew` off a terminal uses
   * this to decide first and wait its random delay only when something is due, with the run lock
   * released, then walks again (a lineage renewed meanwhile by another run is then not due).
   */
  haltAtFirstDue?: boolean;
  /**
   * When this run began (before it waited for the run lock or its random delay). A lineage whose
   * current certificate the ledger recorded since then was renewed by another run meanwhile: it is
   * not renewed again, --force-renewal included (two cron jobs, or a person and a timer, would
   * otherwise spend two duplicate-certificate slots on one need).
   */
  runStartedAt?: number;
  /**
   * When certctl will run renew next (schedule/next-run.ts estimateNextRun: the cron file, the run
   * history); an ARI moment chosen before it is renewed now (RFC 9773 §4.2, renew/ari.ts
   * dueBeforeNextRun). null/absent: the caller wakes at the chosen moment itself (the daemon).
   */
  nextRun?: NextRun | null;
  /**
   * On a shared (PostgreSQL) ledger: how long a lineage's lease lives without a heartbeat (default
   * LEASE_TTL_MS, 10 minutes). A host that dies mid-renewal leaves a lease another host takes once
   * it has expired (docs/fleet.md).
   */
  leaseTtlMs?: number;
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
  /**
   * The CA chosen from the lineage's CA list for this renewal, and why (docs/cas.md); `verdicts`: what
   * each CA of the list would have done (a notification of the fail-over can say why each was passed over).
   */
  ca?: { ca: string; first: string; failedOver: boolean; reason: string; verdicts?: import('../failover.js').CandidateVerdict[] };
  /** A due lineage not renewed (failed, blocked): when its current certificate expires (null: none). */
  expiresAt?: number | null;
  /** Blocked by the planner before anything was sent: the limits and when the request fits. */
  block?: BlockFacts;
  hooks: HookResult[];
}

/**
 * What the post-hook learns of the CAs this run used: CERTCTL_CAS ("lineage=ca …", every lineage
 * renewed at a CA of its list), CERTCTL_FAILOVERS ("lineage=first>ca …", those that failed over), and
 * for a run that renewed one such lineage its CERTCTL_CA / CERTCTL_CA_FIRST / CERTCTL_CA_REASON.
 */
export function postHookCaEnv(outcomes: readonly LineageOutcome[]): Record<string, string> {
  const chosen = outcomes.filter((x) => x?.ca && (x.action === 'renewed' || x.action === 'recovered'));
  if (!chosen.length) return {};
  const env: Record<string, string> = {
    CERTCTL_CAS: chosen.map((x) => `${x.lineage}=${x.ca!.ca}`).join(' '),
    CERTCTL_FAILOVERS: chosen.filter((x) => x.ca!.failedOver).map((x) => `${x.lineage}=${x.ca!.first}>${x.ca!.ca}`).join(' '),
  };
  if (chosen.length === 1) Object.assign(env, { CERTCTL_CA: chosen[0]!.ca!.ca, CERTCTL_CA_FIRST: chosen[0]!.ca!.first, CERTCTL_CA_REASON: chosen[0]!.ca!.reason });
  return env;
}

export interface RenewReport {
  outcomes: LineageOutcome[];
  /** A fleet host's lineages written from the shared ledger before the walk (renew/deploy.ts). */
  deployed: DeployOutcome[];
  hooks: HookResult[];
  exitCode: number;
  /** With haltAtFirstDue: a lineage is due and nothing was attempted. */
  halted?: boolean;
  /** What the config's `notify:` targets were sent (docs/notify.md); absent without targets. */
  notifications?: NotifyReport;
}


/** Severity order for the run's exit code: the most serious outcome wins. */
const SEVERITY: number[] = [ExitCode.INTERNAL, ExitCode.RATE_LIMITED, ExitCode.BLOCKED, ExitCode.VALIDATION_FAILED, ExitCode.PRECHECK_FAILED, ExitCode.CA_ERROR, ExitCode.CONFIG, ExitCode.LOCKED];

function worst(codes: number[]): number {
  const seen = new Set(codes); // one pass, not one per severity (100,000 lineages)
  for (const c of SEVERITY) if (seen.has(c)) return c;
  return codes.find((c) => c !== ExitCode.OK) ?? ExitCode.OK;
}


/** Lineages read per query while walking. */
const SCAN_PAGE = 2000;

/** The renewalInfo URL of a directory: the ledger's cached row read once per run while fresh, else renewalInfoUrl (which asks the CA and caches). */
type EndpointOf = (directoryUrl: string, now: number, get: Getter) => Promise<string | null>;

function endpointCache(ledger: Ledger): EndpointOf {
  const rows = new Map<string, ReturnType<Ledger['directoryInfo']>>();
  return async (url, now, get) => {
    if (!rows.has(url)) rows.set(url, ledger.directoryInfo(url));
    const cached = rows.get(url);
    if (cached && now - cached.fetched_at < DIRECTORY_CACHE_MS) return cached.renewal_info;
    const endpoint = await renewalInfoUrl(ledger, url, now, get);
    rows.set(url, ledger.directoryInfo(url));
    return endpoint;
  };
}

export async function runRenew(env: RunEnv, ledger: Ledger, o: RenewOptions): Promise<RenewReport> {
  // A `certctl delete` killed half-way is finished first: its lineage is gone, never renewed.
  (await import('../retire.js')).finishDeletions(env, ledger);
  // A fleet host first writes what the ledger holds newer than its files (ordered once, by any host); --dry-run writes nothing.
  const deployed = ledger.fleetMode && !o.dryRun ? await (await import('./deploy.js')).deployFromLedger(env, ledger, { only: o.only, deployHook: o.deployHook }) : [];
  const store = new LineageStore(env.paths);
  // Lineages with their current certificates and ARI rows are read a page at a time (one query
  // per page), the open orders in one query: nothing per lineage, so a ledger of 100,000
  // lineages is walked in about a second and memory does not grow with the ledger. A
  // lineage's rows change only while that lineage is worked on, so reading them ahead gives
  // the same answers as reading them when its turn comes.
  const only = o.only?.length ? o.only : undefined;
  const total = only ? ledger.renewalScan({ names: only }).length : ledger.lineageCount();
  let page: (RenewalScanEntry | null)[] = [];
  let pos = 0;
  let after: string | undefined;
  let exhausted = false;
  const nextEntry = (): RenewalScanEntry | undefined => {
    if (pos >= page.length) {
      if (exhausted) return undefined;
      page = ledger.renewalScan({ after, limit: SCAN_PAGE, names: only });
      pos = 0;
      exhausted = page.length < SCAN_PAGE;
      if (!page.length) return undefined;
      after = page[page.length - 1]!.lineage.name;
    }
    const e = page[pos]!;
    page[pos++] = null; // let what was read for it go once it is taken
    return e;
  };
  const openByLineage = new Map<string, OrderRow[]>();
  for (const order of ledger.openOrders()) {
    if (order.lineage === null) continue;
    const list = openByLineage.get(order.lineage);
    if (list) list.push(order);
    else openByLineage.set(order.lineage, [order]);
  }
  const endpointOf = endpointCache(ledger);
  const hooks: HookResult[] = [];
  // Pre-hooks run once per distinct command, before the first lineage that needs it is attempted
  // (the command line's, or a lineage's own, e.g. imported from certbot); post-hooks once each at the end.
  // Hook files (certbot's renewal-hooks/, carried over by migrate) before the command of the same kind, as certbot.
  const preRuns = new Map<string, Promise<boolean>>();
  const postHooks = new Map<string, HookSpec>();
  const beforeAttempt = async (l: ScannedLineage): Promise<boolean> => {
    const files = l.settings.hookFiles;
    for (const h of hookSpecs(files?.post, o.postHook ?? l.settings.postHook)) if (!postHooks.has(hookKey(h))) postHooks.set(hookKey(h), h);
    let ok = true;
    for (const h of hookSpecs(files?.pre, o.preHook ?? l.settings.preHook)) {
      const key = hookKey(h);
      if (!preRuns.has(key)) {
        preRuns.set(
          key,
          runHookSpec('pre-hook', h).then((r) => {
            hooks.push(r);
            return r.ok;
          }),
        );
      }
      if (!(await preRuns.get(key)!)) ok = false;
    }
    return ok;
  };

  let done = 0;
  // At most o.concurrency lineages at once, outcomes in lineage-name order (as mapLimit).
  const outcomes: LineageOutcome[] = [];
  let taken = 0;
  let halted = false;
  // Asked by renewOne once a lineage is due, before anything is attempted for it.
  const mayAttempt = (): boolean => {
    if (o.haltAtFirstDue) halted = true;
    return !halted;
  };
  // Stopped on request (a signal): no further lineage is taken; the ones being worked on unwind.
  let stopped = undefined as InterruptedError | undefined;
  const worker = async () => {
    for (;;) {
      if (halted || stopped) return;
      const e = nextEntry();
      if (!e) return;
      const i = taken++;
      let outcome: LineageOutcome | null;
      try {
        interruption.check();
        outcome = await renewOne(env, ledger, store, e.lineage, e.current, openByLineage.get(e.lineage.name) ?? [], endpointOf, o, beforeAttempt, mayAttempt);
      } catch (err) {
        if (!(err instanceof InterruptedError)) throw err;
        const before = stopped as InterruptedError | undefined; // another worker's stop, set while this one awaited
        stopped = before ? before.at(err.stopped) : err;
        return;
      }
      if (!outcome) return;
      outcomes[i] = outcome;
      o.onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, total)) }, worker));
  if (halted && !stopped) return { outcomes: [], deployed, hooks: [], exitCode: worst(deployed.map((x) => x.exitCode)), halted: true };
  // Post-hooks run also when stopped: a pre-hook may have stopped the web server.
  const postEnv = postHooks.size ? { ...postHookCaEnv(outcomes), ...postHookDomainEnv(outcomes) } : {};
  for (const post of postHooks.values()) hooks.push(await runHookSpec('post-hook', post, postEnv));
  if (stopped) throw stopped;
  const hookFailed = hooks.some((h) => !h.ok) || [...outcomes, ...deployed].some((x) => x.hooks.some((h) => !h.ok));
  const code = worst([...outcomes, ...deployed].map((x) => x.exitCode));
  const notifications = o.dryRun ? undefined : await notifyOutcomes(env, ledger, outcomes, o.nextRun ?? null);
  return { outcomes, deployed, hooks, exitCode: code === ExitCode.OK && hookFailed ? ExitCode.INTERNAL : code, ...(notifications ? { notifications } : {}) };
}

/**
 * The config's `notify:` targets are told what this run did (renew/notify.ts), and what an earlier
 * run could not deliver is sent again. Never throws and never changes the exit code: a failed
 * delivery is a line (the sink) and a retry by the next run.
 */
async function notifyOutcomes(env: RunEnv, ledger: Ledger, outcomes: readonly LineageOutcome[], nextRun: NextRun | null): Promise<NotifyReport | undefined> {
  let config;
  try {
    config = await (await import('../config/index.js')).loadConfig(env.configFile);
  } catch {
    return undefined; // the command checked the config before anything was sent; a library caller without one has no targets
  }
  if (!config.notify?.targets.length) return undefined;
  try {
    const [{ notify }, { renewEvents, headroomEvents }] = await Promise.all([import('../notify/index.js'), import('./notify.js')]);
    const now = env.now();
    const events = [...renewEvents(outcomes, now, nextRun), ...(await headroomEvents(ledger, outcomes, now, config.notify.headroomBelow, config.policies))];
    return await notify(ledger, config.notify, events, now, env.sink);
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    env.sink.attention(`notify: the notifications of this run could not be recorded or sent (${(err as Error).message}); the renewals are not affected.`);
    return undefined;
  }
}

/** Longest RENEWED_DOMAINS / FAILED_DOMAINS value: certbot drops trailing names past 16,000 characters. */
const DOMAINS_ENV_MAX = 16_000;

/**
 * The post-hook's RENEWED_DOMAINS and FAILED_DOMAINS as certbot 4.2+ sets them for `renew`: the
 * names of every lineage renewed (or whose interrupted order was finished) and of every due lineage
 * that was not (failed or blocked), space-separated, each empty when there are none, cut at the
 * last whole name within 16,000 characters.
 */
export function postHookDomainEnv(outcomes: readonly LineageOutcome[]): { RENEWED_DOMAINS: string; FAILED_DOMAINS: string } {
  const join = (names: string[]) => {
    let s = '';
    for (const n of names) {
      const next = s ? `${s} ${n}` : n;
      if (next.length > DOMAINS_ENV_MAX) break;
      s = next;
    }
    return s;
  };
  const of = (actions: Action[]) => outcomes.filter((x) => x && actions.includes(x.action)).flatMap((x) => x.names);
  return { RENEWED_DOMAINS: join(of(['renewed', 'recovered'])), FAILED_DOMAINS: join(of(['failed', 'blocked'])) };
}

/** acmeGet, loaded on the first request (most runs send none). */
const lazyGet =
  (caBundle: string | undefined, verbose: ((line: string) => void) | undefined): Getter =>
  async (url) => {
    const { acmeGet } = await import('../acme/transport.js');
    return acmeGet(url, { caBundle, verbose });
  };

/**
 * A Getter that does not ask a CA this run already found unreachable (ca_outages.last_run): its
 * callers keep what they had (ARI: the old window or the lifetime rule), and a renew run over many
 * lineages at a CA that times out does not wait for it once per lineage. Read only when a GET is due.
 */
const skipWhenDown =
  (ledger: Ledger, get: Getter): Getter =>
  async (url) => {
    const origin = new URL(url).origin;
    const down = ledger.caOutages().some((o) => o.last_run === ledger.runKey && new URL(o.directory_url).origin === origin);
    if (down) throw new Error(`${origin} could not be reached earlier in this run`);
    return get(url);
  };

async function renewOne(
  env: RunEnv,
  ledger: Ledger,
  store: LineageStore,
  l: ScannedLineage,
  certs: ScannedCertificate[],
  open: OrderRow[],
  endpointOf: EndpointOf,
  o: RenewOptions,
  beforeAttempt: (l: ScannedLineage) => Promise<boolean>,
  mayAttempt: () => boolean = () => true,
): Promise<LineageOutcome | null> {
  const now = env.now();
  const base = { lineage: l.name, names: l.names, hooks: [] as HookResult[] };
  const soonest = soonestExpiring(certs);
  const days = o.days ?? l.settings.renewDays;
  const get = skipWhenDown(ledger, lazyGet(l.settings.caBundle, env.verbose ? (x) => env.sink.verbose(x) : undefined));

  let ari: AriDecision | null = null;
  let replaces: string | null = null;
  const facts = { openOrders: open.length, soonest, revokedAt: revokedAt(certs), forceRenewal: o.forceRenewal, renewDays: days };
  if (soonest && ariDecides(facts)) {
    const endpoint = await endpointOf(l.directory_url, now, get);
    if (endpoint) {
      const id = soonest.ari_cert_id ?? (await computeAriId(ledger, store, l, soonest));
      if (id) {
        if (!soonest.ari_cert_id) ledger.setAriCertId(soonest.id, id);
        replaces = id;
        // refreshAri's own first step, on the row read with the scan: a window still fresh needs no query.
        const row = soonest.renewal_info;
        ari = row && row.ari_cert_id === id && row.next_check !== null && row.next_check > now ? ariDecision(row, now) : await refreshAri(ledger, ledger.certificate(soonest.id)!, id, endpoint, now, get);
        if (ari) ari = dueBeforeNextRun(ari, now, o.nextRun ?? null);
      }
    }
  }
  const verdict = renewalDue({ ...facts, ari }, now);
  const { due, reason } = verdict;
  const ariInfo = ari ? { windowStart: ari.windowStart, windowEnd: ari.windowEnd, chosenAt: ari.at } : null;

  if (verdict.rule === 'forced' && soonest && o.runStartedAt !== undefined) {
    // Only forced renewals can meet a certificate another run just stored: anything else re-read is no longer due.
    const recordedAt = ledger.certificate(soonest.id)?.created_at;
    if (recordedAt !== undefined && recordedAt >= o.runStartedAt) {
      const ago = humanDuration(Math.max(1000, now - recordedAt));
      return { lineage: l.name, names: l.names, hooks: [], action: 'kept', reason: `renewed ${ago} ago by another run while this one waited; not renewed twice (--force-renewal included)`, nextAt: null, exitCode: ExitCode.OK, serial: soonest.serial, notAfter: soonest.not_after, ari: ariInfo };
    }
  }

  if (o.dryRun) return dryRun(env, ledger, ledger.lineage(l.name)!, caForLineage(l), o, base, reason);

  if (!due) {
    const nextAt = verdict.nextAt;
    // A literal, not a spread of `base`: on 100,000 lineages the spread objects took twice the memory.
    return { lineage: l.name, names: l.names, hooks: [], action: 'kept', reason, nextAt, exitCode: ExitCode.OK, serial: soonest?.serial, notAfter: soonest?.not_after, ari: ariInfo };
  }

  // Due. Stopped here when the run decides first and waits before the first renewal (null: nothing attempted).
  if (!mayAttempt()) return null;
  // A shared ledger: one host renews this lineage, under its lease (another host renewing it now: left to it).
  if (!usesLeases(ledger)) return attemptDue(env, ledger, store, l, o, beforeAttempt, base, reason, replaces, ari, ariInfo, certs, open);
  const lease = tryAcquireLease(ledger, l.name, env.now, o.leaseTtlMs ?? LEASE_TTL_MS);
  if ('holder' in lease) {
    const h = lease.holder;
    return { lineage: l.name, names: l.names, hooks: [], action: 'kept', reason: `host ${h.host} (pid ${h.pid}) is renewing it now (lease until ${new Date(h.expires_at).toISOString()} unless renewed); not renewed twice`, nextAt: h.expires_at, exitCode: ExitCode.OK, serial: soonest?.serial, notAfter: soonest?.not_after, ari: ariInfo };
  }
  try {
    // The walk read this lineage ahead: another host may have renewed it between that read and this lease.
    const fresh = ledger.currentCertificates(l.name);
    const before = certs.map((c) => c.id).sort().join(',');
    if (fresh.map((c) => c.id).sort().join(',') !== before && fresh.length > 0) {
      const by = ledger.renewedBy(l.name);
      const c = fresh[0]!;
      return { lineage: l.name, names: l.names, hooks: [], action: 'kept', reason: `renewed by ${by ? `host ${by.host}` : 'another run'} while this run walked the ledger; not renewed twice`, nextAt: null, exitCode: ExitCode.OK, serial: c.serial, notAfter: c.not_after, ari: ariInfo };
    }
    return await attemptDue(env, ledger, store, l, o, beforeAttempt, base, reason, replaces, ari, ariInfo, certs, open);
  } finally {
    lease.release();
  }
}

/** A due lineage: the pre-hook, then obtain through the gate, then its deploy hooks. */
async function attemptDue(
  env: RunEnv,
  ledger: Ledger,
  store: LineageStore,
  l: ScannedLineage,
  o: RenewOptions,
  beforeAttempt: (l: ScannedLineage) => Promise<boolean>,
  base: { lineage: string; names: string[]; hooks: HookResult[] },
  reason: string,
  replaces: string | null,
  ari: AriDecision | null,
  ariInfo: LineageOutcome['ari'],
  certs: ScannedCertificate[],
  open: OrderRow[],
): Promise<LineageOutcome> {
  const now = env.now();
  const soonest = soonestExpiring(certs);
  // The whole lineage row (challenge, webroot, key type …) for the order.
  let full = ledger.lineage(l.name)!;
  // --preferred-chain on renew: this order uses it, and the lineage keeps it (as certbot's renewal conf does).
  if (o.preferredChain !== undefined && full.settings.preferredChain !== o.preferredChain && !o.dryRun) {
    ledger.setLineageSettings(full.name, { ...full.settings, preferredChain: o.preferredChain }, now);
    full = ledger.lineage(l.name)!;
  }
  let ca = caForLineage(l);
  // A lineage with a CA list: plan against each CA, CAA for each, before anything is sent (failover.ts).
  // An open order stays with its CA (it is resumed there).
  let caChoice = null as import('../failover.js').CaChoice | null;
  const list = (o.cas ?? full.settings.cas ?? []).map((id) => candidateFor(id, full)).filter((x): x is NonNullable<typeof x> => Boolean(x));
  const config = list.length > 1 ? await (await import('../config/index.js')).loadConfig(env.configFile) : null;
  const failover = await import('../failover.js');
  const waitUntil = soonest && !revokedAt(certs) ? failover.waitUntilFor(soonest.not_after) : null;
  const choose = async (refused?: import('../failover.js').ChooseInput['refused']): Promise<import('../failover.js').CaChoice> => {
    const ordered = full.settings.caStick ? [...list.filter((c) => c.directoryUrl === full.directory_url), ...list.filter((c) => c.directoryUrl !== full.directory_url)] : list;
    return failover.chooseCa(ledger, {
      names: l.names,
      keyType: full.key_type,
      // The lineage's own CA bundle is that CA's (the reachability probe trusts it).
      candidates: ordered.map((c) => ({ ...c, caBundle: c.ca.custom?.caBundle ?? (c.directoryUrl === full.directory_url ? full.settings.caBundle : undefined) })),
      waitUntil,
      renewalOf: l.name,
      forceRenewal: o.forceRenewal,
      current: { directoryUrl: full.directory_url, replaces, ariWindowOpen: ari?.windowOpen },
      caa: o.precheck,
      resolver: o.resolver ?? full.settings.resolver,
      overrides: config!.policies,
      now: env.now(),
      unreachable: { policy: failover.unreachablePolicy(config!.defaults.caUnreachable), validity: soonest && !revokedAt(certs) ? { notBefore: soonest.not_before, notAfter: soonest.not_after } : null, nextRun: o.nextRun?.at ?? null, probe: true },
      refused,
    });
  };
  /** Use the CA chosen: the lineage moves to it (its bundle with it); `replaces` means nothing to another CA. */
  const use = (c: import('../failover.js').CaChoice) => {
    if (c.directoryUrl !== full.directory_url) {
      const bundle = c.ca.custom?.caBundle;
      ledger.saveLineage({ ...full, ca_id: c.ca.id, directory_url: c.directoryUrl, settings: { ...full.settings, ...(bundle ? { caBundle: bundle } : {}) }, now });
      full = ledger.lineage(l.name)!;
      replaces = null;
    }
    ca = c.ca;
    caChoice = c;
    ledger.recordCaChoice({ lineage: l.name, at: env.now(), ca_id: ca.id, directory_url: c.directoryUrl, first_ca_id: c.firstId, failed_over: c.failedOver ? 1 : 0, reason: c.reason });
    const line = `${l.name}: CA ${ca.id}${c.failedOver ? ` instead of ${c.firstId} (fail-over)` : ''}: ${c.reason}.`;
    if (c.failedOver) env.sink.attention(line);
    else env.sink.verbose(line);
  };
  // Orders left open at the lineage's CA while it is recorded unreachable: the list's rule may give that CA
  // up too (docs/cas.md). Only orders not yet finalized (no certificate can exist for them) are abandoned —
  // closed in the journal, never resumed — and the renewal goes to the CA chosen.
  if (list.length > 1 && open.length > 0 && ledger.caOutage(full.directory_url) && open.every((x) => ABANDONABLE_STEPS.has(x.step) && x.directory_url === full.directory_url)) {
    let c: import('../failover.js').CaChoice;
    try {
      c = await choose();
    } catch (err) {
      if (!(err instanceof CertctlError)) throw err;
      const block = err instanceof BlockedError ? err.block : undefined;
      return { ...base, action: err.exitCode === ExitCode.BLOCKED ? 'blocked' : 'failed', reason: err.message, nextAt: null, exitCode: err.exitCode, ari: ariInfo, expiresAt: soonest?.not_after ?? null, ...(block ? { block } : {}) };
    }
    const mine = c.verdicts.find((x) => x.directoryUrl === full.directory_url);
    if (c.directoryUrl !== full.directory_url && mine?.unreachable?.givenUp) {
      ledger.abandonOrders(open.map((x) => x.id), env.now(), `abandoned at ${mine.caId} (unreachable); renewed at ${c.ca.id} instead: ${c.reason}`);
      env.sink.attention(`${l.name}: ${open.length} order(s) left open at ${mine.caId} abandoned (not finalized: no certificate exists for them).`);
      open = [];
      use(c);
    }
  }
  if (list.length > 1 && open.length === 0 && !caChoice) {
    try {
      use(await choose());
    } catch (err) {
      if (!(err instanceof CertctlError)) throw err;
      return { ...base, action: err.exitCode === ExitCode.BLOCKED ? 'blocked' : 'failed', reason: err.message, nextAt: null, exitCode: err.exitCode, ari: ariInfo };
    }
  }
  let eab = await failover.customEab(ca);
  if (!(await beforeAttempt(l))) {
    return { ...base, action: 'failed', reason: 'the pre-hook failed; nothing was ordered', nextAt: null, exitCode: ExitCode.INTERNAL, ari: ariInfo, expiresAt: soonest?.not_after ?? null };
  }
  const [{ obtain }, { gateFor }] = await Promise.all([import('../obtain.js'), import('../gate.js')]);
  const attempt = (rep: string | null) =>
    obtain(
      { lineage: full, ca, eab, replaces: rep, forced: o.forceRenewal, precheckSkipped: !o.precheck },
      {
        ledger,
        paths: env.paths,
        now: env.now,
        log: (x) => env.sink.verbose(x),
        warn: (x) => env.sink.attention(`${full.name}: ${x}`),
        verbose: env.verbose ? (x) => env.sink.verbose(x) : undefined,
        gate: gateFor(env, ledger, full, ca, { precheck: o.precheck, renewal: true, replaces: rep, ariWindowOpen: caChoice && caChoice.directoryUrl !== l.directory_url ? undefined : ari?.windowOpen, resolver: o.resolver, httpPort: o.httpPort }),
      },
    );
  try {
    let result;
    try {
      result = await attempt(replaces);
    } catch (err) {
      // RFC 9773: an already-replaced certificate → order again without `replaces`.
      if (replaces && err instanceof AcmeError && /alreadyReplaced|:conflict$/.test(err.problem.type)) {
        env.sink.verbose(`${l.name}: the CA says this certificate was already replaced; ordering without "replaces"`);
        result = await attempt(null);
      } else {
        // A 429 to newOrder at a CA of the list, lasting past the renewal deadline: the next CA, in this run.
        const refused = sameRunRefusal(err, caChoice, ledger, l.name, waitUntil, failover.refusalFor);
        if (!refused) throw err;
        env.sink.attention(`${l.name}: ${ca.id} refused newOrder (HTTP 429): ${(err as AcmeError).problem.detail}; choosing again from the list.`);
        let next: import('../failover.js').CaChoice;
        try {
          next = await choose(refused);
        } catch {
          throw err; // no other CA can take it: the 429 stands, as recorded
        }
        if (next.directoryUrl === caChoice!.directoryUrl) throw err;
        use(next);
        eab = await failover.customEab(ca);
        result = await attempt(null);
      }
    }
    const c = result.certificates[0]!;
    const outcome: LineageOutcome = {
      ...base,
      action: result.resumed ? 'recovered' : 'renewed',
      reason: result.resumed ? `finished the order interrupted at ${open.length ? [...new Set(open.map((x) => x.step))].join(', ') : 'storing'} (${reason})` : reason,
      nextAt: null,
      exitCode: ExitCode.OK,
      serial: c.serial,
      notAfter: c.notAfter,
      ari: ariInfo,
      ...(caChoice ? { ca: { ca: ca.id, first: caChoice.firstId, failedOver: caChoice.failedOver, reason: caChoice.reason, verdicts: caChoice.verdicts } } : {}),
    };
    // The CA that issued, and why (fail-over), for the hooks (docs/cas.md).
    const caEnv = { CERTCTL_CA: ca.id, ...(caChoice ? { CERTCTL_CA_FIRST: caChoice.firstId, CERTCTL_CA_FAILED_OVER: caChoice.failedOver ? '1' : '0', CERTCTL_CA_REASON: caChoice.reason } : {}) };
    for (const h of hookSpecs(l.settings.hookFiles?.deploy, o.deployHook ?? l.settings.deployHook)) {
      outcome.hooks.push(await runHookSpec('deploy-hook', h, { RENEWED_LINEAGE: store.liveDir(l.name), RENEWED_DOMAINS: l.names.join(' '), ...caEnv }));
    }
    return outcome;
  } catch (err) {
    if (!(err instanceof CertctlError) || err instanceof InterruptedError) throw err;
    const blocked = err.exitCode === ExitCode.BLOCKED || err.exitCode === ExitCode.RATE_LIMITED;
    const block = err instanceof BlockedError ? err.block : undefined;
    const retry = err instanceof AcmeError ? (err.problem.retryAfter ?? null) : null;
    return { ...base, action: blocked ? 'blocked' : 'failed', reason: err.message, nextAt: retry, exitCode: err.exitCode, ari: ariInfo, expiresAt: soonest?.not_after ?? null, ...(block ? { block } : {}) };
  }
}

/** Journal steps of an order before its CSR was sent: no certificate can exist for it, so it may be abandoned. */
const ABANDONABLE_STEPS = new Set(['creating', 'created', 'authorizing']);

/**
 * The `refused` input for choosing again after `err`, when it is a 429 to newOrder from the CA a
 * list chose, no order of the lineage is open (nothing else was spent there), and its Retry-After
 * is later than the lineage can wait; else null.
 */
function sameRunRefusal(
  err: unknown,
  choice: import('../failover.js').CaChoice | null,
  ledger: Ledger,
  lineage: string,
  waitUntil: number | null,
  failoverRefusal: typeof import('../failover.js').refusalFor,
): import('../failover.js').ChooseInput['refused'] | null {
  if (!choice || !(err instanceof AcmeError) || !err.rateLimited) return null;
  const last = ledger.lastProblemOf(lineage);
  if (!last || last.endpoint !== 'newOrder' || last.http_status !== 429) return null;
  if (ledger.openOrders(lineage).length > 0) return null;
  return failoverRefusal(choice, err.problem, waitUntil);
}

async function computeAriId(ledger: Ledger, store: LineageStore, l: ScannedLineage, cert: ScannedCertificate): Promise<string | null> {
  try {
    const suffix = !cert.role || cert.role === 'main' ? '' : `-${cert.role}`;
    const file = path.join(store.archiveDir(l.name), `cert${suffix}${cert.version}.pem`);
    // A fleet host that renews a lineage it does not deploy has no file: the ledger holds the certificate.
    const pem =
      !fs.existsSync(file) && ledger.fleetMode && cert.version !== null
        ? ledger.versionFiles(l.name, cert.version).find((f) => f.file === `cert${suffix}.pem`)?.data
        : fs.readFileSync(file, 'utf8');
    if (!pem) return null;
    const { ariCertId } = await import('../acme/ari.js'); // lazy: node-forge is loaded only when needed
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
async function dryRun(env: RunEnv, ledger: Ledger, l: LineageRow, ca: CaProfile, o: RenewOptions, base: Pick<LineageOutcome, 'lineage' | 'names' | 'hooks'>, reason: string): Promise<LineageOutcome> {
  const stagingUrl = !ca.stagingId ? null : ca.stagingId === ca.id ? l.directory_url : (findCa(ca.stagingId)?.directoryUrl ?? null);
  const staging = stagingUrl ? { ...(findCa(ca.stagingId!) ?? ca), directoryUrl: stagingUrl } : null;
  const [{ obtain }, { gateFor }, { Ledger: LedgerClass }] = await Promise.all([import('../obtain.js'), import('../gate.js'), import('../ledger/ledger.js')]);
  try {
    if (!staging) {
      await gateFor(env, ledger, l, ca, { precheck: o.precheck, renewal: true, resolver: o.resolver, httpPort: o.httpPort }).check();
      return { ...base, action: 'dry-run', reason: `${ca.name} has no staging CA known to certctl: planned and checked readiness only (${reason})`, nextAt: null, exitCode: ExitCode.OK };
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-dry-run-'));
    const tmpLedger = LedgerClass.open(path.join(tmp, 'ledger.sqlite'));
    try {
      tmpLedger.saveLineage({ ...l, directory_url: staging.directoryUrl, ca_id: staging.id, now: env.now() });
      const tl = tmpLedger.lineage(l.name)!;
      const r = await obtain(
        { lineage: tl, ca: staging, precheckSkipped: !o.precheck },
        { ledger: tmpLedger, paths: statePaths(tmp), now: env.now, log: (x) => env.sink.verbose(x), gate: gateFor(env, tmpLedger, tl, staging, { precheck: o.precheck, resolver: o.resolver, httpPort: o.httpPort, paths: statePaths(tmp) }) },
      );
      return { ...base, action: 'dry-run', reason: `a test certificate was issued by ${staging.name} (serial ${r.certificates[0]!.serial}); live files untouched`, nextAt: null, exitCode: ExitCode.OK };
    } finally {
      tmpLedger.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } catch (err) {
    if (!(err instanceof CertctlError) || err instanceof InterruptedError) throw err;
    return { ...base, action: 'failed', reason: `dry run: ${err.message}`, nextAt: null, exitCode: err.exitCode };
  }
}
