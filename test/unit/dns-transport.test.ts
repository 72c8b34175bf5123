/**
 * The transport against small stand-in servers (node:dgram / node:net, named
 * as such): truncated UDP answers are asked again over TCP, answers with
 * another ID are ignored, silence is a time-out, nothing listening is
 * "refused the connection".
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { query } from '../../src/core/dns/query.js';
import { parseServer } from '../../src/core/dns/transport.js';
import { RRType, decodeMessage, encodeMessage, message } from '../../src/core/dns/wire.js';
import { freePort } from '../../testkit/ports.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

function answer(req: Buffer, values: string[], truncated = false, id?: number): Buffer {
  const q = decodeMessage(req);
  return encodeMessage(
    message({ id: id ?? q.id, response: true, authoritative: true, truncated, questions: q.questions, answers: values.map((v) => ({ name: q.questions[0]!.name, type: RRType.TXT, class: 1, ttl: 60, data: [v] })) }),
  );
}

async function udpStandIn(port: number, onMessage: (msg: Buffer, reply: (b: Buffer) => void) => void): Promise<{ count: () => number }> {
  const sock = dgram.createSocket('udp4');
  let n = 0;
  sock.on('message', (msg, r) => {
    n++;
    onMessage(msg, (b) => sock.send(b, r.port, r.address));
  });
  await new Promise<void>((res) => sock.bind(port, '127.0.0.1', () => res()));
  closers.push(() => sock.close());
  return { count: () => n };
}

describe('DNS transport', () => {
  it('asks again over TCP when the UDP answer is truncated', async () => {
    const port = await freePort();
    const udp = await udpStandIn(port, (msg, reply) => reply(answer(msg, ['partial'], true)));
    let tcpQuestions = 0;
    const srv = net.createServer((s) => {
      s.on('data', (d) => {
        tcpQuestions++;
        const req = d.subarray(2, 2 + d.readUInt16BE(0));
        const a = answer(req, ['one', 'two', 'three']);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(a.length);
        // Split the answer in two writes: the reader must reassemble it.
        s.write(Buffer.concat([len, a.subarray(0, 5)]));
        setImmediate(() => s.end(a.subarray(5)));
      });
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
    closers.push(() => srv.close());
    const m = await query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT);
    expect(m.answers.map((a) => a.data)).toEqual([['one'], ['two'], ['three']]);
    expect(udp.count()).toBe(1);
    expect(tcpQuestions).toBe(1);
  });

  it('ignores an answer with another ID or question and takes the real one', async () => {
    const port = await freePort();
    await udpStandIn(port, (msg, reply) => {
      const id = msg.readUInt16BE(0);
      reply(answer(msg, ['spoofed'], false, (id + 1) & 0xffff));
      const other = Buffer.from(answer(msg, ['spoofed-question']));
      reply(encodeMessage({ ...decodeMessage(other), questions: [{ name: 'other.example', type: RRType.TXT, class: 1 }] }));
      setTimeout(() => reply(answer(msg, ['real'])), 20);
    });
    const m = await query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT);
    expect(m.answers.map((a) => a.data)).toEqual([['real']]);
  });

  it('retries a lost datagram, then reports a time-out naming the server', async () => {
    const port = await freePort();
    let seen = 0;
    const udp = await udpStandIn(port, (msg, reply) => {
      if (++seen === 2) reply(answer(msg, ['second try']));
    });
    const m = await query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT, { timeoutMs: 300, tries: 2 });
    expect(m.answers.map((a) => a.data)).toEqual([['second try']]);
    expect(udp.count()).toBe(2);
    const silent = await freePort();
    await udpStandIn(silent, () => undefined);
    await expect(query({ host: '127.0.0.1', port: silent }, 'x.example', RRType.TXT, { timeoutMs: 200, tries: 2 })).rejects.toMatchObject({
      kind: 'timeout',
      message: expect.stringContaining(`127.0.0.1:${silent} did not answer`),
      exitCode: 6,
    });
  });

  it('nothing listening is a refused connection, over UDP and TCP', async () => {
    const port = await freePort();
    await expect(query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT)).rejects.toMatchObject({ kind: 'connection-refused', message: expect.stringContaining('refused the connection (UDP)') });
    await expect(query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT, { tcp: true })).rejects.toMatchObject({ kind: 'connection-refused', message: expect.stringContaining('(TCP)') });
  });

  it('a garbled answer is reported, not crashed on', async () => {
    const port = await freePort();
    await udpStandIn(port, (msg, reply) => reply(Buffer.concat([answer(msg, ['x']).subarray(0, 30)])));
    await expect(query({ host: '127.0.0.1', port }, 'x.example', RRType.TXT)).rejects.toMatchObject({ kind: 'malformed' });
  });

  it('parses server addresses', () => {
    expect(parseServer('192.0.2.1')).toEqual({ host: '192.0.2.1', port: 53 });
    expect(parseServer('192.0.2.1:5353')).toEqual({ host: '192.0.2.1', port: 5353 });
    expect(parseServer('[::1]:54')).toEqual({ host: '::1', port: 54 });
    expect(parseServer('::1')).toEqual({ host: '::1', port: 53 });
    expect(parseServer('ns1.example.com')).toBeUndefined();
    expect(parseServer('1.2.3.4:70000')).toBeUndefined();
    expect(parseServer('1.2.3.4:0')).toBeUndefined();
  });
});
