/**
 * Where certctl keeps its state. Everything certctl writes lives below one
 * state directory: the ledger, account keys, and the live/ + archive/
 * certificate lineages.
 */
import os from 'node:os';
import path from 'node:path';

export interface StatePaths {
  root: string;
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

export function statePaths(root: string): StatePaths {
  return {
    root,
    ledger: path.join(root, 'ledger.sqlite'),
    accounts: path.join(root, 'accounts'),
    live: path.join(root, 'live'),
    archive: path.join(root, 'archive'),
    pending: path.join(root, 'pending'),
    lock: path.join(root, 'lock'),
  };
}
