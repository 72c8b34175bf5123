/**
 * CAA (RFC 8659): may this CA issue for this name?
 *
 * The relevant record set is the first non-empty CAA RRset found climbing
 * from the name towards its registered domain (names.ts `registeredDomain`;
 * we stop there because a public suffix's CAA is not the owner's to set).
 * Within it, `issue` governs ordinary names and `issuewild` governs wildcards
 * (falling back to `issue` when the set has no `issuewild`). A property with
 * the critical flag (128) and a tag we do not understand forbids issuance.
 *
 * A CAA look-up that times out or SERVFAILs is a failure: the CA treats it
 * the same way and refuses (seed 001: an integration whose 403s were CAA
 * time-outs it never surfaced).
 */
import { isIP } from 'node:net';
import { registeredDomain } from '../names.js';
import type { CaaRecordRaw, DnsClient, DnsFailure } from './dns.js';
import { printable, type PrecheckResult } from './types.js';

/** One CAA property, normalised: tag lower-cased (tags are case-insensitive), flags kept. */
export interface CaaRecord {
  flags: number;
  tag: string;
  value: string;
}

/** Tags RFC 8659 defines. A critical property with any other tag forbids issuance. */
export const KNOWN_CAA_TAGS: ReadonlySet<string> = new Set(['issue', 'issuewild', 'iodef']);
/** The critical bit of the flags byte (RFC 8659 §4.1). */
export const CAA_CRITICAL = 128;

/** node:dns shape → CaaRecord. */
export function fromRaw(r: CaaRecordRaw): CaaRecord {
  const flags = Number(r.critical) || 0;
  const tagKey = Object.keys(r).find((k) => k !== 'critical') ?? '';
  return { flags, tag: tagKey.toLowerCase(), value: String(r[tagKey] ?? '') };
}

/** An `issue` / `issuewild` value: "ca.example; key=value; …". `domain` null means ";" (no CA may issue). */
export interface IssueValue {
  domain: string | null;
  params: Record<string, string>;
  /** The value did not parse; RFC 8659 says treat it as not authorising anyone. */
  malformed: boolean;
}

export function parseIssueValue(value: string): IssueValue {
  const [head, ...rest] = value.split(';');
  const domain = head!.trim().toLowerCase().replace(/\.$/, '');
  const params: Record<string, string> = {};
  let malformed = domain !== '' && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain);
  for (const p of rest) {
    const t = p.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq <= 0) {
      malformed = true;
      continue;
    }
    params[t.slice(0, eq).trim().toLowerCase()] = t.slice(eq + 1).trim();
  }
  return { domain: domain === '' ? null : domain, params, malformed };
}

export interface CaaDecision {
  allowed: boolean;
  /** Why, in one sentence. */
  reason: string;
  /** The property that decided (the one that matched, or the critical unknown one). */
  record?: CaaRecord;
  /** The properties that applied to this name (issue or issuewild). */
  relevant: CaaRecord[];
  /** True when the CA's CAA identity is unknown and a relevant record exists: we cannot tell. */
  undecidable?: boolean;
  /** A caveat on an allowed decision (e.g. an accounturi we could not compare). */
  note?: string;
}

export interface CaaPolicyInput {
  /** The name is a wildcard ("*.example.com"). */
  wildcard: boolean;
  /** The CA's identifying domains (CaProfile.caaIdentities). Empty = unknown. */
  identities: readonly string[];
  /** The ACME account URL, when known, to compare an `accounturi` parameter. */
  accountUri?: string;
  /** The validation method that will be used (RFC 8657 `validationmethods`). Default "http-01". */
  method?: string;
}

