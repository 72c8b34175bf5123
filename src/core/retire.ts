/**
 * Deleting a lineage (`certctl delete`, `certctl revoke --delete-after`): its
 * live/ and archive/ directories and its settings go, so renew stops; the
 * ledger keeps its certificates (they still count against the CA's limits,
 * and `plan` still sees them). The caller holds the run lock.
 *
 * Crash-safe as one step, journalled in the lineage row itself:
 *   1. the row is marked `deleting` (from here the lineage is gone for renew);
 *   2. live/<name>/ and archive/<name>/ are renamed into <state>/trash/
 *      (same file system: each an atomic rename);
 *   3. ONE ledger transaction removes the row (Ledger.retireLineage);
 *   4. trash/ is emptied.
 * A kill anywhere leaves the lineage whole (before 1) or marked; the next
 * run of renew, issue or delete (finishDeletions) does whatever of 2–4 is
 * left. Never a half lineage that renew would try to renew.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunEnv } from './env.js';
import type { Ledger } from './ledger/ledger.js';
import { InputError } from './errors.js';
import { quote } from './names.js';
import { LineageStore } from './store/lineage.js';
import { checkDirChain, fsyncDir } from './store/atomic.js';
import { readMigrationRecord } from './import/migrate.js';

export interface DeleteOutcome {
  lineage: string;
  names: string[];
  /** Certificates the ledger keeps for the limits (no longer bound to a lineage). */
  certificatesKept: number;
  /** Directories removed. */
  removed: string[];
}

/** Where a deletion puts the directories it removes, below the state directory (same file system, so a rename). */
function trashDir(env: RunEnv): string {
  return path.join(env.paths.root, 'trash');
}

/** Steps 2–4 for a lineage marked `deleting`. Idempotent: each step checks what a killed run left. */
function finish(env: RunEnv, ledger: Ledger, name: string): DeleteOutcome {
  const l = ledger.lineage(name);
  const store = new LineageStore(env.paths);
  const trash = trashDir(env);
  checkDirChain(env.paths.root, trash, true);
  const removed: string[] = [];
  const stamp = `${process.pid}-${env.now()}`;
  for (const [dir, kind] of [[store.liveDir(name), 'live'], [store.archiveDir(name), 'archive']] as const) {
    let exists = false;
    try {
      fs.lstatSync(dir);
      exists = true;
    } catch {
      /* already moved (or never there) */
    }
    if (!exists) continue;
    fs.renameSync(dir, path.join(trash, `${kind}.${stamp}.${name}`));
    fsyncDir(path.dirname(dir));
    removed.push(dir);
  }
  fsyncDir(trash);
  const kept = ledger.retireLineage(name, env.now());
  emptyTrash(env);
  return { lineage: name, names: l?.names ?? [], certificatesKept: kept, removed };
}

function emptyTrash(env: RunEnv): void {
  const trash = trashDir(env);
  // Never through a link: readdir and rm below it would follow one and empty whatever it points at.
  const st = fs.lstatSync(trash, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) {
    env.sink.attention(`${trash} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}: certctl leaves it and what it points at alone (remove it: rm ${trash}).`);
    return;
  }
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(trash);
  } catch {
    return;
  }
  for (const e of entries) fs.rmSync(path.join(trash, e), { recursive: true, force: true });
}

/** Finish every deletion a killed run left (renew, issue and delete call this under the run lock). */
export function finishDeletions(env: RunEnv, ledger: Ledger): string[] {
  const names = ledger.lineagesBeingDeleted();
  for (const n of names) {
    finish(env, ledger, n);
    env.sink.info(`Finished deleting the lineage ${n} (an earlier certctl delete was interrupted).`);
  }
  if (!names.length) emptyTrash(env);
  return names;
}

/**
 * Why `name` cannot be deleted now, or null: certbot's live/NAME links point at it (certctl migrate
 * certbot, not reverted) — removing certctl's live/NAME would leave the paths the web server reads
 * dangling. Checked by delete and by revoke --delete-after before anything is sent or moved.
 */
export function deletionBlocker(env: RunEnv, name: string): InputError | null {
  const rec = readMigrationRecord(env.paths);
  if (!rec || rec.state === 'reverted') return null;
  const m = rec.lineages.find((x) => x.name === name);
  if (!m || !m.links.some((l) => readlinkOrNull(l.file) === l.target)) return null;
  return new InputError(
    `certbot's ${m.liveDir} links point at the lineage ${name} (certctl migrate certbot): deleting it would leave them dangling and the web server without its certificate; nothing was deleted.`,
    `Put certbot's links back first: certctl migrate certbot ${rec.certbotDir} --revert, then delete.`,
  );
}

function readlinkOrNull(p: string): string | null {
  try {
    return fs.readlinkSync(p);
  } catch {
    return null;
  }
}

/** Delete the lineage `name` (checked first: an unknown lineage changes nothing). */
export function deleteLineage(env: RunEnv, ledger: Ledger, name: string): DeleteOutcome {
  const l = ledger.lineage(name);
  if (!l) throw new InputError(`There is no lineage named ${quote(name)} in this ledger: nothing was deleted.`, 'certctl status lists the lineages.');
  const blocked = deletionBlocker(env, name);
  if (blocked) throw blocked;
  // Before anything moves: a planted link or foreign directory where the lineage lives is refused.
  new LineageStore(env.paths).assertWritable(name);
  // …and so is a planted trash/ (before the mark: a refused delete leaves the lineage as it was).
  checkDirChain(env.paths.root, trashDir(env), true);
  if (!l.settings.deleting) ledger.setLineageSettings(name, { ...l.settings, deleting: env.now() }, env.now());
  const out = finish(env, ledger, name);
  return { ...out, names: l.names };
}
