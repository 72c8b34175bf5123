/**
 * HTTP-01 readiness: put a random probe where the challenge file will go
 * (the webroot, or the standalone server of ../http01.ts), then fetch it the way the
 * CA's validator will, through the name's real DNS answer, and compare.
 *
 * Redirects are followed as Let's Encrypt's validator (Boulder) follows them:
 * only http or https, only to the HTTP or HTTPS port (80 / 443; configurable
 * for tests), only to domain names (not IP literals), at most
 * MAX_REDIRECTS of them, never the same URL twice. HTTPS hops do not verify
 * the certificate, as the validator does not (the point of HTTP-01 is to get
 * a certificate; the site may not have a valid one yet).
 *
 * Everything is bounded: the body read (MAX_BODY_BYTES), each request
 * (requestTimeoutMs: connect + headers + body), and the whole walk
 * (totalTimeoutMs). Probe tokens are random base64url chosen here, never
 * derived from a name, so no path is ever built from user or network input.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import path from 'node:path';
import { normalizeName } from '../names.js';
import { CHALLENGE_PATH, isToken } from '../http01.js';

export { CHALLENGE_PATH };
import { lookupAddresses, type AddressLookup, type DnsClient } from './dns.js';
import { printable, type PrecheckResult } from './types.js';

/** Boulder follows at most 10 redirects. */
export const MAX_REDIRECTS = 10;
/** A challenge response is ~90 bytes; 64 KiB is generous and still cheap. */
export const MAX_BODY_BYTES = 64 * 1024;
/** How much of an unexpected body to show as evidence. */
const SNIPPET_BYTES = 512;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** A probe: the file name (token) and the exact body the server must return. */
export interface Probe {
  token: string;
  content: string;
}

/** A fresh random probe. The content looks like a key authorization (token.thumbprint). */
export function newProbe(): Probe {
  const token = randomBytes(32).toString('base64url');
  return { token, content: `${token}.${randomBytes(32).toString('base64url')}` };
}

function assertToken(token: string): void {
  if (!isToken(token)) throw new Error('refusing a probe token that is not base64url');
}

/** Thrown by placement when the probe cannot be put in place (webroot missing, not writable, port in use). */
export class ProbeSetupError extends Error {
  readonly advice: string;
  readonly code?: string;
  constructor(message: string, advice: string, code?: string) {
    super(message);
    this.advice = advice;
    this.code = code;
  }
}

/** A placed probe file and how to remove it again. */
export interface PlacedProbe {
  file: string;
  remove(): Promise<void>;
}

/**
 * Write `probe` to <webroot>/.well-known/acme-challenge/<token>, creating the
 * two directories when missing (and removing them again on cleanup if they
 * are then empty). The file is created exclusively (never overwrites,
 * never follows a symlink at the file itself) and made world-readable so the
 * web server can serve it.
 */
