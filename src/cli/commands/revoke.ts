import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { RevokeCliOptions } from '../run/revoke.js';

export function register(program: Command): void {
  program
    .command('revoke')
    .description("revoke a certificate at its CA (RFC 8555 §7.6): through certctl's account, or signed with the certificate's own key")
    .option('--cert-name <name>', "the lineage whose current certificate(s) to revoke (renew then replaces them at once)")
    .option('--cert-path <file>', 'the certificate file to revoke (PEM; e.g. live/NAME/cert.pem, or another client’s certificate)')
    .option('--key-path <file>', "with --cert-path: the certificate's private key, to sign the revocation when certctl has no account that issued it")
    .addOption(new Option('--reason <reason>', 'why (RFC 5280)').choices(['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged']).default('unspecified'))
    .option('--delete-after', 'then delete the lineage (live/, archive/, settings) in the same step, as certctl delete')
    .option('--server <url>', 'ACME directory URL, for a certificate the ledger does not know')
    .option('--ca <id>', 'CA by name, for a certificate the ledger does not know')
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the ACME server')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
Examples:
  certctl revoke --cert-name www.example.com --reason keyCompromise
  certctl revoke --cert-path old/cert.pem --key-path old/privkey.pem --server https://acme.example/dir
  certctl revoke --cert-name old.example.com --reason cessationOfOperation --delete-after
A revoked certificate still counts against the CA's rate limits: revocation
gives no capacity back. The ledger records when, why and by whom; a lineage
whose current certificate is revoked is due for renewal at once.
Exit 0 revoked (also when the CA says it already was); 2 bad input, nothing
sent; 3 the ledger records it as revoked already; 8 the CA refused or could
not be reached (run the same command again: a lost answer is reconciled).`,
    )
    .action(
      action(async (ctx, opts: RevokeCliOptions) => {
        const { runRevoke } = await import('../run/revoke.js');
        return runRevoke(ctx, opts);
      }),
    );
}
