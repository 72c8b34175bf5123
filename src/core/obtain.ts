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
import { LineageStore, keyMatchesCert, type VersionFile } from './store/lineage.js';
import { openSession, type Session } from './acme/session.js';
import { loadAcme } from './acme/adapter.js';
import { OrderDriver, type PartResult } from './acme/order.js';
import { solverFor } from './challenge/index.js';
import { parseKeyType } from './keys/index.js';
import { registeredDomains, setKey } from './names.js';
import { splitPemChain, certFacts } from './x509.js';
import { writeFileAtomic } from './store/atomic.js';
import { InputError, CertctlError, ExitCode } from './errors.js';
import type { CallContext } from './acme/transport.js';
import type { Gate } from './gate.js';
import { Mutex } from './concurrency.js';
import { InterruptedError } from './interrupt.js';
import { acquireLease, leaseHolder, usesLeases, type HeldLease } from './store/lease.js';
import type { LeaseRow } from './ledger/ledger.js';
import { LockedError } from './errors.js';
import { isSm2Role, sm2PartFiles, sm2BundleStep } from './ca/sm2acme.js';
import { span } from './timeline.js';

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
  /** Something the user must see even where `log` is quiet (renew): a preferred chain the CA no longer offers. Default: log. */
  warn?: (line: string) => void;
  verbose?: (line: string) => void;
  onResponse?: CallContext['onResponse'];
  /**
   * Planner + readiness checks: run after local checks and before any request reaches the CA, and the
   * planner again inside the journalling critical section; throws to stop.
   */
  gate?: Gate;
  /** A shared ledger's lease life without a heartbeat (store/lease.ts; default LEASE_TTL_MS). */
  leaseTtlMs?: number;
}

export interface ObtainResult {
  lineage: string;
  version: number;
  resumed: boolean;
  certificates: { role: string; serial: string; notAfter: number; names: string[] }[];
  files: string[];
}

