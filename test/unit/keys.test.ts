/**
 * Keys and CSRs for every key type, checked by OpenSSL 3 as the independent
 * verifier (never by the code that made them). `openssl req -verify` exits 0
 * even when the signature is bad, so every check reads the text.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateKey, keyAlgoOfPem, parseKeyType, type KeyAlgo } from '../../src/core/keys/index.js';
import { InputError } from '../../src/core/errors.js';

export const DISTID = 'distid:1234567812345678';
let dir: string;
let n = 0;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-keys-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(content: string | Buffer): string {
  const f = path.join(dir, `f${n++}.pem`);
  fs.writeFileSync(f, content);
  return f;
}
/** Run openssl; stdout+stderr together, never throwing on exit status (we read the text). */
function openssl(args: string[]): { out: string; code: number } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { out: r.stdout + r.stderr, code: r.status ?? -1 };
}
function reqVerify(csrPem: string, sm2 = false): string {
  const r = openssl(['req', '-in', file(csrPem), '-noout', '-verify', ...(sm2 ? ['-vfyopt', DISTID] : [])]);
  return r.out;
}
function reqText(csrPem: string): string {
  return openssl(['req', '-in', file(csrPem), '-noout', '-text']).out;
}
function pkeyCheck(keyPem: string): void {
  const r = openssl(['pkey', '-in', file(keyPem), '-check', '-noout']);
  expect(r.out).toMatch(/valid/i);
  expect(r.code).toBe(0);
}
/** Flip one bit inside the signed part (the CN) so the signature no longer matches. */
function tamper(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const i = der.indexOf(Buffer.from('example'));
  expect(i).toBeGreaterThan(0);
  der[i] ^= 0x01;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;
}

const cases: { label: string; algo: KeyAlgo; usage?: 'sign' | 'enc'; sigText: RegExp; keyText: RegExp; usages: string }[] = [
  { label: 'rsa:2048', algo: { kind: 'rsa', bits: 2048 }, sigText: /sha256WithRSAEncryption/, keyText: /Public-Key: \(2048 bit\)/, usages: 'Digital Signature, Key Encipherment' },
  { label: 'rsa:3072', algo: { kind: 'rsa', bits: 3072 }, sigText: /sha256WithRSAEncryption/, keyText: /Public-Key: \(3072 bit\)/, usages: 'Digital Signature, Key Encipherment' },
  { label: 'ecdsa:p256', algo: { kind: 'ecdsa', curve: 'P-256' }, sigText: /ecdsa-with-SHA256/, keyText: /NIST CURVE: P-256/, usages: 'Digital Signature' },
  { label: 'ecdsa:p384', algo: { kind: 'ecdsa', curve: 'P-384' }, sigText: /ecdsa-with-SHA384/, keyText: /NIST CURVE: P-384/, usages: 'Digital Signature' },
  { label: 'sm2 sign', algo: { kind: 'sm2' }, usage: 'sign', sigText: /SM2-with-SM3/, keyText: /ASN1 OID: SM2/, usages: 'Digital Signature, Non Repudiation' },
  { label: 'sm2 enc', algo: { kind: 'sm2' }, usage: 'enc', sigText: /SM2-with-SM3/, keyText: /ASN1 OID: SM2/, usages: 'Key Encipherment, Data Encipherment, Key Agreement' },
];

describe.each(cases)('$label key and CSR', ({ algo, usage, sigText, keyText, usages }) => {
  const names = ['www.example.com', 'example.com', '192.0.2.7', '2001:db8::1'];
  let key: string;
  let csr: string;
  beforeAll(async () => {
    key = await generateKey(algo);
    csr = await createCsr(key, names, algo, usage);
  });

  it('the private key is PKCS#8 and passes openssl pkey -check', () => {
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    pkeyCheck(key);
  });

  it('keyAlgoOfPem recognises the key', async () => {
    expect(await keyAlgoOfPem(key)).toEqual(algo);
  });

  it('OpenSSL verifies the CSR signature', () => {
    expect(reqVerify(csr, algo.kind === 'sm2')).toMatch(/verify OK/);
  });

  it('OpenSSL rejects a tampered CSR', () => {
    const out = reqVerify(tamper(csr), algo.kind === 'sm2');
    expect(out).not.toMatch(/verify OK/);
    expect(out).toMatch(/verify failure|bad signature|error/i);
  });

  it('has CN, SAN with DNS and IP names, the right key usage and algorithms', () => {
    const text = reqText(csr);
    expect(text).toMatch(/Subject: CN\s?=\s?www\.example\.com/);
    expect(text).toContain('DNS:www.example.com, DNS:example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1');
    expect(text).toMatch(new RegExp(`X509v3 Key Usage: critical\\s+${usages}\\n`));
    expect(text).toMatch(sigText);
    expect(text).toMatch(keyText);
  });
});

