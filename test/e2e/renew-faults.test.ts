/**
 * Renewal under faults, through certctl's ACME test server (src/testkit/
 * acme-proxy.ts: a proxy in front of Pebble that adds ARI, 429s and
 * counting at the server):
 *  - SIGKILL at every step, then renew: exactly one certificate issued;
 *  - ARI windows honoured, `replaces` sent, alreadyReplaced handled;
 *  - after a 429 the next run sends nothing at all until Retry-After.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../../src/testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../src/testkit/acme-proxy.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.setRenewalWindow(null);
  proxy.resetObservations();
});

const HOUR = 3_600_000;
function issueArgs(state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
function certPem(state: string, name: string): string {
  return fs.readFileSync(path.join(state, 'live', name, 'cert.pem'), 'utf8');
}

describe('SIGKILL at each step, then renew: exactly one certificate', () => {
  for (const point of ['new-order', 'challenge', 'finalize', 'download']) {
    it(`killed after ${point}`, async () => {
      const state = tempDir();
      const name = `kill-${point}.example.test`;
      const crashed = await runCli(issueArgs(state, name), { CERTCTL_TEST_CRASH_AFTER: point });
      expect(crashed.code).not.toBe(0);
      expect(fs.existsSync(path.join(state, 'live', name, 'cert.pem'))).toBe(false);
      const open = q<{ step: string }>(state, "SELECT step FROM orders WHERE state = 'open'");
      expect(open).toHaveLength(1);

      const r = await runCli(renewArgs(state, ['--json']));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ lineage: name, action: 'recovered' });
      // Counted at the server: one order created, one finalize accepted — never a second certificate.
      // (Requests, not operations: Pebble rejects 5 % of nonces and acme-client re-sends those.)
      const accepted = (endpoint: string, status: number) => proxy.requests.filter((x) => x.endpoint === endpoint && x.status === status).length;
      expect(accepted('newOrder', 201)).toBe(1);
      expect(accepted('finalize', 200)).toBe(1);
      expect(proxy.issued).toBe(1);
      expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
      expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
      expect(certPem(state, name)).toMatch(/BEGIN CERTIFICATE/);
      // Run again: nothing more.
      const again = await runCli(renewArgs(state, ['--json']));
      expect(JSON.parse(again.stdout).lineages[0].action).toBe('kept');
      expect(proxy.issued).toBe(1);
    });
  }
});

describe('ARI (RFC 9773)', () => {
  it('a window in the future keeps the certificate, and the next run asks nothing', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'ari-later.example.test'))).code).toBe(0);
    const id = ariCertId(certPem(state, 'ari-later.example.test'));
    const start = new Date(Date.now() + 30 * 24 * HOUR);
    proxy.setRenewalWindow({ start, end: new Date(start.getTime() + 48 * HOUR) });
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout).lineages[0];
    expect(doc.action).toBe('kept');
    expect(doc.reason).toMatch(/suggests renewing between/);
    expect(proxy.ariRequests).toEqual([id]);
    const chosen = Date.parse(doc.nextAt);
    expect(chosen).toBeGreaterThanOrEqual(start.getTime());
    expect(chosen).toBeLessThan(start.getTime() + 48 * HOUR);
    const row = q<{ chosen_at: number; next_check: number }>(state, 'SELECT chosen_at, next_check FROM renewal_info')[0]!;
    expect(row.chosen_at).toBe(chosen);
    // Retry-After 6 h: the next run (directory cached, ARI not yet due) sends nothing at all.
    proxy.resetObservations();
    const again = await runCli(renewArgs(state, ['--json']));
    expect(JSON.parse(again.stdout).lineages[0].nextAt).toBe(doc.nextAt);
    expect(proxy.total()).toBe(0);
  });

  it('a window that has opened renews now and sends replaces', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'ari-now.example.test'))).code).toBe(0);
    const id = ariCertId(certPem(state, 'ari-now.example.test'));
    proxy.setRenewalWindow({ start: new Date(Date.now() - 2 * HOUR), end: new Date(Date.now() - HOUR) });
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).lineages[0].action).toBe('renewed');
    const created = proxy.orders.filter((o) => o.status === 201);
    expect(created).toHaveLength(1);
    expect(created[0]!.payload.replaces).toBe(id);
    expect(q<{ replaces: string }>(state, 'SELECT replaces FROM orders ORDER BY id DESC LIMIT 1')[0]!.replaces).toBe(id);
  });

  it('alreadyReplaced: ordered again without replaces', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'ari-replaced.example.test'))).code).toBe(0);
    proxy.setRenewalWindow({ start: new Date(Date.now() - 2 * HOUR), end: new Date(Date.now() - HOUR) });
    proxy.alreadyReplaced(true);
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).lineages[0].action).toBe('renewed');
    // (400 = a rejected nonce re-sent by acme-client: a request, not an order.)
    expect(proxy.orders.filter((o) => o.status !== 400).map((o) => [Boolean(o.payload.replaces), o.status])).toEqual([
      [true, 409],
      [false, 201],
    ]);
    expect(proxy.issued).toBe(1);
  });
});

describe('429: recorded, then nothing is sent until Retry-After', () => {
  it('refused once; the next run sends no request at all and says when; after Retry-After it renews', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'limited.example.test'))).code).toBe(0);
    proxy.setRenewalWindow({ start: new Date(Date.now() - 2 * HOUR), end: new Date(Date.now() - HOUR) });
    proxy.rateLimit('newOrder', { seconds: 3600, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    proxy.resetObservations();
    const first = await runCli(renewArgs(state));
    expect(first.code).toBe(5);
    expect(first.stdout).toMatch(/too many new orders/);
    expect(proxy.counts.newOrder).toBe(1);
    const p = q<{ http_status: number; type: string; retry_after: number; limit_name: string }>(state, 'SELECT * FROM problems')[0]!;
    expect(p.http_status).toBe(429);
    expect(p.type).toBe('urn:ietf:params:acme:error:rateLimited');
    expect(p.limit_name).toBe('new-orders');
    expect(Math.abs(p.retry_after - (Date.now() + HOUR))).toBeLessThan(60_000);

    // Second run: the ledger says it would be refused → no request reaches the CA.
    proxy.resetObservations();
    const second = await runCli(renewArgs(state));
    expect(second.code).toBe(4);
    expect(second.stdout).toMatch(/blocked\s+limited\.example\.test/);
    expect(second.stdout).toMatch(/Next allowed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(proxy.total()).toBe(0);
    // The working certificate was never touched.
    expect(fs.readlinkSync(path.join(state, 'live', 'limited.example.test', 'cert.pem'))).toMatch(/cert1\.pem$/);

    // plan says the same, with the exact time.
    const plan = await runCli(['--state-dir', state, 'plan', '--json']);
    expect(plan.code).toBe(4);

    // After Retry-After (clock moved 2 h), the fault is gone and it renews.
    proxy.clearFaults();
    const later = new Date(Date.now() + 2 * HOUR).toISOString();
    const third = await runCli(renewArgs(state, ['--json']), { CERTCTL_TEST_NOW: later });
    expect(third.code).toBe(0);
    expect(JSON.parse(third.stdout).lineages[0].action).toBe('renewed');
  });
});

describe('readiness checks stop a broken setup before any order exists', () => {
  it('issue with a webroot the web server does not serve: no newOrder at the server, the ledger says why', async () => {
    const state = tempDir();
    const wrongRoot = tempDir(); // writable, but not what the web server serves
    proxy.resetObservations();
    const r = await runCli(['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', wrongRoot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', 'broken.example.test']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/Not ready to order/);
    expect(r.stderr).toMatch(/http01/);
    expect(proxy.counts.newOrder).toBe(0);
    expect(proxy.total()).toBe(0);
    const rows = q<{ check_name: string; ok: number }>(state, "SELECT check_name, ok FROM prechecks WHERE name = 'broken.example.test'");
    expect(rows.find((x) => x.check_name === 'http01')?.ok).toBe(0);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(0);
  });
});

describe('transient faults and profiles', () => {
  it('5xx answers are retried with backoff inside one run', async () => {
    const state = tempDir();
    proxy.failNext('newOrder', 503, 2);
    proxy.failNext('finalize', 500, 1);
    const r = await runCli(issueArgs(state, 'flaky.example.test'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Two 503s, then success; a replayed JWS may add a badNonce round trip (and Pebble rejects 5 % of nonces).
    expect(proxy.requests.filter((x) => x.endpoint === 'newOrder' && x.status === 503)).toHaveLength(2);
    expect(proxy.requests.filter((x) => x.endpoint === 'newOrder' && x.status === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
  });

  it('a CA that keeps failing: bounded retries, a clear error, the order stays resumable', async () => {
    const state = tempDir();
    proxy.failNext('finalize', 503, 50);
    const r = await runCli(issueArgs(state, 'down.example.test'));
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/HTTP 503|503/);
    // 1 + 3 retries of the 503, never an endless loop (a badNonce round trip is not a retry of ours).
    expect(proxy.requests.filter((x) => x.endpoint === 'finalize' && x.status === 503)).toHaveLength(4);
    proxy.clearFaults();
    const again = await runCli(renewArgs(state, ['--json']));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).lineages[0].action).toBe('recovered');
    // One order, created once (a re-sent newOrder after a rejected nonce is not a second order).
    expect(proxy.requests.filter((x) => x.endpoint === 'newOrder' && x.status === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
  });

  it('--profile is sent and recorded; an unknown profile is refused before ordering', async () => {
    proxy.setProfiles({ classic: '90 days', shortlived: '6 days' });
    try {
      const state = tempDir();
      const bad = await runCli([...issueArgs(state, 'prof-bad.example.test'), '--profile', 'weekly']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/does not offer the profile "weekly".*\n.*classic, shortlived/);
      expect(proxy.counts.newOrder).toBe(0);
      const ok = await runCli([...issueArgs(state, 'prof.example.test'), '--profile', 'shortlived']);
      expect(ok.code).toBe(0);
      expect(proxy.orders.at(-1)!.payload.profile).toBe('shortlived');
      expect(q<{ profile: string }>(state, 'SELECT profile FROM orders')[0]!.profile).toBe('shortlived');
    } finally {
      proxy.setProfiles(null);
    }
  });
});

describe('the planner stops issue before the CA would', () => {
  it('the sixth certificate for one exact set in a week is blocked before anything is sent; --force sends it and is recorded', async () => {
    const state = tempDir();
    const name = 'dup.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    for (let i = 2; i <= 5; i++) {
      const r = await runCli([...issueArgs(state, name), '--force-renewal']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`warning: --force-renewal orders a certificate for exactly the names already held .*spends 1 of the CA's 5 duplicate slots \\(${5 - i} left after it\\)`));
    }
    // The fifth spent the last duplicate slot of the unknown-CA policy (5 per week).
    proxy.resetObservations();
    const sixth = await runCli([...issueArgs(state, name), '--force-renewal']);
    expect(sixth.code).toBe(4);
    expect(sixth.stderr).toMatch(/The CA would refuse this request/);
    expect(sixth.stderr).toMatch(/Next allowed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(sixth.stderr).toMatch(/Nothing was sent/);
    expect(proxy.total()).toBe(0);

    const forced = await runCli([...issueArgs(state, name), '--force-renewal', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/warning: The CA would refuse this request.*Sending anyway because of --force/);
    expect(q<{ forced: number }>(state, 'SELECT forced FROM orders ORDER BY id DESC LIMIT 1')[0]!.forced).toBe(1);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(6);
  });
});
