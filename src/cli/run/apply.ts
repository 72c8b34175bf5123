/**
 * `certctl apply`: for each certificate the config file declares — plan it
 * (the same planner and policy overrides as issue), leave it alone when a
 * lineage already holds the exact set, stop at a predicted refusal, and
 * otherwise issue it through issue's checks (issueRequestFrom) and core's
 * issueLineage (which plans again under the run lock and runs the readiness
 * checks). Lineages the file does not declare are
 * reported and left alone: apply never deletes or revokes.
 */
import { utcTimes } from '../layout.js';
import path from 'node:path';
import { runEnv, type Context, assertFleetKeyGiven } from '../context.js';
import { acquireRunLock } from '../../core/store/lock.js';
import type { IssueOptions } from './issue.js';
import { CertctlError, ExitCode, InputError } from '../../core/errors.js';
import { defaultConfigPath, loadConfig, type Config, type ConfigDns, type DeclaredCertificate } from '../../core/config/index.js';
import type { DnsOptions } from '../dns-options.js';
import type { Ledger, LineageRow, LineageSettings } from '../../core/ledger/ledger.js';
import { utc, humanRelative } from '../../core/clock.js';
import { soonestExpiring } from '../../core/renew/due.js';
import { mapLimit } from '../../core/concurrency.js';
import { lockWaitNotice, serialText } from '../output.js';

export interface ApplyOptions {
  dryRun?: boolean;
  concurrency?: number;
  precheck: boolean;
  lockWait: number;
}

export type ApplyAction = 'held' | 'deployed' | 'issued' | 'recovered' | 'would-issue' | 'blocked' | 'failed';

export interface ApplyItem {
  /** Lineage name (declared, or the lineage holding the set, or the default: first name). */
  name: string;
  names: string[];
  line: number;
  ca: string | null;
  directoryUrl: string | null;
  keyType: string | null;
  action: ApplyAction;
  /** The planner's verdict before anything was done (null when planning itself failed). */
  verdict: string | null;
  allowedAt: number | null;
  reason: string;
  exitCode: number;
  serial?: string;
  notAfter?: number;
}

/** Most serious first, as renew ranks them; "nothing to do" (3) never counts as a failure here. */
const SEVERITY: number[] = [ExitCode.INTERNAL, ExitCode.RATE_LIMITED, ExitCode.BLOCKED, ExitCode.VALIDATION_FAILED, ExitCode.PRECHECK_FAILED, ExitCode.CA_ERROR, ExitCode.CONFIG, ExitCode.LOCKED];
function worst(codes: number[]): number {
  for (const c of SEVERITY) if (codes.includes(c)) return c;
  return ExitCode.OK;
}

/** The issue options a declared certificate stands for: its own fields, then the config's defaults. */
/** A config file's `dns:` as issue's --dns options. */
function dnsOptionsOf(d: ConfigDns): DnsOptions {
  return {
    dns: d.method,
    dnsServer: d.server,
    tsigKey: d.tsigKey,
    tsigKeyName: d.tsigKeyName,
    dnsZone: d.zone,
    dnsPropagationTimeout: d.propagationTimeout,
    dnsHook: d.hook,
    dnsCleanupHook: d.cleanupHook,
    acmeDnsCredentials: d.acmeDnsCredentials,
    acmeDnsApi: d.acmeDnsApi,
  };
}

export function issueOptionsFor(c: DeclaredCertificate, cfg: Config, o: ApplyOptions): IssueOptions {
  const d = cfg.defaults;
  const ownCa = c.ca !== undefined || c.server !== undefined;
  // The certificate's own challenge wins; else the defaults' dns, then their webroot.
  const dns = c.dns ?? (c.webroot || c.standalone || c.standaloneTls || c.serve ? undefined : d.dns);
  return {
    domain: c.domains,
    ...(dns ? dnsOptionsOf(dns) : {}),
    webroot: c.webroot ?? (c.standalone || c.standaloneTls || c.serve || dns ? undefined : d.webroot),
    forceWebroot: c.forceWebroot ?? d.forceWebroot,
    standalone: c.standalone,
    serve: c.serve,
    standaloneTls: c.standaloneTls,
    tlsPort: c.tlsPort,
    ca: ownCa ? c.ca : d.ca,
    server: ownCa ? c.server : d.server,
    staging: c.staging,
    caBundle: c.caBundle ?? d.caBundle,
    caStick: c.caStick ?? d.caStick,
    preferredChain: c.preferredChain ?? d.preferredChain,
    email: c.email ?? d.email,
    keyType: c.keyType ?? d.keyType ?? '',
    certName: c.name,
    precheck: o.precheck,
    resolver: d.resolver,
    httpPort: d.httpPort,
    lockWait: o.lockWait,
  };
}

