/**
 * certctl as a library: plan, issue and renew for a program's own callers,
 * with the same guarantees as the command line (every value checked before
 * the ledger is written or anything is sent; the planner's gate and the
 * readiness checks before any order; the order journal; atomic storing; the
 * run lock). Each function wraps the core the CLI also calls; nothing here
 * prints — lines go to `opts.sink` (default: silent).
 */
import path from 'node:path';
import type { Sink, RunEnv } from '../core/env.js';
import { silentSink } from '../core/env.js';
import type { Ledger } from '../core/ledger/ledger.js';
import { statePaths, resolveStateDir, type StatePaths } from '../core/paths.js';
import { CertctlError, InputError, faultError } from '../core/errors.js';
import { resolveCaList, findCa } from '../core/ca/registry.js';
import { normalizeNames, assertLineageName, quote } from '../core/names.js';
import { parseKeyType } from '../core/keys/index.js';
import { parseListen, assertDocumentRoot, assertWebrootWritable } from '../core/http01.js';
import { parseResolver } from '../core/precheck/dns.js';
import { loadConfig } from '../core/config/index.js';
import { planFromLedger, planRequestFor, type Decision } from '../core/plan.js';
import { issueLineage, type IssueOutcome, type IssueRequest as CoreIssueRequest } from '../core/issue.js';
import { acquireRunLock, type HeldLock } from '../core/store/lock.js';
import { Mutex } from '../core/concurrency.js';
import type { RenewReport } from '../core/renew/runner.js';
import * as v from '../cli/validate.js';
import { ledgerOf, openLedgerAt, type LedgerHandle } from './ledger.js';

/** What every call takes besides its request. */
export interface CallOptions {
  /**
   * The state directory: account keys, live/ and archive/ certificates, and
   * (unless `ledger` is given) ledger.sqlite. Default as the CLI: $CERTCTL_HOME,
   * /var/lib/certctl for root, else $XDG_STATE_HOME/certctl.
   */
  stateDir?: string;
  /** An open ledger (openLedger). Default: the state directory's ledger.sqlite, opened and closed by the call. */
  ledger?: LedgerHandle;
  /** Where progress lines go (default: nowhere). Never receives keys, tokens or EAB secrets. */
  sink?: Sink;
  /** Also hand each ACME request to `sink.verbose`. Default false. */
  verbose?: boolean;
  /** The clock, ms since the epoch (UTC). Default Date.now. */
  now?: () => number;
  /** The config file whose `policies` the planner applies. Default: certctl's default config file, if it exists. */
  configFile?: string;
  /** How long to wait for another certctl run on this ledger (the run lock), ms. Default 600 000 (the CLI's --lock-wait 600). */
  lockWaitMs?: number;
}

/** What `plan` decides about. */
export interface PlanRequest {
  /** DNS names (and IP addresses, where the CA issues them); wildcards are planned too. */
  domains: string[];
  /**
   * A CA of the catalogue (letsencrypt, zerossl, …; default letsencrypt), a custom CA of the config
   * file, or an ordered list of them to fail over (`['letsencrypt', 'zerossl']` or "letsencrypt,zerossl",
   * docs/cas.md): planned against each in turn, the result says which one and why (`caChoice`) …
   */
  ca?: string | string[];
  /** … or its ACME directory URL. */
  server?: string;
  staging?: boolean;
  /** rsa, rsa:3072, ecdsa, ecdsa:p384, dual, sm2 … Default ecdsa (or the CA's only key type). */
  keyType?: string;
  /** Plan as a forced re-issue of the same set (issue's forceRenewal). */
  forceRenewal?: boolean;
  /** An ACME profile the CA lists (e.g. "tlsserver"): planned with its rules (names per certificate, IP addresses). */
  profile?: string;
}

