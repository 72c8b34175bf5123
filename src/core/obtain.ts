/**
 * Getting a certificate for a lineage, start to finish: shared by `issue`
 * and `renew`. Order of business (nothing reaches the CA before the checks):
 *   1. local checks (webroot writable / port free),
 *   2. recover an interrupted order of this lineage instead of ordering again,
 *   3. the planner (rate limits, duplicates) and the readiness checks — via
 *      the `gate` the caller passes,
 *   4. account, journalled orders (one per key part: dual = 2), download,
 *   5. write the new archive version, then swap live/, then mark done.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Ledger, LineageRow, OrderRow } from './ledger/ledger.js';
import type { StatePaths } from './paths.js';
import type { CaProfile } from './ca/registry.js';
import { LineageStore, type VersionFile } from './store/lineage.js';
import { openSession, type Session } from './acme/session.js';
import { OrderDriver, type PartResult } from './acme/order.js';
import { WebrootResponder, StandaloneResponder, assertWebrootWritable, parseListen, type ChallengeResponder } from './acme/challenge.js';
import { parseKeyType } from './keys/index.js';
import { registeredDomains, setKey } from './names.js';
import { splitPemChain } from './x509.js';
import { InputError } from './errors.js';
import type { CallContext } from './acme/transport.js';
import type { Gate } from './gate.js';
import { Mutex } from './concurrency.js';
import { isSm2Role, sm2PartFiles, sm2BundleStep } from './ca/sm2acme.js';

/** One critical section per process for "plan, then journal the orders" (see obtain). */
const journalling = new Mutex();

export interface ObtainRequest {
  lineage: LineageRow;
  ca: CaProfile;
  email?: string;
  eab?: { kid: string; hmacKey: string };
  caBundle?: string;
  replaces?: string | null;
  forced?: boolean;
  precheckSkipped?: boolean;
}

export interface ObtainDeps {
  ledger: Ledger;
  paths: StatePaths;
  now: () => number;
  log: (line: string) => void;
  verbose?: (line: string) => void;
  onResponse?: CallContext['onResponse'];
  /**
   * Planner + readiness checks: run after local checks and before any request reaches the CA, and the
   * planner again inside the journalling critical section; throws to stop.
   */
  gate?: Gate;
}

export interface ObtainResult {
  lineage: string;
  version: number;
  resumed: boolean;
  certificates: { role: string; serial: string; notAfter: number; names: string[] }[];
  files: string[];
}

/** File names of each part in a version, as web-server configs expect them. */
export function filesForPart(role: string, keyPem: string, chainPem: string): VersionFile[] {
  if (isSm2Role(role)) return sm2PartFiles(role, keyPem, chainPem);
  const certs = splitPemChain(chainPem);
  const leaf = certs[0] ?? '';
  const chain = certs.slice(1).join('');
  const suffix = role === 'main' ? '' : `-${role}`;
  return [
    { base: `cert${suffix}`, data: leaf },
    { base: `chain${suffix}`, data: chain },
    { base: `fullchain${suffix}`, data: leaf + chain },
    { base: `privkey${suffix}`, data: keyPem, secret: true },
  ];
}

export async function makeResponder(l: LineageRow): Promise<ChallengeResponder> {
  if (l.challenge === 'webroot') {
    assertWebrootWritable(l.webroot!);
    return new WebrootResponder(l.webroot!);
  }
  const { host, port } = parseListen(l.standalone_addr ?? undefined);
  const r = new StandaloneResponder(host, port);
  await r.start();
  return r;
}

