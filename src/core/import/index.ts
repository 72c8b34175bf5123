/**
 * `certctl import`: certificates certctl did not issue, into the ledger (so
 * the rate-limit planner counts them) and, where they can be renewed the way
 * certctl renews (HTTP-01 by webroot or standalone), into certctl's own
 * lineages: the current version's files become archive version 1 (keys 0600,
 * atomic writes) and live/ points at them.
 *
 * Import only reads the source files. It is idempotent: certificates are
 * unique on (issuer, serial) in the ledger, and a lineage already imported
 * from the same source is left as it is.
 */
import fs from 'node:fs';
import { readInputFile } from '../store/read.js';
import path from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { Ledger, LineageRow, LineageSettings } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import { LineageStore, type VersionFile } from '../store/lineage.js';
import { caForDirectory, unknownCa, findCa, type CaProfile } from '../ca/registry.js';
import { assertLineageName, registeredDomains, setKey } from '../names.js';
import { certFacts, splitPemChain, type CertFacts } from '../x509.js';
import { parseKeyType } from '../keys/index.js';
import { BOULDER_BACKDATE_MS, caIdForIssuer } from '../ct/parse.js';
import { readCertbotDir, certbotKeyType, confBool, confList, type CertbotLineage } from './certbot.js';

const LE_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * The moment a certificate read from a file spent its CA's capacity: unknown;
 * Boulder-based CAs (Let's Encrypt) backdate notBefore by 1 h, so notBefore +
 * 1 h there; notBefore elsewhere. Never later than `now`.
 */
export function estimateIssuedAt(notBefore: number, ca: CaProfile | null, now: number): number {
  const boulder = ca !== null && ca.policyId.startsWith('letsencrypt');
  return Math.min(notBefore + (boulder ? BOULDER_BACKDATE_MS : 0), now);
}

/** The leaf's names with the lineage's own name first when it is one of them (certbot names lineages after the first -d). */
function orderedNames(facts: CertFacts, first: string): string[] {
  const names = [...new Set(facts.names.map((n) => n.toLowerCase()))];
  const i = names.indexOf(first.toLowerCase());
  if (i > 0) names.unshift(...names.splice(i, 1));
  return names;
}

function keyMatches(keyPem: string, certPem: string): boolean {
  try {
    const a = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    const b = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(a, b) === 0;
  } catch {
    return false;
  }
}

interface CertInsert {
  facts: CertFacts;
  names: string[];
  ca: CaProfile | null;
  directoryUrl: string | null;
  source: 'certbot' | 'pem';
  lineage: string | null;
  version: number | null;
}

function insert(ledger: Ledger, c: CertInsert, now: number): boolean {
  return ledger.insertCertificate({
    lineage: c.lineage,
    version: c.version,
    order_id: null,
    bundle_id: null,
    role: c.lineage ? 'main' : null,
    source: c.source,
    ca_id: c.ca?.id ?? null,
    directory_url: c.directoryUrl,
    issuer: c.facts.issuer,
    serial: c.facts.serial,
    names: c.names,
    set_key: setKey(c.names),
    key_type: c.facts.keyType,
    not_before: c.facts.notBefore,
    not_after: c.facts.notAfter,
    issued_at: estimateIssuedAt(c.facts.notBefore, c.ca, now),
    replaces: null,
    ari_cert_id: null,
    seen_in_ct: 0,
    fingerprint: c.facts.fingerprint,
    registered_domains: registeredDomains(c.names),
    now,
  }).inserted;
}

/** Write version 1 of a new certctl lineage from existing files, record it, then point live/ at it. */
function adoptLineage(
  ledger: Ledger,
  store: LineageStore,
  row: Omit<LineageRow, 'created_at' | 'updated_at' | 'current_version'>,
  pem: { cert: string; chain: string; key: string },
  current: Omit<CertInsert, 'lineage' | 'version'>,
  now: number,
): boolean {
  const files: VersionFile[] = [
    { base: 'cert', data: pem.cert },
    { base: 'chain', data: pem.chain },
    { base: 'fullchain', data: pem.cert + pem.chain },
    { base: 'privkey', data: pem.key, secret: true },
  ];
  // Archive first; then the ledger; then live/; then the version (as obtain does). An adoption a
  // crash cut short left some of version 1's files: those with the same bytes are kept, the rest
  // written (a file that differs is refused by writeVersion: it is not this adoption's).
  const missing = files.filter((f) => {
    try {
      return fs.readFileSync(store.archiveFile(row.name, 1, f), 'utf8') !== f.data;
    } catch {
      return true;
    }
  });
  if (missing.length) store.writeVersion(row.name, 1, missing);
  const added = ledger.tx(() => {
    ledger.saveLineage({ ...row, now });
    return insert(ledger, { ...current, lineage: row.name, version: 1 }, now);
  });
  store.activate(row.name, 1, files);
  ledger.setLineageVersion(row.name, 1, now);
  return added;
}

export interface ImportedLineage {
  source: string;
  lineage: string | null;
  action: 'imported' | 'unchanged' | 'certificates-only' | 'skipped';
  names: string[];
  versions: number;
  certificatesAdded: number;
  reason: string;
}

export interface CertbotImportOptions {
  caBundle?: string;
  /** Use this webroot for every lineage (also lineages whose authenticator certctl cannot repeat, e.g. nginx). */
  webroot?: string;
  /** Only the certbot lineages of these names (migrate: the ones whose certbot files it can switch). */
  only?: ReadonlySet<string>;
}

export function importCertbot(ledger: Ledger, paths: StatePaths, dir: string, o: CertbotImportOptions, now: number): { lineages: ImportedLineage[]; problems: string[] } {
  const { lineages, problems } = readCertbotDir(dir);
  const store = new LineageStore(paths);
  const out: ImportedLineage[] = [];
  for (const cl of lineages) {
    if (o.only && !o.only.has(cl.name)) continue;
    try {
      out.push(importOne(ledger, store, cl, o, now));
    } catch (err) {
      out.push({ source: cl.confFile, lineage: null, action: 'skipped', names: [], versions: cl.versions.length, certificatesAdded: 0, reason: (err as Error).message });
    }
  }
  return { lineages: out, problems };
}

function importOne(ledger: Ledger, store: LineageStore, cl: CertbotLineage, o: CertbotImportOptions, now: number): ImportedLineage {
  const p = cl.conf.renewalparams;
  const server = p.server || LE_DIRECTORY;
  const ca = caForDirectory(server) ?? unknownCa(server);
  const base = { source: cl.confFile, versions: cl.versions.length };
  const cur = cl.versions.find((v) => v.version === cl.current);
  if (!cur) return { ...base, lineage: null, action: 'skipped', names: [], certificatesAdded: 0, reason: 'no certificate files in its archive directory' };

  // Every archived version counts against the limits (lineage-less rows, except the current one if adopted).
  const read = (file: string) => {
    const pem = readInputFile(file, 'The certificate file');
    const leaf = splitPemChain(pem)[0];
    if (!leaf) throw new Error(`${file} holds no certificate`);
    return { pem: leaf, facts: certFacts(leaf) };
  };
  const curCert = read(cur.cert);
  const names = orderedNames(curCert.facts, cl.name);
  let added = 0;
  const countVersions = (skipVersion: number | null) => {
    for (const v of cl.versions) {
      if (v.version === skipVersion) continue;
      const c = read(v.cert);
      if (insert(ledger, { facts: c.facts, names: orderedNames(c.facts, cl.name), ca, directoryUrl: server, source: 'certbot', lineage: null, version: null }, now)) added++;
    }
  };

  // A certbot name that cannot be a path component in certctl's state dir is not adopted.
  let lineageName: string;
  try {
    lineageName = assertLineageName(cl.name);
  } catch (err) {
    countVersions(null);
    return { ...base, lineage: null, action: 'certificates-only', names, certificatesAdded: added, reason: (err as Error).message };
  }

  // How certctl will answer HTTP-01 for it.
  const auth = (p.authenticator ?? '').toLowerCase();
  let challenge: 'webroot' | 'standalone' | null = null;
  let webroot: string | null = null;
  let standalone: string | null = null;
  const notes: string[] = [];
  const mapped = [...new Set(Object.values(cl.conf.webrootMap))];
  if (o.webroot) {
    challenge = 'webroot';
    webroot = path.resolve(o.webroot);
  } else if (auth === 'webroot') {
    challenge = 'webroot';
    webroot = cl.conf.webrootMap[names[0]!] ?? mapped[0] ?? confList(p.webroot_path)[0] ?? null;
    if (mapped.length > 1) notes.push(`its names use ${mapped.length} webroots; certctl uses one (${webroot}); the map is kept in settings.webrootMap`);
    if (!webroot) challenge = null;
  } else if (auth === 'standalone') {
    challenge = 'standalone';
    const host = p.http01_address || '0.0.0.0';
    standalone = `${host.includes(':') ? `[${host}]` : host}:${p.http01_port || '80'}`;
  }
  if (!challenge) {
    countVersions(null);
    return {
      ...base,
      lineage: null,
      action: 'certificates-only',
      names,
      certificatesAdded: added,
      reason: `its authenticator "${auth || 'unknown'}" is not one certctl repeats (webroot, standalone): certificates counted, lineage not adopted (give --webroot DIR to adopt it)`,
    };
  }

  const existing = ledger.lineage(lineageName);
  const importedFrom = { tool: 'certbot' as const, confFile: fs.realpathSync(cl.confFile), account: p.account ?? null };
  const from = existing?.settings.importedFrom;
  const same = from?.confFile === importedFrom.confFile;
  // An adoption killed before its version was set (current_version 0: live/ maybe not switched) is finished below.
  if (existing && !(same && existing.current_version === 0)) {
    countVersions(same ? (from?.version ?? null) : null);
    if (same) {
      // Certificates certbot issued since the first import are counted; the lineage is certctl's now.
      const newer = cl.current !== null && cl.current > (from?.version ?? 0);
      return {
        ...base,
        lineage: lineageName,
        action: 'unchanged',
        names,
        certificatesAdded: added,
        reason: newer ? `already imported; certbot has renewed it since (version ${cl.current}): those certificates are counted — disable certbot's renewal of it` : 'already imported',
      };
    }
    return { ...base, lineage: null, action: 'certificates-only', names, certificatesAdded: added, reason: `certctl already has a lineage named ${lineageName} from elsewhere: certificates counted, lineage not adopted` };
  }

  const keyPem = cur.privkey ? readInputFile(cur.privkey, 'The private key file') : null;
  if (!keyPem || !keyMatches(keyPem, curCert.pem)) {
    countVersions(null);
    return { ...base, lineage: null, action: 'certificates-only', names, certificatesAdded: added, reason: `privkey${cur.version}.pem is missing or does not match cert${cur.version}.pem: lineage not adopted` };
  }
  const chainPem = cur.chain ? splitPemChain(readInputFile(cur.chain, 'The chain file')).join('') : cur.fullchain ? splitPemChain(readInputFile(cur.fullchain, 'The fullchain file')).slice(1).join('') : '';
  const keyType = parseKeyType(certbotKeyType(p, curCert.facts.keyType)).text;
  const settings: LineageSettings = {
    importedFrom: { ...importedFrom, version: cur.version, server },
    ...(o.caBundle ? { caBundle: path.resolve(o.caBundle) } : {}),
    ...(confBool(p.reuse_key) ? { reuseKey: true } : {}),
    ...(p.pre_hook ? { preHook: p.pre_hook } : {}),
    ...(p.post_hook ? { postHook: p.post_hook } : {}),
    ...(p.renew_hook ? { deployHook: p.renew_hook } : {}),
    ...(mapped.length > 1 ? { webrootMap: cl.conf.webrootMap } : {}),
  };
  const days = /^(\d+)\s*d(ays?)?$/i.exec(cl.conf.top.renew_before_expiry ?? '');
  if (days) settings.renewDays = Number(days[1]);
  const adopted = adoptLineage(
    ledger,
    store,
    { name: lineageName, names, set_key: setKey(names), ca_id: ca.id, directory_url: server, key_type: keyType, challenge, webroot, standalone_addr: standalone, settings },
    { cert: curCert.pem, chain: chainPem, key: keyPem },
    { facts: curCert.facts, names, ca, directoryUrl: server, source: 'certbot' },
    now,
  );
  if (adopted) added++;
  countVersions(cur.version);
  return { ...base, lineage: lineageName, action: 'imported', names, certificatesAdded: added, reason: [`from certbot (${auth}, ${keyType}, ${ca.name})`, ...notes].join('; ') };
}

export interface PemImportOptions {
  certName?: string;
  key?: string;
  ca?: CaProfile;
  directoryUrl?: string;
  webroot?: string;
  standalone?: string;
  caBundle?: string;
}

/**
 * Certificates from PEM files anywhere: every end-entity certificate in them
 * becomes a ledger row (source 'pem'); CA certificates in the same files are
 * the chain. With certName + key (exactly one leaf): also a certctl lineage.
 */
export function importPem(ledger: Ledger, paths: StatePaths, files: string[], o: PemImportOptions, now: number): { added: number; known: number; certificates: { file: string; serial: string; names: string[]; added: boolean }[]; lineage: string | null } {
  const leaves: { file: string; pem: string; facts: CertFacts }[] = [];
  const chain: string[] = [];
  for (const f of files) {
    const certs = splitPemChain(readInputFile(f, 'The certificate file'));
    if (certs.length === 0) throw new Error(`${f} holds no PEM certificate`);
    for (const pem of certs) {
      if (new X509Certificate(pem).ca) chain.push(pem);
      else leaves.push({ file: f, pem, facts: certFacts(pem) });
    }
  }
  const caOf = (issuer: string): { ca: CaProfile | null; dir: string | null } => {
    if (o.ca) return { ca: o.ca, dir: o.directoryUrl ?? o.ca.directoryUrl ?? null };
    const id = caIdForIssuer(issuer);
    const ca = id ? (findCa(id) ?? null) : null;
    return { ca, dir: ca?.directoryUrl ?? null };
  };
  let lineage: string | null = null;
  const out: { file: string; serial: string; names: string[]; added: boolean }[] = [];
  if (o.certName) {
    const name = assertLineageName(o.certName);
    if (leaves.length !== 1) throw new Error(`--cert-name adopts one certificate; the files hold ${leaves.length}`);
    if (!o.key) throw new Error('--cert-name needs --key (the certificate’s private key)');
    if (!o.webroot === !o.standalone) throw new Error('--cert-name needs --webroot DIR or --standalone ADDR:PORT (how certctl will renew it)');
    if (!o.ca || !o.directoryUrl) throw new Error('--cert-name needs the CA to renew at (--server URL or --ca ID)');
    const leaf = leaves[0]!;
    const keyPem = readInputFile(o.key, 'The private key file');
    if (!keyMatches(keyPem, leaf.pem)) throw new Error(`${o.key} is not the private key of the certificate in ${leaf.file}`);
    const existing = ledger.lineage(name);
    const names = orderedNames(leaf.facts, name);
    if (existing) {
      if (existing.set_key !== setKey(names)) throw new Error(`certctl already has a lineage named ${name} for other names`);
    } else {
      adoptLineage(
        ledger,
        new LineageStore(paths),
        {
          name,
          names,
          set_key: setKey(names),
          ca_id: o.ca.id,
          directory_url: o.directoryUrl,
          key_type: parseKeyType(leaf.facts.keyType).text,
          challenge: o.webroot ? 'webroot' : 'standalone',
          webroot: o.webroot ? path.resolve(o.webroot) : null,
          standalone_addr: o.standalone ?? null,
          settings: { importedFrom: { tool: 'pem', file: path.resolve(leaf.file) }, ...(o.caBundle ? { caBundle: path.resolve(o.caBundle) } : {}) },
        },
        { cert: leaf.pem, chain: chain.join(''), key: keyPem },
        { facts: leaf.facts, names, ca: o.ca, directoryUrl: o.directoryUrl, source: 'pem' },
        now,
      );
      lineage = name;
      out.push({ file: leaf.file, serial: leaf.facts.serial, names, added: true });
      return { added: 1, known: 0, certificates: out, lineage };
    }
  }
  for (const l of leaves) {
    const { ca, dir } = caOf(l.facts.issuer);
    const names = [...new Set(l.facts.names)];
    if (names.length === 0) continue;
    const added = insert(ledger, { facts: l.facts, names, ca, directoryUrl: dir, source: 'pem', lineage: null, version: null }, now);
    out.push({ file: l.file, serial: l.facts.serial, names, added });
  }
  return { added: out.filter((c) => c.added).length, known: out.filter((c) => !c.added).length, certificates: out, lineage };
}
