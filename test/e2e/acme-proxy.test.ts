/**
 * certctl's ACME test server (testkit/acme-proxy.ts) in front of a real
 * Pebble, proven with the built certctl CLI: issuance passes through
 * unchanged, the directory gains renewalInfo (and profiles on request),
 * renewal-info answers the configured windows, and injected 429 / 5xx /
 * alreadyReplaced refusals look like Let's Encrypt's and are never forwarded;
 * `interrupt` calls the test back before forwarding or after the CA accepted.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, startCli, tempDir, q, type RunningCli } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { ariCertId } from '../../src/core/acme/ari.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
let ca: string;

beforeAll(async () => {
  // No badNonce rejections here, so request counts are exact (a rejected nonce makes
  // acme-client resend, and the resend is a second request at the server); the
  // 'badNonce' test below runs its own Pebble that rejects half the nonces.
  pebble = await startPebble({ nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  ca = fs.readFileSync(pebble.caBundle, 'utf8');
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.setRenewalWindow(null, 21600);
  proxy.setProfiles(null);
  proxy.setAri(true);
  proxy.resetObservations();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to the proxy, trusting Pebble's API certificate (the proxy presents the same one). */
function request(method: string, url: string, body?: unknown, contentType = 'application/jose+json'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const r = https.request(url, { method, ca, headers: data ? { 'content-type': contentType, 'content-length': data.length } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    r.on('error', reject);
    r.end(data);
  });
}

/** A flattened JWS with an arbitrary payload and no valid signature (the proxy decides before Pebble verifies). */
function fakeJws(payload: Record<string, unknown>): Record<string, string> {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return { protected: b64({ alg: 'ES256', nonce: 'x', url: 'x', kid: 'x' }), payload: b64(payload), signature: 'AAAA' };
}

function issueArgs(state: string, ...names: string[]): string[] {
  return [
    '--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot,
    '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...names.flatMap((n) => ['-d', n]),
  ];
}

function problems(state: string): Record<string, unknown>[] {
  const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM problems ORDER BY id').all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

async function directory(): Promise<Record<string, unknown>> {
  const r = await request('GET', proxy.directoryUrl);
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as Record<string, unknown>;
}

describe('ACME test proxy: the directory', () => {
  it('adds renewalInfo, keeps every URL pointing at the proxy (Pebble builds them from Host), and lists profiles on request', async () => {
    const dir = await directory();
    expect(dir.renewalInfo).toBe(`https://127.0.0.1:${proxy.port}/renewal-info`);
    expect(dir.renewalInfo).toBe(proxy.renewalInfoUrl);
    for (const k of ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange']) {
      expect(String(dir[k]), k).toMatch(new RegExp(`^${proxy.origin}/`));
    }
    expect((dir.meta as Record<string, unknown> | undefined)?.profiles).toBeUndefined();
    // Pebble itself has no renewalInfo: the proxy added it.
    const up = await new Promise<string>((resolve, reject) =>
      https.get(pebble.directoryUrl, { ca }, (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => resolve(t));
      }).on('error', reject),
    );
    expect(JSON.parse(up).renewalInfo).toBeUndefined();

    proxy.setProfiles({ classic: 'The same profile you know and love', shortlived: 'A short-lived cert profile, without actual revocation' });
    const withProfiles = await directory();
    expect((withProfiles.meta as Record<string, unknown>).profiles).toEqual({ classic: 'The same profile you know and love', shortlived: 'A short-lived cert profile, without actual revocation' });
    expect((withProfiles.meta as Record<string, unknown>).termsOfService).toBeDefined(); // Pebble's meta is kept

    proxy.setAri(false);
    expect((await directory()).renewalInfo).toBeUndefined();
    expect(proxy.counts.directory).toBe(3);
  });

  it('leaves renewalInfo out when started with ari: false', async () => {
    const p2 = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, tlsCert: pebble.tlsCert, tlsKey: pebble.tlsKey, ari: false });
    try {
      const r = await request('GET', p2.directoryUrl);
      expect(r.status).toBe(200);
      const dir = JSON.parse(r.body);
      expect(dir.renewalInfo).toBeUndefined();
      expect(dir.newOrder).toMatch(new RegExp(`^${p2.origin}/`));
    } finally {
      await p2.stop();
    }
  });
});

