/**
 * `certctl deploy add|remove|list`: which fleet hosts deploy a lineage from the shared ledger
 * (docs/fleet.md). A host that deploys a lineage writes its live/ + archive/ from the ledger on
 * every `certctl renew` when the ledger holds a newer version, then runs its deploy hooks.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const deploy = program
    .command('deploy')
    .description('which fleet hosts deploy a lineage from the shared ledger (docs/fleet.md); the host is --host (default: this host)');
  deploy
    .command('add')
    .description('make a host deploy the lineage: its next certctl renew writes the files from the ledger (0 orders)')
    .requiredOption('--cert-name <name>', 'the lineage')
    .addHelpText('after', `
  certctl deploy add --cert-name example.com --host web2   # then, on web2: certctl --host web2 renew`)
    .action(action(async (ctx, opts: { certName: string }) => (await import('../run/deploy.js')).runDeploy(ctx, 'add', opts)));
  deploy
    .command('remove')
    .description('stop a host deploying the lineage (its files stay where they are)')
    .requiredOption('--cert-name <name>', 'the lineage')
    .action(action(async (ctx, opts: { certName: string }) => (await import('../run/deploy.js')).runDeploy(ctx, 'remove', opts)));
  deploy
    .command('list')
    .description('the hosts deploying each lineage, the version each wrote, and who renewed it last')
    .option('--cert-name <name>', 'only this lineage')
    .action(action(async (ctx, opts: { certName?: string }) => (await import('../run/deploy.js')).runDeploy(ctx, 'list', opts)));
}
