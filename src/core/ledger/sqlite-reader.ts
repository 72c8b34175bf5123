/**
 * One long SELECT on a SQLite ledger read in a worker thread, ahead of its consumer: `status` on
 * a large ledger spends about half its CPU in SQLite (stepping through one sorted statement and
 * turning its values into JavaScript) and half building and writing the report, one after the
 * other on one thread. Here the worker steps through the statement on its own connection while
 * the calling thread builds the report from the rows it has already sent: on 2 cores the two
 * halves overlap (BENCHMARKS.md "status at scale").
 *
 * The calling thread stays synchronous, as better-sqlite3 is (Ledger.statusPages is a generator
 * the CLI drives page by page): it takes each chunk with receiveMessageOnPort and sleeps in
 * Atomics.wait until the worker has posted one. The worker runs at most DEPTH chunks ahead, so
 * memory stays bounded whatever the size of the ledger. One statement on one connection is one
 * read transaction: the rows are one snapshot, as when the calling thread steps through it.
 *
 * The worker is plain CommonJS run with `eval` (as pg-bridge.ts' is), loading better-sqlite3 from
 * where this module resolves it, with the native addon by path.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** Chunks the worker may post before the calling thread has taken them. */
const DEPTH = 2;
/** How long the calling thread waits for one chunk before it gives up (a lost worker), at the least. */
const CHUNK_LIMIT_MS = 10 * 60_000;

const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const { port, file, addon, sql, params, size, depth, busyMs } = workerData;
// [0] chunks posted, [1] chunks taken, [2] stop asked for (the consumer ended early or failed).
const s = new Int32Array(workerData.shared);
let posted = 0;
function post(msg) {
  port.postMessage(msg);
  posted++;
  Atomics.store(s, 0, posted);
  Atomics.notify(s, 0);
}
try {
  const Database = require(workerData.sqlitePath);
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: busyMs, ...(addon ? { nativeBinding: addon } : {}) });
  try {
    let rows = [];
    for (const r of db.prepare(sql).raw().iterate(params)) {
      rows.push(r);
      if (rows.length < size) continue;
      if (Atomics.load(s, 2)) break;
      post({ rows });
      rows = [];
      for (let taken = Atomics.load(s, 1); posted - taken >= depth && !Atomics.load(s, 2); taken = Atomics.load(s, 1)) Atomics.wait(s, 1, taken, 1000);
    }
    if (!Atomics.load(s, 2)) {
      if (rows.length) post({ rows });
      post({ done: true });
    }
  } finally {
    db.close();
  }
} catch (err) {
  post({ error: { message: String((err && err.message) || err), code: err && err.code } });
}
`;

/** An error the worker's SQLite reported, with its code (SQLITE_CORRUPT, SQLITE_BUSY, …) as better-sqlite3's SqliteError has it. */
export class SqliteReaderError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'SqliteError';
  }
}

/**
 * The rows of `sql` on the SQLite file `file`, as arrays, `size` at a time, read by a worker
 * thread ahead of the caller. `sqlitePath` is better-sqlite3's entry (require.resolve), `addon`
 * its native addon's path or undefined. The worker starts at once (so the caller can do other
 * work, such as the damaged-row check, while it steps through the statement); `chunks()` takes
 * them; `close()` stops it (always call it: also when chunks() was never read).
 */
export class ReadAhead {
  private readonly s: Int32Array;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private taken = 0;
  private closed = false;
  /** A chunk waited for longer than SQLite's own busy timeout (--lock-wait) plus a minute: the worker is lost. */
  private readonly limitMs: number;

  constructor(o: { file: string; sqlitePath: string; addon: string | undefined; sql: string; params: Record<string, unknown>; size: number; busyMs: number }) {
    const shared = new SharedArrayBuffer(12);
    this.s = new Int32Array(shared);
    // A statement waiting for a lock must end in SQLITE_BUSY (exit 9) from the worker, not here first.
    this.limitMs = Math.max(CHUNK_LIMIT_MS, o.busyMs + 60_000);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, shared, file: o.file, sqlitePath: o.sqlitePath, addon: o.addon, sql: o.sql, params: o.params, size: Math.max(1, Math.floor(o.size)), depth: DEPTH, busyMs: o.busyMs },
      transferList: [port2],
    });
    // Neither keeps the process alive: a CLI run ends when its work does.
    this.worker.unref();
    port1.unref();
  }

  *chunks(): Generator<unknown[][]> {
    const s = this.s;
    try {
      for (;;) {
        if (this.closed) return;
        const deadline = Date.now() + this.limitMs;
        let got = receiveMessageOnPort(this.port);
        while (!got) {
          const left = deadline - Date.now();
          if (left <= 0) throw new SqliteReaderError(`No rows from the ledger's reader thread within ${Math.round(this.limitMs / 60_000)} minutes.`, undefined);
          Atomics.wait(s, 0, this.taken, Math.min(left, 1000));
          got = receiveMessageOnPort(this.port);
        }
        this.taken++;
        Atomics.store(s, 1, this.taken);
        Atomics.notify(s, 1);
        const msg = got.message as { rows?: unknown[][]; done?: true; error?: { message: string; code?: string } };
        if (msg.error) throw new SqliteReaderError(msg.error.message, msg.error.code);
        if (msg.done) return;
        yield msg.rows!;
      }
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.s, 2, 1);
    Atomics.notify(this.s, 1);
    void this.worker.terminate();
    this.port.close();
  }
}
