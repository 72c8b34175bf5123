/**
 * A real PostgreSQL server for tests: Debian's `postgresql` package, a fresh
 * cluster in a temp directory, listening on 127.0.0.1 and a free port, with
 * trust authentication (loopback only) and no durability (fsync off: a test
 * cluster is thrown away). Like pebble.ts it fails loudly, never skips, when
 * the server is not installed: the shared-ledger tests are the only proof that
 * the PostgreSQL backend works.
 *
 * PostgreSQL refuses to run as root, so as root (CI) the cluster is owned by
 * the `postgres` user and initdb/postgres run through `runuser -u postgres --`.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, waitForPort } from './ports.js';

export const POSTGRES_LIB = '/usr/lib/postgresql';

export interface PostgresServer {
  port: number;
  /** A URL for `database` as the superuser (no password: trust on loopback). */
  url(database?: string): string;
  /** CREATE DATABASE with a fresh name (C collation, as SQLite compares); returns its URL. */
  /** `icuLocale`: the database's default collation is that ICU locale's (ctype stays C), not C. */
  createDatabase(prefix?: string, o?: { icuLocale?: string }): Promise<string>;
  /** Shut the server down (fast shutdown), keeping its data: the database is "down" until resume(). */
  pause(): Promise<void>;
  /** Start it again on the same port with the same data, once it answers queries. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The newest installed server's bin directory, or a loud error. */
export function postgresBinDir(): string {
  const versions = fs.existsSync(POSTGRES_LIB) ? fs.readdirSync(POSTGRES_LIB).filter((v) => fs.existsSync(path.join(POSTGRES_LIB, v, 'bin', 'postgres'))) : [];
  if (versions.length === 0) {
    throw new Error(`PostgreSQL is not installed (no ${POSTGRES_LIB}/*/bin/postgres). Install it with: sudo apt-get install -y postgresql`);
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return path.join(POSTGRES_LIB, versions[0]!, 'bin');
}

const asRoot = (): boolean => process.getuid?.() === 0;

/** argv for running `bin` as the postgres user when we are root, as ourselves otherwise. */
function asPostgres(bin: string, args: string[]): [string, string[]] {
  return asRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

let dbCounter = 0;

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-pg-'));
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  fs.mkdirSync(sock);
  if (asRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chownSync(dir, uid, gid);
    fs.chownSync(sock, uid, gid);
  }
  const [initCmd, initArgs] = asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-locale', '-E', 'UTF8', '--no-sync']);
  try {
    execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`);
  }
  const port = await freePort();
  const [cmd, args] = asPostgres(path.join(bin, 'postgres'), [
    '-D', data, '-k', sock, '-p', String(port), '-h', '127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
  ]);
  let log = '';
  let child!: ChildProcess;
  let exited!: Promise<void>;
  const launch = () => {
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d) => (log += d));
    child.stderr?.on('data', (d) => (log += d));
    const c = child;
    exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  };
  launch();
  // A test process that dies without stop() must not leave a server behind: SIGQUIT is PostgreSQL's immediate shutdown.
  const orphanGuard = () => {
    try {
      const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGQUIT');
    } catch {
      /* already gone */
    }
  };
  process.once('exit', orphanGuard);
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;

  let running = true;
  const shutdown = async () => {
    if (!running) return;
    // The postmaster's pid (runuser's child): SIGINT is PostgreSQL's fast shutdown.
    try {
      const pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (pid > 0) process.kill(pid, 'SIGINT');
    } catch {
      child.kill('SIGTERM');
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    running = false;
  };
  const stop = async () => {
    process.removeListener('exit', orphanGuard);
    await shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ready = async () => {
    await waitForPort(port, '127.0.0.1', 30_000);
    // Accepting TCP is not yet accepting queries ("the database system is starting up").
    const deadline = Date.now() + 30_000;
    for (;;) {
      const c = new pg.Client({ connectionString: url() });
      try {
        await c.connect();
        await c.query('SELECT 1');
        await c.end();
        break;
      } catch (err) {
        await c.end().catch(() => {});
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  try {
    await ready();
  } catch (err) {
    await stop().catch(() => {});
    throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`);
  }

  return {
    port,
    url,
    async createDatabase(prefix = 'certctl', o: { icuLocale?: string } = {}) {
      const name = `${prefix}_${process.pid}_${++dbCounter}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
      const c = new pg.Client({ connectionString: url() });
      await c.connect();
      try {
        const icu = o.icuLocale ? ` LOCALE_PROVIDER icu ICU_LOCALE '${o.icuLocale.replace(/[^A-Za-z0-9_-]/g, '')}'` : '';
        await c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'${icu}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    pause: shutdown,
    async resume() {
      if (running) return;
      launch();
      running = true;
      await ready();
    },
    stop,
  };
}
