/**
 * TLS-ALPN-01 pieces (src/core/tlsalpn.ts): the RFC 8737 certificate as
 * OpenSSL reads it, the responder's refusals (other ALPN, unknown or no SNI,
 * no ALPN), one certificate per name at a time, the port-in-use sentence,
 * and the checks on what the CA sends.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { challengeCertificate, acmeIdentifierDigest, alpnCertFacts, TlsAlpnServer, probeTlsAlpn, checkTlsAlpnChallenge, ACME_TLS_ALPN } from '../../src/core/tlsalpn.js';
import { ListenError } from '../../src/core/http01.js';
import { freePort } from '../helpers/ports.js';

const TOKEN = 'tok_' + 'a'.repeat(39);
const KA = `${TOKEN}.${'T'.repeat(43)}`;

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-tlsalpn-'));
}

/** Connect with the given ALPN list / SNI; what happened. */
function connect(port: number, o: { servername?: string; alpn?: string[] }): Promise<{ ok: boolean; alpn?: string | false; error?: string; closedByServer?: boolean }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: o.servername, ALPNProtocols: o.alpn, rejectUnauthorized: false });
    s.on('error', (e) => resolve({ ok: false, error: e.message }));
    s.on('secureConnect', () => {
      const alpn = s.alpnProtocol;
      s.on('close', () => resolve({ ok: true, alpn, closedByServer: true }));
      s.on('data', () => undefined);
    });
  });
}

describe('the acmeIdentifier certificate', () => {
  it('is what RFC 8737 asks: one dNSName SAN, the critical acmeIdentifier extension with SHA-256(keyAuthorization), as openssl reads it', () => {
    const digest = acmeIdentifierDigest(KA);
    expect(digest.toString('hex')).toBe(crypto.createHash('sha256').update(KA).digest('hex'));
    const c = challengeCertificate('www.example.test', digest);
    const file = path.join(tmp(), 'c.pem');
    fs.writeFileSync(file, c.cert);
    const text = execFileSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \n\s+DNS:www\.example\.test\n/);
    expect(text).toMatch(/Signature Algorithm: ecdsa-with-SHA256/);
    expect(text).toMatch(/Version: 3 \(0x2\)/);
    // The extension's value, byte for byte: OCTET STRING (04 20) of the digest.
    const parsed = execFileSync('openssl', ['asn1parse', '-in', file], { encoding: 'utf8' }).split('\n');
    const at = parsed.findIndex((l) => l.includes(':1.3.6.1.5.5.7.1.31'));
    expect(at).toBeGreaterThan(0);
    expect(parsed[at + 1]).toMatch(/BOOLEAN\s+:255/);
    expect(parsed[at + 2]).toContain(`[HEX DUMP]:0420${digest.toString('hex').toUpperCase()}`);
    // A verifier that does not know the extension must refuse the certificate (that is what critical means) …
    const refused = (() => {
      try {
        execFileSync('openssl', ['verify', '-CAfile', file, '-check_ss_sig', file], { encoding: 'utf8', stdio: 'pipe' });
        return '';
      } catch (e) {
        return `${(e as { stdout?: string }).stdout}${(e as { stderr?: string }).stderr}`;
      }
    })();
    expect(refused).toMatch(/unhandled critical extension/);
    // … and, told to ignore it, finds it self-signed with a good signature.
    expect(execFileSync('openssl', ['verify', '-CAfile', file, '-check_ss_sig', '-ignore_critical', file], { encoding: 'utf8' })).toMatch(/: OK/);
    const facts = alpnCertFacts(c.der);
    expect(facts.sans).toEqual(['DNS:www.example.test']);
    expect(facts.acmeIdentifier).toEqual({ critical: true, digest });
  });

  it('reads no acmeIdentifier from an ordinary certificate, and survives garbage', () => {
    const dir = tmp();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=x', '-addext', 'subjectAltName=DNS:www.example.test'], { stdio: 'ignore' });
    const der = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'c.pem'))).raw;
    expect(alpnCertFacts(der).acmeIdentifier).toBeUndefined();
    expect(alpnCertFacts(Buffer.from('not a certificate'))).toEqual({ sans: [], subject: '' });
  });
});

