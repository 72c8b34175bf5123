/**
 * `certctl daemon`: stay running and renew on a schedule (default twice a
 * day at a random minute), waking earlier for what the ledger knows is
 * coming: an ARI chosen moment, a due date, the end of a Retry-After.
 * SIGTERM/SIGINT: the current renew run finishes, then exit 0.
 */
import type { Command } from 'commander';
import { action } from '../action.js';
import type { DaemonOptions } from '../run/daemon.js';

export function register(program: Command): void {
  program
    .command('daemon')
    .description('run renew on a schedule (default twice a day at a random minute) and early for ARI windows, due dates and Retry-After times in the ledger')
    .option('--schedule <cron>', 'cron expression for the regular runs, e.g. "17 3,15 * * *" (default: a random minute, two hours 12 h apart)')
    .option('--no-precheck', 'skip the readiness checks before ordering (recorded)')
    .option('--serve [addr:port]', "fleet: also answer HTTP-01 from the shared ledger, as certctl serve does (default 0.0.0.0:80)")
    .addHelpText('after', `
Logs one line per run on stdout (--json: one certctl.daemon/1 JSON object per line).
Options for renew (hooks, concurrency, renewDays) come from the config file's defaults.
Example unit: examples/systemd/certctl-daemon.service.`)
    .action(
      action(async (ctx, opts: DaemonOptions) => {
        const { runDaemon } = await import('../run/daemon.js');
        return runDaemon(ctx, opts);
      }),
    );
}
