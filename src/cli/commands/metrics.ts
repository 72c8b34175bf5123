/**
 * `certctl metrics [--textfile DIR]`: Prometheus text-format metrics from the
 * ledger (expiry per lineage, rate-limit headroom, last renew, next action),
 * for node_exporter's textfile collector or any scraper. Nothing is sent.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  program
    .command('metrics')
    .description("Prometheus text-format metrics from the ledger: expiry, rate-limit headroom, last renew, next action (stdout, or DIR/certctl.prom)")
    .option('--textfile <dir>', "write DIR/certctl.prom atomically (node_exporter's --collector.textfile.directory)")
    .addHelpText('after', `
From cron, after each renew:
  certctl renew --quiet; certctl metrics --textfile /var/lib/node_exporter/textfile_collector
JSON: --json prints certctl.metrics/1 (docs/json.md).`)
    .action(
      action(async (ctx, opts: { textfile?: string }) => {
        const { runMetrics } = await import('../run/metrics.js');
        return runMetrics(ctx, opts);
      }),
    );
}
