/** The bodies of `certctl limits` (wiring: commands/limits.ts). */
import { utc, local, humanRelative } from '../../core/clock.js';
import type { Context } from '../context.js';

export async function runLimits(ctx: Context, domain: string | undefined, opts: { ca?: string }): Promise<number | void> {
  const { normalizeName, registeredDomain } = await import('../../core/names.js');
  const { InputError } = await import('../../core/errors.js');
  const { limitsOverview } = await import('../../core/plan.js');
  let registered: string | undefined;
  if (domain) {
    const n = normalizeName(domain, { allowIp: true, allowWildcard: true });
    registered = registeredDomain(n) ?? undefined;
    if (!registered) throw new InputError(`"${domain}" has no registered domain.`);
  }
  const ledger = await ctx.ledger();
  const now = ctx.now();
  const { loadConfig } = await import('../../core/config/index.js');
  const ov = limitsOverview(ledger, registered, now, { caId: opts.ca, overrides: (await loadConfig(ctx.opts.config)).policies });
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  if (ctx.out.json) {
    ctx.out.document('certctl.limits/1', {
      now: iso(now),
      domains: ov.domains,
      entries: ov.entries.map((e) => ({ ...e, nextFreeAt: iso(e.nextFreeAt), freesAt: e.freesAt.map(iso) })),
      problems: ov.problems.map((p) => ({ id: p.id, caId: p.caId, at: iso(p.at), limit: p.limitName, scope: p.scope, detail: p.detail, retryAfter: iso(p.retryAfter) })),
    });
    return;
  }
  const p = ctx.out.palette;
  if (ov.entries.length === 0) {
    ctx.out.info('No limits to show: the ledger has no certificates, lineages or accounts yet.');
    return;
  }
  let group = '';
  for (const e of ov.entries) {
    const g = `${e.caId} (policy ${e.policyId})`;
    if (g !== group) {
      ctx.out.info(p.bold(g));
      group = g;
    }
    const fill = `${e.used}/${e.capacity} used, ${e.available} free`;
    const paint = e.available === 0 ? p.bad : e.used > 0 ? p.warn : p.ok;
    ctx.out.info(`  ${e.name.padEnd(24)} ${e.scope}: ${paint(fill)}`);
    if (e.nextFreeAt !== null) {
      ctx.out.info(`    next slot frees ${utc(e.nextFreeAt)} (${local(e.nextFreeAt)}, ${humanRelative(e.nextFreeAt, now)})`);
      if (e.freesAt.length > 1) ctx.out.info(p.dim(`    then: ${e.freesAt.slice(1).map((t) => utc(t)).join(', ')}${e.used > e.freesAt.length ? ', …' : ''}`));
    }
  }
  for (const pr of ov.problems) {
    ctx.out.attention(p.bad(`CA refusal in force: ${pr.caId} ${pr.limitName ?? 'rate limit'} ${pr.scope ?? ''} until ${utc(pr.retryAfter)} (${humanRelative(pr.retryAfter, now)}): ${pr.detail ?? ''}`));
  }
}
