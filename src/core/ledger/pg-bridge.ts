/**
 * Synchronous calls to PostgreSQL. The `pg` driver is asynchronous, and the
 * ledger's interface is not (every caller, from the planner's snapshot to
 * the run lock, reads and writes synchronously, as better-sqlite3 does). So
 * one worker thread owns a `pg.Client`; the calling thread posts a query on a
 * MessagePort and sleeps in Atomics.wait on a shared flag until the worker
 * has posted the answer and raised the flag, then takes it with
 * receiveMessageOnPort. Blocking the caller is what better-sqlite3 does too.
 *
 * The worker is plain CommonJS run with `eval`, so it works the same from
 * the TypeScript sources (tests) and the compiled dist/ (the CLI), and loads
 * `pg` from where this module resolves it.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { faultError, LedgerUnreachableError } from '../errors.js';
import { redactUrl } from './db.js';

export interface QueryResult {
  rows: unknown[];
  rowCount: number;
}

/** An error PostgreSQL (or the connection) reported, with its SQLSTATE code. */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

/** How long a writer waits for the ledger's write lock (the advisory lock) before failing. */
export const LOCK_TIMEOUT_MS = 30_000;

/**
 * The bridge thread's young generation: what it allocates (the driver's parse of an answer) is
 * garbage once posted, and V8's default (semi-spaces of up to 16 MB) let it grow for nothing —
 * 100,000 lineages on PostgreSQL, peak RSS side by side: status 184-191 -> 156-160 MB, --json status
 * 226 -> 190-200 MB, metrics 325 -> 289 MB, the same speed. Not a cap: what outlives it is promoted.
 */
const WORKER_YOUNG_MB = 4;

/** How long one call may take before the caller gives up (a lost worker, a hung server). */
const CALL_LIMIT_MS = 10 * 60_000;

const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
// Times are milliseconds since the epoch in BIGINT columns: read them as numbers, as SQLite gives them.
pg.types.setTypeParser(20, (v) => Number(v));
const flag = new Int32Array(workerData.flag);
const port = workerData.port;
// One connection at a time. A lost one (server restart, idle kill) is replaced at the next
// request that starts outside a transaction; inside one, the transaction is gone with it and
// the request fails (the caller's ROLLBACK path), as it would on a dropped SQLite handle.
let client = null;
let ready = null;
let fatal = null;
function connect() {
  fatal = null;
  // lock_timeout: a writer waits at most this long for the ledger's write lock (SQLite's busy timeout is 15 s);
  // idle_in_transaction_session_timeout: a stuck process cannot hold the fleet's write lock for ever.
  const c = new pg.Client({ connectionString: workerData.url, application_name: 'certctl', connectionTimeoutMillis: 15000, lock_timeout: workerData.lockTimeoutMs, idle_in_transaction_session_timeout: 300000 });
  c.on('error', (err) => { if (client === c) fatal = err; });
  c.on('end', () => { if (client === c && !fatal) fatal = Object.assign(new Error('the connection to PostgreSQL ended'), { code: LOST }); });
  client = c;
  ready = c.connect();
  ready.catch((err) => { if (client === c) fatal = err; });
}
connect();
function reply(msg) {
  port.postMessage(msg);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
// SQLSTATE connection_failure, for a connection that ended under a statement: the driver's own
// error for it ("Connection terminated unexpectedly") has no code, and the caller must see the
// unreachable ledger (exit 10, wait it out), not an internal error.
const LOST = '08006';
function failure(err) {
  const message = String((err && err.message) || err);
  const code = (err && err.code) || (fatal || /^Connection terminated/i.test(message) ? LOST : undefined);
  return { ok: false, message, code };
}
process.on('uncaughtException', (err) => reply(failure(err)));
port.on('message', async (req) => {
  try {
    if (req.op === 'close') {
      await ready.then(() => client.end(), () => {}).catch(() => {});
      reply({ ok: true, rows: [], rowCount: 0 });
      return;
    }
    if (fatal && !req.inTransaction) connect();
    await ready;
    if (fatal) throw fatal;
    const res = await client.query(req.values ? { text: req.text, values: req.values, rowMode: req.raw ? 'array' : undefined } : req.text);
    const last = Array.isArray(res) ? res[res.length - 1] : res;
    reply({ ok: true, rows: last ? last.rows : [], rowCount: last && last.rowCount !== null ? last.rowCount : 0 });
  } catch (err) {
    reply(failure(err));
  }
});
`;

export class PgBridge {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private closed = false;
  /** Set by the caller while a transaction is open: a lost connection must then fail, never silently reconnect. */
  inTransaction = false;

  private readonly callLimitMs: number;

  /** `lockTimeoutMs`: PostgreSQL's lock_timeout for this connection (how long a writer waits for the ledger's write lock). */
  /** The URL as it may be printed (no password). */
  private readonly shown: string;

  constructor(url: string, lockTimeoutMs = LOCK_TIMEOUT_MS) {
    this.shown = redactUrl(url);
    // A call waiting for a lock must be given up by PostgreSQL (lock_timeout, a clear error), not by this side first.
    this.callLimitMs = Math.max(CALL_LIMIT_MS, lockTimeoutMs + 60_000);
    const shared = new SharedArrayBuffer(4);
    this.flag = new Int32Array(shared);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const pgPath = createRequire(import.meta.url).resolve('pg');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { pgPath, url, flag: shared, port: port2, lockTimeoutMs }, transferList: [port2], resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB } });
    // Neither keeps the process alive: a CLI run ends when its work does.
    this.worker.unref();
    this.port.unref();
  }

  /**
   * Run one query (or, without values, one or more statements) and wait for
   * its answer. `raw` returns rows as arrays.
   */
  query(text: string, values?: unknown[], raw = false): QueryResult {
    return this.call({ text, values, raw, inTransaction: this.inTransaction });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.call({ op: 'close' });
    } finally {
      void this.worker.terminate();
    }
  }

  private call(req: Record<string, unknown>): QueryResult {
    if (this.closed && req.op !== 'close') throw new PostgresError('The PostgreSQL ledger is closed.', undefined);
    // An answer nobody waited for (a crash report between calls) is not this call's.
    while (receiveMessageOnPort(this.port)) {
      /* drop it */
    }
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(req);
    const deadline = Date.now() + this.callLimitMs;
    while (Atomics.load(this.flag, 0) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new PostgresError(`No answer from PostgreSQL within ${Math.round(this.callLimitMs / 60_000)} minutes.`, undefined);
      Atomics.wait(this.flag, 0, 0, Math.min(left, 1000));
    }
    const msg = receiveMessageOnPort(this.port)?.message as ({ ok: true } & QueryResult) | { ok: false; message: string; code?: string } | undefined;
    if (!msg) throw new PostgresError('The PostgreSQL worker raised its flag without an answer.', undefined);
    if (!msg.ok) {
      const err = new PostgresError(msg.message, msg.code);
      // The server is down or unreachable (at connect, or a statement after the connection was lost):
      // one sentence for every caller, and the daemon knows to wait for it.
      const unreachable = faultError(err, this.shown);
      throw unreachable instanceof LedgerUnreachableError ? unreachable : err;
    }
    return msg;
  }
}
