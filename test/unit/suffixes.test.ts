/**
 * certctl's Public Suffix List look-up (src/core/suffixes.ts) must agree with
 * the psl package itself on every rule of the list it ships: for each rule,
 * the rule as a name, one label under it and two labels under it.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { domainToASCII } from 'node:url';
import { registrableDomain } from '../../src/core/suffixes.js';
import { registeredDomain } from '../../src/core/names.js';

const require = createRequire(import.meta.url);
const psl = require('psl') as { parse(d: string): { domain?: string | null; error?: unknown } };
const rulesFile = path.join(path.dirname(require.resolve('psl')), '..', 'data', 'rules.js');
const rules = JSON.parse(/^export default (\[[\s\S]*\]);?\s*$/.exec(fs.readFileSync(rulesFile, 'utf8'))![1]!) as string[];

function pslDomain(name: string): string | null {
  const p = psl.parse(name);
  return 'error' in p && p.error ? null : (p.domain ?? null);
}

describe('registrableDomain agrees with psl', () => {
  it(`on all ${rules.length} rules, as names and one and two labels under them`, () => {
    const disagreements: string[] = [];
    let checked = 0;
    for (const raw of rules) {
      const rule = raw.replace(/^[!*]\.?/, '');
      const ascii = rule.split('.').map((l) => domainToASCII(l) || l).join('.');
      for (const name of [ascii, `x1.${ascii}`, `a2.b3.${ascii}`]) {
        checked++;
        const ours = registrableDomain(name);
        const theirs = pslDomain(name);
        if (ours !== theirs) disagreements.push(`${name}: certctl ${ours}, psl ${theirs}`);
      }
    }
    expect(checked).toBeGreaterThan(25_000);
    expect(disagreements.slice(0, 20)).toEqual([]);
  });

  it('the cases the planner depends on', () => {
    expect(registeredDomain('a.b.co.uk')).toBe('b.co.uk');
    expect(registeredDomain('co.uk')).toBeNull();
    expect(registeredDomain('foo.github.io')).toBe('foo.github.io');
    expect(registeredDomain('x.foo.github.io')).toBe('foo.github.io');
    expect(registeredDomain('www.example.com.cn')).toBe('example.com.cn');
    expect(registeredDomain('a.b.c.ck')).toBe('b.c.ck'); // *.ck
    expect(registeredDomain('a.www.ck')).toBe('www.ck'); // !www.ck
    expect(registeredDomain('shop.xn--fiqs8s')).toBe('shop.xn--fiqs8s'); // 中国
    expect(registeredDomain('host.unlisted-tld')).toBe('host.unlisted-tld');
  });
});