/** What `issue` orders. Exactly one of `webroot` and `standalone`. */
export interface IssueRequest extends PlanRequest {
  /** The lineage name (default: the lineage already holding this exact set at this CA, else a free name from the first domain). An existing lineage with another set gets these names. */
  certName?: string;
  /** certbot's --expand: the lineage's new set must contain its old one. */
  expand?: boolean;
  /** A second lineage beside the lineages these names overlap (without it, or certName, an overlap is refused). */
  newLineage?: boolean;
  /** The document root your web server serves for these names over HTTP (port 80). */
  webroot?: string;
  /** Serve the HTTP-01 challenge from this process: "PORT", "ADDR:PORT", "[v6]:PORT", or true for 0.0.0.0:80. */
  standalone?: string | true;
  /** Skip the check that the webroot is a document root (not a system or state directory). */
  forceWebroot?: boolean;
  /** The ACME account's contact address. */
  email?: string;
  /** External Account Binding, for CAs that require it. The HMAC key is never logged or stored in the ledger. */
  eab?: { kid: string; hmacKey: string };
  /** PEM file of extra CA certificates to trust for the ACME server's TLS. */
  caBundle?: string;
  reuseKey?: boolean;
  /** DNS server for the readiness checks, "host:port" (default: the system resolver). */
  resolver?: string;
  /** Port the readiness check fetches HTTP-01 on (default 80). */
  httpPort?: number;
  /** Order even when the planner predicts a refusal (a limit). */
  force?: boolean;
  /** Run the readiness checks (DNS, HTTP-01, CAA) before ordering. Default true. */
  precheck?: boolean;
  /** When the CA offers alternate chains, store the one whose topmost certificate is issued by this Common Name (e.g. "ISRG Root X1"; the CLI's --preferred-chain); kept by renew. None matching: the default chain. */
  preferredChain?: string;
}

/** What `renew` takes (the CLI's renew without hooks, CT sync and the random delay). */
export interface RenewRequest {
  /** Only these lineages (default: all). */
  certNames?: string[];
  /** Renew when fewer than this many days are left (overrides ARI and the lifetime rule). */
  days?: number;
  forceRenewal?: boolean;
  /** Order from the CA's staging directory into a throw-away state directory instead (nothing kept). */
  dryRun?: boolean;
  /** Lineages renewed at the same time, 1–64. Default 1. */
  concurrency?: number;
  /** Default true. */
  precheck?: boolean;
  resolver?: string;
  httpPort?: number;
  /**
   * An ordered list of CA ids for this run (e.g. ['letsencrypt', 'zerossl']): every lineage renewed
   * chooses from it instead of its own list. Each renewed outcome's `ca` says which CA and why.
   */
  ca?: string | string[];
  /** As IssueRequest.preferredChain, for the lineages renewed (and recorded as theirs). */
  preferredChain?: string;
}

export type { Decision, IssueOutcome, RenewReport };
export type { CandidateVerdict } from '../core/failover.js';

/** With a CA list: the CA the request would go to now, why, and every CA's verdict in order (docs/cas.md). */
export interface PlanCaChoice {
  /** The CA issue would use now; null when no CA of the list can (the decision is then the first CA's). */
  chosen: string | null;
  first: string;
  failedOver: boolean;
  reason: string;
  verdicts: import('../core/failover.js').CandidateVerdict[];
}

/** What plan() returns: the planner's decision for the CA that would be used; `caChoice` with a CA list, else null. */
export type PlanResult = Decision & { caChoice: PlanCaChoice | null };

interface Run {
  env: RunEnv;
  ledger: () => Ledger;
  close: () => void;
  file: () => string | undefined;
}

/**
 * One issue/renew at a time per ledger in this process. The run lock alone
 * lets holders in one process share it (apply's parallel issues of
 * different sets); two library calls for the same set at once would both
 * pass the "held" check and order twice, so they queue here, as two
 * processes queue on the run lock.
 */
const queues = new Map<string, Mutex>();
function exclusive<T>(run: Run, lockWaitMs: number | undefined, body: (ledger: Ledger) => Promise<T>): Promise<T> {
  const key = run.env.paths.ledger;
  let m = queues.get(key);
  if (!m) queues.set(key, (m = new Mutex()));
  return m.run(async () => {
    const ledger = run.ledger();
    const lock: HeldLock = await acquireRunLock(ledger, lockWaitMs ?? 600_000, run.env.now);
    try {
      return await body(ledger);
    } finally {
      lock.release();
    }
  });
}

