/**
 * A DNS provider puts one TXT value on one name and takes it away again.
 * That is all the DNS-01 solver asks of it; finding the zone, waiting for
 * every nameserver and journalling are the solver's (solver.ts), so a new
 * provider (a cloud API) is two small methods.
 *
 * A `DnsRecord` is plain JSON with no secret in it: it is what the solver
 * journals before presenting, so a later run can clean up after a crash
 * with nothing but the record and a provider built from the lineage's
 * settings.
 */
export interface DnsRecord {
  /** The identifier as ordered: `example.com` or `*.example.com`. */
  domain: string;
  /** `_acme-challenge.<base name>` */
  fqdn: string;
  /** Where the value really lives (`fqdn`, or the end of its CNAME chain). */
  target: string;
  /** The zone holding `target`. */
  zone: string;
  /** The TXT value (base64url SHA-256 of the key authorization, 43 characters). */
  value: string;
  /** Provider output kept for the clean-up (the hook's stdout, as certbot's CERTBOT_AUTH_OUTPUT). */
  authOutput?: string;
}

export interface PresentContext {
  /** Every identifier of the order (CERTBOT_ALL_DOMAINS). */
  allDomains: string[];
  /** How many records remain to be presented after this one (CERTBOT_REMAINING_CHALLENGES). */
  remaining: number;
}

export interface DnsProvider {
  /** 'rfc2136' | 'hook' | 'acme-dns' | … — stored with the journalled records. */
  readonly kind: string;
  /** Make `record.value` visible at `record.target`. May set `record.authOutput`. */
  present(record: DnsRecord, ctx: PresentContext): Promise<void>;
  /** Remove that one value (never other values on the same name). Must succeed if it is already gone. */
  cleanup(record: DnsRecord, ctx: PresentContext): Promise<void>;
}
