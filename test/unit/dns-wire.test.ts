import { describe, expect, it } from 'vitest';
import { DnsWireError, Opcode, RRClass, RRType, decodeMessage, encodeMessage, encodeName, message } from '../../src/core/dns/wire.js';
import { buildUpdate } from '../../src/core/dns/update.js';

describe('DNS wire format', () => {
  it('round-trips a message with every record type DNS-01 uses', () => {
    const m = message({
      id: 0xbeef,
      response: true,
      authoritative: true,
      rcode: 3,
      questions: [{ name: '_acme-challenge.Example.com', type: RRType.TXT, class: RRClass.IN }],
      answers: [
        { name: 'example.com', type: RRType.A, class: RRClass.IN, ttl: 60, data: '192.0.2.1' },
        { name: 'example.com', type: RRType.AAAA, class: RRClass.IN, ttl: 60, data: '2001:db8::1' },
        { name: 'example.com', type: RRType.AAAA, class: RRClass.IN, ttl: 60, data: '::1' },
        { name: 'example.com', type: RRType.AAAA, class: RRClass.IN, ttl: 60, data: '2001:db8:1:2:3:4:5:6' },
        { name: 'example.com', type: RRType.NS, class: RRClass.IN, ttl: 60, data: 'ns1.example.com' },
        { name: 'www.example.com', type: RRType.CNAME, class: RRClass.IN, ttl: 60, data: 'example.com' },
        { name: '_acme-challenge.example.com', type: RRType.TXT, class: RRClass.IN, ttl: 60, data: ['a'.repeat(43), 'second'] },
        { name: 'example.com', type: RRType.TXT, class: RRClass.IN, ttl: 60, data: [''] },
      ],
      authorities: [{ name: 'example.com', type: RRType.SOA, class: RRClass.IN, ttl: 60, data: { mname: 'ns1.example.com', rname: 'admin.example.com', serial: 2026120101, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } }],
      additionals: [{ name: 'key', type: RRType.TSIG, class: RRClass.ANY, ttl: 0, data: { algorithm: 'hmac-sha256', timeSigned: 1_800_000_000, fudge: 300, mac: Buffer.alloc(32, 7), originalId: 0xbeef, error: 0, other: Buffer.alloc(0) } }],
    });
    const d = decodeMessage(encodeMessage(m));
    const { lastAdditionalOffset, ...rest } = d;
    expect(lastAdditionalOffset).toBeGreaterThan(12);
    expect(rest).toEqual(m);
  });

  it('follows compression pointers and refuses loops, bad pointers and short messages', () => {
    // header + question "a.example" + answer whose name is a pointer to offset 12
    const q = Buffer.concat([encodeName('a.example'), Buffer.from([0, 1, 0, 1])]);
    const header = Buffer.from([0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    const ans = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
    const d = decodeMessage(Buffer.concat([header, q, ans]));
    expect(d.answers[0]).toMatchObject({ name: 'a.example', data: '10.0.0.1' });
    // pointer to itself
    const loop = Buffer.concat([Buffer.from([0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(() => decodeMessage(loop)).toThrow(DnsWireError);
    const bad = Buffer.concat([Buffer.from([0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 200, 0, 1, 0, 1])]);
    expect(() => decodeMessage(bad)).toThrow(/bad pointer|loop/);
    const full = Buffer.concat([header, q, ans]);
    for (let n = 0; n < full.length; n++) expect(() => decodeMessage(full.subarray(0, n))).toThrow(DnsWireError);
    expect(() => decodeMessage(Buffer.concat([full, Buffer.from([0])]))).toThrow(/after its last record/);
    // An A record with 5 bytes
    const badA = Buffer.from(full);
    badA[full.length - 5] = 5;
    expect(() => decodeMessage(Buffer.concat([badA, Buffer.from([0])]))).toThrow(DnsWireError);
  });

  it('refuses names that are not valid on the wire', () => {
    expect(() => encodeName('a..b')).toThrow(/empty label/);
    expect(() => encodeName(`${'a'.repeat(64)}.com`)).toThrow(/63/);
    expect(() => encodeName(Array(130).fill('ab').join('.'))).toThrow(/255/);
    expect(() => encodeName('a\\.b')).toThrow(/backslash/);
    expect(encodeName('.')).toEqual(Buffer.from([0]));
    expect(encodeName('Ab.C', true)).toEqual(Buffer.from([2, 0x61, 0x62, 1, 0x63, 0]));
  });

  it('builds RFC 2136 updates: zone section SOA, add as class IN, delete-one-RR as class NONE TTL 0', () => {
    const wire = buildUpdate(42, 'Example.com.', [
      { op: 'add', fqdn: '_acme-challenge.example.com', value: 'v1' },
      { op: 'delete', fqdn: '_acme-challenge.example.com.', value: 'v0' },
    ]);
    const d = decodeMessage(wire);
    expect(d.opcode).toBe(Opcode.UPDATE);
    expect(d.questions).toEqual([{ name: 'example.com', type: RRType.SOA, class: RRClass.IN }]);
    expect(d.answers).toEqual([]);
    expect(d.authorities).toEqual([
      { name: '_acme-challenge.example.com', type: RRType.TXT, class: RRClass.IN, ttl: 60, data: ['v1'] },
      { name: '_acme-challenge.example.com', type: RRType.TXT, class: RRClass.NONE, ttl: 0, data: ['v0'] },
    ]);
    expect(() => buildUpdate(1, 'example.com', [{ op: 'add', fqdn: '_acme-challenge.example.org', value: 'x' }])).toThrow(/not inside the zone example.com/);
    expect(() => buildUpdate(1, 'example.com', [{ op: 'add', fqdn: '_acme-challenge.badexample.com', value: 'x' }])).toThrow(/not inside/);
  });
});
