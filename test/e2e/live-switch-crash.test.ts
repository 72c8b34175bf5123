/**
 * SIGKILL at every step of storing a certificate — each rename, symlink and
 * fsync of the archive/ writes and the live/ switch, the ledger transactions
 * between them, the pending key's removal — injected with strace
 * (`-e inject=SYSCALL:signal=KILL:when=N`: the process dies on entering the
 * Nth such call, before it runs). Nothing in certctl knows about it.
 *
 * A reference run of the same command under strace (no injection) lists the
 * calls; each call of the storing phase becomes one kill point. After each
 * kill, the command a user or cron would run next must finish the job with
 * exactly one certificate issued at the CA (counted at certctl's ACME test
 * proxy), live/ consistent (every link at one archive version, key matching
 * certificate), the ledger's version = the files, and `status` showing it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import Database from 'better-sqlite3';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startChallTestSrv } from '../../testkit/challtestsrv.js';
import { startWebroot } from '../../testkit/webroot.js';
import { startSm2AcmeServer } from '../../testkit/sm2-acme-server.js';
import { keyMatchesCert } from '../../src/core/store/lineage.js';
import { splitPemChain } from '../../src/core/x509.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';

const STRACE = '/usr/bin/strace';
const TRACED = 'rename,symlink,fsync,unlink';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  if (!fs.existsSync(STRACE)) throw new Error('strace is missing: install it (apt-get install strace); this test injects SIGKILL with it.');
  // No authorization reuse (Pebble's default reuses half): every order writes one challenge file, so the
  // calls before storing, and with them each kill point's ordinal, are the same in every run.
  pebble = await startPebble({ env: { PEBBLE_AUTHZREUSE: '0' } });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});

function issueArgs(state: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}

interface TraceRun {
  signal: NodeJS.Signals | null;
  code: number | null;
  /** The main thread's traced calls, in order: [syscall, first path argument]. */
  calls: [string, string][];
}

/**
 * A kill point: SIGKILL on entering the `when`th `sys` call of the main thread — counted among the calls on
 * `path` alone when it is set (strace -P: an fsync of that directory or file, the unlink of that file), so no
 * call elsewhere (SQLite's own fsyncs, a challenge file's removal) can move it. `step` names the call the kill
 * must land on, relative to the state directory (LINEAGE for the lineage's name, RANDOM for a temporary name's
 * random part): every crashed run's own trace is checked against it.
 */
interface KillPoint {
  sys: string;
  when: number;
  path?: string;
  step: string;
  what: string;
}