/** The state paths, clock and sink of one call; the ledger is opened only when first needed (after validation). */
function runFor(o: CallOptions): Run {
  if (o.stateDir !== undefined) v.nonEmpty(v.plain(o.stateDir, 'stateDir'), 'stateDir', 'a directory');
  if (o.configFile !== undefined) v.nonEmpty(v.plain(o.configFile, 'configFile'), 'configFile', 'a file');
  if (o.lockWaitMs !== undefined && !(Number.isFinite(o.lockWaitMs) && o.lockWaitMs >= 0)) throw new InputError(`lockWaitMs ${quote(String(o.lockWaitMs))} must be a number of milliseconds ≥ 0.`);
  if (o.now !== undefined && typeof o.now !== 'function') throw new InputError('now must be a function returning milliseconds since the epoch.');
  const given = o.ledger ? ledgerOf(o.ledger) : undefined;
  const root = resolveStateDir(o.stateDir);
  const paths: StatePaths = statePaths(root, given?.target);
  let own: LedgerHandle | undefined;
  return {
    env: { paths, now: o.now ?? Date.now, sink: o.sink ?? silentSink, verbose: Boolean(o.verbose), configFile: o.configFile },
    ledger: () => {
      if (given) return ledgerOf(o.ledger!).ledger;
      own ??= openLedgerAt(paths.ledger);
      return ledgerOf(own).ledger;
    },
    close: () => own?.close(),
    file: () => o.ledger?.file ?? own?.file,
  };
}

/** Runs `body`, mapping a machine fault (disk full, read-only, damaged ledger) to its CertctlError, and closes a ledger the call opened. */
async function call<T>(run: Run, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof CertctlError) throw err;
    throw faultError(err, run.file()) ?? err;
  } finally {
    run.close();
  }
}

function domainsOf(req: { domains?: unknown }): string[] {
  if (!Array.isArray(req.domains) || req.domains.length === 0 || req.domains.some((d) => typeof d !== 'string')) {
    throw new InputError('request.domains must be a non-empty array of names.', 'Give the names the certificate is for, e.g. { domains: ["shop.example.com"] }.');
  }
  return req.domains as string[];
}

/** The CA list of a request (one CA: a list of one), checked as --ca a,b is (caListIds). */
function casOf(req: PlanRequest) {
  v.url(req.server, 'request.server');
  let ca = req.ca;
  if (Array.isArray(ca)) {
    if (ca.some((x) => typeof x !== 'string')) throw new InputError('request.ca must be a CA id or an array of CA ids.', 'E.g. ca: ["letsencrypt", "zerossl"] (certctl ca list shows the ids).');
    if (ca.length === 0) throw new InputError('request.ca is an empty list.', 'Give at least one CA id, or leave ca out for letsencrypt.');
    ca = ca.join(',');
  } else if (ca !== undefined && typeof ca !== 'string') throw new InputError('request.ca must be a CA id or an array of CA ids.');
  return resolveCaList({ ca, server: req.server, staging: req.staging });
}

/**
 * What the planner decides for `request` from the ledger alone: allowed,
 * last-slot, duplicate (the exact set is held) or blocked, with every limit
 * counted. Nothing is sent to a CA and nothing is written.
 */
export async function plan(request: PlanRequest, opts: CallOptions = {}): Promise<PlanResult> {
  const run = runFor(opts);
  return call(run, async () => {
    const domains = domainsOf(request);
    const config = await loadConfig(opts.configFile);
    const cas = casOf(request);
    let { ca, directoryUrl } = cas[0]!;
    v.profile(request.profile, 'request.profile');
    // No names-per-certificate cap here: the planner reports it as a limit with its reason.
    const names = normalizeNames(domains, { allowIp: ca.ipIdentifiers, allowWildcard: true });
    const keyType = parseKeyType(request.keyType ?? (ca.keyTypes.length === 1 ? ca.keyTypes[0]! : 'ecdsa')).text;
    const ledger = run.ledger();
    const now = run.env.now();
    let caChoice: PlanCaChoice | null = null;
    if (cas.length > 1) {
      // As issue chooses (failover.ts), sending nothing: no CAA look-up, no probe of a CA recorded unreachable.
      const failover = await import('../core/failover.js');
      const { setKey } = await import('../core/names.js');
      const { soonestExpiring, revokedAt } = await import('../core/renew/due.js');
      const owner = cas.map((c) => ledger.lineagesBySet(setKey(names), c.directoryUrl).find((x) => !x.settings.deleting)).find(Boolean);
      const certs = owner ? ledger.currentCertificates(owner.name) : [];
      const soonest = soonestExpiring(certs);
      const valid = soonest && !revokedAt(certs) ? soonest : undefined;
      try {
        const c = await failover.chooseCa(ledger, {
          names,
          keyType,
          candidates: cas,
          waitUntil: valid ? failover.waitUntilFor(valid.not_after) : null,
          renewalOf: owner?.name,
          forceRenewal: request.forceRenewal,
          current: owner ? { directoryUrl: owner.directory_url, replaces: null } : undefined,
          caa: false,
          overrides: config.policies,
          now,
          unreachable: { policy: failover.unreachablePolicy(config.defaults.caUnreachable), validity: valid ? { notBefore: valid.not_before, notAfter: valid.not_after } : null, nextRun: null, probe: false },
        });
        ({ ca, directoryUrl } = c);
        caChoice = { chosen: c.ca.id, first: c.firstId, failedOver: c.failedOver, reason: c.reason, verdicts: c.verdicts };
      } catch (err) {
        if (!(err instanceof failover.NoCaError)) throw err;
        caChoice = { chosen: null, first: cas[0]!.ca.id, failedOver: false, reason: err.message, verdicts: err.verdicts };
      }
    }
    const decision = planFromLedger(ledger, planRequestFor(ledger, { names, ca, directoryUrl, keyType, forceRenewal: request.forceRenewal, profile: request.profile }), now, config.policies);
    return { ...decision, caChoice };
  });
}

