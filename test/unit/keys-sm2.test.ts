/**
 * SM2 cross-checks: OpenSSL-made signatures verified by certctl, certctl's
 * verified by OpenSSL, many random keys for the leading-zero r/s and d
 * encodings, and the SM2EnvelopedKey round trip.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateKey } from '../../src/core/keys/index.js';
import { generateSm2KeyPair, readSm2PrivateKey, SM2_OID, sm2PrivateKeyToPem, sm2PublicKeyOf, sm2Sign, sm2Spki, sm2Verify, verifySm2Csr } from '../../src/core/keys/sm2.js';
import { buildCsr, KEY_USAGES } from '../../src/core/keys/csr.js';
import { oid, seq } from '../../src/core/keys/der.js';
import { EnvelopedKeyError, makeEnvelopedKey, openEnvelopedKey } from '../../src/core/keys/envelope.js';

const DISTID = 'distid:1234567812345678';
let dir: string;
let n = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-sm2-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(content: string | Buffer): string {
  const f = path.join(dir, `f${n++}.pem`);
  fs.writeFileSync(f, content);
  return f;
}
function openssl(args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.stdout + r.stderr;
}
const opensslVerifies = (csr: string) => openssl(['req', '-in', file(csr), '-noout', '-verify', '-vfyopt', DISTID]).includes('verify OK');
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;

/** r and s of a CSR's signature: the last BIT STRING's SEQUENCE { INTEGER r, INTEGER s } (short-form lengths, as 32-byte SM2 values always are). */
function rsOf(csrPem: string): { r: Buffer; s: Buffer } {
  const der = derOf(csrPem);
  // The signature BIT STRING is the last element: 03 len 00 30 len 02 lr r 02 ls s
  for (let i = der.length - 80; i < der.length; i++) {
    if (der[i] === 0x03 && der[i + 2] === 0x00 && der[i + 3] === 0x30 && i + 2 + der[i + 1]! === der.length) {
      const lr = der[i + 6]!;
      const r = der.subarray(i + 7, i + 7 + lr);
      const ls = der[i + 8 + lr]!;
      const s = der.subarray(i + 9 + lr, i + 9 + lr + ls);
      return { r, s };
    }
  }
  throw new Error('signature not found');
}
/** Bytes of the value without DER's sign pad. */
const magnitude = (v: Buffer) => (v[0] === 0 ? v.length - 1 : v.length);
/** Strict DER INTEGER content: no redundant 0x00, positive. */
function minimal(v: Buffer): boolean {
  if (v.length === 0 || v[0]! & 0x80) return false;
  return !(v.length > 1 && v[0] === 0 && !(v[1]! & 0x80));
}

describe('SM2 signatures cross-checked with OpenSSL 3', () => {
  it('certctl verifies a CSR OpenSSL signed with the standard ID, and rejects it when tampered', () => {
    const key = file(openssl(['genpkey', '-algorithm', 'SM2']));
    const out = path.join(dir, 'ossl.csr');
    openssl(['req', '-new', '-key', key, '-sm3', '-sigopt', DISTID, '-subj', '/CN=example.com', '-out', out]);
    const csr = fs.readFileSync(out, 'utf8');
    expect(opensslVerifies(csr)).toBe(true);
    expect(verifySm2Csr(csr)).toBe(true);
    const der = derOf(csr);
    der[der.indexOf(Buffer.from('example'))] ^= 1;
    expect(verifySm2Csr(pemOf(der))).toBe(false);
    // the same CSR checked against another ID fails: the ID is really part of what is verified
    expect(verifySm2Csr(csr, '')).toBe(false);
  });

  it('certctl and OpenSSL agree on a CSR OpenSSL signed with the empty ID (OpenSSL 3 default)', () => {
    const key = file(openssl(['genpkey', '-algorithm', 'SM2']));
    const out = path.join(dir, 'ossl-noid.csr');
    openssl(['req', '-new', '-key', key, '-sm3', '-subj', '/CN=example.com', '-out', out]);
    const csr = fs.readFileSync(out, 'utf8');
    expect(verifySm2Csr(csr)).toBe(false);
    expect(opensslVerifies(csr)).toBe(false);
  });

  it('OpenSSL verifies certctl CSRs, and a tampered one does not print verify OK', async () => {
    const key = await generateKey({ kind: 'sm2' });
    const csr = await createCsr(key, ['example.com', 'www.example.com'], { kind: 'sm2' });
    expect(verifySm2Csr(csr)).toBe(true);
    expect(opensslVerifies(csr)).toBe(true);
    const der = derOf(csr);
    der[der.indexOf(Buffer.from('example'))] ^= 1;
    expect(verifySm2Csr(pemOf(der))).toBe(false);
    const out = openssl(['req', '-in', file(pemOf(der)), '-noout', '-verify', '-vfyopt', DISTID]);
    expect(out).not.toContain('verify OK');
  });

  it('verifySm2Csr refuses non-SM2 CSRs and garbage instead of throwing', async () => {
    const ec = await generateKey({ kind: 'ecdsa', curve: 'P-256' });
    expect(verifySm2Csr(await createCsr(ec, ['example.com'], { kind: 'ecdsa', curve: 'P-256' }))).toBe(false);
    expect(verifySm2Csr('nonsense')).toBe(false);
    expect(verifySm2Csr(pemOf(randomBytes(100)))).toBe(false);
  });

  it('sm2Sign/sm2Verify: bytes in, wrong key or wrong ID refused', () => {
    const a = generateSm2KeyPair();
    const b = generateSm2KeyPair();
    const msg = randomBytes(100);
    const sig = sm2Sign(msg, a);
    expect(sm2Verify(msg, sig, a.publicKeyHex)).toBe(true);
    expect(sm2Verify(msg, sig, b.publicKeyHex)).toBe(false);
    expect(sm2Verify(msg, sig, a.publicKeyHex, 'another-id')).toBe(false);
    expect(sm2Verify(Buffer.concat([msg, Buffer.from([0])]), sig, a.publicKeyHex)).toBe(false);
    // Uint8Array and Buffer of the same bytes are the same message (never read as text)
    expect(sm2Verify(new Uint8Array(msg), sig, a.publicKeyHex)).toBe(true);
  });
});

