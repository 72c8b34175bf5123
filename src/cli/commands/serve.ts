/**
 * `certctl serve`: answer HTTP-01 on this host from the fleet's shared ledger (docs/fleet.md),
 * for lineages issued with --serve. Runs until SIGTERM/SIGINT.
 */
import type { Command } from 'commander';
import { action } from '../action.js';
import type { ServeOptions } from '../run/serve.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description("answer the CA's HTTP-01 requests (/.well-known/acme-challenge/TOKEN) on this host from the fleet's shared ledger, for lineages issued with --serve; runs until stopped")
    .option('--listen <addr:port>', 'address to listen on (default 0.0.0.0:80)')
    .option('--webroot <dir>', "also write the pending key authorizations under DIR/.well-known/acme-challenge/ (for a web server that serves that directory), removed once answered")
    .addHelpText(
      'after',
      `
The host that orders writes each pending HTTP-01 key authorization to the ledger
and deletes it at clean-up; every host running serve answers it, so a load
balancer may send the CA's request to any host. Nothing is cached or logged.
  certctl --ledger postgres://certctl@db/certctl serve --listen 0.0.0.0:80
  certctl daemon --serve 0.0.0.0:80      # the same, inside the daemon
SIGTERM/SIGINT: stop listening, exit 0.`,
    )
    .action(
      action(async (ctx, opts: ServeOptions) => {
        const { runServe } = await import('../run/serve.js');
        return runServe(ctx, opts);
      }),
    );
}