/** The lease expired and another host took the lineage (this host's heartbeat could not reach the ledger in time): stop before ordering. */
function leaseLost(lineage: string, h: LeaseRow | undefined): LockedError {
  return new LockedError(
    `This host's lease on ${lineage} expired${h ? ` and host ${h.host} (pid ${h.pid}) holds it now` : ''}: certctl ordered nothing more for it.`,
    'Nothing was sent for a new order. Check the connection to the ledger; the host holding the lease resumes what was journalled.',
  );
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

export async function obtain(req: ObtainRequest, deps: ObtainDeps): Promise<ObtainResult> {
  const { ledger, paths, now } = deps;
  const l = req.lineage;
  const store = new LineageStore(paths);
  // 1. No planted symlink or foreign/writable directory where this lineage's files go (nothing sent yet).
  store.assertWritable(l.name);
  // A shared ledger: this host works on the lineage only under its lease (renew's walk took it already;
  // issue takes it here). Another host renewing it now: exit 9, nothing sent.
  const lease = usesLeases(ledger) ? acquireLease(ledger, l.name, now, deps.leaseTtlMs) : null;
  try {
    return await obtainLeased(req, deps, lease);
  } finally {
    lease?.release();
  }
}

async function obtainLeased(req: ObtainRequest, deps: ObtainDeps, lease: HeldLease | null): Promise<ObtainResult> {
  const { ledger, paths, now, log } = deps;
  const l = req.lineage;
  const spec = parseKeyType(l.key_type);
  const store = new LineageStore(paths);
  // acme-client (and axios) load while the ledger, the plan and the readiness checks run: the
  // session needs them only after, and loading them took ~0.3 s of a run (CERTCTL_TIMELINE=1).
  loadAcme().catch(() => {});
  // A crash during the live/ switch is finished from the journal, without the CA (storeVersion).
  const switched = (await finishInterruptedStore({ ledger, paths, now, log }, l.name)) ?? (await rebindCurrentVersion({ ledger, paths, now, log }, l.name));
  if (switched) return switched;

  // 2. An order of this lineage left in flight (crash, kill, time-out) is resumed, not repeated.
  const open = ledger.openOrders(l.name).filter((o) => o.directory_url === l.directory_url);
  const resumed = open.length > 0;
  // A part of a multi-part lineage (dual, SM2) whose order ended (refused, failed) while another
  // part's order stayed open: it is ordered again beside the resumed ones, through the gate — else
  // the version would be stored without it and never get it (a 'dual' lineage with one certificate).
  const missing = resumed ? spec.parts.filter((p) => !open.some((o) => (o.role ?? 'main') === p.role)) : [];
  // 1 + 3. A webroot is checked first (a broken one must not cost an order); in standalone
  // mode the readiness checks serve their probe on the port before certctl's solver takes it.
  const ordering = !resumed || missing.length > 0;
  const listens = l.challenge === 'standalone' || l.challenge === 'standalone-tls';
  if (listens && ordering) await span('gate: plan + readiness checks', () => deps.gate?.check());
  const solver = solverFor(l, { ledger, now, log, readiness: !req.precheckSkipped });
  await solver.prepare();
  try {
    if (!listens && ordering) await span('gate: plan + readiness checks', () => deps.gate?.check());

    let rows: OrderRow[] = [];
    if (resumed) {
      // Where each order stopped, from its journal: the run goes on from there (not "Ordering…" as if anew).
      const steps = [...new Set(open.map((o) => o.step))];
      log(`Resuming the order${open.length > 1 ? 's' : ''} of ${l.name} interrupted at ${steps.join(', ')}…`);
      rows = open;
      if (missing.length) log(`Ordering the ${missing.map((p) => p.role).join(', ')} part of ${l.name} again: its order ended without a certificate.`);
    }
    if (ordering) {
      // Plan again and journal the orders in one critical section: requests running side by side in
      // this process (apply/renew --concurrency) then see each other's orders in flight and cannot all
      // take the same last slot. (Across processes and hosts: the transaction below.)
      // On a shared ledger the plan and the journal are one IMMEDIATE transaction (PostgreSQL: under the
      // ledger's advisory lock), so hosts renewing different lineages of one registered domain at the same
      // moment cannot together overspend a limit; and only while this process still holds the lineage's lease.
      const fresh = await journalling.run(async () => {
        const recheck = (await deps.gate?.recheck()) ?? (() => {});
        const bundle = resumed ? (open[0]!.bundle_id ?? null) : spec.parts.length > 1 ? crypto.randomUUID() : null;
        return ledger.tx(() => {
          if (lease && !ledger.holdsLease(l.name, leaseHolder(ledger), now())) throw leaseLost(l.name, ledger.lease(l.name));
          recheck();
          return journal();
        });
        function journal(): OrderRow[] {
        return (resumed ? missing : spec.parts).map((p) => {
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
            profile: l.settings.profile ?? null,
            forced: req.forced,
            precheck_skipped: req.precheckSkipped,
            now: now(),
          });
          return ledger.order(id)!;
        });
        }
      });
      rows = [...rows, ...fresh];
    }
    const freshIds = new Set(rows.filter((r) => !open.includes(r)).map((r) => r.id));

    let session: Session;
    try {
      session = await span('ACME session: directory + account', () => openSession({
        ledger,
        paths,
        ca: req.ca,
        directoryUrl: l.directory_url,
        email: req.email ?? l.settings.email,
        eab: req.eab,
        caBundle: req.caBundle ?? l.settings.caBundle,
        verbose: deps.verbose,
        log,
        now,
        onResponse: deps.onResponse,
      }));
      const profile = l.settings.profile;
      const offered = (session.directory.meta as { profiles?: Record<string, string> } | undefined)?.profiles;
      if (profile && !resumed && offered && !(profile in offered)) {
        throw new InputError(`${req.ca.name} does not offer the profile "${profile}".`, `It offers: ${Object.keys(offered).join(', ') || 'none'}. Choose one with --profile, or leave it out and let the CA choose.`);
      }
    } catch (err) {
      // Nothing of these new orders reached the CA: they are not history, take them out of the journal.
      for (const r of rows) if (freshIds.has(r.id)) ledger.discardUnsentOrder(r.id);
      throw err;
    }
    if (freshIds.size) {
      for (const r of rows) if (freshIds.has(r.id) && r.account_id === null) ledger.updateOrder(r.id, { account_id: session.accountId }, now(), 'account registered');
      rows = rows.map((r) => ledger.order(r.id)!);
    }

    const currentKey = (role: string): string | undefined => {
      if (!l.settings.reuseKey || l.current_version === 0) return undefined;
      // The key file of this role in the current version (privkey.pem, privkey-ecdsa.pem, sign.key, enc.key).
      const keyFile = filesForPart(role, '', '').find((f) => f.secret)!;
      const file = path.join(store.archiveDir(l.name), `${keyFile.base}${l.current_version}${keyFile.ext ?? '.pem'}`);
      if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
      // A fleet host that renews a lineage it never wrote: the current key is in the ledger.
      return ledger.fleetMode ? ledger.versionFiles(l.name, l.current_version).find((f) => f.file === `${keyFile.base}${keyFile.ext ?? '.pem'}`)?.data : undefined;
    };
    const driver = new OrderDriver({ session, ledger, paths, solver, now, log, reuseKey: currentKey, preferredChain: l.settings.preferredChain, warn: deps.warn });
    if (!resumed) log(`Ordering ${spec.parts.length > 1 ? `${spec.parts.length} certificates` : 'a certificate'} for ${l.names.join(', ')} from ${req.ca.name}…`);
    let downloaded: PartResult[];
    if (solver.oneOrderAtATime) {
      downloaded = [];
      for (const r of rows) downloaded.push(await driver.drive(r));
    } else {
      const drives = rows.map((r) => driver.drive(r));
      downloaded = await Promise.all(drives).catch(async (err) => {
        // Stopped, or one part failed (a 429 to its newOrder, a refusal): every other part is let run
        // to its end (journal, challenge clean-up) before the solver closes below. Leaving one in
        // flight would tear its challenge down while the CA validates it (a failed authorization), or
        // exit with an order the CA created but the journal never recorded (ordered again next run).
        await Promise.allSettled(drives);
        throw err;
      });
    }
    // The bundle step, for parts that need each other (SM2: open an enveloped key, double_certs.pem).
    const { parts, files: bundleFiles } = await sm2BundleStep(downloaded);

    // 5. Store (storeVersion): archive files, then ONE ledger transaction that records the certificate
    // rows with their version and journals 'storing', then live/, then 'stored'.
    return await span('store the version (archive, ledger, live/)', () => storeVersion({ ledger, paths, now, log }, { lineage: l.name, ca: req.ca, replaces: req.replaces ?? null, rows, parts, bundleFiles, resumed }));
  } catch (err) {
    // Stopped on request: say where each order of this lineage stands in its journal (the next run resumes there).
    if (err instanceof InterruptedError) throw err.at(ledger.openOrders(l.name).map((o) => ({ lineage: l.name, orderId: o.id, step: o.step })));
    throw err;
  } finally {
    await solver.close();
  }
}

