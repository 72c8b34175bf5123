/**
 * Where a DNS-01 record must go, and who will be asked for it.
 *
 * 1. The record name: `_acme-challenge.<name>` (the `*.` of a wildcard
 *    dropped, RFC 8555 §8.4), then any CNAME chain on it followed — acme-dns
 *    and "delegate only the challenge" set-ups point `_acme-challenge` at a
 *    name in another zone, and the CA follows it too.
 * 2. The zone: the SOA owner for that name (the answer section when the
 *    name is a zone apex, else the SOA in the authority section of the
 *    NXDOMAIN/NODATA answer), walking up the labels if a server gives no SOA.
 *    Or the zone the user gave, checked to exist and to contain the name.
 * 3. The zone's authoritative nameservers: its NS set and each server's A
 *    and AAAA addresses (glue first, else asked). The propagation wait then
 *    asks every one of these addresses directly — not a recursive resolver,
 *    whose cache says nothing about what the CA's resolvers will see.
 *
 * Discovery questions go to one resolver (the system's first, or the one
 * given): it must be able to answer for the zone (a recursive resolver, or
 * the authoritative server itself).
 */
import { promises as dnsPromises } from 'node:dns';
import net from 'node:net';
import { DnsError } from './errors.js';
import { query } from './query.js';
import { formatServer, parseServer, type DnsServer } from './transport.js';
import { RRType, Rcode, normalizeName, rcodeName, type DecodedMessage, type SoaData } from './wire.js';

export interface DiscoveryOptions {
  /** Resolver for discovery questions; default: the first nameserver in /etc/resolv.conf. */
  resolver?: DnsServer;
  /** The zone, if the user gave it (`--dns-zone`); otherwise found from the SOA. */
  zone?: string;
  /** Port the authoritative nameservers are asked on. 53 in real life (an NS record has no port). */
  nameserverPort?: number;
  /** Per question. Default 2000 ms. */
  timeoutMs?: number;
}

export interface Nameserver {
  /** The NS target, e.g. ns1.example.com */
  name: string;
  /** Its IPv4 and IPv6 addresses, each asked on its own. */
  addresses: string[];
}

export interface ChallengeZone {
  /** The identifier as ordered (a wildcard keeps its `*.`). */
  domain: string;
  /** `_acme-challenge.<base name>` */
  fqdn: string;
  /** Where the TXT record really lives: `fqdn` or the end of its CNAME chain. */
  target: string;
  /** The CNAME chain followed, if any (fqdn → … → target). */
  cnames: string[];
  /** The zone holding `target`. */
  zone: string;
  nameservers: Nameserver[];
}

const MAX_CNAMES = 8;

/** `_acme-challenge.example.com` for `example.com` and for `*.example.com`. */
export function challengeName(identifier: string): string {
  const base = normalizeName(identifier).replace(/^\*\./, '');
  return `_acme-challenge.${base}`;
}

export function defaultResolver(): DnsServer {
  for (const s of dnsPromises.getServers()) {
    const parsed = parseServer(s);
    if (parsed) return parsed;
  }
  throw new DnsError('zone', 'No DNS resolver is configured on this host (/etc/resolv.conf has no nameserver).', { hint: 'Give a resolver to use for finding the zone.' });
}

function isUnder(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith(`.${zone}`);
}

function answerError(resolver: DnsServer, what: string, m: DecodedMessage): DnsError {
  return new DnsError('zone', `The resolver ${formatServer(resolver)} answered ${rcodeName(m.rcode)} when asked for ${what}.`, {
    rcode: rcodeName(m.rcode),
    server: formatServer(resolver),
    hint: 'Check that the resolver can answer for this zone (or give the zone and a resolver that serves it).',
  });
}

/** Follow CNAMEs from `fqdn`; returns the chain (without fqdn) and the final name. */
export async function followCnames(fqdn: string, resolver: DnsServer, timeoutMs?: number): Promise<{ target: string; cnames: string[] }> {
  let name = normalizeName(fqdn);
  const cnames: string[] = [];
  for (let i = 0; i <= MAX_CNAMES; i++) {
    const m = await query(resolver, name, RRType.CNAME, { recursionDesired: true, timeoutMs });
    // REFUSED: the resolver serves no zone above the name (an authoritative-only server); findZone says so clearly.
    if (m.rcode === Rcode.REFUSED) return { target: name, cnames };
    if (m.rcode !== Rcode.NOERROR && m.rcode !== Rcode.NXDOMAIN) throw answerError(resolver, `CNAME ${name}`, m);
    const c = m.answers.find((rr) => rr.type === RRType.CNAME && normalizeName(rr.name) === name);
    if (!c) return { target: name, cnames };
    const next = normalizeName(c.data as string);
    if (next === normalizeName(fqdn) || cnames.includes(next)) {
      throw new DnsError('zone', `The CNAME chain from ${fqdn} loops (${[fqdn, ...cnames, next].join(' → ')}).`, { hint: 'Fix the CNAME records on the _acme-challenge name.' });
    }
    cnames.push(next);
    name = next;
  }
  throw new DnsError('zone', `The CNAME chain from ${fqdn} is longer than ${MAX_CNAMES} links.`, { hint: 'Point _acme-challenge straight at the name that holds the TXT record.' });
}