/** Pure RFC 8659 evaluation of one non-empty record set. */
export function evaluateCaa(records: readonly CaaRecord[], input: CaaPolicyInput): CaaDecision {
  const critical = records.find((r) => (r.flags & CAA_CRITICAL) !== 0 && !KNOWN_CAA_TAGS.has(r.tag));
  if (critical) {
    return { allowed: false, reason: `a critical CAA property with the unknown tag "${printable(critical.tag, 60)}" forbids issuance by any CA`, record: critical, relevant: [] };
  }
  const issuewild = records.filter((r) => r.tag === 'issuewild');
  const relevant = input.wildcard && issuewild.length > 0 ? issuewild : records.filter((r) => r.tag === 'issue');
  const tag = input.wildcard && issuewild.length > 0 ? 'issuewild' : 'issue';
  if (relevant.length === 0) {
    return { allowed: true, reason: `the CAA records have no "${tag}" property, so they do not restrict issuance`, relevant };
  }
  const ids = input.identities.map((d) => d.toLowerCase().replace(/\.$/, ''));
  const method = input.method ?? 'http-01';
  let nearMiss: string | undefined;
  for (const r of relevant) {
    const v = parseIssueValue(r.value);
    if (v.malformed || v.domain === null || !ids.includes(v.domain)) continue;
    const methods = v.params['validationmethods'];
    if (methods !== undefined && !methods.split(',').map((m) => m.trim().toLowerCase()).includes(method)) {
      nearMiss = `${tag} "${printable(r.value, 100)}" names this CA but only for validation methods ${methods}, not ${method}`;
      continue;
    }
    const acct = v.params['accounturi'];
    if (acct !== undefined) {
      if (input.accountUri === undefined) {
        return { allowed: true, reason: `${tag} "${printable(r.value, 100)}" authorises this CA`, record: r, relevant, note: `it is limited to the account ${acct}; make sure certctl uses that account` };
      }
      if (acct !== input.accountUri) {
        nearMiss = `${tag} "${printable(r.value, 100)}" names this CA but only for the account ${acct}, not ${input.accountUri}`;
        continue;
      }
    }
    return { allowed: true, reason: `${tag} "${printable(r.value, 100)}" authorises this CA`, record: r, relevant };
  }
  if (ids.length === 0) {
    const anyIssuer = relevant.some((r) => parseIssueValue(r.value).domain !== null);
    if (anyIssuer) {
      return {
        allowed: false,
        undecidable: true,
        reason: `cannot tell: this CA's CAA identity is not configured, and the ${tag} records (${relevant.map((r) => `"${printable(r.value, 100)}"`).join(', ')}) only authorise the CAs they name`,
        relevant,
      };
    }
  }
  if (nearMiss) return { allowed: false, reason: nearMiss, relevant };
  const forbidsAll = relevant.every((r) => parseIssueValue(r.value).domain === null);
  return {
    allowed: false,
    reason: forbidsAll
      ? `${tag} ";" forbids issuance by every CA`
      : `${tag} authorises only ${relevant.map((r) => `"${printable(r.value, 100)}"`).join(', ')}, not ${ids.map((d) => `"${d}"`).join(' or ')}`,
    relevant,
  };
}

/** The names RFC 8659 climbs through, from the name up to and including its registered domain. */
export function caaClimb(name: string): string[] {
  const bare = name.replace(/^\*\./, '').replace(/\.$/, '').toLowerCase();
  const stop = registeredDomain(bare);
  const labels = bare.split('.');
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    const n = labels.slice(i).join('.');
    out.push(n);
    if (n === stop) break;
  }
  return out;
}

export interface CaaLookup {
  /** Each name asked, and what came back. */
  asked: { name: string; outcome: string; records?: CaaRecord[] }[];
  /** The owner name of the relevant record set, or null when none exists. */
  owner: string | null;
  records: CaaRecord[];
  /** A look-up that failed (time-out, SERVFAIL, …): the climb stopped there. */
  failure?: DnsFailure & { at: string };
}