// ------------------------------------------------------------------ storing
//
// The file switch and the ledger's version are one recoverable step:
//   a. every file of version N into archive/<name>/ (atomic, keys 0600, fsynced);
//   b. one transaction: the certificate rows bound to (lineage, N) and each
//      order's journal step 'storing' ("storing archive version N");
//   c. live/<name>/*.pem re-pointed at version N, one atomic rename each;
//   d. one transaction: the lineage's current version = N, orders 'stored'.
// A crash before (b) leaves the order at 'downloaded': the next run downloads
// the certificate again (POST-as-GET: nothing new is issued) and stores it as
// the next version (the half-written one is left alone: a version number is
// never reused, so no key is ever overwritten). A crash after (b) is finished by
// finishInterruptedStore from the journal alone: archive files checked (all
// there, key matches certificate, the serial the ledger records), (c) and (d)
// repeated — no request to the CA.

interface StoreDeps {
  ledger: Ledger;
  paths: StatePaths;
  now: () => number;
  log: (line: string) => void;
}

/** The files of one version holding these parts (roles), and each part's certificate + key file. */
export function versionLayout(roles: string[]): { layout: Pick<VersionFile, 'base' | 'ext'>[]; pairs: { role: string; cert: Pick<VersionFile, 'base' | 'ext'>; key: Pick<VersionFile, 'base' | 'ext'> }[] } {
  const layout: Pick<VersionFile, 'base' | 'ext'>[] = [];
  const pairs: { role: string; cert: Pick<VersionFile, 'base' | 'ext'>; key: Pick<VersionFile, 'base' | 'ext'> }[] = [];
  for (const role of roles) {
    const fs_ = filesForPart(role, '', '');
    layout.push(...fs_.map((f) => ({ base: f.base, ext: f.ext })));
    pairs.push({ role, cert: fs_.find((f) => !f.secret)!, key: fs_.find((f) => f.secret)! });
  }
  if (roles.includes('sm2-sign') && roles.includes('sm2-enc')) layout.push({ base: 'double_certs', ext: '.pem' });
  return { layout, pairs };
}

