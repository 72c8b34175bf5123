import { afterAll, afterEach, describe, it, expect } from 'vitest';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { acquireRunLock } from '../../src/core/store/lock.js';
import { LockedError } from '../../src/core/errors.js';

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
