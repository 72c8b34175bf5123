/** The bodies of `certctl sync` (wiring: commands/sync.ts). */
import type { Context } from '../context.js';

export interface SyncCtOptions {
  ctUrl: string;
  requestTimeout: number;
  totalTimeout: number;
  retries: number;
  backoff: number;
}

export async function runSyncCt(ctx: Context, domains: string[], opts: SyncCtOptions): Promise<number | void> {
  const { InputError, ExitCode } = await import('../../core/errors.js');
  const { normalizeName, registeredDomain } = await import('../../core/names.js');
  const { syncCtDomain } = await import('../../core/ct/index.js');
  let url: URL;
  try {
    url = new URL(opts.ctUrl);
  } catch {
    throw new InputError(`--ct-url "${opts.ctUrl}" is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError('--ct-url must be an http(s) URL.');
  for (const [k, v] of [['--request-timeout', opts.requestTimeout], ['--total-timeout', opts.totalTimeout], ['--backoff', opts.backoff]] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) throw new InputError(`${k} must be a number of seconds.`);
  }
  if (!(Number.isInteger(opts.retries) && opts.retries >= 0 && opts.retries <= 10)) throw new InputError('--retries must be a whole number from 0 to 10.');
  const regs: string[] = [];
  for (const d of domains) {
    const n = normalizeName(d, { allowWildcard: true });
    const r = registeredDomain(n);
    if (!r) throw new InputError(`"${d}" has no registered domain.`);
    if (r !== n.replace(/^\*\./, '')) ctx.out.info(`${d}: syncing its registered domain ${r} (the limits count per registered domain).`);
    if (!regs.includes(r)) regs.push(r);
  }
  const ledger = await ctx.ledger();
  const crtsh = {
    baseUrl: opts.ctUrl,
    requestTimeoutMs: opts.requestTimeout * 1000,
    totalTimeoutMs: opts.totalTimeout * 1000,
    retries: opts.retries,
    backoffMs: opts.backoff * 1000,
    onAttempt: (l: string) => ctx.out.verbose(l),
  };
  const results = [];
  for (const d of regs) {
    ctx.out.progress(`crt.sh: ${d}…`);
    const r = await syncCtDomain(ledger, d, crtsh, ctx.now);
    ctx.out.progressDone();
    results.push(r);
    if (ctx.out.json) continue;
    const p = ctx.out.palette;
    const head = r.complete ? p.ok('complete') : p.warn(r.rows ? 'incomplete' : 'failed');
    ctx.out.attention(
      `${d}: ${head} — ${r.rows} crt.sh rows, ${r.certificates} certificate(s): ${r.inserted} new, ${r.already} already known, ${r.matched} certctl/imported certificate(s) marked seen in CT`,
    );
    if (r.skipped) ctx.out.info(`  ${r.skipped} row(s) could not be read and were skipped`);
    if (r.error) ctx.out.attention(p.warn(`  ${r.error}`));
  }
  const ok = results.every((r) => r.complete);
  if (ctx.out.json) ctx.out.document('certctl.sync-ct/1', { complete: ok, domains: results });
  return ok ? ExitCode.OK : ExitCode.CA_ERROR;
}