describe('many random SM2 keys (leading-zero encodings)', () => {
  it('200 keys: every CSR verifies with certctl, 20 with OpenSSL; every r and s is strict DER', async () => {
    let padded = 0;
    for (let i = 0; i < 200; i++) {
      const key = await generateKey({ kind: 'sm2' });
      const csr = await createCsr(key, [`h${i}.example.com`], { kind: 'sm2' }, i % 2 ? 'enc' : 'sign');
      expect(verifySm2Csr(csr), `CSR ${i}`).toBe(true);
      const { r, s } = rsOf(csr);
      expect(minimal(r) && minimal(s), `r/s of CSR ${i} are strict DER`).toBe(true);
      if (r[0] === 0 || s[0] === 0) padded++;
      if (i % 10 === 0) expect(opensslVerifies(csr), `OpenSSL on CSR ${i}`).toBe(true);
    }
    // half of all values have the top bit set and need a 0x00 pad: the loop exercised that path
    expect(padded).toBeGreaterThan(50);
  });

  it('signatures whose r or s is shorter than 32 bytes (high zero byte) verify with OpenSSL', () => {
    // r or s < 2^248 happens once in ~128 signatures: re-sign the same request until it does.
    const key = generateSm2KeyPair();
    for (const which of ['r', 's'] as const) {
      let tries = 0;
      const csr = buildCsr(['example.com'], KEY_USAGES['sm2-sign'], {
        spki: sm2Spki(key.publicKeyHex),
        algorithm: seq(oid(SM2_OID.sm3WithSm2)),
        sign(tbs) {
          for (;;) {
            tries++;
            const sig = sm2Sign(tbs, key);
            const rLen = sig[3]!;
            const value = which === 'r' ? sig.subarray(4, 4 + rLen) : sig.subarray(6 + rLen, 6 + rLen + sig[5 + rLen]!);
            if (magnitude(value) < 32) return sig;
            if (tries > 5000) throw new Error('no short value in 5000 signatures');
          }
        },
      });
      const rs = rsOf(csr);
      expect(magnitude(rs[which]), `${which} is below 2^248`).toBeLessThan(32);
      expect(minimal(rs.r) && minimal(rs.s)).toBe(true);
      expect(verifySm2Csr(csr)).toBe(true);
      expect(opensslVerifies(csr)).toBe(true);
    }
  }, 240_000); // pure-JS SM2 signing, a few hundred signatures: slow on a loaded machine (not a timed assertion)

  it('a private key with leading zero bytes is written as 32 bytes and works everywhere', async () => {
    const d = '0000' + randomBytes(30).toString('hex');
    const pem = sm2PrivateKeyToPem(d);
    expect(openssl(['pkey', '-in', file(pem), '-check', '-noout'])).toMatch(/Key is valid/);
    expect(readSm2PrivateKey(pem)).toEqual({ privateKeyHex: d, publicKeyHex: sm2PublicKeyOf(d) });
    const csr = await createCsr(pem, ['example.com'], { kind: 'sm2' });
    expect(opensslVerifies(csr)).toBe(true);
    expect(verifySm2Csr(csr)).toBe(true);
  });

  it('the public key OpenSSL derives from a certctl key is the one certctl puts in the CSR', async () => {
    const pem = await generateKey({ kind: 'sm2' });
    const r = spawnSync('openssl', ['pkey', '-in', file(pem), '-pubout', '-outform', 'DER']);
    const spki = r.stdout as Buffer;
    const { publicKeyHex } = readSm2PrivateKey(pem);
    expect(spki.subarray(spki.length - 65).toString('hex')).toBe(publicKeyHex);
  });
});

