/**
 * crt.sh's JSON API, as it behaves in practice: slow, often 502/503 or a
 * time-out, sometimes an empty or HTML body where JSON was asked for, and at
 * most 10,000 rows per answer. Every request has its own time-out, the whole
 * fetch has a total budget, and failures that are worth repeating (5xx, 429,
 * time-outs, connection errors, non-JSON bodies) are retried a few times with
 * jittered exponential backoff. Nothing here touches the ledger.
 *
 * Row fields (reference: peers.md): issuer_ca_id, issuer_name, common_name,
 * name_value (names separated by newlines), id, entry_timestamp (may be
 * null), not_before, not_after (UTC without "Z"), serial_number (lowercase
 * hex), result_count.
 */

export interface CrtShRow {
  issuer_ca_id?: number | null;
  issuer_name?: string | null;
  common_name?: string | null;
  name_value?: string | null;
  id?: number | null;
  entry_timestamp?: string | null;
  not_before?: string | null;
  not_after?: string | null;
  serial_number?: string | null;
  result_count?: number | null;
}

/** crt.sh answers at most this many rows; an answer this long is treated as cut off. */
export const CRTSH_ROW_CAP = 10_000;

export interface CrtShOptions {
  /** Base URL, default https://crt.sh (tests point it at a local server). */
  baseUrl: string;
  /** Time-out of one request, body included (ms). */
  requestTimeoutMs: number;
  /** Budget for all attempts of one query, backoff included (ms). */
  totalTimeoutMs: number;
  /** Attempts after the first one. */
  retries: number;
  /** First backoff (ms); doubles each retry, full jitter. */
  backoffMs: number;
  /** Largest body accepted (bytes). */
  maxBytes?: number;
  /** Called once per failed attempt (for --verbose). */
  onAttempt?: (line: string) => void;
  /** For tests: the sleep between attempts. */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_CRTSH: CrtShOptions = {
  baseUrl: 'https://crt.sh',
  requestTimeoutMs: 60_000,
  totalTimeoutMs: 180_000,
  retries: 3,
  backoffMs: 2_000,
};

export interface CrtShResult {
  ok: boolean;
  rows: CrtShRow[];
  attempts: number;
  /** The query hit crt.sh's row cap: what came back is not everything. */
  capped: boolean;
  /** Why the query failed (after the last attempt). */
  error: string | null;
  url: string;
}

/** The query URL for one identity pattern, e.g. "%.example.com" or "example.com". */
export function crtShUrl(baseUrl: string, q: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}/?q=${encodeURIComponent(q)}&output=json&exclude=expired`;
}

/** The proxy for crt.sh failed (down, refused, a URL certctl cannot use): said as such, not retried. */
class ProxyFailed extends Error {}

/** GET through the CA-side proxy when one applies (net/proxy.ts), else Node's fetch. */
async function get(url: string, init: { signal: AbortSignal; headers: Record<string, string> }): Promise<Response> {
  const { proxyFor } = await import('../net/proxy.js');
  let choice;
  try {
    choice = await proxyFor(url);
  } catch (err) {
    throw new ProxyFailed((err as Error).message);
  }
  if (!choice) return fetch(url, init);
  const { fetchViaProxy } = await import('../net/proxy-agent.js');
  try {
    return await fetchViaProxy(url, choice, init);
  } catch (err) {
    const { proxyFailureOf, proxyError } = await import('../net/proxy.js');
    const f = proxyFailureOf(err);
    if (f) throw new ProxyFailed(proxyError(f, 'crt.sh').message);
    if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') throw err;
    throw Object.assign(new Error('fetch failed'), { cause: err });
  }
}

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function retryAfter(h: string | null): number | undefined {
  if (!h) return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new Error(`the answer is larger than ${Math.round(maxBytes / 1e6)} MB`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function attempt(url: string, timeoutMs: number, maxBytes: number): Promise<CrtShRow[]> {
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  let body: string;
  try {
    res = await get(url, { signal, headers: { accept: 'application/json', 'user-agent': 'certctl (rate-limit ledger; CT sync)' } });
    if (res.status === 429 || res.status >= 500) {
      await res.body?.cancel().catch(() => undefined);
      throw new Retryable(`HTTP ${res.status}`, retryAfter(res.headers.get('retry-after')));
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`HTTP ${res.status}`);
    }
    body = await readCapped(res, maxBytes);
  } catch (err) {
    if (err instanceof Retryable || err instanceof ProxyFailed) throw err;
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new Retryable(`no complete answer within ${timeoutMs / 1000} s`);
    if (/^HTTP \d+$/.test(e.message)) throw e;
    // fetch failed: connection refused/reset, DNS, TLS …
    throw new Retryable(e.cause?.code ?? e.cause?.message ?? e.message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const head = body.trim().slice(0, 60).replace(/\s+/g, ' ');
    throw new Retryable(body.trim() === '' ? 'an empty body instead of JSON' : `a body that is not JSON ("${head}${body.length > 60 ? '…' : ''}")`);
  }
  if (!Array.isArray(parsed)) throw new Retryable('JSON that is not a list of certificates');
  return parsed as CrtShRow[];
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One crt.sh query with time-outs and retries. Never throws. */
export async function queryCrtSh(q: string, opts: CrtShOptions): Promise<CrtShResult> {
  const url = crtShUrl(opts.baseUrl, q);
  const deadline = Date.now() + opts.totalTimeoutMs;
  const sleep = opts.sleep ?? realSleep;
  let attempts = 0;
  let lastError = 'not attempted';
  for (let i = 0; i <= opts.retries; i++) {
    const left = deadline - Date.now();
    if (left <= 0) {
      lastError += `; total time-out of ${opts.totalTimeoutMs / 1000} s reached`;
      break;
    }
    attempts++;
    try {
      const rows = await attempt(url, Math.min(opts.requestTimeoutMs, left), opts.maxBytes ?? 64 * 1024 * 1024);
      return { ok: true, rows, attempts, capped: rows.length >= CRTSH_ROW_CAP, error: null, url };
    } catch (err) {
      if (err instanceof ProxyFailed) return { ok: false, rows: [], attempts, capped: false, error: err.message, url };
      lastError = (err as Error).message;
      opts.onAttempt?.(`crt.sh attempt ${attempts} for ${q}: ${lastError}`);
      if (!(err instanceof Retryable) || i === opts.retries) break;
      // Full jitter: a random delay up to base·2^i, at least what Retry-After asked.
      const backoff = Math.random() * opts.backoffMs * 2 ** i;
      const wait = Math.max(backoff, err.retryAfterMs ?? 0);
      if (Date.now() + wait >= deadline) {
        lastError += `; total time-out of ${opts.totalTimeoutMs / 1000} s reached`;
        break;
      }
      await sleep(wait);
    }
  }
  return { ok: false, rows: [], attempts, capped: false, error: `crt.sh gave ${lastError} (after ${attempts} attempt${attempts === 1 ? '' : 's'})`, url };
}