/** Find the relevant CAA record set (the first non-empty one up the tree). */
export async function findCaaSet(dns: DnsClient, name: string): Promise<CaaLookup> {
  const asked: CaaLookup['asked'] = [];
  for (const n of caaClimb(name)) {
    const ans = await dns.caa(n);
    if (ans.kind === 'ok') {
      const records = ans.records.map(fromRaw);
      asked.push({ name: n, outcome: records.length ? 'records' : 'empty', records });
      if (records.length) return { asked, owner: n, records };
      continue;
    }
    asked.push({ name: n, outcome: ans.kind });
    // No record / no such name: keep climbing. Anything else: the CA cannot decide either.
    if (ans.kind === 'nodata' || ans.kind === 'nxdomain') continue;
    return { asked, owner: null, records: [], failure: { ...ans, at: n } };
  }
  return { asked, owner: null, records: [] };
}

/** Zone-file style, made printable (a record's value comes from the network). */
function fmt(r: CaaRecord): string {
  return printable(`${r.flags} ${r.tag} "${r.value}"`, 300);
}

/** The CAA check for one name. */
export async function checkCaa(dns: DnsClient, name: string, input: Omit<CaaPolicyInput, 'wildcard'>, caLabel: string): Promise<PrecheckResult> {
  const base = { name, check: 'caa' as const };
  if (isIP(name)) {
    return { ...base, ok: true, summary: 'CAA does not apply to IP address identifiers', evidence: {} };
  }
  const lookup = await findCaaSet(dns, name);
  const evidence: Record<string, unknown> = {
    resolver: dns.label,
    asked: lookup.asked.map((a) => ({ name: a.name, outcome: a.outcome, ...(a.records ? { records: a.records.map(fmt) } : {}) })),
    caaIdentities: [...input.identities],
  };
  if (lookup.failure) {
    const f = lookup.failure;
    const what = f.kind === 'timeout' ? 'timed out' : f.kind === 'servfail' ? 'got SERVFAIL' : `failed (${f.code})`;
    return {
      ...base,
      ok: false,
      summary: `the CAA look-up for ${f.at} ${what} (resolver ${dns.label})`,
      evidence: { ...evidence, failure: { name: f.at, outcome: f.kind, code: f.code } },
      advice: `${caLabel} checks CAA before issuing and refuses when the look-up fails, so this order would fail. Make the authoritative servers of ${f.at} answer CAA queries (an empty answer is fine): dig CAA ${f.at} @<each NS>.`,
    };
  }
  if (!lookup.owner) {
    return { ...base, ok: true, summary: `no CAA records from ${name} up to ${caaClimb(name).pop()}: any CA may issue`, evidence };
  }
  const decision = evaluateCaa(lookup.records, { ...input, wildcard: name.startsWith('*.') });
  evidence.owner = lookup.owner;
  evidence.records = lookup.records.map(fmt);
  if (decision.record) evidence.decidingRecord = fmt(decision.record);
  const at = lookup.owner === name.replace(/^\*\./, '') ? `at ${lookup.owner}` : `inherited from ${lookup.owner}`;
  if (decision.allowed) {
    const r: PrecheckResult = { ...base, ok: true, summary: `CAA ${at}: ${decision.reason}`, evidence };
    if (decision.note) r.advice = decision.note;
    return r;
  }
  if (decision.undecidable) {
    return {
      ...base,
      ok: false,
      summary: `CAA ${at}: ${decision.reason}`,
      evidence: { ...evidence, undecidable: true },
      advice: `Find the CAA domain ${caLabel} documents and either add it to the CA profile, pass it with --caa-identity DOMAIN, or add a record: ${lookup.owner}. CAA 0 issue "<that domain>".`,
    };
  }
  const want = input.identities[0];
  const tag = name.startsWith('*.') ? 'issuewild' : 'issue';
  return {
    ...base,
    ok: false,
    summary: `CAA ${at} forbids ${caLabel}: ${decision.reason}`,
    evidence,
    advice: want
      ? `Add a record allowing ${caLabel} (or remove the one that forbids it): ${lookup.owner}. CAA 0 ${tag} "${want}"`
      : `Remove or change the CAA record that forbids issuance at ${lookup.owner}.`,
  };
}
