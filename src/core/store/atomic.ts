/**
 * Atomic file writes: a temporary file in the same directory, written with
 * its final mode from the start (a key is never world-readable, not even for
 * a moment), fsynced, then renamed over the target, and the directory fsynced.
 * A crash leaves either the old file or the new one, never half of one.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fchmodSync(fd, mode); // umask may have narrowed or widened nothing; make it exact
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/** Point `link` at `target` atomically (a new symlink renamed over the old one). */
export function symlinkAtomic(target: string, link: string): void {
  const dir = path.dirname(link);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = path.join(dir, `.${path.basename(link)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  fs.symlinkSync(target, tmp);
  fs.renameSync(tmp, link);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
