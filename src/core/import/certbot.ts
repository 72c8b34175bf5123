/**
 * Reading certbot's state (/etc/letsencrypt by default) — read only, never
 * a write, a rename or a chmod in certbot's directory:
 *   renewal/<name>.conf  configobj "INI": top-level archive_dir, cert,
 *                        privkey, chain, fullchain; [renewalparams] with
 *                        authenticator, webroot_path, server, account,
 *                        key_type, rsa_key_size, elliptic_curve, hooks …;
 *                        [[webroot_map]] name = webroot
 *   live/<name>/*.pem    symlinks to the current version in archive/
 *   archive/<name>/{cert,chain,fullchain,privkey}<N>.pem   every version
 */
import fs from 'node:fs';
import { readInputFile } from '../store/read.js';
import path from 'node:path';

export interface RenewalConf {
  /** Top-level keys (archive_dir, cert, privkey, chain, fullchain, version, renew_before_expiry …). */
  top: Record<string, string>;
  renewalparams: Record<string, string>;
  webrootMap: Record<string, string>;
}

function unquote(v: string): string {
  const t = v.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

/** Parse a certbot renewal file (configobj syntax, the subset certbot writes). */
export function parseRenewalConf(text: string): RenewalConf {
  const conf: RenewalConf = { top: {}, renewalparams: {}, webrootMap: {} };
  let section: Record<string, string> = conf.top;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      // certbot writes "# renew_before_expiry = 30 days" commented out by default; a live one has no "#".
      continue;
    }
    const sec = /^(\[+)\s*([^\]]+?)\s*\]+$/.exec(line);
    if (sec) {
      const depth = sec[1]!.length;
      const name = sec[2]!;
      if (depth === 1) section = name === 'renewalparams' ? conf.renewalparams : {};
      else section = name === 'webroot_map' ? conf.webrootMap : {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    section[line.slice(0, eq).trim()] = unquote(line.slice(eq + 1));
  }
  return conf;
}

/** A configobj list value ("a, b," or "a") as an array. */
export function confList(v: string | undefined): string[] {
  if (!v) return [];
  return v
    .split(',')
    .map((s) => unquote(s))
    .filter(Boolean);
}

export function confBool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return /^(true|yes|on|1)$/i.test(v.trim());
}

/** The key type certctl should renew with, from renewalparams (certbot ≥ 1.10), else from the certificate. */
export function certbotKeyType(params: Record<string, string>, certKeyType: string): string {
  const kt = params.key_type?.toLowerCase();
  if (kt === 'rsa') return `rsa:${params.rsa_key_size ?? '2048'}`;
  if (kt === 'ecdsa') {
    const c = (params.elliptic_curve ?? 'secp256r1').toLowerCase();
    return c === 'secp384r1' ? 'ecdsa:p384' : c === 'secp256r1' ? 'ecdsa:p256' : `ecdsa:${c}`;
  }
  return certKeyType;
}

export interface CertbotVersionFiles {
  version: number;
  cert: string;
  chain?: string;
  fullchain?: string;
  privkey?: string;
}

export interface CertbotLineage {
  /** certbot's lineage name (renewal/<name>.conf). */
  name: string;
  confFile: string;
  conf: RenewalConf;
  archiveDir: string;
  /** Current version (what live/ points at). */
  current: number | null;
  versions: CertbotVersionFiles[];
}

const VERSIONED = /^(cert|chain|fullchain|privkey)(\d+)\.pem$/;

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The lineages under a certbot config dir. Paths are taken relative to the
 * given directory first (a copied /etc/letsencrypt still works), then as the
 * renewal file states them.
 */
export function readCertbotDir(dir: string): { lineages: CertbotLineage[]; problems: string[] } {
  const renewalDir = path.join(dir, 'renewal');
  const problems: string[] = [];
  let files: string[];
  try {
    files = fs.readdirSync(renewalDir).filter((f) => f.endsWith('.conf')).sort();
  } catch (err) {
    throw new Error(`cannot read ${renewalDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lineages: CertbotLineage[] = [];
  for (const f of files) {
    const name = f.slice(0, -'.conf'.length);
    const confFile = path.join(renewalDir, f);
    let conf: RenewalConf;
    try {
      conf = parseRenewalConf(readInputFile(confFile, 'The renewal configuration'));
    } catch (err) {
      problems.push(`${confFile}: ${(err as Error).message}`);
      continue;
    }
    const local = path.join(dir, 'archive', name);
    const archiveDir = isDir(local) ? local : conf.top.archive_dir && isDir(conf.top.archive_dir) ? conf.top.archive_dir : local;
    const byVersion = new Map<number, CertbotVersionFiles>();
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(archiveDir);
    } catch {
      problems.push(`${name}: no archive directory (${archiveDir})`);
    }
    for (const e of entries) {
      const m = VERSIONED.exec(e);
      if (!m) continue;
      const v = Number(m[2]);
      const cur = byVersion.get(v) ?? ({ version: v } as CertbotVersionFiles);
      cur[m[1] as 'cert' | 'chain' | 'fullchain' | 'privkey'] = path.join(archiveDir, e);
      byVersion.set(v, cur);
    }
    const versions = [...byVersion.values()].filter((v) => v.cert).sort((a, b) => a.version - b.version);
    // The current version: where live/<name>/cert.pem points (certbot's own rule), else the highest.
    let current: number | null = null;
    for (const link of [path.join(dir, 'live', name, 'cert.pem'), conf.top.cert]) {
      if (!link) continue;
      try {
        const m = /cert(\d+)\.pem$/.exec(fs.realpathSync(link));
        if (m) {
          current = Number(m[1]);
          break;
        }
      } catch {
        /* missing link: try the next */
      }
    }
    if (current === null && versions.length) current = versions[versions.length - 1]!.version;
    lineages.push({ name, confFile, conf, archiveDir, current, versions });
  }
  return { lineages, problems };
}
