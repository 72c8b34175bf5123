/**
 * TLS-ALPN-01 (RFC 8737), for hosts whose port 80 is closed but 443 is open:
 * certctl itself listens on --standalone-tls ADDR:PORT (default 0.0.0.0:443)
 * and answers ALPN `acme-tls/1` with a self-signed certificate per name that
 * carries the critical acmeIdentifier extension (tlsalpn.ts TlsAlpnServer).
 *
 * Readiness, twice: before any order, the precheck serves a random probe
 * certificate and connects to it through the name's DNS on the CA's port
 * (precheck/tlsalpn01.ts); before a challenge is answered, waitReady
 * connects the same way and must see this challenge's own certificate — if
 * it does not (another server holds the port, a port forward goes
 * elsewhere), the challenge is not answered and no failed authorization is
 * spent.
 */
import type { Challenge, ChallengeSolver, SolverPrecheckInput } from './solver.js';
import type { PrecheckRun } from '../precheck/index.js';
import { TlsAlpnServer, acmeIdentifierDigest, checkTlsAlpnChallenge, DEFAULT_TLS_PORT } from '../tlsalpn.js';
import { PrecheckError } from '../errors.js';
import { isIP } from '../names.js';

/** One connection attempt per address in waitReady: connect, handshake, certificate. */
const READY_TIMEOUT_MS = 5_000;

export interface TlsAlpnSolverOptions {
  /** Where to listen (--standalone-tls). */
  host: string;
  port: number;
  /** The lineage's names: a challenge for any other identifier is refused. */
  names: readonly string[];
  /** Port the CA connects to (--tls-port; default 443). */
  tlsPort?: number;
  /** DNS server for the readiness checks (host:port); default the system's. */
  resolver?: string;
  /**
   * false (--no-precheck): waitReady does not connect first — the way out for a host that
   * cannot reach its own public address (no hairpin NAT); a wrong port then costs a failed validation.
   */
  readiness?: boolean;
}

export class TlsAlpn01Solver implements ChallengeSolver {
  readonly type = 'tls-alpn-01' as const;
  private server?: TlsAlpnServer;

  constructor(private readonly o: TlsAlpnSolverOptions) {}

  private get listen(): string {
    return `${this.o.host.includes(':') ? `[${this.o.host}]` : this.o.host}:${this.o.port}`;
  }

  async precheck(input: SolverPrecheckInput): Promise<PrecheckRun> {
    const { runTlsAlpnPrechecks } = await import('../precheck/tlsalpn01.js');
    return runTlsAlpnPrechecks({ ...input, resolver: input.resolver ?? this.o.resolver, listen: { host: this.o.host, port: this.o.port }, tlsPort: this.o.tlsPort });
  }

  async prepare(): Promise<void> {
    this.server ??= await TlsAlpnServer.listen(this.o.host, this.o.port);
  }

  async present(ch: Challenge): Promise<void> {
    const name = checkTlsAlpnChallenge(ch, this.o.names);
    await this.prepare();
    await this.server!.set(name, ch.keyAuthorization);
  }

  /**
   * Connect to the name's address on the CA's port with ALPN acme-tls/1 and
   * SNI = the name; anything but this challenge's acmeIdentifier
   * certificate stops here (PrecheckError, exit 6) before the CA is told to look.
   */
  async waitReady(ch: Challenge): Promise<void> {
    if (this.o.readiness === false) return;
    const name = ch.identifier.toLowerCase();
    const { DnsClient, lookupAddresses } = await import('../precheck/dns.js');
    const { checkTlsAlpnName } = await import('../precheck/tlsalpn01.js');
    const lookup = isIP(name) ? { addresses: [name] } : await lookupAddresses(new DnsClient({ resolver: this.o.resolver, timeoutMs: READY_TIMEOUT_MS }), name);
    const r = await checkTlsAlpnName(name, lookup, acmeIdentifierDigest(ch.keyAuthorization), this.o.tlsPort ?? DEFAULT_TLS_PORT, READY_TIMEOUT_MS, this.listen);
    if (!r.ok) {
      throw new PrecheckError(
        `Not answering the TLS-ALPN-01 challenge for ${name}: the CA would not see certctl's certificate — ${r.summary}.`,
        `${r.advice ?? ''} Nothing was answered, so no failed validation was spent; run again once it is fixed.`.trim(),
      );
    }
  }

  async cleanup(ch: Challenge): Promise<void> {
    this.server?.delete(ch.identifier.toLowerCase(), ch.keyAuthorization);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }
}
