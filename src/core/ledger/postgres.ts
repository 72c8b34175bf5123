/**
 * The ledger on PostgreSQL: the LedgerDb interface (db.ts) over a shared
 * database, so many hosts keep one ledger. Queries are SQLite's, rewritten by
 * dialect.ts; calls are synchronous through pg-bridge.ts.
 *
 * Writers are serialised as SQLite serialises them: an IMMEDIATE transaction
 * is BEGIN + pg_advisory_xact_lock(LEDGER_LOCK_KEY), released at COMMIT or
 * ROLLBACK. Every check-then-write certctl does (the run lock row, an
 * order's journal, a certificate seen twice) runs in one, so two hosts can
 * never both pass the check. Advisory locks are per database, so two ledgers
 * on one server do not wait for each other.
 */
import type { LedgerDb, LedgerStatement, LedgerTransaction, Params } from './db.js';
import { bindValues, toPostgres } from './dialect.js';
import { LOCK_TIMEOUT_MS, PgBridge, PostgresError } from './pg-bridge.js';
import { LockedError } from '../errors.js';

/** The advisory lock every certctl writer takes: 'cert' in ASCII. */
export const LEDGER_LOCK_KEY = 0x63657274;

/** PRAGMA user_version has no PostgreSQL equivalent: the migration number lives in this one-row table. */
const SCHEMA_VERSION_TABLE = 'schema_version';

class PgStatement implements LedgerStatement {
  constructor(
    private readonly db: PostgresDb,
    private readonly sql: string,
    private readonly mode: 'rows' | 'raw' | 'pluck' = 'rows',
  ) {}

  private query(params: Params) {
    const t = toPostgres(this.sql);
    const res = this.db.bridge.query(t.text, bindValues(t, params), this.mode !== 'rows');
    if (this.mode === 'pluck') res.rows = res.rows.map((r) => (r as unknown[])[0]);
    return res;
  }

  get(...params: Params): unknown {
    return this.query(params).rows[0];
  }

  all(...params: Params): unknown[] {
    return this.query(params).rows;
  }

  run(...params: Params): { changes: number } {
    return { changes: this.query(params).rowCount };
  }

  /** All rows are fetched at once (no server-side cursor); the ledger's result sets fit in memory. */
  iterate(...params: Params): IterableIterator<unknown> {
    return this.query(params).rows[Symbol.iterator]();
  }

  raw(toggle = true): LedgerStatement {
    return new PgStatement(this.db, this.sql, toggle ? 'raw' : 'rows');
  }

  pluck(toggle = true): LedgerStatement {
    return new PgStatement(this.db, this.sql, toggle ? 'pluck' : 'rows');
  }
}

export class PostgresDb implements LedgerDb {
  readonly bridge: PgBridge;
  /** Open transactions and savepoints, outermost first; `locked` once the advisory lock is held. */
  private depth = 0;
  private locked = false;

  /** `lockTimeoutMs`: how long a writer waits for the ledger's write lock (the command's --lock-wait; default LOCK_TIMEOUT_MS). */
  readonly lockTimeoutMs: number;

  constructor(url: string, o: { lockTimeoutMs?: number } = {}) {
    // lock_timeout 0 would mean 'wait for ever': --lock-wait 0 is 'do not wait', 1 ms.
    this.lockTimeoutMs = Math.max(1, Math.round(o.lockTimeoutMs ?? LOCK_TIMEOUT_MS));
    this.bridge = new PgBridge(url, this.lockTimeoutMs);
    try {
      // The version table is created once, under the writers' lock, so two hosts opening an empty database at once do not collide.
      // Once it exists, opening takes no lock at all.
      const exists = (this.bridge.query(`SELECT to_regclass('${SCHEMA_VERSION_TABLE}') IS NOT NULL AS e`).rows[0] as { e: boolean }).e;
      if (!exists) {
        this.transaction(() => {
          this.bridge.query(
            `CREATE TABLE IF NOT EXISTS ${SCHEMA_VERSION_TABLE} (version BIGINT NOT NULL);
             INSERT INTO ${SCHEMA_VERSION_TABLE} (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ${SCHEMA_VERSION_TABLE})`,
          );
        }).immediate();
      }
    } catch (err) {
      try {
        this.bridge.close();
      } catch {
        /* never connected */
      }
      throw err;
    }
  }

  prepare(sql: string): LedgerStatement {
    return new PgStatement(this, sql);
  }

  exec(sql: string): void {
    this.bridge.query(toPostgres(sql).text);
  }

