/**
 * TLS-ALPN-01 readiness (RFC 8737): connect to the name's address, as the
 * CA's validator will, on the port it uses (443; --tls-port for test set-ups
 * and port forwards), with SNI = the name and ALPN `acme-tls/1` only, and
 * check that the certificate presented is the acmeIdentifier certificate of
 * the expected key authorization.
 *
 * Before any order (`runTlsAlpnPrechecks`) the key authorization is a random
 * probe served by a temporary responder on the address certctl will listen
 * on; before a challenge is answered (the solver's waitReady) it is the
 * challenge's own. Addresses come from the name's real DNS answer (or
 * --resolver), IPv6 first with a fall-back to IPv4 when it cannot connect,
 * as Let's Encrypt's validator does.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { runPrechecks, type PrecheckOptions, type PrecheckRun } from './index.js';
import { DnsClient, DEFAULT_DNS_TIMEOUT_MS, lookupAddresses, type AddressLookup } from './dns.js';
import { CHECK_ORDER, type PrecheckResult, type SkippedCheck } from './types.js';
import { ACME_TLS_ALPN, DEFAULT_TLS_PORT, TlsAlpnServer, acmeIdentifierDigest, probeTlsAlpn, type AlpnProbeOutcome } from '../tlsalpn.js';
import { ListenError } from '../http01.js';
import { InputError } from '../errors.js';

export interface TlsAlpnPrecheckOptions extends Omit<PrecheckOptions, 'webroot' | 'standalone'> {
  /** Where certctl will listen (--standalone-tls): the probe's responder binds here. */
  listen: { host: string; port: number };
  /** Port the CA connects to (default 443). */
  tlsPort?: number;
}

function advice(o: AlpnProbeOutcome, name: string, listen: string): string {
  switch (o.failure) {
    case 'connect':
      return `Nothing accepts connections on port ${o.port} of ${o.address}: open it in the firewall and send it to certctl's ${listen} (a port forward, or --standalone-tls on that port), or fix the A/AAAA records of ${name} so they point at this host.`;
    case 'timeout':
      return `A firewall drops the traffic to port ${o.port} or the host is too slow; the CA will time out too. Open port ${o.port} to the internet for ${name}.`;
    case 'alpn':
    case 'no-extension':
    case 'digest-mismatch':
    case 'san':
    case 'malformed':
    case 'not-critical':
    case 'tls':
    default:
      return `Port ${o.port} of ${o.address} is not certctl's responder on ${listen}: stop the server that holds it (a web server or proxy on 443?) while issuing, or forward the port to ${listen}.`;
  }
}

/**
 * Check that `name` presents the acmeIdentifier certificate of `digest` on
 * `port`, through `lookup` (its DNS answer): IPv6 first, IPv4 when IPv6
 * cannot be connected to. One result, with what was seen as evidence.
 */
export async function checkTlsAlpnName(name: string, lookup: AddressLookup | { addresses: string[] }, digest: Buffer, port: number, timeoutMs: number, listen: string): Promise<PrecheckResult> {
  const candidates = [lookup.addresses.find((a) => isIP(a) === 6), lookup.addresses.find((a) => isIP(a) === 4)].filter((a): a is string => a !== undefined);
  if (candidates.length === 0) {
    return { name, check: 'tlsalpn01', ok: false, summary: `not tried: ${name} does not resolve (see the DNS check)`, evidence: {}, advice: 'Fix DNS first; the CA connects to the address the name resolves to.' };
  }
  const tried: AlpnProbeOutcome[] = [];
  for (const a of candidates) {
    const o = await probeTlsAlpn(a, port, name, digest, timeoutMs);
    tried.push(o);
    if (o.ok || (o.failure !== 'connect' && o.failure !== 'timeout')) break;
  }
  const last = tried[tried.length - 1]!;
  const evidence: Record<string, unknown> = {
    port,
    alpn: ACME_TLS_ALPN,
    expectedDigest: digest.toString('hex'),
    tried: tried.map((t) => ({ address: t.address, ok: t.ok, failure: t.failure ?? null, detail: t.detail, alpn: t.alpn ?? null, subject: t.subject ?? null, sans: t.sans ?? null })),
  };
  if (last.failure) evidence.failure = last.failure;
  const detail = tried.length > 1 && !last.ok ? `${tried.map((t) => t.detail).join('; then ')}` : last.detail;
  if (last.ok) return { name, check: 'tlsalpn01', ok: true, summary: last.detail, evidence };
  return { name, check: 'tlsalpn01', ok: false, summary: detail, evidence, advice: advice(last, name, listen) };
}

function checkPort(v: number | undefined): number {
  const p = v ?? DEFAULT_TLS_PORT;
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new InputError(`--tls-port ${v} is not a port number (1-65535).`);
  return p;
}

/**
 * The readiness checks for TLS-ALPN-01, before any order: DNS, CAA and the
 * ledger's failed validations (runPrechecks), and per name a random probe
 * served on `listen` and fetched through the name's DNS on `tlsPort`.
 * Never throws for a condition of the site; the responder is closed before
 * it returns.
 */
export async function runTlsAlpnPrechecks(opts: TlsAlpnPrecheckOptions): Promise<PrecheckRun> {
  const tlsPort = checkPort(opts.tlsPort);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  const listen = `${opts.listen.host.includes(':') ? `[${opts.listen.host}]` : opts.listen.host}:${opts.listen.port}`;
  const names = opts.names.filter((n) => !n.startsWith('*.'));
  const skipped: SkippedCheck[] = opts.names.filter((n) => n.startsWith('*.')).map((name) => ({ name, check: 'tlsalpn01', reason: 'a wildcard cannot be validated with TLS-ALPN-01 (use DNS-01)' }));
  let responder: TlsAlpnServer | undefined;
  let setup: ListenError | undefined;
  try {
    try {
      responder = await TlsAlpnServer.listen(opts.listen.host, opts.listen.port);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      setup = err;
    }
    const probes = new Map<string, Buffer>();
    for (const n of names) {
      const ka = `${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
      probes.set(n, acmeIdentifierDigest(ka));
      await responder?.set(n, ka);
    }
    const dns = new DnsClient({ resolver: opts.resolver, timeoutMs });
    const [base, own] = await Promise.all([
      runPrechecks({ ...opts, webroot: undefined, standalone: undefined }),
      Promise.all(
        names.map(async (name): Promise<PrecheckResult> => {
          if (setup) return { name, check: 'tlsalpn01', ok: false, summary: `could not set up the probe: ${setup.message}`, evidence: { setup: setup.message, code: setup.code ?? null }, advice: setup.advice };
          const lookup = isIP(name) ? { addresses: [name] } : await lookupAddresses(dns, name);
          return checkTlsAlpnName(name, lookup, probes.get(name)!, tlsPort, timeoutMs, listen);
        }),
      ),
    ]);
    const results = opts.names.flatMap((n) => [...base.results.filter((r) => r.name === n), ...own.filter((r) => r.name === n)].sort((a, b) => CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check)));
    // runPrechecks skipped HTTP-01 for want of a webroot: it is not skipped, it does not apply.
    const baseSkipped = base.skipped.filter((s) => s.check !== 'http01');
    const allSkipped = [...baseSkipped, ...skipped].sort((a, b) => opts.names.indexOf(a.name) - opts.names.indexOf(b.name) || CHECK_ORDER.indexOf(a.check) - CHECK_ORDER.indexOf(b.check));
    return { ok: results.every((r) => r.ok), results, skipped: allSkipped, warnings: base.warnings };
  } finally {
    await responder?.close();
  }
}
