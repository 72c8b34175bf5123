/**
 * The planner's front door: build the request from what is asked and the
 * ledger (`planRequestFor`, the one place that says what a request is), read
 * the ledger, pick the CA's policy, decide. The gate (`issue`, `renew`),
 * `plan` and `apply` all go through `planRequestFor` + `planFromLedger`;
 * `certctl limits` calls `limitsOverview`. planner/plan.ts stays pure.
 */
import { utc } from './clock.js';
import type { Ledger } from './ledger/ledger.js';
import { accountList, activeProblemFacts, domainFactsAllCas, managedDomains, openOrderTimes, orderFacts, readSnapshot, revokedFacts } from './ledger/snapshot.js';
import { registeredDomains, setKey } from './names.js';
import { InputError } from './errors.js';
import { isIP } from './names.js';
import { lookbackMs, policyFor, profileRule, type LimitName, type Policy, type PolicyOverride, type Rule } from './limits/policies.js';
import { headroom, type Headroom } from './limits/headroom.js';
import { caForDirectory, findCa, type CaProfile } from './ca/registry.js';
import { parseKeyType } from './keys/index.js';
import { planRequest, scopes, type Decision, type IssuedFact, type OrderFact, type PlanRequest, type ProblemFact } from './planner/plan.js';

export { planRequest, type Decision, type PlanRequest } from './planner/plan.js';

/** What is asked, before the ledger says whether an account exists. */
export interface PlanAsk {
  names: string[];
  ca: Pick<CaProfile, 'id' | 'policyId'>;
  directoryUrl: string;
  /** Key type spec (rsa, ecdsa:p384, dual, sm2…): the number of certificates the request produces. */
  keyType: string;
  replaces?: string | null;
  ariWindowOpen?: boolean;
  forceRenewal?: boolean;
  renewalOf?: string;
  /** The ACME profile asked for (--profile, the lineage's settings.profile). */
  profile?: string | null;
}

/**
 * The plan request for `ask`, as the CA will see it from this ledger. An
 * account row without a URL never finished registering (a run killed before
 * the CA answered): the order will register an account first, so it spends
 * registrations-per-ip like a missing account does.
 */
export function planRequestFor(ledger: Pick<Ledger, 'account'>, ask: PlanAsk): PlanRequest {
  const account = ledger.account(ask.directoryUrl);
  return {
    names: ask.names,
    caId: ask.ca.id,
    directoryUrl: ask.directoryUrl,
    policyId: ask.ca.policyId,
    accountId: account?.id ?? null,
    newAccount: !account?.account_url,
    parts: parseKeyType(ask.keyType).parts.length,
    replaces: ask.replaces ?? null,
    ariWindowOpen: ask.ariWindowOpen,
    forceRenewal: ask.forceRenewal,
    renewalOf: ask.renewalOf,
    profile: ask.profile ?? null,
  };
}

/**
 * A request that names a profile the CA will not issue it under is bad input (exit 2), said
 * before the ledger is opened: more names than the profile allows (Let's Encrypt tlsserver and
 * shortlived: 25), or IP addresses under a profile that issues DNS names only (all but
 * shortlived). Without an explicit profile the planner reports the same (the lineage's own
 * profile, or the CA's default, applies there).
 */
export function assertProfileFits(policy: Policy, caName: string, profile: string | undefined, names: readonly string[], flag = '--profile'): void {
  if (!profile) return;
  const p = profileRule(policy, profile);
  if (!p) return;
  if (names.length > p.rule.maxNames) {
    const more = Object.entries(policy.profiles ?? {}).filter(([, r]) => r.maxNames >= names.length).map(([n]) => n);
    throw new InputError(
      `${names.length} names were given; ${caName} allows at most ${p.rule.maxNames} names per certificate under the profile ${p.name}.`,
      `Split the names over several certificates${more.length ? `, or use ${more.map((n) => `${flag} ${n}`).join(' or ')}` : ''}. Nothing was sent.`,
    );
  }
  const ip = names.find((n) => isIP(n) !== 0);
  if (ip && !p.rule.ipIdentifiers) {
    const withIp = Object.entries(policy.profiles ?? {}).filter(([, r]) => r.ipIdentifiers).map(([n]) => n);
    throw new InputError(
      `${caName} issues no certificates for IP addresses such as ${ip} under the profile ${p.name}.`,
      withIp.length ? `Use ${withIp.map((n) => `${flag} ${n}`).join(' or ')} for IP addresses, or leave them out. Nothing was sent.` : 'Leave the IP addresses out. Nothing was sent.',
    );
  }
}

/** Decide one request from the ledger (snapshot + policy lookup + planRequest). `overrides`: policy overrides from the config file. */
export function planFromLedger(ledger: Ledger, req: PlanRequest, now: number, overrides?: Record<string, PolicyOverride>): Decision {
  const policy = policyFor(req.policyId, overrides);
  // A clock set back (a VM restored from a snapshot, a wrong NTP step, another host's clock on a
  // shared ledger) must not hide what was spent: the windows would drop every event "in the
  // future" and allow what the CA will refuse. Plan from the later of the clock and the ledger's
  // newest record, and say so.
  const latest = ledger.latestRecordedAt();
  const at = Math.max(now, latest);
  const decision = planRequest(readSnapshot(ledger, policy, req, at), policy, req, at);
  // Revocation gives nothing back: a revoked certificate keeps counting where it counted (exact set, per domain).
  const revoked = revokedFacts(ledger, setKey(req.names), registeredDomains(req.names), at);
  if (revoked.length) {
    const sameSet = revoked.filter((r) => r.setKey === setKey(req.names)).length;
    decision.notes.push(
      `${revoked.length} certificate(s) for these names ${revoked.length === 1 ? 'was' : 'were'} revoked (${sameSet} of exactly this set; last ${utc(revoked[revoked.length - 1]!.revokedAt)}): revocation returns no rate-limit capacity — they still count in the limits above.`,
    );
  }
  if (latest > now + CLOCK_BEHIND_NOTE_MS) {
    decision.notes.unshift(`This machine's clock is ${Math.round((latest - now) / 60_000)} min behind the newest record in the ledger (${utc(latest)}): limits are counted from the ledger's time, so nothing spent is forgotten. Check the clock (NTP).`);
  }
  return decision;
}

