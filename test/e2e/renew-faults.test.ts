/**
 * Renewal under faults, through certctl's ACME test server (testkit/
 * acme-proxy.ts: a proxy in front of Pebble that adds ARI, 429s and
 * counting at the server):
 *  - SIGKILL at every step (by the test, at the proxy), then renew: exactly one certificate issued;
 *  - ARI windows honoured, `replaces` sent, alreadyReplaced handled;
 *  - after a 429 the next run sends nothing at all until Retry-After.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { type Pebble } from '../../testkit/pebble.js';
import { type AcmeTestProxy, type EndpointName, type InterruptWhen } from '../../testkit/acme-proxy.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa()));
afterAll(() => stopOneCa({ pebble, proxy }));
beforeEach(() => {
  proxy.clearFaults();
  proxy.setRenewalWindow(null);
  proxy.resetObservations();
});

const HOUR = 3_600_000;
function issueArgs(state: string, name: string, webroot = pebble.webroot): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
function certPem(state: string, name: string): string {
  return fs.readFileSync(path.join(state, 'live', name, 'cert.pem'), 'utf8');
}

/**
 * Requests the CA accepted, by endpoint (a badNonce 400 that acme-client re-sends is a request, not an
 * operation). A request whose answer a crash kept from certctl counts when the CA accepted it.
 */
function accepted(endpoint: EndpointName): number {
  const ok = (s: number | undefined) => s !== undefined && s >= 200 && s < 300;
  return proxy.requests.filter((x) => x.endpoint === endpoint && (ok(x.status) || ok(x.interrupted?.upstreamStatus))).length;
}
function acceptedCounts(): Record<'newOrder' | 'challenge' | 'finalize' | 'certificate', number> {
  return { newOrder: accepted('newOrder'), challenge: accepted('challenge'), finalize: accepted('finalize'), certificate: accepted('certificate') };
}