describe('createCsr input checks', () => {
  it('refuses a key of another kind than the algorithm says', async () => {
    const ec = await generateKey({ kind: 'ecdsa', curve: 'P-256' });
    await expect(createCsr(ec, ['example.com'], { kind: 'rsa', bits: 2048 })).rejects.toBeInstanceOf(InputError);
    await expect(createCsr(ec, ['example.com'], { kind: 'ecdsa', curve: 'P-384' })).rejects.toBeInstanceOf(InputError);
    await expect(createCsr(ec, ['example.com'], { kind: 'sm2' })).rejects.toBeInstanceOf(InputError);
    const sm2 = await generateKey({ kind: 'sm2' });
    await expect(createCsr(sm2, ['example.com'], { kind: 'ecdsa', curve: 'P-256' })).rejects.toBeInstanceOf(InputError);
  });

  it('leaves CN out when the first name is longer than 64 characters, and marks the SAN critical', async () => {
    const long = `${'a'.repeat(60)}.example.com`;
    const key = await generateKey({ kind: 'ecdsa', curve: 'P-256' });
    const csr = await createCsr(key, [long], { kind: 'ecdsa', curve: 'P-256' });
    const text = reqText(csr);
    expect(text).not.toMatch(/CN\s?=/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+DNS:a{60}\.example\.com/);
    expect(reqVerify(csr)).toMatch(/verify OK/);
  });

  it('reads keys OpenSSL made: SM2 (genpkey), RSA PKCS#1, EC SEC1', async () => {
    const sm2 = path.join(dir, 'ossl-sm2.pem');
    openssl(['genpkey', '-algorithm', 'SM2', '-out', sm2]);
    expect(await keyAlgoOfPem(fs.readFileSync(sm2, 'utf8'))).toEqual({ kind: 'sm2' });
    const rsa = path.join(dir, 'ossl-rsa.pem');
    openssl(['genrsa', '-traditional', '-out', rsa, '3072']);
    expect(fs.readFileSync(rsa, 'utf8')).toMatch(/BEGIN RSA PRIVATE KEY/);
    expect(await keyAlgoOfPem(fs.readFileSync(rsa, 'utf8'))).toEqual({ kind: 'rsa', bits: 3072 });
    const ec = path.join(dir, 'ossl-ec.pem');
    openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', ec]);
    expect(await keyAlgoOfPem(fs.readFileSync(ec, 'utf8'))).toEqual({ kind: 'ecdsa', curve: 'P-384' });
    // an SM2 key OpenSSL wrote is usable for a CSR that OpenSSL then verifies
    const csr = await createCsr(fs.readFileSync(sm2, 'utf8'), ['example.com'], { kind: 'sm2' });
    expect(reqVerify(csr, true)).toMatch(/verify OK/);
  });

  it('refuses keys certctl does not issue for', async () => {
    const ed = path.join(dir, 'ed.pem');
    openssl(['genpkey', '-algorithm', 'ed25519', '-out', ed]);
    await expect(keyAlgoOfPem(fs.readFileSync(ed, 'utf8'))).rejects.toBeInstanceOf(InputError);
    const k = path.join(dir, 'k521.pem');
    openssl(['ecparam', '-name', 'secp521r1', '-genkey', '-noout', '-out', k]);
    await expect(keyAlgoOfPem(fs.readFileSync(k, 'utf8'))).rejects.toThrow(/secp521r1/);
    await expect(keyAlgoOfPem('not a key')).rejects.toBeInstanceOf(InputError);
  });
});

