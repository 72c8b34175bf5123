/**
 * Public Suffix List look-ups for registered domains, over the list the
 * `psl` package ships (node_modules/psl/data/rules.js), without psl's own
 * start-up: psl converts all ~9,800 rules to punycode objects when it is
 * imported (~24 ms, the largest single cost of `certctl plan` — BENCHMARKS.md).
 * Here the list is read as JSON once (~2 ms) and only the ~450 non-ASCII
 * rules are converted. The algorithm is the PSL's own (publicsuffix.org/list):
 * the longest matching rule wins, `*.` wildcards match one label, `!`
 * exceptions cut one label off, and an unlisted TLD is its own suffix.
 *
 * If the data file is not where psl 1.15 keeps it (a psl upgrade), this falls
 * back to psl itself, so the answer never changes — only the cost.
 * test/unit/suffixes.test.ts checks agreement with psl over every rule.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { domainToASCII } from 'node:url';

interface Rules {
  exact: Set<string>;
  wildcard: Set<string>;
  exception: Set<string>;
}

let rules: Rules | null | undefined;
const require = createRequire(import.meta.url);

function load(): Rules | null {
  try {
    const file = path.join(path.dirname(require.resolve('psl')), '..', 'data', 'rules.js');
    const text = fs.readFileSync(file, 'utf8').trim();
    const m = /^export default (\[[\s\S]*\]);?$/.exec(text);
    if (!m) return null;
    const list = JSON.parse(m[1]!) as string[];
    const r: Rules = { exact: new Set(), wildcard: new Set(), exception: new Set() };
    for (const raw of list) {
      // eslint-disable-next-line no-control-regex
      const rule = /[^\x00-\x7f]/.test(raw) ? raw.replace(/[^!*.]+/g, (part) => domainToASCII(part) || part) : raw;
      if (rule.startsWith('!')) r.exception.add(rule.slice(1));
      else if (rule.startsWith('*.')) r.wildcard.add(rule.slice(2));
      else r.exact.add(rule);
    }
    return r;
  } catch {
    return null;
  }
}

/**
 * The registered domain (public suffix + one label) of a lower-case ASCII
 * host name, or null when the name is itself a public suffix.
 */
export function registrableDomain(name: string): string | null {
  if (rules === undefined) rules = load();
  if (rules === null) {
    const psl = require('psl') as { parse(d: string): { domain?: string | null; error?: unknown } };
    const parsed = psl.parse(name);
    return 'error' in parsed && parsed.error ? null : (parsed.domain ?? null);
  }
  const labels = name.split('.');
  // Length (in labels) of the public suffix: the longest matching rule; default "*" = the TLD.
  let suffixLen = 1;
  for (let i = 0; i < labels.length; i++) {
    const candidate = labels.slice(i).join('.');
    const len = labels.length - i;
    if (rules.exception.has(candidate)) {
      suffixLen = len - 1;
      break;
    }
    if (rules.exact.has(candidate) && len > suffixLen) suffixLen = len;
    if (rules.wildcard.has(candidate)) {
      // "*.kobe.jp": one more label is the suffix. The base itself ("kobe.jp") counts as a
      // suffix too, as psl treats it, so certctl and psl never disagree on a registered domain.
      const wl = i > 0 ? len + 1 : len;
      if (wl > suffixLen) suffixLen = wl;
    }
  }
  if (suffixLen >= labels.length) return null;
  return labels.slice(labels.length - suffixLen - 1).join('.');
}
