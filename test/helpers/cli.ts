/** Run the BUILT certctl CLI as a subprocess (argument array, never a shell). */
import { execFile, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const BIN = path.resolve(HERE, '..', '..', 'bin', 'certctl.js');

export interface CliResult {
  /** The exit status; -1 when the process was ended by a signal (see `signal`). */
  code: number;
  /** The signal that ended the process (e.g. 'SIGKILL' from a test's crash injection, 'SIGTERM' on timeout), else null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<CliResult> {
  return startCli(args, env, timeoutMs).result;
}

/** A running CLI: the process (a test may kill it, test/helpers/crash.ts) and its result. */
export interface RunningCli {
  child: ChildProcess;
  /** Resolves once the process has ended (before its output is fully read). */
  exited: Promise<void>;
  result: Promise<CliResult>;
}

export function startCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): RunningCli {
  if (!fs.existsSync(path.resolve(HERE, '..', '..', 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  }
  let child!: ChildProcess;
  const result = new Promise<CliResult>((resolve) => {
    child = execFile(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      // execFile's error: `code` is the exit status (a string such as 'ENOENT' when the spawn failed),
      // `signal` the signal that ended the process (then `code` is null).
      const e = err as (Error & { code?: number | string | null; signal?: NodeJS.Signals | null }) | null;
      const signal = e?.signal ?? null;
      const code = !e ? 0 : signal ? -1 : typeof e.code === 'number' ? e.code : 1;
      resolve({ code, signal, stdout, stderr });
    });
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return { child, exited, result };
}

export function tempDir(prefix = 'certctl-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Rows of a read-only query on a state directory's ledger (tests assert what certctl recorded). */
export function q<T>(state: string, sql: string): T[] {
  const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** Resolves once a running command printed a line matching `re` (stdout or stderr); rejects if it ends first or after `ms`. */
export function untilOutput(p: RunningCli, re: RegExp, what: string, ms = 30_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), ms);
    const on = (d: Buffer) => {
      seen += d.toString();
      if (re.test(seen)) {
        clearTimeout(t);
        resolve();
      }
    };
    p.child.stdout!.on('data', on);
    p.child.stderr!.on('data', on);
    void p.exited.then(() => reject(new Error(`${what} ended: ${seen}`)));
  });
}
