/**
 * The HTTP layer under acme-client, made fit for a rate-limit-aware client.
 *
 * acme-client's own axios interceptor retries 429 and 5xx by sleeping for
 * Retry-After (up to 5 times) — a week-long sleep inside cron — and with its
 * retries turned off it hides network errors behind a TypeError. We replace
 * both interceptors (through adapter.ts, the one file that touches
 * acme-client's internals):
 *  - 429 is never retried: the response goes back to acme-client (which
 *    throws) and its problem document, status and Retry-After are captured
 *    for the ledger;
 *  - 5xx and transient network errors get bounded retries with backoff and
 *    jitter (RETRY_SCHEDULE_MS), never longer than MAX_RETRY_WAIT_MS;
 *  - other network errors surface as themselves.
 * badNonce is retried by acme-client itself (re-signed with a fresh nonce);
 * when it gives up, the badNonce problem surfaces like any other.
 *
 * Problems are captured per async call chain (AsyncLocalStorage), so
 * concurrent orders in one process each see their own.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readInputFile } from '../store/read.js';
import https from 'node:https';
import tls from 'node:tls';
import type { AcmeProblem } from '../errors.js';
import { InputError } from '../errors.js';
import { parseRetryAfter } from '../clock.js';
import { proxyFor } from '../net/proxy.js';
import { proxyAgent, type TlsOptions } from '../net/proxy-agent.js';
import { acmeAxios, loadAcme, replaceInterceptors, disableBuiltInRetries, type AcmeAxios, type AxiosConfig as Cfg, type AxiosResponse as Resp, type AxiosFailure as Err } from './adapter.js';
import { mark, timelineOn, urlKind } from '../timeline.js';

export { parseRetryAfter };

/** Waits between retries of a 5xx / transient network failure, before jitter (±25 %). */
export const RETRY_SCHEDULE_MS = [250, 1000, 3000] as const;
/** A Retry-After longer than this on a 5xx is not waited for inside one run. */
export const MAX_RETRY_WAIT_MS = 10_000;
/** One HTTP request never hangs longer than this (default; env CERTCTL_ACME_TIMEOUT=<seconds> sets it). */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The ACME request time-out: CERTCTL_ACME_TIMEOUT (seconds, 1–600) or REQUEST_TIMEOUT_MS.
 * A CA that never answers costs at most this per attempt (and RETRY_SCHEDULE_MS.length retries).
 */
export function requestTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.CERTCTL_ACME_TIMEOUT;
  if (raw === undefined || raw === '') return REQUEST_TIMEOUT_MS;
  const s = Number(raw.trim());
  if (!/^\s*\d+(\.\d+)?\s*$/.test(raw) || !(s >= 1 && s <= 600)) {
    throw new InputError(`CERTCTL_ACME_TIMEOUT=${JSON.stringify(raw.slice(0, 40))} is not a time-out certctl can use.`, 'Set CERTCTL_ACME_TIMEOUT to a number of seconds from 1 to 600 (default 30), or unset it.');
  }
  return Math.round(s * 1000);
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'ECONNABORTED', 'EPIPE', 'EAI_AGAIN', 'ERR_SOCKET_CONNECTION_TIMEOUT']);

export interface CallContext {
  /** The last problem document the CA answered in this call chain. */
  lastProblem?: AcmeProblem & { endpoint: string };
  /** The last HTTP answer in this call chain (after the transport's retries): what a failure without a problem document was answered. */
  lastResponse?: { method: string; url: string; status: number };
  /** Every ACME response in this call chain: method, url, status (for --verbose and tests). */
  onResponse?: (info: { method: string; url: string; status: number; ms: number }) => void;
  /**
   * A POST whose outcome cannot be known: the CA answered 5xx or the connection failed (cut, reset,
   * time-out), so it may have acted. Called once per such attempt, retried or not (the order driver
   * counts possibly-created orders with it).
   */
  onUncertainPost?: (url: string) => void;
}

const als = new AsyncLocalStorage<CallContext>();

export function withCallContext<T>(ctx: CallContext, fn: () => Promise<T>): Promise<T> {
  return als.run(ctx, fn);
}

export function currentContext(): CallContext | undefined {
  return als.getStore();
}

/** The axios instances whose interceptors are certctl's (one per acme-client module: the CLI's bundled one, or the package's). */
const configured = new WeakSet<object>();
/** The CA bundle of the last configureTransport, for the proxy tunnels' TLS to the CA. */
let tlsOpts: TlsOptions = {};
const announced = new Set<string>();

/**
 * Fresh nonces the CA handed out in Replay-Nonce headers, per origin. RFC 8555
 * §7.2 lets a client use them instead of asking newNonce before every POST:
 * half the requests (and Let's Encrypt limits new-nonce to 20/s per IP).
 * Each nonce is used once; a stale one costs a badNonce round trip, which
 * acme-client answers by re-signing with the nonce of that error response.
 */