describe('SIGKILL at each step, then renew: exactly one certificate', () => {
  // certctl is SIGKILLed by the test at an exact request (test/helpers/crash.ts): 'before' a request is
  // forwarded (certctl journalled everything up to it; the CA never sees it) or 'after' the CA acted on it
  // (its answer never reaches certctl). For each: the journal step the crash leaves, what the crashed
  // run got the CA to accept, and what the recovery run sends. One name per order, so one challenge.
  type Counts = ReturnType<typeof acceptedCounts>;
  const cases: { what: string; at: EndpointName; when: InterruptWhen; step: string; crash: Counts; recovery: Counts }[] = [
    // Killed before newOrder reached the CA: nothing exists there; the recovery orders (the one order).
    { what: 'before newOrder', at: 'newOrder', when: 'before', step: 'creating', crash: { newOrder: 0, challenge: 0, finalize: 0, certificate: 0 }, recovery: { newOrder: 1, challenge: 1, finalize: 1, certificate: 1 } },
    // Order created and journalled (killed at the next request, the authorization fetch): the recovery
    // resumes that order — no new one — answers the challenge, finalizes and downloads.
    { what: 'after new-order', at: 'authz', when: 'before', step: 'created', crash: { newOrder: 1, challenge: 0, finalize: 0, certificate: 0 }, recovery: { newOrder: 0, challenge: 1, finalize: 1, certificate: 1 } },
    // Challenge answered by the CA: the recovery does not answer it again (the CA already validates), finalizes, downloads.
    { what: 'after challenge', at: 'challenge', when: 'after', step: 'authorizing', crash: { newOrder: 1, challenge: 1, finalize: 0, certificate: 0 }, recovery: { newOrder: 0, challenge: 0, finalize: 1, certificate: 1 } },
    // Key and CSR journalled, finalize never sent: the recovery finalizes (the only finalize) with that key.
    { what: 'before finalize', at: 'finalize', when: 'before', step: 'finalizing', crash: { newOrder: 1, challenge: 1, finalize: 0, certificate: 0 }, recovery: { newOrder: 0, challenge: 0, finalize: 1, certificate: 1 } },
    // Finalized (the certificate is issued), the answer never seen: the recovery only downloads it, never finalizes again.
    { what: 'after finalize', at: 'finalize', when: 'after', step: 'finalizing', crash: { newOrder: 1, challenge: 1, finalize: 1, certificate: 0 }, recovery: { newOrder: 0, challenge: 0, finalize: 0, certificate: 1 } },
    // Served by the CA but never received (so never stored): the recovery downloads it again, no finalize.
    { what: 'after download', at: 'certificate', when: 'after', step: 'downloading', crash: { newOrder: 1, challenge: 1, finalize: 1, certificate: 1 }, recovery: { newOrder: 0, challenge: 0, finalize: 0, certificate: 1 } },
  ];
  for (const c of cases) {
    it(`killed ${c.what}: journal at '${c.step}', the recovery sends only what is left`, async () => {
      const state = tempDir();
      const name = `kill-${c.what.toLowerCase().replace(/\W+/g, '-')}.example.test`;
      const crashed = await killedAt(proxy, c.at, c.when, issueArgs(state, name));
      // Died of the injected SIGKILL at that request, not of some other failure.
      expect(crashed.fired, crashed.stderr).toBe(true);
      expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
      expect(fs.existsSync(path.join(state, 'live', name, 'cert.pem'))).toBe(false);
      const open = q<{ step: string }>(state, "SELECT step FROM orders WHERE state = 'open'");
      expect(open).toEqual([{ step: c.step }]);
      expect(acceptedCounts()).toEqual(c.crash);
      expect(proxy.issued).toBe(c.crash.finalize);

      proxy.resetObservations();
      const r = await runCli(renewArgs(state, ['--json']));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ lineage: name, action: 'recovered' });
      // Counted at the server, for the recovery run alone.
      expect(acceptedCounts()).toEqual(c.recovery);
      // One certificate over both runs: the crashed run's finalize or the recovery's, never both.
      expect(c.crash.finalize + c.recovery.finalize).toBe(1);
      expect(proxy.issued).toBe(c.recovery.finalize);
      expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
      expect(q(state, 'SELECT id FROM orders')).toHaveLength(1);
      expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
      // live/ holds a key that matches its certificate.
      const live = path.join(state, 'live', name);
      const certPub = new X509Certificate(fs.readFileSync(path.join(live, 'cert.pem'))).publicKey.export({ type: 'spki', format: 'der' });
      const keyPub = createPublicKey(createPrivateKey(fs.readFileSync(path.join(live, 'privkey.pem')))).export({ type: 'spki', format: 'der' });
      expect(Buffer.compare(certPub, keyPub)).toBe(0);
      // Run again: nothing more.
      proxy.resetObservations();
      const again = await runCli(renewArgs(state, ['--json']));
      expect(JSON.parse(again.stdout).lineages[0].action).toBe('kept');
      expect(acceptedCounts()).toEqual({ newOrder: 0, challenge: 0, finalize: 0, certificate: 0 });
    });
  }
});