async function storeVersion(
  deps: StoreDeps,
  a: { lineage: string; ca: CaProfile; replaces: string | null; rows: OrderRow[]; parts: PartResult[]; bundleFiles: VersionFile[]; resumed: boolean },
): Promise<ObtainResult> {
  const { ledger, paths, now } = deps;
  const store = new LineageStore(paths);
  const l = ledger.lineage(a.lineage)!;
  for (const p of a.parts) {
    const leaf = splitPemChain(p.chainPem)[0] ?? '';
    if (!(await keyMatchesCert(p.keyPem, leaf))) {
      throw new CertctlError(`The CA's certificate (serial ${p.facts.serial}) is for another key than the one certctl sent in its CSR; nothing was stored.`, ExitCode.CA_ERROR, 'Report this to the CA with the order URL (certctl status --orders).');
    }
  }
  // The next number never used on disk or in the ledger: a half-written or damaged version is left
  // alone (its key may be the only copy of something), never overwritten.
  const version = Math.max(store.latestArchivedVersion(l.name), l.current_version, ...ledger.certificatesForLineage(l.name).map((c) => c.version ?? 0)) + 1;
  const files = [...a.parts.flatMap((p) => filesForPart(p.role, p.keyPem, p.chainPem)), ...a.bundleFiles];
  // A fleet key rotated by another host since this run began: nothing is written or sealed with the old
  // key (the order stays 'downloaded'; with the new key the next run downloads and stores it). Checked
  // again inside the transaction below, under the write lock the rotation takes.
  if (ledger.fleetMode) ledger.assertFleetKeyCurrent();
  const written = store.writeVersion(l.name, version, files);
  const regs = registeredDomains(l.names);
  try {
  ledger.tx(() => {
    for (const p of a.parts) {
      const names = p.facts.names.length ? p.facts.names : l.names;
      const { id } = ledger.insertCertificate({
        lineage: l.name,
        version,
        order_id: p.orderId,
        bundle_id: a.rows[0]!.bundle_id,
        role: p.role,
        source: 'certctl',
        ca_id: a.ca.id,
        directory_url: l.directory_url,
        issuer: p.facts.issuer,
        serial: p.facts.serial,
        names,
        set_key: setKey(names),
        key_type: p.facts.keyType,
        not_before: p.facts.notBefore,
        not_after: p.facts.notAfter,
        issued_at: p.issuedAt,
        replaces: a.replaces,
        ari_cert_id: null,
        seen_in_ct: 0,
        fingerprint: p.facts.fingerprint,
        registered_domains: regs,
        now: now(),
      });
      // The row may exist already (seen in CT first; a damaged version stored again): it is this version's.
      ledger.setCertificateVersion(id, l.name, version, p.orderId);
    }
    for (const p of a.parts) ledger.updateOrder(p.orderId, { step: 'storing' }, now(), `storing archive version ${version}`);
    // A fleet's ledger keeps the whole version (keys sealed), in the same transaction: every host writes it from here.
    if (ledger.fleetMode) ledger.saveVersionFiles(l.name, version, files.map((f) => ({ file: `${f.base}${f.ext ?? '.pem'}`, secret: Boolean(f.secret), data: f.data })), now());
  });
  } catch (err) {
    // Refused before anything was recorded (the fleet key changed under the write lock): the files just
    // written are no one's (the order's key is still in pending/ and, sealed, in the ledger), so they go.
    if (err instanceof InputError) for (const f of written) fs.rmSync(f, { force: true });
    throw err;
  }
  switchLive(deps, store, l.name, version, files, a.parts.map((p) => p.orderId));
  return {
    lineage: l.name,
    version,
    resumed: a.resumed,
    certificates: a.parts.map((p) => ({ role: p.role, serial: p.facts.serial, notAfter: p.facts.notAfter, names: p.facts.names })),
    files: [...written, ...store.liveFiles(l.name)],
  };
}

