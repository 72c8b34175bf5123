/**
 * Which HTTP(S) proxy, if any, carries a request certctl makes to the CA side
 * (ACME, ARI, CT), and the agents that carry it. Readiness checks (HTTP-01,
 * DNS, CAA prechecks) never come here: they must see what the CA sees, so
 * they go direct.
 *
 * The proxy, first found wins:
 *   1. `--proxy URL` (global option; "" = go direct, ignoring the environment);
 *   2. `proxy:` in the config file;
 *   3. the environment as curl reads it: for https:// targets `https_proxy`,
 *      then `HTTPS_PROXY`; for http:// targets `http_proxy` only (curl ignores
 *      upper-case HTTP_PROXY, which a CGI request can set as a header); then
 *      `all_proxy` / `ALL_PROXY`.
 * `no_proxy` / `NO_PROXY` (comma-separated: `*`, host names matching
 * themselves and their subdomains, with or without a leading ".", IP
 * addresses, CIDR ranges, optional `:port`) sends matching hosts direct,
 * whichever way the proxy was given.
 *
 * https:// targets go through a CONNECT tunnel (TLS end to end with the CA,
 * certctl's --ca-bundle applies inside it); http:// targets are forwarded.
 * Credentials in the proxy URL (http://user:pass@host:port) are sent as
 * Proxy-Authorization and never shown: `display` has none, and the password
 * is registered with redact.ts.
 */
import net from 'node:net';
import { InputError, NetworkError } from '../errors.js';
import { registerSecret } from '../redact.js';

export interface ProxyChoice {
  url: URL;
  /** Where it came from: "--proxy", "proxy: in <file>", "HTTPS_PROXY", … */
  source: string;
  /** The proxy's URL without credentials, for messages. */
  display: string;
}

interface Override {
  /** --proxy, when given ("" = direct). */
  flag?: string;
  /** The config file's proxy:, read on first use (only when no --proxy). */
  config?: () => Promise<{ value?: string; file?: string | null }>;
}

let override: Override = {};
let resolvedOverride: { value: string; source: string } | null | undefined;

/** What the command line and config file say (the CLI sets it once per run). */
export function setProxyOverride(o: Override): void {
  override = o;
  resolvedOverride = undefined;
}

async function explicitProxy(): Promise<{ value: string; source: string } | null> {
  if (resolvedOverride !== undefined) return resolvedOverride;
  if (override.flag !== undefined) resolvedOverride = { value: override.flag, source: '--proxy' };
  else if (override.config) {
    const c = await override.config();
    resolvedOverride = c.value !== undefined ? { value: c.value, source: `proxy: in ${c.file ?? 'the config'}` } : null;
  } else resolvedOverride = null;
  return resolvedOverride;
}

/** The proxy URL without user name or password. */
export function proxyDisplay(u: URL): string {
  return `${u.protocol}//${u.host}`;
}

/**
 * Parse a proxy URL as curl does (no scheme = http://). Refuses what certctl cannot use, in one
 * sentence that never repeats credentials.
 */
export function parseProxyUrl(raw: string, source: string): URL {
  const text = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new InputError(`The proxy given by ${source} is not a URL.`, `Give ${source} an http:// or https:// proxy URL, e.g. http://proxy.example:3128.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InputError(`The proxy given by ${source} is a ${u.protocol.replace(/:$/, '')}:// proxy; certctl speaks only to HTTP(S) proxies (CONNECT).`, `Give ${source} an http:// or https:// proxy URL, e.g. http://proxy.example:3128.`);
  }
  if (!u.hostname || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new InputError(`The proxy given by ${source} (${proxyDisplay(u)}…) is not host[:port] with an optional user:password@.`, `Give ${source} a proxy URL such as http://proxy.example:3128.`);
  }
  if (u.password) {
    registerSecret(u.password);
    try {
      registerSecret(decodeURIComponent(u.password));
    } catch {
      /* kept as given */
    }
  }
  return u;
}

function envOf(env: NodeJS.ProcessEnv, ...names: string[]): { value: string; source: string } | null {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v.trim() !== '') return { value: v, source: n };
  }
  return null;
}

