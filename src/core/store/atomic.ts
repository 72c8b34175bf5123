/**
 * Atomic file writes: a temporary file in the same directory, written with
 * its final mode from the start (a key is never world-readable, not even for
 * a moment), fsynced, then renamed over the target, and the directory fsynced.
 * A crash leaves either the old file or the new one, never half of one.
 *
 * No writes through planted symlinks: below a state directory registered
 * with guardStateDir() (every LineageStore registers its own), each directory
 * component from the state directory down is lstat-checked — a symbolic link,
 * a non-directory, a directory of another owner or one writable by group or
 * others is refused — and missing ones are created one at a time (never a
 * recursive mkdir, which follows links). The temporary file is opened with
 * O_EXCL | O_NOFOLLOW, and rename() replaces a link at the target itself
 * rather than writing through it. The state directory itself (it may be a
 * symlink the administrator chose) must be owned by the running user and not
 * writable by group or others, so nobody else can plant links between the
 * checks and the writes.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { InputError } from '../errors.js';
import { span, timelineOn } from '../timeline.js';

const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;

/** State directories whose subtree is written only through checked directories. */
const guarded = new Set<string>();

/** Check every write below `root` (see the module comment). Idempotent. */
export function guardStateDir(root: string): void {
  guarded.add(path.resolve(root));
}

function guardOf(p: string): string | undefined {
  const abs = path.resolve(p);
  for (const r of guarded) if (abs === r || abs.startsWith(r + path.sep)) return r;
  return undefined;
}

const myUid = (): number | undefined => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** Refuse a directory another user owns or group/others may write: they could plant links in it. */
function assertOwnDir(dir: string, st: fs.Stats, what: string): void {
  const uid = myUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new InputError(
      `${what} ${dir} belongs to uid ${st.uid}, not to the user running certctl (uid ${uid}): certctl refuses to write there.`,
      `Run certctl as its owner, or give it a state directory of its own (--state-dir); to take it over: chown -R ${uid} ${dir}.`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new InputError(
      `${what} ${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}): another user could plant symbolic links in it, so certctl refuses to write there.`,
      `Run: chmod go-w ${dir}`,
    );
  }
}

/** The state directory: a directory (possibly reached through a link its administrator chose), ours, not group/world-writable. */
export function assertStateDirSafe(root: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // created by the first write, 0700
    throw err;
  }
  if (!st.isDirectory()) throw new InputError(`The state directory ${root} is not a directory.`, 'Give a directory with --state-dir (or CERTCTL_HOME).');
  assertOwnDir(root, st, 'The state directory');
}

/**
 * Check (and with `create`, make) every directory from `root` down to `dir`:
 * each must be a real directory of ours, never a symbolic link. Throws an
 * InputError naming the first bad component.
 */
