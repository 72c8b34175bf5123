/**
 * Where certctl keeps its state. Everything certctl writes lives below one
 * state directory: the ledger, account keys, and the live/ + archive/
 * certificate lineages.
 */
import os from 'node:os';
import path from 'node:path';

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
  return /^postgres(ql)?:\/\//i.test(v) ? v : path.resolve(v);
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
