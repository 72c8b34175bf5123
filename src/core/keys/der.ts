/**
 * The little DER vocabulary the key code speaks, in node-forge's `asn1`
 * shapes (nodes whose primitive values are "binary strings": one char per
 * byte). Everything here takes and returns Buffers so callers never mix the
 * two by accident.
 *
 * Building and encoding (create, seq … toDer) are done here, as forge's
 * asn1.create/toDer do them; forge itself (~50 ms of CPU to load, ~130 ms on
 * the loaded 2-core machine: `node --cpu-prof` of one `issue`) is loaded on
 * the first parse (fromDer, oidOf) or for a node only forge knows how to
 * write (a parsed BIT STRING, a BMPString) — so an ECDSA/RSA CSR needs no
 * forge at all. test/unit/keys.test.ts holds the encodings to forge's.
 */
import { createRequire } from 'node:module';
import type forgeTypes from 'node-forge';
import { InputError } from '../errors.js';

export type Asn1 = forgeTypes.asn1.Asn1;
let forgeModule: typeof forgeTypes | undefined;
/** node-forge, loaded on first use. */
export function forge(): typeof forgeTypes {
  return (forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof forgeTypes);
}
/** forge's asn1.Class and asn1.Type values (ITU-T X.690), without loading forge. */
export const CLASS = { UNIVERSAL: 0x00, CONTEXT_SPECIFIC: 0x80 } as const;
export const TYPE = { BOOLEAN: 1, INTEGER: 2, BITSTRING: 3, OCTETSTRING: 4, NULL: 5, OID: 6, UTF8: 12, SEQUENCE: 16, SET: 17, PRINTABLESTRING: 19, IA5STRING: 22, UTCTIME: 23, GENERALIZEDTIME: 24, BMPSTRING: 30 } as const;
const U = CLASS.UNIVERSAL;
const T = TYPE;

/** forge's asn1.create: a node (undefined children dropped). */
export function create(tagClass: number, type: number, constructed: boolean, value: string | Asn1[]): Asn1 {
  const v = Array.isArray(value) ? value.filter((x) => x !== undefined) : value;
  return { tagClass, type, constructed, composed: constructed || Array.isArray(v), value: v } as unknown as Asn1;
}
const asn1 = {
  create,
  /** forge's asn1.oidToDer, as a binary string. */
  oidToDer(dotted: string): { getBytes(): string } {
    const values = dotted.split('.');
    const first = parseInt(values[0]!, 10);
    const second = parseInt(values[1]!, 10);
    if (!(first >= 0 && first <= 2 && second >= 0) || (first < 2 && second > 39)) throw new Error('Invalid OID; the first two arcs are out of range.');
    const out: number[] = [];
    for (let i = 1; i < values.length; i++) {
      let value = i === 1 ? 40 * first + second : parseInt(values[i]!, 10);
      if (value > 0xffffffff) throw new Error('OID value too large; max is 32-bits.');
      const rev: number[] = [];
      let last = true;
      do {
        rev.push((value & 0x7f) | (last ? 0 : 0x80));
        value = value >>> 7;
        last = false;
      } while (value > 0);
      out.push(...rev.reverse());
    }
    return { getBytes: () => String.fromCharCode(...out) };
  },
  /** forge's asn1.integerToDer (two's complement, 1–4 bytes). */
  integerToDer(x: number): { getBytes(): string } {
    const n = x >= -0x80 && x < 0x80 ? 1 : x >= -0x8000 && x < 0x8000 ? 2 : x >= -0x800000 && x < 0x800000 ? 3 : x >= -0x80000000 && x < 0x80000000 ? 4 : 0;
    if (!n) throw new Error('Integer too large; max is 32-bits.');
    const b = Buffer.alloc(n);
    b.writeIntBE(x, 0, n);
    return { getBytes: () => b.toString('binary') };
  },
};

export const bin = (b: Uint8Array): string => Buffer.from(b).toString('binary');
export const buf = (s: string): Buffer => Buffer.from(s, 'binary');

