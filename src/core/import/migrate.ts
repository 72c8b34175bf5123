/**
 * `certctl migrate certbot`: the whole switch from certbot, reversibly.
 *
 * For each certbot lineage certctl can take over:
 *   1. import it (import certbot: certctl's own live/ + archive/, the ledger);
 *   2. set certbot's renewal/NAME.conf aside (NAME.conf.certctl-migrated:
 *      certbot reads only *.conf, so it no longer lists or renews it);
 *   3. re-point certbot's live/NAME/{cert,chain,fullchain,privkey}.pem at
 *      certctl's live/NAME/… (a new link under a temporary name renamed over
 *      the old one), so the paths a web server reads follow certctl's
 *      current certificate from then on.
 * certbot's renewal-hooks/pre|deploy|post/ executables become the adopted
 * lineages' hook files (settings.hookFiles).
 *
 * Write-ahead: the migration record (MIGRATION_RECORD in the state
 * directory, atomic, 0600) lists every change — each link's original target
 * and times, each renewal file's old and new name — before the first change
 * to certbot's files. Every step is recognised afterwards from the files
 * themselves (a link at its original target or at certctl's; a renewal file
 * under its old or its new name), so a run killed anywhere is finished by
 * the next `migrate`, or undone by `--revert`, from the record alone.
 * The renewal file goes aside before the links move: at every moment
 * certbot sees a lineage either whole (its file, its links) or not at all,
 * and each link resolves to the same certificate and key (certctl's version
 * is certbot's current one, byte for byte) — `renew` refuses to run while a
 * migration is unfinished, so the two sides cannot drift apart half-way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import type { Ledger } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import { InputError, StateError } from '../errors.js';
import { checkDirChain, fsyncDir, symlinkAtomic, writeFileAtomic } from '../store/atomic.js';
import { LineageStore, keyMatchesCert } from '../store/lineage.js';
import { assertLineageName } from '../names.js';
import { readCertbotDir, type CertbotLineage } from './certbot.js';
import { importCertbot, type CertbotImportOptions, type ImportedLineage } from './index.js';

/** The record's file name in the state directory. */
export const MIGRATION_RECORD = 'certbot-migration.json';
/** What a renewal file set aside is called (certbot reads renewal/*.conf only). */
export const SET_ASIDE_SUFFIX = '.certctl-migrated';
/** The live files certbot keeps per lineage; each is re-pointed. */
export const LIVE_FILES = ['cert', 'chain', 'fullchain', 'privkey'] as const;
/** Debian's cron job for certbot (the active renewer on hosts without systemd). */
export const DEFAULT_CERTBOT_CRON = '/etc/cron.d/certbot';
const HOOK_KINDS = ['pre', 'deploy', 'post'] as const;

export interface LinkChange {
  /** certbot's live file (absolute). */
  file: string;
  /** Its target before the migration, as readlink gave it (certbot writes ../../archive/NAME/certN.pem). */
  original: string;
  /** certctl's live file it points at afterwards (absolute). */
  target: string;
  /** The link's own modification time before, in nanoseconds (restored by --revert, so the tree is as it was). */
  mtimeNs: string;
}

export interface LineageMigration {
  name: string;
  names: string[];
  /** certbot's live/NAME directory and its modification time before (nanoseconds). */
  liveDir: string;
  liveDirMtimeNs: string;
  links: LinkChange[];
  conf: { from: string; to: string };
}

export interface MigrationRecord {
  schema: 'certctl.migration/1';
  certbotDir: string;
  stateDir: string;
  /** migrating / reverting: a run was (or is) at work; migrated / reverted: finished. */
  state: 'migrating' | 'migrated' | 'reverting' | 'reverted';
  startedAt: string;
  updatedAt: string;
  /** certbot's renewal/ directory's modification time (nanoseconds) before the first renewal file was moved. */
  renewalDirMtimeNs: string;
  lineages: LineageMigration[];
  hookFiles: HookFiles;
}

export type HookFiles = { pre: string[]; deploy: string[]; post: string[] };

/** One change, as listed before anything is done. */
export interface MigrationChange {
  kind: 'import' | 'set-aside' | 'link' | 'hooks' | 'record' | 'restore-link' | 'restore-conf';
  lineage?: string;
  path: string;
  from?: string;
  to?: string;
}

