/**
 * A fleet's correctness at its edges (issue 16, third part), end to end on
 * Debian's PostgreSQL (testkit/postgres.ts) and Pebble, counted at the ACME
 * test proxy. "Hosts" are state directories and --host names on one machine.
 * Pebble serves no webroot: its HTTP-01 port is host c's `certctl serve`.
 *  - a is SIGKILLed in its live/ switch (strace, after the certificate is in
 *    the ledger): b, which deploys the lineage, finishes the switch from the
 *    ledger's version_files (its archive/ never had the files), and a's next
 *    run writes the same version: byte-identical files, 0 new orders;
 *  - `apply` with `serve: true` and `hosts:` works as issue --serve does;
 *  - `fleet key rotate` while 3 renewals are storing: nothing is left sealed
 *    under the old key; the renewals are refused in one sentence, then stored
 *    with the new key without a new order;
 *  - a wrong or missing fleet key: renew, serve, deploy list, status;
 *  - the database down: renew exits 10 in one sentence, live/ untouched.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startPostgres, postgresBinDir } from '../../testkit/postgres.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { loadFleetKey } from '../../src/core/fleet/key.js';
import { keyMatchesCert } from '../../src/core/store/lineage.js';
import { runCli, startCli, tempDir, type CliResult } from '../helpers/cli.js';
import { killedAtSyscall } from '../helpers/crash.js';
import { useFleetSuite, livePem, outcomes, waitLeaseExpired, walk, dumpTables, type Fleet } from '../helpers/fleet.js';

const FILES = ['cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem'];
const h = useFleetSuite('certctl-fleet3-', () => {
  if (!fs.existsSync('/usr/bin/strace')) throw new Error('strace is missing: install it (apt-get install strace); the live/ switch kill injects SIGKILL with it.');
});
const linkOf = (state: string, name: string, f: string) => fs.readlinkSync(path.join(state, 'live', name, f));
const count = (endpoint: string) => h.proxy.requests.filter((x) => x.endpoint === endpoint).length;
/** The ledger's files of a version, keys opened with `key`. */
function ledgerFiles(url: string, name: string, version: number, key = h.keyFile): Record<string, string> {
  const l = Ledger.open(url);
  try {
    l.sealer = loadFleetKey(key);
    return Object.fromEntries(l.versionFiles(name, version).map((f) => [f.file, f.data]));
  } finally {
    l.close();
  }
}
/** live/NAME on a host: every link at archive version `version`, the bytes the ledger holds, key 0600 and the certificate's own. */
async function expectLiveFromLedger(f: Fleet, h: string, name: string, version: number): Promise<void> {
  const stored = ledgerFiles(f.url, name, version);
  expect(Object.keys(stored).sort()).toEqual([...FILES].sort());
  for (const file of FILES) {
    expect(linkOf(f.state[h]!, name, file), `${h} ${file}`).toBe(path.join('..', '..', 'archive', name, file.replace('.pem', `${version}.pem`)));
    expect(livePem(f.state[h]!, name, file), `${h} ${file}`).toBe(stored[file]);
  }
  expect(fs.statSync(path.join(f.state[h]!, 'archive', name, `privkey${version}.pem`)).mode & 0o777).toBe(0o600);
  expect(await keyMatchesCert(livePem(f.state[h]!, name, 'privkey.pem'), livePem(f.state[h]!, name))).toBe(true);
  expect(walk(f.state[h]!).filter((x) => x.endsWith('.tmp'))).toEqual([]);
}
describe('an interrupted live/ switch, finished on another host', () => {
  it('a is killed in its live/ switch after the certificate is in the ledger; b (which deploys it) finishes the switch from version_files, then a writes the same version: 0 new orders', { timeout: 240_000 }, async () => {
    const f = await h.fleet('f3_switch');
    const name = 'switch.fleet3.test';
    expect((await f.issue('a', name)).code).toBe(0);
    expect((await runCli(['--state-dir', f.dir('b'), 'deploy', 'add', '--cert-name', name], f.env('b'))).code).toBe(0);
    const b1 = await runCli(f.renewArgs('b'), f.env('b'));
    expect(b1.code, b1.stderr).toBe(0);
    expect(JSON.parse(b1.stdout).deployed).toMatchObject([{ lineage: name, version: 1, action: 'deployed' }]);
    h.proxy.resetObservations();

    // a renews and is killed entering its third live/ link (cert.pem and chain.pem switched, fullchain.pem and privkey.pem not).
    const killed = await killedAtSyscall(f.renewArgs('a', '--force-renewal', '--cert-name', name, '--lease-ttl', '4'), f.env('a'), 'symlink', 3);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(h.proxy.issued).toBe(1);
    expect(linkOf(f.state.a!, name, 'cert.pem')).toBe(path.join('..', '..', 'archive', name, 'cert2.pem'));
    expect(linkOf(f.state.a!, name, 'fullchain.pem')).toBe(path.join('..', '..', 'archive', name, 'fullchain1.pem'));
    // The ledger: version 2 stored (rows, files) and journalled 'storing'; the lineage still at 1.
    expect(f.rows("SELECT step FROM orders WHERE state = 'open'")).toEqual([{ step: 'storing' }]);
    expect(f.rows<{ current_version: number }>('SELECT current_version FROM lineages')).toEqual([{ current_version: 1 }]);
    const stored = ledgerFiles(f.url, name, 2);
    expect(Object.keys(stored).sort()).toEqual([...FILES].sort());
    expect(fs.existsSync(path.join(f.state.b!, 'archive', name, 'cert2.pem'))).toBe(false);
    const [lease] = f.rows<{ host: string; expires_at: string }>('SELECT host, expires_at FROM leases');
    expect(lease!.host).toBe('a');
    await waitLeaseExpired(f, Number(lease!.expires_at));

    // b: the switch is finished here, from the ledger. Nothing is asked of the CA (not even the certificate).
    h.proxy.resetObservations();
    const b = await runCli(f.renewArgs('b'), f.env('b'));
    expect(b.code, b.stderr).toBe(0);
    expect(outcomes(b)).toEqual([expect.objectContaining({ lineage: name, action: 'recovered' })]);
    for (const e of ['newOrder', 'finalize', 'certificate']) expect(count(e), e).toBe(0);
    expect(h.proxy.issued).toBe(0);
    expect(f.rows<{ current_version: number }>('SELECT current_version FROM lineages')).toEqual([{ current_version: 2 }]);
    expect(f.rows("SELECT id FROM orders WHERE state = 'open'")).toEqual([]);
    expect(f.rows<{ v: string }>('SELECT max(version) AS v FROM certificates').map((r) => Number(r.v))).toEqual([2]);
    await expectLiveFromLedger(f, 'b', name, 2);
    // The files are the ones a wrote into its archive before it was killed.
    for (const file of FILES) expect(fs.readFileSync(path.join(f.state.a!, 'archive', name, file.replace('.pem', '2.pem')), 'utf8')).toBe(stored[file]);

    // a's next run: writes version 2 from the ledger (live/ whole again), removes its pending/ copy of the key; 0 orders.
    expect(walk(path.join(f.state.a!, 'pending'))).toHaveLength(1);
    const a = await runCli(f.renewArgs('a'), f.env('a'));
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout).deployed).toMatchObject([{ lineage: name, version: 2, action: 'deployed' }]);
    expect(outcomes(a)).toEqual([expect.objectContaining({ lineage: name, action: 'kept' })]);
    await expectLiveFromLedger(f, 'a', name, 2);
    expect(walk(path.join(f.state.a!, 'pending'))).toEqual([]);
    for (const file of FILES) expect(livePem(f.state.a!, name, file)).toBe(livePem(f.state.b!, name, file));
    expect(count('newOrder')).toBe(0);
    expect(h.proxy.issued).toBe(0);
    expect(f.rows('SELECT host, deployed_version, pending_version FROM lineage_hosts ORDER BY host')).toEqual([
      { host: 'a', deployed_version: 2, pending_version: null },
      { host: 'b', deployed_version: 2, pending_version: null },
    ]);
  });
});

