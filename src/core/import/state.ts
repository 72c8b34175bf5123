/**
 * The state directory's own lineages as evidence. archive/<name>/ holds every
 * certificate certctl ever stored for a lineage, whatever became of the
 * ledger: a ledger that was lost (deleted, zeroed and moved away) or
 * replaced (an older backup, another ledger) does not know them, and a plan
 * made from it would order them again and spend the CA's duplicate and
 * per-domain slots a second time.
 *
 * - assertStateKnown (the gate, before anything is sent): refuse to order for
 *   names that a lineage on disk unknown to the ledger holds, or for a
 *   lineage with archived versions the ledger has no certificate for.
 * - importState (`certctl import state`): re-adopt those lineages — every
 *   archived version becomes a certificate row (counted by the limits), the
 *   lineage row is rebuilt with what the files and the options tell, and the
 *   current version is the one live/ points at. Only the ledger is written;
 *   archive/ and live/ are read, never changed. Idempotent.
 */
import { utc } from '../clock.js';
import fs from 'node:fs';
import path from 'node:path';
import type { Ledger, LineageRow, LineageSettings } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import { StateError } from '../errors.js';
import { findCa, type CaProfile } from '../ca/registry.js';
import { assertLineageName, registeredDomains, setKey } from '../names.js';
import { certFacts, splitPemChain, type CertFacts } from '../x509.js';
import { parseKeyType } from '../keys/index.js';
import { caIdForIssuer } from '../ct/parse.js';
import { estimateIssuedAt } from './index.js';

/** archive/<name>/<base><N><ext>, as LineageStore writes them. */
const VERSIONED = /^(.+?)(\d+)(\.[a-z]+)$/;

/** The certificate file of each role, by base name (see obtain.ts filesForPart and ca/sm2acme.ts). */
function roleOfCertFile(base: string, ext: string): string | null {
  if (ext !== '.pem') return null;
  if (base === 'cert') return 'main';
  if (base === 'sign') return 'sm2-sign';
  if (base === 'enc') return 'sm2-enc';
  const m = /^cert-([a-z0-9-]+)$/.exec(base);
  return m ? m[1]! : null;
}

export interface DiskCertificate {
  version: number;
  role: string;
  file: string;
  pem: string;
  facts: CertFacts;
}

export interface DiskLineage {
  name: string;
  dir: string;
  /** Every certificate file that could be read, by version then role. */
  certificates: DiskCertificate[];
  /** Files that hold no readable certificate. */
  unreadable: string[];
  /** The version live/<name>/ points at, else the highest with a main certificate; null if none. */
  current: number | null;
  versions: number;
}

/** Read archive/<name>/ (and where live/<name>/ points). Reads only. */
export function readDiskLineage(paths: StatePaths, name: string): DiskLineage {
  const dir = path.join(paths.archive, name);
  const certificates: DiskCertificate[] = [];
  const unreadable: string[] = [];
  const versions = new Set<number>();
  for (const e of fs.readdirSync(dir).sort()) {
    const m = VERSIONED.exec(e);
    if (!m) continue;
    const role = roleOfCertFile(m[1]!, m[3]!);
    if (!role) continue;
    const version = Number(m[2]);
    const file = path.join(dir, e);
    try {
      const st = fs.lstatSync(file);
      if (!st.isFile()) throw new Error('not a regular file');
      const leaf = splitPemChain(fs.readFileSync(file, 'utf8'))[0];
      if (!leaf) throw new Error('no certificate');
      certificates.push({ version, role, file, pem: leaf, facts: certFacts(leaf) });
      versions.add(version);
    } catch {
      unreadable.push(file);
    }
  }
  certificates.sort((a, b) => a.version - b.version || a.role.localeCompare(b.role));
  let current: number | null = null;
  for (const link of ['cert.pem', 'sign.pem']) {
    try {
      const target = fs.readlinkSync(path.join(paths.live, name, link));
      const m = VERSIONED.exec(path.basename(target));
      if (m && path.basename(path.dirname(target)) === name && versions.has(Number(m[2]))) {
        current = Number(m[2]);
        break;
      }
    } catch {
      /* no live link */
    }
  }
  if (current === null) {
    const mains = certificates.filter((c) => c.role === 'main' || c.role === 'sm2-sign').map((c) => c.version);
    current = mains.length ? Math.max(...mains) : null;
  }
  return { name, dir, certificates, unreadable, current, versions: versions.size };
}

/** Lineage directory names in archive/ (directories only, names certctl could have made). */
function archiveNames(paths: StatePaths): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(paths.archive, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    try {
      out.push(assertLineageName(e.name));
    } catch {
      /* not one of certctl's */
    }
  }
  return out.sort();
}

interface UnknownLineage {
  name: string;
  names: string[];
  versions: number;
  notAfter: number | null;
}

/** Lineages on disk the ledger has no row for, computed once per ledger (a renew of many lineages asks once). */
const unknownCache = new WeakMap<Ledger, UnknownLineage[]>();

