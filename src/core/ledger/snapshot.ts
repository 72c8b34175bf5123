/**
 * What the planner reads from the ledger for one request, and what
 * `certctl limits` reads for a registered domain. Only indexed look-ups:
 * certificate_domains by (registered_domain, issued_at), certificates by
 * (set_key, issued_at) and (lineage, version), orders by (account_id,
 * created_at) and (state, …), authorizations by (identifier, at), problems
 * by retry_after. The accounts table (one row per directory) is read whole.
 *
 * Every read is bounded by the policy's lookback, so a ledger of a million
 * certificates costs what the request's own domains cost.
 */
import { LazyRow, ledgerNames, type Ledger } from './ledger.js';
import type { Policy, LimitName } from '../limits/policies.js';
import { lookbackMs } from '../limits/policies.js';
import type { IssuedFact, OrderFact, PlanRequest, ProblemFact, Snapshot, AuthzFact, HeldFact } from '../planner/plan.js';
import { registeredDomains, setKey } from '../names.js';

function lookback(policy: Policy, ...names: LimitName[]): number {
  let max = 0;
  for (const n of names) {
    const r = policy.limits[n];
    if (r) max = Math.max(max, lookbackMs(r));
  }
  return max;
}

/** Latest earlier issuance of the same set at the same CA, from another bundle (a dual's two parts are not renewals of each other). */
const PREV_SAME_SET = `(SELECT p.issued_at FROM certificates p
    WHERE p.set_key = c.set_key AND p.issued_at < c.issued_at AND (p.ca_id = @ca OR p.directory_url = @dir)
      AND (c.bundle_id IS NULL OR p.bundle_id IS NULL OR p.bundle_id <> c.bundle_id)
    ORDER BY p.issued_at DESC LIMIT 1)`;

interface CertFactRow {
  at: number;
  set_key: string;
  replaces: string | null;
  prev: number | null;
}

const toIssued = (r: CertFactRow): IssuedFact => ({ at: r.at, setKey: r.set_key, prevSameSetAt: r.prev, ari: r.replaces !== null });

/** Certificates at this CA counted against one registered domain, issued in (since, now]. */
export function domainFacts(ledger: Ledger, domain: string, ca: { caId: string; directoryUrl: string }, since: number, now: number): IssuedFact[] {
  const rows = ledger.db
    .prepare(
      `SELECT cd.issued_at AS at, c.set_key, c.replaces, ${PREV_SAME_SET} AS prev
       FROM certificate_domains cd JOIN certificates c ON c.id = cd.cert_id
       WHERE cd.registered_domain = @domain AND cd.issued_at > @since AND cd.issued_at <= @now
         AND (c.ca_id = @ca OR c.directory_url = @dir)
       ORDER BY cd.issued_at`,
    )
    .all({ domain, since, now, ca: ca.caId, dir: ca.directoryUrl }) as CertFactRow[];
  return rows.map(toIssued);
}

/** Certificates of one exact set at this CA, issued in (since, now]. */
export function setFacts(ledger: Ledger, key: string, ca: { caId: string; directoryUrl: string }, since: number, now: number): IssuedFact[] {
  const rows = ledger.db
    .prepare(
      `SELECT c.issued_at AS at, c.set_key, c.replaces, ${PREV_SAME_SET} AS prev
       FROM certificates c
       WHERE c.set_key = @key AND c.issued_at > @since AND c.issued_at <= @now AND (c.ca_id = @ca OR c.directory_url = @dir)
       ORDER BY c.issued_at`,
    )
    .all({ key, since, now, ca: ca.caId, dir: ca.directoryUrl }) as CertFactRow[];
  return rows.map(toIssued);
}

/**
 * Orders in flight at this CA (journalled, not yet stored as a certificate),
 * created in (since, now]. Each will spend a certificate slot when the CA
 * issues it, so the planner counts it now, at its creation time: with
 * `--concurrency`, a request planned while another is still in flight must
 * not take the same last slot.
 */
