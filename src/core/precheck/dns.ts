/**
 * DNS for the readiness checks: A/AAAA and CAA through one configurable
 * resolver, with explicit time-outs, and every failure classified the way a
 * person fixing their zone needs it said (time-out is not SERVFAIL is not
 * NXDOMAIN is not "no records").
 *
 * Each query gets its own node:dns Resolver so a hard deadline can cancel it
 * without cancelling the other names' queries (Resolver.cancel() is
 * per-resolver).
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InputError } from '../errors.js';
import type { PrecheckResult } from './types.js';

/**
 * How a DNS question ended. `nodata` = the name exists but has no record of
 * this type; `nxdomain` = the name does not exist; `unreachable` = the
 * resolver refused the connection (nothing listening).
 */
export type DnsOutcomeKind = 'ok' | 'timeout' | 'servfail' | 'nxdomain' | 'nodata' | 'refused' | 'unreachable' | 'error';

export interface DnsFailure {
  kind: Exclude<DnsOutcomeKind, 'ok'>;
  /** node:dns error code (ETIMEOUT, ESERVFAIL, …) */
  code: string;
  message: string;
}

export type DnsAnswer<T> = { kind: 'ok'; records: T[] } | DnsFailure;

export interface DnsOptions {
  /** "host:port" or "[v6]:port" or a bare IP (port 53); undefined = the system's resolvers. */
  resolver?: string;
  /** Hard limit for one question, all tries included. Default 5000 ms. */
  timeoutMs?: number;
}

/** Default per-question deadline: public resolvers answer in well under a second; 5 s leaves room for a slow authoritative server. */
export const DEFAULT_DNS_TIMEOUT_MS = 5000;
/** Tries per question: one retry covers a lost UDP packet without doubling a real outage's wait. */
const DNS_TRIES = 2;

/** Parse and check a --resolver value. node:dns only accepts IP addresses, so a host name is refused here, early. */
export function parseResolver(spec: string): string {
  const s = spec.trim();
  let host: string;
  let port = 53;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    if (v6[2]) port = Number(v6[2]);
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(s);
    if (!m) throw new InputError(`--resolver "${spec}" is not HOST:PORT.`, 'Give an IP address and optional port, e.g. --resolver 127.0.0.1:8053 or --resolver [::1]:53.');
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
  }
  if (!isIP(host)) throw new InputError(`--resolver "${spec}": "${host}" is not an IP address.`, 'The resolver must be given by address, e.g. --resolver 127.0.0.1:53.');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InputError(`--resolver "${spec}": port ${port} is out of range.`);
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function classify(err: unknown): DnsFailure {
  const e = err as NodeJS.ErrnoException;
  const code = String(e?.code ?? 'EUNKNOWN');
  const message = String(e?.message ?? err);
  switch (code) {
    case 'ETIMEOUT':
    case 'ECANCELLED':
      return { kind: 'timeout', code, message };
    case 'ESERVFAIL':
      return { kind: 'servfail', code, message };
    case 'ENOTFOUND':
      return { kind: 'nxdomain', code, message };
    case 'ENODATA':
      return { kind: 'nodata', code, message };
    case 'EREFUSED':
      return { kind: 'refused', code, message };
    case 'ECONNREFUSED':
      return { kind: 'unreachable', code, message };
    default:
      return { kind: 'error', code, message };
  }
}

/** A resolver configuration; each question runs on a fresh node:dns Resolver with a hard deadline. */
export class DnsClient {
  readonly server: string | undefined;
  readonly timeoutMs: number;

  constructor(opts: DnsOptions = {}) {
    this.server = opts.resolver ? parseResolver(opts.resolver) : undefined;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS;
  }

  /** Who answers, for evidence: "127.0.0.1:8053" or "system". */
  get label(): string {
    return this.server ?? 'system';
  }

