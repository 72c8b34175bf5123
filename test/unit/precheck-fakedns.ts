/**
 * A tiny UDP DNS responder for what pebble-challtestsrv cannot express:
 * NXDOMAIN, a CAA property with the critical flag, and silence (a resolver
 * that never answers, for time-outs). Test code only.
 */
import dgram from 'node:dgram';

export interface FakeAnswer {
  rcode?: number; // 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN
  caa?: { flags: number; tag: string; value: string }[];
  a?: string[];
}

export interface FakeDns {
  resolver: string;
  /** Questions received, "name TYPE". */
  queries: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: 'A', 28: 'AAAA', 257: 'CAA' };

/** `answer` null = never reply (time-out). */
export async function startFakeDns(answer: (name: string, type: string) => FakeAnswer | null): Promise<FakeDns> {
  const sock = dgram.createSocket('udp4');
  const queries: string[] = [];
  sock.on('message', (msg, rinfo) => {
    let off = 12;
    const labels: string[] = [];
    while (msg[off]! !== 0) {
      const len = msg[off]!;
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('ascii'));
      off += 1 + len;
    }
    off += 1;
    const qtype = msg.readUInt16BE(off);
    const qEnd = off + 4;
    const name = labels.join('.').toLowerCase();
    const type = TYPES[qtype] ?? String(qtype);
    queries.push(`${name} ${type}`);
    const ans = answer(name, type);
    if (ans === null) return;
    const rrs: Buffer[] = [];
    const rr = (t: number, data: Buffer) => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0xc00c, 0);
      h.writeUInt16BE(t, 2);
      h.writeUInt16BE(1, 4);
      h.writeUInt32BE(60, 6);
      h.writeUInt16BE(data.length, 10);
      rrs.push(Buffer.concat([h, data]));
    };
    if (type === 'CAA') for (const c of ans.caa ?? []) rr(257, Buffer.concat([Buffer.from([c.flags, c.tag.length]), Buffer.from(c.tag), Buffer.from(c.value)]));
    if (type === 'A') for (const a of ans.a ?? []) rr(1, Buffer.from(a.split('.').map(Number)));
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (ans.rcode ?? 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rrs.length, 6);
    sock.send(Buffer.concat([header, msg.subarray(12, qEnd), ...rrs]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const port = sock.address().port;
  return {
    resolver: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  };
}
