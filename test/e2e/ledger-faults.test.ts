/**
 * A damaged, lost, read-only, full or busy ledger is an error that says what
 * to do — never a new ledger, never a certificate ordered again. Each case
 * runs the built CLI against Pebble behind certctl's ACME test proxy (which
 * counts every request at the server), and checks the exit code, the
 * sentence, and that nothing on disk or in the ledger was lost (file hashes
 * and row counts before and after).
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';

const requireHere = createRequire(import.meta.url);
let pebble: Pebble;
let proxy: AcmeTestProxy;
/** A state directory with one issued lineage (NAME), copied for each case. */
let pristine: string;
const NAME = 'held.faults.example.test';

beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  pristine = tempDir();
  const r = await runCli(issueArgs(pristine, NAME));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.resetObservations();
});

function issueArgs(state: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}

/** A copy of the pristine state directory (symlinks kept as they are). */
function copyState(to = tempDir()): string {
  fs.cpSync(pristine, to, { recursive: true, verbatimSymlinks: true });
  return to;
}

/** sha256 of every file below dir (symlinks by their target text). */
function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isSymbolicLink()) out[path.relative(dir, p)] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
/** Everything but the SQLite side files (-wal/-shm come and go as SQLite opens and closes). */
function stable(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !/-(wal|shm)$/.test(k)));
}
function rowCounts(state: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of ['accounts', 'lineages', 'orders', 'order_events', 'certificates', 'certificate_domains', 'locks', 'runs']) {
    out[t] = q<{ n: number }>(state, `SELECT count(*) AS n FROM ${t}`)[0]!.n;
  }
  return out;
}
/** Requests that would create something at the CA (an order, a finalize) — none may be sent. */
function spent(): number {
  return proxy.requests.filter((x) => x.endpoint === 'newOrder' || x.endpoint === 'finalize').length;
}
const stderrOf = (r: { stderr: string }) => r.stderr.replace(/\s+/g, ' ');

describe('a damaged or foreign ledger file is an error (exit 10), never a new ledger', () => {
  const damage: Record<string, { make: (file: string) => void; says: RegExp }> = {
    empty: { make: (f) => fs.writeFileSync(f, ''), says: /ledger .*ledger\.sqlite is damaged: the file is empty/ },
    'half-size': {
      make: (f) => {
        const size = fs.statSync(f).size;
        fs.truncateSync(f, Math.floor(size / 2 / 4096) * 4096);
      },
      says: /is damaged: it is cut short: \d+ bytes of the \d+ its header says it has/,
    },
    'half-size, mid-page': { make: (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2) + 100), says: /is damaged: its size \(\d+ bytes\) is not a whole number of 4096-byte pages/ },
    garbage: { make: (f) => fs.writeFileSync(f, crypto.randomBytes(16384)), says: /is not a certctl ledger \(not a SQLite database/ },
    foreign: {
      make: (f) => {
        fs.rmSync(f);
        const db = new Database(f);
        db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES (1)');
        db.close();
      },
      says: /is not a certctl ledger \(a SQLite database with 1 table\(s\) of another program\)/,
    },
    'from a newer certctl': {
      make: (f) => {
        const db = new Database(f);
        db.pragma('user_version = 99');
        db.close();
      },
      says: /has schema version 99, newer than this certctl understands/,
    },
  };
  for (const [what, d] of Object.entries(damage)) {
    it(`${what}: status, issue of the held set and renew all exit 10, nothing sent, nothing written`, async () => {
      const state = copyState();
      const file = path.join(state, 'ledger.sqlite');
      d.make(file);
      const before = stable(hashes(state));

      const st = await runCli(['--state-dir', state, 'status']);
      expect(st.code).toBe(10);
      expect(stderrOf(st)).toMatch(d.says);
      expect(st.stdout).not.toMatch(/No certificates yet/);

      const iss = await runCli(issueArgs(state, NAME));
      expect(iss.code).toBe(10);
      expect(stderrOf(iss)).toMatch(d.says);
      const ren = await runCli(renewArgs(state));
      expect(ren.code).toBe(10);
      expect(proxy.requests).toHaveLength(0);
      expect(stable(hashes(state))).toEqual(before);
    });
  }

  it('a WAL left behind by a killed writer is recovered, not refused', async () => {
    const state = copyState();
    const file = path.join(state, 'ledger.sqlite');
    // A writer that commits into the WAL and dies before any checkpoint.
    const killed = spawnSync(process.execPath, [
      '-e',
      `const D = require(${JSON.stringify(requireHere.resolve('better-sqlite3'))}); const d = new D(${JSON.stringify(file)}); d.pragma('wal_autocheckpoint = 0');
       d.prepare("INSERT INTO runs (command, started_at) VALUES ('left-in-wal', 1)").run(); process.kill(process.pid, 'SIGKILL');`,
    ]);
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.statSync(`${file}-wal`).size).toBeGreaterThan(0);
    const st = await runCli(['--state-dir', state, 'status']);
    expect(st.stderr).toBe('');
    expect(st.code).toBe(0);
    expect(st.stdout).toContain(NAME);
    expect(q(state, "SELECT id FROM runs WHERE command = 'left-in-wal'")).toHaveLength(1);
    const iss = await runCli(issueArgs(state, NAME));
    expect(iss.code).toBe(3);
    expect(spent()).toBe(0);
  });
});

