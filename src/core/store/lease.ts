/**
 * One host renews a lineage at a time: a lease per lineage, a row in the
 * shared ledger (Ledger.tryLease), instead of one run lock for the whole
 * fleet. Ten hosts then renew ten different lineages at the same time, and
 * never one lineage twice. The holder's heartbeat pushes the expiry forward
 * while it works; a holder that died leaves a lease that expires (judged by
 * the database server's clock), after which another host takes it and resumes
 * the journalled order. On the same host and machine a dead pid frees it at once.
 *
 * Only a shared (PostgreSQL) ledger uses leases: SQLite keeps its single run
 * lock (store/lock.ts), which already makes every lineage one renewal.
 */
import { utc } from '../clock.js';
import os from 'node:os';
import type { Ledger, LeaseHolder, LeaseRow } from '../ledger/ledger.js';
import { LockedError } from '../errors.js';
import { alive } from './lock.js';

/** A lease lives this long without a heartbeat (the run lock's staleness rule, LOCK_STALE_MS). */
export const LEASE_TTL_MS = 10 * 60_000;
/** The heartbeat comes every tenth of the lease's life, at most every minute (the run lock's LOCK_HEARTBEAT_MS). */
export function leaseHeartbeatMs(ttlMs: number): number {
  return Math.max(200, Math.min(60_000, Math.floor(ttlMs / 10)));
}

export interface HeldLease {
  readonly lineage: string;
  /** False once the heartbeat found the lease taken by another host (this process must not journal anything more). */
  held(): boolean;
  release(): void;
}

/** This process as a lease holder: the fleet host name, the machine, the pid. */
export function leaseHolder(ledger: Ledger): LeaseHolder {
  return { host: ledger.host, machine: os.hostname(), pid: process.pid };
}

/** Holds in this process (renew's walk takes the lease, obtain takes it again): one row, released by the last. */
const holds = new Map<Ledger, Map<string, { count: number; timer: NodeJS.Timeout; lost: boolean }>>();

/** Whether a lineage's renewals use leases on this ledger: a shared (PostgreSQL) one. */
export function usesLeases(ledger: Ledger): boolean {
  return ledger.backend === 'postgres';
}

/**
 * Take the lineage's lease, or return who holds it. Re-entrant within the process. `ttlMs` is how long
 * it lives without a heartbeat (default LEASE_TTL_MS).
 */
export function tryAcquireLease(ledger: Ledger, lineage: string, now: () => number, ttlMs = LEASE_TTL_MS): HeldLease | { holder: LeaseRow } {
  const me = leaseHolder(ledger);
  let mine = holds.get(ledger);
  const cur = mine?.get(lineage);
  if (cur) {
    cur.count++;
    return handle(ledger, lineage, me);
  }
  const r = ledger.tryLease(lineage, me, now(), ttlMs, alive);
  if (!r.ok) return { holder: r.holder };
  const entry = { count: 1, lost: false, timer: setInterval(() => beat(), leaseHeartbeatMs(ttlMs)) };
  const beat = () => {
    try {
      if (!ledger.heartbeatLease(lineage, me, now(), ttlMs)) entry.lost = true;
    } catch {
      /* the database is unreachable now: the next beat tries again; the lease may expire meanwhile */
    }
  };
  entry.timer.unref();
  if (!mine) holds.set(ledger, (mine = new Map()));
  mine.set(lineage, entry);
  return handle(ledger, lineage, me);
}

/** The lineage's lease, or LockedError (exit 9) naming the host that renews it now. */
export function acquireLease(ledger: Ledger, lineage: string, now: () => number, ttlMs = LEASE_TTL_MS): HeldLease {
  const r = tryAcquireLease(ledger, lineage, now, ttlMs);
  if ('holder' in r) throw leaseBusy(lineage, r.holder);
  return r;
}

export function leaseBusy(lineage: string, h: LeaseRow): LockedError {
  return new LockedError(
    `Host ${h.host} (pid ${h.pid}) is renewing ${lineage} right now (lease taken ${utc(h.acquired_at)}, expires ${utc(h.expires_at)} unless renewed).`,
    'Nothing was sent. Run again later: a host that died leaves a lease that expires, and the next run resumes its order.',
  );
}

/** True while this process holds the lineage's lease (in this process's books; the ledger's check is Ledger.holdsLease). */
export function holdsLeaseHere(ledger: Ledger, lineage: string): boolean {
  const e = holds.get(ledger)?.get(lineage);
  return Boolean(e && !e.lost);
}

function handle(ledger: Ledger, lineage: string, me: LeaseHolder): HeldLease {
  let released = false;
  return {
    lineage,
    held: () => holdsLeaseHere(ledger, lineage),
    release() {
      if (released) return;
      released = true;
      const mine = holds.get(ledger);
      const e = mine?.get(lineage);
      if (!e || --e.count > 0) return;
      clearInterval(e.timer);
      mine!.delete(lineage);
      if (!mine!.size) holds.delete(ledger);
      try {
        ledger.releaseLease(lineage, me);
      } catch {
        /* the ledger is gone: the lease expires */
      }
    },
  };
}