/** Every entry under `dir` (recursively, links not followed): a symlink's target and the hash of what it points at, a file's hash and mode. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d).sort()) {
      const f = path.join(d, e);
      const rel = path.relative(dir, f);
      const st = fs.lstatSync(f);
      if (st.isSymbolicLink()) out[rel] = `link ${fs.readlinkSync(f)} → ${sha(f)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${(st.mode & 0o777).toString(8)}`;
        walk(f);
      } else out[rel] = `file ${(st.mode & 0o777).toString(8)} ${sha(f)}`;
    }
  };
  walk(dir);
  return out;
}

describe('a failed challenge: exit 7, recorded, and counted by the next plan', () => {
  it('the CA cannot fetch the challenge: authorization invalid, order failed, nothing finalized or stored', async () => {
    const state = tempDir();
    const wrongRoot = tempDir(); // writable, but not what the web server serves: the CA gets a 404
    const name = 'fail-validation.example.test';
    // --no-precheck: the readiness check would otherwise catch this before ordering (exit 6).
    const r = await runCli([...issueArgs(state, name, wrongRoot), '--no-precheck']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/The CA could not validate a name:\n\s+fail-validation\.example\.test: /);
    expect(accepted('newOrder')).toBe(1);
    expect(accepted('challenge')).toBe(1);
    expect(accepted('finalize')).toBe(0);
    expect(proxy.issued).toBe(0);
    const authz = q<{ identifier: string; status: string; error_type: string | null }>(state, 'SELECT identifier, status, error_type FROM authorizations');
    expect(authz).toHaveLength(1);
    expect(authz[0]).toMatchObject({ identifier: name, status: 'invalid' });
    expect(authz[0]!.error_type).toMatch(/^urn:ietf:params:acme:error:/);
    expect(q(state, 'SELECT state, step FROM orders')).toEqual([{ state: 'failed', step: 'failed' }]);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(0);
    expect(fs.existsSync(path.join(state, 'live', name))).toBe(false);

    // The next plan for the same name counts the failed validation (nothing is sent to do so).
    proxy.resetObservations();
    const plan = await runCli(['--state-dir', state, '--json', 'plan', '--server', proxy.directoryUrl, '-d', name]);
    expect(plan.code).toBe(0);
    const limits = JSON.parse(plan.stdout).plans[0].limits as { name: string; used: number; capacity: number }[];
    expect(limits.find((l) => l.name === 'failed-authorizations')).toMatchObject({ used: 1, capacity: 5 });
    expect(proxy.total()).toBe(0);
  });
});

describe('a renewal that fails after finalize: live/ untouched, the order resumable', () => {
  it('the certificate download answers 500 on every retry: exit 8, live/ byte-identical; the next renew downloads it without finalizing again', async () => {
    const state = tempDir();
    const name = 'fail-download.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    const live = path.join(state, 'live');
    const before = snapshot(live);
    expect(Object.keys(before)).toContain(path.join(name, 'privkey.pem'));
    proxy.setRenewalWindow({ start: new Date(Date.now() - 2 * HOUR), end: new Date(Date.now() - HOUR) });
    proxy.failNext('certificate', 500, 50);
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.code).toBe(8);
    expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ lineage: name, action: 'failed' });
    // The CA issued the renewal: one finalize, bounded download attempts (1 + 3 retries), all refused.
    expect(proxy.issued).toBe(1);
    expect(proxy.requests.filter((x) => x.endpoint === 'certificate' && x.status === 500)).toHaveLength(4);
    expect(accepted('certificate')).toBe(0);
    // Nothing the web server reads changed: every file, mode, link and link target as before.
    expect(snapshot(live)).toEqual(before);
    expect(fs.readdirSync(path.join(state, 'archive', name)).filter((f) => /2\.pem$/.test(f))).toEqual([]);
    expect(q(state, 'SELECT current_version FROM lineages')).toEqual([{ current_version: 1 }]);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
    // The order stays open where it stopped: issued, to be downloaded.
    expect(q(state, "SELECT step FROM orders WHERE state = 'open'")).toEqual([{ step: 'downloading' }]);

    // The CA is back: the next renew downloads the issued certificate; no new order, no second finalize.
    proxy.clearFaults();
    proxy.resetObservations();
    const again = await runCli(renewArgs(state, ['--json']));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).lineages[0]).toMatchObject({ lineage: name, action: 'recovered' });
    expect(acceptedCounts()).toEqual({ newOrder: 0, challenge: 0, finalize: 0, certificate: 1 });
    expect(proxy.issued).toBe(0);
    expect(fs.readlinkSync(path.join(live, name, 'cert.pem'))).toMatch(/cert2\.pem$/);
    expect(q(state, 'SELECT current_version FROM lineages')).toEqual([{ current_version: 2 }]);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(2);
    expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
  });
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
