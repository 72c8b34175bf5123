/**
 * Identifier rules. Every name a user types passes through `normalizeNames`
 * before anything is sent or written, so the ledger, the planner and the CA
 * all see the same spelling.
 */
import { domainToASCII } from 'node:url';
import { createHash } from 'node:crypto';
import { registrableDomain } from './suffixes.js';
import { InputError } from './errors.js';

/**
 * A value typed by a user (or read from a file), fit to be echoed in one
 * error line: control characters (NUL, escape sequences, newlines) escaped,
 * and at most `max` characters shown. Always returned in double quotes.
 */
export function quote(raw: string, max = 80): string {
  const s = String(raw);
  const cut = s.length > max ? s.slice(0, max) : s;
  const body = JSON.stringify(cut).slice(1, -1).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${body}${s.length > max ? `…" (${s.length} characters)` : '"'}`;
}

/** NUL, other C0/C1 control characters and DEL: never part of a name, a path or a URL certctl accepts. */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export interface NormalizeOptions {
  /** The CA issues for IP addresses (RFC 8738). */
  allowIp?: boolean;
  /** The challenge can validate wildcards (DNS-01 only; HTTP-01 cannot). */
  allowWildcard?: boolean;
  /** Most names one certificate may hold at this CA. */
  maxNames?: number;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * 4 or 6 for an IP address literal, else 0 — what node:net's isIP answers,
 * without loading node:net (~7 ms of start-up for every command that reads
 * a name). IPv6 is checked by the WHATWG URL parser.
 */
export function isIP(s: string): 0 | 4 | 6 {
  if (IPV4.test(s)) return 4;
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return 0;
  try {
    new URL(`http://[${s}]/`);
    return 6;
  } catch {
    return 0;
  }
}

/** Normalise one name: lower case, IDN → punycode, trailing dot removed. Throws InputError. */
export function normalizeName(raw: string, opts: NormalizeOptions = {}): string {
  if (typeof raw !== 'string') throw new InputError('A name is not a string.', 'Pass each name with -d, e.g. -d example.com.');
  if (CONTROL.test(raw)) {
    throw new InputError(`${quote(raw)} is not a domain name: it contains a control character (such as NUL or a line break).`, 'Give bare host names such as www.example.com.');
  }
  const input = raw.trim();
  if (input === '') throw new InputError('An empty name was given.', 'Pass each name with -d, e.g. -d example.com.');
  if (input.length > 1024) throw new InputError(`${quote(raw)} is longer than 253 characters.`);
  if (/[\s/\\:@?#]/.test(input) && !isIP(input)) {
    throw new InputError(`${quote(raw)} is not a domain name: it contains a space, slash, colon, "@", "?" or "#".`, 'Give bare host names such as www.example.com, without a scheme, port or path.');
  }
  const ipKind = isIP(input);
  if (ipKind) {
    if (!opts.allowIp) {
      throw new InputError(`${quote(raw)} is an IP address and this CA is not known to issue for IP addresses.`, 'Use a DNS name, or choose a CA that supports IP identifiers.');
    }
    return ipKind === 6 ? input.toLowerCase() : input;
  }
  let name = input.replace(/\.$/, '');
  let wildcard = false;
  if (name.startsWith('*.')) {
    wildcard = true;
    name = name.slice(2);
  }
  if (name.includes('*')) {
    throw new InputError(`${quote(raw)}: a wildcard may only be the whole leftmost label ("*.example.com").`);
  }
  if (wildcard && !opts.allowWildcard) {
    throw new InputError(`${quote(raw)} is a wildcard, and wildcards cannot be validated with HTTP-01: use --dns.`, 'Issue it through DNS-01 with --dns rfc2136 (or hook, acme-dns) instead of --webroot/--standalone, or list the host names you need.');
  }
  const ascii = domainToASCII(name.toLowerCase());
  if (!ascii) throw new InputError(`${quote(raw)} is not a valid domain name (IDNA conversion failed).`);
  if (ascii.length > 253 - (wildcard ? 2 : 0)) throw new InputError(`${quote(raw)} is longer than 253 characters.`);
  const labels = ascii.split('.');
  if (labels.length < 2) {
    throw new InputError(`${quote(raw)} has a single label; a public CA only issues for fully qualified names.`, 'Give the full name, e.g. host.example.com.');
  }
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new InputError(`${quote(raw)} has an invalid label ${quote(label)}: labels are 1-63 letters, digits or hyphens, not starting or ending with a hyphen.`);
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) {
    throw new InputError(`${quote(raw)} ends in a numeric label, which is not a valid top-level domain.`);
  }
  if (registeredDomain(ascii) === null) {
    throw new InputError(`${quote(raw)} is a public suffix, not a domain anyone can own.`, 'Give a name under it, e.g. example.' + ascii + '.');
  }
  return (wildcard ? '*.' : '') + ascii;
}

