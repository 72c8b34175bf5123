/**
 * What every command needs: the global options (parsed once, by commander, on
 * the root program), the state paths, the ledger, the output and the clock.
 */
import type { Command } from 'commander';
import { Output, type GlobalOptions } from './output.js';
import { resolveLedger, resolveStateDir, statePaths, type StatePaths } from '../core/paths.js';
import { now } from '../core/clock.js';
import type { Ledger } from '../core/ledger/ledger.js';
import type { RunEnv } from '../core/env.js';

export interface Context {
  opts: GlobalOptions;
  out: Output;
  paths: StatePaths;
  now: () => number;
  ledger(): Promise<Ledger>;
  close(): void;
}

export async function makeContext(cmd: Command): Promise<Context> {
  const opts = cmd.optsWithGlobals() as GlobalOptions;
  const out = await new Output(opts).init();
  const paths = statePaths(resolveStateDir(opts.stateDir), resolveLedger(opts.ledger));
  let ledger: Ledger | undefined;
  return {
    opts,
    out,
    paths,
    now,
    async ledger() {
      if (!ledger) {
        const { Ledger } = await import('../core/ledger/ledger.js');
        // A write waits for another process's write lock as long as the command's --lock-wait says (then exit 9).
        const lockWait = (opts as { lockWait?: unknown }).lockWait;
        ledger = Ledger.open(paths.ledger, typeof lockWait === 'number' && Number.isFinite(lockWait) && lockWait >= 0 ? { busyTimeoutMs: lockWait * 1000 } : {});
      }
      return ledger;
    },
    close() {
      ledger?.close();
      ledger = undefined;
    },
  };
}

/** What the core needs of this command's context: plain values and the output as its sink (the core never prints). */
export function runEnv(ctx: Pick<Context, 'paths' | 'now' | 'out' | 'opts'>): RunEnv {
  return { paths: ctx.paths, now: ctx.now, sink: ctx.out, verbose: Boolean(ctx.opts.verbose), configFile: ctx.opts.config };
}
