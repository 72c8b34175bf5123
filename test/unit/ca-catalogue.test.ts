/** The CA catalogue (src/core/ca/registry.ts) as data: complete, sourced, dated, https, policies valid. */
import { describe, it, expect } from 'vitest';
import { CAS, findCa, resolveCaList } from '../../src/core/ca/registry.js';
import { POLICIES, findPolicy, applyOverrides } from '../../src/core/limits/policies.js';

describe('CA catalogue', () => {
  it('has the public ACME CAs of issue 17', () => {
    for (const id of ['letsencrypt', 'zerossl', 'google', 'buypass', 'sslcom-rsa', 'sslcom-ecc', 'actalis']) expect(findCa(id), id).toBeDefined();
    expect(new Set(CAS.map((c) => c.id)).size).toBe(CAS.length);
  });
  it('every entry has a source and a date; every URL is https; staging twins exist', () => {
    for (const c of CAS) {
      expect(c.source.length, c.id).toBeGreaterThan(10);
      expect(c.date, c.id).toMatch(/^\d{4}-\d\d-\d\d$/);
      if (c.id !== 'pebble' && c.directoryUrl) expect(new URL(c.directoryUrl).protocol, c.id).toBe('https:');
      if (c.stagingId) expect(findCa(c.stagingId)?.test, c.id).toBe(true);
      expect(c.keyTypes.length, c.id).toBeGreaterThan(0);
      if (!c.test && c.id !== 'sm2acme') expect(c.caaIdentities.length, c.id).toBeGreaterThan(0);
    }
  });
  it('every policy a CA names exists and validates; a CA without published limits says so and uses the labelled default', () => {
    for (const c of CAS) {
      const p = findPolicy(c.policyId);
      expect(p, c.id).toBeDefined();
      if (!c.limitsPublished) expect(c.policyId, c.id).toBe('default');
    }
    for (const p of POLICIES) {
      expect(p.source.length, p.id).toBeGreaterThan(10);
      expect(p.date, p.id).toMatch(/^\d{4}-\d\d-\d\d$/);
      expect(() => applyOverrides(p, {}), p.id).not.toThrow();
      for (const [name, r] of Object.entries(p.limits)) {
        const nums = Object.entries(r!).filter(([k]) => !['kind', 'why', 'resetOnSuccess'].includes(k)).map(([, v]) => v as number);
        for (const n of nums) expect(n > 0 && Number.isFinite(n), `${p.id}.${name}`).toBe(true);
      }
    }
    expect(findPolicy('default')!.source).toMatch(/certctl's own guess/);
  });
  it('an ordered list resolves each CA; a CA twice or --server with a list is refused', () => {
    expect(resolveCaList({ ca: 'letsencrypt,zerossl' }).map((c) => c.ca.id)).toEqual(['letsencrypt', 'zerossl']);
    expect(() => resolveCaList({ ca: 'letsencrypt,letsencrypt' })).toThrow(/twice/);
    expect(() => resolveCaList({ ca: 'letsencrypt,zerossl', server: 'https://x.test/dir' })).toThrow(/--server names one CA/);
    expect(() => resolveCaList({ ca: 'letsencrypt,nope' })).toThrow(/Unknown CA "nope"/);
  });
});
