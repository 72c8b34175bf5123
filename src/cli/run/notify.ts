/** `certctl notify test`: the config's targets → core's sendTest → one line (or JSON entry) per target. */
import type { Context } from '../context.js';
import { ExitCode, InputError } from '../../core/errors.js';
import { loadConfig } from '../../core/config/index.js';
import { quote } from '../../core/names.js';

export async function runNotifyTest(ctx: Context, o: { target?: string[] }): Promise<number> {
  const config = await loadConfig(ctx.opts.config);
  const all = config.notify?.targets ?? [];
  if (!all.length) throw new InputError(`The config file${config.file ? ` ${config.file}` : ''} has no notify: targets, so there is nothing to test.`, 'Add a notify: list (docs/notify.md) and run certctl notify test again.');
  const unknown = (o.target ?? []).filter((n) => !all.some((t) => t.id === n));
  if (unknown.length) throw new InputError(`No notify target is named ${unknown.map((n) => quote(n)).join(', ')}; the config has: ${all.map((t) => t.id).join(', ')}.`, 'Give --target one of those names.');
  const targets = o.target?.length ? all.filter((t) => o.target!.includes(t.id)) : all;
  const { sendTest } = await import('../../core/notify/index.js');
  const results = await sendTest({ ...config.notify!, targets }, ctx.now());
  const code = results.every((r) => r.ok) ? ExitCode.OK : ExitCode.INTERNAL;
  if (ctx.out.json) {
    ctx.out.document('certctl.notify-test/1', { exitCode: code, results });
    return code;
  }
  const p = ctx.out.palette;
  for (const r of results) ctx.out.attention(`${r.ok ? p.ok('sent') : p.bad('failed')}  ${r.target} (${r.type}): ${r.detail}${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`);
  return code;
}
