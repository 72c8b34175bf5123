/**
 * RFC 2136 dynamic UPDATE signed with TSIG: add or delete one TXT record in
 * a zone on its primary nameserver.
 *
 * Add is "add this RR" (class IN), delete is "delete this one RR" (class
 * NONE, TTL 0, same rdata: RFC 2136 §2.5.4), so a wildcard's and its base
 * name's values on one `_acme-challenge` name are added and removed one by
 * one and never clobber each other or a record someone else put there. Both
 * are idempotent, which is what makes retries and after-crash clean-ups safe.
 *
 * The answer must be signed with our key (RFC 8945 §5.3): an unsigned
 * "NOERROR" is not believed. Each failure says what to change: the key
 * (BADKEY/BADSIG), the clock (BADTIME), the server's allow-update / zone
 * (REFUSED, NOTAUTH, NOTZONE).
 */
import { DnsError } from './errors.js';
import { randomId } from './query.js';
import { exchange, decodeAnswer, formatServer, type DnsServer, type ExchangeOptions } from './transport.js';
import { signMessage, verifyResponse, type TsigKey } from './tsig.js';
import { Opcode, RRClass, RRType, Rcode, encodeMessage, message, normalizeName, rcodeName, type ResourceRecord } from './wire.js';

export interface TxtChange {
  op: 'add' | 'delete';
  /** The record's name, e.g. _acme-challenge.example.com */
  fqdn: string;
  value: string;
  /** TTL for additions. Default 60 s: short, so a stale value does not linger in the CA's resolvers. */
  ttl?: number;
}

export interface UpdateOptions extends ExchangeOptions {
  server: DnsServer;
  zone: string;
  key: TsigKey;
  /** Test hook for the clock (ms). */
  now?: () => number;
}

export const DEFAULT_TXT_TTL = 60;

/** Build the UPDATE message for `changes` in `zone` (exported for the tests). */
export function buildUpdate(id: number, zone: string, changes: TxtChange[]): Buffer {
  const z = normalizeName(zone);
  const updates: ResourceRecord[] = changes.map((c) => {
    const name = normalizeName(c.fqdn);
    if (name !== z && !name.endsWith(`.${z}`)) {
      throw new DnsError('zone', `The record ${name} is not inside the zone ${z}.`, { hint: 'Give the zone that contains the _acme-challenge name (or let certctl find it from the SOA).' });
    }
    return c.op === 'add'
      ? { name, type: RRType.TXT, class: RRClass.IN, ttl: c.ttl ?? DEFAULT_TXT_TTL, data: [c.value] }
      : { name, type: RRType.TXT, class: RRClass.NONE, ttl: 0, data: [c.value] };
  });
  return encodeMessage(message({ id, opcode: Opcode.UPDATE, questions: [{ name: z, type: RRType.SOA, class: RRClass.IN }], authorities: updates }));
}

const RCODE_HINTS: Record<number, string> = {
  [Rcode.REFUSED]: 'The server does not allow this key to update this zone: check allow-update / update-policy for the key in the zone\'s configuration (BIND: allow-update { key "NAME"; };).',
  [Rcode.NOTAUTH]: 'This server is not the primary for the zone (or does not know the zone): send updates to the zone\'s primary nameserver, or give the zone explicitly.',
  [Rcode.NOTZONE]: 'The record is not inside the zone named in the update: check the zone.',
  [Rcode.SERVFAIL]: 'The nameserver failed to apply the update (its log says why: a read-only zone file or journal, for example).',
  [Rcode.FORMERR]: 'The nameserver could not parse the update.',
  [Rcode.NOTIMP]: 'The nameserver does not support dynamic updates (RFC 2136).',
};

/** Send one signed UPDATE with `changes`; resolves when the server has applied it. */
export async function sendUpdate(changes: TxtChange[], opts: UpdateOptions): Promise<void> {
  const now = opts.now ?? Date.now;
  const where = formatServer(opts.server);
  const zone = normalizeName(opts.zone);
  const signed = signMessage(buildUpdate(randomId(), zone, changes), opts.key, now());
  const answer = await exchange(opts.server, signed.wire, opts);
  let verdict;
  try {
    verdict = verifyResponse(answer, opts.key, signed.mac, now());
  } catch {
    decodeAnswer(opts.server, answer); // throws the DnsError naming the garbled answer
    throw new DnsError('malformed', `The DNS server ${where} sent an answer certctl cannot read.`, { server: where });
  }
  const rc = verdict.message.rcode;
  if (!verdict.ok) {
    if (verdict.reason === 'server-error') {
      const name = rcodeName(verdict.error);
      if (verdict.error === Rcode.BADKEY) {
        throw new DnsError('tsig', `The DNS server ${where} does not know the TSIG key "${opts.key.name}" (${opts.key.algorithm}) (BADKEY).`, {
          rcode: name,
          server: where,
          hint: 'Use the key file the server was configured with (same key name and algorithm), or add the key to the server.',
        });
      }
      if (verdict.error === Rcode.BADSIG) {
        throw new DnsError('tsig', `The DNS server ${where} rejected the signature of TSIG key "${opts.key.name}" (BADSIG): the secret does not match the server's.`, {
          rcode: name,
          server: where,
          hint: 'Use the key file with the same secret as the server\'s (tsig-keygen output included in its configuration).',
        });
      }
      if (verdict.error === Rcode.BADTIME) {
        const skew = verdict.serverTime !== undefined ? ` (the server's clock differs from ours by ${Math.abs(verdict.serverTime - Math.floor(now() / 1000))} s)` : '';
        throw new DnsError('tsig', `The DNS server ${where} rejected the TSIG time stamp (BADTIME)${skew}.`, { rcode: name, server: where, hint: 'Synchronise the clocks of this host and the nameserver (NTP); TSIG allows 5 minutes.' });
      }
      throw new DnsError('tsig', `The DNS server ${where} rejected the TSIG signature (${name}).`, { rcode: name, server: where });
    }
    if (verdict.reason === 'unsigned' && rc !== Rcode.NOERROR) {
      // A server that refuses before looking at TSIG (REFUSED for an unknown zone, NOTIMP) may not sign: report its rcode.
      throw rcodeError(rc, where, zone);
    }
    throw new DnsError('tsig', `The answer of the DNS server ${where} to the update is ${verdict.reason === 'unsigned' ? 'not signed' : verdict.reason === 'bad-time' ? 'signed at a time too far from ours' : 'not signed with our key'}: certctl does not believe it.`, {
      server: where,
      hint: 'Something between this host and the nameserver may be answering in its place; check the server address.',
    });
  }
  if (rc !== Rcode.NOERROR) throw rcodeError(rc, where, zone);
}

function rcodeError(rc: number, where: string, zone: string): DnsError {
  const name = rcodeName(rc);
  return new DnsError('rcode', `The DNS server ${where} refused the update of zone ${zone} (${name}).`, { rcode: name, server: where, hint: RCODE_HINTS[rc] });
}
