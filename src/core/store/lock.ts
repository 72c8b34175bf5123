/**
 * One certctl run at a time per ledger. The lock is a row in the ledger
 * (see Ledger.tryLock), so it is atomic, survives a crashed holder (a dead
 * pid is detected; a holder on another host must keep its heartbeat fresh),
 * and works the same for a ledger shared between hosts.
 */
import { utc } from '../clock.js';
import { interruption } from '../interrupt.js';
import os from 'node:os';
import type { Ledger } from '../ledger/ledger.js';
import { LockedError } from '../errors.js';

/** A holder on another host whose heartbeat is older than this is presumed dead. */
export const LOCK_STALE_MS = 10 * 60_000;
/** How often the holder refreshes its heartbeat. */
export const LOCK_HEARTBEAT_MS = 60_000;

/** Is a process of this machine still running (EPERM: running, someone else's)? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface HeldLock {
  release(): void;
}

/**
 * Holds of the lock inside this process (e.g. `apply --concurrency 4` runs
 * several issues at once): the row is taken by the first and deleted only
 * when the last lets go.
 */
const holds = new Map<Ledger, { count: number; timer: NodeJS.Timeout; name: string }>();

/** Take the ledger's run lock, waiting up to `waitMs` for another run to finish. */
/**
 * Take the run lock, waiting up to `waitMs` for another run to finish. `onWait` is told once, when
 * the lock is first found held, who holds it (so a run does not wait silently).
 */
export async function acquireRunLock(
  ledger: Ledger,
  waitMs: number,
  now: () => number = Date.now,
  onWait?: (holder: { pid: number; host: string; acquired_at: number }) => void,
  name = 'run',
): Promise<HeldLock> {
  const me = { pid: process.pid, host: os.hostname() };
  const held = holds.get(ledger);
  if (held) {
    held.count++;
    return hold(ledger, me);
  }
  const deadline = Date.now() + waitMs;
  let delay = 50;
  for (;;) {
    let r: ReturnType<Ledger['tryLock']> | 'busy';
    try {
      r = ledger.tryLock(name, me, now(), LOCK_STALE_MS, alive);
    } catch (err) {
      // Not a certctl run but some process holding the ledger's own write lock (a SQLite transaction, a
      // PostgreSQL session): the database already waited its busy timeout / lock_timeout (--lock-wait).
      if (!isWriteLockBusy(err)) throw err;
      r = 'busy';
    }
    if (r !== 'busy' && r.ok) break;
    if (onWait && r !== 'busy' && !r.ok) {
      onWait(r.holder);
      onWait = undefined;
    }
    if (Date.now() >= deadline) {
      if (r === 'busy') {
        throw new LockedError(
          `Another process has held the write lock of the ledger ${ledger.file} for longer than --lock-wait (${Math.round(waitMs / 1000)} s); it is not a certctl run (no run lock row), so it may be a sqlite3/psql session or a stuck process.`,
          'Find and end that process (fuser / lsof on the ledger file; pg_stat_activity), or raise --lock-wait. Nothing was sent.',
        );
      }
      throw new LockedError(
        `Another certctl run (pid ${r.holder.pid} on ${r.holder.host}, since ${utc(r.holder.acquired_at)}) holds the lock on this ledger.`,
        'Wait for it to finish, or raise --lock-wait. A crashed holder is detected automatically. Nothing was sent.',
      );
    }
    await interruption.sleep(delay + Math.random() * delay); // a stop asked for (a signal) ends the wait
    delay = Math.min(1000, delay * 2);
  }
  const again = holds.get(ledger);
  if (again) {
    // Another hold in this process took it while we waited.
    again.count++;
    return hold(ledger, me);
  }
  const timer = setInterval(() => ledger.heartbeatLock(name, me, now()), LOCK_HEARTBEAT_MS);
  timer.unref();
  holds.set(ledger, { count: 1, timer, name });
  return hold(ledger, me);
}

/**
 * The run lock `renew` takes: on SQLite the ledger's one 'run' lock, as always; on a shared
 * (PostgreSQL) ledger one per fleet host ('run@<host>'), which keeps one renew at a time on a host
 * (its own files, its deploy hooks) while the hosts of the fleet renew side by side, each lineage
 * under its lease (store/lease.ts).
 */
export function renewLockName(ledger: Ledger): string {
  return ledger.backend === 'postgres' ? `run@${ledger.host}` : 'run';
}

function isWriteLockBusy(err: unknown): boolean {
  if (err instanceof LockedError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code === '55P03');
}

function hold(ledger: Ledger, me: { pid: number; host: string }): HeldLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      releaseHold(ledger, me);
    },
  };
}

function releaseHold(ledger: Ledger, me: { pid: number; host: string }): void {
  const held = holds.get(ledger);
  if (!held) return;
  if (--held.count > 0) return;
  clearInterval(held.timer);
  holds.delete(ledger);
  try {
    ledger.unlock(held.name, me);
  } catch {
    /* ledger already closed: the dead-pid check frees it */
  }
}