/** Steps (c) and (d): live/ at `version` (unless the lineage is already past it), the orders' pending keys removed, then the version set and the orders stored. */
function switchLive(deps: StoreDeps, store: LineageStore, name: string, version: number, files: Pick<VersionFile, 'base' | 'ext'>[], orderIds: number[]): void {
  const { ledger, paths, now } = deps;
  const current = ledger.lineage(name)?.current_version ?? 0;
  if (version > current) store.activate(name, version, files);
  // The pending keys go before the journal says 'stored' (each is in archive/ now, checked or just
  // written): a crash between the two is finished from 'storing', so no key is ever left behind.
  for (const id of orderIds) {
    const kp = ledger.order(id)?.key_path;
    // Only certctl's own pending/ files.
    if (kp && path.dirname(path.resolve(kp)) === path.resolve(paths.pending)) fs.rmSync(kp, { force: true });
  }
  ledger.tx(() => {
    if (version > current) ledger.setLineageVersion(name, version, now());
    for (const id of orderIds) ledger.updateOrder(id, { step: 'stored', state: 'done' }, now(), `archive version ${version}`);
    // The pending keys kept sealed for another host are in version_files now.
    for (const id of orderIds) ledger.clearOrderKey(id);
    if (ledger.fleetMode) {
      // This host renewed it and wrote its files (recorded as deployed when it deploys the lineage).
      if (version > current) ledger.markRenewedBy(name, ledger.host, now());
      ledger.setHostDeployed(name, ledger.host, version, now());
    }
  });
}

/**
 * Finish a live/ switch a crash interrupted after step (b): the journal says
 * 'storing' and the ledger holds the version's certificate rows. Returns
 * null when there is none, or when the archive files are not all there and
 * right (then the orders are resumed at the CA as 'downloaded' ones are, and
 * storeVersion stores them as the next version, re-binding their rows).
 */
export async function finishInterruptedStore(deps: StoreDeps, name: string): Promise<ObtainResult | null> {
  const { ledger, paths, log } = deps;
  const storing = ledger.openOrders(name).filter((o) => o.step === 'storing');
  if (!storing.length) return null;
  const certs = ledger.certificatesOfOrders(storing.map((o) => o.id)).filter((c) => c.lineage === name && c.version !== null);
  const versions = [...new Set(certs.map((c) => c.version!))];
  if (versions.length !== 1 || certs.length !== storing.length) {
    log(`The journal of ${name} says a version was being stored, but its certificate rows do not name one version; fetching the certificates again.`);
    return null;
  }
  const version = versions[0]!;
  const store = new LineageStore(paths);
  const { layout, pairs } = versionLayout(certs.map((c) => c.role ?? 'main'));
  const serialOf = new Map(certs.map((c) => [c.role ?? 'main', c.serial]));
  const check = () => store.checkVersion(name, version, layout, pairs.map((p) => ({ ...p, serial: serialOf.get(p.role) })));
  let problems = await check();
  if (problems.length && ledger.fleetMode) {
    // A fleet's ledger stored the whole version in the same transaction as 'storing' (version_files):
    // the host that finishes the switch need not be the one that ordered (killed mid-switch, resumed by
    // another host after its lease expired, whose archive/ never had these files). Written from there.
    const stored = ledger.versionFiles(name, version);
    if (stored.length) {
      log(`Archive version ${version} of ${name} is not whole on this host (${problems.join('; ')}); writing it from the ledger.`);
      store.assertWritable(name);
      store.writeStoredVersion(name, version, stored);
      problems = await check();
    }
  }
  if (problems.length) {
    // Downloading again needs each order's key where the driver looks for it (pending/): it is
    // removed only after live/ is switched, so put the archived copy back if that happened already.
    for (const o of storing) {
      if (o.key_path && fs.existsSync(o.key_path)) continue;
      const pair = pairs.find((p) => p.role === o.role)!;
      const archived = store.archiveFile(name, version, pair.key);
      const cert = certs.find((c) => c.order_id === o.id)!;
      let ok = false;
      try {
        const certPem = splitPemChain(fs.readFileSync(store.archiveFile(name, version, pair.cert), 'utf8'))[0] ?? '';
        ok = certFacts(certPem).serial === cert.serial && (await keyMatchesCert(fs.readFileSync(archived, 'utf8'), certPem));
      } catch {
        /* cannot prove the archived key is this certificate's */
      }
      if (!ok || !o.key_path) {
        throw new CertctlError(
          `The private key of ${name}'s certificate ${cert.serial} is not on this host: archive version ${version} is damaged or missing (${problems.join('; ')}) and pending/ does not hold the key.`,
          ExitCode.CONFIG,
          ledger.backend === 'postgres'
            ? `This ledger is shared: run certctl on the host that ordered it (its state directory holds the key), or restore ${store.archiveDir(name)} from a backup here.`
            : `Restore ${store.archiveDir(name)} from a backup and run certctl again: without its key this certificate cannot be used, and certctl will not order another one while this one is unfinished.`,
        );
      }
      writeFileAtomic(o.key_path, fs.readFileSync(archived, 'utf8'), 0o600);
    }
    log(`Archive version ${version} of ${name} is incomplete (${problems.join('; ')}); fetching the certificate again to store it.`);
    return null;
  }
  log(`Finishing the interrupted switch of ${name} to archive version ${version} (no request to the CA).`);
  switchLive(deps, store, name, version, layout, storing.map((o) => o.id));
  return {
    lineage: name,
    version,
    resumed: true,
    certificates: certs.map((c) => ({ role: c.role ?? 'main', serial: c.serial, notAfter: c.not_after, names: c.names })),
    files: [...layout.map((f) => store.archiveFile(name, version, f)), ...store.liveFiles(name)],
  };
}

