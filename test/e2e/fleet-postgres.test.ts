/**
 * Many hosts, one ledger (issue 8), end to end: two certctl processes with
 * their own --state-dir ("two hosts") share one PostgreSQL ledger (Debian's
 * server on loopback, testkit/postgres.ts) in front of Pebble, counted at
 * the server by testkit/acme-proxy.ts.
 *  - Both `issue` the same exact set at the same moment: one orders, the other
 *    waits for the run lock, then finds the set already held (exit 3).
 *  - Both `renew` at the same moment with the certificate due: one renewal.
 * The ledger role has a real password (scram-sha-256 in pg_hba.conf, a wrong
 * one is refused), given as docs/fleet.md says: in CERTCTL_LEDGER's URL or in
 * PGPASSWORD, never on the command line. It must never appear in any output,
 * JSON document, ledger row or file certctl writes.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startPostgres, type PostgresServer } from '../../testkit/postgres.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import pg from 'pg';
import { runCli, tempDir, type CliResult } from '../helpers/cli.js';

const HOUR = 3_600_000;
let pebble: Pebble;
let proxy: AcmeTestProxy;
let server: PostgresServer;

/** The ledger role's password: distinctive, so any leak is found by a plain substring search. */
const ROLE = 'certctl_fleet';
const SECRET = 'Fl33tS3cretPw7ZQ';

/** Superuser SQL on the test server. */
async function sql(database: string, ...statements: string[]): Promise<pg.QueryResult[]> {
  const c = new pg.Client({ connectionString: server.url(database) });
  await c.connect();
  try {
    const out: pg.QueryResult[] = [];
    for (const st of statements) out.push(await c.query(st));
    return out;
  } finally {
    await c.end();
  }
}

/** A new database owned by ROLE; returns its URL as ROLE without a password (add one with withPassword). */
async function fleetDatabase(prefix: string): Promise<string> {
  const name = new URL(await server.createDatabase(prefix)).pathname.slice(1);
  await sql('postgres', `ALTER DATABASE ${name} OWNER TO ${ROLE}`);
  await sql(name, `ALTER SCHEMA public OWNER TO ${ROLE}`);
  return `postgres://${ROLE}@127.0.0.1:${server.port}/${name}`;
}
const withPassword = (url: string, password: string) => url.replace(`//${ROLE}@`, `//${ROLE}:${password}@`);

beforeAll(async () => {
  server = await startPostgres();
  // A role that must give its password: scram-sha-256 for it on loopback, ahead of the server's trust lines.
  const [hba] = await sql('postgres', 'SHOW hba_file');
  const hbaFile = (hba!.rows[0] as { hba_file: string }).hba_file;
  fs.writeFileSync(hbaFile, `host all ${ROLE} 127.0.0.1/32 scram-sha-256\n` + fs.readFileSync(hbaFile, 'utf8'));
  await sql('postgres', `CREATE ROLE ${ROLE} LOGIN PASSWORD '${SECRET}'`, 'SELECT pg_reload_conf()');
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await server?.stop();
});

/** The password is nowhere: not in any output, not in any ledger row, not in any file under the hosts' state dirs. */
async function expectNoSecret(results: CliResult[], url: string, hosts: string[]): Promise<void> {
  for (const r of results) {
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stderr).not.toContain(SECRET);
  }
  const db = new URL(url).pathname.slice(1);
  const [tables] = await sql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  expect(tables!.rows.length).toBeGreaterThan(5);
  for (const { tablename } of tables!.rows as { tablename: string }[]) {
    const [rs] = await sql(db, `SELECT * FROM "${tablename}"`);
    expect(JSON.stringify(rs!.rows), tablename).not.toContain(SECRET);
  }
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.isFile() ? [path.join(d, e.name)] : []));
  for (const h of hosts) for (const f of walk(h)) expect(fs.readFileSync(f).includes(SECRET), f).toBe(false);
}
beforeEach(() => {
  proxy.clearFaults();
  proxy.setRenewalWindow(null);
  proxy.resetObservations();
});