export interface LineageVerdict {
  name: string;
  status: 'migrate' | 'resume' | 'migrated' | 'refused' | 'not-adopted' | 'reverted' | 'revert';
  reason: string;
}

export interface Renewer {
  kind: 'systemd-timer' | 'cron';
  name: string;
  /** systemctl is-enabled's answer, or 'present' for a cron file with an active line. */
  state: string;
  active: boolean;
  advice: string;
}

export interface MigrationPlan {
  certbotDir: string;
  record: string;
  changes: MigrationChange[];
  lineages: LineageVerdict[];
  hookFiles: HookFiles;
  /** Hook files certbot would not run either (not executable, backup names), not carried over. */
  ignoredHooks: string[];
  renewers: Renewer[];
  /** What the run will do, with the originals: the record it writes first. */
  pending: LineageMigration[];
  /** A record from an earlier run (to be finished, or extended). */
  previous: MigrationRecord | null;
}

export function recordPath(paths: StatePaths): string {
  return path.join(paths.root, MIGRATION_RECORD);
}

/** The migration record of this state directory, or null; a damaged one is a StateError (never guessed around). */
export function readMigrationRecord(paths: StatePaths): MigrationRecord | null {
  const file = recordPath(paths);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let rec: MigrationRecord;
  try {
    rec = JSON.parse(text) as MigrationRecord;
    if (rec.schema !== 'certctl.migration/1' || !Array.isArray(rec.lineages)) throw new Error('not a migration record');
  } catch (err) {
    throw new StateError(`The migration record ${file} cannot be read (${(err as Error).message}): certctl changed nothing.`, 'Restore it from a backup; it holds the original targets of certbot’s links that --revert needs.', file);
  }
  return rec;
}

function writeRecord(paths: StatePaths, rec: MigrationRecord, now: number): void {
  rec.updatedAt = new Date(now).toISOString();
  writeFileAtomic(recordPath(paths), JSON.stringify(rec, null, 2) + '\n', 0o600);
}

/** A migration a crash (or a refusal) left half-done: renew must not run on it. */
export function unfinishedMigration(paths: StatePaths): MigrationRecord | null {
  const rec = readMigrationRecord(paths);
  return rec && (rec.state === 'migrating' || rec.state === 'reverting') ? rec : null;
}

