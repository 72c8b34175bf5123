/**
 * One entry per command; each file owns its options and help. Loaded lazily:
 * a command line that names a command loads that command's module only
 * (start-up time is most of what a cron-run certctl costs); help and unknown
 * commands load them all.
 */
import type { Command } from 'commander';

type Loader = () => Promise<{ register(program: Command): void }>;

export const COMMANDS: Record<string, Loader> = {
  issue: () => import('./issue.js'),
  check: () => import('./check.js'),
  csr: () => import('./csr.js'),
  status: () => import('./status.js'),
  plan: () => import('./plan.js'),
  limits: () => import('./limits.js'),
  renew: () => import('./renew.js'),
  apply: () => import('./apply.js'),
  cron: () => import('./cron.js'),
  daemon: () => import('./daemon.js'),
  metrics: () => import('./metrics.js'),
  sync: () => import('./sync.js'),
  import: () => import('./import.js'),
  revoke: () => import('./revoke.js'),
  delete: () => import('./delete.js'),
  migrate: () => import('./migrate.js'),
  account: () => import('./account.js'),
  fleet: () => import('./fleet.js'),
  deploy: () => import('./deploy.js'),
  ca: () => import('./ca.js'),
  serve: () => import('./serve.js'),
  notify: () => import('./notify.js'),
};

/** Aliases commander knows (status|certificates): the module that defines them. */
const ALIASES: Record<string, string> = { certificates: 'status' };

/** Global options that take a value (the next argument is not a command name). */
const VALUE_OPTIONS = new Set(['--state-dir', '--config', '--ledger', '--host', '--fleet-key']);

/** The command a command line names, if it is one of ours. */
export function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return undefined;
    if (a.startsWith('-')) {
      if (VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    const name = ALIASES[a] ?? a;
    return name in COMMANDS ? name : undefined;
  }
  return undefined;
}

/** Register the named command only, or every command when none (or an unknown one) is named. */
export async function registerFor(program: Command, args: readonly string[]): Promise<void> {
  const name = commandOf(args);
  const names = name ? [name] : Object.keys(COMMANDS);
  for (const n of names) (await COMMANDS[n]!()).register(program);
}
