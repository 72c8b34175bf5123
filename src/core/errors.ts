/**
 * Every failure a user must act on has its own error class and a stable exit
 * code. The codes are part of certctl's interface (README "Exit codes") and
 * must never be renumbered: cron wrappers and CI scripts branch on them.
 */
export const ExitCode = {
  /** The command did what was asked (or, for `plan`, the request is allowed). */
  OK: 0,
  /** A bug or an unexpected failure inside certctl. */
  INTERNAL: 1,
  /** Bad command line, bad config file, bad name: nothing was sent. */
  CONFIG: 2,
  /** Nothing to do: the exact set is already held and not due (issue), or `plan` says duplicate. */
  NOTHING_TO_DO: 3,
  /** The planner predicts the CA would refuse (rate limit); nothing was sent. */
  BLOCKED: 4,
  /** The CA refused with a rate-limit problem (HTTP 429); recorded in the ledger. */
  RATE_LIMITED: 5,
  /** A readiness check (DNS, HTTP-01, TLS-ALPN-01, CAA) failed before ordering (no order was created), or a solver's check before its challenge was answered (not answered). */
  PRECHECK_FAILED: 6,
  /** The CA could not validate a challenge (authorization invalid). */
  VALIDATION_FAILED: 7,
  /** The CA answered with another error, or could not be reached. */
  CA_ERROR: 8,
  /** Another certctl run holds the lock on this state directory. */
  LOCKED: 9,
  /**
   * The state directory or ledger cannot be used as it is: damaged (empty,
   * truncated, garbage), not certctl's, from a newer certctl, read-only where a
   * write is needed, or the disk is full. Nothing in it was changed by this run;
   * the message says how to get back.
   */
  STATE: 10,
  /**
   * Stopped by SIGINT (Ctrl-C) / SIGTERM, 128 + the signal's number as a shell reports it: nothing
   * more was sent, what the challenge had set up was removed, and an order begun is resumed by the
   * next run from the step it was at (the message names it).
   */
  INTERRUPTED: 130,
  TERMINATED: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Base class: `message` says what happened, `hint` what to do next. */
export class CertctlError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;
  constructor(message: string, exitCode: ExitCodeValue, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = hint;
  }
}

/** Bad input (names, options, config). Nothing was sent anywhere. */
export class InputError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CONFIG, hint);
  }
}

/** What blocks a request, for whoever must be told (notifications): the limits and when the request fits. */
export interface BlockFacts {
  /** When the whole request fits; null = never as asked. */
  allowedAt: number | null;
  /** The limits that block it (name, scope such as the exact set or registered domain, when each frees). */
  limits: { name: string; scope: string; allowedAt: number | null }[];
}

/** The planner predicts a refusal. */
export class BlockedError extends CertctlError {
  readonly block?: BlockFacts;
  constructor(message: string, hint?: string, block?: BlockFacts) {
    super(message, ExitCode.BLOCKED, hint);
    this.block = block;
  }
}

/** A readiness check failed before any order existed. */
export class PrecheckError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.PRECHECK_FAILED, hint);
  }
}

/** Another run holds the state directory's lock. */
export class LockedError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.LOCKED, hint);
  }
}

/** An RFC 7807 problem document received from the CA, with the HTTP facts around it. */
export interface AcmeProblem {
  type: string;
  detail: string;
  status: number;
  /** Absolute time (ms since epoch) from Retry-After, if the server sent one. */
  retryAfter?: number;
  subproblems?: { type: string; detail: string; identifier?: { type: string; value: string } }[];
  url?: string;
}

/** The CA refused a request. `problem` holds what it said. */
export class AcmeError extends CertctlError {
  readonly problem: AcmeProblem;
  constructor(problem: AcmeProblem, message?: string, hint?: string) {
    const rateLimited = problem.status === 429 || problem.type.endsWith(':rateLimited');
    super(
      message ?? `The CA refused the request: ${problem.detail || problem.type} (HTTP ${problem.status}, ${problem.type})`,
      rateLimited ? ExitCode.RATE_LIMITED : ExitCode.CA_ERROR,
      hint,
    );
    this.problem = problem;
  }
  get rateLimited(): boolean {
    return this.exitCode === ExitCode.RATE_LIMITED;
  }
}

/** A challenge failed validation at the CA. */
export class ValidationError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.VALIDATION_FAILED, hint);
  }
}

/** How a CA could not be reached (recorded in the ledger's ca_outages; docs/cas.md). */
export type UnreachableKind = 'refused' | 'timeout' | 'reset' | 'dns' | 'tls' | 'network' | 'http-5xx';