export function inflightFacts(ledger: Ledger, ca: { caId: string; directoryUrl: string }, since: number, now: number): (IssuedFact & { names: string[] })[] {
  const rows = ledger.db
    .prepare(
      `SELECT o.created_at AS at, o.set_key, o.replaces, o.names_json,
         (SELECT p.issued_at FROM certificates p WHERE p.set_key = o.set_key AND p.issued_at <= o.created_at AND (p.ca_id = @ca OR p.directory_url = @dir)
          ORDER BY p.issued_at DESC LIMIT 1) AS prev
       FROM orders o
       WHERE o.state = 'open' AND o.created_at > @since AND o.created_at <= @now AND (o.ca_id = @ca OR o.directory_url = @dir)
       ORDER BY o.created_at`,
    )
    .all({ since, now, ca: ca.caId, dir: ca.directoryUrl }) as (CertFactRow & { names_json: string })[];
  return rows.map((r) => ({ ...toIssued(r), names: JSON.parse(r.names_json) as string[] }));
}

/** Orders of one account created in (since, now] that reached the CA (an order whose creation failed is refunded). */
export function orderFacts(ledger: Ledger, accountId: number, ca: { caId: string; directoryUrl: string }, since: number, now: number): OrderFact[] {
  const rows = ledger.db
    .prepare(
      `SELECT o.created_at AS at, o.set_key, o.replaces,
         (SELECT p.issued_at FROM certificates p
            WHERE p.set_key = o.set_key AND p.issued_at < o.created_at AND (p.ca_id = @ca OR p.directory_url = @dir)
            ORDER BY p.issued_at DESC LIMIT 1) AS prev
       FROM orders o
       WHERE o.account_id = @acct AND o.created_at > @since AND o.created_at <= @now
         AND NOT (o.state = 'failed' AND o.order_url IS NULL)
       ORDER BY o.created_at`,
    )
    .all({ acct: accountId, since, now, ca: ca.caId, dir: ca.directoryUrl }) as CertFactRow[];
  return rows.map((r) => ({ at: r.at, setKey: r.set_key, prevSameSetAt: r.prev, ari: r.replaces !== null }));
}

/** Creation times of the account's orders still open at the CA (journal open, not yet valid/invalid), created after `since`. */
export function openOrderTimes(ledger: Ledger, accountId: number, since: number, now: number): number[] {
  const rows = ledger.db
    .prepare(
      `SELECT created_at FROM orders
       WHERE state IN ('open', 'possible') AND account_id = @acct AND created_at > @since AND created_at <= @now
         AND status NOT IN ('valid', 'invalid')
       ORDER BY created_at`,
    )
    .all({ acct: accountId, since, now }) as { created_at: number }[];
  return rows.map((r) => r.created_at);
}

/** Failed validations of one identifier by one account since the later of `since` and its last success. */
export function authzFacts(ledger: Ledger, identifier: string, accountId: number, since: number, now: number): AuthzFact {
  const last = ledger.db
    .prepare(
      `SELECT at FROM authorizations WHERE identifier = @ident AND at <= @now AND account_id = @acct AND status = 'valid'
       ORDER BY at DESC LIMIT 1`,
    )
    .get({ ident: identifier, acct: accountId, now }) as { at: number } | undefined;
  const rows = ledger.db
    .prepare(
      `SELECT at FROM authorizations WHERE identifier = @ident AND at > @since AND at <= @now AND account_id = @acct AND status = 'invalid'
       ORDER BY at`,
    )
    .all({ ident: identifier, acct: accountId, since, now }) as { at: number }[];
  return { failures: rows.map((r) => r.at), lastSuccessAt: last?.at ?? null };
}

/**
 * Lineages at this CA holding exactly this set, with their current certificate
 * (the soonest-expiring part). Two look-ups, lineages by set_key then
 * certificates by (lineage, version): as one JOIN with GROUP BY, SQLite's
 * planner may scan all certificates when the lineages table is small.
 */
export function heldFacts(ledger: Ledger, key: string, ca: { caId: string; directoryUrl: string }): HeldFact[] {
  const lineages = ledger.db
    .prepare('SELECT name, current_version FROM lineages WHERE set_key = @key AND (directory_url = @dir OR ca_id = @ca) ORDER BY name')
    .all({ key, ca: ca.caId, dir: ca.directoryUrl }) as { name: string; current_version: number }[];
  const cert = ledger.db.prepare(
    'SELECT not_before AS notBefore, not_after AS notAfter, key_type AS keyType FROM certificates WHERE lineage = @lineage AND version = @version ORDER BY not_after LIMIT 1',
  );
  // A lineage whose current certificate was revoked holds nothing: it is to be replaced (renew/due.ts).
  const revoked = ledger.db.prepare('SELECT count(*) FROM certificates WHERE lineage = @lineage AND version = @version AND revoked_at IS NOT NULL').pluck();
  const out: HeldFact[] = [];
  for (const l of lineages) {
    const c = cert.get({ lineage: l.name, version: l.current_version }) as Omit<HeldFact, 'lineage'> | undefined;
    if (c && Number(revoked.get({ lineage: l.name, version: l.current_version })) === 0) out.push({ lineage: l.name, ...c });
  }
  return out;
}

