/**
 * The DNS wire format (RFC 1035 §4, RFC 2136 §2, RFC 8945 §4.2), only as much
 * of it as DNS-01 needs: queries and answers for SOA, NS, A, AAAA, TXT, CNAME,
 * UPDATE messages, and the TSIG record.
 *
 * Why our own: no DNS library is installed (dns-packet is not in
 * node_modules, and adding a dependency is the coordinator's call), and TSIG
 * needs the exact bytes of a message anyway — the MAC covers the message as
 * sent, with the TSIG record removed and ARCOUNT decremented — so we keep
 * full control of encoding. Encoding never compresses names (always legal;
 * the MAC input of TSIG needs uncompressed names in any case); decoding
 * follows compression pointers, with a bound on jumps so a hostile answer
 * cannot loop us. Every read is bounds-checked: a short or garbled answer is
 * a `DnsWireError`, never an out-of-range read.
 */

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TSIG: 250,
  ANY: 255,
} as const;

export const RRClass = {
  IN: 1,
  NONE: 254,
  ANY: 255,
} as const;

export const Opcode = { QUERY: 0, UPDATE: 5 } as const;

/** Response codes (RFC 1035, RFC 2136, RFC 8945 for the TSIG error field). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;

const RCODE_NAMES = new Map<number, string>(Object.entries(Rcode).map(([k, v]) => [v, k]));
export function rcodeName(code: number): string {
  return RCODE_NAMES.get(code) ?? `RCODE${code}`;
}

export class DnsWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsWireError';
  }
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface TsigData {
  algorithm: string;
  /** Seconds since the epoch (48 bits on the wire). */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** A resource record. `data` depends on the type; unknown types keep their raw rdata. */
export type ResourceRecord =
  | { name: string; type: typeof RRType.A | typeof RRType.AAAA; class: number; ttl: number; data: string }
  | { name: string; type: typeof RRType.NS | typeof RRType.CNAME; class: number; ttl: number; data: string }
  | { name: string; type: typeof RRType.TXT; class: number; ttl: number; data: string[] }
  | { name: string; type: typeof RRType.SOA; class: number; ttl: number; data: SoaData }
  | { name: string; type: typeof RRType.TSIG; class: number; ttl: number; data: TsigData }
  | { name: string; type: number; class: number; ttl: number; data: Buffer | null };

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface DnsMessage {
  id: number;
  /** QR bit: true for an answer. */
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  rcode: number;
  /** For UPDATE these are the zone, prerequisite, update and additional sections (RFC 2136 §2). */
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

/** Normalise a domain name: no trailing dot, lower case (DNS names compare case-insensitively). "" or "." is the root. */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/** Split a presentation-format name into labels (no escapes supported: DNS-01 names are host names plus `_acme-challenge`). */
function labelsOf(name: string): string[] {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n === '') return [];
  const labels = n.split('.');
  for (const l of labels) {
    if (l.length === 0) throw new DnsWireError(`The name "${name}" has an empty label.`);
    if (Buffer.byteLength(l) > 63) throw new DnsWireError(`The name "${name}" has a label longer than 63 bytes.`);
    if (l.includes('\\')) throw new DnsWireError(`The name "${name}" contains a backslash; escaped names are not supported.`);
  }
  return labels;
}

