/**
 * The one challenge interface (design.md "One challenge interface"; compare
 * lego's challenge.Provider and CertMagic's solvers). Every way of proving
 * control of a name implements it: HTTP-01 webroot and standalone today
 * (challenge/http01.ts); DNS-01 providers (src/core/dns/solver.ts), the
 * fleet's shared responder and TLS-ALPN-01 plug in here.
 *
 * The order driver (acme/order.ts) picks the CA's challenge of the solver's
 * `type` and works in phases over all authorizations of an order: begin →
 * present each → waitReady each → only if every one is ready, tell the CA
 * about each → poll each → cleanup each (always). A waitReady that throws
 * means no challenge is answered (no failed authorization is spent) and the
 * order stays journalled for the next run. The gate runs `precheck` before
 * any order exists.
 */
import type { PrecheckRun } from '../precheck/index.js';

export type ChallengeType = 'http-01' | 'dns-01' | 'tls-alpn-01';

/** One challenge of one authorization, as the solver needs it. */
export interface Challenge {
  /** The identifier's value (for a wildcard: the base name, as the CA lists it). */
  identifier: string;
  wildcard: boolean;
  /** The CA's token (checked by the solver before it becomes a path or a record). */
  token: string;
  /** token + "." + the account key's thumbprint. */
  keyAuthorization: string;
}

/** What the readiness check needs besides the solver's own settings. */
export interface SolverPrecheckInput {
  names: string[];
  resolver?: string;
  httpPort?: number;
  caaIdentities: string[];
  caName?: string;
  directoryUrl?: string;
  ledger?: import('../ledger/ledger.js').Ledger;
  now: number;
}

export interface ChallengeSolver {
  readonly type: ChallengeType;
  /**
   * The solver keeps one order's state from begin to cleanup (DNS-01: the records of the order, what
   * is left to present for a hook, one wait for all): a lineage with several orders (dual, SM2) has
   * them driven one after the other instead of at once. (A CA that hands both orders the same pending
   * authorization then finds it valid for the second.)
   */
  readonly oneOrderAtATime?: boolean;
  /** The readiness check before any order (DNS, CAA, failed validations and this solver's own probe). */
  precheck(input: SolverPrecheckInput): Promise<PrecheckRun>;
  /** Take what presenting needs (a listening port, a writable webroot) before any order is created; throws what stops it. */
  prepare(): Promise<void>;
  /** Optional: every challenge of the order, before the first present (a hook counts those that remain). */
  begin?(all: Challenge[]): Promise<void>;
  /** Put the challenge's response in place; called once per challenge, one at a time. Write-ahead journalled by solvers whose responses outlive the process. */
  present(ch: Challenge): Promise<void>;
  /** The solver's own readiness before the CA is told to look (DNS-01: every authoritative nameserver has the record); throws what is not ready. */
  waitReady(ch: Challenge): Promise<void>;
  /** Remove what present put in place; idempotent. */
  cleanup(ch: Challenge): Promise<void>;
  /** What to tell the user when the CA could not validate (which check to run). */
  readonly checkHint?: string;
  /** Release everything (port, created directories), whatever happened; idempotent. */
  close(): Promise<void>;
}
