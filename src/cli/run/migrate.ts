/** The body of `certctl migrate certbot` (wiring: commands/migrate.ts; the work: core/import/migrate.ts). */
import path from 'node:path';
import fs from 'node:fs';
import type { Context } from '../context.js';
import { ExitCode, InputError } from '../../core/errors.js';
import type { LineageVerdict, MigrationChange, Renewer } from '../../core/import/migrate.js';
import { confirm } from '../output.js';

export interface MigrateCliOptions {
  dryRun?: boolean;
  yes?: boolean;
  revert?: boolean;
  caBundle?: string;
  webroot?: string;
  forceWebroot?: boolean;
  certbotCron?: string;
  lockWait: number;
}

/** One line per change, as the user reads it before confirming. */
export function describeChange(c: MigrationChange): string {
  switch (c.kind) {
    case 'record':
      return `record   ${c.path} (every change below with its original, written first)`;
    case 'import':
      return `import   ${c.lineage}: certbot's current certificate${c.from ? ` (${c.from})` : ''} becomes certctl's lineage ${c.path}`;
    case 'set-aside':
      return `rename   ${c.path} → ${path.basename(c.to!)} (certbot stops listing and renewing ${c.lineage})`;
    case 'link':
      return `link     ${c.path}: ${c.from} → ${c.to}`;
    case 'hooks':
      return `hook     ${c.path}: run by certctl as ${c.to}`;
    case 'restore-link':
      return `link     ${c.path}: ${c.from} → ${c.to} (as before)`;
    case 'restore-conf':
      return `rename   ${c.path} → ${path.basename(c.to!)} (certbot renews ${c.lineage} again)`;
  }
}

