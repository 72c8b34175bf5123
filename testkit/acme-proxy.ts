/**
 * certctl's ACME test server: a proxy in front of Pebble that adds what
 * Pebble 2.4 lacks — ARI (RFC 9773 `renewalInfo` and suggested windows),
 * ACME profiles in the directory, and Let's Encrypt-style refusals (429
 * rateLimited with Retry-After, 5xx, 409 alreadyReplaced), answers lost
 * after the CA acted (connection cut, never answered, 500: `loseAnswer`), a client killed
 * at an exact step (`interrupt`: the test's callback runs at that request, before it is
 * forwarded or once the CA answered it — certctl itself has no crash hook) — and that counts
 * what reaches the CA, so tests can prove "nothing was sent" or "exactly one
 * certificate was issued". It is a TEST SERVER, never a CA of its own.
 *
 * How it stays transparent: every request is forwarded to Pebble with the
 * original method, path, headers and body, and the Host header of the proxy.
 * Pebble builds every URL it hands out (directory, Location, Link, order and
 * authorization objects) from request.Host and checks the JWS `url` against
 * the same, so all URLs point at the proxy and signatures made by the client
 * stay valid without rewriting anything. The proxy presents the same TLS
 * certificate as Pebble's API, so a client trusts both with one --ca-bundle.
 *
 * Endpoints are told apart by path: the upstream directory gives newNonce,
 * newAccount, newOrder, revokeCert and keyChange; finalize, order,
 * authorization, challenge and certificate URLs are learned (as path
 * prefixes) from the objects Pebble returns.
 */
import https from 'node:https';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { freePort } from './ports.js';
import { ariCertId } from '../src/core/acme/ari.js';

export type EndpointName =
  | 'directory'
  | 'nonce'
  | 'newAccount'
  | 'account'
  | 'newOrder'
  | 'order'
  | 'authz'
  | 'challenge'
  | 'finalize'
  | 'certificate'
  | 'revokeCert'
  | 'keyChange'
  | 'renewalInfo'
  | 'other';

const ENDPOINTS: EndpointName[] = ['directory', 'nonce', 'newAccount', 'account', 'newOrder', 'order', 'authz', 'challenge', 'finalize', 'certificate', 'revokeCert', 'keyChange', 'renewalInfo', 'other'];

export interface RenewalWindow {
  start: Date | string;
  end: Date | string;
  explanationURL?: string;
}

/** A certificate the proxy saw being downloaded through it. */
export interface SeenCertificate {
  certId: string;
  pem: string;
  notBefore: Date;
  notAfter: Date;
}

export type RenewalWindowSource = RenewalWindow | ((certId: string, cert: SeenCertificate | undefined) => RenewalWindow | null);

export interface ProxiedRequest {
  at: number;
  method: string;
  path: string;
  endpoint: EndpointName;
  /** HTTP status answered to the client (0 while in flight). */
  status: number;
  /** True when the proxy answered itself (fault, renewal info) instead of forwarding. */
  synthetic: boolean;
  /** Set when a loseAnswer fault took the CA's answer: how it was lost, and what the CA had answered. */
  lost?: { mode: LostAnswerMode; upstreamStatus: number };
  /** Set when an `interrupt` fired at this request: when, and (for 'after') what the CA had answered. */
  interrupted?: { when: InterruptWhen; upstreamStatus?: number };
}

/**
 * Where an `interrupt` calls back:
 *  - 'before': the request has arrived and is NOT forwarded (everything the client did before
 *    sending it — its journal entries — is done; the CA never sees it);
 *  - 'after': the request was forwarded, the CA acted and answered 2xx, and that answer is NOT
 *    delivered (the CA performed the step; the client never learns it). A non-2xx answer (e.g.
 *    Pebble's random badNonce, which the client re-sends) is delivered and the interrupt stays
 *    armed for the next request to the endpoint.
 */
export type InterruptWhen = 'before' | 'after';

