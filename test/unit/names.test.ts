import { describe, it, expect } from 'vitest';
import { isIP as nodeIsIP } from 'node:net';
import { isIP, normalizeName, normalizeNames, registeredDomain, setKey, assertLineageName, defaultLineageName, quote, DERIVED_LINEAGE_MAX } from '../../src/core/names.js';
import { InputError } from '../../src/core/errors.js';

describe('isIP (without node:net)', () => {
  it('answers as node:net does for addresses an ACME identifier can be', () => {
    const cases = ['1.2.3.4', '255.255.255.255', '256.1.1.1', '1.2.3.04', '01.2.3.4', '0.0.0.0', '::', '::1', '2001:db8::1', '2001:db8::g', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4', 'example.com', '1.2.3', '[::1]', ':::', '', 'a:b'];
    for (const c of cases) expect(isIP(c), c).toBe(nodeIsIP(c));
  });
  it('refuses IPv6 zone ids (no CA issues for them)', () => {
    expect(isIP('fe80::1%eth0')).toBe(0);
  });
});

describe('names', () => {
  it('normalises case, trailing dots and IDNs', () => {
    expect(normalizeName('WWW.Example.COM.')).toBe('www.example.com');
    expect(normalizeName('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normalizeName('*.example.com', { allowWildcard: true })).toBe('*.example.com');
    expect(normalizeName('2001:DB8::1', { allowIp: true })).toBe('2001:db8::1');
  });
  it('refuses what a CA would refuse, with InputError', () => {
    for (const bad of ['co.uk', 'localhost', 'a..b.com', 'exa mple.com', '*.example.com', 'x.*.example.com', '1.2.3.4', `${'a'.repeat(64)}.com`, 'example.123']) {
      expect(() => normalizeName(bad), bad).toThrow(InputError);
    }
    expect(() => normalizeNames(['a.example.com', 'A.example.com'])).toThrow(/given twice/);
    expect(() => normalizeNames(['a.example.com', 'b.example.com'], { maxNames: 1 })).toThrow(/at most 1/);
  });
  it('exact sets are case- and order-insensitive; registered domains follow the PSL', () => {
    expect(setKey(['www.example.com', 'EXAMPLE.com'])).toBe(setKey(['example.com', 'www.example.com']));
    expect(registeredDomain('a.b.example.co.uk')).toBe('example.co.uk');
    expect(registeredDomain('192.0.2.7')).toBe('192.0.2.7');
    expect(registeredDomain('2001:db8:1:2:3::9')).toBe('2001:db8:1:2::/64');
    expect(registeredDomain('x.y.example.test')).toBe('example.test');
  });
  it('lineage names never escape the state directory', () => {
    for (const bad of ['..', '../x', 'a/b', '.hidden', 'a..b', '']) expect(() => assertLineageName(bad), bad).toThrow(InputError);
    expect(assertLineageName('www.example.com')).toBe('www.example.com');
  });
  it('control characters are refused and never echoed raw', () => {
    for (const bad of ['a\u0000.example.com', 'a\u001b[31m.example.com', 'a\nb.example.com', 'a\u007f.example.com']) {
      let msg = '';
      try {
        normalizeName(bad);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg, JSON.stringify(bad)).toMatch(/control character/);
      expect(msg).not.toMatch(/[\u0000-\u001f\u007f]/);
    }
  });
  it('quote() escapes and caps what it echoes', () => {
    expect(quote('a\u0000b')).toBe('"a\\u0000b"');
    expect(quote('x'.repeat(500))).toMatch(/^"x{80}…" \(500 characters\)$/);
  });
  it('a long first name gives a shortened, deterministic, distinct, safe lineage name', () => {
    const mk = (c: string) => `${c.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(48)}.example.test`;
    const n1 = mk('a');
    const n2 = mk('z');
    expect(n1.length).toBe(253);
    const l1 = defaultLineageName([n1]);
    expect(l1.length).toBeLessThanOrEqual(DERIVED_LINEAGE_MAX);
    expect(assertLineageName(l1)).toBe(l1);
    expect(defaultLineageName([n1])).toBe(l1);
    expect(defaultLineageName([n2])).not.toBe(l1);
    expect(l1).toMatch(/-[0-9a-f]{10}$/);
    // Room is left for the -0001 suffix of a taken name.
    expect(assertLineageName(`${l1}-0001`)).toBe(`${l1}-0001`);
    // Names up to DERIVED_LINEAGE_MAX keep their own spelling; wildcards lose their label.
    expect(defaultLineageName(['*.www.example.com'])).toBe('www.example.com');
    const short = `${'a'.repeat(63)}.${'b'.repeat(63)}.example.test`;
    expect(defaultLineageName([short])).toBe(short);
  });
  it('lineage name rules: empty, too long, uppercase, traversal', () => {
    expect(() => assertLineageName('')).toThrow(/it is empty/);
    expect(() => assertLineageName('a'.repeat(201))).toThrow(/longer than 200/);
    for (const bad of ['A', '-a', '_a', 'a b', 'a;b', '$(id)', 'a\u0000b']) expect(() => assertLineageName(bad), bad).toThrow(InputError);
  });
});
