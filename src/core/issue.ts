/**
 * Issuing one lineage, start to finish, for any caller (`certctl issue`,
 * `certctl apply`, a program using certctl as a library): pick the lineage
 * the request belongs to (or derive a free name), keep what is held and not
 * due, save the lineage, then gate + obtain. The caller has validated the
 * request and holds the run lock; nothing here prints — the result says
 * what happened and `env.sink` gets the progress lines.
 */
import path from 'node:path';
import type { RunEnv } from './env.js';
import type { DnsSettings, Ledger, LineageSettings } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import type { ObtainResult } from './obtain.js';
import { AcmeError, InputError, CertctlError, type ExitCodeValue } from './errors.js';
import { setKey } from './names.js';
import { chooseLineage, changeCost, changeLines, type ChangeCost } from './lineage-change.js';
import { isDue, revokedAt, soonestExpiring } from './renew/due.js';
import type { CaCandidate, CaChoice, ChooseInput } from './failover.js';

/** What `issue` says about the CA it chose from a list (absent without a list). */
export interface IssueCaChoice {
  ca: string;
  first: string;
  failedOver: boolean;
  reason: string;
}

export interface IssueRequest {
  /** Normalised names (normalizeNames), checked against the CA's rules. */
  names: string[];
  ca: CaProfile;
  directoryUrl: string;
  /** An ordered list of CAs to choose from before ordering (fail-over, docs/cas.md); `ca` is its first. */
  cas?: CaCandidate[];
  /** After a fail-over, keep renewing at the CA that issued (config caStick). */
  caStick?: boolean;
  /** Key type spec as parseKeyType writes it (KeySpec.text). */
  keyType: string;
  /** The lineage's name (--cert-name); default: the lineage holding the set at this CA, else a free name from the first name. An existing lineage with another set gets these names (a change, see lineage-change.ts). */
  certName?: string;
  /** certbot's --expand: the lineage's new set must contain its old one. */
  expand?: boolean;
  /** A second lineage beside the ones these names overlap (else an overlap is refused). */
  newLineage?: boolean;
  /** Webroot (absolute), standalone listen address (HTTP-01), standaloneTls listen address (TLS-ALPN-01) or DNS-01 settings: exactly one. */
  webroot: string | null;
  standalone: { host: string; port: number } | null;
  /** HTTP-01 answered by `certctl serve` on every fleet host, from the ledger (challenge `fleet`). */
  serve?: boolean;
  standaloneTls?: { host: string; port: number } | null;
  /** Port the CA connects to for TLS-ALPN-01 (default 443), remembered for renew. */
  tlsPort?: number;
  dns?: DnsSettings;
  email?: string;
  eab?: { kid: string; hmacKey: string };
  /** Extra CA certificates to trust (absolute path). */
  caBundle?: string;
  reuseKey?: boolean;
  profile?: string;
  /** Write the chain whose topmost certificate is issued by this CN (when the CA offers alternates); recorded for renew. */
  preferredChain?: string;
  resolver?: string;
  httpPort?: number;
  force?: boolean;
  forceRenewal?: boolean;
  precheck: boolean;
}

export type IssueOutcome =
  | { result: 'held'; lineage: string; names: string[]; notAfter: number; serial: string; change?: null }
  /** A fleet host asked for a set the fleet holds: written here from the shared ledger, nothing ordered. */
  | { result: 'deployed'; lineage: string; names: string[]; notAfter: number; serial: string; version: number; files: string[]; change?: null }
  | ({ result: 'issued' | 'recovered'; change?: ChangeCost | null; caChoice?: IssueCaChoice | null } & ObtainResult);

/** A lineage created by this run that never got a certificate and has no order to resume is removed again. */
function dropIfEmpty(ledger: Ledger, name: string, isNew: boolean): void {
  if (!isNew) return;
  const l = ledger.lineage(name);
  if (l && l.current_version === 0 && ledger.openOrders(name).length === 0 && ledger.certificatesForLineage(name).length === 0 && ledger.challengeRecords(name).length === 0) {
    ledger.deleteLineage(name);
  }
}