/** `request` checked and resolved into the core's request; only reads (a bad value stops here: InputError, exit 2). */
function issueRequestOf(request: IssueRequest, paths: StatePaths): CoreIssueRequest {
  const domains = domainsOf(request);
  const cas = casOf(request);
  const { ca, directoryUrl } = cas[0]!;
  // The names and the key type must suit every CA of the list.
  const names = normalizeNames(domains, { allowIp: cas.every((c) => c.ca.ipIdentifiers), allowWildcard: false, maxNames: Math.min(...cas.map((c) => c.ca.maxNames)) });
  const spec = parseKeyType(request.keyType ?? (ca.keyTypes.length === 1 ? ca.keyTypes[0]! : 'ecdsa'));
  for (const { ca: c } of cas) {
    if (!c.keyTypes.includes(spec.text.split(':')[0]!)) throw new InputError(`${c.name} does not issue ${spec.text} certificates.`, `Use one of: ${c.keyTypes.join(', ')}${cas.length > 1 ? ', or leave that CA out of the list' : ''}.`);
  }
  if (request.certName !== undefined) assertLineageName(request.certName);
  if (request.webroot !== undefined && (typeof request.webroot !== 'string' || request.webroot.trim() === '')) throw new InputError('request.webroot is empty.', 'Give webroot the directory your web server serves for these names.');
  if (Boolean(request.webroot) === Boolean(request.standalone)) {
    throw new InputError(request.webroot ? 'Give either webroot or standalone, not both.' : 'Say how to answer the HTTP-01 challenge.', 'Give request.webroot (your web server serves that directory) or request.standalone ("ADDR:PORT").');
  }
  v.email(request.email, 'request.email');
  v.profile(request.profile, 'request.profile');
  if (request.resolver !== undefined) parseResolver(v.plain(request.resolver, 'request.resolver')!);
  const httpPort = v.wholeNumber(request.httpPort, 'request.httpPort', 1, 65535);
  const preferredChain = chainName(request.preferredChain);
  const caBundle = v.caBundleFile(request.caBundle, 'request.caBundle', 'Give caBundle the PEM file of the CA certificate(s) that signed the ACME server’s TLS certificate.');
  let eab: CoreIssueRequest['eab'];
  if (request.eab !== undefined) {
    const kid = v.nonEmpty(request.eab.kid, 'request.eab.kid', 'the key id the CA gave you');
    if (kid === undefined || typeof request.eab.hmacKey !== 'string') throw new InputError('request.eab needs both kid and hmacKey.', 'Give eab: { kid, hmacKey } as the CA shows them.');
    eab = { kid, hmacKey: v.checkHmac(request.eab.hmacKey, 'request.eab.hmacKey') };
  }
  const webroot = request.webroot ? path.resolve(v.plain(request.webroot, 'request.webroot')!) : null;
  if (webroot) {
    assertDocumentRoot(webroot, paths.root, Boolean(request.forceWebroot), 'request.webroot');
    assertWebrootWritable(webroot);
  }
  return {
    names,
    ca,
    directoryUrl,
    ...(cas.length > 1 ? { cas } : {}),
    keyType: spec.text,
    certName: request.certName,
    expand: request.expand,
    newLineage: request.newLineage,
    webroot,
    standalone: request.standalone ? parseListen(request.standalone) : null,
    email: request.email,
    eab,
    caBundle,
    reuseKey: request.reuseKey,
    profile: request.profile,
    resolver: request.resolver,
    httpPort,
    force: request.force,
    forceRenewal: request.forceRenewal,
    precheck: request.precheck ?? true,
    ...(preferredChain !== undefined ? { preferredChain } : {}),
  };
}

