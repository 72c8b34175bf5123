/**
 * The planner: would the CA accept this request now, and if not, when?
 *
 * A pure function of (ledger facts, CA policy, request, now): no I/O, no
 * clock. The facts come from src/core/ledger/snapshot.ts; the policy from
 * src/core/limits/policies.ts. Every limit that applies is reported, with
 * what is used, what this request would spend, what is left after it and
 * the earliest moment it fits; a 429 the CA already sent (still inside its
 * Retry-After) overrides the model, because the CA's word beats our count.
 */
import { bucketAllowedAt, bucketState } from '../limits/bucket.js';
import { windowAllowedAt, windowState } from '../limits/window.js';
import { profileRule, ruleCapacity, type LimitName, type Policy, type Rule } from '../limits/policies.js';
import { classifyProblem } from '../limits/problems.js';
import { isIP, registeredDomain, registeredDomains, setKey } from '../names.js';
import { utc } from '../clock.js';

/** What is asked: one certificate request (N parts: dual = 2, an SM2 bundle = 3) to one CA. */
export interface PlanRequest {
  /** Normalised names (normalizeNames). */
  names: string[];
  caId: string;
  directoryUrl: string;
  policyId: string;
  /** The ledger's account id at this CA; null when none exists yet. */
  accountId: number | null;
  /** A new account would be registered first (spends registrations-per-ip). */
  newAccount?: boolean;
  /** Certificates the request produces: KeySpec.parts.length. */
  parts: number;
  /** ARI certID this order replaces (newOrder `replaces`). */
  replaces?: string | null;
  /** The replaced certificate's ARI suggested window has opened (exemption needs both). */
  ariWindowOpen?: boolean;
  /** Order even though a valid certificate for the exact set is held. */
  forceRenewal?: boolean;
  /** The lineage this request renews (a renewal is never a "duplicate" verdict). */
  renewalOf?: string;
  /** The ACME profile asked for (newOrder `profile`); null/absent: the CA's default. */
  profile?: string | null;
}

/** A certificate already issued, as the limits see it. */
export interface IssuedFact {
  /** Spend moment: when finalize succeeded, or the CT entry timestamp (never notBefore: CAs backdate it). */
  at: number;
  setKey: string;
  /** The latest earlier issuance of the same exact set (other bundle), for the renewal exemption. */
  prevSameSetAt: number | null;
  /** It carried ARI `replaces`. */
  ari: boolean;
}

/** An order that reached the CA (new-orders spends it even when it failed later). */
export interface OrderFact {
  at: number;
  setKey: string;
  prevSameSetAt: number | null;
  ari: boolean;
}

export interface AuthzFact {
  /** Failed validations of this identifier by this account, in the lookback. */
  failures: number[];
  /** The latest successful validation (resets the consecutive-failure count). */
  lastSuccessAt: number | null;
}

export interface HeldFact {
  lineage: string;
  notBefore: number;
  notAfter: number;
  keyType: string | null;
}

export interface ProblemFact {
  id: number;
  at: number;
  type: string | null;
  detail: string | null;
  retryAfter: number;
  limitName: string | null;
  scope: string | null;
  accountId: number | null;
  lineage: string | null;
}

/** Everything the planner reads for one request (built by readSnapshot, or by hand in tests). */
export interface Snapshot {
  /** Certificates at this CA per registered domain of the request, within the policy's lookback. */
  byDomain: Record<string, IssuedFact[]>;
  /** Certificates of the request's exact set at this CA, within the lookback. */
  bySet: IssuedFact[];
  /** The latest issuance of the exact set at this CA, any age (renewal detection). */
  lastSameSetAt: number | null;
  /** Orders of the account at this CA within the lookback. */
  orders: OrderFact[];
  /** Creation times of the account's orders still open (pending at the CA). */
  openOrders: number[];
  /** Per identifier (wildcards as their base name), this account. */
  authz: Record<string, AuthzFact>;
  /** Accounts this host registered (creation times), for registrations-per-ip. */
  accountsCreated: number[];
  /** Lineages at this CA holding the exact set, with their current certificate. */
  held: HeldFact[];
  /** 429s from this CA whose Retry-After is still ahead. */
  problems: ProblemFact[];
}

