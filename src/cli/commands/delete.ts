import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { DeleteCliOptions } from '../run/delete.js';

export function register(program: Command): void {
  program
    .command('delete')
    .description("delete a lineage: its live/ and archive/ files and settings, so renew stops; the ledger keeps its certificates (they still count against the CA's limits)")
    .requiredOption('--cert-name <name>', 'the lineage to delete')
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
Examples:
  certctl delete --cert-name old.example.com          (asks on a terminal)
  certctl delete --cert-name old.example.com --yes    (scripts)
The certificate is not revoked (certctl revoke --cert-name NAME --delete-after
does both). Its certificates stay in the ledger: they still count against the
CA's limits, and certctl plan still sees them. A web server configured with
live/NAME/ loses its files. Exit 0 deleted; 2 unknown lineage, or not
confirmed (nothing deleted); 9 another certctl run holds the lock.`,
    )
    .action(
      action(async (ctx, opts: DeleteCliOptions) => {
        const { runDelete } = await import('../run/delete.js');
        return runDelete(ctx, opts);
      }),
    );
}
