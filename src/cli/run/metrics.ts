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

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'gauge';
  /** Re-iterable: the per-lineage families read the ledger a page at a time each time they are walked. */
  samples: Iterable<Sample>;
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

/** Output is handed on in pieces of about this size (whole lines). */
const CHUNK = 1 << 15;

/** The families as exposition text, in pieces of whole lines, made while they are read. */
export function* promChunks(families: Iterable<Family>): Generator<string> {
  let buf = '';
  for (const f of families) {
    buf += `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
    for (const s of f.samples) {
      const labels = Object.entries(s.labels);
      buf += `${f.name}${labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : ''} ${num(s.value)}\n`;
      if (buf.length >= CHUNK) {
        yield buf;
        buf = '';
      }
    }
  }
  if (buf) yield buf;
}

/** The families as exposition text. Families without samples still get HELP/TYPE, so dashboards see them exist. */
export function renderProm(families: Family[]): string {
  return [...promChunks(families)].join('');
}

/** An iterable that runs `gen` afresh each time it is walked. */
function reiterable<T>(gen: () => Generator<T>): Iterable<T> {
  return { [Symbol.iterator]: gen };
}

/**
 * Every metric certctl exports, read from the ledger at `now`. The per-lineage families (expiry,
 * seconds left, next action, fleet hosts) are read while they are written (one statement each, read
 * as it goes; the next actions a page at a time, as renew reads them), so memory does not grow
 * with the number of lineages; the rate-limit families are read here.
 */
export async function collectMetrics(ledger: Ledger, now: number, overrides?: Record<string, PolicyOverride>): Promise<Family[]> {
  const { limitsOverview } = await import('../../core/plan.js');
  const { scheduleActions, lastRenewRun } = await import('../../core/schedule/facts.js');
  // The families are written while they are read: a damaged lineage row must stop the command before any output.
  ledger.checkLineageRows();
  const fam = (name: string, help: string, samples: Iterable<Sample> = []): Family => ({ name, help, type: 'gauge', samples });
  const expiries = () => ledger.expiries();
  const expiry = fam(
    'certctl_certificate_expiry_timestamp_seconds',
    'When the current certificate of the lineage expires (the soonest of a dual/SM2 bundle), Unix time.',
    reiterable(function* () {
      for (const r of expiries()) yield { labels: { lineage: r.name }, value: Math.floor(r.not_after / 1000) };
    }),
  );
  // In seconds, Prometheus's base unit (promtool check metrics refuses days); it replaced
  // certctl_certificate_days_left, which promtool flags and so is not kept alongside.
  const secondsLeft = fam(
    'certctl_certificate_remaining_seconds',
    'Seconds until the current certificate of the lineage expires (negative: expired).',
    reiterable(function* () {
      for (const r of expiries()) yield { labels: { lineage: r.name }, value: Math.round((r.not_after - now) / 1000) };
    }),
  );
  const headroom: Sample[] = [];
  const capacity: Sample[] = [];
  const lastAt: Sample[] = [];
  const lastCode: Sample[] = [];
  const ov = limitsOverview(ledger, undefined, now, { overrides });
  for (const e of ov.entries) {
    const labels = { ca: e.caId, limit: e.name, scope: e.scope };
    headroom.push({ labels, value: e.available });
    capacity.push({ labels, value: e.capacity });
  }
  const run = lastRenewRun(ledger);
  if (run) {
    lastAt.push({ labels: {}, value: Math.floor(run.finishedAt / 1000) });
    if (run.exitCode !== null) lastCode.push({ labels: {}, value: run.exitCode });
  }
  const next = fam(
    'certctl_next_action_timestamp_seconds',
    'When the lineage next needs a renew run (ARI chosen moment, due date, end of a Retry-After), Unix time.',
    reiterable(function* () {
      for (const page of scheduleActions(ledger, now)) for (const a of page) yield { labels: { lineage: a.lineage ?? '', kind: a.kind }, value: Math.floor(a.at / 1000) };
    }),
  );
  // A fleet on a shared ledger (docs/fleet.md): the version each host wrote, whether it is current, who renewed.
  const shared = ledger.backend === 'postgres';
  const hosts = () => ledger.lineageHostRows();
  const hostVersion = fam(
    'certctl_lineage_host_deployed_version',
    'The lineage version this fleet host last wrote from the shared ledger (0: none yet).',
    reiterable(function* () {
      if (shared) for (const h of hosts()) yield { labels: { lineage: h.lineage, host: h.host }, value: h.deployed_version };
    }),
  );
  const hostCurrent = fam(
    'certctl_lineage_host_up_to_date',
    "1 when this fleet host has written the lineage's current version (and no write is pending), else 0.",
    reiterable(function* () {
      if (shared) for (const h of hosts()) yield { labels: { lineage: h.lineage, host: h.host }, value: h.deployed_version === h.current_version && h.pending_version === null ? 1 : 0 };
    }),
  );
  const renewedBy = fam(
    'certctl_lineage_renewed_by',
    "Always 1: the host that stored the lineage's current version (label host).",
    reiterable(function* () {
      if (shared) for (const r of ledger.renewedByRows()) yield { labels: { lineage: r.name, host: r.host }, value: 1 };
    }),
  );
  return [
    expiry,
    secondsLeft,
    fam('certctl_ratelimit_headroom', 'Requests left now under this rate limit instance, from the ledger and the CA policy.', headroom),
    fam('certctl_ratelimit_capacity', 'Size of this rate limit instance (bucket capacity, window count).', capacity),
    fam('certctl_last_renew_timestamp_seconds', 'When the last certctl renew run finished, Unix time.', lastAt),
    fam('certctl_last_renew_exit_code', 'Exit code of the last certctl renew run (0 success; see certctl --help).', lastCode),
    next,
    hostVersion,
    hostCurrent,
    renewedBy,
  ];
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
  // Written while the ledger is read, a piece at a time: the text (or the file), then --json's document.
  let samples = 0;
  if (file) {
    const { writeFileAtomic } = await import('../../core/store/atomic.js');
    const counted = families.map((f) => ({
      ...f,
      samples: reiterable(function* () {
        for (const x of f.samples) {
          samples++;
          yield x;
        }
      }),
    }));
    writeFileAtomic(file, promChunks(counted), 0o644);
  }
  if (ctx.out.json) {
    const { LazyArray } = await import('../output.js');
    await ctx.out.streamDocument('certctl.metrics/1', {
      generatedAt: new Date(now).toISOString(),
      file,
      metrics: new LazyArray(families.map((f) => ({ name: f.name, help: f.help, type: f.type, samples: new LazyArray(f.samples) }))),
    });
  } else if (file) {
    ctx.out.info(`Wrote ${file} (${samples} samples).`);
  } else {
    const { drained } = await import('../output.js');
    for (const chunk of promChunks(families)) {
      write(process.stdout, chunk); // the metrics are the output, even with --quiet
      await drained();
    }
  }
  return 0;
}