/** The CA could not be reached at all (DNS, TCP, TLS). */
export class NetworkError extends CertctlError {
  readonly kind: UnreachableKind;
  constructor(message: string, hint?: string, kind: UnreachableKind = 'network') {
    super(message, ExitCode.CA_ERROR, hint);
    this.kind = kind;
  }
}

/**
 * The state directory or ledger cannot be used as it is (ExitCode.STATE):
 * certctl refuses rather than start a new ledger over an old one or write into
 * a damaged one. `file` is the ledger file (or redacted URL) or the state path.
 */
export class StateError extends CertctlError {
  readonly file?: string;
  constructor(message: string, hint?: string, file?: string) {
    super(message, ExitCode.STATE, hint);
    this.file = file;
  }
}

/** A shared (PostgreSQL) ledger that cannot be reached now: a state to wait out (the daemon retries), never a changed one. */
export class LedgerUnreachableError extends StateError {}

/**
 * An error from SQLite, PostgreSQL or the file system that is not a bug but a
 * fault of the machine (disk full, read-only, damaged file, a lock held too
 * long), as a CertctlError that says what to do; undefined for anything else.
 * `ledger` is the ledger as it may be printed (file path or redacted URL).
 */
/** Connection failures (node's socket errors; PostgreSQL's admin_shutdown, crash_shutdown, cannot_connect_now; SQLSTATE class 08 is matched by prefix). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EPIPE', 'EAI_AGAIN', '57P01', '57P02', '57P03']);

export function faultError(err: unknown, ledger?: string): CertctlError | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; message?: unknown; path?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const where = ledger ? `the ledger ${ledger}` : 'the ledger';
  const file = typeof e.path === 'string' ? e.path : undefined;
  const nothingLost = 'Nothing was lost: what certctl had recorded before is still there, and an order it had begun is finished by the next run.';
  if (code.startsWith('SQLITE_BUSY') || code === '55P03') {
    return new LockedError(
      `Another process has held the write lock of ${where} longer than certctl waits (${String(e.message ?? '').replace(/\.$/, '')}).`,
      'Wait for it to finish (a long sqlite3 session or a stuck process holding a transaction?), or raise --lock-wait (the commands that write have it).',
    );
  }
  // SQLITE_IOERR_SHMSIZE: SQLite could not grow ledger.sqlite-shm, which on a full file system is the first write that fails.
  if (code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE' || code === 'ENOSPC' || code === 'EDQUOT' || code === '53100') {
    return new StateError(
      `The disk is full: certctl could not write ${file ?? where} (${code}).`,
      `Free some space on the file system of the state directory and run the same command again. ${nothingLost}`,
      file ?? ledger,
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'EROFS' || code === '25006') {
    return new StateError(
      `${file ? file : where[0]!.toUpperCase() + where.slice(1)} is read-only here (${code}): this command needs to write to it.`,
      'Run it where the state directory is writable (as the user that owns it, on a file system mounted read-write); status, plan and limits work read-only.',
      file ?? ledger,
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StateError(
      `${where[0]!.toUpperCase() + where.slice(1)} is damaged (${code}: ${String(e.message ?? '')}).`,
      'Stop certctl runs on it, keep a copy of the file, and restore it from a backup (sqlite3 FILE .recover can salvage rows); then `certctl import state` re-adopts certificates on disk the restored ledger does not know.',
      ledger,
    );
  }
  // A shared PostgreSQL ledger the host cannot reach (server down, restarting, network): nothing was
  // changed, the files in live/ keep being served, renewals wait for the next run (docs/fleet.md).
  if (UNREACHABLE.has(code) || code.startsWith('08')) {
    return new LedgerUnreachableError(
      `${where[0]!.toUpperCase() + where.slice(1)} cannot be reached (${code}): certctl changed nothing, and this host's certificate files are as they were.`,
      `Renewals wait until the database is back: run the same command again then (cron and the daemon do). ${nothingLost}`,
      ledger,
    );
  }
  // query_canceled: the server's statement_timeout, or pg_cancel_backend — a setting or a person, not a bug.
  if (code === '57014') {
    return new StateError(
      `A statement on ${where} was cancelled by the server (${code}: ${String(e.message ?? '').replace(/\.$/, '')}): a statement_timeout set for certctl's role or database, or an administrator's pg_cancel_backend.`,
      `Run the same command again; if it keeps happening, raise or unset statement_timeout for certctl (ALTER ROLE … SET statement_timeout = 0). ${nothingLost}`,
      ledger,
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') {
    return new StateError(
      `Reading or writing ${file ?? where} failed with an I/O error (${code}).`,
      `Check the disk (dmesg) and run the same command again. ${nothingLost}`,
      file ?? ledger,
    );
  }
  return undefined;
}