describe('SM2EnvelopedKey (GM/T 0009)', () => {
  it('round-trips: the encryption key opened with the signing key is the one sealed', () => {
    const sign = generateSm2KeyPair();
    const enc = generateSm2KeyPair();
    const env = makeEnvelopedKey(enc.privateKeyHex, enc.publicKeyHex, sign.publicKeyHex);
    const opened = openEnvelopedKey(env, sign.privateKeyHex);
    expect(opened.publicKeyHex).toBe(enc.publicKeyHex);
    expect(readSm2PrivateKey(opened.privateKeyPem)).toEqual(enc);
    expect(openssl(['pkey', '-in', file(opened.privateKeyPem), '-check', '-noout'])).toMatch(/Key is valid/);
    // the signing key as PEM works too
    expect(openEnvelopedKey(env, sm2PrivateKeyToPem(sign.privateKeyHex)).publicKeyHex).toBe(enc.publicKeyHex);
  });

  it('has the GM/T 0009 structure (as OpenSSL parses it)', () => {
    const sign = generateSm2KeyPair();
    const enc = generateSm2KeyPair();
    const out = openssl(['asn1parse', '-inform', 'DER', '-in', file(makeEnvelopedKey(enc.privateKeyHex, enc.publicKeyHex, sign.publicKeyHex))]);
    expect(out).toMatch(/OBJECT\s+:(sm4-ecb|1\.2\.156\.10197\.1\.104\.1)\n/);
    expect(out.match(/prim: INTEGER/g)).toHaveLength(2);
    expect(out).toMatch(/l=\s*32 prim: OCTET STRING/);
    expect(out).toMatch(/l=\s*16 prim: OCTET STRING/);
    expect(out).toMatch(/l=\s*66 prim: BIT STRING/);
    expect(out).toMatch(/l=\s*33 prim: BIT STRING/);
  });

  it('round-trips 30 random pairs (leading-zero x/y in SM2Cipher)', () => {
    for (let i = 0; i < 30; i++) {
      const sign = generateSm2KeyPair();
      const enc = generateSm2KeyPair();
      expect(openEnvelopedKey(makeEnvelopedKey(enc.privateKeyHex, enc.publicKeyHex, sign.publicKeyHex), sign.privateKeyHex).publicKeyHex).toBe(enc.publicKeyHex);
    }
  });

  it('refuses the wrong signing key, a tampered envelope, a mismatched public key', () => {
    const sign = generateSm2KeyPair();
    const other = generateSm2KeyPair();
    const enc = generateSm2KeyPair();
    const env = makeEnvelopedKey(enc.privateKeyHex, enc.publicKeyHex, sign.publicKeyHex);
    expect(() => openEnvelopedKey(env, other.privateKeyHex)).toThrow(/does not decrypt/);
    const flipped = Buffer.from(env);
    flipped[flipped.length - 1]! ^= 1; // inside the encrypted private key
    expect(() => openEnvelopedKey(flipped, sign.privateKeyHex)).toThrow(EnvelopedKeyError);
    // swap in another public key (same length, so the DER stays well formed)
    const swapped = Buffer.from(env);
    const at = swapped.indexOf(Buffer.from(enc.publicKeyHex, 'hex'));
    Buffer.from(other.publicKeyHex, 'hex').copy(swapped, at);
    expect(() => openEnvelopedKey(swapped, sign.privateKeyHex)).toThrow(/does not match sm2PublicKey/);
    expect(() => openEnvelopedKey(randomBytes(40), sign.privateKeyHex)).toThrow(EnvelopedKeyError);
  });
});