describe('ACME test proxy: certctl issues through it', () => {
  it('issues (exit 0) with exactly one newOrder and one finalize at the server; renewal-info answers for the new certificate', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, 'x.example.test'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(proxy.counts.newOrder).toBe(1);
    expect(proxy.counts.finalize).toBe(1);
    expect(proxy.forwarded.finalize).toBe(1);
    expect(proxy.issued).toBe(1);
    expect(proxy.counts.newAccount).toBe(1);
    expect(proxy.counts.challenge).toBeGreaterThanOrEqual(1);
    expect(proxy.counts.certificate).toBeGreaterThanOrEqual(1);
    expect(proxy.counts.nonce).toBeGreaterThanOrEqual(1);
    expect(proxy.counts.other).toBe(0);
    expect(proxy.requests.every((q) => !q.synthetic && q.status > 0)).toBe(true);
    expect(proxy.orders).toHaveLength(1);
    expect(proxy.orders[0]!.status).toBe(201);
    expect(proxy.orders[0]!.payload.identifiers).toEqual([{ type: 'dns', value: 'x.example.test' }]);

    // The certificate the proxy saw is the one certctl stored, under its RFC 9773 certID.
    const certPem = fs.readFileSync(path.join(state, 'live', 'x.example.test', 'cert.pem'), 'utf8');
    const certId = ariCertId(certPem);
    expect([...proxy.certificates.keys()]).toEqual([certId]);
    // certID cross-checked against OpenSSL's view of the same certificate.
    const text = execFileSync('openssl', ['x509', '-noout', '-serial', '-ext', 'authorityKeyIdentifier'], { input: certPem, encoding: 'utf8' });
    let serialHex = /serial=([0-9A-F]+)/.exec(text)![1]!;
    if (serialHex.length % 2) serialHex = '0' + serialHex;
    if (parseInt(serialHex.slice(0, 2), 16) >= 0x80) serialHex = '00' + serialHex;
    const aki = /((?:[0-9A-F]{2}:)+[0-9A-F]{2})/.exec(text.split('Authority Key Identifier')[1]!)![1]!.replace(/:/g, '');
    expect(certId).toBe(`${Buffer.from(aki, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`);

    // Default window: around 2/3 of the (5-year) lifetime, Retry-After 6 h.
    const seen = proxy.certificates.get(certId)!;
    const def = await request('GET', `${proxy.renewalInfoUrl}/${certId}`);
    expect(def.status).toBe(200);
    expect(def.headers['retry-after']).toBe('21600');
    const defWin = JSON.parse(def.body).suggestedWindow;
    const twoThirds = seen.notBefore.getTime() + ((seen.notAfter.getTime() - seen.notBefore.getTime()) * 2) / 3;
    expect(Date.parse(defWin.start)).toBeLessThan(twoThirds);
    expect(Date.parse(defWin.end)).toBeGreaterThan(twoThirds);

    // A configured window and Retry-After.
    proxy.setRenewalWindow({ start: '2026-03-01T00:00:00Z', end: new Date('2026-03-03T00:00:00Z'), explanationURL: 'https://ca.example.test/ari' }, 3600);
    const conf = await request('GET', `${proxy.renewalInfoUrl}/${certId}`);
    expect(conf.status).toBe(200);
    expect(conf.headers['content-type']).toMatch(/application\/json/);
    expect(conf.headers['retry-after']).toBe('3600');
    expect(JSON.parse(conf.body)).toEqual({ suggestedWindow: { start: '2026-03-01T00:00:00.000Z', end: '2026-03-03T00:00:00.000Z' }, explanationURL: 'https://ca.example.test/ari' });
    expect(proxy.ariRequests.slice(-2)).toEqual([certId, certId]);
    expect(proxy.forwarded.renewalInfo).toBe(0);
  });

  it('with rateLimit(newOrder): certctl exits 5, shows the detail, records the 429 with Retry-After; nothing reaches Pebble', async () => {
    const detail = 'too many new orders (300) from this account in the last 3h0m0s';
    proxy.rateLimit('newOrder', { seconds: 7200, detail });
    const state = tempDir();
    const before = Date.now();
    const r = await runCli(issueArgs(state, 'limited.example.test'));
    const after = Date.now();
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(detail);
    expect(proxy.counts.newOrder).toBe(1);
    expect(proxy.forwarded.newOrder).toBe(0);
    expect(proxy.counts.finalize).toBe(0);
    expect(proxy.orders).toHaveLength(1);
    expect(proxy.orders[0]!.status).toBe(429);
    const rows = problems(state).filter((p) => p.http_status === 429);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.type).toBe('urn:ietf:params:acme:error:rateLimited');
    expect(String(rows[0]!.detail)).toMatch(/^too many new orders \(300\) from this account in the last 3h0m0s, retry after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: see https:\/\/letsencrypt\.org\/docs\/rate-limits\/$/);
    const ra = Number(rows[0]!.retry_after);
    expect(ra).toBeGreaterThanOrEqual(before + 7200_000 - 1000);
    expect(ra).toBeLessThanOrEqual(after + 7200_000 + 1000);

    // The limit stays until cleared; then the same order goes through.
    proxy.clearFaults();
    const ok = await runCli([...issueArgs(tempDir(), 'limited.example.test')]);
    expect(ok.code).toBe(0);
    expect(proxy.forwarded.newOrder).toBe(1);
  });

  it('with rateLimit(finalize): the order exists but no certificate is issued; certctl exits 5', async () => {
    proxy.rateLimit('finalize', { seconds: 600, detail: 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s', times: 1 });
    const state = tempDir();
    const r = await runCli(issueArgs(state, 'fin.example.test'));
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('too many certificates (5) already issued for this exact set of identifiers');
    expect(proxy.forwarded.newOrder).toBe(1);
    expect(proxy.counts.finalize).toBe(1);
    expect(proxy.forwarded.finalize).toBe(0);
    expect(proxy.issued).toBe(0);
    const row = problems(state).find((p) => p.http_status === 429)!;
    expect(row.type).toBe('urn:ietf:params:acme:error:rateLimited');
    expect(Number(row.retry_after)).toBeGreaterThan(Date.now() + 500_000);
  });

  it('failNext(newOrder, 503): certctl retries the transient error and issues; Pebble saw one newOrder', async () => {
    proxy.failNext('newOrder', 503, 1);
    const r = await runCli(issueArgs(tempDir(), 'transient.example.test'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(proxy.counts.newOrder).toBe(2);
    expect(proxy.forwarded.newOrder).toBe(1);
    expect(proxy.orders.map((o) => o.status)).toEqual([503, 201]);
    expect(proxy.issued).toBe(1);
  });
});

describe('ACME test proxy: refusals it makes itself', () => {
  it('a 429 looks like Let’s Encrypt’s: problem+json, Retry-After, Link rel=help, a fresh Replay-Nonce; times counts down', async () => {
    const newOrder = String((await directory()).newOrder);
    proxy.rateLimit('newOrder', { seconds: 1234, detail: 'too many certificates (50) already issued for "example.test" in the last 168h0m0s', times: 1 });
    const t0 = Date.now();
    const r = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'a.example.test' }], profile: 'shortlived' }));
    expect(r.status).toBe(429);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(r.headers['retry-after']).toBe('1234');
    expect(r.headers.link).toBe('<https://letsencrypt.org/docs/rate-limits/>;rel="help"');
    expect(String(r.headers['replay-nonce'])).toMatch(/^[A-Za-z0-9_-]{10,}$/);
    const doc = JSON.parse(r.body);
    expect(doc.type).toBe('urn:ietf:params:acme:error:rateLimited');
    expect(doc.status).toBe(429);
    const m = /^too many certificates \(50\) already issued for "example\.test" in the last 168h0m0s, retry after (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC: see https:\/\/letsencrypt\.org\/docs\/rate-limits\/$/.exec(doc.detail);
    expect(m).not.toBeNull();
    const when = Date.parse(m![1]!.replace(' ', 'T') + 'Z');
    expect(Math.abs(when - (t0 + 1234_000))).toBeLessThan(3000);
    expect(proxy.orders.at(-1)!.payload).toEqual({ identifiers: [{ type: 'dns', value: 'a.example.test' }], profile: 'shortlived' });

    // times: 1 → the next request goes to Pebble (which refuses the unsigned JWS itself).
    const next = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'a.example.test' }] }));
    expect(next.status).not.toBe(429);
    expect(JSON.parse(next.body).type).toMatch(/^urn:ietf:params:acme:error:(malformed|badNonce|badSignatureAlgorithm|accountDoesNotExist)$/);
    expect(proxy.forwarded.newOrder).toBe(1);
  });

  it('alreadyReplaced: a newOrder with replaces gets 409; without replaces it is forwarded', async () => {
    const newOrder = String((await directory()).newOrder);
    proxy.alreadyReplaced(true);
    const r = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'r.example.test' }], replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' }));
    expect(r.status).toBe(409);
    expect(JSON.parse(r.body).type).toBe('urn:ietf:params:acme:error:alreadyReplaced');
    expect(r.headers['replay-nonce']).toBeTruthy();
    expect(proxy.orders.at(-1)).toMatchObject({ status: 409, payload: { replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' } });
    const plain = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'r.example.test' }] }));
    expect(plain.status).not.toBe(409);
    expect(proxy.forwarded.newOrder).toBe(1);
    proxy.alreadyReplaced(false);
    const off = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'r.example.test' }], replaces: 'a.b' }));
    expect(off.status).not.toBe(409);
    expect(proxy.forwarded.newOrder).toBe(2);
  });

  it('an unknown profile gets invalidProfile once profiles are listed', async () => {
    const newOrder = String((await directory()).newOrder);
    proxy.setProfiles({ classic: 'c', shortlived: 's' });
    const r = await request('POST', newOrder, fakeJws({ identifiers: [{ type: 'dns', value: 'p.example.test' }], profile: 'nope' }));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).type).toBe('urn:ietf:params:acme:error:invalidProfile');
    expect(proxy.forwarded.newOrder).toBe(0);
  });

  it('renewal-info: a function of the certID (null → 404), 500 on demand, malformed IDs refused', async () => {
    proxy.setRenewalWindow((id) => (id === 'known.AQ' ? { start: new Date(Date.UTC(2030, 0, 1)), end: new Date(Date.UTC(2030, 0, 2)) } : null));
    const ok = await request('GET', `${proxy.renewalInfoUrl}/known.AQ`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ suggestedWindow: { start: '2030-01-01T00:00:00.000Z', end: '2030-01-02T00:00:00.000Z' } });
    const unknown = await request('GET', `${proxy.renewalInfoUrl}/unknown.AQ`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toBe('application/problem+json');
    proxy.failNext('renewalInfo', 500, 2);
    expect((await request('GET', `${proxy.renewalInfoUrl}/known.AQ`)).status).toBe(500);
    expect((await request('GET', `${proxy.renewalInfoUrl}/known.AQ`)).status).toBe(500);
    expect((await request('GET', `${proxy.renewalInfoUrl}/known.AQ`)).status).toBe(200);
    expect((await request('GET', `${proxy.renewalInfoUrl}/no-dot-here`)).status).toBe(400);
    expect(proxy.ariRequests).toEqual(['known.AQ', 'unknown.AQ', 'known.AQ', 'known.AQ', 'known.AQ', 'no-dot-here']);
    expect(proxy.counts.renewalInfo).toBe(6);
    expect(proxy.forwarded.renewalInfo).toBe(0);
  });
});