const NONCE_POOL_MAX = 8;
const noncePool = new Map<string, string[]>();

/** Take a nonce for `url`'s origin, if one is pooled. */
export function takeNonce(url: string): string | undefined {
  try {
    return noncePool.get(new URL(url).origin)?.pop();
  } catch {
    return undefined;
  }
}

function keepNonce(url: string, nonce: string | undefined): void {
  if (!nonce) return;
  try {
    const origin = new URL(url).origin;
    const pool = noncePool.get(origin) ?? [];
    pool.push(nonce);
    if (pool.length > NONCE_POOL_MAX) pool.shift();
    noncePool.set(origin, pool);
  } catch {
    /* not a URL we can key on */
  }
}


function jitter(ms: number): number {
  return Math.round(ms * (0.75 + Math.random() * 0.5));
}

function problemOf(resp: Resp, url: string, now: number): AcmeProblem | undefined {
  const d = resp.data as { type?: unknown; detail?: unknown; subproblems?: unknown } | undefined;
  if (!d || typeof d !== 'object' || typeof d.type !== 'string') return undefined;
  return {
    type: d.type,
    detail: typeof d.detail === 'string' ? d.detail : '',
    status: resp.status,
    retryAfter: parseRetryAfter(resp.headers['retry-after'], now),
    subproblems: Array.isArray(d.subproblems) ? (d.subproblems as AcmeProblem['subproblems']) : undefined,
    url,
  };
}

