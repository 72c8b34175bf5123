/**
 * `certctl cron print|install`: a twice-daily renew job at a random minute
 * and hour (the second run 12 h after the first), as acme.sh and the distro
 * certbot packages do. `print` shows a crontab line; `install` writes
 * /etc/cron.d/certctl (root only; --file for another path).
 */
import type { Command } from 'commander';
import { action } from '../action.js';
import { DEFAULT_FILE, type CronHookOptions } from '../run/cron.js';

/** The renew hooks both subcommands schedule (renew's own flags, passed on). */
function hookOptions(c: Command): Command {
  return c
    .option('--deploy-hook <cmd>', "renew's --deploy-hook: run after each renewed certificate, e.g. 'systemctl reload nginx'")
    .option('--pre-hook <cmd>', "renew's --pre-hook: run once before the first renewal of a run")
    .option('--post-hook <cmd>', "renew's --post-hook: run once after a run that renewed something");
}

export function register(program: Command): void {
  const cron = program.command('cron').description('run renew from cron: print a crontab line, or install /etc/cron.d/certctl');
  hookOptions(
    cron
      .command('print')
      .description('print a crontab line: renew twice a day at a random minute and hour, 12 h apart')
      .option('--system', 'the /etc/cron.d form (with a user field: root)'),
  ).action(action(async (ctx, opts: { system?: boolean } & CronHookOptions) => (await import('../run/cron.js')).runCronPrint(ctx, opts)));
  hookOptions(
    cron
      .command('install')
      .description(`write ${DEFAULT_FILE} (atomically, mode 0644; root only) running renew twice a day; installing again keeps the time`)
      .option('--file <path>', `write this file instead of ${DEFAULT_FILE} (no root needed)`),
  )
    .addHelpText('after', `\nExample:\n  sudo certctl cron install --deploy-hook 'systemctl reload nginx'`)
    .action(action(async (ctx, opts: { file?: string } & CronHookOptions) => (await import('../run/cron.js')).runCronInstall(ctx, opts)));
}
