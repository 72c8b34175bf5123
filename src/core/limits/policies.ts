/**
 * Each CA's published rate limits, as data: one table per CA, each with the
 * source and the date it was read. The planner never branches on a CA id; it
 * reads these tables. A user can raise or add a limit (a CA granted an
 * override) with `applyOverrides`, fed from the config file.
 *
 * Facts: Let's Encrypt's rate-limit and staging docs (2026-08 revision),
 * Boulder's ratelimits/ defaults, and seed 004 for the SM2 ACME Service
 * (rules of 2023-01-06).
 */
import { InputError } from '../errors.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** Every limit certctl models, by a stable name (used in the ledger's problems.limit_name and in --json). */
export const LIMIT_NAMES = [
  'certificates-per-domain',
  'duplicate-certificates',
  'new-orders',
  'failed-authorizations',
  'consecutive-failures',
  'pending-orders',
  'pending-authorizations',
  'names-per-certificate',
  'registrations-per-ip',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/**
 * How one limit counts.
 * - bucket: capacity tokens, one back every refillMs (Boulder's GCRA; period = capacity × refillMs).
 * - window: at most `count` events in any window of windowMs (sliding).
 * - concurrent: at most `count` things open at once (pending orders); an open thing stops counting after lifetimeMs (the CA expires it).
 * - max: a fixed ceiling per request (names per certificate).
 */
export type Rule =
  | { kind: 'bucket'; capacity: number; refillMs: number; resetOnSuccess?: boolean; why?: string }
  | { kind: 'window'; count: number; windowMs: number; why?: string }
  | { kind: 'concurrent'; count: number; lifetimeMs: number; why?: string }
  | { kind: 'max'; count: number; why?: string };

/** Which limits a renewal escapes, as the CA states it. */
export interface RenewalRule {
  /** A certificate for the same exact set issued within this long before counts the request as a renewal. Absent: no such exemption. */
  sameSetWithinMs?: number;
  /** Limits a renewal (as above) does not spend or check. */
  sameSetExempt: LimitName[];
  /** An ARI renewal (`replaces`, inside the suggested window) is exempt from every limit. */
  ariExemptAll: boolean;
}

/**
 * What an ACME profile (the directory's meta.profiles, newOrder `profile`) changes in what a CA
 * issues: how many names fit in one certificate, whether IP-address identifiers are issued, and
 * how long the certificates live — which drives when certctl renews them (renew/due.ts).
 */
export interface ProfileRule {
  /** Most identifiers in one certificate under this profile (replaces names-per-certificate). */
  maxNames: number;
  /** IP-address identifiers (RFC 8738) are issued under this profile. */
  ipIdentifiers: boolean;
  /** Certificate lifetime by the date the change took effect (ISO dates, ascending): the last one on or before the issuance applies. */
  lifetimes: { from: string; ms: number }[];
  why: string;
}

export interface Policy {
  id: string;
  name: string;
  /** Where the numbers come from. */
  source: string;
  /** When the source was read / the rules took effect (ISO date). */
  date: string;
  limits: Partial<Record<LimitName, Rule>>;
  renewal: RenewalRule;
  /** The CA's profiles certctl knows the rules of; absent: the CA lists none (or certctl knows none), the limits above hold for any profile. */
  profiles?: Record<string, ProfileRule>;
  /** The profile the CA uses when the order names none. */
  defaultProfile?: string;
}

/** Boulder's emission interval: the period divided by the capacity. */
function bucket(capacity: number, period: number, why?: string): Rule {
  return { kind: 'bucket', capacity, refillMs: period / capacity, why };
}

/** How long a pending order lives at Let's Encrypt before it expires (7 days): an open order older than this no longer counts. */
const ORDER_LIFETIME = 7 * DAY;

/** LE's renewal rule since 2024-04-25 (ARI) and Jul 2023 / Mar 2019 (same set within 120 days). */
const LE_RENEWAL: RenewalRule = {
  sameSetWithinMs: 120 * DAY,
  sameSetExempt: ['certificates-per-domain', 'new-orders'],
  ariExemptAll: true,
};

/**
 * Let's Encrypt's profiles (letsencrypt.org/docs/profiles, rate-limits; the 2026-2029 lifetime
 * changes). classic: 100 names, 90 days, 64 days from 2027-02-10, 45 days from 2028-02-16.
 * tlsserver: 25 names, 45 days since 2026-05-13. shortlived: 25 names, DNS and IP identifiers,
 * 160 h (GA 2026-01-15). IP-address certificates only under shortlived.
 */
const LE_PROFILES: Record<string, ProfileRule> = {
  classic: {
    maxNames: 100,
    ipIdentifiers: false,
    lifetimes: [
      { from: '2015-12-03', ms: 90 * DAY },
      { from: '2027-02-10', ms: 64 * DAY },
      { from: '2028-02-16', ms: 45 * DAY },
    ],
    why: 'classic: 100 names, 90 days (64 days from 2027-02-10, 45 days from 2028-02-16), DNS names only',
  },
  tlsserver: {
    maxNames: 25,
    ipIdentifiers: false,
    lifetimes: [
      { from: '2025-01-01', ms: 90 * DAY },
      { from: '2026-05-13', ms: 45 * DAY },
    ],
    why: 'tlsserver: 25 names, 45 days since 2026-05-13, DNS names only',
  },
  shortlived: {
    maxNames: 25,
    ipIdentifiers: true,
    lifetimes: [{ from: '2025-01-01', ms: 160 * HOUR }],
    why: 'shortlived: 25 names, 160 h (about 6 days), DNS names and IP addresses',
  },
};

/**
 * The Baseline Requirements' cap on any publicly trusted TLS certificate's lifetime
 * (CA/Browser Forum ballot SC-081): 200 days from 2026-03-15, 100 days from 2027-03-15,
 * 47 days from 2029-03-15. A CA whose profile lifetime certctl does not know issues no longer.
 */
export const BR_MAX_LIFETIME: readonly { from: string; ms: number }[] = [
  { from: '2026-03-15', ms: 200 * DAY },
  { from: '2027-03-15', ms: 100 * DAY },
  { from: '2029-03-15', ms: 47 * DAY },
];

export const POLICIES: readonly Policy[] = [
  {
    id: 'letsencrypt',
    name: "Let's Encrypt (production)",
    source: 'https://letsencrypt.org/docs/rate-limits/ (2026-08 revision); letsencrypt/boulder ratelimits/',
    date: '2026-08-01',
    limits: {
      'certificates-per-domain': bucket(50, WEEK, '50 per registered domain per 7 days, 1 back every 201.6 min; spent at issuance'),
      'duplicate-certificates': bucket(5, WEEK, '5 per exact set per 7 days, 1 back every 33.6 h'),
      'new-orders': bucket(300, 3 * HOUR, '300 per account per 3 h, 1 back every 36 s'),
      'failed-authorizations': bucket(5, HOUR, '5 failed validations per identifier per account per hour, 1 back every 12 min'),
      'consecutive-failures': {
        kind: 'bucket',
        capacity: 1152,
        refillMs: DAY,
        resetOnSuccess: true,
        why: '1,152 consecutive failures per identifier per account pause it (since 2025-07-10; was 3,600); 1 back per day, any success resets; unpause only on the web portal',
      },
      'names-per-certificate': { kind: 'max', count: 100, why: '100 identifiers (profile classic; 25 for tlsserver and shortlived)' },
      'registrations-per-ip': bucket(10, 3 * HOUR, '10 new accounts per IP per 3 h, 1 back every 18 min'),
    },
    renewal: LE_RENEWAL,
    profiles: LE_PROFILES,
    defaultProfile: 'classic',
  },
  {
    id: 'letsencrypt-staging',
    name: "Let's Encrypt (staging)",
    source: 'https://letsencrypt.org/docs/staging-environment/ (2026-08 revision)',
    date: '2026-08-01',
    limits: {
      'certificates-per-domain': bucket(30_000, WEEK),
      'duplicate-certificates': bucket(30_000, WEEK),
      'new-orders': bucket(1500, 3 * HOUR),
      'failed-authorizations': bucket(200, HOUR),
      'consecutive-failures': { kind: 'bucket', capacity: 3600, refillMs: (6 * HOUR) / 3600, resetOnSuccess: true, why: '3,600 per 6 h' },
      'names-per-certificate': { kind: 'max', count: 100 },
      'registrations-per-ip': bucket(50, 3 * HOUR),
    },
    renewal: LE_RENEWAL,
    // Staging moves its lifetimes about a month before production; certctl uses production's dates.
    profiles: LE_PROFILES,
    defaultProfile: 'classic',
  },
  {
    id: 'letsencrypt-2016',
    name: "Let's Encrypt (public beta, Jan 2016)",
    source: 'Let\'s Encrypt rate-limit history; community.letsencrypt.org threads of Jan 2016 (seed 000)',
    date: '2016-01-01',
    limits: {
      // Boulder counted certificates in the last 7 days then (a sliding window), renewals included.
      'certificates-per-domain': { kind: 'window', count: 5, windowMs: WEEK, why: '5 certificates per registered domain per 7 days, renewals included' },
      'names-per-certificate': { kind: 'max', count: 100 },
      'registrations-per-ip': { kind: 'window', count: 500, windowMs: 3 * HOUR },
      'pending-authorizations': { kind: 'concurrent', count: 300, lifetimeMs: WEEK },
    },
    renewal: { sameSetExempt: [], ariExemptAll: false },
  },
  {
    id: 'sm2acme',
    name: 'SM2 ACME Service',
    source: 'SM2 ACME Service Rate Limits (seed 004_95c0d6e27a05826f), last updated 2023-01-06',
    date: '2023-01-06',
    limits: {
      'certificates-per-domain': { kind: 'window', count: 10, windowMs: WEEK, why: '10 per registered domain per week (sliding); a bundle is 3 certificates' },
      'duplicate-certificates': { kind: 'window', count: 5, windowMs: WEEK, why: '5 per exact set per week' },
      'new-orders': { kind: 'window', count: 10, windowMs: HOUR, why: '10 new orders per account per hour' },
      'pending-orders': { kind: 'concurrent', count: 10, lifetimeMs: ORDER_LIFETIME, why: '10 pending-validation orders per account' },
      'names-per-certificate': { kind: 'max', count: 20 },
      'registrations-per-ip': { kind: 'window', count: 10, windowMs: 8 * HOUR, why: '10 accounts per IP per 8 h' },
    },
    // "Renewals don't count against per-domain": same set as an earlier certificate. The service states no
    // time bound; 90 days (its certificate lifetime) is certctl's assumption.
    renewal: { sameSetWithinMs: 90 * DAY, sameSetExempt: ['certificates-per-domain'], ariExemptAll: false },
  },
  {
    id: 'default',
    name: 'Unknown CA (conservative)',
    source: "certctl's own guess: Let's Encrypt's numbers as sliding windows (never more generous than a bucket), no exemptions",
    date: '2026-08-01',
    limits: {
      'certificates-per-domain': { kind: 'window', count: 20, windowMs: WEEK },
      'duplicate-certificates': { kind: 'window', count: 5, windowMs: WEEK },
      'new-orders': { kind: 'window', count: 300, windowMs: 3 * HOUR },
      'failed-authorizations': { kind: 'window', count: 5, windowMs: HOUR },
      'pending-orders': { kind: 'concurrent', count: 10, lifetimeMs: ORDER_LIFETIME },
      'names-per-certificate': { kind: 'max', count: 100 },
      'registrations-per-ip': { kind: 'window', count: 10, windowMs: 3 * HOUR },
    },
    renewal: { sameSetExempt: [], ariExemptAll: false },
  },
];

/** The rules of `profile` (or of the CA's default profile when none is asked) under `policy`; undefined when certctl knows none. */
export function profileRule(policy: Policy, profile: string | null | undefined): { name: string; rule: ProfileRule; asked: boolean } | undefined {
  const name = profile || policy.defaultProfile;
  const rule = name ? policy.profiles?.[name] : undefined;
  return name && rule ? { name, rule, asked: Boolean(profile) } : undefined;
}

/** The entry of a dated table in force at `at` (the last one whose date is on or before it). */
function inForce(table: readonly { from: string; ms: number }[], at: number): number | undefined {
  let ms: number | undefined;
  for (const e of table) if (Date.parse(`${e.from}T00:00:00Z`) <= at) ms = e.ms;
  return ms;
}

/**
 * How long a certificate ordered at `at` under `profile` will live: the profile's lifetime on that
 * date, never more than the Baseline Requirements allow then. Undefined when certctl knows neither.
 */
export function expectedLifetimeMs(policy: Policy, profile: string | null | undefined, at: number): number | undefined {
  const p = profileRule(policy, profile);
  const own = p ? inForce(p.rule.lifetimes, at) : undefined;
  const cap = inForce(BR_MAX_LIFETIME, at);
  if (own === undefined) return undefined;
  return cap === undefined ? own : Math.min(own, cap);
}

/** The policy with this id, or undefined. */
export function findPolicy(id: string): Policy | undefined {
  return POLICIES.find((p) => p.id === id);
}

/** The policy with this id; an unknown id gets the conservative default (never an error: a CA with no table is still usable). */
export function policyFor(id: string, overrides?: Record<string, PolicyOverride>): Policy {
  const base = findPolicy(id) ?? (overrides?.[id] ? { ...findPolicy('default')!, id, name: id } : findPolicy('default')!);
  const o = overrides?.[id];
  return o ? applyOverrides(base, o) : base;
}

/**
 * How far back a limit must read the ledger. A window reads one window; a
 * bucket reads two periods, because a backlog of spends (a saturated bucket)
 * carries its debt past one period.
 */
export function lookbackMs(rule: Rule): number {
  switch (rule.kind) {
    case 'bucket':
      return 2 * rule.capacity * rule.refillMs;
    case 'window':
      return rule.windowMs;
    case 'concurrent':
      return rule.lifetimeMs;
    case 'max':
      return 0;
  }
}

/** A rule's size: tokens of a bucket, events of a window, things open, names. */
export function ruleCapacity(rule: Rule): number {
  return rule.kind === 'bucket' ? rule.capacity : rule.count;
}

/**
 * A user's change to a policy (config file): raise, lower or remove a limit,
 * change the renewal rule, say where the change comes from. Numbers only
 * replace what they name: `{ limits: { 'certificates-per-domain': { capacity: 300 } } }`
 * raises LE's per-domain bucket and keeps its refill interval, unless
 * `periodMs` is given too (then refill = period / capacity).
 */
export interface PolicyOverride {
  name?: string;
  source?: string;
  date?: string;
  limits?: Partial<Record<LimitName, (Partial<Rule> & { periodMs?: number }) | null>>;
  renewal?: Partial<RenewalRule>;
}

/** Merge an override into a policy; returns a new policy. Throws InputError on a bad number or limit name. */
export function applyOverrides(policy: Policy, o: PolicyOverride): Policy {
  const limits: Partial<Record<LimitName, Rule>> = { ...policy.limits };
  for (const [name, patch] of Object.entries(o.limits ?? {})) {
    if (!(LIMIT_NAMES as readonly string[]).includes(name)) {
      throw new InputError(`Unknown rate limit "${name}" in the policy override for ${policy.id}.`, `Known limits: ${LIMIT_NAMES.join(', ')}.`);
    }
    const key = name as LimitName;
    if (patch === null) {
      delete limits[key];
      continue;
    }
    for (const [k, v] of Object.entries(patch)) {
      if (k !== 'kind' && k !== 'why' && k !== 'resetOnSuccess' && (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))) {
        throw new InputError(`Policy override ${policy.id}.${name}.${k} must be a positive number (got ${JSON.stringify(v)}).`);
      }
    }
    const cur = limits[key];
    const kind = patch.kind ?? cur?.kind;
    if (!kind) throw new InputError(`Policy override ${policy.id}.${name} adds a limit but gives no "kind" (bucket, window, concurrent, max).`);
    const merged = { ...(cur && cur.kind === kind ? cur : {}), ...patch, kind } as Rule & { periodMs?: number; capacity?: number; count?: number };
    if (merged.kind === 'bucket' && patch.periodMs !== undefined) merged.refillMs = patch.periodMs / merged.capacity;
    delete merged.periodMs;
    const missing = requiredFields(merged.kind).filter((f) => typeof (merged as unknown as Record<string, unknown>)[f] !== 'number');
    if (missing.length) throw new InputError(`Policy override ${policy.id}.${name} (${merged.kind}) needs ${missing.join(', ')}.`);
    merged.why = patch.why ?? `overridden by configuration${o.source ? ` (${o.source})` : ''}`;
    limits[key] = merged;
  }
  return {
    ...policy,
    name: o.name ?? policy.name,
    source: o.source ? `${policy.source}; override: ${o.source}` : policy.source,
    date: o.date ?? policy.date,
    limits,
    renewal: { ...policy.renewal, ...(o.renewal ?? {}) },
  };
}

function requiredFields(kind: Rule['kind']): string[] {
  switch (kind) {
    case 'bucket':
      return ['capacity', 'refillMs'];
    case 'window':
      return ['count', 'windowMs'];
    case 'concurrent':
      return ['count', 'lifetimeMs'];
    case 'max':
      return ['count'];
  }
}

export const TIME = { SECOND, MINUTE, HOUR, DAY, WEEK } as const;
