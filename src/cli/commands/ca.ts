/**
 * `certctl ca list` / `certctl ca show ID`: the CA catalogue (src/core/ca/registry.ts)
 * and the config file's custom CAs, with each one's rate-limit policy and where
 * the facts come from. Nothing is sent.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const ca = program.command('ca').description('the CAs certctl knows: the catalogue of public ACME CAs and the config file\'s custom CAs (cas:)');
  ca.command('list')
    .description('every CA: id, name, production/staging, EAB, CAA domains, whether it publishes rate limits')
    .addHelpText('after', '\nJSON: --json prints certctl.ca-list/1 (docs/json.md).')
    .action(action(async (ctx) => (await import('../run/ca.js')).runCaList(ctx)));
  ca.command('show <id>')
    .description('one CA: directory URLs, EAB, CAA domains, profiles, key types, and its rate-limit policy with source and date')
    .addHelpText('after', '\nExample: certctl ca show zerossl\nJSON: --json prints certctl.ca/1 (docs/json.md).')
    .action(action(async (ctx, id: string) => (await import('../run/ca.js')).runCaShow(ctx, id)));
}
