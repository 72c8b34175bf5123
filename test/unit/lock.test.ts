import { afterAll, afterEach, describe, it, expect } from 'vitest';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { acquireRunLock } from '../../src/core/store/lock.js';
import { ExitCode, LockedError } from '../../src/core/errors.js';
import { Ledger as LedgerClass } from '../../src/core/ledger/ledger.js';
import { newLedgerLocation } from '../helpers/ledgers.js';
import Database from 'better-sqlite3';
import pg from 'pg';

describe.each(BACKENDS)('run lock on the %s ledger', (backend) => {
  afterAll(stopTestPostgres);

  const open: Ledger[] = [];
  afterEach(() => open.splice(0).forEach((l) => l.close()));
  async function ledger(): Promise<Ledger> {
    const { ledger } = await openTestLedger(backend, 'certctl-lock-');
    open.push(ledger);
    return ledger;
  }
  const rows = (l: Ledger) => l.db.prepare('SELECT pid FROM locks').all() as { pid: number }[];

  describe('run lock', () => {
    it('is counted inside one process: the row goes only when the last hold is released (twice-release is harmless)', async () => {
      const l = await ledger();
      const a = await acquireRunLock(l, 0);
      const b = await acquireRunLock(l, 0);
      a.release();
      a.release();
      expect(rows(l)).toEqual([{ pid: process.pid }]);
      b.release();
      expect(rows(l)).toEqual([]);
    });

    it('a holder whose process is gone is taken over; a live one is not', async () => {
      const l = await ledger();
      // A pid that existed and has exited: a finished child's.
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      l.db.prepare('INSERT INTO locks (name, pid, host, acquired_at, heartbeat) VALUES (?, ?, ?, ?, ?)').run('run', dead, os.hostname(), 1, 1);
      const h = await acquireRunLock(l, 0);
      expect(rows(l)).toEqual([{ pid: process.pid }]);
      h.release();
      // A live holder on this host (pid 1 always exists) blocks, with a message naming it.
      l.db.prepare('INSERT INTO locks (name, pid, host, acquired_at, heartbeat) VALUES (?, ?, ?, ?, ?)').run('run', 1, os.hostname(), Date.now(), Date.now());
      await expect(acquireRunLock(l, 100)).rejects.toThrow(LockedError);
      await expect(acquireRunLock(l, 0)).rejects.toThrow(/pid 1 on /);
    });

    it('a holder on another host counts as gone only when its heartbeat is stale', async () => {
      const l = await ledger();
      l.db.prepare('INSERT INTO locks (name, pid, host, acquired_at, heartbeat) VALUES (?, ?, ?, ?, ?)').run('run', 4242, 'other-host', Date.now(), Date.now());
      await expect(acquireRunLock(l, 0)).rejects.toThrow(/other-host/);
      l.db.prepare('UPDATE locks SET heartbeat = ?').run(Date.now() - 11 * 60_000);
      const h = await acquireRunLock(l, 0);
      expect(rows(l)).toEqual([{ pid: process.pid }]);
      h.release();
    });
  });
});

describe.each(BACKENDS)('the ledger write lock held by another process on the %s ledger', (backend) => {
  afterAll(stopTestPostgres);

  it('is waited for as long as --lock-wait says (busy timeout / lock_timeout), then LockedError (exit 9); the lock table is untouched', async () => {
    const { location } = await newLedgerLocation(backend, 'certctl-busy-');
    LedgerClass.open(location).close();
    // Another process holds the database's own write lock: a SQLite BEGIN IMMEDIATE, or a PostgreSQL
    // session holding the advisory lock every certctl writer takes.
    let release: () => Promise<void>;
    if (backend === 'sqlite') {
      const other = new Database(location);
      other.exec('BEGIN IMMEDIATE');
      release = async () => {
        other.exec('ROLLBACK');
        other.close();
      };
    } else {
      const other = new pg.Client({ connectionString: location });
      await other.connect();
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(1667592820)');
      release = async () => {
        await other.query('ROLLBACK');
        await other.end();
      };
    }
    const l = LedgerClass.open(location, { busyTimeoutMs: 300 });
    try {
      const err = await acquireRunLock(l, 300).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LockedError);
      expect((err as LockedError).exitCode).toBe(ExitCode.LOCKED);
      expect((err as Error).message).toMatch(/write lock of the ledger .* longer than --lock-wait \(0 s\); it is not a certctl run/);
      await release();
      // Once it is gone, the lock is taken at once.
      const h = await acquireRunLock(l, 0);
      expect(l.db.prepare('SELECT pid FROM locks').all()).toEqual([{ pid: process.pid }]);
      h.release();
      expect(l.db.prepare('SELECT pid FROM locks').all()).toEqual([]);
    } finally {
      l.close();
    }
  });
});