export type Verdict = 'allowed' | 'last-slot' | 'blocked' | 'duplicate';

export interface LimitReport {
  /** A limit; 'unclassified': a 429 certctl cannot attribute; 'identifier-types': identifiers the asked profile does not issue (IP addresses). */
  name: LimitName | 'unclassified' | 'identifier-types';
  /** The instance: registered domain, exact set, "account N", identifier, "request", "this host". */
  scope: string;
  kind: Rule['kind'] | 'ca';
  /** In use now (for names-per-certificate: names in this request). */
  used: number;
  capacity: number;
  /** What this request takes (0 when exempt or spent only on failure). */
  spend: number;
  /** Left after this request (negative: does not fit now). */
  after: number;
  /** When the next used slot frees; null when nothing is used. */
  nextFreeAt: number | null;
  /** The earliest moment this request fits this limit; null = never as asked. */
  allowedAt: number | null;
  exempt?: boolean;
  reason: string;
  /** A recorded 429 that holds this limit shut. */
  evidence?: { problemId: number; at: number; retryAfter: number; detail: string | null };
}

export interface Decision {
  verdict: Verdict;
  /** The earliest moment the whole request fits (now when allowed); null = never as asked. */
  allowedAt: number | null;
  limits: LimitReport[];
  notes: string[];
  /** The request is a renewal by the CA's rule (same exact set recently) or an ARI renewal inside its window. */
  renewal: { sameSet: boolean; ari: boolean };
  /** Lineages that already hold a valid certificate for this exact set. */
  held: HeldFact[];
}

/** "account 7" etc.: the scope strings the ACME layer also stores in problems.scope. */
export const scopes = {
  domain: (registered: string) => registered,
  set: (key: string) => key,
  account: (id: number | null) => (id === null ? 'new account' : `account ${id}`),
  identifier: (id: number | null, ident: string) => `${ident} (${id === null ? 'new account' : `account ${id}`})`,
  request: 'request',
  host: 'this host',
} as const;

/** The identifier an authorization is for: a wildcard is validated as its base name. */
export function authzIdentifier(name: string): string {
  return name.replace(/^\*\./, '').toLowerCase();
}

interface Counted {
  used: number;
  nextFreeAt: number | null;
  allowedAt: number | null;
}

/** Evaluate one counting rule over spends, for a request taking `cost` (checked) now. */
function count(rule: Rule, times: number[], cost: number, now: number): Counted {
  switch (rule.kind) {
    case 'bucket': {
      const s = bucketState(times.map((at) => ({ at })), rule.capacity, rule.refillMs, now);
      return { used: s.used, nextFreeAt: s.nextTokenAt, allowedAt: bucketAllowedAt(s, cost, now) };
    }
    case 'window':
    case 'concurrent': {
      const w = rule.kind === 'window' ? rule.windowMs : rule.lifetimeMs;
      const s = windowState(times, rule.count, w, now);
      return { used: s.used, nextFreeAt: s.oldestLeavesAt, allowedAt: windowAllowedAt(s, cost, now) };
    }
    case 'max':
      return { used: 0, nextFreeAt: null, allowedAt: cost <= rule.count ? now : null };
  }
}

function describe(rule: Rule): string {
  const dur = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000} d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);
  switch (rule.kind) {
    case 'bucket':
      return `${rule.capacity} (1 back every ${dur(rule.refillMs)})`;
    case 'window':
      return `${rule.count} per ${dur(rule.windowMs)} (sliding)`;
    case 'concurrent':
      return `${rule.count} open at once`;
    case 'max':
      return `${rule.count}`;
  }
}

/**
 * Decide one request. `now` is the moment the request would be sent.
 * Exempt limits are still listed (exempt: true, spend 0) so the user sees
 * why they do not apply.
 */
