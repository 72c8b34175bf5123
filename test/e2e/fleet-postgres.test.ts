/**
 * Many hosts, one ledger (issue 8), end to end: two certctl processes with
 * their own --state-dir ("two hosts") share one PostgreSQL ledger (Debian's
 * server on loopback, src/testkit/postgres.ts) in front of Pebble, counted at
 * the server by src/testkit/acme-proxy.ts.
 *  - Both `issue` the same exact set at the same moment: one orders, the other
 *    waits for the run lock, then finds the set already held (exit 3).
 *  - Both `renew` at the same moment with the certificate due: one renewal.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../../src/testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../src/testkit/acme-proxy.js';
import { startPostgres, type PostgresServer } from '../../src/testkit/postgres.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, tempDir } from '../helpers/cli.js';

const HOUR = 3_600_000;
let pebble: Pebble;
let proxy: AcmeTestProxy;
let pg: PostgresServer;

beforeAll(async () => {
  pg = await startPostgres();
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await pg?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.setRenewalWindow(null);
  proxy.resetObservations();
});

function issueArgs(state: string, ledger: string, name: string): string[] {
  return ['--state-dir', state, '--ledger', ledger, 'issue', '--json', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name];
}
function renewArgs(state: string, ledger: string): string[] {
  return ['--state-dir', state, '--ledger', ledger, 'renew', '--json', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}
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
    const url = await pg.createDatabase('fleet_issue');
    const [hostA, hostB] = [tempDir('certctl-hostA-'), tempDir('certctl-hostB-')];
    const name = 'fleet-race.example.test';
    const [a, b] = await Promise.all([runCli(issueArgs(hostA, url, name)), runCli(issueArgs(hostB, url, name))]);
    const results = [a, b].map((r) => ({ code: r.code, doc: r.stdout ? JSON.parse(r.stdout) : null, stderr: r.stderr }));
    expect(results.map((r) => r.code).sort()).toEqual([0, 3]);
    const held = results.find((r) => r.code === 3)!;
    expect(held.doc).toMatchObject({ schema: 'certctl.issue/1', result: 'held', names: [name] });
    // Counted at the server: one certificate.
    expect(proxy.issued).toBe(1);
    expect(proxy.counts.newOrder).toBe(1);
    expect(rows(url, 'SELECT id FROM certificates')).toHaveLength(1);
    expect(rows(url, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
    expect(rows(url, 'SELECT name FROM locks')).toEqual([]);
    // The certificate's files are on the host that ordered it, and only there.
    const winner = a.code === 0 ? hostA : hostB;
    const loser = a.code === 0 ? hostB : hostA;
    expect(fs.readFileSync(path.join(winner, 'live', name, 'cert.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(fs.existsSync(path.join(loser, 'live', name))).toBe(false);
    // No password in the URL, but the printable form is what messages use.
    expect(a.stderr + b.stderr).not.toMatch(/password/i);
  });

  it('renew from both hosts at the same moment: one renewal', async () => {
    const url = await pg.createDatabase('fleet_renew');
    const [hostA, hostB] = [tempDir('certctl-hostA-'), tempDir('certctl-hostB-')];
    const name = 'fleet-renew.example.test';
    expect((await runCli(issueArgs(hostA, url, name))).code).toBe(0);
    shareAccountKey(hostA, hostB);
    // The CA says: renew the first certificate now; any later one much later.
    const first = ariCertId(fs.readFileSync(path.join(hostA, 'live', name, 'cert.pem'), 'utf8'));
    const now = Date.now();
    proxy.setRenewalWindow((certId) =>
      certId === first ? { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) } : { start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) },
    );
    proxy.resetObservations();
    const [a, b] = await Promise.all([runCli(renewArgs(hostA, url)), runCli(renewArgs(hostB, url))]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const actions = [a, b].map((r) => JSON.parse(r.stdout).lineages.find((l: { lineage: string }) => l.lineage === name)?.action).sort();
    expect(actions).toEqual(['kept', 'renewed']);
    expect(proxy.issued).toBe(1);
    expect(proxy.counts.newOrder).toBe(1);
    expect(rows(url, 'SELECT id FROM certificates')).toHaveLength(2);
    expect(rows<{ current_version: number }>(url, 'SELECT current_version FROM lineages')).toEqual([{ current_version: 2 }]);
  });
});