describe('the acme-tls/1 responder', () => {
  it('answers acme-tls/1 for a name set on it and refuses other ALPN, unknown SNI, no SNI and no ALPN', async () => {
    const port = await freePort();
    const s = await TlsAlpnServer.listen('127.0.0.1', port);
    try {
      await s.set('www.example.test', KA);
      const good = await probeTlsAlpn('127.0.0.1', port, 'www.example.test', acmeIdentifierDigest(KA), 5000);
      expect(good).toMatchObject({ ok: true, alpn: ACME_TLS_ALPN, sans: ['DNS:www.example.test'] });
      // SNI is matched without regard to case, as DNS names are.
      expect((await probeTlsAlpn('127.0.0.1', port, 'WWW.Example.test', acmeIdentifierDigest(KA), 5000)).failure).toBe('san');
      expect((await connect(port, { servername: 'www.example.test', alpn: ['h2', 'http/1.1'] })).ok).toBe(false);
      expect((await connect(port, { servername: 'other.example.test', alpn: [ACME_TLS_ALPN] })).ok).toBe(false);
      expect((await connect(port, { alpn: [ACME_TLS_ALPN] })).ok).toBe(false);
      // No ALPN offered: not the validator; the connection is closed at once.
      const noAlpn = await connect(port, { servername: 'www.example.test' });
      expect(noAlpn.ok === false || (noAlpn.alpn === false && noAlpn.closedByServer)).toBe(true);
      // Another key authorization is told apart by its digest.
      expect((await probeTlsAlpn('127.0.0.1', port, 'www.example.test', acmeIdentifierDigest(KA + 'x'), 5000)).failure).toBe('digest-mismatch');
      s.delete('www.example.test', KA);
      expect((await probeTlsAlpn('127.0.0.1', port, 'www.example.test', acmeIdentifierDigest(KA), 5000)).ok).toBe(false);
    } finally {
      await s.close();
    }
  });

  it('serves one certificate per name at a time: a second key authorization waits for the first to be deleted', async () => {
    const port = await freePort();
    const s = await TlsAlpnServer.listen('127.0.0.1', port);
    try {
      const other = `${TOKEN}.${'U'.repeat(43)}`;
      await s.set('a.example.test', KA);
      let second = false;
      const p = s.set('a.example.test', other).then(() => (second = true));
      await new Promise((r) => setImmediate(r));
      expect(second).toBe(false);
      expect((await probeTlsAlpn('127.0.0.1', port, 'a.example.test', acmeIdentifierDigest(KA), 5000)).ok).toBe(true);
      s.delete('a.example.test', other); // not the one served: changes nothing
      expect((await probeTlsAlpn('127.0.0.1', port, 'a.example.test', acmeIdentifierDigest(KA), 5000)).ok).toBe(true);
      s.delete('a.example.test', KA);
      await p;
      expect(second).toBe(true);
      expect((await probeTlsAlpn('127.0.0.1', port, 'a.example.test', acmeIdentifierDigest(other), 5000)).ok).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('says in one sentence that the port is taken', async () => {
    const port = await freePort();
    const s = await TlsAlpnServer.listen('127.0.0.1', port);
    try {
      const err = await TlsAlpnServer.listen('127.0.0.1', port).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(ListenError);
      expect(err.message).toBe(`Cannot listen on 127.0.0.1:${port} for TLS-ALPN-01: something else (a web server?) already uses it.`);
      expect(err.hint).toMatch(/Stop that server while issuing/);
    } finally {
      await s.close();
    }
  });
});

describe('what the CA sends', () => {
  const names = ['www.example.test'];
  const ch = { identifier: 'www.example.test', wildcard: false, token: TOKEN, keyAuthorization: KA };
  it('accepts a well-formed challenge for an ordered name', () => {
    expect(checkTlsAlpnChallenge(ch, names)).toBe('www.example.test');
  });
  it.each([
    ['a name not ordered', { identifier: 'evil.example.test' }, /not one of the names certctl ordered/],
    ['a name with a NUL', { identifier: 'www.example.test\u0000.evil' }, /not one of the names/],
    ['a wildcard', { identifier: 'www.example.test', wildcard: true }, /wildcard/],
    ['a token with a slash', { token: '../../etc/passwd-aaaaaaaaaaaaaaaa', keyAuthorization: '../../etc/passwd-aaaaaaaaaaaaaaaa.' + 'T'.repeat(43) }, /token is not/],
    ['a short token', { token: 'abc', keyAuthorization: 'abc.' + 'T'.repeat(43) }, /token is not/],
    ['a key authorization of another token', { keyAuthorization: `other${'b'.repeat(30)}.${'T'.repeat(43)}` }, /key authorization/],
    ['a key authorization with a newline', { keyAuthorization: `${TOKEN}.${'T'.repeat(20)}\n${'T'.repeat(20)}` }, /key authorization/],
  ])('refuses %s (exit 8, nothing served)', (_what, patch, re) => {
    let err: { message: string; exitCode: number } | undefined;
    try {
      checkTlsAlpnChallenge({ ...ch, ...patch }, names);
    } catch (e) {
      err = e as { message: string; exitCode: number };
    }
    expect(err?.message).toMatch(re);
    expect(err?.exitCode).toBe(8);
    expect(err?.message).not.toContain(TOKEN);
  });
});