export function planRequest(snap: Snapshot, policy: Policy, req: PlanRequest, now: number): Decision {
  const key = setKey(req.names);
  const parts = Math.max(1, req.parts);
  const within = policy.renewal.sameSetWithinMs;
  const sameSetRenewal = within !== undefined && snap.lastSameSetAt !== null && now - snap.lastSameSetAt <= within;
  const ariRenewal = Boolean(req.replaces) && req.ariWindowOpen === true && policy.renewal.ariExemptAll;
  const exemptBySameSet = (n: LimitName) => sameSetRenewal && policy.renewal.sameSetExempt.includes(n);
  const isExempt = (n: LimitName) => ariRenewal || exemptBySameSet(n);
  const exemptReason = (n: LimitName) =>
    ariRenewal
      ? 'ARI renewal (replaces, inside the suggested window): exempt from every limit'
      : `renewal: the same exact set was issued ${utc(snap.lastSameSetAt!)}, within ${Math.round(within! / 86_400_000)} days: exempt from ${n}`;
  // A past certificate spent a limit unless it was itself exempt under this policy.
  const historyExempt = (f: IssuedFact | OrderFact, n: LimitName) =>
    (policy.renewal.ariExemptAll && f.ari) ||
    (within !== undefined && policy.renewal.sameSetExempt.includes(n) && f.prevSameSetAt !== null && f.at - f.prevSameSetAt <= within);

  const limits: LimitReport[] = [];
  const notes: string[] = [];
  const push = (name: LimitName, scope: string, rule: Rule, times: number[], spend: number, check: number, why: string) => {
    const exempt = isExempt(name);
    const c = count(rule, times, exempt ? 0 : check, now);
    const capacity = ruleCapacity(rule);
    const eff = exempt ? 0 : spend;
    limits.push({
      name,
      scope,
      kind: rule.kind,
      used: c.used,
      capacity,
      spend: eff,
      after: capacity - c.used - eff,
      nextFreeAt: c.nextFreeAt,
      allowedAt: exempt ? now : c.allowedAt,
      ...(exempt ? { exempt: true } : {}),
      reason: exempt ? exemptReason(name) : `${describe(rule)}; ${rule.why ?? why}`,
    });
  };

  // names per certificate: a ceiling, not a count over time; the profile asked for can lower it (LE tlsserver, shortlived: 25).
  const namesRule = policy.limits['names-per-certificate'];
  const prof = profileRule(policy, req.profile);
  if (req.profile && policy.profiles && !prof) {
    notes.push(`certctl knows no rules for the profile "${req.profile}" at this CA (it knows ${Object.keys(policy.profiles).join(', ')}): the CA's directory decides whether it exists; the limits shown are the CA's general ones.`);
  }
  if (namesRule || prof) {
    const ruleCap = namesRule ? ruleCapacity(namesRule) : Infinity;
    const cap = Math.min(ruleCap, prof?.rule.maxNames ?? Infinity);
    const byProfile = prof !== undefined && prof.rule.maxNames < ruleCap;
    const under = prof ? ` under the profile ${prof.name}${prof.asked ? '' : " (the CA's default)"}` : '';
    limits.push({
      name: 'names-per-certificate',
      scope: scopes.request,
      kind: 'max',
      used: req.names.length,
      capacity: cap,
      spend: 0,
      after: cap - req.names.length,
      nextFreeAt: null,
      allowedAt: req.names.length <= cap ? now : null,
      reason:
        req.names.length <= cap
          ? `${req.names.length} of at most ${cap} names${under}`
          : `${req.names.length} names; this CA allows at most ${cap}${under}: split the names over several certificates${byProfile ? ` (or ask for a profile that allows ${ruleCap})` : ''}`,
    });
  }

  // identifier types: a profile that issues DNS names only refuses IP addresses (LE: IP certificates only under shortlived).
  const ips = req.names.filter((n) => isIP(n) !== 0);
  if (prof && ips.length > 0) {
    const withIp = Object.entries(policy.profiles ?? {}).filter(([, r]) => r.ipIdentifiers).map(([n]) => n);
    const ok = prof.rule.ipIdentifiers;
    limits.push({
      name: 'identifier-types',
      scope: scopes.request,
      kind: 'max',
      used: ips.length,
      capacity: ok ? ips.length : 0,
      spend: 0,
      after: ok ? 0 : -ips.length,
      nextFreeAt: null,
      allowedAt: ok ? now : null,
      reason: ok
        ? `IP addresses (${ips.join(', ')}) are issued under the profile ${prof.name}`
        : `the profile ${prof.name}${prof.asked ? '' : " (the CA's default)"} issues no IP-address certificates (${ips.join(', ')}); ${withIp.length ? `ask for ${withIp.map((n) => `--profile ${n}`).join(' or ')}` : 'this CA issues them under no profile certctl knows'}`,
    });
  }

  // certificates per registered domain: global across accounts, spent at issuance, one per certificate.
  const perDomain = policy.limits['certificates-per-domain'];
  if (perDomain) {
    for (const d of registeredDomains(req.names)) {
      const facts = (snap.byDomain[d] ?? []).filter((f) => !historyExempt(f, 'certificates-per-domain'));
      push('certificates-per-domain', scopes.domain(d), perDomain, facts.map((f) => f.at), parts, parts, 'certificates per registered domain');
    }
  }

  // the exact set ("duplicate certificates"): global, every part of a dual/bundle request is one more of the set.
  const dup = policy.limits['duplicate-certificates'];
  if (dup) {
    const facts = snap.bySet.filter((f) => !(policy.renewal.ariExemptAll && f.ari));
    push('duplicate-certificates', scopes.set(key), dup, facts.map((f) => f.at), parts, parts, 'certificates per exact set of identifiers');
  }

  // new orders per account: each part is one order.
  const newOrders = policy.limits['new-orders'];
  if (newOrders) {
    const facts = req.accountId === null ? [] : snap.orders.filter((o) => !historyExempt(o, 'new-orders'));
    push('new-orders', scopes.account(req.accountId), newOrders, facts.map((o) => o.at), parts, parts, 'new orders per account');
  }

  // pending orders per account: each part stays pending until validated.
  const pending = policy.limits['pending-orders'];
  if (pending) {
    push('pending-orders', scopes.account(req.accountId), pending, req.accountId === null ? [] : snap.openOrders, parts, parts, 'pending orders per account');
  }

  // failed authorizations per identifier per account: spent only when validation fails, but new-order is refused while the bucket is empty.
  const failed = policy.limits['failed-authorizations'];
  const consecutive = policy.limits['consecutive-failures'];
  const idents = [...new Set(req.names.map(authzIdentifier))].sort();
  for (const ident of idents) {
    const a = req.accountId === null ? undefined : snap.authz[ident];
    if (failed) push('failed-authorizations', scopes.identifier(req.accountId, ident), failed, a?.failures ?? [], 0, 1, 'failed validations per identifier per account');
    if (consecutive) {
      const since = (a?.failures ?? []).filter((t) => a?.lastSuccessAt == null || t > a.lastSuccessAt);
      const exempt = isExempt('consecutive-failures');
      const cap = ruleCapacity(consecutive);
      const c = count(consecutive, since, 0, now);
      // Once the bucket is empty the CA pauses the identifier for the account; only its web portal lifts the pause.
      const paused = !exempt && c.used >= cap;
      limits.push({
        name: 'consecutive-failures',
        scope: scopes.identifier(req.accountId, ident),
        kind: consecutive.kind,
        used: c.used,
        capacity: cap,
        spend: 0,
        after: cap - c.used,
        nextFreeAt: c.nextFreeAt,
        allowedAt: paused ? null : now,
        ...(exempt ? { exempt: true } : {}),
        reason: exempt
          ? exemptReason('consecutive-failures')
          : paused
            ? `paused: ${c.used} failed validations in a row for ${ident}; only the CA's unpause portal (URL in its error) lifts this`
            : `${describe(consecutive)}; ${consecutive.why ?? 'consecutive failed validations; any success resets'}`,
      });
    }
  }

  // accounts per IP: only when a new account would be registered first.
  const regs = policy.limits['registrations-per-ip'];
  if (regs && req.newAccount) {
    push('registrations-per-ip', scopes.host, regs, snap.accountsCreated, 1, 1, 'new accounts per IP address');
  }

  applyProblems(snap, policy, req, limits, notes, now);

  // -------- verdict
  const binding = limits.filter((l) => !l.exempt);
  const blocked = binding.filter((l) => l.allowedAt === null || l.allowedAt > now);
  const allowedAt = binding.some((l) => l.allowedAt === null) ? null : Math.max(now, ...binding.map((l) => l.allowedAt as number));
  const held = snap.held.filter((h) => h.notAfter > now);
  let verdict: Verdict;
  if (held.length > 0 && !req.forceRenewal && !req.renewalOf) verdict = 'duplicate';
  else if (blocked.length > 0) verdict = 'blocked';
  else if (binding.some((l) => l.kind !== 'max' && l.spend > 0 && l.after === 0)) verdict = 'last-slot';
  else verdict = 'allowed';

  explain(snap, policy, req, key, limits, notes, { verdict, held, sameSetRenewal, ariRenewal, parts, now, blocked, allowedAt });
  return { verdict, allowedAt, limits, notes, renewal: { sameSet: sameSetRenewal, ari: ariRenewal }, held };
}

