/**
 * `certctl sync ct <registered-domain>…`: import what Certificate
 * Transparency (crt.sh) knows about each domain into the ledger, so the
 * planner counts certificates issued by other hosts and other clients.
 * Exit: 0 every domain complete; 8 crt.sh failed or answered partially for
 * at least one (what did arrive is kept, and `plan` says "incomplete").
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { SyncCtOptions } from '../run/sync.js';

export function register(program: Command): void {
  const sync = program.command('sync').description('bring outside knowledge into the ledger (sync ct: certificates from Certificate Transparency)');
  sync
    .command('ct')
    .description('import every unexpired certificate crt.sh lists for each registered domain (other hosts, other clients), so the rate-limit planner counts them')
    .argument('<domain...>', 'registered domain(s), e.g. example.com (a longer name is reduced to its registered domain)')
    .addOption(new Option('--ct-url <url>', 'crt.sh base URL').default('https://crt.sh'))
    .addOption(new Option('--request-timeout <seconds>', 'time-out of one crt.sh request').default(60).argParser(Number))
    .addOption(new Option('--total-timeout <seconds>', 'time budget per domain, retries included').default(180).argParser(Number))
    .addOption(new Option('--retries <n>', 'retries after a 502/503/429, a time-out or a non-JSON answer').default(3).argParser(Number))
    .addOption(new Option('--backoff <seconds>', 'first retry delay (doubles each time, jittered)').default(2).argParser(Number))
    .addHelpText(
      'after',
      `
crt.sh answers at most 10,000 rows; a domain with more (or a failed query) is
recorded as an incomplete sync, and \`certctl plan\` says so. Certificates the
ledger already has (issued by certctl, imported from certbot) are matched by
serial + issuer and marked seen-in-CT, never counted twice.
Exit codes: 0 complete, 8 crt.sh failed or answered partially (kept what came).`,
    )
    .action(
      action(async (ctx, domains: string[], opts: SyncCtOptions) => (await import('../run/sync.js')).runSyncCt(ctx, domains, opts)),
    );
}
