/**
 * `certctl limits [registered-domain]`: every bucket and window the ledger
 * knows for a domain (or for every domain its certificates cover), per CA,
 * plus each account's order limits and the CA refusals still in force: how
 * full each is and when each used slot frees. Nothing is sent.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  program
    .command('limits [domain]')
    .description('rate-limit headroom from the ledger: each bucket/window for a registered domain (default: every managed domain), its fill, when each slot frees')
    .option('--ca <id>', 'also show this CA for domains without certificates from it (default letsencrypt)')
    .addHelpText('after', '\nA name is counted against its registered domain (www.example.co.uk → example.co.uk).\nJSON: --json prints certctl.limits/1 (docs/json.md).')
    .action(
      action(async (ctx, domain: string | undefined, opts: { ca?: string }) => (await import('../run/limits.js')).runLimits(ctx, domain, opts)),
    );
}