/** Strip anything secret-looking from a URL before it is logged (challenge tokens are path segments). */
export function safeUrl(url: string): string {
  return url.replace(/(\/(chall|challenge|authz|authz-v3|finalize|cert|order)[^/]*\/)[^/?#]+/gi, '$1…');
}

/**
 * One keep-alive agent per trusted bundle for the whole process: every session
 * (apply and renew open one per lineage) reuses its connections, and the extra
 * CA is parsed once into one secure context. An agent given `ca:` builds a new
 * secure context — parsing Node's ~140 root certificates and the bundle — for
 * every TLS connection and keys its socket pool on that whole list: 40 % of
 * apply's CPU at 40 lineages (a --cpu-prof, BENCHMARKS.md bulk at scale).
 */
const agents = new Map<string, https.Agent>();

/**
 * A secure context trusting Node's roots and `pem`. `ca: [...tls.rootCertificates, pem]` parsed the
 * ~140 root PEMs again in every such context: 40–170 ms of one `issue --ca-bundle` on the loaded
 * 2-core machine (`node --cpu-prof`). A context made without `ca` holds the process's root store
 * (parsed once, in C++); adding a certificate to it gives the context its own copy of that store
 * (X509 references, no parsing) plus the bundle — what Node itself does for NODE_EXTRA_CA_CERTS,
 * which such a store includes, as the default agent's does. The native `context.addCACert` is
 * Node's own (what `ca` calls per certificate); without it, the `ca` list as before.
 */
function rootsAnd(pem: string): tls.SecureContext {
  const ctx = tls.createSecureContext();
  const native = (ctx as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return tls.createSecureContext({ ca: [...tls.rootCertificates, pem] });
  native.addCACert(pem);
  return ctx;
}
function agentFor(pem: string | undefined): https.Agent {
  const key = pem ?? '';
  let agent = agents.get(key);
  if (!agent) {
    agent = pem === undefined ? new https.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true, secureContext: rootsAnd(pem) });
    agents.set(key, agent);
  }
  return agent;
}

/**
 * Install certctl's transport on acme-client's axios instance. Idempotent.
 * `caBundle` (a PEM file) is trusted in addition to the system roots, so a
 * private ACME CA works without turning TLS verification off.
 */
export function configureTransport(axios: AcmeAxios, opts: { caBundle?: string; verbose?: (line: string) => void; userAgent?: string } = {}): void {
  if (opts.caBundle) {
    let pem: string;
    try {
      pem = readInputFile(opts.caBundle, 'The CA bundle');
    } catch (err) {
      throw new InputError(`Cannot read the CA bundle ${opts.caBundle}: ${(err as Error).message}`, 'Give --ca-bundle a readable PEM file with the CA certificate(s) that signed the ACME server’s TLS certificate.');
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
      throw new InputError(`${opts.caBundle} holds no PEM certificate.`, 'Give --ca-bundle a PEM file ("-----BEGIN CERTIFICATE-----").');
    }
    tlsOpts = { ca: [...tls.rootCertificates, pem] };
    axios.defaults.httpsAgent = agentFor(pem);
  } else {
    tlsOpts = {};
    axios.defaults.httpsAgent = agentFor(undefined);
  }
  // axios would read HTTP(S)_PROXY itself (and forward https:// without a tunnel): certctl picks the
  // agent per request instead (net/proxy.ts: --proxy, the config's proxy:, the environment, NO_PROXY).
  axios.defaults.proxy = false;
  axios.defaults.timeout = requestTimeoutMs();
  if (opts.userAgent) axios.defaults.headers.common['User-Agent'] = opts.userAgent;
  disableBuiltInRetries(axios);
  if (configured.has(axios)) return;
  configured.add(axios);
  const verbose = opts.verbose;

  const retry = async (cfg: Cfg, waitMs: number): Promise<Resp> => {
    cfg.__certctlAttempt = (cfg.__certctlAttempt ?? 0) + 1;
    await new Promise((r) => setTimeout(r, waitMs));
    return axios.request(cfg);
  };

  const onRequest = async (cfg: Cfg): Promise<Cfg> => {
    cfg.__certctlStart = Date.now();
    cfg.proxy = false;
    const url = cfg.url ?? '';
    const choice = url ? await proxyFor(url) : null;
    if (choice) {
      const target = new URL(url);
      const agent = await proxyAgent(choice, target, tlsOpts);
      if (target.protocol === 'https:') cfg.httpsAgent = agent;
      else cfg.httpAgent = agent;
      if (!announced.has(target.origin + choice.display)) {
        announced.add(target.origin + choice.display);
        verbose?.(`${target.origin} via the proxy ${choice.display} (from ${choice.source})`);
      }
    }
    return cfg;
  };
  replaceInterceptors(axios, onRequest, {
    ok: async (resp: Resp) => {
      const cfg = resp.config;
      const method = (cfg.method ?? 'get').toUpperCase();
      const url = cfg.url ?? '';
      const ms = Date.now() - (cfg.__certctlStart ?? Date.now());
      // Pool only nonces nobody else will use: those of successful POSTs. (A HEAD newNonce answer is
      // returned to acme-client itself, and an error's nonce feeds its badNonce retry: pooling either
      // would use a nonce twice.)
      if (resp.status < 400 && method === 'POST') keepNonce(url, resp.headers['replay-nonce']);
      verbose?.(`${method} ${safeUrl(url)} → ${resp.status} (${ms} ms)`);
      if (timelineOn()) mark(`ACME ${method} ${urlKind(url)} → ${resp.status} (${ms} ms)`);
      const ctx = als.getStore();
      ctx?.onResponse?.({ method, url, status: resp.status, ms });
      if (method === 'POST' && resp.status >= 500) ctx?.onUncertainPost?.(url);
      const attempt = cfg.__certctlAttempt ?? 0;
      if (resp.status >= 500 && attempt < RETRY_SCHEDULE_MS.length) {
        const now = Date.now();
        const ra = parseRetryAfter(resp.headers['retry-after'], now);
        const wait = ra !== undefined ? ra - now : jitter(RETRY_SCHEDULE_MS[attempt]!);
        if (wait <= MAX_RETRY_WAIT_MS) {
          verbose?.(`  server error ${resp.status}; retry ${attempt + 1}/${RETRY_SCHEDULE_MS.length} in ${Math.max(0, wait)} ms`);
          return retry(cfg, Math.max(0, wait));
        }
      }
      if (ctx) {
        ctx.lastResponse = { method, url, status: resp.status };
        // The last problem of this call chain; a later success clears it, so a badNonce that
        // acme-client re-signed past is forgotten, and one it gave up on is reported as itself.
        const p = resp.status >= 400 ? problemOf(resp, url, Date.now()) : undefined;
        ctx.lastProblem = p ? { ...p, endpoint: url } : undefined;
      }
      return resp;
    },
    bad: async (err: Err) => {
      const cfg = err.config;
      const attempt = cfg?.__certctlAttempt ?? 0;
      // No answer at all (cut, reset, time-out): the request may have reached the CA and been acted on.
      if (cfg && !err.response && (cfg.method ?? '').toUpperCase() === 'POST') als.getStore()?.onUncertainPost?.(cfg.url ?? '');
      if (cfg && err.code && TRANSIENT_CODES.has(err.code) && attempt < RETRY_SCHEDULE_MS.length) {
        const wait = jitter(RETRY_SCHEDULE_MS[attempt]!);
        verbose?.(`  ${err.code} on ${safeUrl(cfg.url ?? '')}; retry ${attempt + 1}/${RETRY_SCHEDULE_MS.length} in ${wait} ms`);
        return retry(cfg, wait);
      }
      const ctx = als.getStore();
      if (ctx) ctx.lastResponse = undefined;
      throw err;
    },
  });
}

/** An unauthenticated GET through the same transport (directory, ARI renewalInfo). */
export async function acmeGet(url: string, opts: { caBundle?: string; verbose?: (line: string) => void } = {}): Promise<{ status: number; headers: Record<string, string | undefined>; data: unknown }> {
  const axios = acmeAxios(await loadAcme());
  configureTransport(axios, opts);
  const r = await axios.get(url, { validateStatus: () => true });
  return { status: r.status, headers: r.headers, data: r.data };
}