describe('a lost or replaced ledger: the lineages on disk are evidence, and `import state` brings them back', () => {
  it('ledger deleted: status and issue refuse (exit 10, 0 requests); import state re-adopts; then issue says held and renew orders nothing', async () => {
    const state = copyState();
    const archived = stable(hashes(path.join(state, 'archive')));
    const live = hashes(path.join(state, 'live'));
    for (const f of ['ledger.sqlite', 'ledger.sqlite-wal', 'ledger.sqlite-shm']) fs.rmSync(path.join(state, f), { force: true });

    const st = await runCli(['--state-dir', state, 'status']);
    expect(st.code).toBe(10);
    expect(stderrOf(st)).toMatch(new RegExp(`There is no ledger at .*, but .*archive holds 1 lineage\\(s\\) \\(${NAME.replace(/\./g, '\\.')}\\): the ledger was lost or moved\\..*certctl import state`));
    expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);

    const iss = await runCli(issueArgs(state, NAME));
    expect(iss.code).toBe(10);
    expect(stderrOf(iss)).toMatch(/holds certificate version\(s\) 1 that the ledger does not know \(was the ledger lost, or replaced by an older copy\?\): certctl will not order them again\. .*certctl import state/);
    expect(spent()).toBe(0);
    // The refused request left no lineage or order behind.
    expect(q(state, 'SELECT name FROM lineages')).toHaveLength(0);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(0);

    // Without the CA and the challenge (Pebble's issuer is not a known CA), import says what to give.
    const bare = await runCli(['--state-dir', state, 'import', 'state']);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toMatch(/skipped {2}held\.faults\.example\.test: .*give --server URL/);
    expect(q(state, 'SELECT name FROM lineages')).toHaveLength(0);

    const imp = await runCli(['--state-dir', state, 'import', 'state', '--server', proxy.directoryUrl, '--webroot', pebble.webroot, '--ca-bundle', pebble.caBundle]);
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    expect(imp.stdout).toMatch(/imported {2}held\.faults\.example\.test: held\.faults\.example\.test — 1 version\(s\), 1 certificate\(s\) added/);
    const lin = q<{ name: string; current_version: number; directory_url: string; webroot: string; settings_json: string }>(state, 'SELECT * FROM lineages');
    expect(lin).toHaveLength(1);
    expect(lin[0]).toMatchObject({ name: NAME, current_version: 1, directory_url: proxy.directoryUrl, webroot: pebble.webroot });
    expect(JSON.parse(lin[0]!.settings_json).caBundle).toBe(pebble.caBundle);
    const serial = execFileSync('openssl', ['x509', '-in', path.join(state, 'live', NAME, 'cert.pem'), '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1]!.toLowerCase().replace(/^0+/, '');
    const certs = q<{ serial: string; version: number; lineage: string }>(state, 'SELECT serial, version, lineage FROM certificates');
    expect(certs).toEqual([{ serial: expect.stringMatching(new RegExp(`^0*${serial}$`)), version: 1, lineage: NAME }]);
    expect(q(state, 'SELECT * FROM certificate_domains')).toHaveLength(1);

    // Idempotent.
    const again = await runCli(['--state-dir', state, 'import', 'state', '--server', proxy.directoryUrl, '--webroot', pebble.webroot]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/unchanged {2}held\.faults\.example\.test/);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);

    const st2 = await runCli(['--state-dir', state, 'status']);
    expect(st2.code).toBe(0);
    expect(st2.stdout).toContain(NAME);
    expect(st2.stdout).toMatch(/days left/);
    const held = await runCli(issueArgs(state, NAME));
    expect(held.code).toBe(3);
    expect(held.stdout).toMatch(/Already held/);
    const ren = await runCli(renewArgs(state, ['--json']));
    expect(ren.code).toBe(0);
    expect(JSON.parse(ren.stdout).lineages[0]).toMatchObject({ lineage: NAME, action: 'kept' });
    expect(spent()).toBe(0);
    // The files were only read.
    expect(stable(hashes(path.join(state, 'archive')))).toEqual(archived);
    expect(hashes(path.join(state, 'live'))).toEqual(live);
  });

  it('ledger replaced by another (empty) certctl ledger: issue refuses for the names on disk, another name is still issued', async () => {
    const state = copyState();
    const other = tempDir();
    expect((await runCli(['--state-dir', other, 'limits'])).code).toBe(0);
    fs.copyFileSync(path.join(other, 'ledger.sqlite'), path.join(state, 'ledger.sqlite'));
    const st = await runCli(['--state-dir', state, 'status']);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/warning: .*archive\/held\.faults\.example\.test \(held\.faults\.example\.test, 1 version\(s\)\) is not in the ledger/);
    const iss = await runCli(issueArgs(state, NAME, ['--cert-name', 'renamed']));
    expect(iss.code).toBe(10);
    expect(stderrOf(iss)).toMatch(/The state directory holds 1 certificate version\(s\) for held\.faults\.example\.test in .*archive\/held\.faults\.example\.test, valid until .*which the ledger does not know/);
    expect(spent()).toBe(0);
    // The account key kept in accounts/ is registered again (the CA answers 200: it knows the key) and used as is.
    const fresh = await runCli(issueArgs(state, 'fresh.faults.example.test'));
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    expect(proxy.issued).toBe(1);
  });
});

