/** The bodies of `certctl status` (wiring: commands/status.ts). */
import { write } from '../output.js';
import { existsSync, readdirSync } from 'node:fs';
import type { Context } from '../context.js';
import type { StatusScan } from '../../core/status.js';
import type { Ledger } from '../../core/ledger/ledger.js';

/** `status --nginx NAME`: the snippet on stdout (JSON: certctl.snippet/1), warnings for live files not there yet. */
async function printNginx(ctx: Context, name: string): Promise<number> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { nginxSnippet, snippetFiles } = await import('../../core/snippets.js');
  const { InputError, ExitCode } = await import('../../core/errors.js');
  const { assertLineageName, quote } = await import('../../core/names.js');
  assertLineageName(name);
  const ledger = await ctx.ledger();
  const l = ledger.lineage(name);
  if (!l) {
    const known = ledger.lineages().map((x) => x.name);
    throw new InputError(`No lineage named ${quote(name)}.`, known.length ? `Known lineages: ${known.join(', ')}.` : 'Issue a certificate first: certctl issue -d NAME …');
  }
  const liveDir = path.join(ctx.paths.live, l.name);
  const snippet = nginxSnippet({ lineage: l.name, names: l.names, keyType: l.key_type, liveDir });
  const missing = snippetFiles(l.key_type).filter((f) => !fs.existsSync(path.join(liveDir, f)));
  if (ctx.out.json) {
    ctx.out.document('certctl.snippet/1', { lineage: l.name, server: 'nginx', keyType: l.key_type, liveDir, missing, snippet });
    return ExitCode.OK;
  }
  write(process.stdout, snippet);
  if (missing.length) write(process.stderr, `warning: not in ${liveDir} yet: ${missing.join(', ')} (no certificate issued for this lineage yet?)\n`);
  return ExitCode.OK;
}

export interface StatusOpts {
  nginx?: string;
  /** Only these lineages (repeatable). */
  certName?: string[];
}

export async function runStatus(ctx: Context, opts: StatusOpts): Promise<number | void> {
  if (opts.nginx !== undefined) return printNginx(ctx, opts.nginx);
  const only = opts.certName?.length ? [...new Set(opts.certName)] : undefined;
  if (only) {
    const { assertLineageName } = await import('../../core/names.js');
    for (const n of only) assertLineageName(n);
  }
  // No ledger file yet: nothing to show, and no reason to create one (or load SQLite) to say so.
  if (!ctx.paths.ledger.includes('://') && !existsSync(ctx.paths.ledger)) {
    // …unless the state directory holds lineages: then the ledger was lost, and "no certificates" would be false.
    const onDisk = existsSync(ctx.paths.archive) ? readdirSync(ctx.paths.archive).filter((n) => !n.startsWith('.')) : [];
    if (onDisk.length) {
      const { StateError } = await import('../../core/errors.js');
      throw new StateError(
        `There is no ledger at ${ctx.paths.ledger}, but ${ctx.paths.archive} holds ${onDisk.length} lineage(s) (${onDisk.slice(0, 5).join(', ')}${onDisk.length > 5 ? ', …' : ''}): the ledger was lost or moved.`,
        'Restore it from a backup, or re-adopt the lineages with `certctl import state` (certctl refuses to order their names until then).',
      );
    }
    if (only) await unknownNames(only, new Set());
    if (ctx.out.json) ctx.out.document('certctl.status/1', { lineages: [], caOutages: [] });
    else ctx.out.info(`No certificates yet in ${ctx.paths.root}. Get one with: certctl issue -d example.com --webroot /var/www/html`);
    return;
  }
  const { StatusScan } = await import('../../core/status.js');
  const ledger = await ctx.ledger();
  // Read a page at a time in the report's order and written as it comes: memory does not grow
  // with the ledger, output starts at once.
  const scan = new StatusScan(ledger, ctx.paths, ctx.now(), { names: only });
  try {
    await writeStatus(ctx, scan, ledger, only);
  } finally {
    scan.close();
  }
}

