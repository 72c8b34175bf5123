/**
 * Public Suffix List look-ups for registered domains, through tldts: its list
 * is compiled into a trie at its build time, so nothing is parsed at start-up
 * (psl converted its ~9,800 rules when imported, ~24 ms; certctl then read
 * psl's private data file itself — BENCHMARKS.md "public suffixes").
 *
 * Both sections of the list count, ICANN and private: Let's Encrypt counts
 * `foo.github.io` as its own registered domain (reference/rate-limits.md).
 * The longest matching rule wins, `*.` wildcards match one label, `!`
 * exceptions cut one label off, and an unlisted TLD is its own suffix.
 * test/unit/suffixes.test.ts checks the answers against psl and on hostile names.
 */
import { createRequire } from 'node:module';

let getDomain: (typeof import('tldts'))['getDomain'] | undefined;
/**
 * The input is already a lower-case ASCII host name (names.ts), and IP
 * addresses never reach here: no URL parsing, no IP detection, no validation.
 */
const OPTIONS: Parameters<(typeof import('tldts'))['getDomain']>[1] = { allowPrivateDomains: true, extractHostname: false, detectIp: false, validateHostname: false, mixedInputs: false };

/**
 * The registered domain (public suffix + one label) of a lower-case ASCII
 * host name, or null when the name is itself a public suffix.
 */
export function registrableDomain(name: string): string | null {
  // Loaded on first use (a `require`: synchronous, and only commands that look at names pay for it).
  getDomain ??= (createRequire(import.meta.url)('tldts') as typeof import('tldts')).getDomain;
  return getDomain(name, OPTIONS);
}