describe('apply on a fleet', () => {
  it('serve: true and hosts: work through apply as through issue --serve: a orders once, b writes it from the ledger, c (not a host) gets nothing', { timeout: 240_000 }, async () => {
    const f = await h.fleet('f3_apply');
    const name = 'applied.fleet3.test';
    const config = path.join(h.work, 'apply.yaml');
    fs.writeFileSync(
      config,
      [
        'defaults:',
        `  server: ${h.proxy.directoryUrl}`,
        `  caBundle: ${h.pebble.caBundle}`,
        `  resolver: ${h.pebble.dns.resolver}`,
        `  httpPort: ${h.pebble.httpPort}`,
        'certificates:',
        `  - domains: [${name}]`,
        '    serve: true',
        '    hosts: [a, b]',
        '',
      ].join('\n'),
    );
    const apply = (h: string) => runCli(['--config', config, '--state-dir', f.dir(h), '--json', 'apply'], f.env(h));
    const item = (r: CliResult) => JSON.parse(r.stdout).certificates[0];
    const a = await apply('a');
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(item(a)).toMatchObject({ name, action: 'issued' });
    expect(h.proxy.issued).toBe(1);
    // HTTP-01 answered by c's certctl serve from the ledger (nothing else listens on Pebble's port).
    expect(h.proxy.requests.filter((x) => x.endpoint === 'challenge' && x.status === 200)).toHaveLength(1);
    expect(f.rows('SELECT challenge FROM lineages')).toEqual([{ challenge: 'fleet' }]);
    expect(f.rows('SELECT token FROM http_challenges')).toEqual([]);
    expect(f.rows('SELECT host FROM lineage_hosts ORDER BY host')).toEqual([{ host: 'a' }, { host: 'b' }]);

    h.proxy.resetObservations();
    const b = await apply('b');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(item(b)).toMatchObject({ name, action: 'deployed', reason: expect.stringMatching(/version 1 written here from the ledger \(renewed by a\); 0 orders/) });
    for (const file of FILES) expect(livePem(f.state.b!, name, file)).toBe(livePem(f.state.a!, name, file));
    await expectLiveFromLedger(f, 'b', name, 1);
    const text = await runCli(['--config', config, '--state-dir', f.dir('b'), 'apply'], f.env('b'));
    expect(text.code).toBe(0);
    expect(text.stdout + text.stderr).toMatch(/held\s+applied\.fleet3\.test/);
    const c = await apply('c');
    expect(c.code).toBe(0);
    expect(item(c)).toMatchObject({ name, action: 'held' });
    expect(fs.existsSync(path.join(f.state.c!, 'live', name))).toBe(false);
    expect(f.rows('SELECT host, deployed_version FROM lineage_hosts ORDER BY host')).toEqual([
      { host: 'a', deployed_version: 1 },
      { host: 'b', deployed_version: 1 },
    ]);
    expect(count('newOrder')).toBe(0);
    expect(h.proxy.issued).toBe(0);

    // serve on a ledger that is not a fleet's (SQLite): refused in one sentence, nothing sent.
    h.proxy.resetObservations();
    const solo = tempDir('certctl-f3-solo-');
    const r = await runCli(['--config', config, '--state-dir', solo, '--json', 'apply'], { CERTCTL_LEDGER: undefined, CERTCTL_FLEET_KEY_FILE: undefined });
    expect(r.code).toBe(2);
    expect(item(r)).toMatchObject({ action: 'failed', exitCode: 2, reason: expect.stringMatching(/serve answers HTTP-01 from a fleet's shared ledger, and this ledger is not one .*nothing was sent\.$/) });
    expect(h.proxy.requests).toEqual([]);
    // serve beside another challenge: a config error naming the field.
    fs.writeFileSync(path.join(h.work, 'both.yaml'), `certificates:\n  - domains: [both.fleet3.test]\n    serve: true\n    webroot: ${h.work}\n`);
    const both = await runCli(['--config', path.join(h.work, 'both.yaml'), '--state-dir', solo, 'apply'], f.env('a'));
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/certificates\[0\]\.serve: give either serve .* or webroot, not both/);
  });
});

describe('rotating the fleet key while renewals store', () => {
  it('rotate while 3 renewals on 3 hosts are storing: nothing sealed under the old key; they are refused in one sentence, then stored with the new key (0 new orders)', { timeout: 300_000 }, async () => {
    const f = await h.fleet('f3_rotate');
    const hosts = ['r0', 'r1', 'r2'];
    const names = hosts.map((h, i) => `${h}.rot${i}.test`);
    for (let i = 0; i < 3; i++) expect((await f.issue(hosts[i]!, names[i]!)).code).toBe(0);
    const oldId = loadFleetKey(h.keyFile).keyId;
    h.dueNow(names.map((n, i) => livePem(f.state[hosts[i]!]!, n)));
    h.proxy.resetObservations();
    // The CA issued all three; their downloads are held, then the fleet key is rotated.
    const held = h.proxy.hold('certificate', 3);
    const runs = Promise.all(hosts.map((h, i) => runCli(f.renewArgs(h, '--cert-name', names[i]!), f.env(h), 200_000)));
    await held.arrived;
    const next = path.join(h.work, 'rotated.key');
    expect((await runCli(['fleet', 'key', 'init', next])).code).toBe(0);
    const rot = await runCli(['--state-dir', f.dir('k'), '--json', 'fleet', 'key', 'rotate', '--new', next], f.env('k'));
    expect(rot.code, rot.stderr).toBe(0);
    const newId = loadFleetKey(next).keyId;
    expect(JSON.parse(rot.stdout)).toMatchObject({ action: 'rotate', keyId: newId, previousKeyId: oldId, resealed: { files: 3, accounts: 1, orders: 3 } });
    held.release();
    const results = await runs;
    expect(h.proxy.issued).toBe(3);
    for (const [i, r] of results.entries()) {
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(outcomes(r)).toEqual([expect.objectContaining({ lineage: names[i], action: 'failed', exitCode: 2, reason: expect.stringMatching(/^The fleet key changed \(certctl fleet key rotate: the ledger's key is now id [0-9a-f]{16}, and \S+ is id [0-9a-f]{16}\): certctl stored nothing with the old key\.$/) })]);
      // Nothing written: no version 2 on the host, none in the ledger.
      expect(walk(path.join(f.state[hosts[i]!]!, 'archive')).filter((x) => /[a-z]2\.pem$|\.tmp$/.test(x))).toEqual([]);
      expect(linkOf(f.state[hosts[i]!]!, names[i]!, 'cert.pem')).toBe(path.join('..', '..', 'archive', names[i]!, 'cert1.pem'));
    }
    expect(f.rows('SELECT DISTINCT version FROM version_files')).toEqual([{ version: 1 }]);
    const expectAllUnderNewKey = () => {
      const sealed = [
        ...f.rows<{ v: string }>('SELECT data AS v FROM version_files WHERE secret = 1'),
        ...f.rows<{ v: string }>('SELECT key_sealed AS v FROM accounts WHERE key_sealed IS NOT NULL'),
        ...f.rows<{ v: string }>('SELECT key_sealed AS v FROM orders WHERE key_sealed IS NOT NULL'),
      ];
      for (const s of sealed) expect(s.v.startsWith(`certctl-sealed-v1:${newId}:`), s.v.slice(0, 40)).toBe(true);
      // And every one opens with the new key.
      const l = Ledger.open(f.url);
      try {
        l.sealer = loadFleetKey(next);
        for (const r of l.db.prepare('SELECT DISTINCT lineage, version FROM version_files').all() as { lineage: string; version: number }[]) expect(l.versionFiles(r.lineage, Number(r.version)).length).toBe(4);
        for (const r of l.db.prepare('SELECT directory_url FROM accounts').all() as { directory_url: string }[]) expect(l.accountKey(r.directory_url)).toMatch(/PRIVATE KEY/);
        for (const r of l.db.prepare('SELECT id, role FROM orders WHERE key_sealed IS NOT NULL').all() as { id: number; role: string }[]) expect(l.orderKey(Number(r.id), r.role)).toMatch(/PRIVATE KEY/);
      } finally {
        l.close();
      }
      const db = new URL(f.url).pathname.slice(1);
      const dump = execFileSync(path.join(postgresBinDir(), 'pg_dump'), ['-h', '127.0.0.1', '-p', String(h.server.port), '-U', 'postgres', db], { maxBuffer: 64 * 1024 * 1024 }).toString();
      expect(dump).toContain('BEGIN CERTIFICATE');
      expect(dump).not.toContain('PRIVATE KEY');
      return sealed.length;
    };
    // The three orders in flight kept their pending keys, re-sealed with the new key.
    expect(expectAllUnderNewKey()).toBe(3 + 1 + 3);

    // With the new key, each host stores what the CA issued: downloaded again, nothing ordered.
    h.proxy.resetObservations();
    for (const [i, h] of hosts.entries()) {
      const r = await runCli(f.renewArgs(h, '--cert-name', names[i]!), f.env(h, next));
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(outcomes(r)).toEqual([expect.objectContaining({ lineage: names[i], action: 'recovered' })]);
      await expect(keyMatchesCert(livePem(f.state[h]!, names[i]!, 'privkey.pem'), livePem(f.state[h]!, names[i]!))).resolves.toBe(true);
      expect(linkOf(f.state[h]!, names[i]!, 'cert.pem')).toBe(path.join('..', '..', 'archive', names[i]!, 'cert2.pem'));
    }
    expect(count('newOrder')).toBe(0);
    expect(count('finalize')).toBe(0);
    expect(h.proxy.issued).toBe(0);
    expect(f.rows("SELECT id FROM orders WHERE state = 'open'")).toEqual([]);
    expect(expectAllUnderNewKey()).toBe(6 + 1);
  });

  it('a seal racing a rotation inside the write lock: refused, nothing written', async () => {
    const url = await h.server.createDatabase('f3_race');
    const first = Ledger.open(url);
    const other = Ledger.open(url);
    const next = path.join(h.work, 'race-next.key');
    expect((await runCli(['fleet', 'key', 'init', next])).code).toBe(0);
    try {
      first.sealer = loadFleetKey(h.keyFile);
      other.sealer = loadFleetKey(h.keyFile);
      first.claimFleetKeyId(first.sealer.keyId);
      // `other` rotates after `first` opened the ledger (and checked its key) but before `first` seals.
      other.rotateFleetKey(loadFleetKey(next));
      const before = dumpTables(url);
      expect(() => first.saveVersionFiles('race.test', 1, [{ file: 'privkey.pem', secret: true, data: '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n' }], Date.now())).toThrow(/^The fleet key changed/);
      expect(() => first.saveAccountKey({ directory_url: 'https://ca.test/dir', ca_id: 'x', key_path: '/nonexistent', key_type: 'ecdsa:p256', email: null, keyPem: 'k', now: Date.now() })).toThrow(/^The fleet key changed/);
      expect(dumpTables(url)).toBe(before);
    } finally {
      first.close();
      other.close();
    }
  });
});

describe('a host with a wrong or missing fleet key', () => {
  it('renew, serve, deploy list and status: the wrong key refused in one sentence (exit 2); without a key renew and serve refused, deploy list and status read; nothing written', { timeout: 180_000 }, async () => {
    const f = await h.fleet('f3_keys');
    const name = 'keys.fleet3.test';
    expect((await f.issue('a', name)).code).toBe(0);
    expect((await f.stop()).code).toBe(0);
    const wrong = path.join(h.work, 'wrong.key');
    expect((await runCli(['fleet', 'key', 'init', wrong])).code).toBe(0);
    const d = tempDir('certctl-f3-d-');
    const before = dumpTables(f.url);
    const liveA = FILES.map((x) => [linkOf(f.state.a!, name, x), livePem(f.state.a!, name, x)]);
    const cmds: Record<string, string[]> = {
      renew: ['renew', '--no-random-sleep'],
      serve: ['serve', '--listen', '127.0.0.1:9'],
      'deploy list': ['deploy', 'list'],
      status: ['status'],
    };
    const wrongMsg = /^error: The fleet key \S+wrong\.key \(id [0-9a-f]{16}\) is not the key this ledger's secrets are sealed with \(id [0-9a-f]{16}\): certctl changed nothing\.$/;
    for (const [what, args] of Object.entries(cmds)) {
      for (const host of ['a', 'd']) {
        const r = await runCli(['--state-dir', host === 'a' ? f.state.a! : d, ...args], f.env(host, wrong), 30_000);
        expect(r.code, `${what} on ${host}: ${r.stdout}${r.stderr}`).toBe(2);
        expect(r.stderr.trim().split('\n')[0], what).toMatch(wrongMsg);
        expect(r.stdout, what).toBe('');
      }
    }
    const noKey = /^error: This ledger keeps the fleet's certificates and keys sealed with fleet key [0-9a-f]{16}, and this host was given no fleet key: certctl changed nothing\.$/;
    for (const what of ['renew', 'serve']) {
      const r = await runCli(['--state-dir', d, ...cmds[what]!], f.env('d', null), 30_000);
      expect(r.code, what).toBe(2);
      expect(r.stderr.trim().split('\n')[0], what).toMatch(noKey);
    }
    // Reading needs no key (docs/fleet.md): public rows only, nothing written.
    const list = await runCli(['--state-dir', d, '--json', 'deploy', 'list'], f.env('d', null));
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.parse(list.stdout).lineages).toMatchObject([{ lineage: name, hosts: [{ host: 'a', deployedVersion: 1 }] }]);
    const st = await runCli(['--state-dir', d, '--json', 'status'], f.env('d', null));
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).lineages.map((l: { name: string }) => l.name)).toEqual([name]);
    expect(dumpTables(f.url)).toBe(before);
    expect(walk(d)).toEqual([]);
    expect(FILES.map((x) => [linkOf(f.state.a!, name, x), livePem(f.state.a!, name, x)])).toEqual(liveA);
  });
});

describe('the database unreachable', () => {
  it('renew with PostgreSQL down: exit 10 in one sentence, live/ untouched, nothing sent; status says the same', { timeout: 180_000 }, async () => {
    const pg = await startPostgres();
    let stopped = false;
    try {
      const f = await h.fleet('f3_down', { pg });
      const name = 'down.fleet3.test';
      expect((await f.issue('a', name)).code).toBe(0);
      expect((await f.stop()).code).toBe(0);
      h.dueNow([livePem(f.state.a!, name)]);
      const files = () => walk(f.state.a!).map((x) => [x, fs.lstatSync(x).mtimeMs, fs.readFileSync(x, 'utf8')]);
      const links = () => FILES.map((x) => linkOf(f.state.a!, name, x));
      const before = files();
      const linksBefore = links();
      await pg.stop();
      stopped = true;
      h.proxy.resetObservations();
      const msg = /^error: The ledger postgres:\/\/postgres@127\.0\.0\.1:\d+\/\S+ cannot be reached \(ECONNREFUSED\): certctl changed nothing, and this host's certificate files are as they were\.$/;
      const r = await runCli(['--state-dir', f.state.a!, 'renew', '--no-random-sleep'], f.env('a'));
      expect(r.code, r.stderr).toBe(10);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toMatch(msg);
      expect(lines.slice(1).join(' ')).toMatch(/Renewals wait until the database is back: run the same command again then/);
      const j = await runCli(['--state-dir', f.state.a!, '--json', 'renew', '--no-random-sleep'], f.env('a'));
      expect(j.code).toBe(10);
      expect(JSON.parse(j.stdout)).toMatchObject({ schema: 'certctl.error/1', error: { exitCode: 10, message: expect.stringMatching(/cannot be reached \(ECONNREFUSED\)/) } });
      const st = await runCli(['--state-dir', f.state.a!, 'status'], f.env('a'));
      expect(st.code).toBe(10);
      expect(st.stderr.trim().split('\n')[0]).toMatch(msg);
      // The host keeps serving what it has: live/ exactly as it was, nothing sent to the CA.
      expect(links()).toEqual(linksBefore);
      expect(files()).toEqual(before);
      expect(await keyMatchesCert(livePem(f.state.a!, name, 'privkey.pem'), livePem(f.state.a!, name))).toBe(true);
      expect(h.proxy.requests).toEqual([]);
    } finally {
      if (!stopped) await pg.stop();
    }
  });

  it('certctl daemon while PostgreSQL is down: logs waiting and keeps running; once it is back the due renewal is done (its --serve answering HTTP-01), nothing lost', { timeout: 300_000 }, async () => {
    const pg = await startPostgres();
    let daemon: ReturnType<typeof startCli> | undefined;
    try {
      const f = await h.fleet('f3_daemon', { pg });
      const name = 'daemon.fleet3.test';
      expect((await f.issue('a', name)).code).toBe(0);
      // The daemon answers HTTP-01 itself from now on.
      expect((await f.stop()).code).toBe(0);
      // The CA's renewal window opens in 45 s: the daemon's first run keeps the lineage (and caches the
      // window); the database goes down before the window opens; the renewal waits for it.
      const opens = Date.now() + 45_000;
      h.proxy.setRenewalWindow(() => ({ start: new Date(opens), end: new Date(opens + 5_000) }));
      daemon = startCli(['--state-dir', f.dir('a'), '--json', 'daemon', '--schedule', '* * * * *', '--serve', `127.0.0.1:${h.pebble.httpPort}`, '--no-precheck'], f.env('a'), 290_000);
      let out = '';
      daemon.child.stdout!.on('data', (d) => (out += d));
      let err = '';
      daemon.child.stderr!.on('data', (d) => (err += d));
      const events = () => out.split('\n').filter((l) => l.startsWith('{"schema":"certctl.daemon/1"')).map((l) => JSON.parse(l) as { event: string; exitCode?: number; counts?: Record<string, number>; error?: string });
      const waitFor = async (pred: (e: ReturnType<typeof events>[number]) => boolean) => {
        while (!events().some(pred)) {
          if (daemon!.child.exitCode !== null) throw new Error(`daemon exited: ${out} ${err}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await waitFor((e) => e.event === 'run');
      expect(events().find((e) => e.event === 'run')).toMatchObject({ exitCode: 0, counts: { kept: 1, renewed: 0 } });
      await pg.pause();
      h.proxy.resetObservations();
      await waitFor((e) => e.event === 'waiting');
      const waiting = events().find((e) => e.event === 'waiting')!;
      expect(waiting.error).toMatch(/^The ledger postgres:\/\/\S+ cannot be reached \(\w+\): certctl changed nothing, and this host's certificate files are as they were\.$/);
      expect(daemon.child.exitCode).toBeNull();
      expect(linkOf(f.state.a!, name, 'cert.pem')).toBe(path.join('..', '..', 'archive', name, 'cert1.pem'));
      expect(h.proxy.requests.filter((x) => x.endpoint === 'newOrder')).toEqual([]);
      await pg.resume();
      await waitFor((e) => e.event === 'run' && e.exitCode === 0 && (e.counts?.renewed ?? 0) > 0);
      expect(h.proxy.issued).toBe(1);
      expect(linkOf(f.state.a!, name, 'cert.pem')).toBe(path.join('..', '..', 'archive', name, 'cert2.pem'));
      await expectLiveFromLedger(f, 'a', name, 2);
      daemon.child.kill('SIGTERM');
      expect((await daemon.result).code).toBe(0);
    } finally {
      if (daemon && daemon.child.exitCode === null) daemon.child.kill('SIGKILL');
      await pg.stop();
    }
  });
});
