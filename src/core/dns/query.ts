/**
 * One question to one server, answered as a decoded message. Used for zone
 * discovery (through the configured resolver, recursion desired) and for
 * the propagation check (to each authoritative server directly, recursion
 * not desired: we want that server's own data, not a cache).
 *
 * IDs are random (crypto), so a blind off-path answer has to guess 16 bits
 * on top of the connected socket's address check.
 */
import crypto from 'node:crypto';
import { exchange, decodeAnswer, type DnsServer, type ExchangeOptions } from './transport.js';
import { RRClass, encodeMessage, message, type DecodedMessage } from './wire.js';

export function randomId(): number {
  return crypto.randomInt(0, 0x10000);
}

export interface QueryOptions extends ExchangeOptions {
  /** RD bit. Default false: authoritative servers are asked for their own data. */
  recursionDesired?: boolean;
}

export async function query(server: DnsServer, name: string, type: number, opts: QueryOptions = {}): Promise<DecodedMessage> {
  const wire = encodeMessage(message({ id: randomId(), recursionDesired: opts.recursionDesired ?? false, questions: [{ name, type, class: RRClass.IN }] }));
  return decodeAnswer(server, await exchange(server, wire, opts));
}