  private async ask<T>(fn: (r: Resolver) => Promise<T[]>): Promise<DnsAnswer<T>> {
    const perTry = Math.max(100, Math.ceil(this.timeoutMs / DNS_TRIES));
    const r = new Resolver({ timeout: perTry, tries: DNS_TRIES });
    if (this.server) r.setServers([this.server]);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<DnsFailure>((resolve) => {
      timer = setTimeout(() => {
        r.cancel();
        resolve({ kind: 'timeout', code: 'ETIMEOUT', message: `no answer within ${this.timeoutMs} ms` });
      }, this.timeoutMs + 250);
    });
    try {
      return await Promise.race([fn(r).then((records) => ({ kind: 'ok' as const, records }), classify), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  a(name: string): Promise<DnsAnswer<string>> {
    return this.ask((r) => r.resolve4(name));
  }

  aaaa(name: string): Promise<DnsAnswer<string>> {
    return this.ask((r) => r.resolve6(name));
  }

  caa(name: string): Promise<DnsAnswer<CaaRecordRaw>> {
    return this.ask((r) => r.resolveCaa(name) as Promise<CaaRecordRaw[]>);
  }
}

/** node:dns's CAA record: `critical` is the flags byte, the one other key is the tag. */
export type CaaRecordRaw = { critical: number } & Record<string, string | number>;

/** Both address families of a name. */
export interface AddressLookup {
  name: string;
  resolver: string;
  v4: DnsAnswer<string>;
  v6: DnsAnswer<string>;
  /** IPv6 first, as Let's Encrypt's validator tries it first. */
  addresses: string[];
}

export async function lookupAddresses(dns: DnsClient, name: string): Promise<AddressLookup> {
  const [v4, v6] = await Promise.all([dns.a(name), dns.aaaa(name)]);
  const addresses = [...(v6.kind === 'ok' ? v6.records : []), ...(v4.kind === 'ok' ? v4.records : [])];
  return { name, resolver: dns.label, v4, v6, addresses };
}

/** Which failure to report when neither family answered: the one the user must fix first. */
const SEVERITY: DnsOutcomeKind[] = ['timeout', 'servfail', 'unreachable', 'refused', 'error', 'nxdomain', 'nodata'];

function describe(f: DnsFailure, name: string, type: string, resolver: string): { summary: string; advice: string } {
  switch (f.kind) {
    case 'timeout':
      return {
        summary: `DNS time-out: the resolver ${resolver} gave no answer for ${name} (${type})`,
        advice: `The CA's resolvers will time out too and refuse the name. Check that the name's authoritative servers answer (dig ${type} ${name} @<each NS>), or that --resolver points at a working resolver.`,
      };
    case 'servfail':
      return {
        summary: `DNS SERVFAIL for ${name} (${type}) from ${resolver}`,
        advice: 'SERVFAIL usually means a broken delegation or DNSSEC failure; the CA will refuse the name. Check the zone with dig +dnssec or a DNSSEC analyzer and fix it before ordering.',
      };
    case 'nxdomain':
      return {
        summary: `NXDOMAIN: ${name} does not exist in DNS (asked ${resolver})`,
        advice: `Create an A and/or AAAA record for ${name} pointing at this server, or check the spelling.`,
      };
    case 'nodata':
      return {
        summary: `${name} exists but has no A or AAAA record (asked ${resolver})`,
        advice: `Add an A and/or AAAA record for ${name} pointing at the server that answers HTTP-01.`,
      };
    case 'refused':
      return { summary: `the resolver ${resolver} refused to answer for ${name} (${type})`, advice: 'Use a resolver that answers recursive queries for you (--resolver).' };
    case 'unreachable':
      return { summary: `cannot reach the resolver ${resolver}`, advice: 'Check --resolver (address and port) and that the resolver is running.' };
    default:
      return { summary: `DNS error for ${name} (${type}): ${f.code} ${f.message}`, advice: 'Check the resolver and the zone.' };
  }
}

function answerEvidence(a: DnsAnswer<string>): Record<string, unknown> {
  return a.kind === 'ok' ? { outcome: 'ok', records: a.records } : { outcome: a.kind, code: a.code };
}

/** The DNS check: the name resolves to at least one address. */
export function dnsResult(lookup: AddressLookup): PrecheckResult {
  const evidence = { resolver: lookup.resolver, A: answerEvidence(lookup.v4), AAAA: answerEvidence(lookup.v6) };
  if (lookup.addresses.length > 0) {
    const parts: string[] = [];
    if (lookup.v4.kind === 'ok') parts.push(`A ${lookup.v4.records.join(', ')}`);
    if (lookup.v6.kind === 'ok') parts.push(`AAAA ${lookup.v6.records.join(', ')}`);
    const result: PrecheckResult = { name: lookup.name, check: 'dns', ok: true, summary: `resolves: ${parts.join('; ')}`, evidence };
    // One family answering while the other times out or SERVFAILs still works today, but is fragile.
    const bad = [lookup.v4, lookup.v6].find((a): a is DnsFailure => a.kind === 'timeout' || a.kind === 'servfail');
    if (bad) result.advice = `The ${bad === lookup.v4 ? 'A' : 'AAAA'} query failed (${bad.kind}); fix it so every resolver gets a clean answer.`;
    return result;
  }
  const failures: [DnsFailure, string][] = [];
  if (lookup.v4.kind !== 'ok') failures.push([lookup.v4, 'A']);
  if (lookup.v6.kind !== 'ok') failures.push([lookup.v6, 'AAAA']);
  failures.sort((x, y) => SEVERITY.indexOf(x[0].kind) - SEVERITY.indexOf(y[0].kind));
  const [worst, type] = failures[0] ?? [{ kind: 'nodata', code: 'ENODATA', message: 'empty answer' } as DnsFailure, 'A'];
  const { summary, advice } = describe(worst, lookup.name, type, lookup.resolver);
  return { name: lookup.name, check: 'dns', ok: false, summary, evidence: { ...evidence, outcome: worst.kind }, advice };
}

export { describe as describeDnsFailure };
