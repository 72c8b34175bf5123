/**
 * `certctl apply`: make the ledger's lineages match the config file's
 * `certificates` — plan each one, issue what is missing, never re-issue what
 * is held (renewing is `certctl renew`'s job).
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { ApplyOptions } from '../run/apply.js';

export function register(program: Command): void {
  program
    .command('apply')
    .description("issue every certificate the config file declares that the ledger does not hold (planned first; held ones are left alone)")
    .option('--dry-run', 'only plan: show what would be issued, held or blocked; nothing is sent')
    .addOption(new Option('--concurrency <n>', 'certificates worked on at the same time (default: the config\'s defaults.concurrency, else 1)'))
    .option('--no-precheck', 'skip the readiness checks before ordering (recorded)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
Reads --config (default /etc/certctl/config.yaml for root, $XDG_CONFIG_HOME/certctl/config.yaml otherwise):
  certificates:
    - domains: [example.com, www.example.com]
      webroot: /var/www/html
    - domains: [shop.example.com]
      serve: true             # a fleet: HTTP-01 through certctl serve on every host (issue --serve)
      hosts: [web1, web2]     # the fleet hosts that deploy it; apply on web2 writes it there from the ledger
Exit: 0 when every declared certificate is held or was issued; otherwise the
most serious failure (4 blocked, 5 rate limited, 6 precheck, …; see certctl --help).
JSON: --json prints certctl.apply/1 (docs/json.md).`,
    )
    .action(
      action(async (ctx, opts: ApplyOptions) => {
        const { runApply } = await import('../run/apply.js');
        return runApply(ctx, opts);
      }),
    );
}
