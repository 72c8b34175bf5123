/**
 * TSIG (RFC 8945): HMAC signatures on DNS messages, so a nameserver accepts a
 * dynamic update only from a holder of the shared key — and so certctl only
 * believes an answer ("update done", "refused") that the server really sent.
 *
 * Signing: the MAC covers the message as it will be sent (without the TSIG
 * record) followed by the "TSIG variables" (key name, class ANY, TTL 0,
 * algorithm name — both names canonical, uncompressed, lower case —, the
 * time signed, fudge, error and other data). Verifying an answer prepends
 * the request's MAC (RFC 8945 §5.3). MACs are compared in constant time and
 * must be full length (we never send truncated MACs, and accept none).
 *
 * The secret lives in a `TsigKey` whose secret is a private field: it does
 * not show in console.log, util.inspect, JSON.stringify or error messages.
 */
import crypto from 'node:crypto';
import { inspect } from 'node:util';
import { DnsWireError, RRClass, RRType, Rcode, decodeMessage, encodeName, encodeRecord, u48, type DecodedMessage, type TsigData } from './wire.js';

/** TSIG algorithm names (RFC 8945 §6) → node:crypto HMAC digests. HMAC-MD5 is deliberately missing. */
export const TSIG_ALGORITHMS = {
  'hmac-sha1': 'sha1',
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
} as const;
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

export function isTsigAlgorithm(a: string): a is TsigAlgorithm {
  return Object.prototype.hasOwnProperty.call(TSIG_ALGORITHMS, a);
}

/** Default fudge (RFC 8945 §10 recommends 300 s). */
export const TSIG_FUDGE = 300;