/** Normalise a list: each name, then duplicates and size. Order is kept (the first name names the lineage). */
export function normalizeNames(raw: string[], opts: NormalizeOptions = {}): string[] {
  if (raw.length === 0) throw new InputError('No names given.', 'Pass at least one -d NAME.');
  const out: string[] = [];
  for (const r of raw) {
    const n = normalizeName(r, opts);
    if (out.includes(n)) throw new InputError(`${quote(r)} is given twice (as ${n}).`, 'List each name once.');
    out.push(n);
  }
  if (opts.maxNames !== undefined && out.length > opts.maxNames) {
    throw new InputError(`${out.length} names were given; this CA allows at most ${opts.maxNames} names per certificate.`, 'Split the names over several certificates.');
  }
  return out;
}

/**
 * The CA's "exact set of identifiers": lower-cased, de-duplicated, sorted,
 * joined by commas. Two requests with the same key count against the same
 * duplicate-certificate limit.
 */
export function setKey(names: readonly string[]): string {
  return [...new Set(names.map((n) => n.toLowerCase().replace(/\.$/, '')))].sort().join(',');
}

const TEST_TLDS = new Set(['test', 'example', 'invalid', 'localhost', 'local']);

/**
 * The registered domain (eTLD+1) a name counts against. psl's private
 * suffixes count (foo.github.io). IPv4 addresses count by address, IPv6 by
 * /64 prefix. Names under reserved test TLDs fall back to the last two
 * labels. Returns null for a bare public suffix.
 */
export function registeredDomain(name: string): string | null {
  const bare = name.replace(/^\*\./, '').replace(/\.$/, '').toLowerCase();
  const ip = isIP(bare);
  if (ip === 4) return bare;
  if (ip === 6) return ipv6Prefix64(bare);
  const labels = bare.split('.');
  if (TEST_TLDS.has(labels[labels.length - 1]!)) {
    return labels.length >= 2 ? labels.slice(-2).join('.') : null;
  }
  return registrableDomain(bare);
}

function ipv6Prefix64(addr: string): string {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.slice(0, 4).map((g) => (parseInt(g || '0', 16) || 0).toString(16)).join(':') + '::/64';
}

/** The distinct registered domains of a set of names. */
export function registeredDomains(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const d = registeredDomain(n);
    if (d) out.add(d);
  }
  return [...out].sort();
}

/** Longest lineage name (a path component under live/ and archive/). */
export const LINEAGE_MAX = 200;
const LINEAGE = new RegExp(`^[a-z0-9][a-z0-9._-]{0,${LINEAGE_MAX - 1}}$`);
/** Longest lineage name derived from a domain name: room is left for freeLineageName's "-0001". */
export const DERIVED_LINEAGE_MAX = LINEAGE_MAX - 10;

/**
 * Check a lineage name before it becomes a path component: it can never
 * contain a slash, start with a dot, or be "." / "..".
 */
export function assertLineageName(name: string): string {
  if (typeof name !== 'string' || !LINEAGE.test(name) || name.includes('..')) {
    const why = typeof name !== 'string' || name === '' ? 'it is empty' : name.length > LINEAGE_MAX ? `it is longer than ${LINEAGE_MAX} characters` : null;
    throw new InputError(
      `${quote(String(name ?? ''))} cannot be used as a certificate name${why ? ` (${why})` : ''}: use at most ${LINEAGE_MAX} lower-case letters, digits, ".", "-" and "_", starting with a letter or digit, with no "..".`,
      'Choose another --cert-name (or certificate "name" in the config file), or leave it out to name the lineage after the first domain.',
    );
  }
  return name;
}

/**
 * The default lineage name for a request: its first name, without a wildcard
 * label (":" of an IPv6 address becomes "_"). A name longer than
 * DERIVED_LINEAGE_MAX (domain names may have 253 characters) is shortened
 * deterministically: its first characters, "-", and 10 hex digits of its
 * SHA-256 — the same name always gives the same lineage, two different names
 * practically never the same one, and the result is a safe path component.
 */
export function defaultLineageName(names: readonly string[]): string {
  const first = names[0]!.replace(/^\*\./, '').replace(/:/g, '_');
  if (first.length <= DERIVED_LINEAGE_MAX) return assertLineageName(first);
  const digest = createHash('sha256').update(first).digest('hex').slice(0, 10);
  const head = first.slice(0, DERIVED_LINEAGE_MAX - digest.length - 1).replace(/[._-]+$/, '');
  return assertLineageName(`${head}-${digest}`);
}
