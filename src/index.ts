/**
 * certctl's public API: `import { plan, issue, renew, openLedger } from 'certctl'`.
 *
 * Everything exported here is covered by the stability promise of
 * docs/api.md (semantic versioning: no breaking change without a major
 * version). Nothing else — no file under dist/core/ or dist/cli/, no deep
 * import — is public; it stays free to change.
 *
 * The command line does not load this file (bin/certctl.js → the bundled CLI, dist/cli/*.bundle.cjs).
 */
export { plan, issue, renew } from './api/library.js';
export type { CallOptions, PlanRequest, PlanResult, PlanCaChoice, CandidateVerdict, IssueRequest, RenewRequest, Decision, IssueOutcome, RenewReport } from './api/library.js';
export { openLedger } from './api/ledger.js';
export type { LedgerHandle, OpenLedgerOptions } from './api/ledger.js';
export type { Sink } from './core/env.js';
export { silentSink } from './core/env.js';
export type { Verdict, LimitReport, HeldFact } from './core/planner/plan.js';
export type { LineageOutcome, Action as RenewAction } from './core/renew/runner.js';
export type { ObtainResult } from './core/obtain.js';
export { ExitCode, CertctlError, InputError, BlockedError, PrecheckError, LockedError, AcmeError, ValidationError, NetworkError, StateError } from './core/errors.js';
export type { ExitCodeValue, AcmeProblem } from './core/errors.js';
