/**
 * Where certctl keeps its state. Everything certctl writes lives below one
 * state directory: the ledger, account keys, and the live/ + archive/
 * certificate lineages.
 */
import os from 'node:os';
import path from 'node:path';
import { InputError } from './errors.js';

export interface StatePaths {
  root: string;
  /** A SQLite file path or a postgres:// URL (with its password: never print it; Ledger.file is the printable form). */
  ledger: string;
  accounts: string;
  live: string;
  archive: string;
  pending: string;
  lock: string;
}

/** --state-dir wins, then CERTCTL_HOME, then /var/lib/certctl for root, then $XDG_STATE_HOME/certctl. */
export function resolveStateDir(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return path.resolve(flag);
  if (env.CERTCTL_HOME) return path.resolve(env.CERTCTL_HOME);
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/certctl';
  const xdg = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(xdg, 'certctl');
}

/**
 * --ledger wins, then CERTCTL_LEDGER; undefined means the state directory's
 * own SQLite file. A postgres:// URL is kept as it is (a fleet's shared
 * ledger); anything else is a SQLite file path.
 */
export function resolveLedger(flag?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = flag || env.CERTCTL_LEDGER;
  if (!v) return undefined;
  if (/^postgres(ql)?:\/\//i.test(v)) return v;
  // Any other URL (a typo such as postgress://, or mysql://) would otherwise be a relative SQLite
  // path ("mysql:/x" in the working directory): a new, empty ledger that knows no certificate of
  // the fleet's, so every set it holds could be ordered again.
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(v);
  if (scheme) {
    throw new InputError(`--ledger / CERTCTL_LEDGER: a "${scheme[1]}://" URL is not a ledger certctl can use.`, 'Give a SQLite file path, or postgres://user@host/db for a shared ledger (docs/fleet.md).');
  }
  return path.resolve(v);
}

/** The state directory's layout. `ledger` is the SQLite file below it unless --ledger / CERTCTL_LEDGER names another (a file or a postgres:// URL). */
export function statePaths(root: string, ledger?: string): StatePaths {
  return {
    root,
    ledger: ledger ?? path.join(root, 'ledger.sqlite'),
    accounts: path.join(root, 'accounts'),
    live: path.join(root, 'live'),
    archive: path.join(root, 'archive'),
    pending: path.join(root, 'pending'),
    lock: path.join(root, 'lock'),
  };
}

/** `/etc/certctl/config.yaml` for root, `$XDG_CONFIG_HOME/certctl/config.yaml` (default `~/.config`) otherwise (config.json beside it also counts). */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return '/etc/certctl/config.yaml';
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'certctl', 'config.yaml');
}