export function unknownDiskLineages(ledger: Ledger, paths: StatePaths): UnknownLineage[] {
  const cached = unknownCache.get(ledger);
  if (cached) return cached;
  const onDisk = archiveNames(paths);
  let out: UnknownLineage[] = [];
  if (onDisk.length) {
    const known = ledger.lineagesAmong(onDisk);
    out = onDisk
      .filter((n) => !known.has(n))
      .map((n) => {
        const d = readDiskLineage(paths, n);
        const cur = d.certificates.filter((c) => c.version === d.current);
        const names = [...new Set(cur.flatMap((c) => c.facts.names.map((x) => x.toLowerCase())))];
        return { name: n, names, versions: d.versions, notAfter: cur.length ? Math.min(...cur.map((c) => c.facts.notAfter)) : null };
      })
      .filter((u) => u.versions > 0);
  }
  unknownCache.set(ledger, out);
  return out;
}

/** Forget what unknownDiskLineages found (after an import in this process). */
export function forgetDiskScan(ledger: Ledger): void {
  unknownCache.delete(ledger);
}

/**
 * Before anything is sent for lineage `l`: refuse when the state directory
 * holds certificates for any of its names that the ledger does not know —
 * in a lineage directory it has no row for, or as versions of `l` itself.
 * Ordering would spend the CA's slots for certificates already held.
 */
export function assertStateKnown(ledger: Ledger, paths: StatePaths, l: Pick<LineageRow, 'name' | 'names'>): void {
  const wanted = new Set(l.names.map((n) => n.toLowerCase()));
  const clash = unknownDiskLineages(ledger, paths).filter((u) => u.name === l.name || u.names.some((n) => wanted.has(n)));
  const hint =
    'Re-adopt the state directory\'s own lineages with `certctl import state` (add --server URL and --webroot DIR or --standalone when certctl cannot tell them from the files), then run this again; nothing was sent.';
  if (clash.length) {
    const u = clash[0]!;
    const valid = u.notAfter === null ? '' : u.notAfter > Date.now() ? `, valid until ${utc(u.notAfter)}` : ', expired';
    throw new StateError(
      `The state directory holds ${u.versions} certificate version(s) for ${u.names.join(', ') || u.name} in ${path.join(paths.archive, u.name)}${valid}, which the ledger does not know (was the ledger lost or replaced?): certctl will not order them again.`,
      hint,
      path.join(paths.archive, u.name),
    );
  }
  // A lineage the ledger knows, with versions in archive/ it has no certificate for: an older ledger (a
  // restored backup). An open order explains a version whose files were written just before a crash.
  if (ledger.openOrders(l.name).length > 0) return;
  const known = new Set(ledger.db.prepare('SELECT DISTINCT version FROM certificates WHERE lineage = ?').pluck().all(l.name) as number[]);
  const extra = archivedVersions(paths, l.name).filter((v) => !known.has(v));
  if (extra.length) {
    throw new StateError(
      `${path.join(paths.archive, l.name)} holds certificate version(s) ${extra.join(', ')} that the ledger does not know (was the ledger lost, or replaced by an older copy?): certctl will not order them again.`,
      hint,
      path.join(paths.archive, l.name),
    );
  }
}

/** The version numbers that have a certificate file in archive/<name>/ (file names only). */
function archivedVersions(paths: StatePaths, name: string): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(path.join(paths.archive, name));
  } catch {
    return [];
  }
  const out = new Set<number>();
  for (const e of entries) {
    const m = VERSIONED.exec(e);
    if (m && roleOfCertFile(m[1]!, m[3]!)) out.add(Number(m[2]));
  }
  return [...out].sort((a, b) => a - b);
}

export interface StateImportOptions {
  ca?: CaProfile;
  directoryUrl?: string;
  webroot?: string;
  standalone?: string;
  caBundle?: string;
}

export interface StateImportResult {
  lineage: string;
  action: 'imported' | 'updated' | 'unchanged' | 'skipped';
  names: string[];
  versions: number;
  current: number | null;
  certificatesAdded: number;
  reason: string;
}

/** The names of a version, the lineage's own name first when it is one of them. */
function orderedNames(certs: DiskCertificate[], first: string): string[] {
  const main = certs.find((c) => c.role === 'main') ?? certs[0];
  const names = [...new Set((main?.facts.names ?? []).map((n) => n.toLowerCase()))];
  const i = names.indexOf(first.toLowerCase());
  if (i > 0) names.unshift(...names.splice(i, 1));
  return names;
}

function keyTypeOf(certs: DiskCertificate[]): string {
  const roles = new Set(certs.map((c) => c.role));
  if (roles.has('sm2-sign') || roles.has('sm2-enc')) return 'sm2';
  if (roles.has('main') && roles.has('ecdsa')) return 'dual';
  const main = certs.find((c) => c.role === 'main');
  try {
    return parseKeyType(main?.facts.keyType).text;
  } catch {
    return 'ecdsa:p256';
  }
}

