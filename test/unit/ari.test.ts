/**
 * RFC 9773 certID: the RFC's own example certificate, and certificates made
 * here with OpenSSL where the serial and the AKI are chosen, the expected
 * value computed independently from OpenSSL's own printout.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { ariCertId } from '../../src/core/acme/ari.js';

// RFC 9773, Appendix A (the example certificate; its certID is given in section 4.1).
const RFC9773_EXAMPLE = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;

let dir: string;
const SKI = '0102030405060708090a0b0c0d0e0f10111213f4';

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A leaf signed by the test CA with the given serial and AKI extension text. */
function leaf(name: string, serial: string, aki = 'keyid:always'): string {
  const ext = path.join(dir, `${name}.cnf`);
  fs.writeFileSync(ext, `authorityKeyIdentifier=${aki}\nsubjectAltName=DNS:${name}.example.test\n`);
  const out = path.join(dir, `${name}.pem`);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, '-days', '1', '-extfile', ext, '-out', out]);
  return fs.readFileSync(out, 'utf8');
}

/** The expected certID from OpenSSL's printout: hex serial (sign byte added back) and AKI keyid. */
function expectedFromOpenssl(pemFile: string): string {
  const text = openssl(['x509', '-in', pemFile, '-noout', '-serial', '-ext', 'authorityKeyIdentifier']);
  let serialHex = /serial=([0-9A-F]+)/.exec(text)![1]!;
  if (serialHex.length % 2) serialHex = '0' + serialHex;
  if (parseInt(serialHex.slice(0, 2), 16) >= 0x80) serialHex = '00' + serialHex;
  const akiLine = text.split('\n').find((l) => /^\s+(keyid:)?([0-9A-F]{2}:)+[0-9A-F]{2}\s*$/.test(l))!;
  const akiHex = akiLine.trim().replace(/^keyid:/, '').replace(/:/g, '');
  return `${Buffer.from(akiHex, 'hex').toString('base64url')}.${Buffer.from(serialHex, 'hex').toString('base64url')}`;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-ari-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ARI Test CA', '-addext', `subjectKeyIdentifier=${SKI}`]);
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=leaf.example.test']);
});

describe('ariCertId (RFC 9773 certID)', () => {
  it('reproduces the RFC 9773 example', () => {
    expect(ariCertId(RFC9773_EXAMPLE)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('accepts DER bytes as well as PEM, and takes the first certificate of a chain', () => {
    const der = Buffer.from(RFC9773_EXAMPLE.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(ariCertId(der)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    const other = leaf('chain', '0x1234');
    expect(ariCertId(RFC9773_EXAMPLE + other)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(ariCertId(other + RFC9773_EXAMPLE)).not.toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('keeps the leading 0x00 of a serial whose high bit is set (-set_serial 0x87654321)', () => {
    const pem = leaf('highbit', '0x87654321');
    const aki = Buffer.from(SKI, 'hex').toString('base64url');
    expect(ariCertId(pem)).toBe(`${aki}.${Buffer.from([0x00, 0x87, 0x65, 0x43, 0x21]).toString('base64url')}`);
    expect(ariCertId(pem)).toBe(`${aki}.AIdlQyE`);
    expect(ariCertId(pem)).toBe(expectedFromOpenssl(path.join(dir, 'highbit.pem')));
  });

  it('adds no zero byte when the high bit is clear, and handles a one-byte serial', () => {
    const a = leaf('lowbit', '0x7f0001');
    expect(ariCertId(a).split('.')[1]).toBe(Buffer.from([0x7f, 0x00, 0x01]).toString('base64url'));
    expect(ariCertId(a)).toBe(expectedFromOpenssl(path.join(dir, 'lowbit.pem')));
    const b = leaf('onebyte', '5');
    expect(ariCertId(b).split('.')[1]).toBe('BQ');
  });

  it('reads only the keyIdentifier when the AKI also names issuer and serial; long serials; no padding', () => {
    const pem = leaf('full', '0xff00000000000000000000000000000001', 'keyid:always,issuer:always');
    const id = ariCertId(pem);
    expect(id).toBe(expectedFromOpenssl(path.join(dir, 'full.pem')));
    expect(id.split('.')[1]).toBe(Buffer.from('00ff00000000000000000000000000000001', 'hex').toString('base64url'));
    expect(id).not.toMatch(/[=+/]/);
  });

  it('refuses a certificate without extensions (v1) or without an AKI keyIdentifier', () => {
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '5', '-days', '1', '-out', 'v1.pem']);
    expect(() => ariCertId(fs.readFileSync(path.join(dir, 'v1.pem'), 'utf8'))).toThrow(/no extensions/);
    const noAki = path.join(dir, 'noaki.cnf');
    fs.writeFileSync(noAki, 'subjectAltName=DNS:noaki.example.test\nauthorityKeyIdentifier=none\n');
    openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '6', '-days', '1', '-extfile', noAki, '-out', 'noaki.pem']);
    expect(openssl(['x509', '-in', 'noaki.pem', '-noout', '-text'])).not.toMatch(/Authority Key Identifier/);
    expect(() => ariCertId(fs.readFileSync(path.join(dir, 'noaki.pem'), 'utf8'))).toThrow(/no Authority Key Identifier/);
    expect(() => ariCertId('not a certificate')).toThrow(/no PEM certificate/);
  });
});
