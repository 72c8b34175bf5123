/**
 * The SM2 ACME profile module on its own: the lineage files of the SM2
 * parts, the enveloped-key resource format, the download hook and the bundle
 * step (open the envelope with the signing key, check keys against
 * certificates, double_certs.pem). Certificates come from an SM2 CA made with
 * the OpenSSL 3 CLI, CSRs and keys from certctl's own key code.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKey, createCsr } from '../../src/core/keys/index.js';
import { readSm2PrivateKey } from '../../src/core/keys/sm2.js';
import { makeEnvelopedKey } from '../../src/core/keys/envelope.js';
import { toPem } from '../../src/core/keys/der.js';
import { CertctlError } from '../../src/core/errors.js';
import { ENVELOPED_KEY_FIELD, ENVELOPED_KEY_PEM_LABEL, envelopeDer, fetchEnvelopedKey, isSm2Role, sm2BundleStep, sm2PartFiles, sm2PublicKeyOfCert, type BundlePart } from '../../src/core/ca/sm2acme.js';

const DISTID = 'distid:1234567812345678';
const NAMES = ['gm.example.test', 'www.gm.example.test'];
let dir: string;
let caPem: string;

function issue(csrPem: string, usage: 'sign' | 'enc'): string {
  const csr = path.join(dir, `r${Math.random()}.csr`);
  const ext = path.join(dir, `e${Math.random()}.cnf`);
  fs.writeFileSync(csr, csrPem);
  fs.writeFileSync(ext, `keyUsage=${usage === 'sign' ? 'critical,digitalSignature,nonRepudiation' : 'keyEncipherment,dataEncipherment,keyAgreement'}\nsubjectAltName=${NAMES.map((n) => `DNS:${n}`).join(',')}\n`);
  const out = path.join(dir, `c${Math.random()}.pem`);
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.pem'), '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial', '-sm3', '-sigopt', DISTID, '-vfyopt', DISTID, '-days', '3', '-extfile', ext, '-out', out], { stdio: 'ignore' });
  return fs.readFileSync(out, 'utf8') + caPem;
}

function part(role: string, keyPem: string, chainPem: string, envelopedKey?: Buffer): BundlePart {
  return { role, keyPem, chainPem, facts: { keyType: 'unknown' }, ...(envelopedKey ? { envelopedKey } : {}) };
}

let signKey: string;
let signChain: string;
let encKey: string;
let encChain: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-sm2acme-unit-'));
  execFileSync('openssl', ['genpkey', '-algorithm', 'SM2', '-out', path.join(dir, 'ca.key')]);
  execFileSync('openssl', ['req', '-new', '-x509', '-key', path.join(dir, 'ca.key'), '-sm3', '-sigopt', DISTID, '-subj', '/CN=unit SM2 CA', '-days', '3', '-out', path.join(dir, 'ca.pem')]);
  caPem = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
  signKey = await generateKey({ kind: 'sm2' });
  encKey = await generateKey({ kind: 'sm2' });
  signChain = issue(await createCsr(signKey, NAMES, { kind: 'sm2' }, 'sign'), 'sign');
  encChain = issue(await createCsr(encKey, NAMES, { kind: 'sm2' }, 'enc'), 'enc');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('sm2PartFiles', () => {
  it('signing part: sign.pem = leaf + chain, sign.key secret, sm2-chain.pem; encryption part: enc.pem leaf, enc.key secret', () => {
    const s = sm2PartFiles('sm2-sign', 'KEY', signChain);
    expect(s.map((f) => `${f.base}${f.ext}`)).toEqual(['sign.pem', 'sign.key', 'sm2-chain.pem']);
    expect(s.find((f) => f.ext === '.key')!.secret).toBe(true);
    expect(s[0]!.data).toBe(signChain);
    expect(s[2]!.data).toBe(caPem.trim() + '\n');
    const e = sm2PartFiles('sm2-enc', 'KEY', encChain);
    expect(e.map((f) => `${f.base}${f.ext}`)).toEqual(['enc.pem', 'enc.key']);
    expect(e[0]!.data.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(e[1]).toMatchObject({ data: 'KEY', secret: true });
    // The store reads trailing digits of a base name as the version: none may end in one.
    for (const f of [...s, ...e]) expect(f.base).not.toMatch(/\d$/);
  });
  it('knows its roles', () => {
    expect(isSm2Role('sm2-sign') && isSm2Role('sm2-enc')).toBe(true);
    expect(isSm2Role('main') || isSm2Role('ecdsa')).toBe(false);
  });
});

describe('enveloped-key resource', () => {
  it('reads the DER out of the PEM block, refuses anything else', () => {
    const der = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x05]);
    expect(envelopeDer(toPem(ENVELOPED_KEY_PEM_LABEL, der))).toEqual(der);
    expect(envelopeDer(Buffer.from(toPem(ENVELOPED_KEY_PEM_LABEL, der)))).toEqual(der);
    expect(() => envelopeDer('{"error":1}')).toThrow(CertctlError);
    expect(() => envelopeDer(toPem('CERTIFICATE', der))).toThrow(/SM2 ENVELOPED KEY/);
  });

  it('the download hook fetches only for the encryption part of an order naming one', async () => {
    const der = Buffer.from([0x30, 0x00]);
    const asked: string[] = [];
    const session = {
      postAsGet: async (_e: string, url: string) => {
        asked.push(url);
        return { data: toPem(ENVELOPED_KEY_PEM_LABEL, der) as unknown as Record<string, unknown>, headers: {} };
      },
    };
    const order = { status: 'valid', [ENVELOPED_KEY_FIELD]: 'https://ca.test/ek/1' };
    expect(await fetchEnvelopedKey(session, 'sm2-enc', order, {})).toEqual(der);
    expect(await fetchEnvelopedKey(session, 'sm2-sign', order, {})).toBeUndefined();
    expect(await fetchEnvelopedKey(session, 'sm2-enc', { status: 'valid' }, {})).toBeUndefined();
    expect(asked).toEqual(['https://ca.test/ek/1']);
  });
});

describe('sm2BundleStep', () => {
  it('reads the SM2 public key of a certificate, null for other keys', async () => {
    expect(await sm2PublicKeyOfCert(signChain)).toBe(readSm2PrivateKey(signKey).publicKeyHex);
    const ecKey = path.join(dir, 'ec.key');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', ecKey, '-subj', '/CN=x', '-days', '1', '-out', path.join(dir, 'ec.pem')], { stdio: 'ignore' });
    expect(await sm2PublicKeyOfCert(fs.readFileSync(path.join(dir, 'ec.pem'), 'utf8'))).toBeNull();
  });

  it('no SM2 parts: untouched, no files', async () => {
    const parts = [part('main', 'K', 'C'), part('ecdsa', 'K2', 'C2')];
    const r = await sm2BundleStep(parts);
    expect(r.parts).toBe(parts);
    expect(r.files).toEqual([]);
  });

  it('client keys: checked against the certificates, key type sm2, double_certs.pem = sign, enc, chain', async () => {
    const main = part('main', 'ECKEY', 'ECCHAIN');
    const r = await sm2BundleStep([main, part('sm2-sign', signKey, signChain), part('sm2-enc', encKey, encChain)]);
    expect(r.parts[0]).toBe(main);
    expect(r.parts.slice(1).map((p) => p.facts.keyType)).toEqual(['sm2', 'sm2']);
    expect(r.parts[2]!.keyPem).toBe(encKey);
    expect(r.files).toHaveLength(1);
    expect(r.files[0]!.base).toBe('double_certs');
    const certs = r.files[0]!.data.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;
    expect(certs).toHaveLength(3);
    expect(certs[0]).toBe(signChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    expect(certs[1]).toBe(encChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0]);
    expect(certs[2]!.trim()).toBe(caPem.trim());
  });

  it('enveloped key: opened with the signing key and replaces the CSR key', async () => {
    // The CA made this pair; its certificate is for it, not for the client's CSR key.
    const kmcKey = await generateKey({ kind: 'sm2' });
    const kmc = readSm2PrivateKey(kmcKey);
    const kmcChain = issue(await createCsr(kmcKey, NAMES, { kind: 'sm2' }, 'enc'), 'enc');
    const env = makeEnvelopedKey(kmc.privateKeyHex, kmc.publicKeyHex, readSm2PrivateKey(signKey).publicKeyHex);
    const r = await sm2BundleStep([part('sm2-sign', signKey, signChain), part('sm2-enc', encKey, kmcChain, env)]);
    const opened = r.parts.find((p) => p.role === 'sm2-enc')!;
    expect(readSm2PrivateKey(opened.keyPem)).toEqual(kmc);
    expect(opened.keyPem).not.toBe(encKey);
  });

  it('refuses: a CA-made key without an envelope, an envelope for another signing key, an envelope without a signing part', async () => {
    const kmcKey = await generateKey({ kind: 'sm2' });
    const kmc = readSm2PrivateKey(kmcKey);
    const kmcChain = issue(await createCsr(kmcKey, NAMES, { kind: 'sm2' }, 'enc'), 'enc');
    await expect(sm2BundleStep([part('sm2-sign', signKey, signChain), part('sm2-enc', encKey, kmcChain)])).rejects.toThrow(/for another key.*CSR/);
    const other = readSm2PrivateKey(await generateKey({ kind: 'sm2' }));
    const wrong = makeEnvelopedKey(kmc.privateKeyHex, kmc.publicKeyHex, other.publicKeyHex);
    await expect(sm2BundleStep([part('sm2-sign', signKey, signChain), part('sm2-enc', encKey, kmcChain, wrong)])).rejects.toThrow(/could not be opened/);
    const good = makeEnvelopedKey(kmc.privateKeyHex, kmc.publicKeyHex, readSm2PrivateKey(signKey).publicKeyHex);
    await expect(sm2BundleStep([part('sm2-enc', encKey, kmcChain, good)])).rejects.toThrow(/no SM2 signing certificate/);
  });
});
