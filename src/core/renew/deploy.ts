/**
 * A fleet host writing its lineages from the shared ledger (docs/fleet.md):
 * the certificate is ordered once, by whichever host renews it; every host
 * that deploys the lineage (lineage_hosts) writes archive/ + live/ from the
 * ledger's copy of the version (keys opened with the fleet key) when the
 * ledger holds a newer version than the host last wrote, then runs its own
 * deploy hooks. `renew` (and the daemon) does this first on every run;
 * `issue` on a host for a set the fleet holds does it for that lineage.
 *
 * Journalled like the storing step: `pending_version` is set before the first
 * file is written and cleared (with `deployed_version`) only after live/ is
 * switched and the deploy hooks ran. A host killed anywhere in between finds
 * the journal on its next run and writes the version again: files already
 * there with the same bytes are kept, missing ones written (atomic, keys
 * 0600), each key checked against its certificate before live/ moves, and
 * the hooks run (a reload run twice is harmless; one never run is not).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunEnv } from '../env.js';
import type { Ledger, LineageHostRow, LineageRow } from '../ledger/ledger.js';
import { LineageStore, type VersionFile } from '../store/lineage.js';
import { writeFileAtomic, ensureDir } from '../store/atomic.js';
import { CertctlError, ExitCode, StateError } from '../errors.js';
import { hookSpecs, runHookSpec, type HookResult } from './hooks.js';

export interface DeployOutcome {
  lineage: string;
  names: string[];
  version: number;
  action: 'deployed' | 'failed';
  reason: string;
  exitCode: number;
  /** The host that stored this version (renewed it), when known. */
  renewedBy: string | null;
  files: string[];
  hooks: HookResult[];
}

export interface DeployOptions {
  /** Only these lineages. */
  only?: string[];
  /** The command's --deploy-hook (else the lineage's own). */
  deployHook?: string;
}

/** What a host row says about its files of lineage `l`: does it need to write the ledger's current version? */
export function needsDeploy(l: Pick<LineageRow, 'name' | 'current_version'>, row: LineageHostRow, store: LineageStore): boolean {
  if (l.current_version <= 0) return false;
  if (row.pending_version !== null || row.deployed_version < l.current_version) return true;
  // Recorded as written, but its live/ directory is gone from this host (a rebuilt machine): write it again.
  return !fs.existsSync(store.liveDir(l.name));
}

/** Write every lineage this host deploys whose current version it has not written (see the module comment). */
export async function deployFromLedger(env: RunEnv, ledger: Ledger, o: DeployOptions = {}): Promise<DeployOutcome[]> {
  if (!ledger.fleetMode) return [];
  const store = new LineageStore(env.paths);
  const only = o.only?.length ? new Set(o.only) : null;
  const out: DeployOutcome[] = [];
  for (const row of ledger.hostLineages(ledger.host)) {
    if (only && !only.has(row.lineage)) continue;
    const l = ledger.lineage(row.lineage);
    if (!l || l.settings.deleting || !needsDeploy(l, row, store)) continue;
    out.push(await deployLineage(env, ledger, store, l, o.deployHook));
  }
  return out;
}

/** `file` as stored ("privkey-ecdsa.pem") → base + ext. */
function split(file: string): Pick<VersionFile, 'base' | 'ext'> {
  const dot = file.lastIndexOf('.');
  return dot > 0 ? { base: file.slice(0, dot), ext: file.slice(dot) } : { base: file, ext: '' };
}