export class TsigKey {
  readonly name: string;
  readonly algorithm: TsigAlgorithm;
  readonly #secret: Buffer;
  constructor(name: string, algorithm: TsigAlgorithm, secret: Buffer) {
    this.name = name.replace(/\.$/, '').toLowerCase();
    this.algorithm = algorithm;
    this.#secret = Buffer.from(secret);
    encodeName(this.name); // a key name must be a valid domain name
  }
  hmac(data: Buffer): Buffer {
    return crypto.createHmac(TSIG_ALGORITHMS[this.algorithm], this.#secret).update(data).digest();
  }
  toJSON(): unknown {
    return { name: this.name, algorithm: this.algorithm, secret: '[redacted]' };
  }
  [inspect.custom](): string {
    return `TsigKey { name: '${this.name}', algorithm: '${this.algorithm}', secret: [redacted] }`;
  }
}

function tsigVariables(keyName: string, t: Pick<TsigData, 'algorithm' | 'timeSigned' | 'fudge' | 'error' | 'other'>): Buffer {
  const classTtl = Buffer.alloc(6);
  classTtl.writeUInt16BE(RRClass.ANY, 0);
  classTtl.writeUInt32BE(0, 2);
  return Buffer.concat([encodeName(keyName, true), classTtl, encodeName(t.algorithm, true), u48(t.timeSigned), u16(t.fudge), u16(t.error), u16(t.other.length), t.other]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export interface SignedMessage {
  wire: Buffer;
  /** The request's MAC, needed to verify the answer. */
  mac: Buffer;
}

/** Sign an encoded message (which must not already hold a TSIG record). `now` in ms. */
export function signMessage(wire: Buffer, key: TsigKey, now = Date.now(), fudge = TSIG_FUDGE): SignedMessage {
  const timeSigned = Math.floor(now / 1000);
  const t = { algorithm: key.algorithm, timeSigned, fudge, error: 0, other: Buffer.alloc(0) };
  const mac = key.hmac(Buffer.concat([wire, tsigVariables(key.name, t)]));
  const rr = encodeRecord({ name: key.name, type: RRType.TSIG, class: RRClass.ANY, ttl: 0, data: { ...t, mac, originalId: wire.readUInt16BE(0) } });
  const out = Buffer.concat([wire, rr]);
  out.writeUInt16BE(wire.readUInt16BE(10) + 1, 10);
  return { wire: out, mac };
}

/** What the server's TSIG said about our request or its own answer. */
export type TsigVerdict =
  | { ok: true; message: DecodedMessage }
  /** The server could not verify us (BADSIG, BADKEY, BADTIME…): its answer carries the error, usually unsigned. */
  | { ok: false; reason: 'server-error'; error: number; message: DecodedMessage; serverTime?: number }
  /** The answer is not signed at all, or signed with another key or algorithm. */
  | { ok: false; reason: 'unsigned' | 'wrong-key'; message: DecodedMessage }
  /** The answer's MAC is wrong: it was not made with our key (or was altered on the way). */
  | { ok: false; reason: 'bad-mac'; message: DecodedMessage }
  /** Our clock and the server's differ by more than the fudge. */
  | { ok: false; reason: 'bad-time'; message: DecodedMessage; serverTime: number };

/**
 * Verify a signed answer to a request whose MAC was `requestMac` (RFC 8945
 * §5.3). A server that rejected our signature says so in the TSIG error
 * field of an (unsigned) answer: that is reported as `server-error` so the
 * caller can say "wrong key" rather than "the server lies".
 */
export function verifyResponse(wire: Buffer, key: TsigKey, requestMac: Buffer, now = Date.now()): TsigVerdict {
  const message = decodeMessage(wire);
  const last = message.additionals[message.additionals.length - 1];
  if (!last || last.type !== RRType.TSIG) return { ok: false, reason: 'unsigned', message };
  const t = last.data as TsigData;
  if (t.error !== 0) {
    const serverTime = t.error === Rcode.BADTIME && t.other.length === 6 ? t.other.readUIntBE(0, 6) : undefined;
    return { ok: false, reason: 'server-error', error: t.error, message, serverTime };
  }
  if (last.name.toLowerCase() !== key.name || t.algorithm.toLowerCase() !== key.algorithm) return { ok: false, reason: 'wrong-key', message };
  const stripped = Buffer.from(wire.subarray(0, message.lastAdditionalOffset));
  stripped.writeUInt16BE(t.originalId, 0);
  stripped.writeUInt16BE(message.additionals.length - 1, 10);
  const expected = key.hmac(Buffer.concat([u16(requestMac.length), requestMac, stripped, tsigVariables(last.name, t)]));
  if (t.mac.length !== expected.length || !crypto.timingSafeEqual(t.mac, expected)) return { ok: false, reason: 'bad-mac', message };
  if (Math.abs(Math.floor(now / 1000) - t.timeSigned) > t.fudge) return { ok: false, reason: 'bad-time', message, serverTime: t.timeSigned };
  return { ok: true, message };
}

/**
 * Verify a signed request (what a server does; used by the tests to check
 * that nsupdate's signatures and ours agree byte for byte).
 */
export function verifyRequest(wire: Buffer, key: TsigKey, now = Date.now()): { ok: boolean; mac?: Buffer; why?: string } {
  let message: DecodedMessage;
  try {
    message = decodeMessage(wire);
  } catch (err) {
    if (err instanceof DnsWireError) return { ok: false, why: err.message };
    throw err;
  }
  const last = message.additionals[message.additionals.length - 1];
  if (!last || last.type !== RRType.TSIG) return { ok: false, why: 'unsigned' };
  const t = last.data as TsigData;
  if (last.name.toLowerCase() !== key.name || t.algorithm.toLowerCase() !== key.algorithm) return { ok: false, why: 'wrong key' };
  const stripped = Buffer.from(wire.subarray(0, message.lastAdditionalOffset));
  stripped.writeUInt16BE(t.originalId, 0);
  stripped.writeUInt16BE(message.additionals.length - 1, 10);
  const expected = key.hmac(Buffer.concat([stripped, tsigVariables(last.name, t)]));
  if (t.mac.length !== expected.length || !crypto.timingSafeEqual(t.mac, expected)) return { ok: false, why: 'bad mac' };
  if (Math.abs(Math.floor(now / 1000) - t.timeSigned) > t.fudge) return { ok: false, why: 'bad time' };
  return { ok: true, mac: t.mac };
}

/** Sign an answer to a verified request (the tests' stand-in servers use it). */
export function signResponse(wire: Buffer, key: TsigKey, requestMac: Buffer, now = Date.now(), fudge = TSIG_FUDGE): Buffer {
  const t = { algorithm: key.algorithm, timeSigned: Math.floor(now / 1000), fudge, error: 0, other: Buffer.alloc(0) };
  const mac = key.hmac(Buffer.concat([u16(requestMac.length), requestMac, wire, tsigVariables(key.name, t)]));
  const rr = encodeRecord({ name: key.name, type: RRType.TSIG, class: RRClass.ANY, ttl: 0, data: { ...t, mac, originalId: wire.readUInt16BE(0) } });
  const out = Buffer.concat([wire, rr]);
  out.writeUInt16BE(wire.readUInt16BE(10) + 1, 10);
  return out;
}
