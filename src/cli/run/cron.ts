/** The bodies of `certctl cron` (wiring: commands/cron.ts). */
import { write } from '../output.js';
import type { Context } from '../context.js';

export const DEFAULT_FILE = '/etc/cron.d/certctl';

/** The hooks `cron print|install` passes on to the renew it schedules. */
export interface CronHookOptions {
  preHook?: string;
  postHook?: string;
  deployHook?: string;
}

/** The renew command cron runs, keeping a --state-dir / --config given here, and the hooks given. */
async function renewCommand(ctx: Context, hooks: CronHookOptions, scheduleFile?: string): Promise<string> {
  const { certctlCommand } = await import('../../core/schedule/cron.js');
  const { hookCommand } = await import('../validate.js');
  const path = await import('node:path');
  const g: string[] = [];
  if (ctx.opts.stateDir) g.push('--state-dir', path.resolve(ctx.opts.stateDir));
  if (ctx.opts.config) g.push('--config', path.resolve(ctx.opts.config));
  const h: string[] = [];
  for (const [k, flag] of [['preHook', '--pre-hook'], ['postHook', '--post-hook'], ['deployHook', '--deploy-hook']] as const) {
    if (hookCommand(hooks[k], flag) !== undefined) h.push(flag, hooks[k]!);
  }
  // A file other than the default is named, so renew reads its schedule (the next run, for ARI timing).
  const sf = scheduleFile && path.resolve(scheduleFile) !== DEFAULT_FILE ? ['--schedule-file', path.resolve(scheduleFile)] : [];
  return certctlCommand([...g, 'renew', '--quiet', ...sf, ...h]);
}

export async function runCronPrint(ctx: Context, opts: { system?: boolean } & CronHookOptions): Promise<number | void> {
  const { randomTwiceDaily, cronLine, cronExpression } = await import('../../core/schedule/cron.js');
  const t = randomTwiceDaily();
  const command = await renewCommand(ctx, opts);
  const line = cronLine(t, command, opts.system ? 'root' : undefined);
  if (ctx.out.json) ctx.out.document('certctl.cron/1', { expression: cronExpression(t), minute: t.minute, hours: t.hours, command, line, file: null, kept: false });
  else write(process.stdout, line + '\n'); // the line itself is the output, even with --quiet
}

export async function runCronInstall(ctx: Context, opts: { file?: string } & CronHookOptions): Promise<number | void> {
  const { InputError } = await import('../../core/errors.js');
  const { installCronFile, cronExpression, cronLine } = await import('../../core/schedule/cron.js');
  const path = await import('node:path');
  if (!opts.file && process.getuid?.() !== 0) {
    throw new InputError(`Only root can write ${DEFAULT_FILE}.`, 'Run it with sudo, or print a line for your own crontab: certctl cron print (then crontab -e).');
  }
  const file = path.resolve(opts.file ?? DEFAULT_FILE);
  const command = await renewCommand(ctx, opts, file);
  const { time, kept } = installCronFile(file, command);
  const line = cronLine(time, command, 'root');
  if (ctx.out.json) {
    ctx.out.document('certctl.cron/1', { expression: cronExpression(time), minute: time.minute, hours: time.hours, command, line, file, kept });
    return;
  }
  ctx.out.info(`${kept ? 'Updated' : 'Wrote'} ${file}${kept ? ' (kept its time)' : ''}: ${line}`);
}