/** The main thread: the one making most of the traced calls (a libuv pool thread makes one or two). */
function mainThread(lines: string[]): string | undefined {
  const n = new Map<string, number>();
  for (const l of lines) {
    const pid = l.split(/\s+/)[0]!;
    n.set(pid, (n.get(pid) ?? 0) + 1);
  }
  return [...n.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** Run the built CLI under strace; `kill`: SIGKILL at that kill point (in state directory `state`, lineage `name`). */
function underStrace(args: string[], kill?: { pt: KillPoint; state: string; name: string }): Promise<TraceRun> {
  const out = path.join(tempDir('certctl-strace-'), 'trace');
  const inject = kill ? [...(kill.pt.path ? ['-P', stepPath(kill.pt.path, kill.state, kill.name)] : []), '-e', `inject=${kill.pt.sys}:signal=KILL:when=${kill.pt.when}`] : [];
  const sargs = ['-f', '-qq', '-y', '-o', out, '-e', `trace=${TRACED}`, '-e', 'signal=none', ...inject, process.execPath, BIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(STRACE, sargs, { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
      const main = mainThread(lines);
      const calls: [string, string][] = [];
      for (const l of lines) {
        // rename("a", "b") / symlink("target", "link") / fsync(3</dir>) (-y names a descriptor's path)
        const m = /^(\d+)\s+(\w+)\((?:"([^"]*)"|\d+<([^>]*)>)/.exec(l);
        if (m && m[1] === main) calls.push([m[2]!, m[3] ?? m[4]!]);
      }
      if (code !== 0 && !signal && code !== 137 && !kill) reject(new Error(`reference run failed (${code}): ${stderr}`));
      resolve({ signal, code, calls });
    });
  });
}

/** A call's path as a step: relative to the state directory, the lineage's name and a temporary file's random part replaced. */
function stepOf(sys: string, p: string, state: string, name: string): string {
  const rel = p.startsWith(state + path.sep) ? path.relative(state, p) : p;
  return `${sys} ${rel.split(name).join('LINEAGE').replace(/\.[0-9a-f]{12}\.tmp$/, '.RANDOM.tmp')}`;
}
function stepPath(rel: string, state: string, name: string): string {
  return path.join(state, rel.split('LINEAGE').join(name));
}

/**
 * Run the command under strace, killed at `pt`, and check from its own trace that the kill landed on the
 * step it names (the last call the main thread entered): a kill point never silently moves to another call.
 */
async function crashAt(args: string[], pt: KillPoint, state: string, name: string): Promise<TraceRun> {
  const run = await underStrace(args, { pt, state, name });
  expect(run.signal ?? run.code, pt.what).toSatisfy((x: unknown) => x === 'SIGKILL' || x === 137);
  const last = run.calls[run.calls.length - 1];
  expect(last && stepOf(last[0], last[1], state, name), pt.what).toBe(pt.step);
  return run;
}

/**
 * crashAt for a kill point counted among renames: strace cannot filter renames by path (-P matches a
 * rename's first path only, here a random temporary name), so the Nth rename of the main thread is not
 * always the same file (a run may write one file more or less before it, e.g. a cache). A run whose
 * kill landed elsewhere is thrown away and the step tried again from a fresh state (`fresh` also resets
 * what the test counts), up to 4 times; the step the kill point names is still the one checked.
 */
async function crashAtStep(argsOf: (state: string) => string[], pt: KillPoint, fresh: () => string, name: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const state = fresh();
    const run = await underStrace(argsOf(state), { pt, state, name });
    const last = run.calls[run.calls.length - 1];
    const landed = (run.signal === 'SIGKILL' || run.code === 137) && last !== undefined && stepOf(last[0], last[1], state, name) === pt.step;
    if (landed || pt.sys !== 'rename' || attempt === 4) {
      expect(run.signal ?? run.code, pt.what).toSatisfy((x: unknown) => x === 'SIGKILL' || x === 137);
      expect(last && stepOf(last[0], last[1], state, name), pt.what).toBe(pt.step);
      return state;
    }
  }
}

/** The kill point at the `n`th symlink of the main thread (only the live/ switch makes symlinks). */
function symlinkPoint(n: number, file: string): KillPoint {
  return { sys: 'symlink', when: n, step: `symlink ../../archive/LINEAGE/${file}`, what: `symlink #${n} ${file}` };
}

/**
 * The kill points of the storing phase: every rename / symlink / fsync /
 * unlink from the first archive write on. A rename or symlink is counted
 * among the main thread's calls of that syscall (each such call there is
 * synchronous, and before storing only the account key, the challenge files
 * and the pending key are renamed, and nothing is symlinked); an fsync or
 * unlink among the calls on its own path (strace -P). fsyncs of a file are
 * left out (a kill there leaves the same state as one at the rename after it).
 */
