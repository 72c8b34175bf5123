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
import { writeFileAtomic, symlinkAtomic, fsyncDir } from './atomic.js';
import { assertLineageName } from '../names.js';
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

export class LineageStore {
  constructor(private readonly paths: StatePaths) {}

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
    const dir = this.archiveDir(name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const written: string[] = [];
    for (const f of files) {
      const file = path.join(dir, `${f.base}${version}${f.ext ?? '.pem'}`);
      writeFileAtomic(file, f.data, f.secret ? 0o600 : 0o644);
      written.push(file);
    }
    return written;
  }

  /** Swap live/<name>/<base><ext> to point at archive version `version`, one atomic rename per file. */
  activate(name: string, version: number, files: Pick<VersionFile, 'base' | 'ext'>[]): string[] {
    const live = this.liveDir(name);
    fs.mkdirSync(live, { recursive: true, mode: 0o755 });
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
