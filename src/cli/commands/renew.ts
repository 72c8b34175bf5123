import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { RenewCliOptions } from '../run/renew.js';

export function register(program: Command): void {
  program
    .command('renew')
    .description('renew every lineage that is due (ARI window, or a third of the lifetime left); resume interrupted orders; leave the rest alone')
    .option('--days <n>', 'renew when fewer than N days are left (instead of ARI / the lifetime rule)')
    .option('--cert-name <name>', 'only this lineage (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--force-renewal', 'renew even if not due (spends a duplicate slot; the planner still applies)')
    .option('--dry-run', "order from the CA's staging environment in a throw-away directory; live files untouched")
    .addOption(new Option('--concurrency <n>', 'lineages renewed at the same time').default(1))
    .option('--no-precheck', 'skip the readiness checks before ordering (recorded)')
    .option('--pre-hook <cmd>', 'run once before the first renewal attempt')
    .option('--post-hook <cmd>', 'run once after the attempts, with RENEWED_DOMAINS and FAILED_DOMAINS (every hook variable: docs/notify.md)')
    .option('--deploy-hook <cmd>', 'run for each renewed lineage, with RENEWED_LINEAGE and RENEWED_DOMAINS set')
    .option('--no-random-sleep', 'off a terminal, do not wait the random delay before the first renewal that is due')
    .option('--random-sleep-max <seconds>', 'off a terminal, the random delay before the first due renewal is 1 to this many seconds (default 480; 0: none)', Number)
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(600))
    .option('--lease-ttl <seconds>', "shared (PostgreSQL) ledger: a lineage's lease lives this long without a heartbeat; another host takes over a dead host's renewal once it has expired (default 600)")
    .option('--preferred-chain <issuer-cn>', 'write the chain whose topmost certificate is issued by this Common Name when the CA offers alternates; recorded, later renewals keep it (each lineage otherwise keeps the one it was issued with)')
    .option('--resolver <host:port>', 'DNS server for the readiness checks (default: the system resolver)')
    .option('--http-port <port>', 'port the readiness check fetches HTTP-01 on (default 80)')
    .addOption(new Option('--ct-sync <mode>', 'auto: first sync Certificate Transparency (crt.sh) for the managed domains whose last sync is older than --ct-max-age, so limits count what other hosts issued').choices(['auto', 'never']).default('never'))
    .addOption(new Option('--ct-max-age <hours>', 'with --ct-sync auto: sync when the last CT sync is older than this').default(24))
    .option('--ct-url <url>', 'crt.sh-compatible base URL (default https://crt.sh)')
    .option('--schedule-file <path>', 'the cron file that runs this renew (default /etc/cron.d/certctl): an ARI moment chosen before its next run is renewed now; without one, the ledger\'s renew history says when the next run is')
    .addHelpText(
      'after',
      `
From cron: when not on a terminal and something is due, certctl first waits a
random 1-480 s (--random-sleep-max) so fleets do not reach the CA in the same
second, and says so unless --quiet; it decides first, so a run with nothing
due returns at once. No delay for --dry-run or on a terminal.
  17 3,15 * * *  root  certctl renew --quiet --deploy-hook 'systemctl reload nginx'
Exit status is non-zero only when something needs attention (see certctl --help).
With notify: in the config (docs/notify.md), a failed renewal, a renewal blocked
until after the certificate expires, low headroom, a renewal or a fail-over is sent
to its targets after the post-hook (each once a day); a delivery that fails is
retried by the next run and never changes the exit status.
On a fleet's shared ledger with a fleet key (docs/fleet.md), each run first writes
the lineages this host deploys when the ledger holds a newer version (0 orders),
and runs --deploy-hook (or the lineage's own) for each:
  CERTCTL_FLEET_KEY_FILE=/etc/certctl/fleet.key certctl --host web2 renew --deploy-hook 'systemctl reload nginx'
There, each due lineage is renewed under its lease: hosts renew different lineages
at once; one leased by another host is left to it ("kept"); a dead host's lease
expires after --lease-ttl and the next run resumes its order.
Ctrl-C / SIGTERM: stops cleanly (exit 130 / 143), naming each order's step; the next run resumes it.`,
    )
    .action(
      action(async (ctx, opts: RenewCliOptions) => {
        const { runRenewCommand } = await import('../run/renew.js');
        return runRenewCommand(ctx, opts);
      }),
    );
}
