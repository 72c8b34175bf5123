/**
 * Readiness checks before any order exists: DNS, HTTP-01 reachability, CAA,
 * and the ledger's count of recent failed validations. `issue`, `renew` and
 * `check` call `runPrechecks`; an order is only created when `report.ok`.
 *
 * Why: a pending order or a failed authorization counts against the CA's
 * rate limits (seed 004: 10 pending orders per account; Let's Encrypt: 5
 * failed validations per name per hour), so a request that will not validate
 * must not be sent.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { checkCaa } from './caa.js';
import { DnsClient, DEFAULT_DNS_TIMEOUT_MS, dnsResult, lookupAddresses, type AddressLookup } from './dns.js';
import { checkFailures, DEFAULT_FAILURE_LIMIT } from './failures.js';
import { checkHttp01, newProbe, placeProbe, ProbeSetupError, type PlacedProbe, type Probe } from './http01.js';
import { Http01Server, ListenError } from '../http01.js';
import { CHECK_ORDER, type PrecheckReport, type PrecheckResult, type SkippedCheck } from './types.js';
import { mapLimit } from '../concurrency.js';

export type { CheckName, PrecheckReport, PrecheckResult, SkippedCheck } from './types.js';
export { CHECK_ORDER, printable } from './types.js';
export { DnsClient, parseResolver } from './dns.js';
export { evaluateCaa, parseIssueValue, caaClimb, type CaaRecord, type CaaDecision } from './caa.js';
export { DEFAULT_FAILURE_LIMIT } from './failures.js';

export interface PrecheckOptions {
  /** Normalised names (names.ts normalizeNames). */
  names: string[];
  /** Document root the web server serves for the names; the probe goes to <webroot>/.well-known/acme-challenge/. */
  webroot?: string;
  /** Serve the probe from a temporary server bound here (what `--standalone` will do for the real challenge). */
  standalone?: { host: string; port: number };
  /**
   * The fleet's responder (`certctl serve` on every host, answering from the ledger): the probe is
   * published there (put) and withdrawn after (remove), and fetched through the name's DNS like the
   * CA's validator, so the check passes only when the host the name points at answers from the ledger.
   */
  fleet?: { put(token: string, content: string): void; remove(token: string): void };
  /** "host:port" of the resolver to ask; default the system's. */
  resolver?: string;
  /** Port the CA fetches http:// from. Default 80; set for tests. */
  httpPort?: number;
  /** Port the CA follows https:// redirects to. Default 443; set for tests. */
  httpsPort?: number;
  /** The CA's CAA identifying domains (CaProfile.caaIdentities). Empty = unknown. */
  caaIdentities: string[];
  /** The CA's name, for messages ("Let's Encrypt"). */
  caName?: string;
  /** ACME account URL, when known, compared with a CAA `accounturi` parameter. */
  accountUri?: string;
  /** Limit for one network operation (one DNS question, one HTTP request). Default 5000 ms; an HTTP-01 walk gets 3×. */
  timeoutMs?: number;
  /** The ledger, for the failed-validations check (skipped without it). */
  ledger?: Ledger;
  /** Failed validations per name per hour at which the name is reported blocked. Default 5. */
  failureLimit?: number;
  /** Count failed validations only at this CA directory. Default: all. */
  directoryUrl?: string;
  /** Now (ms), for the ledger window. */
  now: number;
  /** The names are validated with DNS-01: their addresses and HTTP-01 do not matter (the DNS-01 solver adds its own probe). */
  dns01?: boolean;
  /** Names checked at the same time. Default 4. */
  concurrency?: number;
}

/** Full report: also lists checks that were not run and anything that went wrong cleaning up. */
export interface PrecheckRun extends PrecheckReport {
  /** E.g. a probe file that could not be removed; empty normally. */
  warnings: string[];
}

/** Default names checked at once: enough to overlap network waits, few enough to be gentle on one web server. */
const DEFAULT_CONCURRENCY = 4;

function checkPort(v: number | undefined, flag: string, def: number): number {
  const p = v ?? def;
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InputError(`${flag} ${v} is not a port number (1-65535).`);
  return p;
}


/**
 * Check every name. Never throws for a condition of the site (those are
 * failed results); throws InputError for bad options. Probe files are
 * removed before it returns, whatever happened.
 */
