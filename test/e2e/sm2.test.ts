/**
 * The SM2 bundle end to end: the built CLI (`--ca sm2acme --key-type sm2`)
 * against certctl's SM2 ACME test server (testkit/sm2-acme-server.ts),
 * with real http-01 validation through pebble-challtestsrv DNS and a web
 * server serving the webroot. Two variants: the CA certifies the client's
 * encryption CSR, or it makes the encryption key and sends an
 * SM2EnvelopedKey. Every certificate is checked by OpenSSL 3 with the
 * GM/T 0009 signer ID (../shared/reference/sm2.md).
 *
 * The test server seals envelopes with certctl's own code
 * (src/core/keys/envelope.ts), so the envelope format is also checked
 * against an independent implementation, OpenSSL 3: an envelope built from
 * OpenSSL's SM2 encryption (`pkeyutl -encrypt`, GM/T 0009 SM2Cipher DER) and
 * SM4-ECB (`enc -sm4-ecb`) is opened by certctl's decoder, and an envelope
 * from certctl's encoder is opened by OpenSSL.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { startChallTestSrv, type ChallTestSrv } from '../../testkit/challtestsrv.js';
import { startWebroot, type Webroot } from '../../testkit/webroot.js';
import { startSm2AcmeServer, type Sm2AcmeServer } from '../../testkit/sm2-acme-server.js';
import forge from 'node-forge';
import { splitPemChain } from '../../src/core/x509.js';
import { openEnvelopedKey, makeEnvelopedKey, EnvelopedKeyError, SM4_ECB_OID } from '../../src/core/keys/envelope.js';
import { runCli, tempDir } from '../helpers/cli.js';

const DISTID = 'distid:1234567812345678';
const NAMES = ['sm2.example.test', 'www.sm2.example.test'];
const LINEAGE = 'sm2.example.test';

let dns: ChallTestSrv;
let web: Webroot;

beforeAll(async () => {
  dns = await startChallTestSrv();
  web = await startWebroot();
});
afterAll(async () => {
  await web?.stop();
  await dns?.stop();
});

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8' });
}
/** OpenSSL with binary stdin/stdout. */
function opensslBin(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, { input, maxBuffer: 1 << 20 });
}
/** An SM2 key pair made by OpenSSL: PEM file, private scalar d and public point 04||X||Y (hex), as `openssl pkey -text` prints them. */
function opensslSm2Key(dir: string, name: string): { file: string; pubFile: string; d: string; pub: string } {
  const file = path.join(dir, `${name}.key`);
  const pubFile = path.join(dir, `${name}.pub`);
  openssl(['genpkey', '-algorithm', 'SM2', '-out', file]);
  openssl(['pkey', '-in', file, '-pubout', '-out', pubFile]);
  const text = openssl(['pkey', '-in', file, '-text', '-noout']);
  const hex = (label: string, next: string) => new RegExp(`${label}:\\n([\\s0-9a-f:]+?)\\n${next}`).exec(text)![1]!.replace(/[\s:]/g, '');
  const d = hex('priv', 'pub').padStart(64, '0').slice(-64);
  const pub = hex('pub', 'ASN1 OID');
  expect(pub).toMatch(/^04[0-9a-f]{128}$/);
  return { file, pubFile, d, pub };
}
/** DER of SM2EnvelopedKey built with node-forge from parts (not certctl's der.ts). */
function envelopeDer(sm2CipherDer: Buffer, encPub: string, sealed: Buffer): Buffer {
  const A = forge.asn1;
  const bits = (b: Buffer) => A.create(A.Class.UNIVERSAL, A.Type.BITSTRING, false, '\x00' + b.toString('binary'));
  const env = A.create(A.Class.UNIVERSAL, A.Type.SEQUENCE, true, [
    A.create(A.Class.UNIVERSAL, A.Type.SEQUENCE, true, [A.create(A.Class.UNIVERSAL, A.Type.OID, false, A.oidToDer(SM4_ECB_OID).getBytes())]),
    A.fromDer(sm2CipherDer.toString('binary')),
    bits(Buffer.from(encPub, 'hex')),
    bits(sealed),
  ]);
  return Buffer.from(A.toDer(env).getBytes(), 'binary');
}

