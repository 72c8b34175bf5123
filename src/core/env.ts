/**
 * What the core needs from whoever runs it — the command line or a program
 * using certctl as a library — as plain values: where the state lives, the
 * clock, where to say things, and the config file whose `policies` apply.
 * The core never prints; it hands lines to a `Sink` and returns results.
 * src/cli/ renders them (text on a terminal, nothing extra with --json).
 */
import type { StatePaths } from './paths.js';

/** Where the core's lines go. The CLI's Output is one; a library caller gives its own (or `silentSink`). */
export interface Sink {
  /** A normal line (an order's progress, "Readiness checks skipped"): the CLI hides it with --quiet and --json. */
  info(line: string): void;
  /** Something the user must see (a warning before a request spends a limit's last slot). */
  attention(line: string): void;
  /** Detail for --verbose (each ACME request, never keys or tokens). */
  verbose(line: string): void;
}

export const silentSink: Sink = { info() {}, attention() {}, verbose() {} };

export interface RunEnv {
  /** The state directory (ledger, accounts, live/, archive/). */
  paths: StatePaths;
  /** The clock (ms since the epoch, UTC). */
  now: () => number;
  sink: Sink;
  /** True when verbose lines are wanted: requests are traced only then. */
  verbose: boolean;
  /** The config file whose `policies` the gate applies (undefined: the default config file, if any). */
  configFile?: string;
}
