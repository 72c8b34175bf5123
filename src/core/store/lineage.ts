/**
 * Certificate files on disk, in the layout web-server configs already use
 * (certbot's): archive/<name>/cert<N>.pem … hold every version ever issued;
 * live/<name>/cert.pem … are relative symlinks to the current version.
 *
 * A new version is written completely into archive/ first; only then are the
 * live/ links swapped, one atomic rename each. A failed or interrupted
 * renewal never touches what live/ points at.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { writeFileAtomic, writeFilesAtomic, symlinkAtomic, fsyncDir, ensureDir, guardStateDir, checkDirChain } from './atomic.js';
import { assertLineageName } from '../names.js';
import { InputError, StateError } from '../errors.js';
import { splitPemChain, certFacts } from '../x509.js';
import type { StatePaths } from '../paths.js';

/** One file of a version: base name without the version number, and its content. */
export interface VersionFile {
  /** e.g. "cert", "privkey", "fullchain-ecdsa", "sign" */
  base: string;
  /** file extension, ".pem" or ".key" */
  ext?: string;
  data: string;
  secret?: boolean;
}

const VERSIONED = /^(.+?)(\d+)(\.[a-z]+)$/;

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export class LineageStore {
  constructor(private readonly paths: StatePaths) {
    // Every write below the state directory goes through checked directories (atomic.ts).
    guardStateDir(paths.root);
  }

  /**
   * Before anything is sent for lineage `name`: the directories certctl will
   * write into (state dir, accounts/, pending/, archive/<name>/, live/<name>/)
   * are real directories of ours wherever they exist — no planted symbolic
   * link, nothing group/world-writable — and live/<name>/ holds no directory
   * where a link goes. Throws an InputError (exit 2) naming the path.
   */
  assertWritable(name: string): void {
    const root = this.paths.root;
    for (const dir of [this.paths.accounts, this.paths.pending, this.archiveDir(name), this.liveDir(name)]) checkDirChain(root, dir, false);
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(this.liveDir(name));
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(this.liveDir(name), e);
      if (fs.lstatSync(p).isDirectory()) throw new InputError(`${p} is a directory where certctl keeps a symbolic link: it wrote nothing.`, `Move ${p} away and run certctl again.`);
    }
  }

  liveDir(name: string): string {
    return path.join(this.paths.live, assertLineageName(name));
  }

  archiveDir(name: string): string {
    return path.join(this.paths.archive, assertLineageName(name));
  }

  /** Highest version number present in archive/<name>/ (0 if none). */
  latestArchivedVersion(name: string): number {
    let max = 0;
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(this.archiveDir(name));
    } catch {
      return 0;
    }
    for (const e of entries) {
      const m = VERSIONED.exec(e);
      if (m) max = Math.max(max, Number(m[2]));
    }
    return max;
  }

  /** Write every file of a version into archive/ (keys 0600). Returns the paths written. */
  writeVersion(name: string, version: number, files: VersionFile[]): string[] {
    // Version numbers are never reused, so an archived key is never overwritten: refuse a number
    // that is not one (NaN from a damaged ledger) or whose files already exist.
    if (!Number.isSafeInteger(version) || version < 1) throw new StateError(`Refusing to write archive version ${String(version)} of ${name}: not a version number.`);
    const dir = this.archiveDir(name);
    ensureDir(dir, 0o700);
    for (const f of files) {
      const file = path.join(dir, `${f.base}${version}${f.ext ?? '.pem'}`);
      // (A planted symbolic link there is no version: the rename below replaces it, never writes through it.)
      if (fs.existsSync(file) && !isLink(file)) throw new StateError(`${file} already exists: certctl never writes over an archived version (its key may be the only copy).`, 'Move it away if it is not certctl\'s, then run certctl again.');
    }
    const entries = files.map((f) => ({ file: path.join(dir, `${f.base}${version}${f.ext ?? '.pem'}`), data: f.data, mode: f.secret ? 0o600 : 0o644 }));
    // Each file fsynced, the directory once after the last rename (was once per file).
    writeFilesAtomic(dir, entries);
    return entries.map((e) => e.file);
  }

  /**
   * Write archive version `version` from the shared ledger's copy (version_files: `file` is base + ext):
   * temporary files a killed write of this version left are removed first; a file already there with
   * the same bytes is kept (a key's mode tightened to 0600), a missing one written (atomic, keys 0600),
   * one with other bytes refused (StateError), never overwritten. Returns the archive paths.
   */
  writeStoredVersion(name: string, version: number, files: { file: string; secret: boolean; data: string }[]): string[] {
    if (!Number.isSafeInteger(version) || version < 1) throw new StateError(`Refusing to write archive version ${String(version)} of ${name}: not a version number.`);
    const dir = this.archiveDir(name);
    ensureDir(dir, 0o700);
    const split = (file: string) => {
      const dot = file.lastIndexOf('.');
      return dot > 0 ? { base: file.slice(0, dot), ext: file.slice(dot) } : { base: file, ext: '' };
    };
    // A run killed mid-write may have left a temporary file (atomic.ts names them .<file>.<hex>.tmp):
    // for a key, a copy no run would ever remove. This version's are removed before it is written again.
    const mine = new Set(files.map((f) => path.basename(this.archiveFile(name, version, split(f.file)))));
    for (const e of fs.readdirSync(dir)) {
      const m = /^\.(.+)\.[0-9a-f]{12}\.tmp$/.exec(e);
      if (m && mine.has(m[1]!)) fs.rmSync(path.join(dir, e), { force: true });
    }
    const out: string[] = [];
    for (const f of files) {
      const target = this.archiveFile(name, version, split(f.file));
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(target);
      } catch {
        /* not there yet */
      }
      if (st?.isFile() && fs.readFileSync(target, 'utf8') === f.data) {
        if (f.secret && (st.mode & 0o077) !== 0) fs.chmodSync(target, 0o600);
        out.push(target);
        continue;
      }
      if (st && !st.isSymbolicLink()) {
        throw new StateError(
          `${target} already exists and is not the ledger's ${f.file} of ${name} version ${version}: certctl never writes over an archived file (its key may be the only copy).`,
          `Move ${target} away (or the whole ${dir}) and run certctl again.`,
        );
      }
      // (A planted link is replaced by the rename, never written through.)
      writeFileAtomic(target, f.data, f.secret ? 0o600 : 0o644);
      out.push(target);
    }
    return out;
  }

  /** The archive path of one file of a version. */
  archiveFile(name: string, version: number, f: Pick<VersionFile, 'base' | 'ext'>): string {
    return path.join(this.archiveDir(name), `${f.base}${version}${f.ext ?? '.pem'}`);
  }

  /**
   * What is wrong with archive version `version` (empty: complete): each file
   * of `layout` a regular file (not a link), each certificate + key pair of
   * `pairs` belonging together, and each certificate the one with `serial`.
   */
  async checkVersion(name: string, version: number, layout: Pick<VersionFile, 'base' | 'ext'>[], pairs: { cert: Pick<VersionFile, 'base' | 'ext'>; key: Pick<VersionFile, 'base' | 'ext'>; serial?: string }[]): Promise<string[]> {
    const problems: string[] = [];
    for (const f of layout) {
      const file = this.archiveFile(name, version, f);
      try {
        const st = fs.lstatSync(file);
        if (!st.isFile()) problems.push(`${file} is not a regular file`);
        else if (st.size === 0 && !/chain/.test(f.base)) problems.push(`${file} is empty`);
      } catch {
        problems.push(`${file} is missing`);
      }
    }
    if (problems.length) return problems;
    for (const p of pairs) {
      const certFile = this.archiveFile(name, version, p.cert);
      const keyFile = this.archiveFile(name, version, p.key);
      const certPem = splitPemChain(fs.readFileSync(certFile, 'utf8'))[0] ?? '';
      try {
        if (p.serial !== undefined && certFacts(certPem).serial !== p.serial) {
          problems.push(`${certFile} is not the certificate the ledger records (serial ${p.serial})`);
          continue;
        }
        if (!(await keyMatchesCert(fs.readFileSync(keyFile, 'utf8'), certPem))) problems.push(`${keyFile} does not belong to ${certFile}`);
      } catch (err) {
        problems.push(`${certFile} or ${keyFile} cannot be read: ${(err as Error).message}`);
      }
    }
    return problems;
  }

  /** Swap live/<name>/<base><ext> to point at archive version `version`, one atomic rename per file. */
  activate(name: string, version: number, files: Pick<VersionFile, 'base' | 'ext'>[]): string[] {
    const live = this.liveDir(name);
    ensureDir(live, 0o755);
    const out: string[] = [];
    for (const f of files) {
      const ext = f.ext ?? '.pem';
      const target = path.join('..', '..', 'archive', name, `${f.base}${version}${ext}`);
      const link = path.join(live, `${f.base}${ext}`);
      symlinkAtomic(target, link);
      out.push(link);
    }
    fsyncDir(live);
    return out;
  }

  /** The archive version live/<name>/<file> links to (certctl's own relative link), or null. */
  liveVersion(name: string, f: Pick<VersionFile, 'base' | 'ext'>): number | null {
    const ext = f.ext ?? '.pem';
    let target: string;
    try {
      target = fs.readlinkSync(path.join(this.liveDir(name), `${f.base}${ext}`));
    } catch {
      return null;
    }
    const prefix = path.join('..', '..', 'archive', name, f.base);
    if (!target.startsWith(prefix) || !target.endsWith(ext)) return null;
    const n = target.slice(prefix.length, target.length - ext.length);
    return /^[1-9]\d{0,8}$/.test(n) ? Number(n) : null;
  }

  /**
   * What is wrong with live/<name>/ for archive version `version` (empty: every file of that
   * version has its live/ link, pointing at it): a link deleted, replaced by a regular file,
   * pointing elsewhere or at a missing file — what a web server would fail on at its next reload,
   * while the ledger still says the certificate is held.
   */
  liveProblems(name: string, version: number): string[] {
    if (version <= 0) return [];
    const archive = this.archiveDir(name);
    const live = this.liveDir(name);
    // Neither directory on this host: a lineage another host keeps (a shared PostgreSQL ledger).
    if (!fs.existsSync(archive) && !fs.existsSync(live)) return [];
    let entries: string[];
    try {
      entries = fs.readdirSync(archive);
    } catch {
      return [`${archive} is missing: archive version ${version} is not on disk`];
    }
    const problems: string[] = [];
    const files = entries.map((e) => VERSIONED.exec(e)).filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === version);
    if (!files.length) return [`archive version ${version} of ${name} is not on disk (${archive})`];
    for (const m of files) {
      const link = path.join(live, `${m[1]}${m[3]}`);
      const want = path.join('..', '..', 'archive', name, m[0]);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(link);
      } catch {
        problems.push(`${link} is missing (to restore it: ln -s ${want} ${link})`);
        continue;
      }
      const fix = ` (to restore it: ln -sfn ${want} ${link})`;
      if (!st.isSymbolicLink()) {
        problems.push(`${link} is not certctl's link to ${want}${fix}`);
        continue;
      }
      const to = fs.readlinkSync(link);
      if (to !== want) problems.push(`${link} points at ${to}, not at ${want}${fix}`);
      else if (!fs.existsSync(link)) problems.push(`${link} points at ${want}, which is missing`);
    }
    return problems;
  }

  /** The live file paths of a lineage (the symlinks), for status output. */
  liveFiles(name: string): string[] {
    try {
      return fs
        .readdirSync(this.liveDir(name))
        .filter((f) => !f.startsWith('.'))
        .sort()
        .map((f) => path.join(this.liveDir(name), f));
    } catch {
      return [];
    }
  }
}

/** Whether a private key (PEM) belongs to a certificate (PEM leaf): RSA/ECDSA through node:crypto, SM2 through certctl's SM2 code. */
export async function keyMatchesCert(keyPem: string, certPem: string): Promise<boolean> {
  // The common case first, with Node's crypto alone: the SM2 module (a large library) is loaded
  // only when that does not match — it cost ~100 ms of every issuance (CERTCTL_TIMELINE=1).
  // Same answers as before: equal SPKIs are a match whatever the algorithm.
  try {
    const spki = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'der' });
    if (spki(crypto.createPublicKey(keyPem)).equals(spki(new crypto.X509Certificate(certPem).publicKey))) return true;
  } catch {
    /* not a key or certificate Node reads alone: SM2 below, else no match */
  }
  const { sm2PublicKeyOfCert, readSm2PrivateKey } = await import('../keys/sm2.js');
  const sm2 = await sm2PublicKeyOfCert(certPem);
  if (!sm2) return false;
  try {
    return readSm2PrivateKey(keyPem).publicKeyHex === sm2;
  } catch {
    return false;
  }
}