describe('faults of the machine: one sentence, the documented exit code, nothing lost', () => {
  it('disk full (ENOSPC injected on every write to the WAL): issue exits 10 with "disk is full", nothing sent, ledger unchanged', async () => {
    const state = copyState();
    const before = stable(hashes(state));
    const rows = rowCounts(state);
    const wal = path.join(state, 'ledger.sqlite-wal');
    const r = await runStrace(['-f', '-qq', '-o', '/dev/null', '-P', wal, '-e', 'trace=pwrite64', '-e', 'inject=pwrite64:error=ENOSPC'], issueArgs(state, 'new.faults.example.test'));
    expect(r.code).toBe(10);
    expect(stderrOf(r)).toMatch(/The disk is full: certctl could not write the ledger .*ledger\.sqlite \(SQLITE_FULL\)\. Free some space/);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(proxy.requests).toHaveLength(0);
    expect(stable(hashes(state))).toEqual(before);
    expect(rowCounts(state)).toEqual(rows);
  });

  it('disk full for real (a full tmpfs): issue exits 10 with "disk is full"; after freeing space the same issue says held', async () => {
    const mnt = tempDir('certctl-full-mnt-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    try {
      const state = copyState(path.join(mnt, 'state'));
      const before = stable(hashes(state));
      const rows = rowCounts(state);
      // Fill the file system to the last block.
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'fill')}`, 'bs=4k']);
      const r = await runCli(issueArgs(state, 'new.faults.example.test'));
      expect(r.code).toBe(10);
      expect(stderrOf(r)).toMatch(/The disk is full: certctl could not write the ledger .*ledger\.sqlite \(SQLITE_(FULL|IOERR_SHMSIZE)\)\. Free some space/);
      expect(proxy.requests).toHaveLength(0);
      expect(stable(hashes(state))).toEqual(before);
      fs.rmSync(path.join(mnt, 'fill'));
      expect(rowCounts(state)).toEqual(rows);
      const held = await runCli(issueArgs(state, NAME));
      expect(held.code).toBe(3);
      expect(spent()).toBe(0);
    } finally {
      execFileSync('umount', [mnt]);
      fs.rmdirSync(mnt);
    }
  });

  it('read-only state directory: status works; issue and renew exit 10 saying it is read-only; nothing sent or changed', async () => {
    const mnt = tempDir('certctl-ro-mnt-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    try {
      const state = copyState(path.join(mnt, 'state'));
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      const before = hashes(state);
      const st = await runCli(['--state-dir', state, 'status']);
      expect(st.stderr).toBe('');
      expect(st.code).toBe(0);
      expect(st.stdout).toContain(NAME);
      expect(st.stdout).toMatch(/days left/);
      const lim = await runCli(['--state-dir', state, 'limits']);
      expect(lim.code).toBe(0);
      const iss = await runCli(issueArgs(state, 'other.faults.example.test'));
      expect(iss.code).toBe(10);
      expect(stderrOf(iss)).toMatch(/The ledger .*ledger\.sqlite is read-only here \(SQLITE_READONLY\): this command needs to write to it\. Run it where the state directory is writable/);
      const ren = await runCli(renewArgs(state));
      expect(ren.code).toBe(10);
      expect(proxy.requests).toHaveLength(0);
      expect(hashes(state)).toEqual(before);
    } finally {
      execFileSync('umount', [mnt]);
      fs.rmdirSync(mnt);
    }
  });

  it('the ledger write lock held by another process: issue waits --lock-wait, then exits 9; nothing sent, nothing lost', async () => {
    const state = copyState();
    const rows = rowCounts(state);
    const holder = await holdWriteLock(path.join(state, 'ledger.sqlite'));
    try {
      const r = await runCli(issueArgs(state, 'other.faults.example.test', ['--lock-wait', '2']));
      expect(r.code).toBe(9);
      expect(stderrOf(r)).toMatch(/Another process has held the write lock of the ledger .*ledger\.sqlite for longer than --lock-wait \(2 s\); it is not a certctl run/);
      // Reads do not wait for a writer (WAL): status answers.
      const st = await runCli(['--state-dir', state, 'status']);
      expect(st.code).toBe(0);
      expect(st.stdout).toContain(NAME);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((res) => holder.once('exit', res));
    }
    expect(proxy.requests).toHaveLength(0);
    expect(rowCounts(state)).toEqual(rows);
  });

  it('the certctl run lock held by a live run: issue and renew wait --lock-wait, then exit 9 naming the holder', async () => {
    const state = copyState();
    const holder = spawn('sleep', ['60']);
    try {
      const db = new Database(path.join(state, 'ledger.sqlite'));
      db.prepare('INSERT INTO locks (name, pid, host, acquired_at, heartbeat) VALUES (?, ?, ?, ?, ?)').run('run', holder.pid, (await import('node:os')).hostname(), Date.now(), Date.now());
      db.close();
      const rows = rowCounts(state);
      const r = await runCli(issueArgs(state, 'other.faults.example.test', ['--lock-wait', '1']));
      expect(r.code).toBe(9);
      expect(stderrOf(r)).toMatch(new RegExp(`Another certctl run \\(pid ${holder.pid} on .*\\) holds the lock on this ledger\\. Wait for it to finish, or raise --lock-wait`));
      const ren = await runCli(renewArgs(state, ['--lock-wait', '1', '--json']));
      expect(ren.code).toBe(9);
      expect(proxy.requests).toHaveLength(0);
      expect(rowCounts(state)).toEqual(rows);
      expect(q<{ pid: number }>(state, 'SELECT pid FROM locks')).toEqual([{ pid: holder.pid }]);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

/** A process that holds BEGIN IMMEDIATE on the SQLite file until killed; resolves once it holds it. */
function holdWriteLock(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [
    '-e',
    `const D = require(${JSON.stringify(requireHere.resolve('better-sqlite3'))}); const d = new D(${JSON.stringify(file)});
     d.exec('BEGIN IMMEDIATE'); d.prepare("INSERT INTO runs (command, started_at) VALUES ('holder', 1)").run(); process.stdout.write('held\\n'); setInterval(() => {}, 1000);`,
  ]);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
}

/** The built CLI under strace (fault injection), argument array, never a shell. */
function runStrace(straceArgs: string[], args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('strace', [...straceArgs, process.execPath, BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