async function deployLineage(env: RunEnv, ledger: Ledger, store: LineageStore, l: LineageRow, deployHook: string | undefined): Promise<DeployOutcome> {
  const version = l.current_version;
  const renewedBy = ledger.renewedBy(l.name)?.host ?? null;
  const base = { lineage: l.name, names: l.names, version, renewedBy, files: [] as string[], hooks: [] as HookResult[] };
  try {
    store.assertWritable(l.name);
    const files = ledger.versionFiles(l.name, version);
    if (!files.length) {
      throw new CertctlError(
        `The ledger holds no files of ${l.name} version ${version}: it was stored by a host without the fleet key${renewedBy ? ` (${renewedBy})` : ''}, or before the ledger kept certificates.`,
        ExitCode.CONFIG,
        `Give every host the fleet key (docs/fleet.md); the next renewal of ${l.name} stores it in the ledger (or now: certctl renew --force-renewal --cert-name ${l.name} on a host with the key).`,
      );
    }
    ledger.setHostPending(l.name, ledger.host, version);
    const dir = store.archiveDir(l.name);
    ensureDir(dir, 0o700);
    const layout = files.map((f) => split(f.file));
    // A run killed mid-write may have left a temporary file (atomic.ts names them .<file>.<hex>.tmp):
    // for a key, a copy no run would ever remove. This version's are removed before it is written again.
    const mine = new Set(layout.map((f) => `${f.base}${version}${f.ext ?? ''}`));
    for (const e of fs.readdirSync(dir)) {
      const m = /^\.(.+)\.[0-9a-f]{12}\.tmp$/.exec(e);
      if (m && mine.has(m[1]!)) fs.rmSync(path.join(dir, e), { force: true });
    }
    for (const f of files) {
      const target = store.archiveFile(l.name, version, split(f.file));
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(target);
      } catch {
        /* not there yet */
      }
      if (st?.isFile() && fs.readFileSync(target, 'utf8') === f.data) {
        if (f.secret && (st.mode & 0o077) !== 0) fs.chmodSync(target, 0o600);
        base.files.push(target);
        continue;
      }
      if (st && !st.isSymbolicLink()) {
        throw new StateError(
          `${target} already exists and is not the ledger's ${f.file} of ${l.name} version ${version}: certctl never writes over an archived file (its key may be the only copy).`,
          `Move ${target} away (or the whole ${dir}) and run certctl again.`,
        );
      }
      // (A planted link is replaced by the rename, never written through.)
      writeFileAtomic(target, f.data, f.secret ? 0o600 : 0o644);
      base.files.push(target);
    }
    // Each key belongs to its certificate, and each certificate is the one the ledger records, before live/ moves.
    const { versionLayout } = await import('../obtain.js');
    const certs = ledger.currentCertificates(l.name);
    const { pairs } = versionLayout(certs.map((c) => c.role ?? 'main'));
    const serialOf = new Map(certs.map((c) => [c.role ?? 'main', c.serial]));
    const problems = await store.checkVersion(l.name, version, layout, pairs.map((p) => ({ ...p, serial: serialOf.get(p.role) })));
    if (problems.length) throw new StateError(`The ledger's copy of ${l.name} version ${version} is not whole: ${problems.join('; ')}; live/ was left as it was.`, 'Renew the certificate on a host with the fleet key: certctl renew --force-renewal --cert-name ' + l.name);
    base.files.push(...store.activate(l.name, version, layout));
    for (const h of hookSpecs(l.settings.hookFiles?.deploy, deployHook ?? l.settings.deployHook)) {
      base.hooks.push(await runHookSpec('deploy-hook', h, { RENEWED_LINEAGE: store.liveDir(l.name), RENEWED_DOMAINS: l.names.join(' ') }));
    }
    ledger.setHostDeployed(l.name, ledger.host, version, env.now());
    env.sink.verbose(`${l.name}: wrote version ${version} from the ledger into ${path.dirname(dir)}`);
    return { ...base, action: 'deployed', reason: `version ${version} from the ledger${renewedBy ? ` (renewed by ${renewedBy})` : ''}; 0 orders`, exitCode: ExitCode.OK };
  } catch (err) {
    if (!(err instanceof CertctlError)) throw err;
    return { ...base, action: 'failed', reason: err.message, exitCode: err.exitCode };
  }
}
