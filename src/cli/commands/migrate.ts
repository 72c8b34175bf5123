/**
 * `certctl migrate certbot [dir]`: the whole switch from certbot — import,
 * certbot's live/ links re-pointed at certctl's, its renewal files set aside,
 * its directory hooks carried over — listed first, reversible (--revert).
 * A command of its own rather than `import certbot --adopt`: `import` only
 * reads certbot's files (its documented promise); this one changes them.
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { MigrateCliOptions } from '../run/migrate.js';

export function register(program: Command): void {
  const mig = program.command('migrate').description("switch from another ACME client without an outage (certbot: certctl migrate certbot --dry-run)");
  mig
    .command('certbot')
    .description("take over certbot's lineages: import them, point certbot's live/NAME/*.pem at certctl's, set renewal/NAME.conf aside, carry over renewal-hooks/; --revert undoes it")
    .argument('[dir]', "certbot's config directory", '/etc/letsencrypt')
    .option('--dry-run', 'only list the changes; change nothing')
    .option('-y, --yes', 'apply without asking (needed off a terminal and with --json)')
    .option('--revert', "put certbot's links and renewal files back as they were, from the migration record")
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the lineages’ ACME server when certctl renews them (private CAs: Pebble, step-ca)')
    .option('-w, --webroot <dir>', 'renew every migrated lineage with this webroot (also takes lineages whose certbot authenticator was nginx/apache/manual)')
    .option('--force-webroot', 'accept a --webroot that looks like a system directory (/, /etc, /usr, $HOME, the state directory…)')
    .addOption(new Option('--certbot-cron <file>', "certbot's cron job to look for (env CERTCTL_CERTBOT_CRON)").default(undefined, '/etc/cron.d/certbot'))
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
Every change is listed first: --dry-run lists only; on a terminal migrate
lists and asks; off a terminal it needs --yes. Before the first change to
certbot's files a record (certbot-migration.json in the state directory)
lists each change with the original link targets: a run that is killed is
finished by running migrate again, or undone by --revert. While a migration
is unfinished, certctl renew refuses to run (exit 10).

After it the paths your web server reads (certbot's live/NAME/*.pem) follow
certctl's current certificate; certbot no longer lists or renews the
migrated lineages. certbot's timer and cron job are named, not changed.
Renew with certctl renew; certbot's deploy hooks run after each renewal.
Exit codes: 0 done (or nothing to do), 2 bad input, a refused lineage or no
confirmation, 9 another run holds the lock, 10 the record is damaged.`,
    )
    .action(action(async (ctx, dir: string, opts: MigrateCliOptions) => (await import('../run/migrate.js')).runMigrateCertbot(ctx, dir, opts)));
}