function killPoints(calls: [string, string][], state: string, name: string): KillPoint[] {
  const archive = path.join(state, 'archive', name);
  const live = path.join(state, 'live', name);
  const pending = path.join(state, 'pending');
  const seen = new Map<string, number>();
  const out: KillPoint[] = [];
  let storing = false;
  const wal = path.join(state, 'ledger.sqlite-wal');
  for (const [sys, p] of calls) {
    const n = (seen.get(sys) ?? 0) + 1;
    seen.set(sys, n);
    const onPath = (seen.get(`${sys} ${p}`) ?? 0) + 1;
    seen.set(`${sys} ${p}`, onPath);
    if (sys === 'symlink') expect(p.startsWith('../../archive/') && storing, `symlink outside the live/ switch: ${p}`).toBe(true);
    if (sys === 'rename' && p.startsWith(archive + path.sep)) storing = true;
    if (!storing) continue;
    const step = stepOf(sys, p, state, name);
    const byPath = sys === 'fsync' || sys === 'unlink';
    const point = (what: string): KillPoint => ({ sys, when: byPath ? onPath : n, ...(byPath ? { path: path.relative(state, p).split(name).join('LINEAGE') } : {}), step, what });
    if (sys === 'fsync' && p === wal) {
      // SQLite's checkpoint when the ledger is closed: everything is done; the last kill point.
      out.push(point(`${sys} #${onPath} ledger.sqlite-wal (all done)`));
      break;
    }
    const inState = p.startsWith(archive) || p.startsWith(live) || p.startsWith('../../archive/') || p.startsWith(pending);
    if (!inState) continue;
    if (sys === 'fsync' && p !== archive && p !== live) continue;
    if (sys === 'unlink' && !p.startsWith(pending + path.sep)) continue;
    out.push(point(`${sys} #${byPath ? onPath : n} ${path.relative(state, p.startsWith('../') ? path.join(live, p) : p)}`));
  }
  return out;
}

/**
 * The kill points that differ: a directory fsync only where a ledger transaction follows (before
 * live/, before 'stored'), not after each archive file; of the archive renames the first (nothing
 * there yet) and the last (all but the key there) — the ones between leave the same kind of state.
 * Every call of the live/ switch stays.
 */
function narrow(points: KillPoint[]): KillPoint[] {
  const kept = points.filter((pt, i) => pt.sys !== 'fsync' || points[i + 1]?.sys !== 'rename');
  const archiveRenames = kept.filter((pt) => pt.sys === 'rename' && pt.what.includes(' archive/'));
  return kept.filter((pt) => !archiveRenames.includes(pt) || pt === archiveRenames[0] || pt === archiveRenames[archiveRenames.length - 1]);
}

const spki = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'der' });

/** live/ consistent and equal to the ledger: returns the version every link points at. */
function assertConsistent(state: string, name: string, roles: string[]): number {
  const live = path.join(state, 'live', name);
  const versions = new Set<number>();
  for (const f of fs.readdirSync(live)) {
    const target = fs.readlinkSync(path.join(live, f));
    const m = new RegExp(`^\\.\\./\\.\\./archive/${name.replace(/\./g, '\\.')}/[a-z-]+?(\\d+)\\.pem$`).exec(target);
    expect(m, `${f} → ${target}`).not.toBeNull();
    versions.add(Number(m![1]));
    expect(fs.statSync(path.join(live, f)).size).toBeGreaterThan(0);
  }
  expect([...versions]).toHaveLength(1);
  const version = [...versions][0]!;
  const lineage = q<{ current_version: number }>(state, `SELECT current_version FROM lineages WHERE name = '${name}'`)[0]!;
  expect(lineage.current_version).toBe(version);
  for (const role of roles) {
    const sfx = role === 'main' ? '' : `-${role}`;
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(live, `cert${sfx}.pem`)));
    const key = crypto.createPrivateKey(fs.readFileSync(path.join(live, `privkey${sfx}.pem`)));
    expect(spki(crypto.createPublicKey(key)).equals(spki(cert.publicKey))).toBe(true);
    const row = q<{ serial: string; version: number }>(state, `SELECT serial, version FROM certificates WHERE lineage = '${name}' AND role = '${role}' AND version = ${version}`);
    expect(row).toHaveLength(1);
    expect(row[0]!.serial).toBe(cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''));
    expect((fs.statSync(path.join(live, `privkey${sfx}.pem`)).mode & 0o777).toString(8)).toBe('600');
  }
  expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
  expect(fs.existsSync(path.join(state, 'pending')) ? fs.readdirSync(path.join(state, 'pending')).filter((f) => f.endsWith('.key')) : []).toEqual([]);
  return version;
}

