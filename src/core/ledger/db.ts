/**
 * The database the ledger talks to, as the small synchronous subset of
 * better-sqlite3 that certctl uses. better-sqlite3 implements it as it is
 * (the embedded default); postgres.ts implements it over PostgreSQL, so a
 * fleet can share one ledger without any caller changing: the planner's
 * snapshot, the order journal and the run lock all stay synchronous.
 *
 * SQL is written once, in SQLite's dialect; dialect.ts rewrites it for
 * PostgreSQL.
 */

/** Parameters: one object for `@name` placeholders, or positional values for `?`. */
export type Params = unknown[];

export interface LedgerStatement {
  get(...params: Params): unknown;
  all(...params: Params): unknown[];
  run(...params: Params): { changes: number };
  iterate(...params: Params): IterableIterator<unknown>;
  /** Rows as arrays of column values, in SELECT order (renewalScan's hot path). */
  raw(toggle?: boolean): LedgerStatement;
  /** Only the first column's value (`SELECT count(*)`). */
  pluck(toggle?: boolean): LedgerStatement;
}

/** A function that runs inside a transaction; nested calls become savepoints. */
export interface LedgerTransaction<T> {
  (): T;
  deferred(): T;
  /**
   * Take the write lock first. SQLite: BEGIN IMMEDIATE. PostgreSQL: BEGIN and
   * an advisory lock held to COMMIT, which serialises writers across hosts the
   * same way, so every check-then-write stays race-free.
   */
  immediate(): T;
}

export interface LedgerDb {
  prepare(sql: string): LedgerStatement;
  /** One or more statements, no parameters (migrations). */
  exec(sql: string): unknown;
  transaction<T>(fn: () => T): LedgerTransaction<T>;
  /**
   * Rows of one SELECT (as arrays), `size` at a time, read as they are consumed: PostgreSQL
   * through a server-side cursor in a REPEATABLE READ READ ONLY transaction (the bridge would
   * otherwise fetch every row of a statement at once). better-sqlite3 has no such method: the
   * caller iterates the statement (SQLite steps through it as it goes).
   */
  cursor?(sql: string, params: Params, size: number): Generator<unknown[][]>;
  /** Only `user_version` (read, or `user_version = N`) is portable. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/** A PostgreSQL connection URL, as `--ledger` / CERTCTL_LEDGER take it. */
export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/** The URL without its password, for messages and logs. */
export function redactUrl(s: string): string {
  try {
    const u = new URL(s);
    if (u.password) u.password = '***';
    // libpq's URI parameters that carry a secret: ?password=… and ?sslpassword=… (the client key's passphrase).
    for (const k of [...u.searchParams.keys()]) if (/^(ssl)?password$/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return s.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@').replace(/([?&](?:ssl)?password=)[^&#\s]*/gi, '$1***');
  }
}