/** The zone (SOA owner) containing `name`. */
export async function findZone(name: string, resolver: DnsServer, timeoutMs?: number): Promise<{ zone: string; soa: SoaData }> {
  let candidate = normalizeName(name);
  for (;;) {
    const m = await query(resolver, candidate, RRType.SOA, { recursionDesired: true, timeoutMs });
    if (m.rcode === Rcode.NOERROR || m.rcode === Rcode.NXDOMAIN) {
      const soa = [...m.answers, ...m.authorities].find((rr) => rr.type === RRType.SOA && isUnder(candidate, normalizeName(rr.name)));
      if (soa) return { zone: normalizeName(soa.name), soa: soa.data as SoaData };
    } else if (m.rcode !== Rcode.REFUSED) {
      throw answerError(resolver, `SOA ${candidate}`, m);
    }
    // No SOA (a server that answers REFUSED for names outside its zones, or a bare answer): try the parent.
    if (!candidate.includes('.')) break;
    candidate = candidate.slice(candidate.indexOf('.') + 1);
  }
  throw new DnsError('zone', `No zone was found for ${normalizeName(name)}: the resolver ${formatServer(resolver)} knows no SOA above it.`, {
    server: formatServer(resolver),
    hint: 'Check that the name is in a zone you serve (and that the resolver can reach it), or give the zone explicitly.',
  });
}

/** The NS set of `zone` and every address of each nameserver. */
export async function findNameservers(zone: string, resolver: DnsServer, timeoutMs?: number): Promise<Nameserver[]> {
  const z = normalizeName(zone);
  const m = await query(resolver, z, RRType.NS, { recursionDesired: true, timeoutMs });
  if (m.rcode !== Rcode.NOERROR) throw answerError(resolver, `NS ${z}`, m);
  const names = [...new Set(m.answers.filter((rr) => rr.type === RRType.NS && normalizeName(rr.name) === z).map((rr) => normalizeName(rr.data as string)))].sort();
  if (names.length === 0) {
    throw new DnsError('zone', `The zone ${z} has no NS records (asked ${formatServer(resolver)}).`, { server: formatServer(resolver), hint: 'A zone needs NS records naming its authoritative nameservers.' });
  }
  const out: Nameserver[] = [];
  for (const name of names) {
    const glue = m.additionals.filter((rr) => (rr.type === RRType.A || rr.type === RRType.AAAA) && normalizeName(rr.name) === name).map((rr) => rr.data as string);
    const addresses = new Set(glue);
    for (const type of [RRType.A, RRType.AAAA]) {
      if (glue.length && m.additionals.some((rr) => rr.type === type && normalizeName(rr.name) === name)) continue;
      const a = await query(resolver, name, type, { recursionDesired: true, timeoutMs });
      if (a.rcode !== Rcode.NOERROR && a.rcode !== Rcode.NXDOMAIN) continue;
      for (const rr of a.answers) if (rr.type === type && net.isIP(rr.data as string)) addresses.add(rr.data as string);
    }
    if (addresses.size === 0) {
      throw new DnsError('zone', `The nameserver ${name} of zone ${z} has no address (no A or AAAA record found through ${formatServer(resolver)}).`, {
        hint: 'Every NS of the zone must resolve: the CA may ask any of them.',
      });
    }
    out.push({ name, addresses: [...addresses].sort() });
  }
  return out;
}

/** Everything the propagation wait and the providers need for one identifier. */
export async function discoverChallengeZone(identifier: string, opts: DiscoveryOptions = {}): Promise<ChallengeZone> {
  const resolver = opts.resolver ?? defaultResolver();
  const fqdn = challengeName(identifier);
  const { target, cnames } = await followCnames(fqdn, resolver, opts.timeoutMs);
  let zone: string;
  if (opts.zone !== undefined) {
    zone = normalizeName(opts.zone);
    if (!isUnder(target, zone)) {
      throw new DnsError('zone', `The record ${target}${cnames.length ? ` (where ${fqdn} points)` : ''} is not inside the zone ${zone}.`, { hint: 'Give the zone that contains it, or leave the zone out to find it from the SOA.' });
    }
    const m = await query(resolver, zone, RRType.SOA, { recursionDesired: true, timeoutMs: opts.timeoutMs });
    if (!m.answers.some((rr) => rr.type === RRType.SOA && normalizeName(rr.name) === zone)) {
      throw new DnsError('zone', `${zone} is not a zone: the resolver ${formatServer(resolver)} has no SOA record for it (${rcodeName(m.rcode)}).`, {
        server: formatServer(resolver),
        hint: 'Give the name of the zone as the nameserver serves it (the name of its SOA record), or leave it out.',
      });
    }
  } else {
    zone = (await findZone(target, resolver, opts.timeoutMs)).zone;
  }
  const nameservers = await findNameservers(zone, resolver, opts.timeoutMs);
  return { domain: normalizeName(identifier), fqdn, target, cnames, zone, nameservers };
}