function lstat(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function readlink(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** A path's own modification time (a link's, not its target's), in nanoseconds. */
function mtimeNs(p: string): string {
  return fs.lstatSync(p, { bigint: true }).mtimeNs.toString();
}

/**
 * Set a path's own modification time to the nanosecond (a link's itself): Node's utimes takes
 * seconds as a double and loses the last digits, so coreutils' touch (utimensat) does it, its
 * arguments as an array (no shell); the access time is left as it is.
 */
function setMtimeNs(p: string, ns: string): void {
  const n = BigInt(ns);
  const frac = (n % 1_000_000_000n).toString().padStart(9, '0');
  execFileSync('touch', ['-h', '-m', '-d', `@${n / 1_000_000_000n}.${frac}`, '--', p], { stdio: 'ignore' });
}

/** certbot's directory hooks, as certbot picks them: regular executable files in name order, no "~" backups. */
export function certbotHookFiles(dir: string): { files: HookFiles; ignored: string[] } {
  const files: HookFiles = { pre: [], deploy: [], post: [] };
  const ignored: string[] = [];
  for (const kind of HOOK_KINDS) {
    const d = path.join(dir, 'renewal-hooks', kind);
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(d).sort();
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = path.join(d, e);
      let exe = false;
      try {
        exe = fs.statSync(p).isFile() && !e.endsWith('~');
        if (exe) fs.accessSync(p, fs.constants.X_OK);
      } catch {
        exe = false;
      }
      if (exe) files[kind].push(p);
      else ignored.push(p);
    }
  }
  return { files, ignored };
}

/** certbot's timer and Debian's cron job: named, with what to do about them (migrate changes neither). */
export function certbotRenewers(cronFile: string, certbotKeepsLineages: boolean): Renewer[] {
  const out: Renewer[] = [];
  const keep = certbotKeepsLineages ? 'certbot still renews the lineages it keeps, so leave it on' : null;
  const systemctl = ['/usr/bin/systemctl', '/bin/systemctl'].find((p) => fs.existsSync(p));
  if (systemctl) {
    let state = 'unknown';
    try {
      state = execFileSync(systemctl, ['is-enabled', 'certbot.timer'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    } catch (err) {
      state = String((err as { stdout?: string }).stdout ?? '').trim() || 'not-found';
    }
    const active = /^(enabled|static|alias|indirect|generated|enabled-runtime)$/.test(state);
    if (state !== 'not-found') {
      out.push({
        kind: 'systemd-timer',
        name: 'certbot.timer',
        state,
        active,
        advice: !active ? 'not enabled: nothing to do' : keep ? `${keep}; it no longer renews the migrated lineages` : 'certbot keeps no lineage now: disable it with systemctl disable --now certbot.timer',
      });
    }
  }
  let text: string | null = null;
  try {
    text = fs.readFileSync(cronFile, 'utf8');
  } catch {
    /* no cron job */
  }
  if (text !== null) {
    const active = text.split('\n').some((l) => /\bcertbot\b/.test(l) && !/^\s*#/.test(l) && /\S/.test(l) && !/^\s*\w+=/.test(l));
    out.push({
      kind: 'cron',
      name: cronFile,
      state: active ? 'present' : 'commented out',
      active,
      advice: !active ? 'no active line: nothing to do' : keep ? `${keep}; it no longer renews the migrated lineages` : `certbot keeps no lineage now: comment out its line in ${cronFile} (certctl cron install sets up certctl's own)`,
    });
  }
  return out;
}

function refuse(name: string, reason: string): LineageVerdict {
  return { name, status: 'refused', reason: `${reason}: certctl left ${name} to certbot and changed nothing of it.` };
}

/**
 * The live links of a fresh lineage: each a symbolic link (never a regular file or a directory) to
 * certbot's own archive/NAME/<file><current>.pem, in real directories of certbot's (no planted link).
 */
function checkFreshLinks(dir: string, cl: CertbotLineage, certctlLive: string): { links?: LinkChange[]; reason?: string } {
  const liveDir = path.join(dir, 'live', cl.name);
  try {
    checkDirChain(dir, liveDir, false);
  } catch (err) {
    return { reason: (err as Error).message.replace(/: certctl writes only.*$|: certctl needs.*$/, '') };
  }
  if (!lstat(liveDir)?.isDirectory()) return { reason: `${liveDir} is missing` };
  const links: LinkChange[] = [];
  for (const base of LIVE_FILES) {
    const file = path.join(liveDir, `${base}.pem`);
    const st = lstat(file);
    if (!st) return { reason: `${file} is missing` };
    if (!st.isSymbolicLink()) return { reason: `${file} is a ${st.isDirectory() ? 'directory' : 'regular file'}, not certbot's link into its archive` };
    const original = fs.readlinkSync(file);
    const want = path.join(dir, 'archive', cl.name, `${base}${cl.current}.pem`);
    if (path.resolve(liveDir, original) !== want) return { reason: `${file} points at ${original}, not at certbot's archive/${cl.name}/${base}${cl.current}.pem` };
    if (!lstat(want)?.isFile()) return { reason: `${want} is not a regular file` };
    links.push({ file, original, target: path.join(certctlLive, `${base}.pem`), mtimeNs: mtimeNs(file) });
  }
  return { links };
}

/** Which changes of a recorded lineage are still to do; a file changed by someone else since is a conflict. */
function recordedProgress(m: LineageMigration, direction: 'forward' | 'back'): { links: LinkChange[]; conf: boolean; conflict?: string } {
  const links: LinkChange[] = [];
  for (const l of m.links) {
    const st = lstat(l.file);
    const to = st?.isSymbolicLink() ? readlink(l.file) : null;
    const done = direction === 'forward' ? l.target : l.original;
    const todo = direction === 'forward' ? l.original : l.target;
    if (to === done) continue;
    if (to === todo) links.push(l);
    else return { links: [], conf: false, conflict: `${l.file} was changed since the migration began (${st ? (to !== null ? `now → ${to}` : 'no longer a link') : 'missing'})` };
  }
  const from = lstat(m.conf.from);
  const to = lstat(m.conf.to);
  const [have, want] = direction === 'forward' ? [from, to] : [to, from];
  if (have && want) return { links: [], conf: false, conflict: `both ${m.conf.from} and ${m.conf.to} exist` };
  if (!have && !want) return { links: [], conf: false, conflict: `neither ${m.conf.from} nor ${m.conf.to} exists` };
  return { links, conf: Boolean(have) };
}

export interface MigrateOptions extends Omit<CertbotImportOptions, 'only'> {
  cronFile?: string;
}

/** Everything `migrate certbot DIR` would change, and why a lineage is left out. Reads only. */
export function planMigration(paths: StatePaths, dir: string, o: MigrateOptions): MigrationPlan {
  const previous = readMigrationRecord(paths);
  if (previous && previous.certbotDir !== dir && previous.state !== 'reverted') {
    throw new InputError(`This state directory holds a migration from ${previous.certbotDir}, not ${dir}.`, `Finish or revert that one first (certctl migrate certbot ${previous.certbotDir} [--revert]), or use another --state-dir.`);
  }
  const active = previous && previous.state !== 'reverted' ? previous : null;
  const { lineages } = readCertbotDir(dir);
  const changes: MigrationChange[] = [];
  const verdicts: LineageVerdict[] = [];
  const pending: LineageMigration[] = [];
  const hooks = certbotHookFiles(dir);
  const certctlLive = (name: string) => path.join(paths.live, name);

  // Lineages an earlier run recorded: finished ones are reported, unfinished ones resumed.
  for (const m of active?.lineages ?? []) {
    const p = recordedProgress(m, 'forward');
    if (p.conflict) {
      verdicts.push({ name: m.name, status: 'refused', reason: `${p.conflict}: certctl leaves it as it is (certctl migrate certbot --revert puts back the rest).` });
      continue;
    }
    if (!p.conf && !p.links.length) {
      verdicts.push({ name: m.name, status: 'migrated', reason: 'already migrated' });
      continue;
    }
    verdicts.push({ name: m.name, status: 'resume', reason: 'finishing an interrupted migration' });
    if (p.conf) changes.push({ kind: 'set-aside', lineage: m.name, path: m.conf.from, to: m.conf.to });
    for (const l of p.links) changes.push({ kind: 'link', lineage: m.name, path: l.file, from: l.original, to: l.target });
    pending.push(m);
  }
  const recorded = new Set((active?.lineages ?? []).map((m) => m.name));

  for (const cl of lineages) {
    if (recorded.has(cl.name)) continue; // its renewal file is back? recordedProgress named the conflict
    try {
      assertLineageName(cl.name);
    } catch {
      verdicts.push(refuse(JSON.stringify(cl.name), `its name cannot be a certctl lineage name (lower-case letters, digits, ".", "-", "_"; no "..")`));
      continue;
    }
    const auth = (cl.conf.renewalparams.authenticator ?? '').toLowerCase();
    if (!o.webroot && auth !== 'webroot' && auth !== 'standalone') {
      verdicts.push(refuse(cl.name, `its authenticator "${auth || 'unknown'}" is not one certctl repeats (webroot, standalone; give --webroot DIR to renew it by webroot)`));
      continue;
    }
    if (cl.current === null || !cl.versions.some((v) => v.version === cl.current)) {
      verdicts.push(refuse(cl.name, 'it has no current certificate in its archive directory'));
      continue;
    }
    const confSt = lstat(cl.confFile);
    if (!confSt?.isFile()) {
      verdicts.push(refuse(cl.name, `${cl.confFile} is not a regular file`));
      continue;
    }
    const to = cl.confFile + SET_ASIDE_SUFFIX;
    if (lstat(to)) {
      verdicts.push(refuse(cl.name, `${to} already exists`));
      continue;
    }
    const checked = checkFreshLinks(dir, cl, certctlLive(cl.name));
    if (!checked.links) {
      verdicts.push(refuse(cl.name, checked.reason!));
      continue;
    }
    const liveDir = path.join(dir, 'live', cl.name);
    const m: LineageMigration = { name: cl.name, names: [], liveDir, liveDirMtimeNs: mtimeNs(liveDir), links: checked.links, conf: { from: cl.confFile, to } };
    verdicts.push({ name: cl.name, status: 'migrate', reason: `renewed by certctl from now on (${auth}${o.webroot ? ', --webroot' : ''})` });
    changes.push({ kind: 'import', lineage: cl.name, path: certctlLive(cl.name), from: path.join(dir, 'archive', cl.name, `cert${cl.current}.pem`) });
    changes.push({ kind: 'set-aside', lineage: cl.name, path: m.conf.from, to: m.conf.to });
    for (const l of m.links) changes.push({ kind: 'link', lineage: cl.name, path: l.file, from: l.original, to: l.target });
    pending.push(m);
  }
  if (pending.length) {
    for (const kind of HOOK_KINDS) for (const f of hooks.files[kind]) changes.push({ kind: 'hooks', path: f, to: `${kind} hook of ${pending.map((m) => m.name).join(', ')}` });
    changes.unshift({ kind: 'record', path: recordPath(paths) });
  }
  const keeps = lineages.some((cl) => !pending.some((m) => m.name === cl.name) && !(active?.lineages ?? []).some((m) => m.name === cl.name));
  return {
    certbotDir: dir,
    record: recordPath(paths),
    changes,
    lineages: verdicts,
    hookFiles: hooks.files,
    ignoredHooks: hooks.ignored,
    renewers: certbotRenewers(o.cronFile ?? DEFAULT_CERTBOT_CRON, keeps),
    pending,
    previous,
  };
}

/** One link of certbot's switched, in a real directory of certbot's (checked), by a temporary link renamed over it. */
function switchLink(certbotDir: string, file: string, target: string): void {
  checkDirChain(certbotDir, path.dirname(file), false);
  symlinkAtomic(target, file);
}

/** Temporary links a kill between symlink() and rename() left in certbot's live/NAME (ours: they point at a recorded target). */
function removeStrayTemps(m: LineageMigration): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(m.liveDir);
  } catch {
    return;
  }
  const ours = new Set(m.links.flatMap((l) => [l.original, l.target]));
  for (const e of entries) {
    if (!/^\.(cert|chain|fullchain|privkey)\.pem\.[0-9a-f]{12}\.tmp$/.test(e)) continue;
    const p = path.join(m.liveDir, e);
    const to = lstat(p)?.isSymbolicLink() ? readlink(p) : null;
    if (to !== null && ours.has(to)) fs.unlinkSync(p);
  }
}

export interface MigrationResult {
  lineages: LineageVerdict[];
  imported: ImportedLineage[];
  /** Changes made by this run. */
  done: MigrationChange[];
}

/** certctl's live/NAME resolves to a whole certificate + key pair (checked before certbot's links move onto it). */
async function certctlLiveProblem(store: LineageStore, ledger: Ledger, name: string): Promise<string | null> {
  const row = ledger.lineage(name);
  if (!row || row.current_version < 1) return `certctl has no current version of ${name}`;
  const problems = store.liveProblems(name, row.current_version);
  if (problems.length) return problems[0]!;
  try {
    const live = store.liveDir(name);
    for (const base of LIVE_FILES) if (!fs.statSync(path.join(live, `${base}.pem`)).isFile()) return `${path.join(live, base)}.pem is not a file`;
    if (!(await keyMatchesCert(fs.readFileSync(path.join(live, 'privkey.pem'), 'utf8'), fs.readFileSync(path.join(live, 'cert.pem'), 'utf8')))) return `certctl's ${live}/privkey.pem does not belong to its cert.pem`;
  } catch (err) {
    return `certctl's live/${name} cannot be read: ${(err as Error).message}`;
  }
  return null;
}

/**
 * A lineage certctl imported earlier (`import certbot`) and certbot renewed since: certctl's live/NAME
 * holds an older certificate than certbot's current one. Re-pointing certbot's links at it would take
 * the web server back to the older certificate (and renew would follow the older one's schedule).
 */
function staleCopyProblem(store: LineageStore, m: LineageMigration): string | null {
  const link = m.links.find((l) => path.basename(l.file) === 'cert.pem');
  if (!link) return null;
  const certbotFile = path.resolve(m.liveDir, link.original);
  try {
    const theirs = new X509Certificate(fs.readFileSync(certbotFile, 'utf8'));
    const ours = new X509Certificate(fs.readFileSync(path.join(store.liveDir(m.name), 'cert.pem'), 'utf8'));
    if (theirs.fingerprint256 === ours.fingerprint256 || Date.parse(theirs.validFrom) <= Date.parse(ours.validFrom)) return null;
    return `certctl's live/${m.name} holds an older certificate (serial ${ours.serialNumber}) than certbot's current ${path.basename(certbotFile)} (serial ${theirs.serialNumber}): certbot renewed it after certctl imported it — run certctl delete --cert-name ${m.name} --yes (the ledger keeps its certificates), then migrate again to adopt certbot's current one`;
  } catch (err) {
    return `${certbotFile} cannot be compared with certctl's copy: ${(err as Error).message}`;
  }
}

/** Apply a plan: import, record (write-ahead), hooks into the ledger, then certbot's files. */
export async function applyMigration(ledger: Ledger, paths: StatePaths, plan: MigrationPlan, o: MigrateOptions, now: () => number): Promise<MigrationResult> {
  const store = new LineageStore(paths);
  const verdicts = plan.lineages.map((v) => ({ ...v }));
  const done: MigrationChange[] = [];
  const fresh = plan.pending.filter((m) => !(plan.previous?.state !== 'reverted' && plan.previous?.lineages.some((r) => r.name === m.name)));
  let imported: ImportedLineage[] = [];
  if (fresh.length) {
    imported = importCertbot(ledger, paths, plan.certbotDir, { ...o, only: new Set(fresh.map((m) => m.name)) }, now()).lineages;
  }
  const go: LineageMigration[] = [];
  for (const m of plan.pending) {
    const v = verdicts.find((x) => x.name === m.name)!;
    const imp = imported.find((i) => path.basename(i.source, '.conf') === m.name);
    if (fresh.includes(m) && (!imp || (imp.action !== 'imported' && !(imp.action === 'unchanged' && imp.lineage === m.name)))) {
      Object.assign(v, { status: 'not-adopted', reason: `not adopted by certctl (${imp?.reason ?? 'not imported'}): certctl left it to certbot and changed none of its files.` });
      continue;
    }
    const problem = (await certctlLiveProblem(store, ledger, m.name)) ?? (fresh.includes(m) ? staleCopyProblem(store, m) : null);
    if (problem) {
      Object.assign(v, { status: 'refused', reason: `${problem}: certbot's files of ${m.name} were left as they are.` });
      continue;
    }
    if (imp) {
      m.names = imp.names;
      done.push({ kind: 'import', lineage: m.name, path: store.liveDir(m.name) });
    }
    go.push(m);
  }
  if (!go.length) return { lineages: verdicts, imported, done };

  // The record first: every change with its original, before certbot's files are touched.
  const prev = plan.previous && plan.previous.state !== 'reverted' ? plan.previous : null;
  const rec: MigrationRecord = prev
    ? { ...prev, state: 'migrating', lineages: [...prev.lineages.filter((r) => !go.some((m) => m.name === r.name)), ...go], hookFiles: plan.hookFiles }
    : {
        schema: 'certctl.migration/1',
        certbotDir: plan.certbotDir,
        stateDir: paths.root,
        state: 'migrating',
        startedAt: new Date(now()).toISOString(),
        updatedAt: '',
        renewalDirMtimeNs: mtimeNs(path.join(plan.certbotDir, 'renewal')),
        lineages: go,
        hookFiles: plan.hookFiles,
      };
  writeRecord(paths, rec, now());
  done.push({ kind: 'record', path: recordPath(paths) });

  // certbot's directory hooks, for certctl's renewals of these lineages (the ledger: idempotent).
  const anyHooks = HOOK_KINDS.some((k) => plan.hookFiles[k].length);
  for (const m of go) {
    const row = ledger.lineage(m.name)!;
    const hookFiles = anyHooks ? Object.fromEntries(HOOK_KINDS.filter((k) => plan.hookFiles[k].length).map((k) => [k, plan.hookFiles[k]])) : undefined;
    if (JSON.stringify(row.settings.hookFiles) !== JSON.stringify(hookFiles)) {
      const settings = { ...row.settings };
      if (hookFiles) settings.hookFiles = hookFiles;
      else delete settings.hookFiles;
      ledger.saveLineage({ ...row, settings, now: now() });
      for (const kind of HOOK_KINDS) for (const f of plan.hookFiles[kind]) done.push({ kind: 'hooks', lineage: m.name, path: f, to: kind });
    }
  }

  for (const m of go) {
    const p = recordedProgress(m, 'forward');
    const v = verdicts.find((x) => x.name === m.name)!;
    if (p.conflict) {
      Object.assign(v, { status: 'refused', reason: `${p.conflict}: left as it is.` });
      continue;
    }
    // Renewal file aside first (certbot then ignores the lineage), then the links.
    if (p.conf) {
      fs.renameSync(m.conf.from, m.conf.to);
      fsyncDir(path.dirname(m.conf.from));
      done.push({ kind: 'set-aside', lineage: m.name, path: m.conf.from, to: m.conf.to });
    }
    for (const l of p.links) {
      switchLink(plan.certbotDir, l.file, l.target);
      done.push({ kind: 'link', lineage: m.name, path: l.file, from: l.original, to: l.target });
    }
    fsyncDir(m.liveDir);
    removeStrayTemps(m);
    Object.assign(v, { status: 'migrated', reason: v.status === 'resume' ? 'migrated (an interrupted migration finished)' : 'migrated: certbot’s paths now follow certctl’s certificate' });
  }
  const conflicts = verdicts.some((v) => v.status === 'refused' && rec.lineages.some((m) => m.name === v.name));
  rec.state = conflicts ? 'migrating' : 'migrated';
  writeRecord(paths, rec, now());
  return { lineages: verdicts, imported, done };
}

export interface RevertPlan {
  record: MigrationRecord;
  changes: MigrationChange[];
  lineages: LineageVerdict[];
}

/** What --revert would put back (reads only). */
export function planRevert(paths: StatePaths, dir: string): RevertPlan {
  const rec = readMigrationRecord(paths);
  if (!rec || rec.state === 'reverted') throw new InputError(`There is no certbot migration to revert in ${paths.root}${rec ? ' (the last one was reverted)' : ''}.`, 'Give the --state-dir the migration ran with.');
  if (rec.certbotDir !== dir) throw new InputError(`The migration in ${paths.root} was from ${rec.certbotDir}, not ${dir}.`, `Run certctl migrate certbot ${rec.certbotDir} --revert.`);
  const changes: MigrationChange[] = [];
  const lineages: LineageVerdict[] = [];
  for (const m of [...rec.lineages].reverse()) {
    const p = recordedProgress(m, 'back');
    if (p.conflict) {
      lineages.push({ name: m.name, status: 'refused', reason: `${p.conflict}: certctl leaves ${m.name}'s files as they are.` });
      continue;
    }
    for (const l of p.links) changes.push({ kind: 'restore-link', lineage: m.name, path: l.file, from: l.target, to: l.original });
    if (p.conf) changes.push({ kind: 'restore-conf', lineage: m.name, path: m.conf.to, to: m.conf.from });
    lineages.push({ name: m.name, status: 'revert', reason: p.links.length || p.conf ? 'certbot’s links and renewal file put back' : 'nothing of it was changed' });
  }
  return { record: rec, changes, lineages };
}

/** Put certbot back from the record: links to their original targets (and times), renewal files back, directory times. */
export function applyRevert(paths: StatePaths, plan: RevertPlan, now: () => number): { lineages: LineageVerdict[]; done: MigrationChange[] } {
  new LineageStore(paths); // guards the state directory for the record's writes
  const rec = plan.record;
  rec.state = 'reverting';
  writeRecord(paths, rec, now());
  const done: MigrationChange[] = [];
  const verdicts = plan.lineages.map((v) => ({ ...v }));
  let conflicts = false;
  for (const m of [...rec.lineages].reverse()) {
    const v = verdicts.find((x) => x.name === m.name)!;
    const p = recordedProgress(m, 'back');
    if (p.conflict) {
      conflicts = true;
      Object.assign(v, { status: 'refused', reason: `${p.conflict}: certctl leaves ${m.name}'s files as they are.` });
      continue;
    }
    // Links back first (to certbot's own archive), then the renewal file: certbot sees the lineage whole or not at all.
    for (const l of p.links) {
      switchLink(rec.certbotDir, l.file, l.original);
      done.push({ kind: 'restore-link', lineage: m.name, path: l.file, from: l.target, to: l.original });
    }
    removeStrayTemps(m);
    for (const l of m.links) if (readlink(l.file) === l.original) setMtimeNs(l.file, l.mtimeNs);
    fsyncDir(m.liveDir);
    setMtimeNs(m.liveDir, m.liveDirMtimeNs);
    if (p.conf) {
      fs.renameSync(m.conf.to, m.conf.from);
      fsyncDir(path.dirname(m.conf.from));
      done.push({ kind: 'restore-conf', lineage: m.name, path: m.conf.to, to: m.conf.from });
    }
    Object.assign(v, { status: 'reverted', reason: 'certbot’s links and renewal file are as they were' });
  }
  if (!conflicts) {
    setMtimeNs(path.join(rec.certbotDir, 'renewal'), rec.renewalDirMtimeNs);
  }
  rec.state = conflicts ? 'reverting' : 'reverted';
  writeRecord(paths, rec, now());
  return { lineages: verdicts, done };
}
