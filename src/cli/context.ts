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
import { InputError } from '../core/errors.js';
import { span } from '../core/timeline.js';

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
        const opened = span('ledger open + migrate', () => Ledger.open(paths.ledger, typeof lockWait === 'number' && Number.isFinite(lockWait) && lockWait >= 0 ? { busyTimeoutMs: lockWait * 1000 } : {}));
        try {
          await bindFleet(opened, opts);
        } catch (err) {
          opened.close();
          throw err;
        }
        ledger = opened;
      }
      return ledger;
    },
    close() {
      ledger?.close();
      ledger = undefined;
    },
  };
}

/**
 * This host's name, and on a shared PostgreSQL ledger its fleet key (--fleet-key, else
 * CERTCTL_FLEET_KEY_FILE, else the config's fleetKey:). A key other than the one the ledger's
 * secrets are sealed with is refused here, before the command writes anything (exit 2). A SQLite
 * ledger never uses a fleet key: its keys stay on disk, as always.
 */
async function bindFleet(ledger: Ledger, opts: GlobalOptions): Promise<void> {
  const { resolveHostName } = await import('../core/fleet/host.js');
  ledger.host = resolveHostName(opts.host);
  if (ledger.backend !== 'postgres') return;
  let file = opts.fleetKey ?? (process.env.CERTCTL_FLEET_KEY_FILE || undefined);
  if (file === undefined) file = (await (await import('../core/config/index.js')).loadConfig(opts.config)).fleetKey;
  if (file === undefined) return;
  const { loadFleetKey, wrongFleetKey } = await import('../core/fleet/key.js');
  const key = loadFleetKey(file);
  const recorded = ledger.fleetKeyId();
  if (recorded !== undefined && recorded !== key.keyId) throw wrongFleetKey(key.file, key.keyId, recorded);
  if (recorded === undefined && !ledger.readOnly) {
    // The first host with a key names the fleet's key; two hosts racing with two keys: one wins, the other is refused.
    const won = ledger.claimFleetKeyId(key.keyId);
    if (won !== key.keyId) throw wrongFleetKey(key.file, key.keyId, won);
  }
  ledger.sealer = key;
}

/**
 * Commands that order or write certificates (issue, renew, apply, daemon) on a ledger that keeps the
 * fleet's keys: without the fleet key this host could neither store what it orders nor write what
 * the fleet holds, so it stops first, in one sentence (exit 2), having changed nothing.
 */
export function assertFleetKeyGiven(ledger: Ledger): void {
  if (ledger.backend !== 'postgres' || ledger.sealer) return;
  const recorded = ledger.fleetKeyId();
  if (recorded === undefined) return;
  throw new InputError(
    `This ledger keeps the fleet's certificates and keys sealed with fleet key ${recorded}, and this host was given no fleet key: certctl changed nothing.`,
    'Copy the fleet key file from another host (mode 0600) and give it with --fleet-key FILE, CERTCTL_FLEET_KEY_FILE or fleetKey: in the config (docs/fleet.md).',
  );
}

/** What the core needs of this command's context: plain values and the output as its sink (the core never prints). */
export function runEnv(ctx: Pick<Context, 'paths' | 'now' | 'out' | 'opts'>): RunEnv {
  return { paths: ctx.paths, now: ctx.now, sink: ctx.out, verbose: Boolean(ctx.opts.verbose), configFile: ctx.opts.config };
}