/** 429s (and other problems with a Retry-After) from this CA still in force at `now`. */
export function activeProblemFacts(ledger: Ledger, ca: { caId: string; directoryUrl: string }, now: number): ProblemFact[] {
  const rows = ledger.db
    .prepare(
      `SELECT id, at, type, detail, retry_after, limit_name, scope, account_id, lineage FROM problems
       WHERE retry_after > @now AND (directory_url = @dir OR ca_id = @ca)
       ORDER BY retry_after`,
    )
    .all({ now, ca: ca.caId, dir: ca.directoryUrl }) as {
    id: number;
    at: number;
    type: string | null;
    detail: string | null;
    retry_after: number;
    limit_name: string | null;
    scope: string | null;
    account_id: number | null;
    lineage: string | null;
  }[];
  return rows.map((r) => ({
    id: r.id,
    at: r.at,
    type: r.type,
    detail: r.detail,
    retryAfter: r.retry_after,
    limitName: r.limit_name,
    scope: r.scope,
    accountId: r.account_id,
    lineage: r.lineage,
  }));
}

/** Account creation times after `since` (registrations-per-ip: this host is the only IP the ledger knows). */
export function accountCreationTimes(ledger: Ledger, since: number, now: number): number[] {
  const rows = ledger.db.prepare('SELECT created_at FROM accounts WHERE created_at > ? AND created_at <= ? ORDER BY created_at').all(since, now) as { created_at: number }[];
  return rows.map((r) => r.created_at);
}

/** Everything planRequest needs for one request, read in one transaction (a consistent view). */
export function readSnapshot(ledger: Ledger, policy: Policy, req: PlanRequest, now: number): Snapshot {
  const ca = { caId: req.caId, directoryUrl: req.directoryUrl };
  const key = setKey(req.names);
  return ledger.db.transaction((): Snapshot => {
    const domainSince = now - lookback(policy, 'certificates-per-domain');
    const setSince = now - lookback(policy, 'duplicate-certificates');
    const inflight = inflightFacts(ledger, ca, Math.min(domainSince, setSince), now);
    const byDomain: Record<string, IssuedFact[]> = {};
    for (const d of registeredDomains(req.names)) {
      const pending = inflight.filter((f) => f.at > domainSince && registeredDomains(f.names).includes(d));
      byDomain[d] = [...domainFacts(ledger, d, ca, domainSince, now), ...pending].sort((a, b) => a.at - b.at);
    }
    const bySet = [...setFacts(ledger, key, ca, setSince, now), ...inflight.filter((f) => f.at > setSince && f.setKey === key)].sort((a, b) => a.at - b.at);
    const last = ledger.db
      .prepare('SELECT issued_at FROM certificates WHERE set_key = @key AND issued_at <= @now AND (ca_id = @ca OR directory_url = @dir) ORDER BY issued_at DESC LIMIT 1')
      .get({ key, now, ca: ca.caId, dir: ca.directoryUrl }) as { issued_at: number } | undefined;
    const acct = req.accountId;
    const orders = acct === null || !policy.limits['new-orders'] ? [] : orderFacts(ledger, acct, ca, now - lookback(policy, 'new-orders'), now);
    const openOrders = acct === null || !policy.limits['pending-orders'] ? [] : openOrderTimes(ledger, acct, now - lookback(policy, 'pending-orders'), now);
    const authz: Record<string, AuthzFact> = {};
    if (acct !== null && (policy.limits['failed-authorizations'] || policy.limits['consecutive-failures'])) {
      const since = now - lookback(policy, 'failed-authorizations', 'consecutive-failures');
      for (const ident of new Set(req.names.map((n) => n.replace(/^\*\./, '').toLowerCase()))) authz[ident] = authzFacts(ledger, ident, acct, since, now);
    }
    const accountsCreated = req.newAccount && policy.limits['registrations-per-ip'] ? accountCreationTimes(ledger, now - lookback(policy, 'registrations-per-ip'), now) : [];
    return {
      byDomain,
      bySet,
      lastSameSetAt: last?.issued_at ?? null,
      orders,
      openOrders,
      authz,
      accountsCreated,
      held: heldFacts(ledger, key, ca),
      problems: activeProblemFacts(ledger, ca, now),
    };
  })();
}

