/**
 * The contract between certctl and the installed acme-client: every private
 * part src/core/acme/adapter.ts relies on (its doc comment, A.1–B.10) exists
 * and behaves as assumed. Run it after every acme-client upgrade; a failure
 * names the assumption that broke.
 *
 * Against a tiny local ACME-ish HTTP server on 127.0.0.1 (directory, newNonce,
 * newAccount, newOrder, an object to POST-as-GET, endpoints that answer 5xx),
 * which records what arrives: the nonce and kid/jwk of each JWS, and how often
 * each path was asked (a retry is a second request at the server).
 *
 * The tests run in order and share acme-client's module state (its axios
 * instance), as certctl's process does.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acmeAxios, internalsOf, loadAcme, pemBodyB64u, replaceInterceptors, disableBuiltInRetries, AcmeClientContractError, type AcmeModule, type AcmeClient } from '../../src/core/acme/adapter.js';
import { configureTransport, RETRY_SCHEDULE_MS } from '../../src/core/acme/transport.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'acme-client', 'package.json'), 'utf8')) as { version: string }).version;
const A = (n: string, what: string) => `acme-client ${VERSION}, adapter.ts assumption ${n}: ${what}`;

interface Jws {
  path: string;
  nonce: string;
  kid?: string;
  jwk?: unknown;
  payload: string;
  protected: string;
  signature: string;
}

let server: http.Server;
let base = '';
const hits = new Map<string, number>();
const posts: Jws[] = [];
let nonceSerial = 0;

function hit(p: string): number {
  const n = (hits.get(p) ?? 0) + 1;
  hits.set(p, n);
  return n;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const p = new URL(req.url ?? '/', base).pathname;
      hit(`${req.method} ${p}`);
      const nonce = `server-nonce-${nonceSerial++}`;
      const json = (status: number, doc: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', 'replay-nonce': nonce, ...headers });
        res.end(JSON.stringify(doc));
      };
      if (req.method === 'POST') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { protected: string; payload: string; signature: string };
        const prot = JSON.parse(Buffer.from(body.protected, 'base64url').toString('utf8')) as { nonce: string; kid?: string; jwk?: unknown };
        posts.push({ path: p, nonce: prot.nonce, kid: prot.kid, jwk: prot.jwk, payload: body.payload, protected: body.protected, signature: body.signature });
      }
      if (p === '/dir' || p === '/dir-nonce-less') {
        return json(200, { newNonce: `${base}/nonce`, newAccount: `${base}/acct`, newOrder: `${base}/order`, revokeCert: `${base}/revoke`, keyChange: `${base}/keychange`, meta: { termsOfService: `${base}/tos` } });
      }
      if (p === '/dir-503' || p === '/always-503') return json(503, { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'down', status: 503 }, { 'retry-after': '0' });
      if (p === '/nonce') {
        res.writeHead(200, { 'replay-nonce': nonce, 'cache-control': 'no-store' });
        return res.end();
      }
      if (p === '/acct') return json(201, { status: 'valid' }, { location: `${base}/acct/1` });
      if (p === '/order') return json(201, { status: 'pending', identifiers: [{ type: 'dns', value: 'a.example.test' }], authorizations: [], finalize: `${base}/finalize/1` }, { location: `${base}/order/1` });
      if (p === '/obj') return json(200, { status: 'pending' });
      if (p === '/revoke') return json(200, {});
      if (p === '/keychange') return json(200, { status: 'valid' });
      if (p === '/gone') return json(404, { type: 'urn:ietf:params:acme:error:malformed', detail: 'no such object', status: 404 });
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

const accountKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
const newClient = (acme: AcmeModule, dir = '/dir'): AcmeClient => new acme.Client({ directoryUrl: `${base}${dir}`, accountKey, backoffAttempts: 1 });

// The package as installed (the library entry, dist/index.js, imports it), and the CLI's own bundle of
// it (scripts/bundle.mjs: dist/vendor/acme-client.cjs, with x509, asn1js and node-forge loaded on first use).
const VENDOR = path.join(ROOT, 'dist', 'vendor', 'acme-client.cjs');
const loaders: [string, () => Promise<AcmeModule>][] = [
  ['node_modules/acme-client', loadAcme],
  [
    'dist/vendor/acme-client.cjs',
    async () => {
      if (!fs.existsSync(VENDOR)) throw new Error('dist/vendor/acme-client.cjs is missing: run `npm run build` first (npm test does).');
      return (await import(VENDOR)).default as AcmeModule;
    },
  ],
];

describe.each(loaders)(`acme-client ${VERSION} (%s): what certctl's adapter relies on`, (_from, load) => {
  let acme: AcmeModule;
  beforeAll(async () => {
    acme = await load();
    acme.setLogger(() => {});
  });

  it('A: acme.axios is an axios instance with clearable interceptors and defaults.acmeSettings.retryMaxAttempts', () => {
    const ax = (acme as unknown as { axios?: { interceptors?: { request?: { clear?: unknown }; response?: { clear?: unknown } }; defaults?: { acmeSettings?: { retryMaxAttempts?: unknown } } } }).axios;
    expect(typeof ax, A('A', 'acme.axios exists')).toBe('function');
    expect(typeof ax!.interceptors?.request?.clear, A('A.1', 'acme.axios.interceptors.request.clear is a function')).toBe('function');
    expect(typeof ax!.interceptors?.response?.clear, A('A.1', 'acme.axios.interceptors.response.clear is a function')).toBe('function');
    expect(typeof ax!.defaults?.acmeSettings?.retryMaxAttempts, A('A.2', 'acme.axios.defaults.acmeSettings.retryMaxAttempts is a number')).toBe('number');
    expect(() => acmeAxios(acme)).not.toThrow();
  });

  it("A.1/A.2: acme-client's own retry lives in its interceptors and obeys retryMaxAttempts; disabling and clearing both stop it", async () => {
    const ax = acmeAxios(acme);
    const settings = ax.defaults.acmeSettings as { retryMaxAttempts: number; retryDefaultDelay: number };
    const saved = { ...settings };
    const get = () => ax.request({ url: `${base}/always-503`, method: 'get', validateStatus: () => true });
    const count = () => hits.get('GET /always-503') ?? 0;
    hits.delete('GET /always-503');
    try {
      settings.retryDefaultDelay = 0; // Retry-After 0 + no default delay: its retries do not sleep here
      settings.retryMaxAttempts = 2;
      await get();
      // If this is 1, acme-client no longer retries in its interceptors: certctl's reason to clear them changed.
      expect(count(), A('A.1', "acme-client's response interceptor retries a 5xx, retryMaxAttempts times")).toBe(3);

      disableBuiltInRetries(ax);
      expect(settings.retryMaxAttempts, A('A.2', 'disableBuiltInRetries sets acmeSettings.retryMaxAttempts to 0')).toBe(0);
      hits.delete('GET /always-503');
      await get();
      expect(count(), A('A.2', 'retryMaxAttempts = 0 stops acme-client retrying')).toBe(1);

      settings.retryMaxAttempts = 5;
      replaceInterceptors(ax, (c) => c, { ok: (r) => r, bad: (e) => Promise.reject(e) });
      hits.delete('GET /always-503');
      await get();
      expect(count(), A('A.1', "clearing acme.axios's interceptors removes acme-client's retry")).toBe(1);
    } finally {
      Object.assign(settings, saved);
    }
  });

  it("A.3: with certctl's transport installed, a 5xx answer to acme-client reaches certctl's bounded retry (every status takes the success path)", async () => {
    configureTransport(acmeAxios(acme));
    const client = newClient(acme, '/dir-503');
    hits.delete('GET /dir-503');
    // The directory answers 503 (Retry-After: 0) every time: certctl retries RETRY_SCHEDULE_MS.length times, then acme-client reports it.
    await expect(internalsOf(client).directory()).rejects.toThrow(/503/);
    expect(hits.get('GET /dir-503'), A('A.3', "acme-client sends with validateStatus null, so a 503 reaches the response interceptor's success handler")).toBe(1 + RETRY_SCHEDULE_MS.length);
    // …and acme-client's own retry is off (retryMaxAttempts 0): no further requests beyond certctl's.
    expect(acmeAxios(acme).defaults.acmeSettings!.retryMaxAttempts, A('A.2', 'configureTransport leaves retryMaxAttempts at 0')).toBe(0);
  });

  it("B: a Client's private api has http.getNonce/getDirectory, createAccount, apiRequest and accountUrl", () => {
    const client = newClient(acme);
    const api = (client as unknown as { api?: { http?: { getNonce?: unknown; getDirectory?: unknown; signedRequest?: unknown }; createAccount?: unknown; apiRequest?: unknown } }).api;
    expect(typeof api, A('B', 'client.api exists')).toBe('object');
    expect(typeof api!.http?.getNonce, A('B.4', 'client.api.http.getNonce is a function')).toBe('function');
    expect(typeof api!.http?.getDirectory, A('B.5', 'client.api.http.getDirectory is a function')).toBe('function');
    expect(typeof api!.createAccount, A('B.6', 'client.api.createAccount is a function')).toBe('function');
    expect(typeof api!.apiRequest, A('B.7', 'client.api.apiRequest is a function')).toBe('function');
    expect(Object.keys(api!), A('B.8', 'client.api.accountUrl is a field')).toContain('accountUrl');
    expect(() => internalsOf(client)).not.toThrow();
  });

  it('B.4 + B.6: the nonce hook is consulted for a signed request; newAccount goes out with the JWK and its Location becomes the account URL', async () => {
    const client = newClient(acme);
    const api = internalsOf(client);
    const pool = ['pooled-nonce-b'];
    let asked = 0;
    api.useNoncesFrom(() => {
      asked++;
      return pool.pop();
    });
    posts.length = 0;
    hits.delete('HEAD /nonce');
    await api.newAccount({ termsOfServiceAgreed: true });
    expect(asked, A('B.4', 'signedRequest calls client.api.http.getNonce (our hook)')).toBe(1);
    expect(posts.map((x) => [x.path, x.nonce]), A('B.4', 'the JWS carries the nonce our hook gave')).toEqual([['/acct', 'pooled-nonce-b']]);
    expect(hits.get('HEAD /nonce') ?? 0, A('B.4', 'a pooled nonce saves the newNonce request')).toBe(0);
    expect(posts[0]!.jwk, A('B.6', 'createAccount signs with the JWK')).toBeTruthy();
    expect(posts[0]!.kid).toBeUndefined();
    expect(api.accountUrl, A('B.6/B.8', "createAccount stores the Location in client.api.accountUrl")).toBe(`${base}/acct/1`);
    expect(client.getAccountUrl(), A('B.8', 'Client.getAccountUrl reads client.api.accountUrl')).toBe(`${base}/acct/1`);

    // The pool is empty now: the hook's undefined falls back to acme-client's own newNonce request.
    posts.length = 0;
    await client.createOrder({ identifiers: [{ type: 'dns', value: 'a.example.test' }] });
    expect(hits.get('HEAD /nonce') ?? 0, A('B.4', "with no pooled nonce, acme-client's own getNonce asks newNonce")).toBe(1);
    expect(posts.map((x) => x.path)).toEqual(['/order']);
    expect(posts[0]!.nonce).toMatch(/^server-nonce-\d+$/);
    expect(posts[0]!.kid, A('B.8', 'public Client calls sign with kid = client.api.accountUrl')).toBe(`${base}/acct/1`);
  });

  it('B.5 + B.7 + B.8: directory document (cached), signed POST-as-GET (200 expected), account URL writable', async () => {
    const client = newClient(acme);
    const api = internalsOf(client);
    hits.delete('GET /dir');
    const dir = await api.directory();
    expect(dir.newAccount, A('B.5', 'client.api.http.getDirectory returns the directory document')).toBe(`${base}/acct`);
    expect((dir.meta as { termsOfService?: string }).termsOfService).toBe(`${base}/tos`);
    await api.directory();
    expect(hits.get('GET /dir'), A('B.5', 'acme-client caches the directory')).toBe(1);

    api.accountUrl = `${base}/acct/adopted`;
    expect(client.getAccountUrl(), A('B.8', 'writing client.api.accountUrl changes the account the client signs as')).toBe(`${base}/acct/adopted`);
    posts.length = 0;
    const got = await api.postAsGet(`${base}/obj`);
    expect(got.data, A('B.7', 'apiRequest returns the response (data)')).toEqual({ status: 'pending' });
    expect(posts.map((x) => [x.path, x.payload, x.kid]), A('B.7', 'apiRequest(url, null) is a POST-as-GET (empty payload) signed with kid')).toEqual([['/obj', '', `${base}/acct/adopted`]]);
    await expect(api.postAsGet(`${base}/gone`), A('B.7', 'apiRequest(url, null, [200]) throws on another status')).rejects.toThrow(/no such object/);

    api.accountUrl = null;
    posts.length = 0;
    await api.newAccount({ termsOfServiceAgreed: true, onlyReturnExisting: false });
    expect(posts[0]!.jwk, A('B.8', 'after accountUrl = null, newAccount goes out with the JWK')).toBeTruthy();
    expect(api.accountUrl).toBe(`${base}/acct/1`);
  });

  it("B.9: revokeCert signed with the client's own key as a JWK, no kid (revocation by the certificate's key)", async () => {
    const client = newClient(acme);
    const api = internalsOf(client);
    expect(api.accountUrl, A('B.9', 'a Client built with a key alone has no account URL')).toBeNull();
    posts.length = 0;
    await api.revokeWithJwk({ certificate: 'AAAA', reason: 4 });
    const sent = posts.filter((x) => x.path === '/revoke');
    expect(sent, A('B.9', "apiResourceRequest('revokeCert') POSTs to the directory's revokeCert")).toHaveLength(1);
    expect(sent[0]!.kid, A('B.9', 'includeJwsKid: false sends no kid')).toBeUndefined();
    expect(sent[0]!.jwk, A('B.9', 'includeJwsKid: false sends the JWK of the client key')).toBeTruthy();
    expect(JSON.parse(Buffer.from(sent[0]!.payload, 'base64url').toString('utf8')), A('B.9', 'the payload is sent as given')).toEqual({ certificate: 'AAAA', reason: 4 });
  });

  it("B.10: the public updateAccountKey sends RFC 8555 §7.3.5's nested JWS, then client.api signs with the new key (same account URL); the nonce hook is installed again", async () => {
    const client = newClient(acme);
    const api = internalsOf(client);
    api.accountUrl = `${base}/acct/1`;
    const next = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
    const newJwk = crypto.createPublicKey(next).export({ format: 'jwk' }) as Record<string, string>;
    posts.length = 0;
    await client.updateAccountKey(next);
    const sent = posts.filter((x) => x.path === '/keychange');
    expect(sent, A('B.10', 'updateAccountKey POSTs once to the directory keyChange')).toHaveLength(1);
    expect(sent[0]!.kid, A('B.10', 'the outer JWS is signed by the old key, kid = the account URL')).toBe(`${base}/acct/1`);
    const inner = JSON.parse(Buffer.from(sent[0]!.payload, 'base64url').toString('utf8')) as { protected: string; payload: string };
    const innerProt = JSON.parse(Buffer.from(inner.protected, 'base64url').toString('utf8')) as { jwk: Record<string, string> };
    expect(innerProt.jwk.x, A('B.10', 'the inner JWS carries the new key as its jwk')).toBe(newJwk.x);
    expect(JSON.parse(Buffer.from(inner.payload, 'base64url').toString('utf8')).account, A('B.10', 'the inner payload names the account')).toBe(`${base}/acct/1`);

    let hooked = 0;
    internalsOf(client).useNoncesFrom(() => (hooked++, undefined));
    posts.length = 0;
    await internalsOf(client).postAsGet(`${base}/obj`);
    expect(hooked, A('B.10', 'internalsOf reads the swapped client.api afresh: the nonce hook installed after the change is used')).toBe(1);
    const jws = posts[0]!;
    expect(jws.kid, A('B.10', 'after the change the client still signs as the same account')).toBe(`${base}/acct/1`);
    const ok = crypto.verify('sha256', Buffer.from(`${jws.protected}.${jws.payload}`), { key: crypto.createPublicKey(next), dsaEncoding: 'ieee-p1363' }, Buffer.from(jws.signature, 'base64url'));
    expect(ok, A('B.10', 'after the change requests are signed with the new key')).toBe(true);
  });

  it('B.11: finalize is apiRequest(order.finalize, { csr: DER as base64url }, [200]), the request Client.finalizeOrder sends; the order URL is added', async () => {
    const client = newClient(acme);
    const api = internalsOf(client);
    api.accountUrl = `${base}/acct/1`;
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    // Any PEM block does for the wire format; a CSR's body is what goes out.
    const pem = crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
    const der = crypto.createPublicKey(key).export({ type: 'spki', format: 'der' });
    const order = { url: `${base}/order/1`, finalize: `${base}/obj` };
    posts.length = 0;
    const ours = await api.finalizeWith(order, pemBodyB64u(pem));
    const theirs = await client.finalizeOrder(order as never, pem);
    expect(posts.map((x) => x.path)).toEqual(['/obj', '/obj']);
    const payloads = posts.map((x) => JSON.parse(Buffer.from(x.payload, 'base64url').toString('utf8')) as unknown);
    expect(payloads[0], A('B.11', 'finalizeOrder sends { csr: the PEM body as base64url }')).toEqual(payloads[1]);
    expect(payloads[0]).toEqual({ csr: der.toString('base64url') });
    expect(posts[0]!.kid, A('B.11', 'signed with kid, as finalizeOrder is')).toBe(posts[1]!.kid);
    expect(ours, A('B.11', 'the answer is the order document with its URL')).toEqual(theirs);
    expect(ours.url).toBe(`${base}/order/1`);
    await expect(api.finalizeWith({ url: order.url }, 'AA')).rejects.toThrow(/URL not found/);
  });

  it('a Client without the private parts is refused loudly, naming what is missing', () => {
    const fake = { api: { http: { getDirectory: () => Promise.resolve({}) }, createAccount() {}, apiRequest() {}, accountUrl: null } } as unknown as AcmeClient;
    expect(() => internalsOf(fake)).toThrow(AcmeClientContractError);
    expect(() => internalsOf(fake)).toThrow(/client\.api\.http\.getNonce\(\) is missing/);
    expect(() => acmeAxios({} as AcmeModule)).toThrow(/acme\.axios/);
  });
});
