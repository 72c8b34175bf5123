/** The bodies of `certctl ca list` and `certctl ca show` (wiring: commands/ca.ts). */
import type { Context } from '../context.js';
import type { CaProfile } from '../../core/ca/registry.js';

async function describeCa(ctx: Context, ca: CaProfile) {
  const { findCa } = await import('../../core/ca/registry.js');
  const { policyFor, findPolicy } = await import('../../core/limits/policies.js');
  const { loadConfig } = await import('../../core/config/index.js');
  const overrides = (await loadConfig(ctx.opts.config)).policies;
  const policy = policyFor(ca.policyId, overrides);
  const staging = ca.stagingId && ca.stagingId !== ca.id ? findCa(ca.stagingId) : undefined;
  return {
    id: ca.id,
    name: ca.name,
    directoryUrl: ca.directoryUrl ?? null,
    staging: staging ? { id: staging.id, directoryUrl: staging.directoryUrl ?? null } : null,
    test: ca.test,
    eab: ca.eab,
    caaIdentities: ca.caaIdentities,
    profiles: ca.profiles,
    keyTypes: ca.keyTypes,
    ipIdentifiers: ca.ipIdentifiers,
    maxNames: ca.maxNames,
    custom: ca.custom ? { file: ca.custom.file, caBundle: ca.custom.caBundle ?? null, eabKid: ca.custom.eab?.kid ?? null } : null,
    source: ca.source,
    date: ca.date || null,
    limits: {
      published: ca.limitsPublished,
      policyId: policy.id,
      policyName: policy.name,
      source: policy.source,
      date: policy.date,
      override: Boolean(overrides[ca.policyId]) && Boolean(findPolicy(ca.policyId)),
      rules: Object.entries(policy.limits).map(([name, r]) => ({ name, ...r })),
    },
  };
}

export async function runCaList(ctx: Context): Promise<void> {
  const { allCas } = await import('../../core/ca/registry.js');
  const list = await Promise.all(allCas().map((c) => describeCa(ctx, c)));
  if (ctx.out.json) {
    ctx.out.document('certctl.ca-list/1', { cas: list });
    return;
  }
  const p = ctx.out.palette;
  for (const c of list) {
    const kind = c.custom ? 'custom' : c.test ? 'test' : 'production';
    ctx.out.info(`${p.bold(c.id.padEnd(20))} ${c.name} (${kind}) — EAB ${c.eab === 'required' ? 'required' : 'not needed'}; CAA ${c.caaIdentities.join(', ') || '(none known)'}; limits ${c.limits.published ? `published (policy ${c.limits.policyId})` : 'not published: planned with certctl\'s conservative default'}`);
  }
  ctx.out.info(p.dim('Details: certctl ca show ID'));
}

export async function runCaShow(ctx: Context, id: string): Promise<number | void> {
  const { findCa, allCas } = await import('../../core/ca/registry.js');
  const { InputError } = await import('../../core/errors.js');
  const ca = findCa(id);
  if (!ca) throw new InputError(`Unknown CA "${id}".`, `Known CAs: ${allCas().map((c) => c.id).join(', ')}.`);
  const c = await describeCa(ctx, ca);
  if (ctx.out.json) {
    ctx.out.document('certctl.ca/1', c);
    return;
  }
  const p = ctx.out.palette;
  const line = (k: string, v: string) => ctx.out.info(`${k.padEnd(16)} ${v}`);
  ctx.out.info(p.bold(`${c.id}: ${c.name}`));
  line('directory', c.directoryUrl ?? '(none: give it with --server)');
  line('staging', c.staging ? `${c.staging.id} ${c.staging.directoryUrl ?? ''}` : c.test ? '(this is a test CA)' : '(none published)');
  line('EAB', c.eab === 'required' ? `required${c.custom?.eabKid ? ` (key id ${c.custom.eabKid}; HMAC key read from the config's file or variable)` : ' (--eab-kid and --eab-hmac-key-file)'}` : 'not needed');
  line('CAA domains', c.caaIdentities.join(', ') || '(none known)');
  line('profiles', c.profiles.join(', ') || '(none documented)');
  line('key types', c.keyTypes.join(', '));
  line('IP addresses', c.ipIdentifiers ? 'issued' : 'not issued');
  line('names/cert', String(c.maxNames));
  if (c.custom) line('declared in', `${c.custom.file}${c.custom.caBundle ? ` (CA bundle ${c.custom.caBundle})` : ''}`);
  line('facts from', `${c.source}${c.date ? ` (read ${c.date})` : ''}`);
  ctx.out.info(p.bold(`rate limits: ${c.limits.published ? `policy ${c.limits.policyId}` : `not published by the CA — planned with ${c.limits.policyName}`}${c.limits.override ? ' (override from the config file in force)' : ''}`));
  line('source', `${c.limits.source} (${c.limits.date})`);
  const { humanDuration } = await import('../../core/clock.js');
  const rule = (r: (typeof c.limits.rules)[number]): string =>
    r.kind === 'bucket' ? `${r.capacity} per ${humanDuration(r.capacity * r.refillMs)} (1 back every ${humanDuration(r.refillMs)})` : r.kind === 'window' ? `${r.count} per ${humanDuration(r.windowMs)} (sliding)` : r.kind === 'concurrent' ? `${r.count} open at once` : `at most ${r.count}`;
  for (const r of c.limits.rules) ctx.out.info(`  ${r.name.padEnd(24)} ${rule(r)}${r.why ? ` — ${r.why}` : ''}`);
}
