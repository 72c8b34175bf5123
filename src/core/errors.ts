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
  /** A readiness check (DNS, HTTP-01, CAA) failed before ordering; no order was created. */
  PRECHECK_FAILED: 6,
  /** The CA could not validate a challenge (authorization invalid). */
  VALIDATION_FAILED: 7,
  /** The CA answered with another error, or could not be reached. */
  CA_ERROR: 8,
  /** Another certctl run holds the lock on this state directory. */
  LOCKED: 9,
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

/** The planner predicts a refusal. */
export class BlockedError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.BLOCKED, hint);
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

/** The CA could not be reached at all (DNS, TCP, TLS). */
export class NetworkError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CA_ERROR, hint);
  }
}