/** `certctl import state`: the state directory's own lineages back into the ledger. Reads the files; writes the ledger only. */
export function importState(ledger: Ledger, paths: StatePaths, o: StateImportOptions, now: number): StateImportResult[] {
  const out: StateImportResult[] = [];
  for (const name of archiveNames(paths)) {
    try {
      out.push(importOne(ledger, paths, name, o, now));
    } catch (err) {
      out.push({ lineage: name, action: 'skipped', names: [], versions: 0, current: null, certificatesAdded: 0, reason: (err as Error).message });
    }
  }
  forgetDiskScan(ledger);
  return out;
}

function importOne(ledger: Ledger, paths: StatePaths, name: string, o: StateImportOptions, now: number): StateImportResult {
  const d = readDiskLineage(paths, name);
  const base = { lineage: name, versions: d.versions, current: d.current };
  if (d.current === null) return { ...base, action: 'skipped', names: [], certificatesAdded: 0, reason: `no readable certificate in ${d.dir}` };
  const current = d.certificates.filter((c) => c.version === d.current);
  const names = orderedNames(current, name);
  const existing = ledger.lineage(name);
  if (existing && existing.set_key !== setKey(names)) {
    return { ...base, action: 'skipped', names, certificatesAdded: 0, reason: `the ledger has a lineage named ${name} for other names (${existing.names.join(', ')}): not changed` };
  }

  // The CA: the lineage's own (a ledger that knows it), the options, or the issuer of its certificates.
  const mainFacts = (current.find((c) => c.role === 'main') ?? current[0]!).facts;
  const issuerCa = (() => {
    const id = caIdForIssuer(mainFacts.issuer);
    return id ? (findCa(id) ?? null) : null;
  })();
  const ca = existing ? (findCa(existing.ca_id) ?? issuerCa) : (o.ca ?? issuerCa);
  const directoryUrl = existing?.directory_url ?? o.directoryUrl ?? ca?.directoryUrl ?? null;
  if (!existing) {
    if (!ca || !directoryUrl) {
      return { ...base, action: 'skipped', names, certificatesAdded: 0, reason: `its CA cannot be told from the issuer (${mainFacts.issuer}): give --server URL (or --ca ID)` };
    }
    if (!o.webroot && !o.standalone) {
      return { ...base, action: 'skipped', names, certificatesAdded: 0, reason: 'how certctl answers its HTTP-01 challenge is not in the files: give --webroot DIR or --standalone [ADDR:PORT]' };
    }
  }

  const unreadable = d.unreadable.length ? `; ${d.unreadable.length} unreadable file(s) left out: ${d.unreadable.map((f) => path.basename(f)).join(', ')}` : '';
  let added = 0;
  let versionMoved = false;
  ledger.tx(() => {
    if (!existing) {
      const settings: LineageSettings = { importedFrom: { tool: 'state', at: new Date(now).toISOString() }, ...(o.caBundle ? { caBundle: path.resolve(o.caBundle) } : {}) };
      ledger.saveLineage({
        name,
        names,
        set_key: setKey(names),
        ca_id: ca!.id,
        directory_url: directoryUrl!,
        key_type: keyTypeOf(current),
        challenge: o.webroot ? 'webroot' : 'standalone',
        webroot: o.webroot ? path.resolve(o.webroot) : null,
        standalone_addr: o.webroot ? null : (o.standalone ?? null),
        settings,
        now,
      });
    }
    // Every archived version is a certificate the CA issued: each counts against the limits.
    for (const c of d.certificates) {
      const certNames = [...new Set(c.facts.names.map((n) => n.toLowerCase()))];
      if (certNames.length === 0) continue;
      const r = ledger.insertCertificate({
        lineage: name,
        version: c.version,
        order_id: null,
        bundle_id: null,
        role: c.role,
        source: 'certctl',
        ca_id: ca?.id ?? existing?.ca_id ?? null,
        directory_url: directoryUrl,
        issuer: c.facts.issuer,
        serial: c.facts.serial,
        names: certNames,
        set_key: setKey(certNames),
        key_type: c.facts.keyType,
        not_before: c.facts.notBefore,
        not_after: c.facts.notAfter,
        issued_at: estimateIssuedAt(c.facts.notBefore, ca, now),
        replaces: null,
        ari_cert_id: null,
        seen_in_ct: 0,
        fingerprint: c.facts.fingerprint,
        registered_domains: registeredDomains(certNames),
        now,
      });
      if (r.inserted) added++;
    }
    const before = existing?.current_version ?? 0;
    if (d.current! > before) {
      ledger.setLineageVersion(name, d.current!, now);
      versionMoved = existing !== undefined;
    }
  });
  if (!existing) {
    return { ...base, action: 'imported', names, certificatesAdded: added, reason: `version ${d.current} current, ${d.versions} version(s) counted (${ca!.name}, ${o.webroot ? `webroot ${path.resolve(o.webroot)}` : `standalone ${o.standalone}`})${unreadable}` };
  }
  if (added || versionMoved) {
    return { ...base, action: 'updated', names, certificatesAdded: added, reason: `the ledger knew the lineage; ${added} certificate(s) it did not know added${versionMoved ? `, current version now ${d.current}` : ''}${unreadable}` };
  }
  return { ...base, action: 'unchanged', names, certificatesAdded: 0, reason: `already in the ledger${unreadable}` };
}