  *cursor(sql: string, params: Params, size: number): Generator<unknown[][]> {
    const t = toPostgres(sql);
    const values = bindValues(t, params);
    const outer = this.depth === 0;
    if (outer) {
      // One snapshot for every FETCH, as SQLite's statement reads one; nothing written.
      this.bridge.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      this.bridge.inTransaction = true;
      // The server sorts the whole result once (status: every lineage's rows): in memory, not in temporary files.
      this.bridge.query("SET LOCAL work_mem = '64MB'");
    }
    this.depth++;
    const name = `certctl_cursor${this.depth}`;
    let done = false;
    try {
      this.bridge.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${t.text}`, values);
      for (;;) {
        const rows = this.bridge.query(`FETCH ${Math.max(1, Math.floor(size))} FROM ${name}`, [], true).rows as unknown[][];
        if (rows.length) yield rows;
        if (rows.length < size) break;
      }
      this.bridge.query(`CLOSE ${name}`);
      done = true;
    } finally {
      this.depth--;
      if (outer) {
        try {
          // Read only: a reader that stopped early (| head) or failed ends it the same way.
          this.bridge.query(done ? 'COMMIT' : 'ROLLBACK');
        } catch {
          /* the connection is gone: the server ends the transaction */
        }
        this.bridge.inTransaction = false;
      }
    }
  }

  pragma(source: string, options?: { simple?: boolean }): unknown {
    const set = /^\s*user_version\s*=\s*(\d+)\s*$/i.exec(source);
    if (set) {
      this.bridge.query(`UPDATE ${SCHEMA_VERSION_TABLE} SET version = ${Number(set[1])}`);
      return [];
    }
    if (/^\s*user_version\s*$/i.test(source)) {
      const v = (this.bridge.query(`SELECT version FROM ${SCHEMA_VERSION_TABLE}`).rows[0] as { version: number } | undefined)?.version ?? 0;
      return options?.simple ? v : [{ user_version: v }];
    }
    throw new Error(`PRAGMA ${source} is SQLite's; the PostgreSQL ledger has no equivalent.`);
  }

  transaction<T>(fn: () => T): LedgerTransaction<T> {
    const run = (immediate: boolean): T => {
      const outer = this.depth === 0;
      const sp = `certctl_sp${this.depth}`;
      // An outer writer's BEGIN and its lock go in one round trip (one simple query, two statements): every
      // journal step is a transaction, and each round trip costs both processes CPU (BENCHMARKS.md, fleet).
      // The connection may still be replaced before it (inTransaction is not yet set): nothing has begun.
      const lockWithBegin = outer && immediate;
      if (!outer) this.bridge.query(`SAVEPOINT ${sp}`);
      else if (!immediate) {
        // A deferred transaction is a read view (readSnapshot): one snapshot for all its statements, as SQLite gives.
        this.bridge.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      }
      this.depth++;
      try {
        if (immediate && !this.locked) {
          const lock = `SELECT pg_advisory_xact_lock(${LEDGER_LOCK_KEY})`;
          try {
            if (lockWithBegin) {
              try {
                this.bridge.query(`BEGIN; ${lock}`);
              } finally {
                // Whether the lock failed or not, BEGIN may have opened the transaction: the ROLLBACK below ends it.
                this.bridge.inTransaction = true;
              }
            } else {
              this.bridge.inTransaction = true;
              this.bridge.query(lock);
            }
          } catch (err) {
            if ((err as PostgresError).code !== '55P03') throw err;
            throw new LockedError(
              `Another session has held the PostgreSQL ledger's write lock for more than ${this.lockTimeoutMs / 1000} s (pg_advisory_xact_lock(${LEDGER_LOCK_KEY})).`,
              'Wait for it to finish, or raise --lock-wait; see pg_locks and pg_stat_activity for who holds it.',
            );
          }
          this.locked = true;
        }
        this.bridge.inTransaction = true;
        const result = fn();
        if (result && typeof (result as { then?: unknown }).then === 'function') throw new TypeError('Transaction function cannot return a promise');
        this.bridge.query(outer ? 'COMMIT' : `RELEASE SAVEPOINT ${sp}`);
        return result;
      } catch (err) {
        try {
          this.bridge.query(outer ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${sp}`);
          if (!outer) this.bridge.query(`RELEASE SAVEPOINT ${sp}`);
        } catch {
          /* the connection is gone: the server rolls back on its own */
        }
        throw err;
      } finally {
        this.depth--;
        if (outer) {
          this.locked = false;
          this.bridge.inTransaction = false;
        }
      }
    };
    const tx = (() => run(false)) as LedgerTransaction<T>;
    tx.deferred = () => run(false);
    tx.immediate = () => run(true);
    return tx;
  }

  close(): void {
    this.bridge.close();
  }
}