export async function runApply(ctx: Context, o: ApplyOptions): Promise<number> {
  const cfg = await loadConfig(ctx.opts.config);
  if (!cfg.file) {
    throw new InputError(`No config file: ${defaultConfigPath()} does not exist.`, 'Write one (README "Config file") or point at it with --config FILE.');
  }
  const v = await import('../validate.js');
  const concurrency = v.wholeNumber(o.concurrency ?? cfg.defaults.concurrency ?? 1, '--concurrency', 1, 64)!;
  o = { ...o, lockWait: v.seconds(o.lockWait, '--lock-wait')! };
  const ledger = await ctx.ledger();
  assertFleetKeyGiven(ledger);
  const total = cfg.certificates.length;
  let done = 0;
  const items = await mapLimit(cfg.certificates, concurrency, async (c, i) => {
    const item = await applyOne(ctx, ledger, cfg, c, i, o);
    if (total > 1) ctx.out.progress(`${++done}/${total} certificates`);
    return item;
  });
  ctx.out.progressDone();
  const declared = new Set(items.map((x) => x.name));
  const undeclared = ledger
    .lineages()
    .map((l) => l.name)
    .filter((n) => !declared.has(n));
  const code = worst(items.map((x) => x.exitCode));
  const now = ctx.now();

  if (ctx.out.json) {
    const iso = (t: number | null | undefined) => (t === null || t === undefined ? null : new Date(t).toISOString());
    ctx.out.document('certctl.apply/1', {
      config: cfg.file,
      dryRun: Boolean(o.dryRun),
      exitCode: code,
      certificates: items.map((x) => ({ ...x, allowedAt: iso(x.allowedAt), notAfter: iso(x.notAfter), serial: x.serial ?? null })),
      undeclared,
    });
    return code;
  }
  if (items.length === 0) ctx.out.info(`${cfg.file} declares no certificates (add a "certificates:" list); nothing to do.`);
  const p = ctx.out.palette;
  for (const x of items) {
    const head = `${x.name} (${x.names.join(', ') || '-'})`;
    switch (x.action) {
      case 'held':
        ctx.out.info(`${p.dim('held'.padEnd(11))} ${head}: ${utcTimes(x.reason)}`);
        break;
      case 'would-issue':
        ctx.out.attention(`${p.warn('would issue'.padEnd(11))} ${head}: ${utcTimes(x.reason)}`);
        break;
      case 'issued':
      case 'recovered':
      case 'deployed':
        ctx.out.attention(`${p.ok(x.action.padEnd(11))} ${head}: ${utcTimes(x.reason)}`);
        break;
      default:
        ctx.out.attention(`${p.bad(x.action.padEnd(11))} ${head}: ${utcTimes(x.reason)}${x.allowedAt ? ` (next allowed ${utc(x.allowedAt)}, ${humanRelative(x.allowedAt, now)})` : ''}`);
    }
  }
  if (undeclared.length) ctx.out.info(`Not in ${path.basename(cfg.file)} (left alone): ${undeclared.join(', ')}`);
  if (items.length) {
    const count = (a: ApplyAction[]) => items.filter((x) => a.includes(x.action)).length;
    const parts = [
      [count(['held']), 'held'],
      [count(['issued', 'recovered']), 'issued'],
      [count(['deployed']), 'deployed here from the ledger'],
      [count(['would-issue']), 'would be issued'],
      [count(['blocked']), 'blocked'],
      [count(['failed']), 'failed'],
    ].filter(([n]) => (n as number) > 0);
    const line = `${items.length} declared: ${parts.map(([n, w]) => `${n} ${w}`).join(', ')}${o.dryRun ? ' (dry run: nothing sent)' : ''}.`;
    if (code === ExitCode.OK) ctx.out.info(line);
    else ctx.out.attention(line);
  }
  return code;
}

