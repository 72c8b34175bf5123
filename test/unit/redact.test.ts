/** redact(): what certctl never prints nor stores — tokens, key authorizations, EAB keys, private keys. */
import { describe, it, expect, afterEach } from 'vitest';
import { redact, registerSecret, clearSecrets, REDACTED } from '../../src/core/redact.js';

const token = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const thumb = '9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
const keyAuth = `${token}.${thumb}`;

afterEach(() => clearSecrets());

describe('redact', () => {
  it('a key authorization anywhere in a line, also twice and at the edges', () => {
    expect(redact(`got "${keyAuth}" from x`)).toBe(`got "${REDACTED}" from x`);
    expect(redact(keyAuth)).toBe(REDACTED);
    expect(redact(`${keyAuth} and ${keyAuth}`)).toBe(`${REDACTED} and ${REDACTED}`);
    expect(redact(`/${keyAuth}/`)).toBe(`/${REDACTED}/`);
  });

  it('leaves alone what only looks half like one: a short first part, a thumbprint not 43 long, names with dots', () => {
    for (const s of [`short.${thumb}`, `${token}.${thumb}x`, `${token}.${thumb.slice(1)}`, 'www.example.com', 'a.b.c', '']) expect(redact(s)).toBe(s);
  });

  it('the challenge path, registered secrets and private keys', () => {
    expect(redact(`http://a.test/.well-known/acme-challenge/${token} 404`)).toBe(`http://a.test/.well-known/acme-challenge/${REDACTED} 404`);
    registerSecret('hmac-secret-value-123');
    expect(redact('eab hmac-secret-value-123 used')).toBe(`eab ${REDACTED} used`);
    expect(redact('x -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- y')).toBe(`x [private key ${REDACTED}] y`);
  });

  it('a 100,000-lineage JSON document with one key authorization in it: only that is replaced', () => {
    const doc = JSON.stringify({ lineages: Array.from({ length: 100_000 }, (_, i) => ({ lineage: `l${i}.example.test`, reason: `not due before 2031-01-01T00:00:00.000Z`, serial: 'a'.repeat(40) })) });
    const withOne = doc.replace('l77.example.test', `l77 ${keyAuth}`);
    const out = redact(withOne);
    expect(out.length).toBe(withOne.length - keyAuth.length + REDACTED.length);
    expect(out).not.toContain(token);
  });

  it('finds exactly what the plain pattern finds, on random text of tokens, thumbprints, dots and separators', () => {
    const reference = (x: string) => x.replace(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, REDACTED);
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const pieces = [token, thumb, `.${thumb}`, keyAuth, '.', '..', ' ', '"', 'ab', '-_', thumb.slice(3), `${token}.`, 'é'];
    for (let i = 0; i < 5000; i++) {
      const x = Array.from({ length: 1 + rand(8) }, () => pieces[rand(pieces.length)]).join('');
      expect(redact(x)).toBe(reference(x));
    }
  });
});