export async function runPrechecks(opts: PrecheckOptions): Promise<PrecheckRun> {
  if (opts.webroot && opts.standalone) throw new InputError('Give either a webroot or standalone mode, not both.');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InputError(`time-out ${timeoutMs} ms is not a positive number.`);
  const httpPort = checkPort(opts.httpPort, '--http-port', 80);
  const httpsPort = checkPort(opts.httpsPort, '--https-port', 443);
  const dns = new DnsClient({ resolver: opts.resolver, timeoutMs });
  const caName = opts.caName ?? 'the CA';
  const fetchOpts = { httpPort, httpsPort, requestTimeoutMs: timeoutMs, totalTimeoutMs: timeoutMs * 3 };
  const where = opts.webroot
    ? path.join(path.resolve(opts.webroot), '.well-known', 'acme-challenge') + path.sep
    : opts.standalone
      ? `the temporary server on ${opts.standalone.host}:${opts.standalone.port}`
      : opts.fleet
        ? 'certctl serve on the host the name points at (answering from the ledger)'
        : '';

  const skipped: SkippedCheck[] = [];
  const warnings: string[] = [];
  const probes = new Map<string, Probe>();
  const setupErrors = new Map<string, ProbeSetupError>();
  const placed: PlacedProbe[] = [];
  let responder: Http01Server | undefined;

  const httpNames = opts.names.filter((n) => {
    if (opts.dns01) {
      skipped.push({ name: n, check: 'http01', reason: 'validated with DNS-01' });
      return false;
    }
    if (n.startsWith('*.')) {
      skipped.push({ name: n, check: 'http01', reason: 'a wildcard cannot be validated with HTTP-01' });
      return false;
    }
    if (!opts.webroot && !opts.standalone && !opts.fleet) {
      skipped.push({ name: n, check: 'http01', reason: 'no --webroot or --standalone given' });
      return false;
    }
    return true;
  });

  try {
    if (opts.standalone && httpNames.length) {
      try {
        responder = await Http01Server.listen(opts.standalone.host, opts.standalone.port);
      } catch (err) {
        if (!(err instanceof ListenError)) throw err;
        const e = new ProbeSetupError(err.detail, err.advice, err.code);
        for (const n of httpNames) setupErrors.set(n, e);
      }
    }
    // Place every probe before any fetch: names sharing a webroot then never race over creating/removing its directories.
    for (const n of httpNames) {
      if (setupErrors.has(n)) continue;
      const probe = newProbe();
      probes.set(n, probe);
      if (responder) {
        responder.set(probe.token, probe.content);
      } else if (opts.fleet) {
        const fleet = opts.fleet;
        fleet.put(probe.token, probe.content);
        placed.push({ file: `the ledger's probe ${probe.token.slice(0, 8)}…`, remove: async () => fleet.remove(probe.token) } as PlacedProbe);
      } else if (opts.webroot) {
        try {
          placed.push(await placeProbe(opts.webroot, probe));
        } catch (err) {
          if (!(err instanceof ProbeSetupError)) throw err;
          setupErrors.set(n, err);
        }
      }
    }

    const perName = await mapLimit(opts.names, opts.concurrency ?? DEFAULT_CONCURRENCY, async (name): Promise<PrecheckResult[]> => {
      const results: PrecheckResult[] = [];
      let lookup: AddressLookup | { addresses: string[] };
      let dnsOk = true;
      if (isIP(name)) {
        lookup = { addresses: [name] };
        skipped.push({ name, check: 'dns', reason: 'an IP address identifier needs no DNS' });
      } else if (opts.dns01) {
        lookup = { addresses: [] };
        skipped.push({ name, check: 'dns', reason: 'validated with DNS-01: the CA looks up TXT _acme-challenge, not the address' });
      } else if (name.startsWith('*.')) {
        // A wildcard's own DNS does not matter to the CA (DNS-01 validates _acme-challenge.<base>).
        lookup = { addresses: [] };
        skipped.push({ name, check: 'dns', reason: 'a wildcard is validated with DNS-01, not by address' });
      } else {
        const l = await lookupAddresses(dns, name);
        const r = dnsResult(l);
        dnsOk = r.ok;
        results.push(r);
        lookup = l;
      }
      const tasks: Promise<PrecheckResult | undefined>[] = [];
      const probe = probes.get(name);
      const setupError = setupErrors.get(name);
      if (setupError) {
        results.push({ name, check: 'http01', ok: false, summary: `could not set up the probe: ${setupError.message}`, evidence: { setup: setupError.message, code: setupError.code ?? null }, advice: setupError.advice });
      } else if (probe) {
        if (!dnsOk) {
          results.push({ name, check: 'http01', ok: false, summary: `not tried: ${name} does not resolve (see the DNS check)`, evidence: {}, advice: 'Fix DNS first; the CA fetches the file from the address the name resolves to.' });
        } else {
          tasks.push(checkHttp01(dns, name, lookup, probe, fetchOpts, where));
        }
      }
      if (isIP(name)) skipped.push({ name, check: 'caa', reason: 'CAA does not apply to IP address identifiers' });
      else tasks.push(checkCaa(dns, name, { identities: opts.caaIdentities, accountUri: opts.accountUri }, caName));
      if (opts.ledger) results.push(checkFailures(opts.ledger, name, opts.now, opts.failureLimit ?? DEFAULT_FAILURE_LIMIT, opts.directoryUrl));
      else skipped.push({ name, check: 'failures', reason: 'no ledger given' });
      for (const r of await Promise.all(tasks)) if (r) results.push(r);
      return results.sort((a, b) => CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check));
    });
    const results = perName.flat();
    return { ok: results.every((r) => r.ok), results, skipped: sortSkipped(skipped, opts.names), warnings };
  } finally {
    // Last placed, first removed: the first probe's directories are only empty (and removable) once every later probe is gone.
    for (const p of [...placed].reverse()) {
      try {
        await p.remove();
      } catch (err) {
        warnings.push(`could not remove the probe file ${p.file}: ${(err as Error).message}; delete it by hand`);
      }
    }
    await responder?.close();
  }
}

function sortSkipped(s: SkippedCheck[], names: readonly string[]): SkippedCheck[] {
  return [...s].sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name) || CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check));
}