/**
 * Apply the CA's own refusals: an active 429 for a limit instance holds it shut until its Retry-After.
 *
 * A 429 holds only the requests its limit applies to. A refusal for a limit this policy models
 * (per-domain, exact set, new orders, failed authorizations …) holds the matching limit of this
 * request, unless the request is exempt from that limit (a renewal of the same set is exempt from
 * per-domain and new orders at Let's Encrypt; an ARI renewal from all) or the limit's instance is
 * another one (another account's new-orders, another identifier, another exact set): then it is
 * only a note. Only a 429 certctl cannot name, or for a limit this policy does not model at all,
 * becomes an "unclassified" hold — the CA's word is evidence even when certctl has no count for it.
 */
function applyProblems(snap: Snapshot, policy: Policy, req: PlanRequest, limits: LimitReport[], notes: string[], now: number): void {
  for (const p of snap.problems) {
    if (p.retryAfter <= now) continue;
    const cls = classifyProblem(p.type, p.detail);
    const name = (p.limitName as LimitName | null) ?? cls.limit;
    const sameAccount = p.accountId === null || p.accountId === req.accountId;
    const instance = (l: LimitReport) => {
      if (l.name !== name) return false;
      if (p.scope) return p.scope === l.scope || (l.name === 'certificates-per-domain' && registeredDomain(p.scope) === l.scope);
      if (cls.subject) {
        if (l.name === 'certificates-per-domain') return registeredDomain(cls.subject) === l.scope;
        return l.scope.startsWith(cls.subject + ' ') && sameAccount;
      }
      if (l.name === 'new-orders' || l.name === 'pending-orders' || l.name === 'failed-authorizations' || l.name === 'consecutive-failures') {
        return p.accountId !== null && p.accountId === req.accountId;
      }
      return p.lineage !== null && p.lineage === req.renewalOf;
    };
    const hit = limits.filter(instance);
    const matches = hit.filter((l) => !l.exempt);
    const what = `A 429 from this CA at ${utc(p.at)} (${p.detail ?? p.type ?? 'no detail'}) lasts until ${utc(p.retryAfter)}`;
    if (matches.length === 0) {
      // A refusal this request shares (same account, lineage, exact set or registered domain).
      const key = setKey(req.names);
      const relevant =
        (p.accountId !== null && p.accountId === req.accountId) ||
        (p.lineage !== null && p.lineage === req.renewalOf) ||
        (p.scope !== null && (p.scope === key || registeredDomains(req.names).includes(p.scope)));
      // Modelled = the policy has a count for this limit; whether this request is exempt from it is another question.
      const modelled = name !== null && policy.limits[name] !== undefined;
      if (!modelled && relevant) {
        // A 429 certctl cannot name, or for a limit this CA's policy does not model: the CA's
        // word is evidence anyway — hold the request until its Retry-After.
        limits.push({
          name: 'unclassified',
          scope: scopes.account(req.accountId),
          kind: 'ca',
          used: 1,
          capacity: 1,
          spend: 0,
          after: 0,
          nextFreeAt: p.retryAfter,
          allowedAt: p.retryAfter,
          reason: name === null
            ? `the CA refused with a rate limit certctl does not recognise at ${utc(p.at)}; waiting for its Retry-After`
            : `the CA refused (${name}) at ${utc(p.at)}, a limit this CA's policy does not model; waiting for its Retry-After`,
          evidence: { problemId: p.id, at: p.at, retryAfter: p.retryAfter, detail: p.detail },
        });
      } else if (hit.length > 0) {
        notes.push(`${what}; this request is exempt from ${name} (${hit[0]!.reason}), so it does not hold it.`);
      } else {
        notes.push(`${what}; it is for ${name ? `${name} of ${p.scope ?? cls.subject ?? 'another request'}` : 'another request'}, not a limit of this request.`);
      }
      continue;
    }
    for (const l of matches) {
      l.used = Math.max(l.used, l.capacity);
      l.after = Math.min(l.after, l.capacity - l.used - l.spend);
      l.allowedAt = l.allowedAt === null ? null : Math.max(l.allowedAt, p.retryAfter);
      l.nextFreeAt = Math.max(l.nextFreeAt ?? 0, p.retryAfter);
      l.reason += `; the CA refused at ${utc(p.at)} with Retry-After ${utc(p.retryAfter)}: exhausted until then, whatever the count says`;
      l.evidence = { problemId: p.id, at: p.at, retryAfter: p.retryAfter, detail: p.detail };
    }
  }
}

