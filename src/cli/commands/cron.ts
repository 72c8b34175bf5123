/**
 * `certctl cron print|install`: a twice-daily renew job at a random minute
 * and hour (the second run 12 h after the first), as acme.sh and the distro
 * certbot packages do. `print` shows a crontab line; `install` writes
 * /etc/cron.d/certctl (root only; --file for another path).
 */
import type { Command } from 'commander';
import { write } from '../output.js';
import { action } from '../action.js';
import type { Context } from '../context.js';

const DEFAULT_FILE = '/etc/cron.d/certctl';

/** The renew command cron runs, keeping a --state-dir / --config given here. */
async function renewCommand(ctx: Context): Promise<string> {
  const { certctlCommand } = await import('../../core/schedule/cron.js');
  const path = await import('node:path');
  const g: string[] = [];
  if (ctx.opts.stateDir) g.push('--state-dir', path.resolve(ctx.opts.stateDir));
  if (ctx.opts.config) g.push('--config', path.resolve(ctx.opts.config));
  return certctlCommand([...g, 'renew', '--quiet']);
}

export function register(program: Command): void {
  const cron = program.command('cron').description('run renew from cron: print a crontab line, or install /etc/cron.d/certctl');
  cron
    .command('print')
    .description('print a crontab line: renew twice a day at a random minute and hour, 12 h apart')
    .option('--system', 'the /etc/cron.d form (with a user field: root)')
    .action(
      action(async (ctx, opts: { system?: boolean }) => {
        const { randomTwiceDaily, cronLine, cronExpression } = await import('../../core/schedule/cron.js');
        const t = randomTwiceDaily();
        const command = await renewCommand(ctx);
        const line = cronLine(t, command, opts.system ? 'root' : undefined);
        if (ctx.out.json) ctx.out.document('certctl.cron/1', { expression: cronExpression(t), minute: t.minute, hours: t.hours, command, line, file: null, kept: false });
        else write(process.stdout, line + '\n'); // the line itself is the output, even with --quiet
      }),
    );
  cron
    .command('install')
    .description(`write ${DEFAULT_FILE} (atomically, mode 0644; root only) running renew twice a day; installing again keeps the time`)
    .option('--file <path>', `write this file instead of ${DEFAULT_FILE} (no root needed)`)
    .action(
      action(async (ctx, opts: { file?: string }) => {
        const { InputError } = await import('../../core/errors.js');
        const { installCronFile, cronExpression, cronLine } = await import('../../core/schedule/cron.js');
        const path = await import('node:path');
        if (!opts.file && process.getuid?.() !== 0) {
          throw new InputError(`Only root can write ${DEFAULT_FILE}.`, 'Run it with sudo, or print a line for your own crontab: certctl cron print (then crontab -e).');
        }
        const file = path.resolve(opts.file ?? DEFAULT_FILE);
        const command = await renewCommand(ctx);
        const { time, kept } = installCronFile(file, command);
        const line = cronLine(time, command, 'root');
        if (ctx.out.json) {
          ctx.out.document('certctl.cron/1', { expression: cronExpression(time), minute: time.minute, hours: time.hours, command, line, file, kept });
          return;
        }
        ctx.out.info(`${kept ? 'Updated' : 'Wrote'} ${file}${kept ? ' (kept its time)' : ''}: ${line}`);
      }),
    );
}