/**
 * How a `loseAnswer` fault loses the CA's answer after the CA acted:
 *  - 'cut': the connection is destroyed (the client sees ECONNRESET / socket hang up);
 *  - 'hold': nothing is ever answered; the socket stays open until the client gives up (its
 *    request time-out) or the proxy stops;
 *  - '500': an HTTP 500 serverInternal problem is answered instead of the CA's answer.
 */
export type LostAnswerMode = 'cut' | 'hold' | '500';

export interface SeenOrder {
  at: number;
  /** Decoded JWS payload of the newOrder request (identifiers, replaces, profile, …). */
  payload: Record<string, unknown>;
  /** Status answered to the client (201 created, 409 alreadyReplaced, 429, …; 0 while in flight or when the answer was lost). */
  status: number;
  /** Status the CA answered (201: it created the order), also when the answer was then lost or interrupted; undefined when not forwarded. */
  caStatus?: number;
}

export interface AcmeTestProxyOptions {
  /** Pebble's directory URL. */
  upstream: string;
  /** PEM file trusted for the upstream's TLS certificate. */
  caBundle: string;
  /** TLS certificate/key the proxy presents; default: Pebble's API files next to caBundle (api-cert.pem / api-key.pem). */
  tlsCert?: string;
  tlsKey?: string;
  /** Advertise `renewalInfo` in the directory (default true). */
  ari?: boolean;
  /** Listen on this port (default: a free one). A proxy started on the port of a stopped one keeps its directory URL (a "restarted CA"). */
  port?: number;
}

export interface AcmeTestProxy {
  /** The proxy's directory URL (give this to the client as --server). */
  directoryUrl: string;
  /** https://127.0.0.1:<port> */
  origin: string;
  port: number;
  /** The renewalInfo base URL advertised in the directory. */
  renewalInfoUrl: string;
  /**
   * Requests received per endpoint, including those the proxy answered itself.
   * These are requests, not operations: a badNonce answer makes the client
   * resend, and the resend counts again. For "how many certificates were
   * issued" use `issued`; for exact request counts run Pebble with nonceReject: 0.
   */
  counts: Record<EndpointName, number>;
  /** Requests forwarded to the upstream CA per endpoint. */
  forwarded: Record<EndpointName, number>;
  /** Finalize calls the CA accepted (200 with the order processing or valid): certificates issued through the proxy. */
  issued: number;
  /** TLS connections clients opened to the proxy (a client reusing its connections opens few). */
  tlsConnections: number;
  /** Every request, in arrival order. */
  requests: ProxiedRequest[];
  /** Every newOrder, with its decoded JWS payload. */
  orders: SeenOrder[];
  /** Every certID asked for at renewal-info, in order. */
  ariRequests: string[];
  /** Certificates downloaded through the proxy, by certID. */
  certificates: Map<string, SeenCertificate>;
  /**
   * What GET /renewal-info/<certID> answers: a fixed window, or a function of
   * the certID (null → 404). `null` restores the default: for certificates
   * downloaded through the proxy a window around 2/3 of their lifetime (1/2
   * under 10 days) as Let's Encrypt does, 404 for others.
   * `retryAfterSeconds` (default 21600) is sent as Retry-After.
   */
  setRenewalWindow(window: RenewalWindowSource | null, retryAfterSeconds?: number): void;
  /** Advertise (or not) `renewalInfo` in the directory from now on. */
  setAri(on: boolean): void;
  /** `meta.profiles` in the directory; null removes it. A newOrder naming another profile gets invalidProfile. */
  setProfiles(profiles: Record<string, string> | null): void;
  /** Answer `endpoint` with a Let's Encrypt-style 429 (not forwarded), `times` times or until clearFaults(). */
  rateLimit(endpoint: EndpointName, opts: { seconds: number; detail: string; times?: number }): void;
  /**
   * Answer the next `times` requests to `endpoint` with a 5xx problem (not forwarded). Use 'renewalInfo' for ARI errors.
   * With `body`, the answer is that text (text/html, no problem document, no Replay-Nonce; '' for an empty
   * answer), as a dead CA's load balancer answers ("502 Bad Gateway").
   */
  failNext(endpoint: EndpointName, status: number, times?: number, opts?: { retryAfterSeconds?: number; body?: string; problemType?: string; detail?: string }): void;
  /**
   * Forward the next `times` requests to `endpoint` to the CA — which acts on them (creates the
   * account or order, starts validation, issues, serves the certificate) — then lose its answer
   * (see LostAnswerMode). Counts (`issued`, `orders`) see what the CA did.
   */
  loseAnswer(endpoint: EndpointName, mode: LostAnswerMode, times?: number): void;
  /** Answer the next `times` requests to `endpoint` with 400 badNonce (not forwarded), as a CA rejecting a stale nonce. */
  badNonce(endpoint: EndpointName, times?: number): void;
  /** While on, a newOrder whose payload has `replaces` gets 409 alreadyReplaced (not forwarded). */
  alreadyReplaced(on: boolean): void;
  /**
   * Hold the next POST to `endpoint` (the next `count` POSTs) until `release()` (then they are handled
   * as usual): a CA that is slow at exactly that step, for tests that act while requests are in
   * flight. `arrived` resolves when all `count` requests are being held.
   */
  hold(endpoint: EndpointName, count?: number): { arrived: Promise<void>; release(): void };
  /**
   * Crash injection for recovery tests: at the next POST to `endpoint`, `when` says where
   * (InterruptWhen), call `fn` and wait for it — the test SIGKILLs the client there and waits
   * for it to end — then drop the connection. "Killed after step X" is `interrupt(X, 'after')`
   * (or `interrupt(<the request after X>, 'before')` when the client must have journalled X's
   * answer), by construction, not by timing. `cancel()` removes it if it has not fired.
   * Cleared by clearFaults().
   */
  interrupt(endpoint: EndpointName, when: InterruptWhen, fn: () => void | Promise<void>): { cancel(): void };
  /**
   * A hostile CA (certctl's input tests): every http-01 challenge token in an
   * authorization or challenge object forwarded from now on is replaced by
   * `fn(token)` ("../x", "a/b", "", a very long one…); null stops it. Not
   * cleared by clearFaults().
   */
  rewriteTokens(fn: ((token: string) => string) | null): void;
  /** Remove every injected fault (rate limits, 5xx, lost answers, interrupts, alreadyReplaced). */
  clearFaults(): void;
  /** Zero counts, forwarded, issued, requests, orders and ariRequests (faults and windows stay). */
  resetObservations(): void;
  /** Total requests received (all endpoints). */
  total(): number;
  stop(): Promise<void>;
}