async function applyOne(ctx: Context, ledger: Ledger, cfg: Config, c: DeclaredCertificate, index: number, o: ApplyOptions): Promise<ApplyItem> {
  const { resolveCaList } = await import('../../core/ca/registry.js');
  const { normalizeNames, setKey, defaultLineageName } = await import('../../core/names.js');
  const { parseKeyType } = await import('../../core/keys/index.js');
  const { planFromLedger, planRequestFor } = await import('../../core/plan.js');
  const where = `${cfg.file}:${c.line}: certificates[${index}]`;
  const base: ApplyItem = { name: c.name ?? c.domains[0] ?? `certificates[${index}]`, names: c.domains, line: c.line, ca: null, directoryUrl: null, keyType: null, action: 'failed', verdict: null, allowedAt: null, reason: '', exitCode: ExitCode.OK };
  const io = issueOptionsFor(c, cfg, o);
  let item = base;
  try {
    // 1. What is asked: CA, names under its rules, key type.
    // One CA or an ordered list (fail-over: issueLineage chooses among them, docs/cas.md).
    const cas = resolveCaList({ ca: io.ca, server: io.server, staging: io.staging });
    const { ca, directoryUrl } = cas[0]!;
    const names = normalizeNames(io.domain, { allowIp: cas.every((x) => x.ca.ipIdentifiers), allowWildcard: io.dns !== undefined, dns01: io.dns !== undefined, maxNames: Math.min(...cas.map((x) => x.ca.maxNames)) });
    io.keyType ||= ca.keyTypes.length === 1 ? ca.keyTypes[0]! : 'ecdsa';
    const spec = parseKeyType(io.keyType);
    const key = setKey(names);
    item = { ...base, name: c.name ?? defaultLineageName(names), names, ca: ca.id, directoryUrl, keyType: spec.text };
    if (!io.webroot && !io.standalone && !io.standaloneTls && !io.dns && !io.serve) throw new InputError(`${where}: no challenge: give webroot, serve, standalone, standaloneTls or dns (webroot and dns also in defaults).`);
    // serve: the fleet's HTTP-01, as issue --serve (a shared ledger with the fleet key, else nothing is sent).
    if (io.serve) assertServeLedger(ledger);

    // 2. Held? The declared lineage, or any lineage holding the exact set at this CA, with a certificate not yet expired.
    const now = ctx.now();
    const urls = cas.map((x) => x.directoryUrl);
    const holder = [c.name ? ledger.lineage(c.name) : undefined, ...urls.flatMap((u) => ledger.lineagesBySet(key, u))].find(
      (l): l is LineageRow => Boolean(l && l.set_key === key && urls.includes(l.directory_url)),
    );
    if (holder) {
      const certs = ledger.currentCertificates(holder.name);
      const soonest = soonestExpiring(certs);
      if (soonest && soonest.not_after > now) {
        if (!o.dryRun) syncSettings(ledger, holder, c, now);
        const by = holder.name !== item.name ? ` by lineage ${holder.name}` : '';
        // Held by the fleet and deployed by this host (declared in hosts:, or no hosts: at all, as issue on
        // this host would): written here from the ledger, 0 orders — exactly as issue of a held set.
        if (ledger.fleetMode && !o.dryRun && (c.hosts ? c.hosts.includes(ledger.host) : true)) {
          const d = await deployHere(ctx, ledger, holder.name, o.lockWait);
          if (d?.action === 'failed') return { ...item, name: holder.name, action: 'failed', verdict: 'duplicate', reason: d.reason, exitCode: d.exitCode };
          if (d) return { ...item, name: holder.name, action: 'deployed', verdict: 'duplicate', reason: `held${by} by the fleet: version ${d.version} written here from the ledger${d.renewedBy ? ` (renewed by ${d.renewedBy})` : ''}; 0 orders`, serial: soonest.serial, notAfter: soonest.not_after };
        }
        return { ...item, name: holder.name, action: 'held', verdict: 'duplicate', reason: `held${by}, valid until ${utc(soonest.not_after)} (${humanRelative(soonest.not_after, now)}); renewal is certctl renew's job`, serial: soonest.serial, notAfter: soonest.not_after };
      }
    }

    // 3. Plan, with the config's policy overrides.
    // With a list, the first CA whose plan allows (issueLineage then checks CAA for each and says why).
    const decisions = cas.map((x) => planFromLedger(ledger, planRequestFor(ledger, { names, ca: x.ca, directoryUrl: x.directoryUrl, keyType: spec.text, renewalOf: holder?.name, profile: holder?.settings.profile }), now, cfg.policies));
    const decision = decisions.find((d) => d.verdict !== 'blocked') ?? decisions[0]!;
    item = { ...item, verdict: decision.verdict, allowedAt: decision.allowedAt };
    if (decision.verdict === 'blocked') {
      const why = decision.limits.filter((x) => x.after < 0 || x.evidence).map((x) => x.reason).join('; ') || decision.notes.join(' ');
      return { ...item, action: 'blocked', reason: `the CA would refuse it: ${why}`, exitCode: ExitCode.BLOCKED };
    }
    if (o.dryRun) {
      return { ...item, action: 'would-issue', reason: `not held; plan says ${decision.verdict}${decision.verdict === 'last-slot' ? ' (spends the last free slot of a limit)' : ''}` };
    }

    // 4. Issue: issue's own checks, then core's issueLineage under the run lock (it plans again and checks readiness first).
    const { issueRequestFrom } = await import('./issue.js');
    const { issueLineage } = await import('../../core/issue.js');
    const { request, lockWait } = await issueRequestFrom(ctx, io);
    // What issuing says goes to --verbose, labelled; apply prints one report.
    const label = item.name;
    const say = (line: string) => ctx.out.verbose(`[${label}] ${line}`);
    const env = { ...runEnv(ctx), sink: { info: say, attention: say, verbose: say } };
    const lock = await acquireRunLock(ledger, lockWait * 1000, ctx.now, lockWaitNotice(ctx));
    let r;
    try {
      r = await issueLineage(env, ledger, request);
    } finally {
      lock.release();
    }
    const l = ledger.lineage(r.lineage);
    if (l) syncSettings(ledger, l, c, ctx.now());
    if (r.result === 'held') return { ...item, name: r.lineage, action: 'held', reason: 'already held' };
    if (r.result === 'deployed') return { ...item, name: r.lineage, action: 'deployed', reason: `held by the fleet: version ${r.version} written here from the ledger (0 orders)`, exitCode: ExitCode.OK, serial: r.serial, notAfter: r.notAfter };
    const cert = r.certificates[0]!;
    const chose = r.caChoice ? { ca: r.caChoice.ca, directoryUrl: ledger.lineage(r.lineage)?.directory_url ?? item.directoryUrl } : {};
    const via = r.caChoice?.failedOver ? ` from ${r.caChoice.ca} instead of ${r.caChoice.first} (${r.caChoice.reason})` : '';
    return { ...item, ...chose, name: r.lineage, action: r.result, reason: `serial ${serialText(cert.serial)}, valid until ${utc(cert.notAfter)}${via}`, exitCode: ExitCode.OK, serial: cert.serial, notAfter: cert.notAfter };
  } catch (err) {
    if (!(err instanceof CertctlError)) throw err;
    const msg = err instanceof InputError && !err.message.startsWith(String(cfg.file)) ? `${where}: ${err.message}` : err.message;
    return { ...item, action: err.exitCode === ExitCode.BLOCKED || err.exitCode === ExitCode.RATE_LIMITED ? 'blocked' : 'failed', reason: msg, exitCode: err.exitCode };
  }
}

