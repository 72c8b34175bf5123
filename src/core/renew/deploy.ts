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
    base.files.push(...store.writeStoredVersion(l.name, version, files));
    const layout = files.map((f) => split(f.file));
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
    env.sink.verbose(`${l.name}: wrote version ${version} from the ledger into ${path.dirname(store.archiveDir(l.name))}`);
    removeFinishedPendingKeys(env, ledger, l.name);
    return { ...base, action: 'deployed', reason: `version ${version} from the ledger${renewedBy ? ` (renewed by ${renewedBy})` : ''}; 0 orders`, exitCode: ExitCode.OK };
  } catch (err) {
    if (!(err instanceof CertctlError)) throw err;
    return { ...base, action: 'failed', reason: err.message, exitCode: err.exitCode };
  }
}

/**
 * This host's pending/ copies of the keys of orders of `lineage` that are over (stored, failed or
 * closed): another host finished the order this host had begun (its key is in the ledger's
 * version_files now, sealed, or of no use), so the copy left here since this host was killed goes.
 */
function removeFinishedPendingKeys(env: RunEnv, ledger: Ledger, lineage: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(env.paths.pending);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = /^order-(\d+)-[a-z0-9-]+\.key$/.exec(e);
    if (!m) continue;
    const o = ledger.order(Number(m[1]));
    if (o && o.lineage === lineage && o.state !== 'open') {
      fs.rmSync(path.join(env.paths.pending, e), { force: true });
      env.sink.verbose(`${lineage}: removed ${e} from pending/ (order ${o.id} was finished${o.state === 'done' ? ' and stored' : ''})`);
    }
  }
}
