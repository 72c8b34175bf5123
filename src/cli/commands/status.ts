import type { Command } from 'commander';
import { action } from '../main.js';

export function register(program: Command): void {
  program
    .command('status')
    .alias('certificates')
    .description('every lineage: names, expiry, days left, key type, CA, paths (soonest-expiring first)')
    .action(
      action(async (ctx) => {
        const { statusReport } = await import('../../core/status.js');
        const ledger = await ctx.ledger();
        const report = statusReport(ledger, ctx.paths, ctx.now());
        if (ctx.out.json) {
          ctx.out.document('certctl.status/1', { lineages: report });
          return;
        }
        if (report.length === 0) {
          ctx.out.info(`No certificates yet in ${ctx.paths.root}. Get one with: certctl issue -d example.com --webroot /var/www/html`);
          return;
        }
        const p = ctx.out.palette;
        for (const l of report) {
          const days = l.daysLeft === null ? 'no certificate' : `${l.daysLeft} days left`;
          const paint = l.daysLeft === null || l.daysLeft < 7 ? p.bad : l.due ? p.warn : p.ok;
          ctx.out.info(`${p.bold(l.name)}  ${l.names.join(', ')}`);
          ctx.out.info(`  expires ${l.notAfter ?? '-'} (${paint(days)})  key ${l.keyType}  CA ${l.caId}`);
          for (const f of l.files) ctx.out.info(`  ${f}`);
        }
      }),
    );
}