async function statusShows(state: string, name: string, version: number): Promise<void> {
  const s = await runCli(['--state-dir', state, 'status', '--json']);
  expect(s.code).toBe(0);
  const l = JSON.parse(s.stdout).lineages.find((x: { name: string }) => x.name === name);
  expect(l.version).toBe(version);
  expect(l.notAfter).not.toBeNull();
  expect(l.openOrders).toBe(0);
}

const LAYOUT = ['rename', 'rename', 'fsync', 'symlink', 'rename', 'symlink', 'rename', 'symlink', 'rename', 'symlink', 'rename', 'fsync', 'unlink', 'fsync'];
const allDone = (what: string) => what.endsWith('(all done)');

const accepted = (endpoint: string, status: number) => proxy.requests.filter((x) => x.endpoint === endpoint && x.status === status).length;

describe('SIGKILL at every syscall of storing a new lineage (issue), then issue and renew', () => {
  it('each kill point: one certificate at the CA, live/ = ledger, status shows it', { timeout: 300_000 }, async () => {
    const ref = tempDir();
    const refName = 'ref-issue.example.test';
    const r = await underStrace(issueArgs(ref, refName));
    expect(r.code).toBe(0);
    const points = narrow(killPoints(r.calls, ref, refName));
    // The first and last archive renames, the archive directory's fsync (then the 'storing' transaction),
    // 4 symlinks + 4 renames in live/, live/'s fsync, the pending key's unlink (then 'stored'), the ledger's close.
    expect(points.map((p) => p.sys)).toEqual(LAYOUT);
    for (const [i, pt] of points.entries()) {
      const name = `issue-k${i}.example.test`;
      const state = await crashAtStep((st) => issueArgs(st, name), pt, () => (proxy.resetObservations(), tempDir()), name);
      expect(proxy.issued, pt.what).toBe(1);

      const again = await runCli(issueArgs(state, name, ['--json']));
      expect(again.stderr, pt.what).toBe('');
      expect(again.code, `${pt.what}: ${again.stdout}`).toBe(allDone(pt.what) ? 3 : 0);
      expect(JSON.parse(again.stdout).result, pt.what).toBe(allDone(pt.what) ? 'held' : 'recovered');
      const version = assertConsistent(state, name, ['main']);
      await statusShows(state, name, version);

      const renew = await runCli(renewArgs(state, ['--json']));
      expect(renew.code, pt.what).toBe(0);
      expect(JSON.parse(renew.stdout).lineages[0].action, pt.what).toBe('kept');
      // Counted at the server: one order, one finalize accepted, one certificate — crash and recovery together.
      expect(proxy.issued, pt.what).toBe(1);
      expect(accepted('newOrder', 201), pt.what).toBe(1);
      expect(accepted('finalize', 200), pt.what).toBe(1);
      expect(assertConsistent(state, name, ['main']), pt.what).toBe(version);
    }
  });
});

