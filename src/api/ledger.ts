/**
 * The library's ledger handle: an opaque value returned by `openLedger` and
 * passed back in `opts.ledger`. The Ledger class behind it (its SQL, its row
 * shapes) is not part of the public API; only this handle is.
 */
import path from 'node:path';
import { Ledger } from '../core/ledger/ledger.js';
import { CertctlError, InputError, faultError } from '../core/errors.js';
import { CONTROL } from '../core/names.js';

/** An open ledger (a SQLite file or a PostgreSQL database). Close it when the service stops. */
export interface LedgerHandle {
  /** The SQLite file, or the PostgreSQL URL without its password (safe to log). */
  readonly file: string;
  /** 'sqlite' or 'postgres'. */
  readonly backend: 'sqlite' | 'postgres';
  /** Closes the connection; idempotent. A call given this handle afterwards throws. */
  close(): void;
}

export interface OpenLedgerOptions {
  /** How long a write waits for another process's write lock (SQLite busy timeout / PostgreSQL lock_timeout). Default 15 000 ms. */
  busyTimeoutMs?: number;
}

interface Opened {
  ledger: Ledger | undefined;
  /** What was opened, as given (a postgres:// URL keeps its password here; never printed). */
  target: string;
}

const opened = new WeakMap<LedgerHandle, Opened>();

/** Opens `fileOrUrl`, creating a SQLite ledger (whole, never half-made) if the file does not exist. */
export function openLedgerAt(fileOrUrl: string, o: OpenLedgerOptions = {}): LedgerHandle {
  const ledger = Ledger.open(fileOrUrl, o.busyTimeoutMs !== undefined ? { busyTimeoutMs: o.busyTimeoutMs } : {});
  const state: Opened = { ledger, target: fileOrUrl };
  const handle: LedgerHandle = Object.freeze({
    file: ledger.file,
    backend: ledger.backend,
    close() {
      state.ledger?.close();
      state.ledger = undefined;
    },
  });
  opened.set(handle, state);
  return handle;
}

/** The core's Ledger behind a handle (internal to the library). */
export function ledgerOf(handle: LedgerHandle): { ledger: Ledger; target: string } {
  const state = opened.get(handle);
  if (!state) throw new TypeError('opts.ledger is not a ledger returned by openLedger().');
  if (!state.ledger) throw new TypeError(`The ledger ${handle.file} was closed.`);
  return { ledger: state.ledger, target: state.target };
}

/**
 * Open (or create) a ledger: a SQLite file path (relative to the working
 * directory) or a `postgres://` URL shared by a fleet. Pass it as
 * `opts.ledger` to plan / issue / renew and `close()` it when the service
 * stops. A damaged, foreign or newer ledger is a StateError (exit code 10)
 * and is left unchanged.
 */
export function openLedger(fileOrUrl: string, opts: OpenLedgerOptions = {}): LedgerHandle {
  if (typeof fileOrUrl !== 'string' || fileOrUrl.trim() === '' || CONTROL.test(fileOrUrl)) {
    throw new InputError('openLedger needs a SQLite file path or a postgres:// URL (a non-empty string without control characters).', 'Give it e.g. "/var/lib/myservice/certctl/ledger.sqlite".');
  }
  if (opts.busyTimeoutMs !== undefined && !(Number.isFinite(opts.busyTimeoutMs) && opts.busyTimeoutMs >= 0)) {
    throw new InputError('busyTimeoutMs must be a number of milliseconds ≥ 0.');
  }
  const target = /^postgres(ql)?:\/\//i.test(fileOrUrl) ? fileOrUrl : path.resolve(fileOrUrl);
  try {
    return openLedgerAt(target, opts);
  } catch (err) {
    if (err instanceof CertctlError) throw err;
    throw faultError(err, target.startsWith('postgres') ? undefined : target) ?? err;
  }
}