/**
 * Repair what certctl before the 'storing' step left after a kill in the live/
 * switch: the lineage at version N (live/ at N, archive files of N complete)
 * while its certificate rows still say an older version — `status` saw no
 * certificate and `renew` ordered a second one. When every part's certificate
 * in archive version N is one the ledger records for this lineage (same
 * serial) and each key matches, the rows are bound to N again; no request to
 * the CA. Returns null when there is nothing to repair or it cannot be proven.
 */
export async function rebindCurrentVersion(deps: StoreDeps, name: string): Promise<ObtainResult | null> {
  const { ledger, paths, log, now } = deps;
  const l = ledger.lineage(name);
  if (!l || ledger.currentCertificates(name).length || ledger.openOrders(name).length) return null;
  const store = new LineageStore(paths);
  const roles = parseKeyType(l.key_type).parts.map((p) => p.role);
  const { layout, pairs } = versionLayout(roles);
  const rows = ledger.certificatesForLineage(name);
  if (!rows.length) return null;
  // The lineage's version, else the one live/ points at (a version number edited or damaged in the
  // ledger: its certificate is still on disk and in the ledger, and ordering another would waste one).
  const proven = async (version: number) => {
    if (version <= 0 || (await store.checkVersion(name, version, layout, pairs)).length) return null;
    const found: { role: string; row: (typeof rows)[number] }[] = [];
    for (const p of pairs) {
      const serial = certFacts(splitPemChain(fs.readFileSync(store.archiveFile(name, version, p.cert), 'utf8'))[0] ?? '').serial;
      const row = rows.find((r) => r.serial === serial && (r.role ?? 'main') === p.role);
      if (!row) return null;
      found.push({ role: p.role, row });
    }
    return found;
  };
  let version = l.current_version;
  let found = await proven(version);
  const live = store.liveVersion(name, pairs[0]!.cert);
  if (!found && live !== null && live !== version) found = await proven((version = live));
  if (!found) return null;
  log(`The ledger had ${name}'s certificate at another version than its files (archive version ${version}); recorded it at ${version} (no request to the CA).`);
  store.activate(name, version, layout); // live/ at N whole, whatever the old kill left
  ledger.tx(() => {
    for (const f of found) ledger.setCertificateVersion(f.row.id, name, version, f.row.order_id);
    ledger.setLineageVersion(name, version, now());
  });
  return {
    lineage: name,
    version,
    resumed: true,
    certificates: found.map((f) => ({ role: f.role, serial: f.row.serial, notAfter: f.row.not_after, names: f.row.names })),
    files: [...layout.map((f) => store.archiveFile(name, version, f)), ...store.liveFiles(name)],
  };
}