describe('killed in the live/ switch, then the archive version damaged', () => {
  async function crashedMidSwitch(name: string): Promise<{ state: string; key: Buffer }> {
    const state = tempDir();
    proxy.resetObservations();
    // Killed at the second symlink (after the 'storing' transaction).
    await crashAt(issueArgs(state, name), symlinkPoint(2, 'chain1.pem'), state, name);
    expect(q<{ step: string }>(state, "SELECT step FROM orders WHERE state = 'open'").map((o) => o.step)).toEqual(['storing']);
    return { state, key: fs.readFileSync(path.join(state, 'pending', 'order-1-main.key')) };
  }
  // [files of version 1 lost, pending key lost too (as after a kill between its removal and 'stored')]
  for (const [gone, pendingGone] of [[['fullchain1.pem'], false], [['privkey1.pem'], false], [['fullchain1.pem'], true]] as const) {
    it(`${gone.join(', ')}${pendingGone ? ' and the pending key' : ''} lost: downloaded again (nothing new issued), stored as version 2 with the order's own key`, { timeout: 120_000 }, async () => {
      const name = `damaged-${gone[0]!.replace('.pem', '')}${pendingGone ? '-nopending' : ''}.example.test`;
      const { state, key } = await crashedMidSwitch(name);
      for (const f of gone) fs.unlinkSync(path.join(state, 'archive', name, f));
      if (pendingGone) fs.unlinkSync(path.join(state, 'pending', 'order-1-main.key'));
      const again = await runCli(issueArgs(state, name, ['--json']));
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).result).toBe('recovered');
      expect(assertConsistent(state, name, ['main'])).toBe(2);
      expect(fs.readFileSync(path.join(state, 'live', name, 'privkey.pem')).equals(key)).toBe(true);
      await statusShows(state, name, 2);
      expect(proxy.issued).toBe(1);
      expect(accepted('newOrder', 201)).toBe(1);
      expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
    });
  }

  it('the key lost everywhere: one sentence saying so and what to do, exit 2, nothing sent, nothing ordered', { timeout: 120_000 }, async () => {
    const name = 'keylost.example.test';
    const { state } = await crashedMidSwitch(name);
    fs.unlinkSync(path.join(state, 'archive', name, 'privkey1.pem'));
    fs.unlinkSync(path.join(state, 'pending', 'order-1-main.key'));
    proxy.resetObservations();
    const r = await runCli(renewArgs(state));
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/The private key of keylost\.example\.test's certificate [0-9a-f]+ is not on this host/);
    expect(proxy.total()).toBe(0);
  });
});

describe('SIGKILL at every syscall of storing a renewal (renew), then renew and issue', () => {
  it('each kill point: one new certificate, live/ never mixes versions after the next run, version 1 kept', { timeout: 300_000 }, async () => {
    const template = tempDir();
    const name = 'renewal.example.test';
    expect((await runCli(issueArgs(template, name))).code).toBe(0);
    const v1 = fs.readFileSync(path.join(template, 'archive', name, 'privkey1.pem'));
    const copy = () => {
      const state = tempDir();
      fs.cpSync(template, state, { recursive: true, verbatimSymlinks: true });
      return state;
    };
    const ref = copy();
    const r = await underStrace(renewArgs(ref, ['--force-renewal']));
    expect(r.code).toBe(0);
    const points = narrow(killPoints(r.calls, ref, name));
    expect(points.map((p) => p.sys)).toEqual(LAYOUT);
    for (const pt of points) {
      const state = await crashAtStep((st) => renewArgs(st, ['--force-renewal']), pt, () => (proxy.resetObservations(), copy()), name);
      expect(proxy.issued, pt.what).toBe(1);

      const renew = await runCli(renewArgs(state, ['--json']));
      expect(renew.stderr, pt.what).toBe('');
      expect(renew.code, `${pt.what}: ${renew.stdout}`).toBe(0);
      expect(JSON.parse(renew.stdout).lineages[0].action, pt.what).toBe(allDone(pt.what) ? 'kept' : 'recovered');
      const version = assertConsistent(state, name, ['main']);
      expect(version, pt.what).toBeGreaterThanOrEqual(2);
      await statusShows(state, name, version);

      const issue = await runCli(issueArgs(state, name, ['--json']));
      expect(issue.code, pt.what).toBe(3);
      expect(proxy.issued, pt.what).toBe(1);
      expect(accepted('newOrder', 201), pt.what).toBe(1);
      expect(accepted('finalize', 200), pt.what).toBe(1);
      // The old version is never touched.
      expect(fs.readFileSync(path.join(state, 'archive', name, 'privkey1.pem')).equals(v1), pt.what).toBe(true);
      expect(q(state, 'SELECT id FROM certificates')).toHaveLength(2);
    }
  });
});

