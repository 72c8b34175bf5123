/**
 * Registered domains come from tldts (src/core/suffixes.ts) since issue 19; before, from psl's own rule
 * list (psl 1.15.0, read from its data file). The two must give the same answer wherever their lists
 * agree: over every rule psl ships (the rule as a name, one and two labels under it) each disagreement
 * must be a rule tldts's newer list no longer has, checked rule by rule. And on hostile and edge names
 * (IDN, punycode, wildcards, trailing dots, unknown TLDs, IPs, test TLDs) registeredDomain gives the
 * answers the planner's limits need, the same as psl where psl has an answer.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { domainToASCII } from 'node:url';
import { registrableDomain } from '../../src/core/suffixes.js';
import { registeredDomain, registeredDomains, normalizeNames } from '../../src/core/names.js';

const require = createRequire(import.meta.url);
const psl = require('psl') as { parse(d: string): { domain?: string | null; error?: unknown } };
const tldts = require('tldts') as typeof import('tldts');
const rulesFile = path.join(path.dirname(require.resolve('psl')), '..', 'data', 'rules.js');
const rules = JSON.parse(/^export default (\[[\s\S]*\]);?\s*$/.exec(fs.readFileSync(rulesFile, 'utf8'))![1]!) as string[];
const ascii = (rule: string) => rule.split('.').map((l) => domainToASCII(l) || l).join('.');

function pslDomain(name: string): string | null {
  const p = psl.parse(name);
  return 'error' in p && p.error ? null : (p.domain ?? null);
}
/** tldts's public suffix of a name, private section included (what registrableDomain uses). */
const suffixOf = (name: string) => tldts.getPublicSuffix(name, { allowPrivateDomains: true, extractHostname: false, detectIp: false, validateHostname: false });

/** True when tldts's list does not hold psl's rule as psl has it (a rule removed or changed since psl 1.15.0). */
function ruleDiffers(raw: string): boolean {
  if (raw.startsWith('!')) {
    const b = ascii(raw.slice(1));
    return suffixOf(`x1.${b}`) !== b.split('.').slice(1).join('.');
  }
  if (raw.startsWith('*.')) {
    const b = ascii(raw.slice(2));
    return suffixOf(`x1.${b}`) !== `x1.${b}`;
  }
  return suffixOf(`x1.${ascii(raw)}`) !== ascii(raw);
}

describe('registrableDomain (tldts) against psl', () => {
  it(`on all ${rules.length} rules psl ships: every disagreement is a rule tldts's list has dropped or changed`, () => {
    let checked = 0;
    const differingRules = new Set<string>();
    const unexplained: string[] = [];
    for (const raw of rules) {
      const name0 = ascii(raw.replace(/^[!*]\.?/, ''));
      for (const name of [name0, `x1.${name0}`, `a2.b3.${name0}`]) {
        checked++;
        const ours = registrableDomain(name);
        const theirs = pslDomain(name);
        if (ours === theirs) continue;
        differingRules.add(raw);
        if (!ruleDiffers(raw)) unexplained.push(`${name}: certctl ${ours}, psl ${theirs} (rule ${raw})`);
      }
    }
    expect(checked).toBeGreaterThan(29_000);
    expect(unexplained.slice(0, 20)).toEqual([]);
    // List drift only (213 of 9,776 rules with tldts 7.6.0): a jump here means a changed algorithm, not a list.
    expect(differingRules.size).toBeLessThan(rules.length * 0.05);
  });

  it('a rule tldts dropped is answered by the newer list: schools.nsw.edu.au is no longer a suffix', () => {
    expect(pslDomain('x1.schools.nsw.edu.au')).toBe('x1.schools.nsw.edu.au');
    expect(registeredDomain('x1.schools.nsw.edu.au')).toBe('schools.nsw.edu.au');
  });
});

describe('registeredDomain on hostile and edge names', () => {
  /** name → registered domain; `psl: false` where psl cannot answer the same input (IPs, test TLDs, dots). */
  const cases: [string, string | null, boolean?][] = [
    ['a.b.co.uk', 'b.co.uk'],
    ['co.uk', null],
    ['uk', null],
    ['foo.github.io', 'foo.github.io'], // private section counts (Let's Encrypt does)
    ['x.foo.github.io', 'foo.github.io'],
    ['github.io', null],
    ['www.example.com.cn', 'example.com.cn'],
    ['a.b.c.ck', 'b.c.ck'], // *.ck
    ['c.ck', null],
    ['a.www.ck', 'www.ck'], // !www.ck
    ['www.ck', 'www.ck'],
    ['x.kobe.jp', null], // *.kobe.jp: x.kobe.jp is a suffix
    ['a.x.kobe.jp', 'a.x.kobe.jp'],
    ['a.city.kobe.jp', 'city.kobe.jp'], // !city.kobe.jp
    ['shop.xn--fiqs8s', 'shop.xn--fiqs8s'], // 中国, punycode
    ['xn--fiqs8s', null],
    ['www.xn--bcher-kva.de', 'xn--bcher-kva.de'], // bücher.de
    ['xn--55qx5d.xn--j6w193g', null], // 公司.香港: an IDN second-level suffix
    ['a.xn--55qx5d.xn--j6w193g', 'a.xn--55qx5d.xn--j6w193g'],
    ['host.unlisted-tld', 'host.unlisted-tld'], // unknown TLD: its own suffix
    ['a.b.host.unlisted-tld', 'host.unlisted-tld'],
    ['unlisted-tld', null],
    ['*.example.com', 'example.com', false], // a wildcard counts against its base's domain
    ['*.a.b.co.uk', 'b.co.uk', false],
    ['www.example.com.', 'example.com', false], // trailing dot
    ['WWW.Example.COM', 'example.com', false],
    ['192.0.2.1', '192.0.2.1', false], // IPv4: by address
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64', false], // IPv6: by /64
    ['2001:db8::1', '2001:db8:0:0::/64', false],
    ['a.example.test', 'example.test', false], // reserved test TLD: the last two labels
    ['localhost', null, false],
  ];
  for (const [name, want, comparePsl = true] of cases) {
    it(`${name} → ${want}`, () => {
      expect(registeredDomain(name)).toBe(want);
      if (comparePsl) expect(pslDomain(name)).toBe(want);
    });
  }

  it('Unicode input is normalized to punycode first, then counted like its A-label', () => {
    const [n] = normalizeNames(['www.bücher.de']);
    expect(n).toBe('www.xn--bcher-kva.de');
    expect(registeredDomains([n!, 'xn--bcher-kva.de'])).toEqual(['xn--bcher-kva.de']);
  });

  it('a long hostile name (127 labels) is answered, quickly and without throwing', () => {
    const name = `${'a.'.repeat(126)}co.uk`;
    expect(registrableDomain(name)).toBe('a.co.uk');
  });
});