describe('parseKeyType', () => {
  it('accepts the documented forms', () => {
    expect(parseKeyType('rsa').text).toBe('rsa:2048');
    expect(parseKeyType('ecdsa:p384').parts).toEqual([{ role: 'main', algo: { kind: 'ecdsa', curve: 'P-384' } }]);
    expect(parseKeyType('dual').parts.map((p) => p.algo.kind)).toEqual(['rsa', 'ecdsa']);
    expect(parseKeyType('sm2').parts.map((p) => p.role)).toEqual(['main', 'sm2-sign', 'sm2-enc']);
  });
  it('refuses anything else with the accepted list', () => {
    expect(() => parseKeyType('rsa:1024')).toThrow(/Unknown key type/);
    expect(() => parseKeyType('dsa')).toThrow(InputError);
  });
});

describe('der.ts writes DER as node-forge does, without loading it', () => {
  it('every node kind the key code builds, and parsed nodes re-encoded, are byte-identical to forge.asn1.toDer', async () => {
    const forge = (await import('node-forge')).default;
    const der = await import('../../src/core/keys/der.js');
    const { ipBytes } = await import('../../src/core/keys/csr.js');
    const viaForge = (n: unknown) => Buffer.from(forge.asn1.toDer(n as never).getBytes(), 'binary');
    const spki = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const long = der.octets(Buffer.alloc(300, 7)); // long-form length
    const tree = der.seq(
      der.smallInt(0), der.smallInt(2), der.smallInt(-1), der.smallInt(200), der.smallInt(70000), der.smallInt(-(2 ** 31)),
      der.uint(Buffer.from([0, 0, 0x81])), der.uint(Buffer.from([1, 2])), der.nul(), der.bool(true), der.bool(false),
      der.oid('1.2.840.10045.4.3.2'), der.oid('2.5.29.17'), der.oid('2.999.4294967295'), der.utf8('ACME é ✓'),
      der.bitString(Buffer.from([0x80]), 7), der.set(der.seq(der.oid('2.5.4.3'), der.utf8('a.example'))),
      der.tagged(0, true, [der.seq()]), der.tagged(2, false, Buffer.from('a.example.test')), long,
      der.seq(der.seq(der.seq(long, long))),
    );
    expect(der.toDer(tree)).toEqual(viaForge(tree));
    // Parsed nodes (with forge's bitStringContents) re-encode as forge does; a raw SPKI is written as given.
    expect(der.toDer(der.fromDer(spki))).toEqual(Buffer.from(spki));
    expect(der.toDer(der.seq(der.rawDer(spki), der.smallInt(1)))).toEqual(viaForge(der.seq(der.fromDer(spki), der.smallInt(1))));
    expect(der.CLASS).toEqual({ UNIVERSAL: forge.asn1.Class.UNIVERSAL, CONTEXT_SPECIFIC: forge.asn1.Class.CONTEXT_SPECIFIC });
    for (const [k, v] of Object.entries(der.TYPE)) expect([k, v]).toEqual([k, (forge.asn1.Type as Record<string, number>)[k]]);
    for (const ip of ['192.0.2.1', '2001:db8::1', '::1', '::', 'fe80::1:2:3:4', '1:2:3:4:5:6:7:8', '2001:db8:0:0:1::']) {
      const f = (forge.util as unknown as { bytesFromIP(ip: string): string | null }).bytesFromIP(ip);
      expect([ip, ipBytes(ip)?.toString('hex')]).toEqual([ip, Buffer.from(f!, 'binary').toString('hex')]);
    }
    // forge had no bytes for an IPv6 address with an IPv4 tail (a refusal); it is encoded now.
    expect(ipBytes('::ffff:192.0.2.7')?.toString('hex')).toBe('00000000000000000000ffffc0000207');
    expect(ipBytes('a.example')).toBeNull();
  });

  it('an ECDSA key and CSR are made without node-forge (a fresh process)', () => {
    const code = `
      import { createRequire } from 'node:module';
      const { generateKey, createCsr, parseKeyType } = await import(${JSON.stringify(path.resolve('dist/core/keys/index.js'))});
      const algo = parseKeyType('ecdsa:p256').parts[0].algo;
      const key = await generateKey(algo);
      const csr = await createCsr(key, ['a.example.test', 'www.a.example.test', '192.0.2.1'], algo);
      const forge = Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules[\\\\/]node-forge[\\\\/]/.test(f)).length;
      console.log(JSON.stringify({ forge, csr: csr.startsWith('-----BEGIN CERTIFICATE REQUEST-----') }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect({ err: r.stderr, out: r.stdout.trim() }).toEqual({ err: '', out: JSON.stringify({ forge: 0, csr: true }) });
  });
});