describe('a state dir left by the certctl before the storing step (lineage at version 2, its certificate row at 1)', () => {
  it('renew records the certificate at version 2 from the files, orders nothing; status shows it', { timeout: 120_000 }, async () => {
    const state = tempDir();
    const name = 'legacy.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    // What the old code left: version 2 written from the same download and live/ switched to it, the row still at 1.
    const archive = path.join(state, 'archive', name);
    for (const f of ['cert', 'chain', 'fullchain', 'privkey']) {
      fs.copyFileSync(path.join(archive, `${f}1.pem`), path.join(archive, `${f}2.pem`));
      fs.rmSync(path.join(state, 'live', name, `${f}.pem`));
      fs.symlinkSync(`../../archive/${name}/${f}2.pem`, path.join(state, 'live', name, `${f}.pem`));
    }
    fs.chmodSync(path.join(archive, 'privkey2.pem'), 0o600);
    const db = new Database(path.join(state, 'ledger.sqlite'));
    db.prepare('UPDATE lineages SET current_version = 2').run();
    db.close();
    const before = await runCli(['--state-dir', state, 'status', '--json']);
    expect(JSON.parse(before.stdout).lineages[0].notAfter).toBeNull();

    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).lineages[0].action).toBe('recovered');
    expect(proxy.total()).toBe(0);
    expect(assertConsistent(state, name, ['main'])).toBe(2);
    await statusShows(state, name, 2);
    const again = await runCli(renewArgs(state, ['--json']));
    expect(JSON.parse(again.stdout).lineages[0].action).toBe('kept');
    expect(proxy.issued).toBe(0);
  });
});