export async function obtain(req: ObtainRequest, deps: ObtainDeps): Promise<ObtainResult> {
  const { ledger, paths, now, log } = deps;
  const l = req.lineage;
  const spec = parseKeyType(l.key_type);
  const store = new LineageStore(paths);

  // 2. An order of this lineage left in flight (crash, kill, time-out) is resumed, not repeated.
  const open = ledger.openOrders(l.name).filter((o) => o.directory_url === l.directory_url);
  const resumed = open.length > 0;
  // 1 + 3. A webroot is checked first (a broken one must not cost an order); in standalone
  // mode the readiness checks serve their probe on the port before certctl's responder takes it.
  if (l.challenge === 'standalone' && !resumed) await deps.gate?.check();
  const responder = await makeResponder(l);
  try {
    if (l.challenge !== 'standalone' && !resumed) await deps.gate?.check();

    let rows: OrderRow[];
    if (resumed) {
      log(`Resuming ${open.length} interrupted order(s) of ${l.name} instead of ordering again.`);
      rows = open;
    } else {
      // Plan again and journal the orders in one critical section: requests running side by side in
      // this process (apply/renew --concurrency) then see each other's orders in flight and cannot all
      // take the same last slot. (Across processes the run lock serialises whole runs.)
      rows = await journalling.run(async () => {
        await deps.gate?.recheck();
        const bundle = spec.parts.length > 1 ? crypto.randomUUID() : null;
        return spec.parts.map((p) => {
          const id = ledger.createOrder({
            lineage: l.name,
            bundle_id: bundle,
            role: p.role,
            account_id: ledger.account(l.directory_url)?.id ?? null,
            ca_id: req.ca.id,
            directory_url: l.directory_url,
            names: l.names,
            set_key: l.set_key,
            key_type: l.key_type,
            replaces: req.replaces ?? null,
            profile: (l.settings.profile as string | undefined) ?? null,
            forced: req.forced,
            precheck_skipped: req.precheckSkipped,
            now: now(),
          });
          return ledger.order(id)!;
        });
      });
    }

    let session: Session;
    try {
      session = await openSession({
        ledger,
        paths,
        ca: req.ca,
        directoryUrl: l.directory_url,
        email: req.email ?? (l.settings.email as string | undefined),
        eab: req.eab,
        caBundle: req.caBundle ?? l.settings.caBundle,
        verbose: deps.verbose,
        log,
        now,
        onResponse: deps.onResponse,
      });
      const profile = l.settings.profile as string | undefined;
      const offered = (session.directory.meta as { profiles?: Record<string, string> } | undefined)?.profiles;
      if (profile && !resumed && offered && !(profile in offered)) {
        throw new InputError(`${req.ca.name} does not offer the profile "${profile}".`, `It offers: ${Object.keys(offered).join(', ') || 'none'}. Choose one with --profile, or leave it out and let the CA choose.`);
      }
    } catch (err) {
      // Nothing of these new orders reached the CA: they are not history, take them out of the journal.
      if (!resumed) for (const r of rows) ledger.discardUnsentOrder(r.id);
      throw err;
    }
    if (!resumed) {
      for (const r of rows) if (r.account_id === null) ledger.updateOrder(r.id, { account_id: session.accountId }, now(), 'account registered');
      rows = rows.map((r) => ledger.order(r.id)!);
    }

    const currentKey = (role: string): string | undefined => {
      if (!l.settings.reuseKey || l.current_version === 0) return undefined;
      // The key file of this role in the current version (privkey.pem, privkey-ecdsa.pem, sign.key, enc.key).
      const keyFile = filesForPart(role, '', '').find((f) => f.secret)!;
      const file = path.join(store.archiveDir(l.name), `${keyFile.base}${l.current_version}${keyFile.ext ?? '.pem'}`);
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    };
    const driver = new OrderDriver({ session, ledger, paths, responder, now, log, reuseKey: currentKey });
    log(`Ordering ${spec.parts.length > 1 ? `${spec.parts.length} certificates` : 'a certificate'} for ${l.names.join(', ')} from ${req.ca.name}…`);
    const downloaded: PartResult[] = await Promise.all(rows.map((r) => driver.drive(r)));
    // The bundle step, for parts that need each other (SM2: open an enveloped key, double_certs.pem).
    const { parts, files: bundleFiles } = await sm2BundleStep(downloaded);

    // 5. Archive first, then live/, then the ledger says done.
    const version = Math.max(store.latestArchivedVersion(l.name), l.current_version) + 1;
    const files = [...parts.flatMap((p) => filesForPart(p.role, p.keyPem, p.chainPem)), ...bundleFiles];
    const written = store.writeVersion(l.name, version, files);
    const regs = registeredDomains(l.names);
    ledger.tx(() => {
      for (const p of parts) {
        ledger.insertCertificate({
          lineage: l.name,
          version,
          order_id: p.orderId,
          bundle_id: rows[0]!.bundle_id,
          role: p.role,
          source: 'certctl',
          ca_id: req.ca.id,
          directory_url: l.directory_url,
          issuer: p.facts.issuer,
          serial: p.facts.serial,
          names: p.facts.names.length ? p.facts.names : l.names,
          set_key: setKey(p.facts.names.length ? p.facts.names : l.names),
          key_type: p.facts.keyType,
          not_before: p.facts.notBefore,
          not_after: p.facts.notAfter,
          issued_at: p.issuedAt,
          replaces: req.replaces ?? null,
          ari_cert_id: null,
          seen_in_ct: 0,
          fingerprint: p.facts.fingerprint,
          registered_domains: regs,
          now: now(),
        });
      }
    });
    store.activate(l.name, version, files);
    ledger.tx(() => {
      ledger.setLineageVersion(l.name, version, now());
      for (const p of parts) ledger.updateOrder(p.orderId, { step: 'stored', state: 'done' }, now(), `archive version ${version}`);
    });
    for (const r of rows) {
      const kp = ledger.order(r.id)?.key_path;
      if (kp) fs.rmSync(kp, { force: true });
    }
    return {
      lineage: l.name,
      version,
      resumed,
      certificates: parts.map((p) => ({ role: p.role, serial: p.facts.serial, notAfter: p.facts.notAfter, names: p.facts.names })),
      files: [...written, ...store.liveFiles(l.name)],
    };
  } finally {
    await responder.close();
  }
}
