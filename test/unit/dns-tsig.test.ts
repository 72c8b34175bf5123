/**
 * TSIG against BIND's own implementation: nsupdate (BIND's library) signs an
 * update, our verifier must accept it and reject any altered byte; our signed
 * answer must be accepted by nsupdate, and one signed with another secret
 * refused. The server here is a few lines of node:dgram standing in for a
 * nameserver (the real-server tests are in test/e2e/dns-bind.test.ts).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTsigKey } from '../../src/core/dns/keyfile.js';
import { TsigKey, signMessage, signResponse, verifyRequest, verifyResponse } from '../../src/core/dns/tsig.js';
import { Opcode, Rcode, RRType, decodeMessage, encodeMessage, message } from '../../src/core/dns/wire.js';
import { buildUpdate } from '../../src/core/dns/update.js';
import { freePort } from '../../testkit/ports.js';
import { makeTsigKeyFile } from '../../testkit/bind.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-tsig-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function answerFor(request: Buffer, rcode = 0): Buffer {
  const req = decodeMessage(request);
  return encodeMessage(message({ id: req.id, response: true, opcode: req.opcode, rcode, questions: req.questions }));
}

/** Run nsupdate against a one-shot UDP server; `reply` decides the answer to the captured request. */
async function withNsupdate(keyFile: string, reply: (req: Buffer) => Buffer | undefined): Promise<{ request: Buffer; status: number; output: string }> {
  const port = await freePort();
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(port, '127.0.0.1', () => r()));
  let request: Buffer | undefined;
  sock.on('message', (msg, rinfo) => {
    request ??= msg;
    const ans = reply(msg);
    if (ans) sock.send(ans, rinfo.port, rinfo.address);
  });
  try {
    const child = spawn('/usr/bin/nsupdate', ['-k', keyFile, '-t', '2', '-u', '1', '-r', '0'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.stdin.end(`server 127.0.0.1 ${port}\nzone example.test\nupdate add _acme-challenge.example.test. 60 IN TXT "v"\nsend\n`);
    const status = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    if (!request) throw new Error(`nsupdate sent nothing: ${output}`);
    return { request, status, output };
  } finally {
    sock.close();
  }
}

describe('TSIG', () => {
  it('our signature verifies, and any changed byte or another secret does not', () => {
    const key = new TsigKey('k', 'hmac-sha256', Buffer.alloc(32, 3));
    const other = new TsigKey('k', 'hmac-sha256', Buffer.alloc(32, 4));
    const signed = signMessage(buildUpdate(7, 'example.test', [{ op: 'add', fqdn: '_acme-challenge.example.test', value: 'v' }]), key);
    expect(verifyRequest(signed.wire, key)).toMatchObject({ ok: true });
    expect(verifyRequest(signed.wire, other)).toMatchObject({ ok: false, why: 'bad mac' });
    expect(verifyRequest(signed.wire, new TsigKey('k', 'hmac-sha512', Buffer.alloc(32, 3)))).toMatchObject({ ok: false, why: 'wrong key' });
    let rejected = 0;
    for (let i = 0; i < signed.wire.length; i++) {
      const t = Buffer.from(signed.wire);
      t[i] ^= 0x20;
      if (!verifyRequest(t, key).ok) rejected++;
    }
    // Flipping 0x20 in a name's letter only changes its case, which DNS ignores: the name bytes of the key and
    // algorithm names are canonicalised (lower-cased) before the MAC. Every other byte must break the MAC.
    const caseOnly = [...signed.wire].filter((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)).length;
    expect(rejected).toBeGreaterThanOrEqual(signed.wire.length - caseOnly);
    // A signature older than the fudge is refused.
    const old = signMessage(buildUpdate(7, 'example.test', []), key, Date.now() - 600_000);
    expect(verifyRequest(old.wire, key)).toMatchObject({ ok: false, why: 'bad time' });
  });

  for (const alg of ['hmac-sha256', 'hmac-sha512'] as const) {
    it(`${alg}: nsupdate's signed update verifies with our code, and nsupdate accepts our signed answer`, async () => {
      const keyFile = await makeTsigKeyFile(dir, `nsupdate-${alg}`, alg);
      const key = loadTsigKey(keyFile);
      let verdict: ReturnType<typeof verifyRequest> | undefined;
      const good = await withNsupdate(keyFile, (req) => {
        verdict = verifyRequest(req, key);
        return verdict.ok ? signResponse(answerFor(req), key, verdict.mac!) : undefined;
      });
      expect(verdict).toMatchObject({ ok: true });
      const req = decodeMessage(good.request);
      expect(req.opcode).toBe(Opcode.UPDATE);
      expect(req.authorities[0]).toMatchObject({ name: '_acme-challenge.example.test', type: RRType.TXT, data: ['v'] });
      expect(good.status).toBe(0);

      // The same answer signed with another secret: nsupdate must not believe it.
      const wrong = new TsigKey(key.name, alg, Buffer.alloc(32, 9));
      const bad = await withNsupdate(keyFile, (r) => signResponse(answerFor(r), wrong, verifyRequest(r, key).mac!));
      expect(bad.status).not.toBe(0);
      expect(bad.output).toMatch(/tsig|signature|verify/i);
    });
  }

  it('verifyResponse: accepts a correctly signed answer, reports BADSIG / BADKEY answers, unsigned and forged ones', () => {
    const key = new TsigKey('k', 'hmac-sha256', Buffer.alloc(32, 3));
    const signed = signMessage(buildUpdate(9, 'example.test', []), key);
    const ans = answerFor(signed.wire);
    expect(verifyResponse(signResponse(ans, key, signed.mac), key, signed.mac).ok).toBe(true);
    // Signed for another request's MAC (a replayed answer) is refused.
    expect(verifyResponse(signResponse(ans, key, Buffer.alloc(32)), key, signed.mac)).toMatchObject({ ok: false, reason: 'bad-mac' });
    expect(verifyResponse(ans, key, signed.mac)).toMatchObject({ ok: false, reason: 'unsigned' });
    // A server's BADSIG answer: rcode NOTAUTH, TSIG error 16, empty MAC.
    const m = decodeMessage(answerFor(signed.wire, Rcode.NOTAUTH));
    const badsig = encodeMessage({ ...m, additionals: [{ name: 'k', type: RRType.TSIG, class: 255, ttl: 0, data: { algorithm: 'hmac-sha256', timeSigned: Math.floor(Date.now() / 1000), fudge: 300, mac: Buffer.alloc(0), originalId: m.id, error: Rcode.BADSIG, other: Buffer.alloc(0) } }] });
    expect(verifyResponse(badsig, key, signed.mac)).toMatchObject({ ok: false, reason: 'server-error', error: Rcode.BADSIG });
  });
});