// The ledger comes from the environment (CERTCTL_LEDGER, PGPASSWORD), as docs/fleet.md says: never argv.
function issueArgs(state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', '--json', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name];
}
function renewArgs(state: string): string[] {
  return ['--state-dir', state, 'renew', '--json', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}
const createdOrders = () => proxy.requests.filter((x) => x.endpoint === 'newOrder' && x.status === 201).length;
function rows<T>(url: string, sql: string): T[] {
  const l = Ledger.open(url);
  try {
    return l.db.prepare(sql).all() as T[];
  } finally {
    l.close();
  }
}
/** The fleet's setup step (docs/fleet.md): one ACME account per CA, its key copied to every host. */
function shareAccountKey(from: string, to: string): void {
  fs.cpSync(path.join(from, 'accounts'), path.join(to, 'accounts'), { recursive: true });
}

describe('two hosts, one PostgreSQL ledger', () => {
  it('issue the same exact set at the same moment: one order at the CA; the other host waits for the lock and finds it held (exit 3)', async () => {
    const url = await fleetDatabase('fleet_issue');
    // The whole URL, password included, in CERTCTL_LEDGER.
    const env = { CERTCTL_LEDGER: withPassword(url, SECRET) };
    const [hostA, hostB] = [tempDir('certctl-hostA-'), tempDir('certctl-hostB-')];
    const name = 'fleet-race.example.test';
    const [a, b] = await Promise.all([runCli(issueArgs(hostA, name), env), runCli(issueArgs(hostB, name), env)]);
    const results = [a, b].map((r) => ({ code: r.code, doc: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr }));
    expect(results.map((r) => r.code).sort(), JSON.stringify(results.map((r) => [r.code, r.stderr]))).toEqual([0, 3]);
    const held = results.find((r) => r.code === 3)!;
    expect(held.doc).toMatchObject({ schema: 'certctl.issue/1', result: 'held', names: [name] });
    // Counted at the server: one certificate.
    expect(proxy.issued).toBe(1);
    // Orders the CA created (201): a newOrder re-sent after one of Pebble's 5 % rejected nonces is a request, not an order.
    expect(createdOrders()).toBe(1);
    const db = withPassword(url, SECRET);
    expect(rows(db, 'SELECT id FROM certificates')).toHaveLength(1);
    expect(rows(db, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
    expect(rows(db, 'SELECT name FROM locks')).toEqual([]);
    // The certificate's files are on the host that ordered it, and only there.
    const winner = a.code === 0 ? hostA : hostB;
    const loser = a.code === 0 ? hostB : hostA;
    expect(fs.readFileSync(path.join(winner, 'live', name, 'cert.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(fs.existsSync(path.join(loser, 'live', name))).toBe(false);
    // Reading it back, verbosely, as JSON and as text: the password appears nowhere.
    const reads = await Promise.all([
      runCli(['--state-dir', winner, '--verbose', 'status'], env),
      runCli(['--state-dir', winner, '--json', 'status'], env),
      runCli(['--state-dir', winner, '--verbose', '--json', 'renew', '--no-random-sleep'], env),
    ]);
    for (const r of reads) expect(r.code, r.stderr).toBe(0);
    // A wrong password is refused by the server; the message names the ledger without either password.
    const wrong = await runCli(['--state-dir', winner, 'status'], { CERTCTL_LEDGER: withPassword(url, 'Wr0ngPassw0rdXY') });
    expect(wrong.code, wrong.stderr).not.toBe(0);
    expect(wrong.signal).toBe(null);
    expect(wrong.stderr, wrong.stderr).toMatch(/password authentication failed/);
    expect(wrong.stderr + wrong.stdout).not.toContain('Wr0ngPassw0rdXY');
    await expectNoSecret([a, b, ...reads, wrong], url, [hostA, hostB]);
  });

  it('renew from both hosts at the same moment: one renewal', async () => {
    const url = await fleetDatabase('fleet_renew');
    // The URL without the password, the password in PGPASSWORD.
    const env = { CERTCTL_LEDGER: url, PGPASSWORD: SECRET };
    const [hostA, hostB] = [tempDir('certctl-hostA-'), tempDir('certctl-hostB-')];
    const name = 'fleet-renew.example.test';
    const issued = await runCli(issueArgs(hostA, name), env);
    expect(issued.code, issued.stderr).toBe(0);
    shareAccountKey(hostA, hostB);
    // The CA says: renew the first certificate now; any later one much later.
    const first = ariCertId(fs.readFileSync(path.join(hostA, 'live', name, 'cert.pem'), 'utf8'));
    const now = Date.now();
    proxy.setRenewalWindow((certId) =>
      certId === first ? { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) } : { start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) },
    );
    proxy.resetObservations();
    const [a, b] = await Promise.all([runCli(renewArgs(hostA), env), runCli(renewArgs(hostB), env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const actions = [a, b].map((r) => JSON.parse(r.stdout).lineages.find((l: { lineage: string }) => l.lineage === name)?.action).sort();
    expect(actions).toEqual(['kept', 'renewed']);
    expect(proxy.issued).toBe(1);
    expect(createdOrders()).toBe(1);
    const db = withPassword(url, SECRET);
    expect(rows(db, 'SELECT id FROM certificates')).toHaveLength(2);
    expect(rows<{ current_version: number }>(db, 'SELECT current_version FROM lineages')).toEqual([{ current_version: 2 }]);
    await expectNoSecret([issued, a, b], url, [hostA, hostB]);
  });
});