interface Fault {
  kind: 'rateLimit' | 'fail' | 'badNonce' | 'lose';
  mode?: LostAnswerMode;
  status: number;
  seconds?: number;
  detail?: string;
  body?: string;
  problemType?: string;
  remaining: number;
}

const RATE_LIMIT_DOCS = 'https://letsencrypt.org/docs/rate-limits/';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function zeroCounts(): Record<EndpointName, number> {
  return Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<EndpointName, number>;
}

/** "2026-01-01 12:00:00 UTC", as Boulder writes it in rate-limit details. */
export function leTime(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** The decoded payload of a flattened JWS body; {} for POST-as-GET or anything unreadable. */
export function jwsPayload(body: Buffer): Record<string, unknown> {
  try {
    const jws = JSON.parse(body.toString('utf8')) as { payload?: unknown };
    if (typeof jws.payload !== 'string' || jws.payload === '') return {};
    const v = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function pathOf(u: string): string | undefined {
  try {
    return new URL(u).pathname;
  } catch {
    return undefined;
  }
}

/** "/finalize-order/abc" → "/finalize-order/" */
function prefixOf(u: string): string | undefined {
  const p = pathOf(u);
  if (!p) return undefined;
  const i = p.lastIndexOf('/');
  return i > 0 ? p.slice(0, i + 1) : undefined;
}

function iso(d: Date | string): string {
  return (d instanceof Date ? d : new Date(d)).toISOString();
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startAcmeTestProxy(opts: AcmeTestProxyOptions): Promise<AcmeTestProxy> {
  const upstream = new URL(opts.upstream);
  const ca = fs.readFileSync(opts.caBundle, 'utf8');
  const certDir = path.dirname(opts.caBundle);
  const tlsCert = fs.readFileSync(opts.tlsCert ?? path.join(certDir, 'api-cert.pem'));
  const tlsKey = fs.readFileSync(opts.tlsKey ?? path.join(certDir, 'api-key.pem'));
  const agent = new https.Agent({ ca, keepAlive: true });
  const upstreamPort = Number(upstream.port || 443);

  /** One request to the upstream, buffered (used for the directory and fresh nonces). */
  const upstreamCall = (method: string, p: string, host?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const r = https.request({ host: upstream.hostname, port: upstreamPort, method, path: p, agent, headers: host ? { host } : {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end();
    });

  // Learn the fixed endpoints from the upstream directory.
  const dirPath = upstream.pathname;
  const upDir = await upstreamCall('GET', dirPath);
  if (upDir.status !== 200) throw new Error(`acme test proxy: upstream directory ${opts.upstream} answered HTTP ${upDir.status}`);
  const upDirDoc = JSON.parse(upDir.body.toString('utf8')) as Record<string, unknown>;
  const exact = new Map<string, EndpointName>([[dirPath, 'directory']]);
  const fixed: [string, EndpointName][] = [
    ['newNonce', 'nonce'],
    ['newAccount', 'newAccount'],
    ['newOrder', 'newOrder'],
    ['revokeCert', 'revokeCert'],
    ['keyChange', 'keyChange'],
  ];
  for (const [field, name] of fixed) {
    const p = typeof upDirDoc[field] === 'string' ? pathOf(upDirDoc[field] as string) : undefined;
    if (p) exact.set(p, name);
  }
  const newNoncePath = pathOf(String(upDirDoc.newNonce ?? '')) ?? '/nonce-plz';
  /** Learned path prefixes of per-object URLs. */
  const prefixes = new Map<string, EndpointName>();
  const learn = (u: unknown, name: EndpointName) => {
    if (typeof u !== 'string') return;
    const p = prefixOf(u);
    if (p && p !== '/' && !prefixes.has(p)) prefixes.set(p, name);
  };

  const port = opts.port ?? (await freePort());
  const origin = `https://127.0.0.1:${port}`;
  const renewalInfoPath = '/renewal-info';
  const renewalInfoUrl = `${origin}${renewalInfoPath}`;

  // State.
  let ari = opts.ari !== false;
  let profiles: Record<string, string> | null = null;
  let windowSource: RenewalWindowSource | null = null;
  let ariRetryAfter = 21600;
  let alreadyReplacedOn = false;
  let tokenRewrite: ((token: string) => string) | null = null;
  const faults = new Map<EndpointName, Fault[]>();
  const holds = new Map<EndpointName, { remaining: number; arrive: () => void; released: Promise<void> }>();
  interface Interrupt {
    when: InterruptWhen;
    fn: () => void | Promise<void>;
  }
  const interrupts = new Map<EndpointName, Interrupt>();

  const classify = (method: string, p: string): EndpointName => {
    const e = exact.get(p);
    if (e) return e;
    if (p.startsWith(renewalInfoPath + '/') || p === renewalInfoPath) return 'renewalInfo';
    let best: [string, EndpointName] | undefined;
    for (const [pre, name] of prefixes) if (p.startsWith(pre) && (!best || pre.length > best[0].length)) best = [pre, name];
    void method;
    return best ? best[1] : 'other';
  };

  const freshNonce = async (): Promise<string | undefined> => {
    try {
      const r = await upstreamCall('HEAD', newNoncePath);
      const n = r.headers['replay-nonce'];
      return Array.isArray(n) ? n[0] : n;
    } catch {
      return undefined;
    }
  };

  const takeFault = (endpoint: EndpointName): Fault | undefined => {
    const list = faults.get(endpoint);
    if (!list) return undefined;
    // Transient failures first (they are "the next N", in the order injected), then standing rate limits.
    const f = list.find((x) => x.kind !== 'rateLimit' && x.remaining > 0) ?? list.find((x) => x.kind === 'rateLimit' && x.remaining > 0);
    if (!f) return undefined;
    f.remaining--;
    if (f.remaining <= 0) list.splice(list.indexOf(f), 1);
    return f;
  };

  const defaultWindow = (cert: SeenCertificate | undefined): RenewalWindow | null => {
    if (!cert) return null;
    const nb = cert.notBefore.getTime();
    const life = cert.notAfter.getTime() - nb;
    const centre = nb + (life < 10 * 86_400_000 ? life / 2 : (life * 2) / 3);
    const half = Math.max(life / 90, 60_000);
    return { start: new Date(centre - half), end: new Date(centre + half) };
  };

  const proxy: AcmeTestProxy = {
    directoryUrl: `${origin}${dirPath}`,
    origin,
    port,
    renewalInfoUrl,
    counts: zeroCounts(),
    forwarded: zeroCounts(),
    issued: 0,
    tlsConnections: 0,
    requests: [],
    orders: [],
    ariRequests: [],
    certificates: new Map(),
    setRenewalWindow(window, retryAfterSeconds) {
      windowSource = window;
      if (retryAfterSeconds !== undefined) ariRetryAfter = retryAfterSeconds;
    },
    setAri(on) {
      ari = on;
    },
    setProfiles(p) {
      profiles = p;
    },
    rateLimit(endpoint, o) {
      const list = faults.get(endpoint) ?? [];
      list.push({ kind: 'rateLimit', status: 429, seconds: o.seconds, detail: o.detail, remaining: o.times ?? Infinity });
      faults.set(endpoint, list);
    },
    failNext(endpoint, status, times = 1, o = {}) {
      const list = faults.get(endpoint) ?? [];
      list.push({ kind: 'fail', status, seconds: o.retryAfterSeconds, body: o.body, problemType: o.problemType, detail: o.detail, remaining: times });
      faults.set(endpoint, list);
    },
    loseAnswer(endpoint, mode, times = 1) {
      const list = faults.get(endpoint) ?? [];
      list.push({ kind: 'lose', status: 0, mode, remaining: times });
      faults.set(endpoint, list);
    },
    badNonce(endpoint, times = 1) {
      const list = faults.get(endpoint) ?? [];
      list.push({ kind: 'badNonce', status: 400, remaining: times });
      faults.set(endpoint, list);
    },
    alreadyReplaced(on) {
      alreadyReplacedOn = on;
    },
    hold(endpoint, count = 1) {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((r) => (arrive = r));
      const released = new Promise<void>((r) => (release = r));
      holds.set(endpoint, { remaining: Math.max(1, count), arrive, released });
      return { arrived, release };
    },
    interrupt(endpoint, when, fn) {
      const it: Interrupt = { when, fn };
      interrupts.set(endpoint, it);
      return {
        cancel() {
          if (interrupts.get(endpoint) === it) interrupts.delete(endpoint);
        },
      };
    },
    rewriteTokens(fn) {
      tokenRewrite = fn;
    },
    clearFaults() {
      faults.clear();
      interrupts.clear();
      alreadyReplacedOn = false;
    },
    resetObservations() {
      for (const e of ENDPOINTS) proxy.counts[e] = proxy.forwarded[e] = 0;
      proxy.issued = 0;
      proxy.tlsConnections = 0;
      proxy.requests.length = 0;
      proxy.orders.length = 0;
      proxy.ariRequests.length = 0;
    },
    total() {
      return Object.values(proxy.counts).reduce((a, b) => a + b, 0);
    },
    async stop() {
      for (const r of held) r.destroy();
      held.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };

  /** Responses a 'hold' fault never answers (destroyed at stop()). */
  const held = new Set<http.ServerResponse>();

  /** The CA acted and answered `status`: lose that answer as `mode` says. */
  const lose = async (res: http.ServerResponse, entry: ProxiedRequest, mode: LostAnswerMode, status: number) => {
    entry.lost = { mode, upstreamStatus: status };
    if (mode === 'cut') {
      entry.status = 0;
      res.socket?.destroy();
      res.destroy();
    } else if (mode === 'hold') {
      entry.status = 0;
      held.add(res);
      res.on('close', () => held.delete(res));
    } else {
      await sendProblem(res, entry, 500, { type: 'urn:ietf:params:acme:error:serverInternal', detail: 'Internal server error (the CA acted; its answer was lost by the ACME test proxy)' });
    }
  };

  /** Drop a request whose client the test has just killed (nothing is answered). */
  const drop = (res: http.ServerResponse, entry: ProxiedRequest) => {
    entry.status = 0;
    res.socket?.destroy();
    res.destroy();
  };

  const send = (res: http.ServerResponse, entry: ProxiedRequest, status: number, headers: http.OutgoingHttpHeaders, body: Buffer | string) => {
    entry.status = status;
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(status, { ...headers, 'content-length': buf.length });
    res.end(entry.method === 'HEAD' ? undefined : buf);
  };

  const sendProblem = async (res: http.ServerResponse, entry: ProxiedRequest, status: number, problem: Record<string, unknown>, extra: http.OutgoingHttpHeaders = {}) => {
    const nonce = await freshNonce();
    entry.synthetic = true;
    send(res, entry, status, { 'content-type': 'application/problem+json', 'cache-control': 'public, max-age=0, no-cache', ...(nonce ? { 'replay-nonce': nonce } : {}), ...extra }, JSON.stringify({ ...problem, status }));
  };

  const certIdOfPath = (p: string): string => {
    const raw = p.slice(renewalInfoPath.length + 1);
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };

  const serveRenewalInfo = async (res: http.ServerResponse, entry: ProxiedRequest, p: string) => {
    entry.synthetic = true;
    const certId = certIdOfPath(p);
    const json = { 'content-type': 'application/problem+json' };
    if (entry.method !== 'GET') return send(res, entry, 405, { ...json, allow: 'GET' }, JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: 'renewal-info is GET only', status: 405 }));
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(certId)) {
      return send(res, entry, 400, json, JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: `malformed certID "${certId}"`, status: 400 }));
    }
    const cert = proxy.certificates.get(certId);
    const w = windowSource === null ? defaultWindow(cert) : typeof windowSource === 'function' ? windowSource(certId, cert) : windowSource;
    if (!w) return send(res, entry, 404, json, JSON.stringify({ type: 'urn:ietf:params:acme:error:malformed', detail: `no certificate with certID ${certId}`, status: 404 }));
    const doc: Record<string, unknown> = { suggestedWindow: { start: iso(w.start), end: iso(w.end) } };
    if (w.explanationURL) doc.explanationURL = w.explanationURL;
    send(res, entry, 200, { 'content-type': 'application/json', 'retry-after': String(ariRetryAfter), 'cache-control': 'public, max-age=0, no-cache' }, JSON.stringify(doc, null, 2));
  };

  /** Learn URLs and count issuances from a JSON object the CA returned. */
  const inspect = (endpoint: EndpointName, status: number, headers: http.IncomingHttpHeaders, body: Buffer) => {
    if (endpoint === 'newAccount' && typeof headers.location === 'string') learn(headers.location, 'account');
    if (endpoint === 'newOrder' && typeof headers.location === 'string') learn(headers.location, 'order');
    const ct = String(headers['content-type'] ?? '');
    if (ct.includes('json')) {
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      } catch {
        return;
      }
      if (!doc || typeof doc !== 'object') return;
      if (typeof doc.finalize === 'string') {
        learn(doc.finalize, 'finalize');
        if (Array.isArray(doc.authorizations)) for (const a of doc.authorizations) learn(a, 'authz');
        learn(doc.certificate, 'certificate');
      }
      if (Array.isArray(doc.challenges)) for (const c of doc.challenges as { url?: unknown }[]) learn(c?.url, 'challenge');
      if (Array.isArray(doc.orders)) for (const o of doc.orders) learn(o, 'order');
      if (endpoint === 'finalize' && status === 200 && (doc.status === 'processing' || doc.status === 'valid')) proxy.issued++;
    } else if (endpoint === 'certificate' && status === 200 && body.includes('-----BEGIN CERTIFICATE-----')) {
      try {
        const pem = body.toString('utf8');
        const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)![0] + '\n';
        const x = new X509Certificate(leaf);
        const certId = ariCertId(leaf);
        if (!proxy.certificates.has(certId)) proxy.certificates.set(certId, { certId, pem: leaf, notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo) });
      } catch {
        /* not a certificate we can identify: nothing to remember */
      }
    }
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, entry: ProxiedRequest, body: Buffer, endpoint: EndpointName, lost?: LostAnswerMode, afterAnswer?: Interrupt, settle?: () => void): Promise<void> =>
    new Promise((resolve) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && k !== 'accept-encoding' && v !== undefined) headers[k] = v;
      headers.host = req.headers.host ?? `127.0.0.1:${port}`;
      if (body.length || req.method === 'POST') headers['content-length'] = body.length;
      proxy.forwarded[endpoint]++;
      const up = https.request({ host: upstream.hostname, port: upstreamPort, method: req.method, path: req.url, headers, agent, ...(isIP(upstream.hostname) ? {} : { servername: upstream.hostname }) }, (ures) => {
        const status = ures.statusCode ?? 502;
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(ures.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        const ct = String(ures.headers['content-type'] ?? '');
        const buffer = endpoint === 'directory' || ct.includes('json') || endpoint === 'certificate' || lost !== undefined || afterAnswer !== undefined;
        if (!buffer) {
          entry.status = status;
          res.writeHead(status, out);
          ures.pipe(res);
          ures.on('end', () => resolve());
          ures.on('error', () => resolve());
          return;
        }
        const chunks: Buffer[] = [];
        ures.on('data', (c: Buffer) => chunks.push(c));
        ures.on('error', () => {
          res.destroy();
          resolve();
        });
        ures.on('end', () => {
          let data = Buffer.concat(chunks);
          if (endpoint === 'directory' && status === 200 && req.method === 'GET') {
            try {
              const doc = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
              if (ari) doc.renewalInfo = renewalInfoUrl;
              if (profiles) doc.meta = { ...((doc.meta as Record<string, unknown>) ?? {}), profiles: { ...profiles } };
              data = Buffer.from(JSON.stringify(doc, null, 2));
            } catch {
              /* pass it on unchanged */
            }
          }
          if (tokenRewrite && (endpoint === 'authz' || endpoint === 'challenge') && ct.includes('json')) {
            try {
              const doc = JSON.parse(data.toString('utf8')) as { challenges?: { type?: string; token?: string }[]; type?: string; token?: string };
              for (const c of [...(doc.challenges ?? []), doc]) if (c.type === 'http-01' && typeof c.token === 'string') c.token = tokenRewrite(c.token);
              data = Buffer.from(JSON.stringify(doc));
            } catch {
              /* pass it on unchanged */
            }
          }
          inspect(endpoint, status, ures.headers, data);
          if (afterAnswer && !(status >= 200 && status < 300)) {
            // The CA did not act (a rejected nonce the client re-sends, a refusal): stay armed for the next one.
            if (!interrupts.has(endpoint)) interrupts.set(endpoint, afterAnswer);
          } else if (afterAnswer) {
            entry.interrupted = { when: 'after', upstreamStatus: status };
            entry.status = 0;
            settle?.(); // observations are complete before the test's callback runs (it may read them right after)
            void Promise.resolve()
              .then(afterAnswer.fn)
              .catch(() => undefined)
              .finally(() => {
                drop(res, entry);
                resolve();
              });
            return;
          }
          if (lost) {
            void lose(res, entry, lost, status).then(() => resolve());
            return;
          }
          delete out['content-length'];
          send(res, entry, status, out, data);
          resolve();
        });
      });
      up.on('error', (err) => {
        if (!res.headersSent) send(res, entry, 502, { 'content-type': 'text/plain' }, `acme test proxy: upstream error: ${err.message}`);
        else res.destroy();
        resolve();
      });
      up.end(body);
    });

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readBody(req);
    const p = new URL(req.url ?? '/', origin).pathname;
    const method = req.method ?? 'GET';
    const endpoint = classify(method, p);
    proxy.counts[endpoint]++;
    const entry: ProxiedRequest = { at: Date.now(), method, path: p, endpoint, status: 0, synthetic: false };
    proxy.requests.push(entry);
    let order: SeenOrder | undefined;
    if (endpoint === 'newOrder' && method === 'POST') {
      order = { at: entry.at, payload: jwsPayload(body), status: 0 };
      proxy.orders.push(order);
    }
    const settleOrder = () => {
      if (!order) return;
      order.status = entry.status;
      order.caStatus = entry.lost ? entry.lost.upstreamStatus : entry.interrupted ? entry.interrupted.upstreamStatus : entry.synthetic ? undefined : entry.status;
    };
    // Every certID asked for is recorded, also when the answer is an injected error.
    if (endpoint === 'renewalInfo') proxy.ariRequests.push(certIdOfPath(p));
    const held = method === 'POST' ? holds.get(endpoint) : undefined;
    if (held) {
      if (--held.remaining === 0) {
        holds.delete(endpoint);
        held.arrive();
      }
      await held.released;
    }
    const intr = method === 'POST' ? interrupts.get(endpoint) : undefined;
    if (intr?.when === 'before') {
      interrupts.delete(endpoint);
      entry.interrupted = { when: 'before' };
      if (order) order.status = 0;
      try {
        await intr.fn();
      } finally {
        drop(res, entry);
      }
      return;
    }
    const fault = takeFault(endpoint);
    if (fault?.kind === 'rateLimit') {
      const seconds = fault.seconds ?? 3600;
      await sendProblem(
        res,
        entry,
        429,
        { type: 'urn:ietf:params:acme:error:rateLimited', detail: `${fault.detail}, retry after ${leTime(Date.now() + seconds * 1000)}: see ${RATE_LIMIT_DOCS}` },
        { 'retry-after': String(seconds), link: `<${RATE_LIMIT_DOCS}>;rel="help"` },
      );
    } else if (fault?.kind === 'fail' && fault.body !== undefined) {
      entry.synthetic = true;
      send(res, entry, fault.status, { 'content-type': 'text/html', ...(fault.seconds !== undefined ? { 'retry-after': String(fault.seconds) } : {}) }, fault.body);
    } else if (fault?.kind === 'fail') {
      await sendProblem(
        res,
        entry,
        fault.status,
        {
          type: fault.problemType ?? 'urn:ietf:params:acme:error:serverInternal',
          detail: fault.detail ?? (fault.status === 503 ? 'Service temporarily unavailable (injected by the ACME test proxy)' : 'Internal server error (injected by the ACME test proxy)'),
        },
        fault.seconds !== undefined ? { 'retry-after': String(fault.seconds) } : {},
      );
    } else if (fault?.kind === 'badNonce') {
      await sendProblem(res, entry, 400, { type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce (injected by the ACME test proxy)' });
    } else if (order && alreadyReplacedOn && order.payload.replaces !== undefined) {
      await sendProblem(res, entry, 409, { type: 'urn:ietf:params:acme:error:alreadyReplaced', detail: `certificate ${String(order.payload.replaces)} has already been replaced` });
    } else if (order && profiles && typeof order.payload.profile === 'string' && !(order.payload.profile in profiles)) {
      await sendProblem(res, entry, 400, { type: 'urn:ietf:params:acme:error:invalidProfile', detail: `profile "${order.payload.profile}" is not one of: ${Object.keys(profiles).join(', ')}` });
    } else if (endpoint === 'renewalInfo') {
      await serveRenewalInfo(res, entry, p);
    } else {
      const after = intr?.when === 'after' ? intr : undefined;
      if (after) interrupts.delete(endpoint);
      await forward(req, res, entry, body, endpoint, fault?.kind === 'lose' ? fault.mode : undefined, after, settleOrder);
    }
    settleOrder();
  };

  const server = https.createServer({ cert: tlsCert, key: tlsKey }, (req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`acme test proxy: ${err.message}`);
    });
  });
  server.on('secureConnection', () => proxy.tlsConnections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return proxy;
}