export async function placeProbe(webroot: string, probe: Probe): Promise<PlacedProbe> {
  assertToken(probe.token);
  const root = path.resolve(webroot);
  let st;
  try {
    st = await fs.stat(root);
  } catch (err) {
    throw new ProbeSetupError(`the webroot ${root} does not exist (${(err as NodeJS.ErrnoException).code})`, 'Give the directory your web server serves for this name (its document root) with --webroot.', (err as NodeJS.ErrnoException).code);
  }
  if (!st.isDirectory()) throw new ProbeSetupError(`the webroot ${root} is not a directory`, 'Give the document root directory with --webroot.');
  const created: string[] = [];
  const dirs = [path.join(root, '.well-known'), path.join(root, '.well-known', 'acme-challenge')];
  const file = path.join(dirs[1]!, probe.token);
  const removeDirs = async () => {
    for (const d of [...created].reverse()) await fs.rmdir(d).catch(() => undefined);
  };
  try {
    for (const d of dirs) {
      try {
        await fs.mkdir(d, { mode: 0o755 });
        created.push(d);
        await fs.chmod(d, 0o755);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    await fs.writeFile(file, probe.content, { flag: 'wx', mode: 0o644 });
    await fs.chmod(file, 0o644);
  } catch (err) {
    await fs.rm(file, { force: true }).catch(() => undefined);
    await removeDirs();
    if (err instanceof ProbeSetupError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ProbeSetupError(`cannot write the probe file ${file}: ${e.code ?? ''} ${e.message}`.trim(), `certctl must be able to write to ${path.join(root, '.well-known', 'acme-challenge')}; run it as a user who can, or fix the permissions.`, e.code);
  }
  return {
    file,
    async remove() {
      await fs.rm(file, { force: true });
      await removeDirs();
    },
  };
}

export interface FetchOptions {
  /** Port the validator uses for http:// (80; configurable for tests). */
  httpPort: number;
  /** Port the validator uses for https:// redirects (443; configurable for tests). */
  httpsPort: number;
  /** One request: connect, headers and body. */
  requestTimeoutMs: number;
  /** The whole walk, redirects included. */
  totalTimeoutMs: number;
  maxBodyBytes?: number;
  maxRedirects?: number;
}

/** One request in the walk, as evidence. */
export interface Hop {
  url: string;
  address?: string;
  status?: number;
  location?: string;
  error?: string;
}

export type FetchFailure =
  | 'dns'
  | 'connect'
  | 'timeout'
  | 'total-timeout'
  | 'status'
  | 'body-mismatch'
  | 'body-too-large'
  | 'redirect-loop'
  | 'too-many-redirects'
  | 'redirect-forbidden'
  | 'protocol';

export interface FetchOutcome {
  ok: boolean;
  failure?: FetchFailure;
  /** Human sentence on what went wrong (or right). */
  detail: string;
  url: string;
  hops: Hop[];
  status?: number;
  /** A printable snippet of the body received. */
  received?: string;
  bytes?: number;
}

interface RawResponse {
  status: number;
  statusText: string;
  location?: string;
  body: Buffer;
  tooLarge: boolean;
}

class RequestError extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'timeout' | 'total-timeout' | 'protocol',
  ) {
    super(message);
  }
}

function defaultPort(protocol: string, o: FetchOptions): number {
  return protocol === 'https:' ? o.httpsPort : o.httpPort;
}

/** The URL as the validator sees it: the port is only written when it is not the scheme's standard one. */
function challengeUrl(name: string, token: string, o: FetchOptions): URL {
  const host = isIP(name) === 6 ? `[${name}]` : name;
  const u = new URL(`http://${host}${CHALLENGE_PATH}${token}`);
  if (o.httpPort !== 80) u.port = String(o.httpPort);
  return u;
}

/** One GET to `address`. The body is read in full (bounded) for a 200, a snippet for other statuses, not at all for a redirect. */
function requestOnce(url: URL, address: string, o: FetchOptions, signal: AbortSignal): Promise<RawResponse> {
  const limit = o.maxBodyBytes ?? MAX_BODY_BYTES;
  const port = url.port ? Number(url.port) : defaultPort(url.protocol, o);
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  const standardPort = url.protocol === 'https:' ? 443 : 80;
  const hostHeader = (isIP(hostname) === 6 ? `[${hostname}]` : hostname) + (port === standardPort ? '' : `:${port}`);
  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const common = {
      host: address,
      port,
      path: url.pathname + url.search,
      method: 'GET',
      headers: { host: hostHeader, 'user-agent': 'certctl-precheck (HTTP-01 readiness check)', accept: '*/*', connection: 'close' },
      agent: false as const,
    };
    const req =
      url.protocol === 'https:'
        ? https.request({ ...common, servername: isIP(hostname) ? undefined : hostname, rejectUnauthorized: false })
        : http.request(common);
    const timer = setTimeout(() => {
      finish(() => reject(new RequestError(`no complete response from ${address} port ${port} within ${o.requestTimeoutMs} ms`, 'timeout')));
      req.destroy();
    }, o.requestTimeoutMs);
    const onAbort = () => {
      finish(() => reject(new RequestError(`the whole check took longer than ${o.totalTimeoutMs} ms`, 'total-timeout')));
      req.destroy();
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const connectCodes = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE'];
      finish(() => reject(new RequestError(`${err.code ?? 'error'}: ${err.message}`, connectCodes.includes(err.code ?? '') ? 'connect' : 'protocol')));
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const loc = res.headers.location;
      const base = { status, statusText: res.statusMessage ?? '', location: typeof loc === 'string' ? loc : undefined };
      const readBody = REDIRECT_STATUSES.has(status) ? 'none' : status === 200 ? 'full' : 'snippet';
      if (readBody === 'none') {
        finish(() => resolve({ ...base, body: Buffer.alloc(0), tooLarge: false }));
        return req.destroy();
      }
      const cap = readBody === 'full' ? limit : SNIPPET_BYTES;
      const declared = Number(res.headers['content-length']);
      if (readBody === 'full' && Number.isFinite(declared) && declared > cap) {
        finish(() => resolve({ ...base, body: Buffer.alloc(0), tooLarge: true }));
        return req.destroy();
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (settled) return;
        if (size + c.length > cap) {
          chunks.push(c.subarray(0, cap - size));
          size = cap;
          // Settle first: destroying emits 'aborted', which must not turn this into an error.
          finish(() => resolve({ ...base, body: Buffer.concat(chunks), tooLarge: readBody === 'full' }));
          return req.destroy();
        }
        chunks.push(c);
        size += c.length;
      });
      res.on('end', () => finish(() => resolve({ ...base, body: Buffer.concat(chunks), tooLarge: false })));
      res.on('error', (err) => finish(() => reject(new RequestError(`response broke off: ${err.message}`, 'protocol'))));
      res.on('aborted', () => finish(() => reject(new RequestError('the server closed the connection mid-response', 'protocol'))));
    });
    req.end();
  });
}

