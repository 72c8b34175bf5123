/**
 * DNS-01 failures, each with a `kind` a caller can branch on and a message a
 * person can act on. They are readiness failures (exit 6, PRECHECK_FAILED):
 * they happen before the CA is told to look, so no authorization is spent.
 * A bad key file or option is an InputError (exit 2) instead.
 *
 * Messages name servers and record names, never a TSIG secret or an
 * acme-dns password.
 */
import { CertctlError, ExitCode } from '../errors.js';

export type DnsErrorKind =
  | 'timeout'
  | 'connection-refused'
  | 'network'
  | 'malformed'
  | 'rcode'
  | 'tsig'
  | 'zone'
  | 'propagation'
  | 'provider';

export class DnsError extends CertctlError {
  readonly kind: DnsErrorKind;
  /** The DNS response code or TSIG error name when the server answered (REFUSED, NOTAUTH, BADSIG…). */
  readonly rcode?: string;
  /** "host:port" of the server concerned, if one. */
  readonly server?: string;
  constructor(kind: DnsErrorKind, message: string, opts: { hint?: string; rcode?: string; server?: string } = {}) {
    super(message, ExitCode.PRECHECK_FAILED, opts.hint);
    this.kind = kind;
    this.rcode = opts.rcode;
    this.server = opts.server;
  }
}