export function checkDirChain(root: string, dir: string, create: boolean, mode = 0o700): void {
  const r = path.resolve(root);
  const d = path.resolve(dir);
  if (create && !fs.existsSync(r)) fs.mkdirSync(r, { recursive: true, mode: 0o700 });
  assertStateDirSafe(r);
  const rel = path.relative(r, d);
  if (rel === '') return;
  if (rel.startsWith('..') || path.isAbsolute(rel)) throw new InputError(`${d} is outside the state directory ${r}.`);
  let cur = r;
  for (const part of rel.split(path.sep)) {
    cur = path.join(cur, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(cur);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (!st) {
      if (!create) return; // nothing below a missing directory can be a planted link
      try {
        fs.mkdirSync(cur, { mode });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      st = fs.lstatSync(cur);
    }
    if (st.isSymbolicLink()) {
      let to = '?';
      try {
        to = fs.readlinkSync(cur);
      } catch {
        /* gone meanwhile */
      }
      throw new InputError(
        `${cur} is a symbolic link (to ${to}): certctl writes only into real directories below its state directory, so it wrote nothing there.`,
        `Remove the link (rm ${cur}) and run certctl again, or point --state-dir at the real directory.`,
      );
    }
    if (!st.isDirectory()) throw new InputError(`${cur} is not a directory: certctl needs a directory there and wrote nothing.`, `Move ${cur} away and run certctl again.`);
    assertOwnDir(cur, st, 'The directory');
  }
}

/** mkdir -p, checked component by component below a guarded state directory. */
export function ensureDir(dir: string, mode = 0o700): void {
  const root = guardOf(dir);
  if (root) checkDirChain(root, dir, true, mode);
  else fs.mkdirSync(dir, { recursive: true, mode });
}

/**
 * `durable: false` skips the two fsyncs (file and directory) for a file that only has to be whole
 * while it exists, never to survive a power cut: an HTTP-01 challenge response (the next run
 * removes or rewrites it). Each fsync blocks the event loop, so every other lineage of an
 * `apply --concurrency N` waits for it too. `data` may be pieces (an iterable of strings, made
 * while they are written: metrics --textfile).
 */
export function writeFileAtomic(file: string, data: string | Buffer | Iterable<string>, mode = 0o644, o: { durable?: boolean } = {}): void {
  const durable = o.durable ?? true;
  if (timelineOn()) return span(`atomic write${durable ? ' + fsyncs' : ''}: ${path.basename(path.dirname(file)) === 'acme-challenge' ? 'an HTTP-01 challenge file' : path.basename(file)}`, () => writeFileAtomicNow(file, data, mode, durable, true));
  writeFileAtomicNow(file, data, mode, durable, true);
}

/**
 * Several files into one directory, each atomically (temporary file, fsync, rename), with ONE
 * fsync of the directory after the last rename instead of one per file: the renames are then
 * durable together. A kill between two renames leaves the earlier files, as one write per file did.
 */
export function writeFilesAtomic(dir: string, files: { file: string; data: string | Buffer; mode: number }[]): void {
  const write = () => {
    ensureDir(dir, 0o700);
    for (const f of files) {
      if (path.dirname(f.file) !== dir) throw new Error(`writeFilesAtomic: ${f.file} is not in ${dir}`);
      writeFileAtomicNow(f.file, f.data, f.mode, true, false);
    }
    if (files.length) fsyncDir(dir);
  };
  if (timelineOn()) return span(`atomic writes + fsyncs (one of the directory): ${files.map((f) => path.basename(f.file)).join(', ')}`, write);
  write();
}

function writeFileAtomicNow(file: string, data: string | Buffer | Iterable<string>, mode: number, durable: boolean, syncDir: boolean): void {
  const dir = path.dirname(file);
  if (syncDir) ensureDir(dir, 0o700);
  const tmp = tempBeside(file);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | NOFOLLOW, mode);
  try {
    if (typeof data === 'string' || Buffer.isBuffer(data)) fs.writeFileSync(fd, data);
    else for (const piece of data) fs.writeFileSync(fd, piece);
    fs.fchmodSync(fd, mode); // umask may have narrowed or widened nothing; make it exact
    if (durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    // A write on a descriptor names no file: say which one (a full disk is reported with its path, not as the ledger's).
    if (err && typeof err === 'object' && !('path' in err)) Object.assign(err, { path: file });
    throw err;
  }
  fs.closeSync(fd);
  renameInto(tmp, file);
  if (durable && syncDir) fsyncDir(dir);
}

/** A temporary name in `file`'s directory (same file system, so the rename is atomic), hidden and unique. */
function tempBeside(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
}

/**
 * rename(tmp, target): replaces whatever is at `target` (a planted link included) and never writes
 * through it. A failed rename (EIO, ENOSPC on the directory, a directory in the way) must not leave
 * the temporary copy behind — for a key, a second copy of it that no run would ever remove.
 */
function renameInto(tmp: string, target: string): void {
  try {
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** Point `link` at `target` atomically (a new symlink renamed over the old one). */
export function symlinkAtomic(target: string, link: string): void {
  const dir = path.dirname(link);
  ensureDir(dir, 0o755);
  const tmp = tempBeside(link);
  fs.symlinkSync(target, tmp);
  renameInto(tmp, link);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems refuse directory fsync; the rename is still atomic */
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
