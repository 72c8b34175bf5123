/** The bodies of `certctl import` (wiring: commands/import.ts). */
import path from 'node:path';
import type { Context } from '../context.js';
import { lockWaitNotice, serialText } from '../output.js';

/** A --webroot for adopted lineages: exists, a directory, not a system directory (unless --force-webroot). Nothing is written to it here. */
async function checkWebroot(stateDir: string, webroot: string | undefined, force?: boolean): Promise<void> {
  if (webroot === undefined) return;
  const { plain } = await import('../validate.js');
  const { assertDocumentRoot, assertWebrootWritable } = await import('../../core/http01.js');
  const dir = path.resolve(plain(webroot, '--webroot')!);
  assertDocumentRoot(dir, stateDir, force);
  assertWebrootWritable(dir);
}

export async function runImportCertbot(ctx: Context, dir: string, opts: { caBundle?: string; webroot?: string; forceWebroot?: boolean; lockWait: number }): Promise<number | void> {
  const fs = await import('node:fs');
  const { InputError, ExitCode } = await import('../../core/errors.js');
  const v = await import('../validate.js');
  v.plain(dir, 'the certbot directory');
  opts.lockWait = v.seconds(opts.lockWait, '--lock-wait')!;
  opts.caBundle = v.caBundleFile(opts.caBundle);
  await checkWebroot(ctx.paths.root, opts.webroot, opts.forceWebroot);
  const { importCertbot } = await import('../../core/import/index.js');
  const { acquireRunLock } = await import('../../core/store/lock.js');
  const src = path.resolve(dir);
  if (!fs.existsSync(path.join(src, 'renewal'))) throw new InputError(`${src} is not a certbot config directory (no renewal/ in it).`, 'Give the directory certbot uses as --config-dir (default /etc/letsencrypt).');
  if (path.resolve(ctx.paths.root).startsWith(src + path.sep) || path.resolve(ctx.paths.root) === src) {
    throw new InputError(`certctl's state directory ${ctx.paths.root} is inside ${src}: certctl would write into certbot's directory.`, 'Use another --state-dir.');
  }
  const ledger = await ctx.ledger();
  const lock = await acquireRunLock(ledger, opts.lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  try {
    let r;
    try {
      r = importCertbot(ledger, ctx.paths, src, opts, ctx.now());
    } catch (err) {
      throw new InputError(`Cannot import from ${src}: ${(err as Error).message}`);
    }
    const added = r.lineages.reduce((n, l) => n + l.certificatesAdded, 0);
    const adopted = r.lineages.filter((l) => l.action === 'imported').length;
    if (ctx.out.json) {
      ctx.out.document('certctl.import/1', { source: 'certbot', dir: src, adopted, certificatesAdded: added, lineages: r.lineages, problems: r.problems });
    } else {
      const p = ctx.out.palette;
      for (const l of r.lineages) {
        const tag = l.action === 'imported' ? p.ok('imported') : l.action === 'unchanged' ? p.dim('unchanged') : p.warn(l.action);
        ctx.out.info(`${tag}  ${l.lineage ?? path.basename(l.source, '.conf')}: ${l.names.join(', ') || '-'} — ${l.versions} version(s), ${l.certificatesAdded} certificate(s) added; ${l.reason}`);
      }
      for (const pr of r.problems) ctx.out.attention(p.warn(`problem: ${pr}`));
      if (r.lineages.length === 0) ctx.out.info(`No certbot lineages in ${src}/renewal.`);
      else if (adopted === 0 && added === 0 && !r.lineages.some((l) => l.action === 'skipped') && !r.problems.length) ctx.out.info('Nothing new: everything was imported before.');
      else if (adopted === 0 && added === 0) ctx.out.attention('Nothing imported: see the skipped lineages and problems above.');
      else ctx.out.attention(`${adopted} lineage(s) adopted, ${added} certificate(s) added to the ledger.${adopted ? ` certctl renews them into its own live/; certbot's live/ paths (what your web server reads) do not follow: run certctl migrate certbot ${src} --dry-run to switch them over and stop certbot renewing them.` : ''}`);
    }
    const failed = r.lineages.some((l) => l.action === 'skipped') || r.problems.length > 0;
    // Exit 2 (bad input), as import state: a certbot file certctl cannot read is not a bug in certctl (exit 1).
    return failed ? ExitCode.CONFIG : ExitCode.OK;
  } finally {
    lock.release();
  }
}

export async function runImportState(ctx: Context, opts: { server?: string; ca?: string; webroot?: string; standalone?: string | true; caBundle?: string; lockWait: number }): Promise<number | void> {
  const fs = await import('node:fs');
  const { InputError, ExitCode } = await import('../../core/errors.js');
  const { importState } = await import('../../core/import/state.js');
  const { resolveCa } = await import('../../core/ca/registry.js');
  const { acquireRunLock } = await import('../../core/store/lock.js');
  const { parseListen } = await import('../../core/http01.js');
  if (opts.webroot && opts.standalone) throw new InputError('Give either --webroot or --standalone, not both.');
  if (opts.webroot && !fs.existsSync(opts.webroot)) throw new InputError(`--webroot ${opts.webroot} does not exist.`);
  if (opts.caBundle && !fs.existsSync(opts.caBundle)) throw new InputError(`--ca-bundle ${opts.caBundle} does not exist.`);
  let standalone: string | undefined;
  if (opts.standalone) {
    const l = parseListen(opts.standalone === true ? undefined : opts.standalone);
    standalone = `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
  }
  let ca;
  let directoryUrl;
  if (opts.server || opts.ca) ({ ca, directoryUrl } = resolveCa({ ca: opts.ca, server: opts.server }));
  if (!fs.existsSync(ctx.paths.archive)) {
    throw new InputError(`${ctx.paths.archive} does not exist: there are no lineages in ${ctx.paths.root} to import.`, 'Give the state directory that holds them: --state-dir DIR.');
  }
  const ledger = await ctx.ledger();
  const lock = await acquireRunLock(ledger, opts.lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  try {
    const r = importState(ledger, ctx.paths, { ca, directoryUrl, webroot: opts.webroot ? path.resolve(opts.webroot) : undefined, standalone, caBundle: opts.caBundle }, ctx.now());
    const added = r.reduce((n, l) => n + l.certificatesAdded, 0);
    const adopted = r.filter((l) => l.action === 'imported').length;
    if (ctx.out.json) {
      ctx.out.document('certctl.import/1', { source: 'state', dir: ctx.paths.root, adopted, certificatesAdded: added, lineages: r });
    } else {
      const p = ctx.out.palette;
      for (const l of r) {
        const tag = l.action === 'imported' || l.action === 'updated' ? p.ok(l.action) : l.action === 'unchanged' ? p.dim('unchanged') : p.warn(l.action);
        ctx.out.info(`${tag}  ${l.lineage}: ${l.names.join(', ') || '-'} — ${l.versions} version(s), ${l.certificatesAdded} certificate(s) added; ${l.reason}`);
      }
      if (r.length === 0) ctx.out.info(`No lineages in ${ctx.paths.archive}.`);
      else if (added === 0 && adopted === 0 && !r.some((l) => l.action === 'skipped')) ctx.out.info('Nothing new: the ledger knows every lineage on disk.');
      else ctx.out.attention(`${adopted} lineage(s) adopted, ${added} certificate(s) added to the ledger.`);
    }
    return r.some((l) => l.action === 'skipped') ? ExitCode.CONFIG : ExitCode.OK;
  } finally {
    lock.release();
  }
}

export async function runImportPem(ctx: Context, files: string[], opts: { certName?: string; key?: string; webroot?: string; forceWebroot?: boolean; standalone?: string | true; server?: string; ca?: string; caBundle?: string }): Promise<number | void> {
  const { InputError, ExitCode } = await import('../../core/errors.js');
  const v = await import('../validate.js');
  const { assertLineageName } = await import('../../core/names.js');
  for (const f of files) v.plain(f, 'a PEM file name');
  v.plain(opts.key, '--key');
  v.url(opts.server, '--server');
  if (opts.certName !== undefined) assertLineageName(opts.certName);
  opts.caBundle = v.caBundleFile(opts.caBundle);
  if (opts.standalone !== undefined && opts.standalone !== true) (await import('../../core/http01.js')).parseListen(opts.standalone);
  await checkWebroot(ctx.paths.root, opts.webroot, opts.forceWebroot);
  const { importPem } = await import('../../core/import/index.js');
  const { resolveCa } = await import('../../core/ca/registry.js');
  let ca;
  let directoryUrl;
  if (opts.server || opts.ca) ({ ca, directoryUrl } = resolveCa({ ca: opts.ca, server: opts.server }));
  else if (opts.certName) throw new InputError('--cert-name needs the CA that will renew it: --server URL or --ca ID.');
  const ledger = await ctx.ledger();
  let r;
  try {
    r = importPem(
      ledger,
      ctx.paths,
      files,
      { certName: opts.certName, key: opts.key, ca, directoryUrl, webroot: opts.webroot, standalone: opts.standalone === true ? '0.0.0.0:80' : opts.standalone, caBundle: opts.caBundle },
      ctx.now(),
    );
  } catch (err) {
    throw new InputError(`Cannot import: ${(err as Error).message}`);
  }
  if (ctx.out.json) ctx.out.document('certctl.import/1', { source: 'pem', ...r });
  else {
    for (const c of r.certificates) ctx.out.info(`${c.added ? 'added' : 'known'}  ${c.file}: serial ${serialText(c.serial)}, ${c.names.join(', ')}`);
    if (r.lineage) ctx.out.attention(`Adopted as lineage ${r.lineage}: ${path.join(ctx.paths.live, r.lineage)}/`);
    ctx.out.attention(r.added ? `${r.added} certificate(s) added to the ledger${r.known ? `, ${r.known} already known` : ''}.` : 'Nothing new: every certificate was already in the ledger.');
  }
  return ExitCode.OK;
}