/** A name in uncompressed wire form. `canonical` lower-cases it (RFC 4034 §6.2, as TSIG's MAC input needs). */
export function encodeName(name: string, canonical = false): Buffer {
  const parts: Buffer[] = [];
  for (const l of labelsOf(canonical ? name.toLowerCase() : name)) {
    const b = Buffer.from(l, 'utf8');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new DnsWireError(`The name "${name}" is longer than 255 bytes.`);
  return out;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
/** 48-bit unsigned (TSIG time signed). */
export function u48(n: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(n, 0, 6);
  return b;
}

function encodeIPv4(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new DnsWireError(`"${ip}" is not an IPv4 address.`);
  return Buffer.from(parts);
}

function encodeIPv6(ip: string): Buffer {
  let head = ip;
  let tail = '';
  const dbl = ip.indexOf('::');
  if (dbl >= 0) {
    head = ip.slice(0, dbl);
    tail = ip.slice(dbl + 2);
  }
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = dbl >= 0 ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) throw new DnsWireError(`"${ip}" is not an IPv6 address.`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function decodeIPv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** One TXT string per ≤255-byte chunk (a 43-character ACME value is one string). */
function encodeTxt(strings: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const s of strings) {
    const b = Buffer.from(s, 'utf8');
    if (b.length > 255) throw new DnsWireError('A TXT string is longer than 255 bytes.');
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

export function encodeRdata(rr: ResourceRecord): Buffer {
  if (rr.data === null) return Buffer.alloc(0);
  switch (rr.type) {
    case RRType.A:
      return encodeIPv4(rr.data as string);
    case RRType.AAAA:
      return encodeIPv6(rr.data as string);
    case RRType.NS:
    case RRType.CNAME:
      return encodeName(rr.data as string);
    case RRType.TXT:
      return encodeTxt(rr.data as string[]);
    case RRType.SOA: {
      const s = rr.data as SoaData;
      return Buffer.concat([encodeName(s.mname), encodeName(s.rname), u32(s.serial), u32(s.refresh), u32(s.retry), u32(s.expire), u32(s.minimum)]);
    }
    case RRType.TSIG: {
      const t = rr.data as TsigData;
      return Buffer.concat([encodeName(t.algorithm, true), u48(t.timeSigned), u16(t.fudge), u16(t.mac.length), t.mac, u16(t.originalId), u16(t.error), u16(t.other.length), t.other]);
    }
    default:
      if (Buffer.isBuffer(rr.data)) return rr.data;
      throw new DnsWireError(`Cannot encode data of record type ${rr.type}.`);
  }
}

export function encodeRecord(rr: ResourceRecord): Buffer {
  const rdata = encodeRdata(rr);
  return Buffer.concat([encodeName(rr.name, rr.type === RRType.TSIG), u16(rr.type), u16(rr.class), u32(rr.ttl), u16(rdata.length), rdata]);
}

export function encodeHeader(m: Pick<DnsMessage, 'id' | 'response' | 'opcode' | 'authoritative' | 'truncated' | 'recursionDesired' | 'recursionAvailable' | 'rcode'>, counts: [number, number, number, number]): Buffer {
  let flags = 0;
  if (m.response) flags |= 0x8000;
  flags |= (m.opcode & 0xf) << 11;
  if (m.authoritative) flags |= 0x0400;
  if (m.truncated) flags |= 0x0200;
  if (m.recursionDesired) flags |= 0x0100;
  if (m.recursionAvailable) flags |= 0x0080;
  flags |= m.rcode & 0xf;
  return Buffer.concat([u16(m.id), u16(flags), ...counts.map(u16)]);
}

export function encodeMessage(m: DnsMessage): Buffer {
  const parts: Buffer[] = [encodeHeader(m, [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length])];
  for (const q of m.questions) parts.push(encodeName(q.name), u16(q.type), u16(q.class));
  for (const rr of [...m.answers, ...m.authorities, ...m.additionals]) parts.push(encodeRecord(rr));
  return Buffer.concat(parts);
}

/** A new message with defaults filled in. */
export function message(partial: Partial<DnsMessage> & { id: number }): DnsMessage {
  return {
    response: false,
    opcode: Opcode.QUERY,
    authoritative: false,
    truncated: false,
    recursionDesired: false,
    recursionAvailable: false,
    rcode: 0,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
    ...partial,
  };
}

class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsWireError('The DNS message is cut short.');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.buf.readUIntBE(this.pos, 6);
    this.pos += 6;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
  /** A possibly compressed name; returned without the trailing dot, case kept. */
  name(): string {
    const labels: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let jumps = 0;
    let total = 0;
    for (;;) {
      if (pos >= this.buf.length) throw new DnsWireError('The DNS message is cut short inside a name.');
      const len = this.buf[pos]!;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsWireError('The DNS message is cut short inside a name.');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        if (++jumps > 64 || target >= this.buf.length) throw new DnsWireError('A name in the DNS message has a compression loop or a bad pointer.');
        pos = target;
        continue;
      }
      if (len & 0xc0) throw new DnsWireError('A name in the DNS message uses an unknown label type.');
      pos++;
      if (len === 0) break;
      if (pos + len > this.buf.length) throw new DnsWireError('The DNS message is cut short inside a name.');
      total += len + 1;
      if (total > 255) throw new DnsWireError('A name in the DNS message is longer than 255 bytes.');
      labels.push(this.buf.subarray(pos, pos + len).toString('latin1'));
      pos += len;
    }
    if (!jumped) this.pos = pos;
    return labels.join('.');
  }
}

function decodeRecord(r: Reader): ResourceRecord {
  const name = r.name();
  const type = r.u16();
  const cls = r.u16();
  const ttl = r.u32();
  const rdlen = r.u16();
  r.need(rdlen);
  const end = r.pos + rdlen;
  const base = { name, class: cls, ttl };
  let rr: ResourceRecord;
  switch (type) {
    case RRType.A: {
      if (rdlen !== 4) throw new DnsWireError('An A record does not hold 4 bytes.');
      rr = { ...base, type, data: [...r.bytes(4)].join('.') };
      break;
    }
    case RRType.AAAA: {
      if (rdlen !== 16) throw new DnsWireError('An AAAA record does not hold 16 bytes.');
      rr = { ...base, type, data: decodeIPv6(r.bytes(16)) };
      break;
    }
    case RRType.NS:
    case RRType.CNAME:
      rr = { ...base, type, data: r.name() };
      break;
    case RRType.TXT: {
      const strings: string[] = [];
      while (r.pos < end) {
        const len = r.u8();
        if (r.pos + len > end) throw new DnsWireError('A TXT string runs past its record.');
        strings.push(r.bytes(len).toString('utf8'));
      }
      rr = { ...base, type, data: strings };
      break;
    }
    case RRType.SOA:
      rr = { ...base, type, data: { mname: r.name(), rname: r.name(), serial: r.u32(), refresh: r.u32(), retry: r.u32(), expire: r.u32(), minimum: r.u32() } };
      break;
    case RRType.TSIG: {
      const algorithm = r.name();
      const timeSigned = r.u48();
      const fudge = r.u16();
      const mac = r.bytes(r.u16());
      const originalId = r.u16();
      const error = r.u16();
      const other = r.bytes(r.u16());
      rr = { ...base, type, data: { algorithm, timeSigned, fudge, mac, originalId, error, other } };
      break;
    }
    default:
      rr = { ...base, type, data: r.bytes(rdlen) };
  }
  if (r.pos !== end) throw new DnsWireError(`A record of type ${type} does not fill its stated length.`);
  return rr;
}

export interface DecodedMessage extends DnsMessage {
  /** Byte offset where the last additional record starts (TSIG must be last: RFC 8945 §5.1). */
  lastAdditionalOffset: number;
}

export function decodeMessage(buf: Buffer): DecodedMessage {
  const r = new Reader(buf);
  if (buf.length < 12) throw new DnsWireError('The DNS message is shorter than its 12-byte header.');
  const id = r.u16();
  const flags = r.u16();
  const counts = [r.u16(), r.u16(), r.u16(), r.u16()] as const;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) questions.push({ name: r.name(), type: r.u16(), class: r.u16() });
  const sections: ResourceRecord[][] = [[], [], []];
  let lastAdditionalOffset = -1;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      if (s === 2) lastAdditionalOffset = r.pos;
      sections[s]!.push(decodeRecord(r));
    }
  }
  if (r.pos !== buf.length) throw new DnsWireError('The DNS message has bytes after its last record.');
  return {
    id,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authorities: sections[1]!,
    additionals: sections[2]!,
    lastAdditionalOffset,
  };
}