/** A fleet lineage this host deploys (from now on, when apply found it held), written here when the ledger holds a newer version than its files. */
async function deployHere(ctx: Context, ledger: Ledger, lineage: string, lockWait: number) {
  ledger.addLineageHost(lineage, ledger.host, ctx.now());
  const { deployFromLedger } = await import('../../core/renew/deploy.js');
  const lock = await acquireRunLock(ledger, lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  try {
    const [d] = await deployFromLedger(runEnv(ctx), ledger, { only: [lineage] });
    return d;
  } finally {
    lock.release();
  }
}

/** serve (HTTP-01 through certctl serve) answers from a fleet's shared ledger: refused elsewhere, nothing sent. */
export function assertServeLedger(ledger: Ledger): void {
  if (!ledger.fleetMode) {
    throw new InputError('serve answers HTTP-01 from a fleet\'s shared ledger, and this ledger is not one (a PostgreSQL --ledger with a fleet key): nothing was sent.', 'Give --ledger postgres://… and --fleet-key FILE (docs/fleet.md), or use webroot or standalone.');
  }
}

/** Keep the declared renewDays and hooks in the lineage's settings, so they follow it. */
function syncSettings(ledger: Ledger, l: LineageRow, c: DeclaredCertificate, now: number): void {
  const want: Pick<LineageSettings, 'renewDays' | 'preHook' | 'postHook' | 'deployHook'> = { renewDays: c.renewDays, preHook: c.hooks?.preHook, postHook: c.hooks?.postHook, deployHook: c.hooks?.deployHook };
  const settings: LineageSettings = { ...l.settings };
  let changed = false;
  for (const k of ['renewDays', 'preHook', 'postHook', 'deployHook'] as const) {
    const v = want[k];
    if (v !== undefined && settings[k] !== v) {
      Object.assign(settings, { [k]: v });
      changed = true;
    }
  }
  if (changed) ledger.saveLineage({ ...l, settings, now });
  // hosts: the fleet hosts that deploy it, exactly as declared (a shared ledger with the fleet key only).
  if (c.hosts && ledger.fleetMode) {
    for (const h of c.hosts) ledger.addLineageHost(l.name, h, now);
    for (const row of ledger.lineageHosts(l.name)) if (!c.hosts.includes(row.host)) ledger.removeLineageHost(l.name, row.host);
  }
}
