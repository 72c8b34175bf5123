/**
 * Wait until EVERY authoritative nameserver address answers EVERY expected
 * TXT value — only then may the CA be told to look.
 *
 * Why every one: the CA resolves through its own resolvers from several
 * vantage points, and any of them may ask any of the zone's servers; a
 * value that only some servers have yet fails the validation at random and
 * spends a failed-authorization slot. A wildcard and its base name put two
 * values on one name: both must be there at once.
 *
 * Each address (IPv4 and IPv6 separately) is asked directly, without
 * recursion, and only an authoritative answer (AA bit) counts — a server
 * that is not authoritative for the zone (a lame delegation) never "has it".
 * A server that has every value is not asked again until every other one
 * has them too; then it is asked once more (a value removed by someone else
 * in the meantime would fail the validation), and only when that last round
 * finds everything everywhere does the wait succeed. Polling starts fast and
 * backs off (250 ms × 1.5 up to 4 s), never a fixed sleep. After the
 * timeout the error names every address that lags and what it last said.
 */
import { DnsError } from './errors.js';
import { query } from './query.js';
import type { DnsServer } from './transport.js';
import { RRType, Rcode, normalizeName, rcodeName } from './wire.js';
import type { Nameserver } from './zone.js';

export interface PropagationTarget {
  /** The name holding the TXT values (after CNAMEs). */
  name: string;
  values: string[];
  nameservers: Nameserver[];
}

export interface PropagationProgress {
  /** Nameserver addresses that have every value of every target. */
  ready: number;
  total: number;
  /** "ns2.example.com (192.0.2.2)" for each address still lagging. */
  lagging: string[];
}

export interface PropagationOptions {
  /** Default 120 000 ms. */
  timeoutMs?: number;
  /** Default 53. */
  port?: number;
  initialIntervalMs?: number;
  maxIntervalMs?: number;
  /** Per question. Default 2000 ms. */
  queryTimeoutMs?: number;
  onProgress?: (p: PropagationProgress) => void;
  /** Stop early (e.g. the run is interrupted). */
  signal?: AbortSignal;
}

export const DEFAULT_PROPAGATION_TIMEOUT_MS = 120_000;

interface Unit {
  label: string;
  server: DnsServer;
  /** Targets this address serves (one per distinct name). */
  targets: { name: string; values: string[] }[];
  done: boolean;
  last: string;
}

/** Ask one address once; returns undefined when it has everything, or what is missing. */
async function check(unit: Unit, timeoutMs: number): Promise<string | undefined> {
  for (const t of unit.targets) {
    let m;
    try {
      m = await query(unit.server, t.name, RRType.TXT, { timeoutMs, tries: 1 });
    } catch (err) {
      return err instanceof DnsError ? (err.kind === 'timeout' ? 'does not answer' : err.kind === 'connection-refused' ? 'refuses connections' : err.message) : String(err);
    }
    if (m.rcode !== Rcode.NOERROR && m.rcode !== Rcode.NXDOMAIN) return `answers ${rcodeName(m.rcode)}`;
    if (!m.authoritative) return `is not authoritative for ${t.name}`;
    const have = new Set(m.answers.filter((rr) => rr.type === RRType.TXT && normalizeName(rr.name) === normalizeName(t.name)).map((rr) => (rr.data as string[]).join('')));
    const missing = t.values.filter((v) => !have.has(v));
    if (missing.length) {
      if (m.rcode === Rcode.NXDOMAIN) return `has no ${t.name} yet (NXDOMAIN)`;
      return `lacks ${missing.length} of ${t.values.length} value${t.values.length === 1 ? '' : 's'} for ${t.name}`;
    }
  }
  return undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when every address has every value; throws DnsError('propagation') naming the laggards otherwise. */
export async function waitForPropagation(targets: PropagationTarget[], opts: PropagationOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROPAGATION_TIMEOUT_MS;
  const port = opts.port ?? 53;
  const maxInterval = opts.maxIntervalMs ?? 4000;
  const queryTimeout = opts.queryTimeoutMs ?? 2000;
  let interval = opts.initialIntervalMs ?? 250;
  const units = new Map<string, Unit>();
  for (const t of targets) {
    for (const ns of t.nameservers) {
      for (const address of ns.addresses) {
        const key = `${ns.name}|${address}`;
        let u = units.get(key);
        if (!u) {
          u = { label: `${ns.name} (${address})`, server: { host: address, port }, targets: [], done: false, last: 'was not asked yet' };
          units.set(key, u);
        }
        const existing = u.targets.find((x) => normalizeName(x.name) === normalizeName(t.name));
        if (existing) existing.values = [...new Set([...existing.values, ...t.values])];
        else u.targets.push({ name: t.name, values: [...new Set(t.values)] });
      }
    }
  }
  const all = [...units.values()];
  if (all.length === 0) throw new DnsError('propagation', 'There is no nameserver to check.', { hint: 'The zone must have at least one NS with an address.' });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = all.filter((u) => !u.done);
    const results = await Promise.all(pending.map((u) => check(u, Math.min(queryTimeout, Math.max(100, deadline - Date.now())))));
    pending.forEach((u, i) => {
      if (results[i] === undefined) u.done = true;
      else u.last = results[i]!;
    });
    // Every address has had every value — but those counted in an earlier round may have lost it since
    // (someone else's clean-up, a zone reloaded from an old file): they are asked once more, and only
    // when this last round finds every value on every address is the CA told to look.
    const earlier = all.filter((u) => u.done && !pending.includes(u));
    if (earlier.length && all.every((u) => u.done)) {
      const again = await Promise.all(earlier.map((u) => check(u, Math.min(queryTimeout, Math.max(100, deadline - Date.now())))));
      earlier.forEach((u, i) => {
        if (again[i] !== undefined) {
          u.done = false;
          u.last = `${again[i]!} (it had every value earlier)`;
        }
      });
    }
    const lagging = all.filter((u) => !u.done);
    opts.onProgress?.({ ready: all.length - lagging.length, total: all.length, lagging: lagging.map((u) => u.label) });
    if (lagging.length === 0) return;
    const left = deadline - Date.now();
    if (left <= 0 || opts.signal?.aborted) {
      const names = targets.map((t) => t.name).filter((n, i, a) => a.indexOf(n) === i);
      throw new DnsError(
        'propagation',
        `${lagging.length} of ${all.length} nameserver addresses did not have the TXT record${names.length > 1 ? 's' : ''} for ${names.join(', ')} ${opts.signal?.aborted ? 'when the wait was stopped' : `after ${Math.round(timeoutMs / 1000)} s`}: ${lagging.map((u) => `${u.label} ${u.last}`).join('; ')}.`,
        {
          hint: 'The CA was not told to look, so no validation was spent. Check that every authoritative nameserver receives the zone\'s updates (zone transfers / NOTIFY from the primary), or allow more time for propagation.',
        },
      );
    }
    await sleep(Math.min(interval, left), opts.signal);
    interval = Math.min(maxInterval, Math.round(interval * 1.5));
  }
}