describe('SM2EnvelopedKey against OpenSSL 3 (an independent implementation)', () => {
  it("certctl opens an envelope built with OpenSSL's SM2 encryption and SM4-ECB, and gets OpenSSL's key back", () => {
    const dir = tempDir('certctl-sm2-env-');
    const sign = opensslSm2Key(dir, 'sign');
    const enc = opensslSm2Key(dir, 'enc');
    const symKey = Buffer.from(forge.random.getBytesSync(16), 'binary');
    // The SM4 key, SM2-encrypted to the signing public key by OpenSSL: GM/T 0009 SM2Cipher DER.
    const cipher = opensslBin(['pkeyutl', '-encrypt', '-pubin', '-inkey', sign.pubFile], symKey);
    // The encryption private key, SM4-ECB without padding, by OpenSSL.
    const sealed = opensslBin(['enc', '-sm4-ecb', '-nopad', '-K', symKey.toString('hex')], Buffer.from(enc.d, 'hex'));
    expect(sealed).toHaveLength(32);
    const der = envelopeDer(cipher, enc.pub, sealed);

    const opened = openEnvelopedKey(der, fs.readFileSync(sign.file, 'utf8'));
    expect(opened.publicKeyHex).toBe(enc.pub);
    // OpenSSL reads the key certctl recovered as the very key it made.
    const openedFile = path.join(dir, 'opened.key');
    fs.writeFileSync(openedFile, opened.privateKeyPem, { mode: 0o600 });
    expect(openssl(['pkey', '-in', openedFile, '-check', '-noout'])).toMatch(/Key is valid/);
    expect(openssl(['pkey', '-in', openedFile, '-pubout'])).toBe(fs.readFileSync(enc.pubFile, 'utf8'));
    // And it decrypts what OpenSSL encrypts to the encryption public key.
    const msg = Buffer.from('certctl sm2 enc key check');
    const ct = opensslBin(['pkeyutl', '-encrypt', '-pubin', '-inkey', enc.pubFile], msg);
    expect(opensslBin(['pkeyutl', '-decrypt', '-inkey', openedFile], ct)).toEqual(msg);

    // Sealed to another signing key: refused with a clear error, no key.
    const other = opensslSm2Key(dir, 'other');
    expect(() => openEnvelopedKey(der, fs.readFileSync(other.file, 'utf8'))).toThrow(EnvelopedKeyError);
    expect(() => openEnvelopedKey(der, fs.readFileSync(other.file, 'utf8'))).toThrow(/does not decrypt with this signing key/);
  });

  it("OpenSSL opens an envelope made by certctl's encoder (the one the SM2 test server sends)", () => {
    const dir = tempDir('certctl-sm2-env-');
    const sign = opensslSm2Key(dir, 'sign');
    const enc = opensslSm2Key(dir, 'enc');
    const der = makeEnvelopedKey(enc.d, enc.pub, sign.pub);
    const env = forge.asn1.fromDer(der.toString('binary'));
    const parts = env.value as forge.asn1.Asn1[];
    expect(parts).toHaveLength(4);
    expect(forge.asn1.derToOid((parts[0]!.value as forge.asn1.Asn1[])[0]!.value as string)).toBe(SM4_ECB_OID);
    // symEncryptedKey is an SM2Cipher OpenSSL decrypts with the signing private key.
    const cipherDer = Buffer.from(forge.asn1.toDer(parts[1]!).getBytes(), 'binary');
    const symKey = opensslBin(['pkeyutl', '-decrypt', '-inkey', sign.file], cipherDer);
    expect(symKey).toHaveLength(16);
    const bitsOf = (n: forge.asn1.Asn1) => Buffer.from((n.value as string).slice(1), 'binary');
    expect(bitsOf(parts[2]!).toString('hex')).toBe(enc.pub);
    // sm2EncryptedPrivateKey is the private scalar under SM4-ECB, as OpenSSL decrypts it.
    const d = opensslBin(['enc', '-d', '-sm4-ecb', '-nopad', '-K', symKey.toString('hex')], bitsOf(parts[3]!));
    expect(d.toString('hex')).toBe(enc.d);
  });
});

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe.each([
  { variant: 'client encryption CSR', envelopedKey: false },
  { variant: 'CA-made encryption key (SM2EnvelopedKey)', envelopedKey: true },
])('SM2 bundle: $variant', ({ envelopedKey }) => {
  let srv: Sm2AcmeServer;
  beforeAll(async () => {
    srv = await startSm2AcmeServer({ resolver: dns.resolver, httpPort: web.port, envelopedKey });
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('plans 3, issues three certificates into one lineage, OpenSSL verifies each, one bundle in the ledger', async () => {
    const state = tempDir();
    const dFlags = NAMES.flatMap((n) => ['-d', n]);

    const plan = await runCli(['--state-dir', state, '--json', 'plan', '--ca', 'sm2acme', '--server', srv.directoryUrl, '--key-type', 'sm2', ...dFlags]);
    expect(plan.code).toBe(0);
    const pdoc = JSON.parse(plan.stdout);
    expect(pdoc.plans[0]).toMatchObject({ keyType: 'sm2', parts: 3, ca: { id: 'sm2acme' }, policy: { id: 'sm2acme' } });
    for (const name of ['certificates-per-domain', 'duplicate-certificates', 'new-orders']) {
      expect(pdoc.plans[0].limits.find((l: { name: string }) => l.name === name), name).toMatchObject({ spend: 3 });
    }

    const r = await runCli([
      // The SM2 ACME Service issues one key type only: one variant leaves --key-type out and must still get the sm2 bundle.
      '--state-dir', state, 'issue', '--ca', 'sm2acme', '--server', srv.directoryUrl, '--ca-bundle', srv.tlsCert, ...(envelopedKey ? [] : ['--key-type', 'sm2']),
      '--webroot', web.dir, '--resolver', dns.resolver, '--http-port', String(web.port), ...dFlags,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Ordering 3 certificates/);
    expect(r.stdout).toMatch(/Issued sm2\.example\.test \(sm2-sign\)/);
    expect(r.stdout).toMatch(/Issued sm2\.example\.test \(sm2-enc\)/);

    // What reached the server: three orders, three finalize calls, http-01 fetched from the webroot.
    expect(srv.stats.orders).toBe(3);
    expect(srv.stats.finalize).toBe(3);
    // Each finalize was answered valid with the certificate's URL (issued before answering): no
    // order was polled. (With a CA-made encryption key, that order may still be processing at its
    // finalize, depending on which part came first: polled or not, so not counted.)
    if (!envelopedKey) expect(srv.stats.orderReads).toBe(0);
    expect(srv.stats.issued.map((i) => i.role).sort()).toEqual(['main', 'sm2-enc', 'sm2-sign']);
    expect(srv.stats.issued.find((i) => i.role === 'sm2-enc')!.enveloped).toBe(envelopedKey);
    expect(srv.stats.envelopesServed).toBe(envelopedKey ? 1 : 0);
    expect(web.hits.filter((h) => h.startsWith('/.well-known/acme-challenge/')).length).toBeGreaterThanOrEqual(6);

    const live = path.join(state, 'live', LINEAGE);
    const archive = path.join(state, 'archive', LINEAGE);
    const f = (n: string) => path.join(live, n);
    for (const n of ['sign.pem', 'sign.key', 'enc.pem', 'enc.key', 'double_certs.pem', 'sm2-chain.pem', 'cert.pem', 'chain.pem', 'fullchain.pem', 'privkey.pem']) {
      expect(fs.lstatSync(f(n)).isSymbolicLink(), n).toBe(true);
    }
    for (const k of ['sign1.key', 'enc1.key', 'privkey1.pem']) expect(mode(path.join(archive, k)), k).toBe(0o600);
    expect(mode(path.join(archive, 'sign1.pem'))).toBe(0o644);

    // Every SM2 certificate verifies against the SM2 root with the GM/T 0009 ID…
    for (const c of ['sign.pem', 'enc.pem']) {
      const v = spawnSync('openssl', ['verify', '-vfyopt', DISTID, '-CAfile', srv.sm2Root, f(c)], { encoding: 'utf8' });
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toMatch(new RegExp(`${c.replace('.', '\\.')}: OK`));
      // …and not with OpenSSL 3's empty default ID: the ID really is 1234567812345678.
      const noId = spawnSync('openssl', ['verify', '-CAfile', srv.sm2Root, f(c)], { encoding: 'utf8' });
      expect(noId.status).not.toBe(0);
    }
    // The ECDSA certificate against the ECDSA root.
    const ev = spawnSync('openssl', ['verify', '-CAfile', srv.ecRoot, '-untrusted', f('chain.pem'), f('cert.pem')], { encoding: 'utf8' });
    expect(ev.status, ev.stderr).toBe(0);
    expect(ev.stdout).toMatch(/cert\.pem: OK/);

    // Key usages and algorithms, as OpenSSL reads them.
    const signText = openssl(['x509', '-in', f('sign.pem'), '-noout', '-text']);
    const encText = openssl(['x509', '-in', f('enc.pem'), '-noout', '-text']);
    const ecText = openssl(['x509', '-in', f('cert.pem'), '-noout', '-text']);
    expect(signText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation\n/);
    expect(encText).toMatch(/X509v3 Key Usage: \s*\n\s+Key Encipherment, Data Encipherment, Key Agreement\n/);
    for (const t of [signText, encText]) {
      expect(t).toMatch(/Signature Algorithm: SM2-with-SM3/);
      expect(t).toMatch(/ASN1 OID: SM2/);
      expect(t).toMatch(/DNS:sm2\.example\.test, DNS:www\.sm2\.example\.test/);
    }
    expect(ecText).toMatch(/Public Key Algorithm: id-ecPublicKey/);
    expect(ecText).toMatch(/NIST CURVE: P-256/);

    // Keys: valid, and each belongs to its certificate.
    for (const [key, cert] of [['sign.key', 'sign.pem'], ['enc.key', 'enc.pem'], ['privkey.pem', 'cert.pem']] as const) {
      if (key !== 'privkey.pem') expect(openssl(['pkey', '-in', f(key), '-check', '-noout'])).toMatch(/Key is valid/);
      expect(openssl(['pkey', '-in', f(key), '-pubout']), key).toBe(openssl(['x509', '-in', f(cert), '-noout', '-pubkey']));
    }
    // OpenSSL's SM2 encryption to the encryption certificate's public key opens with enc.key
    // (for the envelope variant: the key certctl took out of the CA's SM2EnvelopedKey).
    const msg = Buffer.from('to the enc certificate');
    const sealedMsg = execFileSync('openssl', ['pkeyutl', '-encrypt', '-certin', '-inkey', f('enc.pem')], { input: msg });
    expect(execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', f('enc.key')], { input: sealedMsg })).toEqual(msg);
    // The signing and the encryption key are different keys.
    expect(openssl(['pkey', '-in', f('sign.key'), '-pubout'])).not.toBe(openssl(['pkey', '-in', f('enc.key'), '-pubout']));

    // double_certs.pem: signing certificate, encryption certificate, then the chain.
    const dbl = splitPemChain(fs.readFileSync(f('double_certs.pem'), 'utf8'));
    const signCerts = splitPemChain(fs.readFileSync(f('sign.pem'), 'utf8'));
    expect(dbl).toHaveLength(3);
    expect(dbl[0]).toBe(signCerts[0]);
    expect(dbl[1]).toBe(splitPemChain(fs.readFileSync(f('enc.pem'), 'utf8'))[0]);
    expect(dbl[2]).toBe(fs.readFileSync(f('sm2-chain.pem'), 'utf8'));
    expect(dbl[2]).toBe(fs.readFileSync(srv.sm2Root, 'utf8').trim() + '\n');
    expect(signCerts).toHaveLength(2);

    // Ledger: one bundle of three certificates, three orders done.
    const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
    try {
      const certs = db.prepare('SELECT role, bundle_id, set_key, key_type, serial, order_id FROM certificates ORDER BY role').all() as Record<string, unknown>[];
      expect(certs.map((c) => c.role)).toEqual(['main', 'sm2-enc', 'sm2-sign']);
      expect(certs[0]!.bundle_id).toBeTruthy();
      expect(new Set(certs.map((c) => c.bundle_id)).size).toBe(1);
      expect(new Set(certs.map((c) => c.set_key))).toEqual(new Set(['sm2.example.test,www.sm2.example.test']));
      expect(certs.map((c) => c.key_type)).toEqual(['ecdsa:prime256v1', 'sm2', 'sm2']);
      const serialOf = (file: string) => openssl(['x509', '-in', f(file), '-noout', '-serial']).trim().replace(/^serial=/, '').toLowerCase().replace(/^0+/, '');
      expect(certs.find((c) => c.role === 'sm2-sign')!.serial).toBe(serialOf('sign.pem'));
      expect(certs.find((c) => c.role === 'sm2-enc')!.serial).toBe(serialOf('enc.pem'));
      const orders = db.prepare('SELECT role, state, step, status, bundle_id FROM orders ORDER BY role').all() as Record<string, unknown>[];
      expect(orders).toHaveLength(3);
      for (const o of orders) expect(o).toMatchObject({ state: 'done', step: 'stored', status: 'valid', bundle_id: certs[0]!.bundle_id });
      expect(db.prepare('SELECT key_type FROM lineages').get()).toEqual({ key_type: 'sm2' });
    } finally {
      db.close();
    }
    // The pending order keys are gone once stored.
    expect(fs.readdirSync(path.join(state, 'pending')).filter((n) => n.endsWith('.key'))).toEqual([]);

    // After issuing, the planner counts the three from the ledger.
    const again = await runCli(['--state-dir', state, '--json', 'plan', '--ca', 'sm2acme', '--server', srv.directoryUrl, '--key-type', 'sm2', '--force-renewal', ...dFlags]);
    const dup = JSON.parse(again.stdout).plans[0].limits.find((l: { name: string }) => l.name === 'duplicate-certificates');
    expect(dup).toMatchObject({ used: 3, spend: 3 });

    // The Tengine/Tongsuo snippet names the files that are there.
    const sn = await runCli(['--state-dir', state, 'status', '--nginx', LINEAGE]);
    expect(sn.code).toBe(0);
    expect(sn.stderr).toBe('');
    expect(sn.stdout).toMatch(/enable_ntls on;/);
    expect(sn.stdout).toContain(`ssl_sign_certificate     ${f('sign.pem')};`);
    expect(sn.stdout).toContain(`ssl_enc_certificate_key  ${f('enc.key')};`);
  });
});