export const seq = (...items: Asn1[]): Asn1 => asn1.create(U, T.SEQUENCE, true, items);
export const set = (...items: Asn1[]): Asn1 => asn1.create(U, T.SET, true, items);
export const oid = (dotted: string): Asn1 => asn1.create(U, T.OID, false, asn1.oidToDer(dotted).getBytes());
export const nul = (): Asn1 => asn1.create(U, T.NULL, false, '');
export const utf8 = (s: string): Asn1 => asn1.create(U, T.UTF8, false, Buffer.from(s, 'utf8').toString('binary'));
export const octets = (b: Uint8Array): Asn1 => asn1.create(U, T.OCTETSTRING, false, bin(b));
export const bool = (v: boolean): Asn1 => asn1.create(U, T.BOOLEAN, false, v ? '\xff' : '\x00');
/** BIT STRING: the unused-bits count, then the bytes. */
export const bitString = (b: Uint8Array, unusedBits = 0): Asn1 => asn1.create(U, T.BITSTRING, false, String.fromCharCode(unusedBits) + bin(b));
/** A context-specific tag [n]; `value` is raw bytes (IMPLICIT primitive) or children (constructed). */
export const tagged = (n: number, constructed: boolean, value: Asn1[] | Uint8Array): Asn1 =>
  asn1.create(CLASS.CONTEXT_SPECIFIC, n, constructed, value instanceof Uint8Array ? bin(value) : value);

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

/** forge's asn1.toDer. */
export const toDer = (node: Asn1): Buffer => Buffer.concat(encode(node, []));

const RAW = Symbol('der');

function encode(obj: Asn1, out: Buffer[]): Buffer[] {
  const o = obj as Asn1 & { bitStringContents?: string; composed?: boolean; [RAW]?: Buffer };
  if (o[RAW]) {
    out.push(o[RAW]);
    return out;
  }
  // What forge alone knows how to write: a parsed BIT STRING (its contents as read, unless changed), a BMPString.
  if ('bitStringContents' in o || (!o.composed && o.type === T.BMPSTRING)) {
    out.push(buf(forge().asn1.toDer(obj).getBytes()));
    return out;
  }
  let b1 = o.tagClass | o.type;
  const parts: Buffer[] = [];
  if (o.composed) {
    if (o.constructed) b1 |= 0x20;
    else parts.push(Buffer.from([0])); // a BIT STRING of children: no unused bits
    for (const c of o.value as Asn1[]) if (c !== undefined) encode(c, parts);
  } else {
    const v = o.value as string;
    // As forge: one redundant leading byte of an INTEGER is dropped.
    const redundant = o.type === T.INTEGER && v.length > 1 && ((v.charCodeAt(0) === 0 && (v.charCodeAt(1) & 0x80) === 0) || (v.charCodeAt(0) === 0xff && (v.charCodeAt(1) & 0x80) === 0x80));
    parts.push(buf(redundant ? v.slice(1) : v));
  }
  const len = parts.reduce((a, p) => a + p.length, 0);
  let head: number[];
  if (len <= 127) head = [b1, len];
  else {
    const lb: number[] = [];
    for (let l = len; l > 0; l = Math.floor(l / 256)) lb.unshift(l & 0xff);
    head = [b1, 0x80 | lb.length, ...lb];
  }
  out.push(Buffer.from(head), ...parts);
  return out;
}

/** A node for DER bytes already encoded (an SPKI from node:crypto), written as they are, without parsing. */
export function rawDer(der: Uint8Array): Asn1 {
  const b = Buffer.from(der);
  const outer = tlv(b, 0);
  if (outer.end !== b.length) throw new Error('rawDer: trailing bytes');
  return Object.assign(create(b[0]! & 0xc0, b[0]! & 0x1f, (b[0]! & 0x20) !== 0, b.subarray(outer.contentStart).toString('binary')), { [RAW]: b });
}

/** Parse DER strictly, leaving BIT STRING contents as bytes (forge would otherwise guess at nested structures). */
export function fromDer(der: Uint8Array): Asn1 {
  const parse = forge().asn1.fromDer as unknown as (b: string, o: { strict: boolean; decodeBitStrings: boolean; parseAllBytes: boolean }) => Asn1;
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
export const oidOf = (node: Asn1 | undefined, what: string): string => forge().asn1.derToOid(prim(node, T.OID, what).toString('binary'));
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
