/**
 * The pure parts of the providers and the solver: hook command splitting
 * (no expansion ever), acme-dns credentials parsing, the DNS-01 value, and
 * sendUpdate refusing answers that are not signed with our key (a
 * node:dgram stand-in plays the nameserver).
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAcmeDnsCredentials } from '../../src/core/dns/providers/acmedns.js';
import { splitCommand } from '../../src/core/dns/providers/hook.js';
import { dns01Value } from '../../src/core/dns/solver.js';
import { TsigKey, signResponse, verifyRequest } from '../../src/core/dns/tsig.js';
import { sendUpdate } from '../../src/core/dns/update.js';
import { decodeMessage, encodeMessage, message } from '../../src/core/dns/wire.js';
import { freePort } from '../../testkit/ports.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

describe('hook command splitting', () => {
  it('splits words with quotes and backslashes, expands nothing', () => {
    expect(splitCommand('/usr/local/bin/hook --zone example.com')).toEqual(['/usr/local/bin/hook', '--zone', 'example.com']);
    expect(splitCommand(`  "/opt/my hooks/auth.sh"  'a b' c\\ d "x\\"y" ''  `)).toEqual(['/opt/my hooks/auth.sh', 'a b', 'c d', 'x"y', '']);
    expect(splitCommand('hook $HOME `id` $(id) ~ *.sh >out ; rm -rf /')).toEqual(['hook', '$HOME', '`id`', '$(id)', '~', '*.sh', '>out', ';', 'rm', '-rf', '/']);
    expect(() => splitCommand('hook "open')).toThrow(/unclosed " quote/);
    expect(() => splitCommand('   ')).toThrow(/empty/);
  });
});

describe('acme-dns credentials', () => {
  const acc = { username: 'u', password: 'hunter2-secret', fulldomain: 'abc.auth.example.org', subdomain: 'abc', allowfrom: [] };
  it('reads the lego / certbot-dns-acmedns JSON (wildcard keys map to the base name)', () => {
    const m = parseAcmeDnsCredentials(JSON.stringify({ 'Example.com': acc, '*.other.org': { ...acc, server_url: 'https://auth.example.org' } }));
    expect(m.get('example.com')).toEqual({ username: 'u', password: 'hunter2-secret', fulldomain: 'abc.auth.example.org', subdomain: 'abc', serverUrl: undefined });
    expect(m.get('other.org')?.serverUrl).toBe('https://auth.example.org');
  });
  it('lists every problem, never the password', () => {
    const bad = (doc: unknown) => {
      try {
        parseAcmeDnsCredentials(typeof doc === 'string' ? doc : JSON.stringify(doc), 'creds.json');
      } catch (err) {
        expect((err as { exitCode: number }).exitCode).toBe(2);
        expect((err as Error).message).not.toContain('hunter2');
        return (err as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(bad('{"a": ')).toMatch(/^creds\.json: not valid JSON/);
    expect(bad([])).toMatch(/expected a JSON object/);
    expect(bad({})).toMatch(/holds no account/);
    expect(bad({ 'a.com': { ...acc, password: 7, fulldomain: undefined } }).split('\n')).toEqual(['creds.json: "a.com".password: missing or not a string.', 'creds.json: "a.com".fulldomain: missing or not a string.']);
    expect(bad({ 'a.com': { ...acc, subdomain: 'zzz' } })).toMatch(/fulldomain does not start with subdomain/);
  });
});

describe('DNS-01 value', () => {
  it('is base64url(SHA-256(key authorization)), as openssl computes it', () => {
    const ka = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
    const expected = execFileSync('sh', ['-c', 'printf %s "$1" | openssl dgst -sha256 -binary | openssl base64 -A', 'sh', ka]).toString().replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(dns01Value(ka)).toBe(expected);
    expect(dns01Value(ka)).toHaveLength(43);
  });
});

describe('sendUpdate believes only answers signed with our key', () => {
  const key = new TsigKey('k', 'hmac-sha256', Buffer.alloc(32, 3));
  async function standIn(reply: (req: Buffer) => Buffer): Promise<number> {
    const port = await freePort();
    const sock = dgram.createSocket('udp4');
    sock.on('message', (msg, r) => sock.send(reply(msg), r.port, r.address));
    await new Promise<void>((res) => sock.bind(port, '127.0.0.1', () => res()));
    closers.push(() => sock.close());
    return port;
  }
  const ok = (req: Buffer, rcode = 0) => {
    const q = decodeMessage(req);
    return encodeMessage(message({ id: q.id, response: true, opcode: q.opcode, rcode, questions: q.questions }));
  };
  const upd = (port: number) => sendUpdate([{ op: 'add', fqdn: '_acme-challenge.example.test', value: 'v' }], { server: { host: '127.0.0.1', port }, zone: 'example.test', key, tries: 1 });

  it('a signed NOERROR is success', async () => {
    await expect(upd(await standIn((req) => signResponse(ok(req), key, verifyRequest(req, key).mac!)))).resolves.toBeUndefined();
  });
  it('an unsigned NOERROR (someone answering in the server\'s place) is refused', async () => {
    await expect(upd(await standIn((req) => ok(req)))).rejects.toMatchObject({ kind: 'tsig', message: expect.stringContaining('is not signed: certctl does not believe it') });
  });
  it('a NOERROR signed with another secret is refused', async () => {
    const other = new TsigKey('k', 'hmac-sha256', Buffer.alloc(32, 4));
    await expect(upd(await standIn((req) => signResponse(ok(req), other, verifyRequest(req, key).mac!)))).rejects.toMatchObject({ kind: 'tsig', message: expect.stringContaining('not signed with our key') });
  });
  it('an unsigned error answer is reported with its rcode', async () => {
    await expect(upd(await standIn((req) => ok(req, 5)))).rejects.toMatchObject({ kind: 'rcode', rcode: 'REFUSED' });
  });
});
