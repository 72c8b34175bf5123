/**
 * The little DER vocabulary the key code speaks, on top of node-forge's
 * `asn1` (which works in "binary strings": one char per byte). Everything
 * here takes and returns Buffers so callers never mix the two by accident.
 */
import forge from 'node-forge';
import { InputError } from '../errors.js';

const { asn1 } = forge;
export type Asn1 = forge.asn1.Asn1;
const U = asn1.Class.UNIVERSAL;
const T = asn1.Type;

export const bin = (b: Uint8Array): string => Buffer.from(b).toString('binary');
export const buf = (s: string): Buffer => Buffer.from(s, 'binary');

export const seq = (...items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const set = (...items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const nul = (): Asn1 => asn1.create(U, T.NULL, false, '');
export const utf8 = (s: string): Asn1 => asn1.create(U, T.UTF8, false, forge.util.encodeUtf8(s));
export const octets = (b: Uint8Array): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(b));
export const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
/** BIT STRING: the unused-bits count, then the bytes. */
export const bitString = (b: Uint8Array, unusedBits = 0): Asn1 => asn1.create(U, T.BITSTRING, false, String.fromCharCode(unusedBits) + bin(b));
/** A context-specific tag [n]; `value` is raw bytes (IMPLICIT primitive) or children (constructed). */
export const tagged = (n: number, constructed: boolean, value: Asn1[] | Uint8Array): Asn1 =>
  asn1.create(asn1.Class.CONTEXT_SPECIFIC, n, constructed, value instanceof Uint8Array ? bin(value) : value);

/** INTEGER from an unsigned big-endian magnitude: strict DER (no redundant leading zero, a 0x00 when the top bit is set). */
export function uint(magnitude: Uint8Array): Asn1 {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let b = Buffer.from(magnitude.subarray(i));
  if (b.length === 0) b = Buffer.from([0]);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return asn1.create(U, T.INTEGER, false, bin(b));
}
export const smallInt = (n: number): Asn1 => asn1.create(U, T.INTEGER, false, asn1.integerToDer(n).getBytes());

export const toDer = (node: Asn1): Buffer => buf(asn1.toDer(node).getBytes());

/** Parse DER strictly, leaving BIT STRING contents as bytes (forge would otherwise guess at nested structures). */
export function fromDer(der: Uint8Array): Asn1 {
  const parse = asn1.fromDer as unknown as (b: string, o: { strict: boolean; decodeBitStrings: boolean; parseAllBytes: boolean }) => Asn1;
  return parse(bin(der), { strict: true, decodeBitStrings: false, parseAllBytes: true });
}

/** Children of a constructed node, or a thrown error naming `what`. */
export function children(node: Asn1 | undefined, what: string, type: number = T.SEQUENCE): Asn1[] {
  if (!node || node.tagClass !== U || node.type !== type || !node.constructed || !Array.isArray(node.value)) throw new Error(`${what}: expected a ${type === T.SET ? 'SET' : 'SEQUENCE'}`);
  return node.value as Asn1[];
}
/** Contents of a primitive node of this universal type. */
export function prim(node: Asn1 | undefined, type: number, what: string): Buffer {
  if (!node || node.tagClass !== U || node.type !== type || node.constructed || typeof node.value !== 'string') throw new Error(`${what}: unexpected ASN.1 type`);
  return buf(node.value);
}
export const oidOf = (node: Asn1 | undefined, what: string): string => asn1.derToOid(prim(node, T.OID, what).toString('binary'));
/** BIT STRING bytes; only whole bytes (0 unused bits) make sense for keys and signatures. */
export function bitBytes(node: Asn1 | undefined, what: string): Buffer {
  const b = prim(node, T.BITSTRING, what);
  if (b.length < 1 || b[0] !== 0) throw new Error(`${what}: BIT STRING with unused bits`);
  return b.subarray(1);
}
/** A non-negative INTEGER's magnitude left-padded to `width` bytes. */
export function uintBytes(node: Asn1 | undefined, width: number, what: string): Buffer {
  let b = prim(node, T.INTEGER, what);
  if (b.length > 0 && b[0]! & 0x80) throw new Error(`${what}: negative INTEGER`);
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  if (b.length > width) throw new Error(`${what}: INTEGER wider than ${width} bytes`);
  return Buffer.concat([Buffer.alloc(width - b.length), b]);
}

/**
 * The raw bytes of the first element inside the outer SEQUENCE of `der`
 * (e.g. a CSR's CertificationRequestInfo): signatures are over the bytes as
 * received, never over a re-encoding.
 */
export function firstElementBytes(der: Buffer): Buffer {
  const outer = tlv(der, 0);
  const inner = tlv(der, outer.contentStart);
  return der.subarray(inner.start, inner.end);
}
function tlv(der: Buffer, start: number): { start: number; contentStart: number; end: number } {
  if (start + 2 > der.length) throw new Error('truncated DER');
  const first = der[start + 1]!;
  let len = first;
  let hdr = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4 || start + 2 + n > der.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + 2 + i]!;
    hdr += n;
  }
  const end = start + hdr + len;
  if (end > der.length) throw new Error('truncated DER');
  return { start, contentStart: start + hdr, end };
}

/** PEM armour, 64 characters a line. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}
/** The first PEM block: its label and DER. Throws InputError when there is none. */
export function fromPem(pem: string): { label: string; der: Buffer } {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new InputError('No PEM block found (expected "-----BEGIN …-----").');
  return { label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') };
}