/** Check a redirect target the way the validator does. Returns an error sentence, or undefined when it would be followed. */
function redirectProblem(next: URL, o: FetchOptions): string | undefined {
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    return `redirect to ${next.protocol.replace(/:$/, '')}: — the CA only follows redirects to http and https`;
  }
  const port = next.port ? Number(next.port) : defaultPort(next.protocol, o);
  const allowed = defaultPort(next.protocol, o);
  if (port !== allowed) {
    return `redirect to port ${port} — the CA only follows redirects to port ${o.httpPort} (http) and ${o.httpsPort} (https)`;
  }
  const host = next.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return `redirect to the IP address ${host} — the CA only follows redirects to domain names`;
  try {
    normalizeName(host);
  } catch {
    return `redirect to "${printable(host, 80)}", which is not a valid public domain name`;
  }
  return undefined;
}

/**
 * Fetch the probe for `name` as the CA would. `first` is the name's DNS
 * answer (the DNS check's lookup), reused for the first request; redirect
 * targets are resolved through `dns`.
 */
export async function fetchProbe(dns: DnsClient, name: string, probe: Probe, first: AddressLookup | { addresses: string[] }, o: FetchOptions): Promise<FetchOutcome> {
  const maxRedirects = o.maxRedirects ?? MAX_REDIRECTS;
  const start = challengeUrl(name, probe.token, o);
  const hops: Hop[] = [];
  const visited = new Set<string>();
  const ac = new AbortController();
  const total = setTimeout(() => ac.abort(), o.totalTimeoutMs);
  const out = (ok: boolean, detail: string, extra: Partial<FetchOutcome> = {}): FetchOutcome => ({ ok, detail, url: start.href, hops, ...extra });
  try {
    let url = start;
    for (let redirects = 0; ; redirects++) {
      visited.add(url.href);
      const hostname = url.hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      if (redirects === 0) addresses = first.addresses;
      else if (isIP(hostname)) addresses = [hostname];
      else addresses = (await lookupAddresses(dns, hostname)).addresses;
      if (addresses.length === 0) {
        hops.push({ url: url.href, error: 'does not resolve' });
        return out(false, `${hostname} does not resolve (asked ${dns.label})`, { failure: 'dns' });
      }
      // Like the validator: the first IPv6 address, then fall back to the first IPv4 one.
      const candidates = [addresses.find((a) => isIP(a) === 6), addresses.find((a) => isIP(a) === 4)].filter((a): a is string => a !== undefined);
      let res: RawResponse | undefined;
      let lastErr: RequestError | undefined;
      let used = candidates[0]!;
      for (const address of candidates) {
        used = address;
        try {
          res = await requestOnce(url, address, o, ac.signal);
          break;
        } catch (err) {
          lastErr = err as RequestError;
          hops.push({ url: url.href, address, error: lastErr.message });
          if (lastErr.kind !== 'connect') break;
        }
      }
      if (!res) {
        const e = lastErr!;
        return out(false, e.kind === 'connect' ? `cannot connect to ${used} for ${url.href}: ${e.message}` : `${url.href}: ${e.message}`, {
          failure: e.kind === 'protocol' ? 'protocol' : e.kind,
        });
      }
      const hop: Hop = { url: url.href, address: used, status: res.status };
      hops.push(hop);
      if (REDIRECT_STATUSES.has(res.status)) {
        if (!res.location) return out(false, `${url.href} answered ${res.status} without a Location header`, { failure: 'protocol', status: res.status });
        hop.location = printable(res.location, 300);
        let next: URL;
        try {
          next = new URL(res.location, url);
        } catch {
          return out(false, `${url.href} redirects to an invalid URL "${hop.location}"`, { failure: 'redirect-forbidden', status: res.status });
        }
        next.hash = '';
        const problem = redirectProblem(next, o);
        if (problem) return out(false, `${url.href} → ${printable(next.href, 300)}: ${problem}`, { failure: 'redirect-forbidden', status: res.status });
        if (visited.has(next.href)) return out(false, `redirect loop: ${printable(next.href, 300)} was already visited (after ${redirects + 1} redirects)`, { failure: 'redirect-loop', status: res.status });
        if (redirects + 1 > maxRedirects) return out(false, `more than ${maxRedirects} redirects (the CA gives up after ${maxRedirects})`, { failure: 'too-many-redirects', status: res.status });
        url = next;
        continue;
      }
      const received = printable(res.body.toString('utf8'), 200);
      if (res.tooLarge) {
        return out(false, `${url.href} answered ${res.status} with a body larger than ${Math.round((o.maxBodyBytes ?? MAX_BODY_BYTES) / 1024)} KiB (stopped reading)`, { failure: 'body-too-large', status: res.status });
      }
      if (res.status !== 200) {
        return out(false, `${url.href} answered ${res.status}${res.statusText ? ' ' + printable(res.statusText, 60) : ''}`, { failure: 'status', status: res.status, received, bytes: res.body.length });
      }
      // The validator ignores trailing whitespace (a newline added by an editor or a server).
      const body = res.body.toString('utf8').replace(/[ \t\r\n]+$/, '');
      if (body !== probe.content) {
        return out(false, `${url.href} answered 200 but with a different body (${res.body.length} bytes)`, { failure: 'body-mismatch', status: 200, received, bytes: res.body.length });
      }
      const via = redirects ? ` after ${redirects} redirect${redirects > 1 ? 's' : ''}` : '';
      return out(true, `fetched ${url.href} from ${used}${via}: 200, the body matches`, { status: 200, bytes: res.body.length });
    }
  } finally {
    clearTimeout(total);
  }
}