/** The report of an open scan, text or JSON, with the warnings before it. */
async function writeStatus(ctx: Context, scan: StatusScan, ledger: Ledger, only: string[] | undefined): Promise<void> {
  if (only) await unknownNames(only, ledger.lineagesAmong(only));
  const { unknownDiskLineages } = await import('../../core/import/state.js');
  const unknown = unknownDiskLineages(ledger, ctx.paths);
  // CAs that could not be reached on the latest runs (docs/cas.md "Unreachable across runs").
  const { isoTime, utc } = await import('../../core/clock.js');
  const outages = ledger.caOutages();
  if (ctx.out.json) {
    const { LazyArray, flat } = await import('../output.js');
    const caOutages = outages.map((o) => ({ ca: o.ca_id, directoryUrl: o.directory_url, runs: o.runs, since: isoTime(o.first_at), last: isoTime(o.last_at), kind: o.kind, endpoint: o.endpoint, detail: o.detail }));
    await ctx.out.streamDocument('certctl.status/1', { lineages: new LazyArray(flat(scan.pages())), caOutages });
    return;
  }
  const { wrap } = await import('../layout.js');
  ctx.out.hold();
  try {
    for (const u of unknown) {
      ctx.out.attention(wrap(`warning: ${ctx.paths.archive}/${u.name} (${u.names.join(', ') || 'no readable certificate'}, ${u.versions} version(s)) is not in the ledger; certctl will not order these names until \`certctl import state\` re-adopts it.`, 4));
    }
    // Every warning before the list, as ever: the live/ check first (files only), the list after.
    for (const l of scan.liveProblems()) for (const w of l.problems) ctx.out.attention(wrap(`warning: ${l.name}: ${w}.`, 4));
    for (const o of outages) {
      ctx.out.attention(wrap(`warning: CA ${o.ca_id} (${o.directory_url}) unreachable on ${o.runs} consecutive run${o.runs === 1 ? '' : 's'} since ${utc(o.first_at)}, last ${utc(o.last_at)} (${o.kind}: ${o.detail})`, 4));
    }
    if ((only ? only.length : ledger.lineageCount()) === 0) {
      ctx.out.info(`No certificates yet in ${ctx.paths.root}. Get one with: certctl issue -d example.com --webroot /var/www/html`);
      return;
    }
    if (ctx.opts.quiet) return; // every line below is info: --quiet shows none of them, so do not build them
    const p = ctx.out.palette;
    // Every line fits 80 columns (wrapped under the lineage), every time once, in UTC as plan and renew write it.
    for (const page of scan.pages({ liveProblems: false })) {
      if (ctx.out.stdoutClosed) break; // the reader went away (| head): nothing more will be read
      await ctx.out.drain(); // a slow reader: wait rather than queue the listing in memory
      for (const l of page) {
        const days = l.daysLeft === null ? 'no certificate' : l.daysLeft < 0 ? `expired ${-l.daysLeft} day${l.daysLeft === -1 ? '' : 's'} ago` : `${l.daysLeft} days left`;
        const paint = l.daysLeft === null || l.daysLeft < 7 ? p.bad : l.due ? p.warn : p.ok;
        ctx.out.info(wrap(`${p.bold(l.name)}  ${l.names.join(', ')}`, 4));
        ctx.out.info(wrap(`  expires ${l.notAfter ? utc(Date.parse(l.notAfter)) : '-'} (${paint(days)})  key ${l.keyType}  CA ${l.caId}`, 4));
        if (l.caChoice) ctx.out.info(wrap(`  CA list ${l.cas!.join(', ')}: last chose ${l.caChoice.ca}${l.caChoice.failedOver ? ` (failed over from ${l.caChoice.first}: ${l.caChoice.reason})` : ''} at ${utc(Date.parse(l.caChoice.at))}`, 4));
        if (l.next) ctx.out.info(wrap(`  next: ${l.next.kind === 'resume' ? 'finish an interrupted order' : l.next.kind === 'retry-after' ? 'retry after the CA’s Retry-After' : 'renew'} at ${utc(Date.parse(l.next.at))}`, 4));
        if (l.hosts.length || l.renewedBy) {
          const hosts = l.hosts.map((h) => `${h.host} ${h.upToDate ? p.ok(`v${h.deployedVersion} up to date`) : p.warn(`v${h.deployedVersion}${h.pending ? ', writing' : ''}, behind v${l.version}`)}`).join('; ');
          ctx.out.info(wrap(`  hosts: ${hosts || 'none'}${l.renewedBy ? `  (renewed last by ${l.renewedBy.host}, ${utc(Date.parse(l.renewedBy.at))})` : ''}`, 4));
        }
        for (const f of l.files) ctx.out.info(`  ${f}`);
      }
    }
  } finally {
    ctx.out.release();
  }
}

/** --cert-name naming no lineage: one sentence, exit 2, before anything is printed. */
async function unknownNames(only: string[], known: Set<string>): Promise<void> {
  const missing = only.filter((n) => !known.has(n));
  if (!missing.length) return;
  const { InputError } = await import('../../core/errors.js');
  const { quote } = await import('../../core/names.js');
  throw new InputError(`No lineage named ${missing.map((n) => quote(n)).join(', ')}.`, 'List the lineages with `certctl status` (the name is the first word of each entry).');
}