export async function issueLineage(env: RunEnv, ledger: Ledger, req: IssueRequest): Promise<IssueOutcome> {
  const now = env.now();
  const { names } = req;
  let { ca, directoryUrl } = req;
  const key = setKey(names);
  const list = req.cas && req.cas.length > 1 ? req.cas : null;
  if (list) {
    // The lineage of this set (or --cert-name) may be at any CA of the list (an earlier fail-over).
    const urls = list.map((c) => c.directoryUrl);
    const named = req.certName ? ledger.lineage(req.certName) : undefined;
    const home = named && urls.includes(named.directory_url) ? named.directory_url : (urls.find((u) => ledger.lineagesBySet(key, u).some((x) => !x.settings.deleting)) ?? urls[0]!);
    ({ ca, directoryUrl } = list.find((c) => c.directoryUrl === home)!);
  }
  // A `certctl delete` killed half-way is finished first (its name is free again).
  (await import('./retire.js')).finishDeletions(env, ledger);
  const choice = chooseLineage(ledger, { names, directoryUrl, certName: req.certName, expand: req.expand, newLineage: req.newLineage, forceRenewal: req.forceRenewal });
  // Overlapping another lineage without --cert-name/--new-lineage: refused, nothing written or sent.
  if (choice.kind === 'overlap') throw new InputError(choice.message, choice.hint);
  const existing = choice.existing;
  const change = choice.change;

  // Keep until expiring: the exact set already held and not due → nothing to order.
  // (Unless a crash interrupted its live/ switch: obtain finishes that from the journal first.)
  // Held means a certificate for this exact set: a lineage whose names were changed by a run killed before
  // its new certificate was stored still has the old set's certificate: not held, its open order is resumed.
  if (existing && existing.set_key === key && !req.forceRenewal && !ledger.openOrders(existing.name).some((x) => x.step === 'storing')) {
    const current = ledger.currentCertificates(existing.name).filter((c) => c.set_key === key);
    const soonest = soonestExpiring(current);
    // A revoked certificate is not held: it is replaced (renew/due.ts renewalDue, rule "revoked").
    if (soonest && !revokedAt(current) && soonest.not_after > now && !isDue(soonest, now, existing.settings.renewDays)) {
      const held = { lineage: existing.name, names: existing.names, notAfter: soonest.not_after, serial: soonest.serial };
      if (ledger.fleetMode) {
        // Held by the fleet: this host deploys it from now on, and writes it from the ledger now (0 orders).
        ledger.addLineageHost(existing.name, ledger.host, now);
        const [d] = await (await import('./renew/deploy.js')).deployFromLedger(env, ledger, { only: [existing.name] });
        if (d?.action === 'failed') throw new CertctlError(d.reason, d.exitCode as ExitCodeValue);
        if (d) return { result: 'deployed', ...held, version: d.version, files: d.files };
      }
      return { result: 'held', ...held };
    }
  }

  const lineageName = choice.name;
  // A list of CAs: plan against each, CAA for each, before anything is sent (failover.ts).
  let caChoice: CaChoice | null = null;
  const failover = await import('./failover.js');
  const held = existing ? ledger.currentCertificates(existing.name) : [];
  const soonest = soonestExpiring(held);
  const waitUntil = soonest && !revokedAt(held) ? failover.waitUntilFor(soonest.not_after) : null;
  const config = list ? await (await import('./config/index.js')).loadConfig(env.configFile) : null;
  const choose = (refused?: ChooseInput['refused']): Promise<CaChoice> => {
    const stick = req.caStick ?? existing?.settings.caStick;
    const ordered = stick && existing ? [...list!.filter((c) => c.directoryUrl === existing.directory_url), ...list!.filter((c) => c.directoryUrl !== existing.directory_url)] : list!;
    return failover.chooseCa(ledger, {
      names,
      keyType: req.keyType,
      // The command line's --ca-bundle is for the first CA of the list; a custom CA brings its own.
      candidates: ordered.map((c, i) => ({ ...c, caBundle: c.ca.custom?.caBundle ?? (i === 0 ? req.caBundle : undefined) })),
      waitUntil,
      renewalOf: existing?.name,
      forceRenewal: req.forceRenewal,
      current: existing ? { directoryUrl: existing.directory_url, replaces: null } : undefined,
      caa: req.precheck,
      resolver: req.resolver,
      overrides: config!.policies,
      now: env.now(),
      unreachable: { policy: failover.unreachablePolicy(config!.defaults.caUnreachable), validity: soonest && !revokedAt(held) ? { notBefore: soonest.not_before, notAfter: soonest.not_after } : null, nextRun: null, probe: true },
      refused,
    });
  };
  const say = (c: CaChoice) => {
    const line = `CA ${c.ca.id}${c.failedOver ? ` instead of ${c.firstId} (fail-over)` : ''}: ${c.reason}.`;
    if (c.failedOver) env.sink.attention(line);
    else env.sink.info(line);
  };
  if (list && !(existing && ledger.openOrders(existing.name).length > 0)) {
    caChoice = await choose();
    ({ ca, directoryUrl } = caChoice);
    say(caChoice);
  }
  // A custom CA's own EAB and CA bundle (config cas:) when the command line gives none.
  // (The command line's EAB is for the first CA of a list.)
  const { customEab } = await import('./failover.js');
  let eab = (caChoice?.failedOver ? undefined : req.eab) ?? (await customEab(ca));
  const caBundle = (caChoice?.failedOver ? undefined : req.caBundle) ?? ca.custom?.caBundle ?? (caChoice ? req.caBundle : undefined);
  // A change of names: say what it spends before anything is sent (the gate then decides as for any request).
  let cost: ChangeCost | null = null;
  if (change) {
    const [{ planFromLedger, planRequestFor }, { loadConfig }] = await Promise.all([import('./plan.js'), import('./config/index.js')]);
    const overrides = (await loadConfig(env.configFile)).policies;
    const decision = planFromLedger(ledger, planRequestFor(ledger, { names, ca, directoryUrl, keyType: req.keyType, forceRenewal: req.forceRenewal, profile: req.profile ?? existing?.settings.profile }), now, overrides);
    cost = changeCost(change, decision);
    for (const line of changeLines(cost)) env.sink.attention(line);
  }
  const settings: LineageSettings = {
    ...(existing?.settings ?? {}),
    ...(req.reuseKey !== undefined ? { reuseKey: req.reuseKey } : {}),
    ...(req.profile ? { profile: req.profile } : {}),
    ...(req.preferredChain ? { preferredChain: req.preferredChain } : {}),
    ...(caBundle ? { caBundle: path.resolve(caBundle) } : {}),
    ...(req.email ? { email: req.email } : {}),
    ...(req.httpPort ? { httpPort: req.httpPort } : {}),
    ...(req.tlsPort ? { tlsPort: req.tlsPort } : {}),
    ...(req.resolver ? { resolver: req.resolver } : {}),
  };
  // The CA list of this request replaces the last one's (a single CA: none).
  delete settings.cas;
  if (list) settings.cas = list.map((c) => c.ca.id);
  if (req.caStick !== undefined) settings.caStick = req.caStick;
  // The method of this request replaces the last one's (never a mix of two).
  delete settings.dns;
  if (req.dns) settings.dns = req.dns;
  const isNew = !existing;
  const listen = req.standaloneTls ?? req.standalone;
  ledger.saveLineage({
    name: lineageName,
    names,
    set_key: key,
    ca_id: ca.id,
    directory_url: directoryUrl,
    key_type: req.keyType,
    challenge: req.dns ? 'dns' : req.webroot ? 'webroot' : req.serve ? 'fleet' : req.standaloneTls ? 'standalone-tls' : 'standalone',
    webroot: req.webroot,
    standalone_addr: listen ? `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}` : null,
    settings,
    now,
  });
  let lineage = ledger.lineage(lineageName)!;
  if (caChoice) ledger.recordCaChoice({ lineage: lineageName, at: now, ca_id: ca.id, directory_url: directoryUrl, first_ca_id: caChoice.firstId, failed_over: caChoice.failedOver ? 1 : 0, reason: caChoice.reason });
  // In a fleet, the host that issues a lineage deploys it (certctl deploy add|remove for the others).
  if (ledger.fleetMode) ledger.addLineageHost(lineageName, ledger.host, now);

  const [{ obtain }, { gateFor }] = await Promise.all([import('./obtain.js'), import('./gate.js')]);
  let result: ObtainResult;
  let bundle = caBundle ? path.resolve(caBundle) : undefined;
  const attempt = () =>
    obtain(
      {
        lineage,
        ca,
        email: req.email,
        eab,
        caBundle: bundle,
        forced: Boolean(req.force || req.forceRenewal),
        precheckSkipped: !req.precheck,
      },
      {
        ledger,
        paths: env.paths,
        now: env.now,
        log: (l) => env.sink.info(l),
        verbose: env.verbose ? (l) => env.sink.verbose(l) : undefined,
        gate: gateFor(env, ledger, lineage, ca, { force: req.force, forceRenewal: req.forceRenewal, precheck: req.precheck, resolver: req.resolver, httpPort: req.httpPort }),
      },
    );
  try {
    try {
      result = await attempt();
    } catch (err) {
      // A 429 to newOrder at a CA of the list, lasting past what the lineage can wait: the next CA, in this run
      // (a refused newOrder created no order: nothing else was spent at the first).
      const refused =
        caChoice && err instanceof AcmeError && err.rateLimited && ledger.lastProblemOf(lineageName)?.endpoint === 'newOrder' && ledger.lastProblemOf(lineageName)?.http_status === 429 && ledger.openOrders(lineageName).length === 0
          ? failover.refusalFor(caChoice, err.problem, waitUntil)
          : null;
      if (!refused) throw err;
      env.sink.attention(`${ca.id} refused newOrder (HTTP 429): ${err instanceof AcmeError ? err.problem.detail : ''}; choosing again from the list.`);
      const next = await choose(refused).catch(() => {
        throw err; // no other CA can take it: the 429 stands, as recorded
      });
      if (next.directoryUrl === caChoice!.directoryUrl) throw err;
      caChoice = next;
      ({ ca, directoryUrl } = next);
      say(next);
      eab = await customEab(ca);
      bundle = ca.custom?.caBundle ?? (req.caBundle ? path.resolve(req.caBundle) : undefined);
      const settings = { ...lineage.settings };
      delete settings.caBundle;
      if (bundle) settings.caBundle = bundle;
      ledger.saveLineage({ ...lineage, ca_id: ca.id, directory_url: directoryUrl, settings, now: env.now() });
      lineage = ledger.lineage(lineageName)!;
      ledger.recordCaChoice({ lineage: lineageName, at: env.now(), ca_id: ca.id, directory_url: directoryUrl, first_ca_id: next.firstId, failed_over: next.failedOver ? 1 : 0, reason: next.reason });
      result = await attempt();
    }
  } catch (err) {
    dropIfEmpty(ledger, lineageName, isNew);
    // A change that got no certificate and has no order to resume keeps the lineage's old names
    // (renew goes on renewing what is held, not a set the CA never issued).
    if (existing && change && ledger.openOrders(lineageName).length === 0 && ledger.lineage(lineageName)?.current_version === existing.current_version) ledger.saveLineage({ ...existing, now: env.now() });
    throw err;
  }
  const chosen = caChoice ? { ca: ca.id, first: caChoice.firstId, failedOver: caChoice.failedOver, reason: caChoice.reason } : null;
  return { result: result.resumed ? 'recovered' : 'issued', ...result, change: cost, caChoice: chosen };
}
