
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  program
    .command('status')
    .alias('certificates')
    .description('every lineage: names, expiry, days left, key type, CA, paths (soonest-expiring first)')
    .option('--cert-name <name>', 'only this lineage (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--nginx <lineage>', 'print a ready nginx server block for this lineage (dual: RSA + ECDSA; sm2: Tengine/Tongsuo NTLS)')
    .action(
      action(async (ctx, opts: { nginx?: string; certName?: string[] }) => (await import('../run/status.js')).runStatus(ctx, opts)),
    );
}