/** Ask on the terminal; anything but y/yes is no. */
export async function runMigrateCertbot(ctx: Context, dir: string, opts: MigrateCliOptions): Promise<number | void> {
  const v = await import('../validate.js');
  v.plain(dir, 'the certbot directory');
  opts.lockWait = v.seconds(opts.lockWait, '--lock-wait')!;
  if (opts.revert && (opts.caBundle || opts.webroot)) throw new InputError('--revert takes no --ca-bundle or --webroot: it only puts certbot’s files back.');
  opts.caBundle = v.caBundleFile(opts.caBundle);
  const cronFile = v.plain(opts.certbotCron ?? process.env.CERTCTL_CERTBOT_CRON, '--certbot-cron');
  if (opts.webroot !== undefined) {
    const { assertDocumentRoot, assertWebrootWritable } = await import('../../core/http01.js');
    const w = path.resolve(v.plain(opts.webroot, '--webroot')!);
    assertDocumentRoot(w, ctx.paths.root, opts.forceWebroot);
    assertWebrootWritable(w);
  }
  const src = path.resolve(dir);
  if (!fs.existsSync(path.join(src, 'renewal'))) throw new InputError(`${src} is not a certbot config directory (no renewal/ in it).`, 'Give the directory certbot uses as --config-dir (default /etc/letsencrypt).');
  const root = path.resolve(ctx.paths.root);
  if (root === src || root.startsWith(src + path.sep)) throw new InputError(`certctl's state directory ${ctx.paths.root} is inside ${src}.`, 'Use another --state-dir.');
  const onTerminal = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !ctx.out.json;
  const m = await import('../../core/import/migrate.js');
  const o = { caBundle: opts.caBundle, webroot: opts.webroot ? path.resolve(opts.webroot) : undefined, cronFile };

  // The list first (reads only: nothing opened for writing yet).
  const plan = opts.revert ? m.planRevert(ctx.paths, src) : m.planMigration(ctx.paths, src, o);
  const changes = plan.changes;
  const mode = opts.dryRun ? 'dry-run' : opts.revert ? 'revert' : 'migrate';
  const p = ctx.out.palette;
  const renewers: Renewer[] = 'renewers' in plan ? plan.renewers : [];
  const show = (lineages: LineageVerdict[], heading: string) => {
    if (ctx.out.json) return;
    ctx.out.info(heading);
    for (const c of changes) ctx.out.info(`  ${describeChange(c)}`);
    if (!changes.length) ctx.out.info('  (nothing to change)');
    for (const l of lineages.filter((x) => x.status === 'refused' || x.status === 'not-adopted')) ctx.out.attention(p.warn(`refused  ${l.name}: ${l.reason}`));
  };
  const document = (applied: boolean, lineages: LineageVerdict[], done: MigrationChange[]) =>
    ctx.out.document('certctl.migrate/1', {
      certbotDir: src,
      mode,
      applied,
      record: m.recordPath(ctx.paths),
      changes,
      done,
      lineages,
      hookFiles: 'hookFiles' in plan ? plan.hookFiles : null,
      ignoredHooks: 'ignoredHooks' in plan ? plan.ignoredHooks : [],
      renewers,
    });
  const exitFor = (lineages: LineageVerdict[]) => (lineages.some((l) => l.status === 'refused' || l.status === 'not-adopted') ? ExitCode.CONFIG : ExitCode.OK);
  const sayRenewers = () => {
    if (ctx.out.json) return;
    for (const r of renewers) ctx.out.attention(`${r.kind === 'cron' ? 'cron job' : 'systemd timer'} ${r.name} (${r.state}): ${r.advice}`);
  };

  if (opts.dryRun) {
    show(plan.lineages, opts.revert ? `--revert would put back (dry run: nothing changed):` : `certctl migrate certbot ${src} would (dry run: nothing changed):`);
    sayRenewers();
    if (ctx.out.json) document(false, plan.lineages, []);
    return exitFor(plan.lineages);
  }
  if (!changes.length) {
    show(plan.lineages, opts.revert ? 'Nothing to put back:' : 'Nothing to migrate:');
    if (!opts.revert) sayRenewers();
    if (ctx.out.json) document(false, plan.lineages, []);
    if (!opts.revert && !plan.lineages.length) ctx.out.info(`No certbot lineages in ${src}/renewal.`);
    return exitFor(plan.lineages);
  }
  if (!opts.yes) {
    if (!onTerminal) {
      throw new InputError(
        `migrate ${opts.revert ? '--revert ' : ''}changes certbot's files and is not on a terminal to ask: run it with --dry-run to see the ${changes.length} change(s), then with --yes to apply them.`,
      );
    }
    show(plan.lineages, opts.revert ? 'certctl migrate --revert will:' : `certctl migrate certbot ${src} will:`);
    if (!(await confirm(`Apply these ${changes.length} change(s)? [y/N] `))) {
      ctx.out.attention('Nothing changed.');
      return ExitCode.CONFIG;
    }
  }

  const ledger = await ctx.ledger();
  const { acquireRunLock } = await import('../../core/store/lock.js');
  const lock = await acquireRunLock(ledger, opts.lockWait * 1000, ctx.now);
  try {
    // Planned again under the lock: another run may have moved on since the list was made.
    if (opts.revert) {
      const r = m.applyRevert(ctx.paths, m.planRevert(ctx.paths, src), ctx.now);
      if (ctx.out.json) document(true, r.lineages, r.done);
      else {
        for (const c of r.done) ctx.out.info(`restored ${describeChange(c).replace(/^\S+\s+/, '')}`);
        for (const l of r.lineages) ctx.out.attention(l.status === 'reverted' ? `${p.ok('reverted')} ${l.name}: ${l.reason}` : `${p.warn(l.status)} ${l.name}: ${l.reason}`);
        const names = r.lineages.filter((l) => l.status === 'reverted').map((l) => l.name);
        if (names.length) ctx.out.attention(`certbot renews ${names.join(', ')} again. certctl still holds them as lineages (its live/ and ledger): do not run certctl renew for them while certbot does.`);
      }
      return exitFor(r.lineages);
    }
    const again = m.planMigration(ctx.paths, src, o);
    const r = await m.applyMigration(ledger, ctx.paths, again, o, ctx.now);
    if (ctx.out.json) document(true, r.lineages, r.done);
    else {
      for (const c of r.done) ctx.out.info(`done     ${describeChange(c).replace(/^\S+\s+/, '')}`);
      for (const l of r.lineages) {
        const tag = l.status === 'migrated' ? p.ok('migrated') : p.warn(l.status);
        ctx.out.attention(`${tag} ${l.name}: ${l.reason}`);
      }
      sayRenewers();
      if (r.lineages.some((l) => l.status === 'migrated')) ctx.out.attention(`certctl renews the migrated lineages from now on (certctl renew; certctl cron install to schedule it). Undo: certctl migrate certbot ${src} --revert.`);
    }
    return exitFor(r.lineages);
  } finally {
    lock.release();
  }
}