/** True when NO_PROXY (or no_proxy) sends `target` direct. */
export function bypassesProxy(target: URL, env: NodeJS.ProcessEnv = process.env): boolean {
  const list = envOf(env, 'no_proxy', 'NO_PROXY')?.value;
  if (!list) return false;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  for (let entry of list.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    let entryPort: number | undefined;
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m) {
      entry = m[1]!;
      entryPort = Number(m[2]);
    }
    entry = entry.replace(/^\[|\]$/g, '');
    if (entryPort !== undefined && entryPort !== port) continue;
    const slash = entry.indexOf('/');
    if (slash > 0 && net.isIP(entry.slice(0, slash)) && net.isIP(host)) {
      const family = net.isIP(entry.slice(0, slash)) === 6 ? 'ipv6' : 'ipv4';
      if (net.isIP(host) !== (family === 'ipv6' ? 6 : 4)) continue;
      const bl = new net.BlockList();
      try {
        bl.addSubnet(entry.slice(0, slash), Number(entry.slice(slash + 1)), family);
      } catch {
        continue;
      }
      if (bl.check(host, family)) return true;
      continue;
    }
    if (net.isIP(entry)) {
      if (net.isIP(host) && entry === host) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, '').replace(/\.$/, '');
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** The proxy that carries a request to `target`, or null (direct). */
export async function proxyFor(target: string | URL, env: NodeJS.ProcessEnv = process.env): Promise<ProxyChoice | null> {
  const t = typeof target === 'string' ? new URL(target) : target;
  const explicit = await explicitProxy();
  const given =
    explicit ?? (t.protocol === 'https:' ? envOf(env, 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY') : envOf(env, 'http_proxy', 'all_proxy', 'ALL_PROXY'));
  if (!given || given.value.trim() === '') return null;
  const url = parseProxyUrl(given.value, given.source);
  if (bypassesProxy(t, env)) return null;
  return { url, source: given.source, display: proxyDisplay(url) };
}

/** What went wrong with a proxy, attached to the error a request failed with. */
export interface ProxyFailure {
  proxy: ProxyChoice;
  /** reach: no connection to the proxy; refused: it answered CONNECT with an error status. */
  phase: 'reach' | 'refused';
  /** host:port the tunnel was asked for. */
  target: string;
  status?: number;
  statusText?: string;
  code?: string;
}

export const FAILURE = Symbol.for('certctl.proxyFailure');

/** Attach a ProxyFailure to the error a request failed with (proxy-agent.ts). */
export function markProxyFailure(err: unknown, f: ProxyFailure): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  (e as unknown as Record<symbol, ProxyFailure>)[FAILURE] = f;
  return e;
}

/** The proxy failure behind `err` (an axios error wraps the agent's in `cause`). */
export function proxyFailureOf(err: unknown): ProxyFailure | undefined {
  for (let e = err, i = 0; e && typeof e === 'object' && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const f = (e as Record<symbol, ProxyFailure | undefined>)[FAILURE];
    if (f) return f;
  }
  return undefined;
}

/** One sentence for a request that failed at its proxy (exit 8, like any CA that cannot be reached). */
export function proxyError(f: ProxyFailure, what: string): NetworkError {
  const from = `${f.proxy.display} (from ${f.proxy.source})`;
  const fix = f.proxy.source === '--proxy' ? '--proxy' : f.proxy.source.startsWith('proxy:') ? 'the config’s proxy:' : f.proxy.source;
  if (f.phase === 'reach') {
    return new NetworkError(
      `Cannot reach the proxy ${from}${f.code ? ` (${f.code})` : ''}, so nothing was sent to ${what}.`,
      `Start the proxy or correct ${fix}; to go direct to this CA, list its host in NO_PROXY.`,
    );
  }
  const s = `HTTP ${f.status}${f.statusText ? ` ${f.statusText}` : ''}`;
  // 407 is the standard answer; some proxies (tinyproxy) answer a CONNECT with bad credentials 401.
  if (f.status === 407 || f.status === 401) {
    return new NetworkError(`The proxy ${from} wants credentials (${s}) to open a tunnel to ${f.target}, so nothing was sent to ${what}.`, `Put the proxy's user and password in ${fix === '--proxy' ? 'HTTPS_PROXY or the config’s proxy:' : fix} as http://user:password@host:port.`);
  }
  if (f.status !== undefined && f.status >= 500) {
    return new NetworkError(`The proxy ${from} could not reach ${f.target} (${s}), so nothing was sent to ${what}.`, 'The proxy cannot reach the CA: check the proxy’s own network path, or run again later.');
  }
  return new NetworkError(`The proxy ${from} refused to open a tunnel to ${f.target} (${s}), so nothing was sent to ${what}.`, `Ask the proxy's operator to allow CONNECT to ${f.target}, or list that host in NO_PROXY to go direct.`);
}