describe('ACME test proxy: badNonce', () => {
  it('an injected badNonce on finalize is resent by the client: three finalize requests, one forwarded, one certificate', async () => {
    proxy.badNonce('finalize', 2);
    const r = await runCli(issueArgs(tempDir(), 'nonce.example.test'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(proxy.counts.finalize).toBe(3);
    expect(proxy.forwarded.finalize).toBe(1);
    expect(proxy.requests.filter((q) => q.endpoint === 'finalize').map((q) => [q.status, q.synthetic])).toEqual([
      [400, true],
      [400, true],
      [200, false],
    ]);
    expect(proxy.issued).toBe(1);
  });

  it('Pebble’s own badNonce answers pass through: with 20 % rejected, certctl issues and `issued` is 1', async () => {
    // 20 %, not more: acme-client gives up after 5 resends, and certctl then
    // reports "internal error" (see the report on this test server).
    const noisy = await startPebble({ nonceReject: 20 });
    const p2 = await startAcmeTestProxy({ upstream: noisy.directoryUrl, caBundle: noisy.caBundle });
    try {
      const r = await runCli([
        '--state-dir', tempDir(), 'issue', '--server', p2.directoryUrl, '--ca-bundle', noisy.caBundle, '--webroot', noisy.webroot,
        '--resolver', noisy.dns.resolver, '--http-port', String(noisy.httpPort), '-d', 'noisy.example.test',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(p2.issued).toBe(1);
      expect(p2.certificates.size).toBe(1);
      expect(p2.requests.filter((q) => q.endpoint === 'finalize' && q.status === 200)).toHaveLength(1);
      expect(p2.requests.every((q) => !q.synthetic && (q.status < 300 || q.status === 400))).toBe(true);
      expect(p2.counts.finalize).toBe(p2.forwarded.finalize);
    } finally {
      await p2.stop();
      await noisy.stop();
    }
  });
});

describe('ACME test proxy: loseAnswer (the CA acts, its answer is lost)', () => {
  it("'cut' forwards to Pebble, then destroys the connection; times counts down", async () => {
    proxy.loseAnswer('directory', 'cut');
    await expect(request('GET', proxy.directoryUrl)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(proxy.forwarded.directory).toBe(1);
    expect(proxy.requests[0]).toMatchObject({ endpoint: 'directory', status: 0, lost: { mode: 'cut', upstreamStatus: 200 } });
    const next = await request('GET', proxy.directoryUrl);
    expect(next.status).toBe(200);
    expect(proxy.requests[1]!.lost).toBeUndefined();
  });

  it("'500' forwards to Pebble, then answers a serverInternal problem with a fresh nonce", async () => {
    proxy.loseAnswer('directory', '500');
    const r = await request('GET', proxy.directoryUrl);
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(r.body)).toMatchObject({ type: 'urn:ietf:params:acme:error:serverInternal', status: 500 });
    expect(r.headers['replay-nonce']).toBeTruthy();
    expect(proxy.forwarded.directory).toBe(1);
    expect(proxy.requests[0]!.lost).toEqual({ mode: '500', upstreamStatus: 200 });
  });

  it("'hold' forwards to Pebble and never answers (the client must give up)", async () => {
    proxy.loseAnswer('directory', 'hold');
    let answered = false;
    const r = https.request(proxy.directoryUrl, { method: 'GET', ca }, () => (answered = true));
    const closed = new Promise<Error>((resolve) => r.on('error', resolve));
    r.end();
    // Wait until the CA has answered the proxy (the fault then holds the client's socket).
    while (!proxy.requests[0]?.lost) await new Promise((res) => setTimeout(res, 20));
    expect(proxy.requests[0]!.lost).toEqual({ mode: 'hold', upstreamStatus: 200 });
    expect(proxy.forwarded.directory).toBe(1);
    // A further request on another connection is answered: only the held one is silent.
    expect((await request('GET', proxy.directoryUrl)).status).toBe(200);
    expect(answered).toBe(false);
    r.destroy(new Error('client gave up'));
    expect((await closed).message).toBe('client gave up');
    expect(answered).toBe(false);
  });

  it('a newOrder whose answer is cut was created at the CA: orders[].caStatus is 201, status 0', async () => {
    proxy.loseAnswer('newOrder', 'cut', 1);
    const r = await runCli(issueArgs(tempDir(), 'lose-neworder.example.test'));
    expect(r.code, r.stderr).toBe(0);
    // The transport replays the same signed request: Pebble refuses its spent nonce (badNonce, 400),
    // acme-client re-signs, and that creates the second order — at most one extra, one certificate.
    expect(proxy.orders.map((o) => [o.status, o.caStatus])).toEqual([
      [0, 201],
      [400, 400],
      [201, 201],
    ]);
    expect(proxy.issued).toBe(1);
  });
});

describe('ACME test proxy: interrupt (crash injection from the test side)', () => {
  it("'before' calls back before forwarding: the CA never sees the request; the client is killed there", async () => {
    const state = tempDir();
    const r = await killedAt(proxy, 'newOrder', 'before', issueArgs(state, 'interrupt-before.example.test'));
    expect(r.fired, r.stderr).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(proxy.counts.newOrder).toBe(1);
    expect(proxy.forwarded.newOrder).toBe(0);
    expect(proxy.orders.map((o) => [o.status, o.caStatus])).toEqual([[0, undefined]]);
    expect(proxy.requests.find((x) => x.endpoint === 'newOrder')!.interrupted).toEqual({ when: 'before' });
    // certctl journalled the order before sending newOrder, and got no further.
    expect(q(state, 'SELECT state, step FROM orders')).toEqual([{ state: 'open', step: 'creating' }]);
  });

  it("'after' fires only once the CA accepted: a refused request is answered as usual and the interrupt stays armed", async () => {
    let run: RunningCli | undefined;
    let calls = 0;
    proxy.interrupt('newOrder', 'after', async () => {
      calls++;
      run!.child.kill('SIGKILL');
      await run!.exited;
    });
    // A JWS Pebble cannot parse: refused (4xx), so the CA did nothing — the answer is delivered, nobody is killed.
    const newOrderUrl = (JSON.parse((await request('GET', proxy.directoryUrl)).body) as { newOrder: string }).newOrder;
    const refused = await request('POST', newOrderUrl, { protected: 'e30', payload: '', signature: 'AA' });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(calls).toBe(0);

    const state = tempDir();
    run = startCli(issueArgs(state, 'interrupt-after.example.test'));
    const r = await run.result;
    expect(calls).toBe(1);
    expect(r.signal, r.stderr).toBe('SIGKILL');
    // The CA created the order (201); certctl never got the answer, so its journal has no order URL.
    expect(proxy.orders.at(-1)).toMatchObject({ status: 0, caStatus: 201 });
    expect(proxy.requests.filter((x) => x.endpoint === 'newOrder').at(-1)!.interrupted).toEqual({ when: 'after', upstreamStatus: 201 });
    expect(q(state, 'SELECT step, order_url FROM orders')).toEqual([{ step: 'creating', order_url: null }]);
  });
});
