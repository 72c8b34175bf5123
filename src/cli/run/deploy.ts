/** The bodies of `certctl deploy add|remove|list` (wiring: commands/deploy.ts). */
import type { Context } from '../context.js';
import { InputError, ExitCode } from '../../core/errors.js';
import { assertLineageName, quote } from '../../core/names.js';
import { isoTime } from '../../core/clock.js';

export async function runDeploy(ctx: Context, what: 'add' | 'remove' | 'list', o: { certName?: string }): Promise<number> {
  if (o.certName !== undefined) assertLineageName(o.certName);
  const ledger = await ctx.ledger();
  if (ledger.backend !== 'postgres') {
    throw new InputError(`The ledger ${ledger.file} is this host's own SQLite file: deploying lineages to other hosts needs a shared PostgreSQL ledger.`, 'See docs/fleet.md: --ledger postgres://… (CERTCTL_LEDGER) and a fleet key on every host.');
  }
  const lineages = o.certName !== undefined ? [ledger.lineage(o.certName)] : ledger.lineages();
  if (o.certName !== undefined && !lineages[0]) {
    const known = ledger.lineages().map((l) => l.name);
    throw new InputError(`No lineage named ${quote(o.certName)} in the ledger.`, known.length ? `Known lineages: ${known.slice(0, 20).join(', ')}.` : 'Issue it first on one host: certctl issue -d NAME …');
  }
  const host = ledger.host;
  if (what === 'add' || what === 'remove') {
    const name = o.certName!;
    const changed = what === 'add' ? ledger.addLineageHost(name, host, ctx.now()) : ledger.removeLineageHost(name, host);
    if (ctx.out.json) ctx.out.document('certctl.deploy/1', { action: what, lineage: name, host, changed, hosts: ledger.lineageHosts(name).map((h) => h.host) });
    else if (what === 'add') ctx.out.attention(changed ? `${host} now deploys ${name}: its next certctl renew (run there with --host ${host}) writes the files from the ledger.` : `${host} deploys ${name} already.`);
    else ctx.out.attention(changed ? `${host} no longer deploys ${name} (its files on ${host} are left as they are).` : `${host} did not deploy ${name}.`);
    return ExitCode.OK;
  }
  const rows = lineages.map((l) => {
    const by = ledger.renewedBy(l!.name);
    return {
      lineage: l!.name,
      version: l!.current_version,
      renewedBy: by?.host ?? null,
      renewedAt: by ? isoTime(by.at) : null,
      hosts: ledger.lineageHosts(l!.name).map((h) => ({ host: h.host, deployedVersion: h.deployed_version, upToDate: h.deployed_version === l!.current_version && h.pending_version === null, deployedAt: h.deployed_at === null ? null : isoTime(h.deployed_at) })),
    };
  });
  if (ctx.out.json) {
    ctx.out.document('certctl.deploy/1', { action: 'list', host, lineages: rows });
    return ExitCode.OK;
  }
  for (const r of rows) {
    const hosts = r.hosts.map((h) => `${h.host} (v${h.deployedVersion}${h.upToDate ? '' : ', behind'})`).join(', ') || 'no host';
    ctx.out.info(`${r.lineage}  v${r.version}  hosts: ${hosts}${r.renewedBy ? `  renewed by ${r.renewedBy}` : ''}`);
  }
  return ExitCode.OK;
}
