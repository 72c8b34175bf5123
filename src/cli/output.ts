/**
 * Everything certctl prints goes through here: text for people (colour only
 * on a TTY and never with NO_COLOR), or one JSON document for machines.
 * JSON documents carry `schema` ("certctl.<command>/<version>") so scripts can
 * check what they parse; docs/json.md describes each one.
 */
import type { CertctlError } from '../core/errors.js';
import { redact } from '../core/redact.js';
import { utc } from '../core/clock.js';

/**
 * The one way certctl writes to its output streams: every line redacted
 * (no challenge token, key authorization, EAB HMAC or private key is ever
 * shown, whatever the CA put in a problem detail), and nothing written once
 * the reader went away (`certctl status | head -1`: EPIPE ends the output,
 * quietly, not the run — see installPipeGuards).
 */
export function write(stream: NodeJS.WriteStream, text: string): void {
  if (closed.has(stream)) return;
  try {
    stream.write(redact(text));
  } catch (err) {
    if (!isPipeError(err)) throw err;
    closed.add(stream);
  }
}

const closed = new Set<NodeJS.WriteStream>();

function isPipeError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

/**
 * A reader that closes its end early (`| head -1`, a pager quit) makes the next
 * write fail with EPIPE, emitted as an 'error' event: without a listener Node
 * dies with a stack trace. certctl stops writing to that stream and lets the
 * command finish (an order half-done because a pager was closed would be worse
 * than output nobody reads); the exit code is the command's own (0 for status).
 */
export function installPipeGuards(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if ((stream as { __certctlGuard?: boolean }).__certctlGuard) continue;
    (stream as { __certctlGuard?: boolean }).__certctlGuard = true;
    stream.on('error', (err) => {
      if (isPipeError(err)) {
        closed.add(stream);
        return;
      }
      throw err;
    });
  }
}

export interface GlobalOptions {
  stateDir?: string;
  ledger?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  color?: boolean;
  config?: string;
  /** This host's name in a fleet (--host; env CERTCTL_HOST). */
  host?: string;
  /** The fleet key file (--fleet-key; env CERTCTL_FLEET_KEY_FILE). */
  fleetKey?: string;
  /** --proxy: the HTTP(S) proxy for the CA side ("" = direct). */
  proxy?: string;
}

type Paint = (s: string) => string;
export interface Palette {
  ok: Paint;
  warn: Paint;
  bad: Paint;
  dim: Paint;
  bold: Paint;
}

const plain: Palette = { ok: (s) => s, warn: (s) => s, bad: (s) => s, dim: (s) => s, bold: (s) => s };

export function useColor(stream: NodeJS.WriteStream, opts: GlobalOptions): boolean {
  if (opts.color === false) return false;
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

/** An array whose items are made while the document is written (Output.streamDocument): never all in memory. */
export class LazyArray {
  constructor(readonly items: Iterable<unknown>) {}
}

/** Items of an iterable of pages, one by one. */
export function* flat<T>(pages: Iterable<readonly T[]>): Generator<T> {
  for (const page of pages) yield* page;
}

/** Output is written in pieces of about this size (whole lines / whole array items only): under 128 KB, so no piece is a large object that only a full GC frees. */
const CHUNK = 1 << 15;

/** A plain object with a LazyArray among its own values (emitJson walks into it). */
function hasLazy(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof LazyArray) && Object.values(value).some((v) => v instanceof LazyArray);
}

/**
 * `value` as JSON.stringify(value, null, 2) writes it at this indentation, in pieces; a LazyArray
 * is written while its items are made (a piece per batch of items).
 */
function* jsonPieces(value: unknown, indent: string): Generator<string> {
  if (value instanceof LazyArray) {
    // Items without a LazyArray inside are stringified in batches (one JSON.stringify and one
    // re-indent per batch, not per item); JSON.stringify(batch, null, 2) is '[\n  item,\n  item\n]'.
    let n = 0;
    let batch: unknown[] = [];
    const flushBatch = (): string => {
      const body = JSON.stringify(batch, null, 2).slice(2, -2);
      const piece = `${n ? ',' : '['}\n${indent}${indent ? body.replaceAll('\n', `\n${indent}`) : body}`;
      n += batch.length;
      batch = [];
      return piece;
    };
    for (const item of value.items) {
      if (hasLazy(item)) {
        if (batch.length) yield flushBatch();
        yield `${n++ ? ',' : '['}\n${indent}  `;
        yield* jsonPieces(item, `${indent}  `);
      } else {
        batch.push(item);
        if (batch.length >= 32) yield flushBatch();
      }
    }
    if (batch.length) yield flushBatch();
    yield n ? `\n${indent}]` : '[]';
    return;
  }
  if (hasLazy(value)) {
    let n = 0;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      yield `${n++ ? ',' : '{'}\n${indent}  ${JSON.stringify(k)}: `;
      yield* jsonPieces(v, `${indent}  `);
    }
    yield n ? `\n${indent}}` : '{}';
    return;
  }
  const s = JSON.stringify(value, null, 2);
  yield indent ? s.replaceAll('\n', `\n${indent}`) : s;
}

/** Above this much output queued for a pipe, a streaming writer waits for it to drain. */
const QUEUED_MAX = 1 << 20;

/**
 * Wait until stdout has taken what was written (a pipe is asynchronous: without this, a reader
 * slower than certctl — a pager, `| gzip`, ssh — would leave the whole output queued in memory).
 */
