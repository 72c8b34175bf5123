/**
 * The RFC 2136 provider: each value is added to / deleted from its zone on
 * the primary nameserver by a TSIG-signed dynamic update (../update.ts).
 * The zone comes from the record (found from the SOA, or given by the user).
 */
import type { TsigKey } from '../tsig.js';
import type { DnsServer } from '../transport.js';
import { sendUpdate } from '../update.js';
import type { DnsProvider, DnsRecord } from './types.js';

export interface Rfc2136Options {
  /** The primary nameserver that accepts updates (`--dns-server`). */
  server: DnsServer;
  key: TsigKey;
  /** TTL of the TXT records. Default 60 s. */
  ttl?: number;
  timeoutMs?: number;
}

export class Rfc2136Provider implements DnsProvider {
  readonly kind = 'rfc2136';
  constructor(private readonly opts: Rfc2136Options) {}

  async present(r: DnsRecord): Promise<void> {
    await sendUpdate([{ op: 'add', fqdn: r.target, value: r.value, ttl: this.opts.ttl }], { server: this.opts.server, zone: r.zone, key: this.opts.key, timeoutMs: this.opts.timeoutMs });
  }

  async cleanup(r: DnsRecord): Promise<void> {
    await sendUpdate([{ op: 'delete', fqdn: r.target, value: r.value }], { server: this.opts.server, zone: r.zone, key: this.opts.key, timeoutMs: this.opts.timeoutMs });
  }
}
