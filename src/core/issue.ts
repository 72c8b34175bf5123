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
import type { DnsSettings, Ledger, LineageRow, LineageSettings } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import type { ObtainResult } from './obtain.js';
import { InputError, CertctlError, type ExitCodeValue } from './errors.js';
import { setKey, assertLineageName, defaultLineageName } from './names.js';
import { isDue, revokedAt, soonestExpiring } from './renew/due.js';

export interface IssueRequest {
  /** Normalised names (normalizeNames), checked against the CA's rules. */
  names: string[];
  ca: CaProfile;
  directoryUrl: string;
  /** Key type spec as parseKeyType writes it (KeySpec.text). */
  keyType: string;
  /** The lineage's name (--cert-name); default: the lineage holding the set at this CA, else a free name from the first name. */
  certName?: string;
  /** Webroot (absolute), standalone listen address (HTTP-01), standaloneTls listen address (TLS-ALPN-01) or DNS-01 settings: exactly one. */
  webroot: string | null;
  standalone: { host: string; port: number } | null;
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
  resolver?: string;
  httpPort?: number;
  force?: boolean;
  forceRenewal?: boolean;
  precheck: boolean;
}

export type IssueOutcome =
  | { result: 'held'; lineage: string; names: string[]; notAfter: number; serial: string }
  /** A fleet host asked for a set the fleet holds: written here from the shared ledger, nothing ordered. */
  | { result: 'deployed'; lineage: string; names: string[]; notAfter: number; serial: string; version: number; files: string[] }
  | ({ result: 'issued' | 'recovered' } & ObtainResult);

/** The lineage this request belongs to: by name, else the one holding the same exact set at this CA. */
export function pickLineage(ledger: Ledger, key: string, directoryUrl: string, certName?: string): LineageRow | undefined {
  if (certName) {
    const l = ledger.lineage(certName);
    if (l && l.directory_url !== directoryUrl) {
      throw new InputError(`The lineage ${certName} belongs to another CA (${l.directory_url}).`, 'Choose another --cert-name.');
    }
    return l;
  }
  return ledger.lineagesBySet(key, directoryUrl)[0];
}

/** `name`, or `name-0001`, `name-0002`… if taken by a different set (as certbot does). */
export function freeLineageName(ledger: Ledger, name: string): string {
  if (!ledger.lineage(name)) return assertLineageName(name);
  for (let i = 1; i < 10_000; i++) {
    const n = `${name}-${String(i).padStart(4, '0')}`;
    if (!ledger.lineage(n)) return assertLineageName(n);
  }
  throw new InputError(`Too many lineages named ${name}-NNNN.`);
}

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
  const { names, ca, directoryUrl } = req;
  const key = setKey(names);
  // A `certctl delete` killed half-way is finished first (its name is free again).
  (await import('./retire.js')).finishDeletions(env, ledger);
  const existing = pickLineage(ledger, key, directoryUrl, req.certName);

  // Keep until expiring: the exact set already held and not due → nothing to order.
  // (Unless a crash interrupted its live/ switch: obtain finishes that from the journal first.)
  if (existing && existing.set_key === key && !req.forceRenewal && !ledger.openOrders(existing.name).some((x) => x.step === 'storing')) {
    const current = ledger.currentCertificates(existing.name);
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

  const lineageName = existing?.name ?? freeLineageName(ledger, req.certName ?? defaultLineageName(names));
  const settings: LineageSettings = {
    ...(existing?.settings ?? {}),
    ...(req.reuseKey !== undefined ? { reuseKey: req.reuseKey } : {}),
    ...(req.profile ? { profile: req.profile } : {}),
    ...(req.caBundle ? { caBundle: path.resolve(req.caBundle) } : {}),
    ...(req.email ? { email: req.email } : {}),
    ...(req.httpPort ? { httpPort: req.httpPort } : {}),
    ...(req.tlsPort ? { tlsPort: req.tlsPort } : {}),
    ...(req.resolver ? { resolver: req.resolver } : {}),
  };
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
    challenge: req.dns ? 'dns' : req.webroot ? 'webroot' : req.standaloneTls ? 'standalone-tls' : 'standalone',
    webroot: req.webroot,
    standalone_addr: listen ? `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}` : null,
    settings,
    now,
  });
  const lineage = ledger.lineage(lineageName)!;
  // In a fleet, the host that issues a lineage deploys it (certctl deploy add|remove for the others).
  if (ledger.fleetMode) ledger.addLineageHost(lineageName, ledger.host, now);

  const [{ obtain }, { gateFor }] = await Promise.all([import('./obtain.js'), import('./gate.js')]);
  let result: ObtainResult;
  try {
    result = await obtain(
      {
        lineage,
        ca,
        email: req.email,
        eab: req.eab,
        caBundle: req.caBundle ? path.resolve(req.caBundle) : undefined,
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
  } catch (err) {
    dropIfEmpty(ledger, lineageName, isNew);
    throw err;
  }
  return { result: result.resumed ? 'recovered' : 'issued', ...result };
}