/** request.preferredChain checked as --preferred-chain is: a non-empty plain string (an issuer's Common Name). */
function chainName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InputError('request.preferredChain must be a string.', 'Give the Common Name of the issuer of the chain\'s topmost certificate, e.g. "ISRG Root X1".');
  return v.nonEmpty(v.plain(value, 'request.preferredChain'), 'request.preferredChain', 'the Common Name of the issuer of the chain\'s topmost certificate, e.g. "ISRG Root X1"');
}

/**
 * Issue a certificate as `certctl issue` does: the request checked first
 * (InputError, nothing written or sent), the run lock, the exact set kept
 * when it is held and not due (`result: 'held'`, nothing sent), the
 * planner's gate and the readiness checks, the journalled order, the files
 * stored atomically under `stateDir` (keys 0600). An interrupted order for
 * the lineage is finished (`result: 'recovered'`), never ordered again.
 * Throws a CertctlError whose `exitCode` is the CLI's.
 */
export async function issue(request: IssueRequest, opts: CallOptions = {}): Promise<IssueOutcome> {
  const run = runFor(opts);
  return call(run, async () => {
    await loadConfig(opts.configFile); // its custom CAs (cas:) are ids request.ca may name
    const req = issueRequestOf(request, run.env.paths);
    return exclusive(run, opts.lockWaitMs, (ledger) => issueLineage(run.env, ledger, req));
  });
}

/**
 * Renew what is due, exactly once, as `certctl renew` does (interrupted
 * orders first; nothing due → nothing sent when the ledger can decide).
 * Each lineage's outcome is in the report; `report.exitCode` is the CLI's.
 * No hooks run: act on the report's `renewed` outcomes instead.
 */
export async function renew(request: RenewRequest = {}, opts: CallOptions = {}): Promise<RenewReport> {
  const run = runFor(opts);
  return call(run, async () => {
    const concurrency = v.wholeNumber(request.concurrency ?? 1, 'request.concurrency', 1, 64)!;
    if (request.days !== undefined && !(typeof request.days === 'number' && request.days > 0 && Number.isFinite(request.days))) {
      throw new InputError(`request.days ${quote(String(request.days))} must be a positive number of days.`);
    }
    const httpPort = v.wholeNumber(request.httpPort, 'request.httpPort', 1, 65535);
    if (request.resolver !== undefined) parseResolver(v.plain(request.resolver, 'request.resolver')!);
    for (const n of request.certNames ?? []) assertLineageName(n);
    const preferredChain = chainName(request.preferredChain);
    let cas: string[] | undefined;
    if (request.ca !== undefined) {
      await loadConfig(opts.configFile); // custom CAs of the config file are ids too
      const { caListIds } = await import('../core/ca/registry.js');
      if (!(typeof request.ca === 'string' || (Array.isArray(request.ca) && request.ca.every((x) => typeof x === 'string')))) throw new InputError('request.ca must be a CA id or an array of CA ids.');
      cas = caListIds(Array.isArray(request.ca) ? request.ca.join(',') : request.ca);
      for (const id of cas) {
        if (!findCa(id)?.directoryUrl) throw new InputError(`Unknown CA "${id}".`, 'Give CA ids of the catalogue (certctl ca list) or of the config file (cas:).');
      }
    }
    const { runRenew } = await import('../core/renew/runner.js');
    return exclusive(run, opts.lockWaitMs, async (ledger) => {
    const runId = ledger.startRun('renew', run.env.now());
    let report: RenewReport | undefined;
    try {
      report = await runRenew(run.env, ledger, {
        days: request.days,
        forceRenewal: request.forceRenewal,
        dryRun: request.dryRun,
        concurrency,
        precheck: request.precheck ?? true,
        only: request.certNames,
        resolver: request.resolver,
        httpPort,
        cas,
        ...(preferredChain !== undefined ? { preferredChain } : {}),
      });
      return report;
    } finally {
      const counts = Object.fromEntries(['renewed', 'recovered', 'kept', 'blocked', 'failed', 'dry-run'].map((a) => [a, report?.outcomes.filter((x) => x.action === a).length ?? 0]));
      ledger.finishRun(runId, report?.exitCode ?? 1, counts, run.env.now());
    }
    });
  });
}