/** Advice per kind of failure: what to change so the CA's fetch succeeds. */
function adviceFor(f: FetchOutcome, name: string, where: string): string {
  switch (f.failure) {
    case 'status':
      return f.status === 404
        ? `The server answering for ${name} does not serve ${where}. Point its document root (or an alias for /.well-known/acme-challenge/) at the webroot, for the server block / virtual host of ${name}.`
        : `Make ${CHALLENGE_PATH}* answer 200 with the file's content for ${name}: no authentication, no rewrite, no error page.`;
    case 'body-mismatch':
      return `Something answers for ${name}, but not with the file certctl wrote to ${where}: check which server block / virtual host handles ${name}, and that no rewrite rule or framework route catches ${CHALLENGE_PATH}.`;
    case 'body-too-large':
      return `The answer is far larger than a challenge file: a catch-all page or proxy is answering instead of ${where}.`;
    case 'redirect-loop':
    case 'too-many-redirects':
      return `Fix the redirects for ${CHALLENGE_PATH}: exempt that path from redirect rules, or make the chain end at the file in a few steps.`;
    case 'redirect-forbidden':
      return 'Redirect only to http://name/ or https://name/ on the standard ports (80/443), or exempt /.well-known/acme-challenge/ from the redirect.';
    case 'timeout':
    case 'total-timeout':
      return `The server for ${name} is too slow or a firewall drops the traffic; the CA will time out too. Check that port 80 is open to the internet and the server answers promptly.`;
    case 'connect':
      return `Nothing accepts connections there: start the web server, open port 80 in the firewall, or fix the A/AAAA records of ${name} so they point at this server.`;
    case 'dns':
      return 'A redirect points at a name that does not resolve; fix the redirect or the DNS of its target.';
    default:
      return `The server for ${name} did not answer like a web server should; check it (and any proxy in front of it).`;
  }
}

/** The HTTP-01 check for one name, given its DNS answer and its placed probe. */
export async function checkHttp01(dns: DnsClient, name: string, lookup: AddressLookup | { addresses: string[] }, probe: Probe, o: FetchOptions, where: string): Promise<PrecheckResult> {
  const f = await fetchProbe(dns, name, probe, lookup, o);
  const evidence: Record<string, unknown> = { url: f.url, expected: probe.content, hops: f.hops };
  if (f.status !== undefined) evidence.status = f.status;
  if (f.received !== undefined) evidence.received = f.received;
  if (f.bytes !== undefined) evidence.bytes = f.bytes;
  if (f.failure) evidence.failure = f.failure;
  if (f.ok) return { name, check: 'http01', ok: true, summary: f.detail, evidence };
  return { name, check: 'http01', ok: false, summary: f.detail, evidence, advice: adviceFor(f, name, where) };
}