/** Below this, a clock behind the ledger is ordinary skew between runs and not worth a note. */
const CLOCK_BEHIND_NOTE_MS = 60_000;

export interface OverviewEntry extends Headroom {
  caId: string;
  policyId: string;
  name: LimitName;
  /** Registered domain, exact set, or "account N". */
  scope: string;
  kind: Rule['kind'];
  reason: string;
}

export interface LimitsOverview {
  now: number;
  domains: string[];
  entries: OverviewEntry[];
  problems: (ProblemFact & { caId: string })[];
}

/** Exempt under this policy when the CA would not have counted it (renewal of the same set, ARI). */
function counted(policy: Policy, name: LimitName, f: IssuedFact | OrderFact): boolean {
  if (policy.renewal.ariExemptAll && f.ari) return false;
  const w = policy.renewal.sameSetWithinMs;
  return !(w !== undefined && policy.renewal.sameSetExempt.includes(name) && f.prevSameSetAt !== null && f.at - f.prevSameSetAt <= w);
}

/**
 * Every bucket/window of one registered domain (or of every domain the
 * ledger's lineages cover), per CA it has certificates from (and `caId`,
 * default letsencrypt, even when empty), plus each account's order limits
 * and the 429s still in force.
 */
export function limitsOverview(ledger: Ledger, domain: string | undefined, now: number, opts: { caId?: string; overrides?: Record<string, PolicyOverride> } = {}): LimitsOverview {
  const domains = domain ? [domain.toLowerCase()] : managedDomains(ledger);
  const entries: OverviewEntry[] = [];
  const caOf = (caId: string | null, dir: string | null) => (caId ? findCa(caId) : undefined) ?? (dir ? caForDirectory(dir) : undefined);
  const policyIdOf = (caId: string) => findCa(caId)?.policyId ?? 'default';
  const fallbackCa = opts.caId ?? 'letsencrypt';
  // Longest lookback of any per-domain or duplicate rule of any policy in play.
  const WEEKS_2 = 14 * 86_400_000;

  for (const d of domains) {
    const facts = domainFactsAllCas(ledger, d, now - WEEKS_2 * 2, now);
    const byCa = new Map<string, IssuedFact[]>();
    byCa.set(fallbackCa, []);
    for (const f of facts) {
      const id = caOf(f.caId, f.directoryUrl)?.id ?? f.caId ?? 'custom';
      if (!byCa.has(id)) byCa.set(id, []);
      byCa.get(id)!.push(f);
    }
    for (const [caId, list] of byCa) {
      const policyId = policyIdOf(caId);
      const policy = policyFor(policyId, opts.overrides);
      const perDomain = policy.limits['certificates-per-domain'];
      if (perDomain) {
        const times = list.filter((f) => f.at > now - lookbackMs(perDomain) && counted(policy, 'certificates-per-domain', f)).map((f) => f.at);
        entries.push({ caId, policyId, name: 'certificates-per-domain', scope: scopes.domain(d), kind: perDomain.kind, reason: perDomain.why ?? '', ...headroom(perDomain, times, now) });
      }
      const dup = policy.limits['duplicate-certificates'];
      if (dup) {
        const sets = new Map<string, number[]>();
        for (const f of list) {
          if (f.at <= now - lookbackMs(dup) || (policy.renewal.ariExemptAll && f.ari)) continue;
          if (!sets.has(f.setKey)) sets.set(f.setKey, []);
          sets.get(f.setKey)!.push(f.at);
        }
        for (const [key, times] of [...sets].sort((a, b) => a[0].localeCompare(b[0]))) {
          entries.push({ caId, policyId, name: 'duplicate-certificates', scope: scopes.set(key), kind: dup.kind, reason: dup.why ?? '', ...headroom(dup, times, now) });
        }
      }
    }
  }

  for (const a of accountList(ledger)) {
    const ca = { caId: a.caId, directoryUrl: a.directoryUrl };
    const policyId = policyIdOf(a.caId);
    const policy = policyFor(policyId, opts.overrides);
    const orders = policy.limits['new-orders'];
    if (orders) {
      const facts = orderFacts(ledger, a.id, ca, now - lookbackMs(orders), now).filter((o) => counted(policy, 'new-orders', o));
      entries.push({ caId: a.caId, policyId, name: 'new-orders', scope: scopes.account(a.id), kind: orders.kind, reason: orders.why ?? '', ...headroom(orders, facts.map((o) => o.at), now) });
    }
    const pending = policy.limits['pending-orders'];
    if (pending) {
      const times = openOrderTimes(ledger, a.id, now - lookbackMs(pending), now);
      entries.push({ caId: a.caId, policyId, name: 'pending-orders', scope: scopes.account(a.id), kind: pending.kind, reason: pending.why ?? '', ...headroom(pending, times, now) });
    }
  }

  const problems: LimitsOverview['problems'] = [];
  const cas = new Map<string, string>();
  for (const a of accountList(ledger)) cas.set(a.caId, a.directoryUrl);
  for (const [caId, dir] of cas) for (const p of activeProblemFacts(ledger, { caId, directoryUrl: dir }, now)) problems.push({ ...p, caId });
  return { now, domains, entries, problems };
}
