/**
 * certctl's SM2 ACME test server refuses what an RFC 8555 server must
 * refuse, so the E2E passing means something: reused nonces, a JWS `url`
 * other than the request's, a bad signature, a CSR for other names, and an
 * http-01 answer that is not token.thumbprint.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { startChallTestSrv, type ChallTestSrv } from '../../testkit/challtestsrv.js';
import { startWebroot, type Webroot } from '../../testkit/webroot.js';
import { startSm2AcmeServer, type Sm2AcmeServer } from '../../testkit/sm2-acme-server.js';
import { generateKey, createCsr } from '../../src/core/keys/index.js';
import { fromPem } from '../../src/core/keys/der.js';

let dns: ChallTestSrv;
let web: Webroot;
let srv: Sm2AcmeServer;
let ca: string;
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
const thumb = crypto.createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');

beforeAll(async () => {
  dns = await startChallTestSrv();
  web = await startWebroot();
  srv = await startSm2AcmeServer({ resolver: dns.resolver, httpPort: web.port });
  ca = fs.readFileSync(srv.tlsCert, 'utf8');
});
afterAll(async () => {
  await srv?.stop();
  await web?.stop();
  await dns?.stop();
});

interface Resp {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
function request(method: string, url: string, body?: string): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca, headers: body ? { 'content-type': 'application/jose+json' } : {} }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
let dir: Record<string, string>;
async function nonce(): Promise<string> {
  dir ??= JSON.parse((await request('GET', srv.directoryUrl)).body);
  return (await request('HEAD', dir.newNonce!)).headers['replay-nonce'] as string;
}
function jws(url: string, payload: unknown, opts: { kid?: string; nonce: string; signUrl?: string; tamper?: boolean }): string {
  const prot = Buffer.from(JSON.stringify({ alg: 'ES256', nonce: opts.nonce, url: opts.signUrl ?? url, ...(opts.kid ? { kid: opts.kid } : { jwk }) })).toString('base64url');
  const pl = payload === null ? '' : Buffer.from(JSON.stringify(payload)).toString('base64url');
  const sig = crypto.sign('sha256', Buffer.from(`${prot}.${pl}`), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (opts.tamper) sig[5]! ^= 1;
  return JSON.stringify({ protected: prot, payload: pl, signature: sig.toString('base64url') });
}
async function post(url: string, payload: unknown, kid?: string, extra: { nonce?: string; signUrl?: string; tamper?: boolean } = {}): Promise<Resp> {
  return request('POST', url, jws(url, payload, { kid, nonce: extra.nonce ?? (await nonce()), ...extra }));
}
const type = (r: Resp) => JSON.parse(r.body).type as string;

describe("certctl's SM2 ACME test server", () => {
  let kid: string;

  it('creates an account with a verified JWS; the same key finds it again', async () => {
    await nonce(); // reads the directory
    const r = await post(dir.newAccount!, { termsOfServiceAgreed: true });
    expect(r.status).toBe(201);
    expect(r.headers['replay-nonce']).toBeTruthy();
    kid = r.headers.location as string;
    const again = await post(dir.newAccount!, { termsOfServiceAgreed: true });
    expect(again.status).toBe(200);
    expect(again.headers.location).toBe(kid);
  });

  it('refuses a reused nonce, a wrong url, a bad signature, kid unknown', async () => {
    const n = await nonce();
    expect((await post(dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, kid, { nonce: n })).status).toBe(201);
    const reused = await post(dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, kid, { nonce: n });
    expect(reused.status).toBe(400);
    expect(type(reused)).toBe('urn:ietf:params:acme:error:badNonce');
    const wrongUrl = await post(dir.newOrder!, { identifiers: [] }, kid, { signUrl: dir.newAccount });
    expect(wrongUrl.status).toBe(401);
    const tampered = await post(dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, kid, { tamper: true });
    expect(tampered.status).toBe(400);
    expect(JSON.parse(tampered.body).detail).toMatch(/signature does not verify/);
    const noAcct = await post(dir.newOrder!, { identifiers: [{ type: 'dns', value: 'a.example.test' }] }, kid + '9');
    expect(type(noAcct)).toBe('urn:ietf:params:acme:error:accountDoesNotExist');
  });

  it('validates http-01 for real: a wrong answer makes the order invalid, the right one ready; a CSR for other names is badCSR', async () => {
    const poll = async (url: string, want: (s: string) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const d = JSON.parse((await post(url, null, kid)).body);
        if (want(d.status)) return d;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`${url} did not settle`);
    };
    const challDir = path.join(web.dir, '.well-known', 'acme-challenge');
    fs.mkdirSync(challDir, { recursive: true });
    for (const good of [false, true]) {
      const name = good ? 'good.example.test' : 'bad.example.test';
      const o = await post(dir.newOrder!, { identifiers: [{ type: 'dns', value: name }] }, kid);
      const order = JSON.parse(o.body);
      const authz = JSON.parse((await post(order.authorizations[0], null, kid)).body);
      const ch = authz.challenges[0];
      fs.writeFileSync(path.join(challDir, ch.token), good ? `${ch.token}.${thumb}` : `${ch.token}.not-the-thumbprint`);
      expect((await post(ch.url, {}, kid)).status).toBe(200);
      const done = await poll(o.headers.location as string, (s) => s !== 'pending');
      expect(done.status).toBe(good ? 'ready' : 'invalid');
      const a = JSON.parse((await post(order.authorizations[0], null, kid)).body);
      expect(a.status).toBe(good ? 'valid' : 'invalid');
      if (!good) expect(a.challenges[0].error.type).toBe('urn:ietf:params:acme:error:incorrectResponse');
      if (good) {
        const key = await generateKey({ kind: 'sm2' });
        const csr = await createCsr(key, ['other.example.test'], { kind: 'sm2' }, 'sign');
        const fin = await post(order.finalize, { csr: fromPem(csr).der.toString('base64url') }, kid);
        expect(fin.status).toBe(400);
        expect(type(fin)).toBe('urn:ietf:params:acme:error:badCSR');
        expect(srv.stats.issued).toHaveLength(0);
      }
    }
    expect(web.hits.filter((h) => h.startsWith('/.well-known/acme-challenge/'))).toHaveLength(2);
  });
});
