/**
 * `certctl account show | list | update | deactivate | rollover | forget`:
 * the ACME account certctl keeps for one CA (RFC 8555 §7.3). Bodies in run/account.ts.
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { AccountCliOptions } from '../run/account.js';

function caOptions(c: Command): Command {
  return c
    .option('--server <url>', 'ACME directory URL of the CA (default: the CA given by --ca)')
    .option('--ca <id>', 'CA by id (certctl ca list, or a custom CA of the config file; default letsencrypt)')
    .option('--staging', "the CA's staging environment")
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the ACME server (private CAs: Pebble, step-ca)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120));
}

export function register(program: Command): void {
  const account = program
    .command('account')
    .description("the ACME account certctl keeps for a CA: show, list, update --email, deactivate, rollover (new key), forget")
    .addHelpText(
      'after',
      `
Examples:
  certctl account list
  certctl account show --server https://acme.example/directory --ca-bundle ca.pem
  certctl account update --email ops@example.com
  certctl account rollover                 (a new account key; crash-safe)
  certctl account deactivate --yes         (the CA refuses the account from then on)
  certctl account forget --yes             (the next issue registers a new account)
Exit codes: 0 done; 2 bad input, no account at that CA, deactivated, or not
confirmed (nothing sent); 8 the CA refused or could not be reached (a key
change left pending is settled by the next command). docs/lifecycle.md.
JSON: --json prints certctl.account/1 (certctl.accounts/1 for list; docs/json.md).`,
    );
  const run = (sub: AccountCliOptions['action']) =>
    action(async (ctx, opts: AccountCliOptions) => {
      const { runAccount } = await import('../run/account.js');
      return runAccount(ctx, { ...opts, action: sub });
    });
  account.command('list').description("every CA's account in the ledger (nothing is sent)").action(run('list'));
  caOptions(account.command('show').description("the account as the CA (POST-as-GET of the account URL) and the ledger know it")).action(run('show'));
  caOptions(account.command('update').description("replace the account's contact e-mail at the CA (RFC 8555 §7.3.2)"))
    .requiredOption('-m, --email <address>', 'the new contact e-mail address')
    .action(run('update'));
  caOptions(account.command('deactivate').description('deactivate the account at the CA (RFC 8555 §7.3.6); certctl refuses to use it afterwards'))
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .addHelpText('after', '\nIrreversible: the CA refuses every request the account signs from then on. Certificates already issued stay valid.\nTo get a new account afterwards: certctl account forget --yes.')
    .action(run('deactivate'));
  caOptions(account.command('rollover').description("replace the account's key (RFC 8555 §7.3.5): the new key is journalled before the keyChange, a lost answer or a crash is settled by the next command"))
    .action(run('rollover'));
  caOptions(account.command('forget').description("stop using this CA's account (e.g. after deactivate): the next issue registers a new one; the ledger keeps its history"))
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .action(run('forget'));
}
