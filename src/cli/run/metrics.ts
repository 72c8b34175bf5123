/**
 * `certctl metrics`: the ledger as Prometheus text exposition format
 * (version 0.0.4): one HELP and TYPE line per family, label values escaped.
 * With --textfile DIR it writes DIR/certctl.prom atomically (the temporary
 * file does not end in .prom, so node_exporter never reads half a file).
 */
import fs from 'node:fs';
import { write } from '../output.js';
import path from 'node:path';
import type { Context } from '../context.js';
import { InputError } from '../../core/errors.js';
import type { Ledger } from '../../core/ledger/ledger.js';
import type { PolicyOverride } from '../../core/limits/policies.js';
import { soonestExpiring } from '../../core/renew/due.js';

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'gauge';
  samples: Sample[];
}

/** Escape a label value: backslash, double quote and newline (the exposition format's rules). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A HELP text escapes backslash and newline. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** The families as exposition text. Families without samples still get HELP/TYPE, so dashboards see them exist. */
export function renderProm(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels);
      out.push(`${f.name}${labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''} ${num(s.value)}`);
    }
  }
  return out.join('\n') + '\n';
}

/** Every metric certctl exports, read from the ledger at `now`. */
export async function collectMetrics(ledger: Ledger, now: number, overrides?: Record<string, PolicyOverride>): Promise<Family[]> {
  const { limitsOverview } = await import('../../core/plan.js');
  const { scheduleFacts, lastRenewRun } = await import('../../core/schedule/facts.js');
  const fam = (name: string, help: string): Family => ({ name, help, type: 'gauge', samples: [] });
  const expiry = fam('certctl_certificate_expiry_timestamp_seconds', 'When the current certificate of the lineage expires (the soonest of a dual/SM2 bundle), Unix time.');
  // In seconds, Prometheus's base unit (promtool check metrics refuses days); it replaced
  // certctl_certificate_days_left, which promtool flags and so is not kept alongside.
  const secondsLeft = fam('certctl_certificate_remaining_seconds', 'Seconds until the current certificate of the lineage expires (negative: expired).');
  const headroom = fam('certctl_ratelimit_headroom', 'Requests left now under this rate limit instance, from the ledger and the CA policy.');
  const capacity = fam('certctl_ratelimit_capacity', 'Size of this rate limit instance (bucket capacity, window count).');
  const lastAt = fam('certctl_last_renew_timestamp_seconds', 'When the last certctl renew run finished, Unix time.');
  const lastCode = fam('certctl_last_renew_exit_code', 'Exit code of the last certctl renew run (0 success; see certctl --help).');
  const next = fam('certctl_next_action_timestamp_seconds', 'When the lineage next needs a renew run (ARI chosen moment, due date, end of a Retry-After), Unix time.');

  for (const l of ledger.lineages()) {
    const certs = ledger.currentCertificates(l.name);
    const soonest = soonestExpiring(certs);
    if (!soonest) continue;
    expiry.samples.push({ labels: { lineage: l.name }, value: Math.floor(soonest.not_after / 1000) });
    secondsLeft.samples.push({ labels: { lineage: l.name }, value: Math.round((soonest.not_after - now) / 1000) });
  }
  const ov = limitsOverview(ledger, undefined, now, { overrides });
  for (const e of ov.entries) {
    const labels = { ca: e.caId, limit: e.name, scope: e.scope };
    headroom.samples.push({ labels, value: e.available });
    capacity.samples.push({ labels, value: e.capacity });
  }
  const run = lastRenewRun(ledger);
  if (run) {
    lastAt.samples.push({ labels: {}, value: Math.floor(run.finishedAt / 1000) });
    if (run.exitCode !== null) lastCode.samples.push({ labels: {}, value: run.exitCode });
  }
  for (const a of scheduleFacts(ledger, now).actions) {
    next.samples.push({ labels: { lineage: a.lineage ?? '', kind: a.kind }, value: Math.floor(a.at / 1000) });
  }
  // A fleet on a shared ledger (docs/fleet.md): the version each host wrote, whether it is current, who renewed.
  const hostVersion = fam('certctl_lineage_host_deployed_version', 'The lineage version this fleet host last wrote from the shared ledger (0: none yet).');
  const hostCurrent = fam('certctl_lineage_host_up_to_date', '1 when this fleet host has written the lineage\'s current version (and no write is pending), else 0.');
  const renewedBy = fam('certctl_lineage_renewed_by', 'Always 1: the host that stored the lineage\'s current version (label host).');
  if (ledger.backend === 'postgres') {
    const current = new Map(ledger.lineages().map((l) => [l.name, l.current_version]));
    for (const h of ledger.allLineageHosts()) {
      const v = current.get(h.lineage);
      if (v === undefined) continue;
      hostVersion.samples.push({ labels: { lineage: h.lineage, host: h.host }, value: h.deployed_version });
      hostCurrent.samples.push({ labels: { lineage: h.lineage, host: h.host }, value: h.deployed_version === v && h.pending_version === null ? 1 : 0 });
    }
    for (const name of current.keys()) {
      const by = ledger.renewedBy(name);
      if (by) renewedBy.samples.push({ labels: { lineage: name, host: by.host }, value: 1 });
    }
  }
  return [expiry, secondsLeft, headroom, capacity, lastAt, lastCode, next, hostVersion, hostCurrent, renewedBy];
}

export async function runMetrics(ctx: Context, o: { textfile?: string }): Promise<number> {
  const { loadConfig } = await import('../../core/config/index.js');
  const cfg = await loadConfig(ctx.opts.config);
  let file: string | null = null;
  if (o.textfile !== undefined) {
    const { plain } = await import('../validate.js');
    const dir = path.resolve(plain(o.textfile, '--textfile')!);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new InputError(`--textfile ${dir}: no such directory.`, "Give node_exporter's --collector.textfile.directory (create it first).");
    }
    file = path.join(dir, 'certctl.prom');
  }
  const now = ctx.now();
  const families = await collectMetrics(await ctx.ledger(), now, cfg.policies);
  const text = renderProm(families);
  if (file) {
    const { writeFileAtomic } = await import('../../core/store/atomic.js');
    writeFileAtomic(file, text, 0o644);
  }
  if (ctx.out.json) {
    ctx.out.document('certctl.metrics/1', {
      generatedAt: new Date(now).toISOString(),
      file,
      metrics: families.map((f) => ({ name: f.name, help: f.help, type: f.type, samples: f.samples })),
    });
  } else if (file) {
    ctx.out.info(`Wrote ${file} (${families.reduce((n, f) => n + f.samples.length, 0)} samples).`);
  } else {
    write(process.stdout, text); // the metrics are the output, even with --quiet
  }
  return 0;
}