describe('a renewal killed mid-switch, then issue (not renew) for the held set', () => {
  it('issue finishes the switch instead of saying "already held" beside a half-switched live/', { timeout: 120_000 }, async () => {
    const state = tempDir();
    const name = 'renewal-issue.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    proxy.resetObservations();
    await crashAt(renewArgs(state, ['--force-renewal']), symlinkPoint(3, 'fullchain2.pem'), state, name);
    // Half switched: cert.pem and chain.pem at version 2, the key still at version 1.
    expect(fs.readlinkSync(path.join(state, 'live', name, 'cert.pem'))).toMatch(/cert2\.pem$/);
    expect(fs.readlinkSync(path.join(state, 'live', name, 'privkey.pem'))).toMatch(/privkey1\.pem$/);
    const r = await runCli(issueArgs(state, name, ['--json']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result).toBe('recovered');
    expect(assertConsistent(state, name, ['main'])).toBe(2);
    await statusShows(state, name, 2);
    expect(proxy.issued).toBe(1);
  });
});

describe('dual (RSA + ECDSA): SIGKILL at each symlink of the live/ switch', () => {
  it('both parts end at one version with their own keys, two certificates at the CA', { timeout: 300_000 }, async () => {
    const ref = tempDir();
    const refName = 'ref-dual.example.test';
    const r = await underStrace(issueArgs(ref, refName, ['--key-type', 'dual']));
    expect(r.code).toBe(0);
    const all = killPoints(r.calls, ref, refName);
    const symlinks = all.filter((p) => p.sys === 'symlink');
    const unlinks = all.filter((p) => p.sys === 'unlink');
    expect([symlinks.length, unlinks.length]).toEqual([8, 2]);
    // The first link, the first of the ECDSA part's, the last; the first pending key's removal (the other still there).
    const points = [symlinks[0]!, symlinks.find((p) => p.what.includes('-ecdsa'))!, symlinks[7]!, unlinks[0]!];
    for (const [i, pt] of points.entries()) {
      const state = tempDir();
      const name = `dual-k${i}.example.test`;
      proxy.resetObservations();
      await crashAt(issueArgs(state, name, ['--key-type', 'dual']), pt, state, name);
      const renew = await runCli(renewArgs(state, ['--json']));
      expect(renew.code, `${pt.what}: ${renew.stdout}`).toBe(0);
      const version = assertConsistent(state, name, ['main', 'ecdsa']);
      await statusShows(state, name, version);
      expect(proxy.issued, pt.what).toBe(2);
      expect(accepted('newOrder', 201), pt.what).toBe(2);
    }
  });
});

describe('SM2 bundle (CA-made encryption key): SIGKILL in the live/ switch and in the archive writes', () => {
  it('three parts end at one version, every key matching its certificate, three certificates at the CA', { timeout: 300_000 }, async () => {
    const dns = await startChallTestSrv();
    const web = await startWebroot();
    const srv = await startSm2AcmeServer({ resolver: dns.resolver, httpPort: web.port, envelopedKey: true });
    try {
      const args = (state: string) => ['--state-dir', state, 'issue', '--ca', 'sm2acme', '--server', srv.directoryUrl, '--ca-bundle', srv.tlsCert, '--webroot', web.dir, '--resolver', dns.resolver, '--http-port', String(web.port), '-d', 'sm2.example.test'];
      const ref = tempDir();
      const r = await underStrace(args(ref));
      expect(r.code).toBe(0);
      const all = killPoints(r.calls, ref, 'sm2.example.test');
      const symlinks = all.filter((p) => p.sys === 'symlink');
      const archive = all.filter((p) => p.sys === 'rename' && p.what.includes(' archive/'));
      // main 4 + sign 3 + enc 2 + double_certs 1
      expect([symlinks.length, archive.length]).toEqual([10, 10]);
      // The last archive file missing (downloaded again, envelope included), the first link, one in the SM2 part, the last.
      const points = [archive[9]!, symlinks[0]!, symlinks.find((p) => p.what.includes('enc'))!, symlinks[9]!];
      for (const pt of points) {
        let before = { finalize: 0, orders: 0 };
        const state = await crashAtStep(args, pt, () => ((before = { finalize: srv.stats.finalize, orders: srv.stats.orders }), tempDir()), 'sm2.example.test');
        const renew = await runCli(renewArgs(state, ['--json']));
        expect(renew.code, `${pt.what}: ${renew.stdout}`).toBe(0);
        expect(JSON.parse(renew.stdout).lineages[0].action, pt.what).toBe('recovered');
        expect(srv.stats.finalize - before.finalize, pt.what).toBe(3);
        expect(srv.stats.orders - before.orders, pt.what).toBe(3);
        const live = path.join(state, 'live', 'sm2.example.test');
        const versions = new Set(fs.readdirSync(live).map((f) => /(\d+)\.(pem|key)$/.exec(fs.readlinkSync(path.join(live, f)))![1]));
        expect([...versions], pt.what).toHaveLength(1);
        const version = Number([...versions][0]);
        for (const [cert, key] of [['cert.pem', 'privkey.pem'], ['sign.pem', 'sign.key'], ['enc.pem', 'enc.key']] as const) {
          const leaf = splitPemChain(fs.readFileSync(path.join(live, cert), 'utf8'))[0]!;
          expect(await keyMatchesCert(fs.readFileSync(path.join(live, key), 'utf8'), leaf), `${pt.what}: ${key}`).toBe(true);
        }
        expect(fs.existsSync(path.join(live, 'double_certs.pem'))).toBe(true);
        expect(q<{ current_version: number }>(state, 'SELECT current_version FROM lineages')[0]!.current_version).toBe(version);
        expect(q<{ n: number }>(state, `SELECT count(*) AS n FROM certificates WHERE version = ${version}`)[0]!.n).toBe(3);
        expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
        await statusShows(state, 'sm2.example.test', version);
      }
    } finally {
      await srv.stop();
      await web.stop();
      await dns.stop();
    }
  });
});