/** The notes: what the numbers mean for this user (seed 000: a new name is a new set; a re-run is a duplicate). */
function explain(
  snap: Snapshot,
  policy: Policy,
  req: PlanRequest,
  key: string,
  limits: LimitReport[],
  notes: string[],
  x: { verdict: Verdict; held: HeldFact[]; sameSetRenewal: boolean; ariRenewal: boolean; parts: number; now: number; blocked: LimitReport[]; allowedAt: number | null },
): void {
  if (x.verdict === 'duplicate') {
    const h = x.held[0]!;
    // Held AND blocked: --force-renewal meets the same limits (forcing changes the verdict, not the rows), so
    // "use --force-renewal" alone would send the user into a refusal (renew --force-renewal: exit 4).
    const forced = x.blocked.length
      ? `--force-renewal would be refused too: ${x.blocked.map((l) => l.name).join(', ')} blocks this set ${x.allowedAt === null ? 'until the CA lifts it' : `until ${utc(x.allowedAt)}`}.`
      : 'Ordering it again would spend the duplicate limit; use --force-renewal only if you must replace it.';
    notes.push(`You already hold a valid certificate for exactly these names (lineage ${h.lineage}, expires ${utc(h.notAfter)}): nothing to order. ${forced}`);
  }
  if (x.parts > 1) {
    notes.push(`This request produces ${x.parts} certificates (key type ${x.parts === 2 ? 'dual' : 'bundle'}): it spends ${x.parts} of each certificate limit, not 1.`);
  }
  if (x.ariRenewal) notes.push('ARI renewal inside the suggested window: the CA exempts it from every rate limit.');
  else if (req.replaces && policy.renewal.ariExemptAll) notes.push('The order carries replaces, but the ARI window is not open: it is not exempt.');
  if (x.sameSetRenewal && !x.ariRenewal && policy.renewal.sameSetExempt.length) {
    notes.push(`Same exact set issued before: a renewal, exempt from ${policy.renewal.sameSetExempt.join(' and ')}, but it still spends the duplicate limit.`);
  }
  const dupe = limits.find((l) => l.name === 'duplicate-certificates');
  if (dupe && dupe.used > 0 && !x.ariRenewal) {
    notes.push(`This exact set was already issued ${dupe.used} time(s) recently: running the same command again spends another duplicate slot (${dupe.capacity} per exact set).`);
  }
  if (!x.sameSetRenewal && !x.ariRenewal) {
    const names = new Set(req.names.map((n) => n.toLowerCase()));
    const overlapping = new Set<string>();
    for (const facts of Object.values(snap.byDomain)) {
      for (const f of facts) if (f.setKey !== key && f.setKey.split(',').some((n) => names.has(n))) overlapping.add(f.setKey);
    }
    if (overlapping.size > 0) {
      const other = [...overlapping][0]!;
      notes.push(
        `These names differ from a certificate already issued (${other.split(',').join(', ')}): adding or removing a name makes a new exact set, ` +
          'a new certificate that spends a slot of every registered domain in it. It does not renew or extend the old one.',
      );
    }
  }
  const domain = limits.find((l) => l.name === 'certificates-per-domain' && !l.exempt && l.spend > 0 && l.after === 0);
  if (domain && x.verdict !== 'blocked' && x.verdict !== 'duplicate') {
    notes.push(`This uses the last slot for ${domain.scope}: any other certificate for it (a new name, a re-run) will be refused until a slot frees.`);
  }
}