/** A certificate counted against a registered domain, with its CA (for `certctl limits`). */
export interface DomainCertFact extends IssuedFact {
  caId: string | null;
  directoryUrl: string | null;
}

/** Every certificate counted against a registered domain since `since`, at any CA. */
export function domainFactsAllCas(ledger: Ledger, domain: string, since: number, now: number): DomainCertFact[] {
  const rows = ledger.db
    .prepare(
      `SELECT cd.issued_at AS at, c.set_key, c.replaces, c.ca_id, c.directory_url,
         (SELECT p.issued_at FROM certificates p
            WHERE p.set_key = c.set_key AND p.issued_at < c.issued_at
              AND (p.ca_id = c.ca_id OR p.directory_url = c.directory_url)
              AND (c.bundle_id IS NULL OR p.bundle_id IS NULL OR p.bundle_id <> c.bundle_id)
            ORDER BY p.issued_at DESC LIMIT 1) AS prev
       FROM certificate_domains cd JOIN certificates c ON c.id = cd.cert_id
       WHERE cd.registered_domain = @domain AND cd.issued_at > @since AND cd.issued_at <= @now
       ORDER BY cd.issued_at`,
    )
    .all({ domain, since, now }) as (CertFactRow & { ca_id: string | null; directory_url: string | null })[];
  return rows.map((r) => ({ ...toIssued(r), caId: r.ca_id, directoryUrl: r.directory_url }));
}

/** The registered domains the ledger manages (from its lineages: a small table). */
export function managedDomains(ledger: Ledger): string[] {
  const rows = ledger.db.prepare('SELECT name, names_json FROM lineages').raw().all() as [string, unknown][];
  const out = new Set<string>();
  // A damaged row is the StateError (exit 10) every other reader of it gives, not a bare SyntaxError.
  for (const [name, names] of rows) for (const d of registeredDomains(ledgerNames(names, new LazyRow('lineage', name)))) out.add(d);
  return [...out].sort();
}

/** Accounts in the ledger (id, CA, directory). */
export function accountList(ledger: Ledger): { id: number; caId: string; directoryUrl: string; createdAt: number }[] {
  return ledger.db.prepare('SELECT id, ca_id AS caId, directory_url AS directoryUrl, created_at AS createdAt FROM accounts ORDER BY id').all() as never;
}

/**
 * Revoked certificates (certctl revoke) for this exact set or sharing one of these registered
 * domains, not yet expired: `plan` says they still count — revocation returns no capacity.
 */
export function revokedFacts(ledger: Ledger, key: string, domains: readonly string[], now: number): { serial: string; revokedAt: number; setKey: string }[] {
  type Row = { serial: string; revokedAt: number; setKey: string };
  // Through the set_key index and certificate_domains' primary key: never a scan of all certificates.
  const bySet = ledger.db.prepare('SELECT serial, revoked_at AS revokedAt, set_key AS setKey FROM certificates WHERE set_key = @key AND revoked_at IS NOT NULL AND not_after > @now');
  const byDomain = ledger.db.prepare(
    `SELECT c.serial, c.revoked_at AS revokedAt, c.set_key AS setKey FROM certificate_domains cd JOIN certificates c ON c.id = cd.cert_id
     WHERE cd.registered_domain = @domain AND c.revoked_at IS NOT NULL AND c.not_after > @now`,
  );
  const out = new Map<string, Row>();
  for (const r of bySet.all({ key, now }) as Row[]) out.set(r.serial, r);
  for (const domain of domains) for (const r of byDomain.all({ domain, now }) as Row[]) out.set(r.serial, r);
  return [...out.values()].sort((a, b) => a.revokedAt - b.revokedAt);
}
