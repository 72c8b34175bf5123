/**
 * Hostile tests: crashes, lost answers and concurrency (issue #12 follow-up).
 * Each case was a way for certctl to end with a wrong state or a second
 * certificate; counted at certctl's ACME test proxy in front of Pebble.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { testPostgres, stopTestPostgres } from '../helpers/ledgers.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble({ nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await stopTestPostgres();
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
const createdOrders = () => proxy.orders.filter((o) => o.caStatus === 201).length;

describe('dual (RSA + ECDSA): one part refused, the other left open', () => {
  it('the next run resumes the open part AND orders the refused one again: both certificates stored as one version, never a lineage with one part', async () => {
    const state = tempDir();
    const name = 'dual-half.example.test';
    // The first finalize of the two parts is refused (a 429 while the order is still 'ready': a true
    // refusal, that part's order fails); the run ends with the other part still in flight.
    proxy.rateLimit('finalize', { seconds: 60, detail: 'too many certificates', times: 1 });
    const first = await runCli(issueArgs(state, name, ['--key-type', 'dual']));
    expect(first.code, first.stderr).toBe(5);
    expect(q<{ state: string }>(state, 'SELECT state FROM orders ORDER BY role').map((o) => o.state).sort()).toEqual(['failed', 'open']);
    expect(createdOrders()).toBe(2);
    const issuedFirst = proxy.issued;

    // After the Retry-After (certctl's clock moved on; the CA is unchanged).
    proxy.resetObservations();
    const later = { CERTCTL_TEST_NOW: new Date(Date.now() + 10 * 60_000).toISOString() };
    const second = await runCli(issueArgs(state, name, ['--key-type', 'dual']), later);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    // Exactly one new order: the refused part's; the open one is resumed, not ordered again.
    expect(createdOrders()).toBe(1);
    // Two certificates over both runs, one per part.
    expect(issuedFirst + proxy.issued).toBe(2);
    const certs = q<{ role: string; version: number }>(state, 'SELECT role, version FROM certificates ORDER BY role');
    expect(certs).toEqual([
      { role: 'ecdsa', version: 1 },
      { role: 'main', version: 1 },
    ]);
    const live = path.join(state, 'live', name);
    expect(new X509Certificate(fs.readFileSync(path.join(live, 'cert.pem'))).publicKey.asymmetricKeyType).toBe('rsa');
    expect(new X509Certificate(fs.readFileSync(path.join(live, 'cert-ecdsa.pem'))).publicKey.asymmetricKeyType).toBe('ec');
    expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);

    // Nothing left to do: renew keeps it, and sends no order.
    proxy.resetObservations();
    const again = await runCli(renewArgs(state, ['--json']), later);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).lineages[0].action).toBe('kept');
    expect(createdOrders()).toBe(0);
  });
});

describe('two hosts on one PostgreSQL ledger, their clocks apart', () => {
  it("a host whose clock runs 11 minutes ahead does not take a live run's lock as stale (heartbeats use the database's clock): exit 9, nothing sent", async () => {
    const url = await (await testPostgres()).createDatabase('hostile_skew');
    const l = Ledger.open(url);
    try {
      // Host A is running right now: its lock row, heartbeat just written (as A writes it).
      expect(l.tryLock('run', { pid: 4242, host: 'host-a.invalid' }, Date.now(), 10 * 60_000, () => true)).toEqual({ ok: true });
    } finally {
      l.close();
    }
    expect(os.hostname()).not.toBe('host-a.invalid');
    // Host B (this host), its clock 11 minutes fast.
    const state = tempDir();
    const skewed = { CERTCTL_LEDGER: url, CERTCTL_TEST_NOW: new Date(Date.now() + 11 * 60_000).toISOString() };
    const r = await runCli(issueArgs(state, 'skew.example.test', ['--lock-wait', '1']), skewed);
    expect(r.code, r.stderr).toBe(9);
    expect(r.stderr).toMatch(/pid 4242 on host-a\.invalid/);
    expect(proxy.total()).toBe(0);
  });
});
