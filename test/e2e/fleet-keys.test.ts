/**
 * A fleet on one PostgreSQL ledger (issue 16, first half), end to end on
 * Debian's PostgreSQL (testkit/postgres.ts) and Pebble, counted at the ACME
 * test proxy. Three "hosts" are three state directories and --host names on
 * one machine, each with its own copy of the fleet key file:
 *  - host a issues; b (deploy add) and c (issue of the same set) get
 *    byte-identical certificate and key files with 0 orders sent, and no
 *    account key file is on any host: the account is the ledger's;
 *  - a renews; b and c write the new version on their next run and their
 *    deploy hooks run;
 *  - a wrong fleet key, no fleet key, a key readable by others: refused in
 *    one sentence (exit 2), nothing written (state dir, every ledger table);
 *  - pg_dump of the database holds no private key in clear;
 *  - b SIGKILLed while it writes its files: the next run finishes, the files
 *    are whole (key matches certificate) and its deploy hook runs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startPostgres, postgresBinDir, type PostgresServer } from '../../testkit/postgres.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { keyMatchesCert } from '../../src/core/store/lineage.js';
import { runCli, startCli, tempDir, q, type CliResult } from '../helpers/cli.js';
import { walk, dumpTables } from '../helpers/fleet.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
let server: PostgresServer;
let url: string;
const NAME = 'fleet-keys.example.test';
const HOSTS = ['a', 'b', 'c'] as const;
type Host = (typeof HOSTS)[number];
const state: Record<string, string> = {};
const keyFile: Record<string, string> = {};
const work = tempDir('certctl-fleet-keys-');
const FILES = ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem'];

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('fleet_keys');
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  for (const h of HOSTS) state[h] = tempDir(`certctl-host-${h}-`);
  // The fleet's setup (docs/fleet.md): one key, written once, copied (0600) to every host.
  keyFile.a = path.join(work, 'a.key');
  const init = await runCli(['fleet', 'key', 'init', keyFile.a]);
  expect(init.code, init.stderr).toBe(0);
  expect(fs.statSync(keyFile.a).mode & 0o777).toBe(0o600);
  for (const h of ['b', 'c']) {
    keyFile[h] = path.join(work, `${h}.key`);
    fs.copyFileSync(keyFile.a, keyFile[h]!);
    fs.chmodSync(keyFile[h]!, 0o600);
  }
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await server?.stop();
});

const env = (h: string, key = keyFile[h]) => ({ CERTCTL_LEDGER: url, CERTCTL_FLEET_KEY_FILE: key, CERTCTL_HOST: h });
const issueArgs = (h: string, name = NAME) => ['--state-dir', state[h]!, 'issue', '--json', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name];
const renewArgs = (h: string, ...more: string[]) => ['--state-dir', state[h]!, 'renew', '--json', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...more];
const created = (endpoint: string) => proxy.requests.filter((x) => x.endpoint === endpoint && (x.status === 201 || x.status === 200)).length;
const orders = () => proxy.requests.filter((x) => x.endpoint === 'newOrder').length;
function rows<T>(sql: string): T[] {
  const l = Ledger.open(url);
  try {
    return l.db.prepare(sql).all() as T[];
  } finally {
    l.close();
  }
}
const live = (h: string, f: string) => fs.readFileSync(path.join(state[h]!, 'live', NAME, f), 'utf8');
const json = (r: CliResult) => JSON.parse(r.stdout);

async function expectSameFiles(hosts: readonly Host[], version: number): Promise<void> {
  for (const f of FILES) {
    const first = live(hosts[0]!, f);
    for (const h of hosts) expect(live(h, f), `${h} ${f}`).toBe(first);
  }
  for (const h of hosts) {
    // live/ points at archive version N; the key 0600 and the certificate's own.
    expect(fs.readlinkSync(path.join(state[h]!, 'live', NAME, 'cert.pem'))).toBe(path.join('..', '..', 'archive', NAME, `cert${version}.pem`));
    expect(fs.statSync(path.join(state[h]!, 'archive', NAME, `privkey${version}.pem`)).mode & 0o777).toBe(0o600);
    expect(await keyMatchesCert(live(h, 'privkey.pem'), live(h, 'cert.pem'))).toBe(true);
    expect(walk(path.join(state[h]!, 'archive')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }
}

describe('a fleet of three hosts on one PostgreSQL ledger with a fleet key', () => {
  it('host a issues; b (deploy add, renew) and c (issue of the same set) get byte-identical files with 0 orders; no account key file on any host', async () => {
    proxy.resetObservations();
    const a = await runCli(issueArgs('a'), env('a'));
    expect(a.code, a.stderr).toBe(0);
    expect(json(a)).toMatchObject({ result: 'issued', version: 1 });
    expect(proxy.issued).toBe(1);
    // The account key is in the ledger, sealed: no file was written for it.
    expect(walk(path.join(state.a!, 'accounts'))).toEqual([]);
    const [acct] = rows<{ key_sealed: string }>('SELECT key_sealed FROM accounts');
    expect(acct!.key_sealed).toMatch(/^certctl-sealed-v1:[0-9a-f]{16}:/);

    proxy.resetObservations();
    const add = await runCli(['--state-dir', state.b!, 'deploy', 'add', '--cert-name', NAME, '--host', 'b'], env('b'));
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout + add.stderr).toContain(`b now deploys ${NAME}`);
    const b = await runCli(renewArgs('b'), env('b'));
    expect(b.code, b.stderr).toBe(0);
    const bd = json(b);
    expect(bd.deployed).toMatchObject([{ lineage: NAME, version: 1, action: 'deployed', renewedBy: 'a' }]);
    expect(bd.lineages.find((x: { lineage: string }) => x.lineage === NAME).action).toBe('kept');
    // c asks for the set the fleet holds: written here from the ledger, not "already held" with nothing.
    const c = await runCli(issueArgs('c'), env('c'));
    expect(c.code, c.stderr).toBe(0);
    expect(json(c)).toMatchObject({ result: 'deployed', lineage: NAME, version: 1 });
    expect(orders()).toBe(0);
    expect(proxy.issued).toBe(0);
    await expectSameFiles(HOSTS, 1);
    for (const h of HOSTS) expect(walk(path.join(state[h]!, 'accounts'))).toEqual([]);

    // status on any host: each lineage's hosts, who is up to date, who renewed it last.
    const st = await runCli(['--state-dir', state.c!, '--json', 'status'], env('c'));
    expect(st.code, st.stderr).toBe(0);
    const l = json(st).lineages.find((x: { name: string }) => x.name === NAME);
    expect(l.hosts.map((h: { host: string; deployedVersion: number; upToDate: boolean }) => [h.host, h.deployedVersion, h.upToDate])).toEqual([['a', 1, true], ['b', 1, true], ['c', 1, true]]);
    expect(l.renewedBy.host).toBe('a');
    const text = await runCli(['--state-dir', state.b!, 'status'], env('b'));
    expect(text.stdout).toMatch(/hosts: a v1 up to date; b v1 up to date; c v1 up to date {2}\(renewed last by a, /);
    const m = await runCli(['--state-dir', state.b!, 'metrics'], env('b'));
    expect(m.stdout).toContain(`certctl_lineage_host_up_to_date{lineage="${NAME}",host="c"} 1`);
    expect(m.stdout).toContain(`certctl_lineage_renewed_by{lineage="${NAME}",host="a"} 1`);
    const list = await runCli(['--state-dir', state.b!, '--json', 'deploy', 'list'], env('b'));
    expect(json(list).lineages[0]).toMatchObject({ lineage: NAME, renewedBy: 'a', hosts: [{ host: 'a' }, { host: 'b' }, { host: 'c' }] });
  });

  it('a second host orders with the account from the ledger: no new account, no key file copied', async () => {
    proxy.resetObservations();
    const other = 'fleet-keys-b.example.test';
    const r = await runCli(issueArgs('b', other), env('b'));
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ result: 'issued' });
    expect(proxy.requests.filter((x) => x.endpoint === 'newAccount')).toHaveLength(0);
    expect(rows('SELECT id FROM accounts')).toHaveLength(1);
    expect(walk(path.join(state.b!, 'accounts'))).toEqual([]);
    const del = await runCli(['--state-dir', state.b!, 'delete', '--cert-name', other, '--yes'], env('b'));
    expect(del.code, del.stderr).toBe(0);
    expect(rows(`SELECT file FROM version_files WHERE lineage = '${other}'`)).toEqual([]);
  });

  it('a renews: b and c write the new version on their next run and run their deploy hooks (0 orders)', async () => {
    proxy.resetObservations();
    const a = await runCli(renewArgs('a', '--force-renewal', '--cert-name', NAME), env('a'));
    expect(a.code, a.stderr).toBe(0);
    expect(json(a).lineages[0]).toMatchObject({ lineage: NAME, action: 'renewed' });
    expect(proxy.issued).toBe(1);
    proxy.resetObservations();
    for (const h of ['b', 'c'] as const) {
      const marker = path.join(work, `hook-${h}.txt`);
      const r = await runCli(renewArgs(h, '--deploy-hook', `echo "$RENEWED_LINEAGE $RENEWED_DOMAINS" >> ${marker}`), env(h));
      expect(r.code, r.stderr).toBe(0);
      expect(json(r).deployed).toMatchObject([{ lineage: NAME, version: 2, action: 'deployed', renewedBy: 'a', hooks: [{ hook: 'deploy-hook', ok: true }] }]);
      expect(fs.readFileSync(marker, 'utf8')).toBe(`${path.join(state[h]!, 'live', NAME)} ${NAME}\n`);
      // A run with nothing newer writes nothing and runs no hook.
      const again = await runCli(renewArgs(h, '--deploy-hook', `echo again >> ${marker}`), env(h));
      expect(json(again).deployed).toEqual([]);
      expect(fs.readFileSync(marker, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    }
    expect(orders()).toBe(0);
    await expectSameFiles(HOSTS, 2);
    expect(live('b', 'cert.pem')).not.toBe(fs.readFileSync(path.join(state.b!, 'archive', NAME, 'cert1.pem'), 'utf8'));
    const hostsRows = rows<{ host: string; deployed_version: number; pending_version: number | null }>(`SELECT host, deployed_version, pending_version FROM lineage_hosts WHERE lineage = '${NAME}' ORDER BY host`);
    expect(hostsRows).toEqual([{ host: 'a', deployed_version: 2, pending_version: null }, { host: 'b', deployed_version: 2, pending_version: null }, { host: 'c', deployed_version: 2, pending_version: null }]);
  });

  it('the database holds no private key in clear: pg_dump has no PRIVATE KEY, nor any key body', () => {
    const db = new URL(url).pathname.slice(1);
    const dump = execFileSync(path.join(postgresBinDir(), 'pg_dump'), ['-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', db], { maxBuffer: 64 * 1024 * 1024 }).toString();
    expect(dump).toContain('version_files');
    expect(dump).toContain('BEGIN CERTIFICATE'); // certificates are public, and stored
    expect(dump).not.toContain('PRIVATE KEY');
    for (const h of HOSTS) {
      for (const f of walk(path.join(state[h]!, 'archive')).filter((x) => /privkey\d+\.pem$/.test(x))) {
        const body = fs.readFileSync(f, 'utf8').split('\n').filter((x) => x && !x.startsWith('-----')).join('');
        expect(body.length).toBeGreaterThan(60);
        for (let i = 0; i + 24 <= body.length; i += 24) expect(dump.includes(body.slice(i, i + 24)), f).toBe(false);
        // Not even as base64 of the DER inside another encoding: the raw bytes are nowhere either.
        expect(dump.includes(Buffer.from(body, 'base64').toString('hex').slice(0, 48))).toBe(false);
      }
    }
    const secrets = rows<{ file: string; data: string; key_id: string }>("SELECT file, data, key_id FROM version_files WHERE secret = 1");
    expect(secrets.length).toBeGreaterThanOrEqual(2);
    for (const s of secrets) expect(s.data).toMatch(new RegExp(`^certctl-sealed-v1:${s.key_id}:`));
  });

  it('a wrong fleet key, no fleet key, or a key others can read: refused in one sentence (exit 2), nothing written', async () => {
    const d = tempDir('certctl-host-d-');
    const wrongKey = path.join(work, 'wrong.key');
    expect((await runCli(['fleet', 'key', 'init', wrongKey])).code).toBe(0);
    // fleet key init never overwrites a key.
    const again = await runCli(['fleet', 'key', 'init', wrongKey]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists already: certctl never overwrites a fleet key/);
    const before = dumpTables(url);
    const dEnv = (key: string | undefined) => ({ CERTCTL_LEDGER: url, CERTCTL_FLEET_KEY_FILE: key, CERTCTL_HOST: 'd' });
    const runs: [string[], string | undefined, RegExp][] = [
      [['--state-dir', d, 'renew', '--no-random-sleep'], wrongKey, /is not the key this ledger's secrets are sealed with \(id [0-9a-f]{16}\): certctl changed nothing\./],
      [issueArgs('b').map((x) => (x === state.b ? d : x)), wrongKey, /is not the key this ledger's secrets are sealed with/],
      [['--state-dir', d, 'renew', '--no-random-sleep'], undefined, /this host was given no fleet key: certctl changed nothing\./],
    ];
    for (const [args, key, msg] of runs) {
      const r = await runCli(args, dEnv(key));
      expect(r.code, r.stderr).toBe(2);
      if (args.includes('--json')) {
        // --json: the one error document on stdout.
        expect(json(r)).toMatchObject({ schema: 'certctl.error/1', error: { exitCode: 2 } });
        expect(json(r).error.message).toMatch(msg);
      } else {
        expect(r.stderr).toMatch(msg);
        expect(r.stderr.trim().split('\n')[0]).toMatch(msg);
      }
    }
    // A key file others can read is not used.
    const loose = path.join(work, 'loose.key');
    fs.copyFileSync(keyFile.a!, loose);
    fs.chmodSync(loose, 0o644);
    const r = await runCli(['--state-dir', d, 'renew', '--no-random-sleep'], dEnv(loose));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/can be read by group or others \(mode 0644\).*\n.*chmod 600/);
    expect(walk(d)).toEqual([]);
    expect(dumpTables(url)).toBe(before);
  });

  it('b SIGKILLed while it writes its files from the ledger: the next run finishes it, files whole, deploy hook run', async () => {
    proxy.resetObservations();
    const a = await runCli(renewArgs('a', '--force-renewal', '--cert-name', NAME), env('a'));
    expect(a.code, a.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
    proxy.resetObservations();
    const archive = path.join(state.b!, 'archive', NAME);
    const marker = path.join(work, 'hook-crash.txt');
    const hook = `echo "$RENEWED_LINEAGE" >> ${marker}`;
    // Killed at the first file it creates for version 3 (the temporary file of the first write).
    const run = startCli(renewArgs('b', '--deploy-hook', hook), env('b'));
    let killedOn = '';
    const watcher = fs.watch(archive, (_e, f) => {
      if (!killedOn && f && f.includes('3')) {
        killedOn = String(f);
        run.child.kill('SIGKILL');
      }
    });
    const killed = await run.result;
    watcher.close();
    expect(killed.signal).toBe('SIGKILL');
    expect(killedOn).not.toBe('');
    // The journal says b was writing version 3 and has not finished it.
    expect(rows(`SELECT deployed_version, pending_version FROM lineage_hosts WHERE lineage = '${NAME}' AND host = 'b'`)).toEqual([{ deployed_version: 2, pending_version: 3 }]);
    expect(fs.existsSync(marker)).toBe(false);
    const st = await runCli(['--state-dir', state.b!, '--json', 'status'], env('b'));
    expect(json(st).lineages.find((x: { name: string }) => x.name === NAME).hosts.find((h: { host: string }) => h.host === 'b')).toMatchObject({ upToDate: false, pending: true });

    const next = await runCli(renewArgs('b', '--deploy-hook', hook), env('b'));
    expect(next.code, next.stderr).toBe(0);
    expect(json(next).deployed).toMatchObject([{ lineage: NAME, version: 3, action: 'deployed' }]);
    expect(fs.readFileSync(marker, 'utf8')).toBe(`${path.join(state.b!, 'live', NAME)}\n`);
    await expectSameFiles(['a', 'b'], 3);
    expect(orders()).toBe(0);
    expect(rows(`SELECT deployed_version, pending_version FROM lineage_hosts WHERE lineage = '${NAME}' AND host = 'b'`)).toEqual([{ deployed_version: 3, pending_version: null }]);
  });
});

describe('rotating the fleet key', () => {
  it('fleet key rotate --new re-seals every key; a host with the old key is refused and changes nothing; with the new one it works', async () => {
    const next = path.join(work, 'next.key');
    expect((await runCli(['fleet', 'key', 'init', next])).code).toBe(0);
    const sealedBefore = rows<{ n: number }>('SELECT count(*) AS n FROM version_files WHERE secret = 1')[0]!.n;
    const rot = await runCli(['--state-dir', state.a!, '--json', 'fleet', 'key', 'rotate', '--new', next], env('a'));
    expect(rot.code, rot.stderr).toBe(0);
    expect(json(rot)).toMatchObject({ action: 'rotate', resealed: { files: Number(sealedBefore), accounts: 1 } });
    const newId = json(rot).keyId as string;
    expect(rows<{ key_id: string }>('SELECT DISTINCT key_id FROM version_files WHERE secret = 1')).toEqual([{ key_id: newId }]);
    const before = dumpTables(url);
    const old = await runCli(renewArgs('b'), env('b'));
    expect(old.code).toBe(2);
    expect(json(old).error.message).toMatch(/is not the key this ledger's secrets are sealed with/);
    expect(dumpTables(url)).toBe(before);
    for (const h of ['b', 'c']) fs.copyFileSync(next, keyFile[h]!);
    proxy.resetObservations();
    const b = await runCli(renewArgs('b'), env('b'));
    expect(b.code, b.stderr).toBe(0);
    const c = await runCli(renewArgs('c'), env('c', keyFile.c));
    expect(c.code, c.stderr).toBe(0);
    expect(json(c).deployed).toMatchObject([{ lineage: NAME, version: 3, action: 'deployed' }]);
    await expectSameFiles(HOSTS.filter((h) => h !== 'a') as Host[], 3);
    expect(orders()).toBe(0);
  });
});

describe('a SQLite ledger keeps its keys on disk, as before', () => {
  it('issue with --fleet-key on SQLite: the account key and certificate key are files, the ledger stores no file', async () => {
    const s = tempDir('certctl-sqlite-');
    const r = await runCli(['--fleet-key', keyFile.a!, ...issueArgs('a', 'fleet-sqlite.example.test').map((x) => (x === state.a ? s : x))], { CERTCTL_LEDGER: undefined, CERTCTL_FLEET_KEY_FILE: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(walk(path.join(s, 'accounts')).filter((f) => f.endsWith('account.key'))).toHaveLength(1);
    expect(fs.statSync(path.join(s, 'archive', 'fleet-sqlite.example.test', 'privkey1.pem')).mode & 0o777).toBe(0o600);
    expect(q(s, 'SELECT * FROM version_files')).toEqual([]);
    expect(q(s, 'SELECT * FROM lineage_hosts')).toEqual([]);
    expect(q<{ key_sealed: string | null }>(s, 'SELECT key_sealed FROM accounts')).toEqual([{ key_sealed: null }]);
  });
});