export async function drained(stream: NodeJS.WriteStream = process.stdout): Promise<void> {
  if (closed.has(stream) || stream.writableLength < QUEUED_MAX) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

export class Output {
  readonly opts: GlobalOptions;
  palette: Palette = plain;
  /** Lines held for stdout while hold() is on (one write per CHUNK, not one per line). */
  private held: string | null = null;

  constructor(opts: GlobalOptions) {
    this.opts = opts;
  }

  /** Load chalk only when colour will be used (keeps `--version` and pipes fast). */
  async init(): Promise<this> {
    if (!this.opts.json && useColor(process.stdout, this.opts)) {
      const { Chalk } = await import('chalk');
      const c = new Chalk({ level: 1 });
      this.palette = { ok: c.green, warn: c.yellow, bad: c.red, dim: c.dim, bold: c.bold };
    }
    return this;
  }

  get json(): boolean {
    return Boolean(this.opts.json);
  }

  /** A normal line: suppressed by --quiet and --json. */
  info(line: string): void {
    if (!this.opts.quiet && !this.opts.json) this.stdout(line + '\n');
  }

  /** Something the user must see even with --quiet (not with --json: it goes in the document). */
  attention(line: string): void {
    if (!this.opts.json) this.stdout(line + '\n');
  }

  private stdout(text: string): void {
    if (this.held === null) return write(process.stdout, text);
    this.held += text;
    if (this.held.length >= CHUNK) this.flush();
  }

  /** Hold stdout lines and write them a CHUNK at a time until release() (a long listing: status). */
  hold(): void {
    this.held ??= '';
  }

  /** Write what is held once it is a CHUNK, and wait while the pipe has too much queued. */
  async drain(): Promise<void> {
    if (this.held !== null && this.held.length >= CHUNK) this.flush();
    await drained();
  }

  release(): void {
    this.flush();
    this.held = null;
  }

  private flush(): void {
    if (this.held) write(process.stdout, this.held);
    if (this.held !== null) this.held = '';
  }

  /** Whether stdout's reader has gone (`| head`): nothing more will be shown, so a listing may stop. */
  get stdoutClosed(): boolean {
    return closed.has(process.stdout);
  }

  /** Only with --verbose; goes to stderr so it never mixes with JSON on stdout. */
  verbose(line: string): void {
    if (this.opts.verbose) write(process.stderr, this.palette.dim(line) + '\n');
  }

  /** Progress on a TTY only ("3/40 renewed"), rewritten in place; never in a pipe or with --json/--quiet. */
  progress(line: string): void {
    if (this.opts.json || this.opts.quiet || !process.stderr.isTTY) return;
    write(process.stderr, '\r\x1b[K' + line);
  }

  progressDone(): void {
    if (this.opts.json || this.opts.quiet || !process.stderr.isTTY) return;
    write(process.stderr, '\r\x1b[K');
  }

  /** The one JSON document of this command. */
  document(schema: string, body: Record<string, unknown>): void {
    write(process.stdout, JSON.stringify({ schema, ...body }, null, 2) + '\n');
  }

  /**
   * The same document as document() writes, byte for byte, written while it is made: each
   * LazyArray in `body` (at the top level, or in an object that is an item of one) is consumed
   * item by item, so a document of 100,000 lineages is never one string in memory.
   */
  /** A streamed document was begun and not finished: an error then starts on a line of its own (docs/json.md). */
  private cutOff = false;

  async streamDocument(schema: string, body: Record<string, unknown>): Promise<void> {
    let buf = '';
    for (const piece of jsonPieces({ schema, ...body }, '')) {
      buf += piece;
      if (buf.length < CHUNK) continue;
      write(process.stdout, buf);
      this.cutOff = true;
      buf = '';
      await drained();
    }
    write(process.stdout, buf + '\n');
    this.cutOff = false;
  }

  error(err: CertctlError): void {
    if (this.opts.json) {
      write(
        process.stdout,
        (this.cutOff ? '\n' : '') +
          JSON.stringify({ schema: 'certctl.error/1', error: { kind: err.name, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode, ...extra(err) } }, null, 2) + '\n',
      );
      return;
    }
    write(process.stderr, this.palette.bad('error: ') + err.message + '\n');
    if (err.hint) write(process.stderr, this.palette.dim('  ' + err.hint) + '\n');
  }
}

function extra(err: CertctlError): Record<string, unknown> {
  const p = (err as unknown as { problem?: unknown }).problem;
  return p ? { problem: p } : {};
}

/** The line a run prints once when it finds the run lock held (acquireRunLock's onWait): it does not wait silently. */
export function lockWaitNotice(ctx: { out: Output }): (holder: { pid: number; host: string; acquired_at: number }) => void {
  return (h) => ctx.out.info(`waiting for another certctl run to finish (pid ${h.pid} on ${h.host}, holding the lock since ${utc(h.acquired_at)})`);
}

/**
 * A serial number as OpenSSL prints it (`openssl x509 -serial`, `-text`): upper-case hex, an even
 * number of digits. The ledger keeps certctl's own form (lower case, no leading zeros) as its key;
 * people compare what certctl says with what OpenSSL and the CA's pages say.
 */
export function serialText(serial: string): string {
  const hex = serial.toUpperCase();
  return hex.length % 2 ? `0${hex}` : hex;
}

/** Ask on the terminal (the prompt on stderr, so stdout stays the command's output); true for y / yes. */
export async function confirm(question: string): Promise<boolean> {
  const readline = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
