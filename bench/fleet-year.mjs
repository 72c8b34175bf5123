#!/usr/bin/env node
/**
 * Bench: a simulated year of a hosting platform's fleet, decided by the REAL planner
 * (dist/core/planner/plan.js planRequest, the Let's Encrypt policy of dist/core/limits/policies.js,
 * its dated classic lifetimes via expectedLifetimeMs, renew/due.js dueAt for renewals without ARI,
 * renew/ari.js chooseInWindow for the ARI moment). Nothing of the limit math is re-implemented here.
 *
 * The fleet (issue 16, "past this machine, on paper"): 1,000,000 lineages on 1,000 hosts. Customers
 * are registered domains: most hold 1–3 certificates (apex+www, a subdomain or two), a tail holds
 * tens to hundreds of subdomain certificates, and three big customers hold 5 %, 3 % and 2 % of the
 * fleet, each under ONE registered domain. Every day 0.1 % of the fleet arrives as new lineages
 * (80 % of them in business hours, 08–18 UTC) and as many retire; once a month per 100,000
 * lineages one big customer onboards 300 new subdomains at once.
 *
 * The clock is simulated: the planner takes `now` as a parameter (src/core/clock.ts is only read
 * by the command layer), so the year runs in seconds. The ledger is in memory: for every request
 * the bench builds the Snapshot readSnapshot (src/core/ledger/snapshot.ts) would read — the
 * certificates of the request's registered domains and exact set within each limit's lookback,
 * the account's orders, the lineage's last issuance of the same set — from the simulated
 * issuances; no authorization failures and no 429s are simulated (every validation succeeds).
 *
 * Scaling (default run: --lineages 5000, i.e. k = 200 slices of the 1M fleet; about 3 min here). Customers are
 * whole inside a slice, so the per-registered-domain and per-exact-set limits (global at LE) are
 * exact, and so are per-host figures (hosts scale with the slice: 1,000 lineages each). The
 * per-account limit (new orders, 300 per 3 h) is shared by all k slices when the fleet has A < k
 * accounts: the slice's account then keeps the full capacity (300) and refills at A/k of the rate
 * (one token per 36 s·k/A). The slices are statistically identical, so each brings 1/k of the
 * steady demand: demand/refill — how fast the bucket drains — is the same as the full fleet's,
 * and a burst (one customer onboarding 300 names) meets a bucket as full as the shared one would
 * be. The slice's demand is noisier than the whole fleet's (fewer lineages), which errs towards
 * more refusals, not fewer. With A ≥ k the slice has A/k whole accounts and nothing is scaled.
 * `--full` runs all 1,000,000 lineages (k = 1), no scaling, and takes hours on 2 loaded cores.
 *
 * Strategies, each over the same fleet and arrivals (same seed):
 *   blind          LE policy, renewals without ARI (a third of the lifetime left), new orders sent as they arrive, 1 account
 *   no-exemption   counterfactual CA that counts renewals like new orders (no same-set exemption), no ARI, 1 account
 *   ari            the same counterfactual CA, renewals with ARI `replaces` inside the suggested window
 *   accounts       the counterfactual CA, no ARI, lineages spread over N accounts by registered domain
 *   ari+paced      LE policy, ARI renewals, new orders paced: sent only while the planner says the account bucket keeps
 *                  25 % of its capacity after them (else they wait for its next token); per-domain waits follow the planner
 * A request the planner blocks counts as a REFUSAL (a client without the ledger would have sent it
 * and got a 429); the simulated client then waits for the planner's allowedAt, as certctl does.
 *
 *   node bench/fleet-year.mjs [--lineages 5000] [--full] [--accounts-full 1] [--start 2027-08-16] [--days 365]
 *                             [--strategies blind,ari+paced] [--seed 7] [--json]
 * Needs `npm run build`. Exit 1 when `ari+paced` (the recommended setup) has a refusal.
 */
import os from 'node:os';
import path from 'node:path';
import { ROOT, arg, flag } from './lib.mjs';

const dist = (p) => import(path.join(ROOT, 'dist', p));
const { planRequest } = await dist('core/planner/plan.js');
const { findPolicy, expectedLifetimeMs, lookbackMs } = await dist('core/limits/policies.js');
const { dueAt } = await dist('core/renew/due.js');
const { chooseInWindow } = await dist('core/renew/ari.js');
const { setKey } = await dist('core/names.js');

const FULL = 1_000_000;
const HOSTS_FULL = 1000;
const L = flag('full') ? FULL : Number(arg('lineages', 5_000));
const K = FULL / L;
const ACCOUNTS_FULL = Number(arg('accounts-full', 1));
const START = Date.parse(`${arg('start', '2027-08-16')}T00:00:00Z`);
const DAYS = Number(arg('days', 365));
const SEED = Number(arg('seed', 7));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const END = START + DAYS * DAY;
const LE = findPolicy('letsencrypt');
const DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const ALL = ['blind', 'no-exemption', 'ari', 'accounts', 'ari+paced'];
const STRATEGIES = (arg('strategies', ALL.join(',')) ?? '').split(',').filter(Boolean);
/** LE's ARI window: centred at 2/3 of the lifetime, about ±1 % of it wide (reference/ari-and-profiles.md). */
const ARI_CENTRE = 2 / 3;
const ARI_HALF = 0.01;

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------ the fleet
/** Customers (registered domains) and their lineages' names, for L lineages (whole customers). */
function generateFleet(rand) {
  const customers = [];
  const lineages = [];
  const add = (c, names) => {
    lineages.push({ id: lineages.length, customer: c.id, domain: c.domain, names, key: setKey(names), host: 0, account: 0 });
    c.count++;
  };
  const newCustomer = (domain, big = false) => {
    const c = { id: customers.length, domain, count: 0, big, nextSub: 0 };
    customers.push(c);
    return c;
  };
  // three big customers: 5 %, 3 %, 2 % of the fleet, each one registered domain with subdomain certificates
  for (const [i, share] of [0.05, 0.03, 0.02].entries()) {
    const c = newCustomer(`bigcustomer${i}.com`, true);
    const n = Math.round(L * share);
    for (let j = 0; j < n; j++) add(c, [`s${c.nextSub++}.${c.domain}`]);
  }
  const tlds = ['com', 'net', 'org', 'de', 'co.uk', 'fr', 'io', 'nl'];
  while (lineages.length < L) {
    const c = newCustomer(`cust${customers.length}.${tlds[Math.floor(rand() * tlds.length)]}`);
    const r = rand();
    // 90 %: 1–3 certificates; 9 %: 4–40 subdomains; 1 %: 50–500 subdomains
    const n = r < 0.9 ? 1 + Math.floor(rand() * 3) : r < 0.99 ? 4 + Math.floor(rand() * 37) : 50 + Math.floor(rand() * 451);
    for (let j = 0; j < n && lineages.length < L; j++) add(c, j === 0 ? [c.domain, `www.${c.domain}`] : [`s${c.nextSub++}.${c.domain}`]);
  }
  return { customers, lineages };
}

// ------------------------------------------------------------- in-memory ledger
/** Facts within a lookback, oldest first, pruned on read. */
class Facts {
  constructor(lookback) {
    this.lookback = lookback;
    this.list = [];
    this.head = 0;
  }
  push(f) {
    this.list.push(f);
  }
  read(now) {
    const from = now - this.lookback;
    while (this.head < this.list.length && this.list[this.head].at < from) this.head++;
    if (this.head > 4096 && this.head * 2 > this.list.length) {
      this.list = this.list.slice(this.head);
      this.head = 0;
    }
    return this.head === 0 ? this.list : this.list.slice(this.head);
  }
}

function simulate(strategy, fleetSeed) {
  const rand = rng(fleetSeed);
  const { customers, lineages } = generateFleet(rand);
  const policy = policyFor(strategy);
  const ari = strategy === 'ari' || strategy === 'ari+paced';
  const paced = strategy === 'ari+paced';
  // accounts in this slice, and the per-account bucket each one gets (scaling argument in the header)
  const fullAccounts = strategy === 'accounts' ? Math.max(ACCOUNTS_FULL, accountsNeeded()) : ACCOUNTS_FULL;
  const sliceAccounts = Math.max(1, Math.floor(fullAccounts / K));
  const share = fullAccounts >= K ? 1 : fullAccounts / K;
  const no = policy.limits['new-orders'];
  // a slice's share of fewer than k accounts: the full capacity, 1/share of the refill rate (see the header)
  const limits = { ...policy.limits, 'new-orders': { ...no, refillMs: Math.round(no.refillMs / share) } };
  const pol = { ...policy, limits };
  const hostsInSlice = Math.max(1, Math.round(HOSTS_FULL / K));
  for (const l of lineages) {
    l.host = l.id % hostsInSlice;
    l.account = l.customer % sliceAccounts;
  }

  const lb = (n) => (pol.limits[n] ? lookbackMs(pol.limits[n]) : 0);
  const byDomain = new Map();
  const bySet = new Map();
  const lastSet = new Map();
  const orders = Array.from({ length: sliceAccounts }, () => new Facts(lb('new-orders')));
  const domainFacts = (d) => {
    let f = byDomain.get(d);
    if (!f) byDomain.set(d, (f = new Facts(lb('certificates-per-domain'))));
    return f;
  };
  const setFacts = (k) => {
    let f = bySet.get(k);
    if (!f) bySet.set(k, (f = new Facts(lb('duplicate-certificates'))));
    return f;
  };

  // events in hourly buckets: { at, lineage, kind: 'renew'|'new', arrived }
  const buckets = new Map();
  const schedule = (ev) => {
    const h = Math.floor((ev.at - START) / HOUR);
    let b = buckets.get(h);
    if (!b) buckets.set(h, (b = []));
    b.push(ev);
  };

  const st = { refusals: 0, waits: 0, expiredGap: 0, refusedBy: {}, issued: 0, renewals: 0, newCerts: 0, ariExempt: 0, lateAri: 0, expired: 0, maxNewDelayMs: 0, newDelays: [], headroom: {}, perDay: new Map(), perHour: new Map(), perHostDay: new Map(), planMs: 0, calls: 0 };
  const note = (m, key) => m.set(key, (m.get(key) ?? 0) + 1);

  /** Record one issuance in the in-memory ledger and schedule the lineage's next renewal. */
  const issue = (l, at, ariFlag) => {
    const lifetime = expectedLifetimeMs(pol, 'classic', at);
    const prev = lastSet.get(l.key) ?? null;
    const fact = { at, setKey: l.key, prevSameSetAt: prev, ari: ariFlag };
    domainFacts(l.domain).push(fact);
    setFacts(l.key).push(fact);
    orders[l.account].push(fact);
    lastSet.set(l.key, at);
    l.cert = { not_before: at - HOUR, not_after: at - HOUR + lifetime };
    l.windowStart = l.cert.not_before + Math.round(lifetime * (ARI_CENTRE - ARI_HALF));
    l.windowEnd = l.cert.not_before + Math.round(lifetime * (ARI_CENTRE + ARI_HALF));
    const next = ari ? chooseInWindow(l.windowStart, l.windowEnd, rand) : dueAt(l.cert);
    schedule({ at: next, lineage: l, kind: 'renew' });
  };

  // the fleet at START: each lineage's current certificate issued uniformly over the last renewal interval
  for (const l of lineages) {
    const life = expectedLifetimeMs(pol, 'classic', START - 30 * DAY);
    const at = START - Math.floor(rand() * life * ARI_CENTRE) - 1;
    // its earlier issuance (same set, one interval before): the renewal exemption's "issued within 120 days"
    lastSet.set(l.key, at - Math.round(life * ARI_CENTRE));
    issue(l, at, ari);
  }

  // arrivals: 0.1 % of the fleet a day, 80 % in business hours; as many lineages retire
  const perDayNew = L * 0.001;
    for (let d = 0; d < DAYS; d++) {
    const n = Math.floor(perDayNew) + (rand() < perDayNew % 1 ? 1 : 0);
    for (let i = 0; i < n; i++) {
      const business = rand() < 0.8;
      const at = START + d * DAY + (business ? 8 * HOUR + rand() * 10 * HOUR : rand() * DAY);
      // a new lineage of a new small customer, or a new subdomain of an existing customer
      let names;
      let c;
      if (rand() < 0.6) {
        c = { id: customers.length, domain: `new${customers.length}.com`, count: 0, big: false, nextSub: 0 };
        customers.push(c);
        names = [c.domain, `www.${c.domain}`];
      } else {
        c = customers[Math.floor(rand() * customers.length)];
        names = [`n${c.nextSub++}.${c.domain}`];
      }
      const l = { id: lineages.length, customer: c.id, domain: c.domain, names, key: setKey(names), host: lineages.length % hostsInSlice, account: c.id % sliceAccounts };
      lineages.push(l);
      schedule({ at: Math.floor(at), lineage: l, kind: 'new', arrived: Math.floor(at) });
      // one retirement, from that moment on (a lineage of the starting fleet)
      const old = lineages[Math.floor(rand() * L)];
      old.retireAt = Math.min(old.retireAt ?? Infinity, Math.floor(at));
    }
  }
  // onboarding bursts: one a month per 100,000 lineages (at least one), 300 subdomains of a big customer at once
  const bursts = Math.max(1, Math.round((12 * L) / 100_000 * (DAYS / 365)));
  const bigs = customers.filter((c) => c.big);
  for (let b = 0; b < bursts; b++) {
    const c = bigs[b % bigs.length];
    const at = START + Math.floor(((b + 0.5) / bursts) * DAYS * DAY) + 10 * HOUR;
    for (let i = 0; i < 300; i++) {
      const names = [`o${c.nextSub++}.${c.domain}`];
      const l = { id: lineages.length, customer: c.id, domain: c.domain, names, key: setKey(names), host: lineages.length % hostsInSlice, account: c.id % sliceAccounts };
      lineages.push(l);
      schedule({ at, lineage: l, kind: 'new', arrived: at });
    }
  }

  // pacing (ari+paced): a new order is sent only while the planner says the account's new-orders bucket keeps a
  // quarter of its capacity after it (the rest stays for retries and renewals that lose their exemption); else it
  // waits for the planner's next free token. The per-domain limit is left to the planner's allowedAt.
  const RESERVE = 0.25;

  const hours = Math.ceil((END - START) / HOUR);
  for (let h = 0; h < hours; h++) {
    const b = buckets.get(h);
    if (!b) continue;
    buckets.delete(h);
    b.sort((x, y) => x.at - y.at);
    for (const ev of b) {
      const l = ev.lineage;
      if (ev.kind === 'renew' && l.retireAt !== undefined && ev.at >= l.retireAt) continue;
      const now = ev.at;
      const renewal = ev.kind === 'renew';
      const windowOpen = renewal && now >= l.windowStart;
      const req = {
        names: l.names,
        caId: 'letsencrypt',
        directoryUrl: DIR,
        policyId: pol.id,
        accountId: l.account + 1,
        parts: 1,
        replaces: renewal && ari ? `aki.serial${l.id}` : null,
        ariWindowOpen: windowOpen,
        ...(renewal ? { renewalOf: `l${l.id}` } : {}),
      };
      const snap = {
        byDomain: { [l.domain]: domainFacts(l.domain).read(now) },
        bySet: setFacts(l.key).read(now),
        lastSameSetAt: lastSet.get(l.key) ?? null,
        orders: orders[l.account].read(now),
        openOrders: [],
        authz: {},
        accountsCreated: [],
        held: [],
        problems: [],
      };
      const t0 = performance.now();
      const d = planRequest(snap, pol, req, now);
      st.planMs += performance.now() - t0;
      st.calls++;
      if (d.verdict !== 'blocked') for (const lim of d.limits) {
        if (lim.exempt || lim.kind === 'max' || lim.spend === 0) continue;
        const cur = st.headroom[lim.name];
        if (!cur || lim.after < cur.after) st.headroom[lim.name] = { after: lim.after, capacity: lim.capacity, scope: lim.scope, at: now };
      }
      const nl = d.limits.find((x) => x.name === 'new-orders' && !x.exempt);
      if (paced && !renewal && d.verdict !== 'blocked' && nl && nl.after < nl.capacity * RESERVE) {
        st.waits++;
        schedule({ ...ev, at: Math.max(now + 1, nl.nextFreeAt ?? now + nl.capacity) });
        continue;
      }
      if (d.verdict === 'blocked') {
        if (paced) st.waits++;
        else st.refusals++;
        for (const lim of d.limits) if (!lim.exempt && (lim.allowedAt === null || lim.allowedAt > now)) st.refusedBy[lim.name] = (st.refusedBy[lim.name] ?? 0) + 1;
        // the client comes back at the planner's moment (renew: "next slot opens …"), at most once a day
        // (the daemon's retry cadence for a blocked lineage); a renewal the planner cannot fit before its
        // certificate expires is an outage: counted as expired, and not followed further
        if (renewal && (d.allowedAt === null || d.allowedAt > l.cert.not_after)) {
          st.expired++;
          continue;
        }
        if (d.allowedAt === null) st.never = (st.never ?? 0) + 1;
        if (d.allowedAt !== null) schedule({ ...ev, at: Math.max(d.allowedAt, now + (ev.retried ? DAY : 1)), retried: true });
        continue;
      }
      // allowed: the order is created and finalized now
      st.issued++;
      const dayKey = Math.floor((now - START) / DAY);
      note(st.perDay, dayKey);
      note(st.perHour, Math.floor((now - START) / HOUR));
      note(st.perHostDay, `${dayKey}:${l.host}`);
      if (renewal) {
        st.renewals++;
        if (d.renewal.ari) st.ariExempt++;
        if (ari && now > l.windowEnd) st.lateAri++;
        if (now > l.cert.not_after) st.expiredGap++;
      } else {
        st.newCerts++;
        const delay = now - ev.arrived;
        st.newDelays.push(delay);
        st.maxNewDelayMs = Math.max(st.maxNewDelayMs, delay);
      }
      issue(l, now, renewal && d.renewal.ari);
    }
  }
  return { strategy, fullAccounts, sliceAccounts, share, hostsInSlice, lineages: L, customers: customers.length, newOrdersRule: limits['new-orders'], ...st };
}

/** The counterfactual CA for no-exemption/ari/accounts: renewals of the same set are NOT exempt from new orders or per-domain. */
function policyFor(strategy) {
  if (strategy === 'blind' || strategy === 'ari+paced') return LE;
  return { ...LE, id: 'letsencrypt-no-renewal-exemption', renewal: { ...LE.renewal, sameSetExempt: [], sameSetWithinMs: undefined } };
}

/** Accounts the full fleet needs when every renewal counts: peak renewals per 3 h (45-day certificates, 2/3 renewal) over 300, doubled for headroom. */
function accountsNeeded() {
  const perDay = FULL / (45 * ARI_CENTRE);
  return Math.ceil(((perDay / 8) * 1.5 * 2) / 300);
}

// ------------------------------------------------------------------ run + report
const t0 = performance.now();
const results = STRATEGIES.map((s) => {
  const t = performance.now();
  const r = simulate(s, SEED);
  r.wallS = (performance.now() - t) / 1000;
  return r;
});
const pct = (xs, p) => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const maxOfMap = (m) => Math.max(0, ...m.values());
const hrs = (ms) => (ms / HOUR).toFixed(1) + ' h';

if (flag('json')) {
  console.log(JSON.stringify(results.map(({ perDay, perHour, perHostDay, newDelays, ...r }) => ({ ...r, peakDay: maxOfMap(perDay), peakHour: maxOfMap(perHour), peakHostDay: maxOfMap(perHostDay) })), null, 2));
} else {
  console.log(`node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`fleet: ${L.toLocaleString('en')} lineages simulated = 1/${K} of 1,000,000 (${HOSTS_FULL} hosts → ${Math.max(1, Math.round(HOSTS_FULL / K))} here), ${DAYS} days from ${new Date(START).toISOString().slice(0, 10)}; classic lifetime ${expectedLifetimeMs(LE, 'classic', START) / DAY} d at start, ${expectedLifetimeMs(LE, 'classic', END - 1) / DAY} d at end`);
  console.log('figures ×k = the 1M fleet; "new-orders min headroom" is of the slice\'s share of the account bucket(s)\n');
  const rows = results.map((r) => [
    r.strategy,
    `${r.fullAccounts} (${r.sliceAccounts} here, bucket ${r.newOrdersRule.capacity}/${(r.newOrdersRule.refillMs / 1000).toFixed(0)} s)`,
    `${r.refusals}${r.waits ? `; ${r.waits} waits` : ''}` + (r.refusals + r.waits ? ` (${Object.entries(r.refusedBy).map(([k, v]) => `${k} ${v}`).join(', ')})` : ''),
    Object.entries(r.headroom).map(([k, v]) => `${k} ${v.after}/${v.capacity}`).join(', '),
    `${(maxOfMap(r.perDay) * K).toLocaleString('en')} / day, ${(maxOfMap(r.perHour) * K).toLocaleString('en')} / h`,
    String(maxOfMap(r.perHostDay)),
    `${(r.renewals * K).toLocaleString('en')} (${r.renewals ? Math.round((100 * r.ariExempt) / r.renewals) : 0} % ARI-exempt)`,
    `${r.lateAri} / ${r.expiredGap} / ${r.expired}`,
    `p50 ${hrs(pct(r.newDelays, 0.5))}, p99 ${hrs(pct(r.newDelays, 0.99))}, max ${hrs(r.maxNewDelayMs)}`,
    `${r.calls.toLocaleString('en')} in ${(r.planMs / 1000).toFixed(1)} s (${r.wallS.toFixed(0)} s wall)`,
  ]);
  const head = ['strategy', 'accounts (1M fleet)', 'refusals (goal 0); planner waits', 'min headroom per limit (after/capacity)', 'peak issuance ×k', 'peak per host per day', 'renewals in the year ×k', 'renewed after ARI window / after expiry / expired', 'new-certificate delay', 'planner calls'];
  for (const [i, r] of rows.entries()) {
    console.log(`— ${r[0]}`);
    for (let c = 1; c < head.length; c++) console.log(`    ${head[c].padEnd(40)} ${r[c]}`);
    if (i < rows.length - 1) console.log('');
  }
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
const rec = results.find((r) => r.strategy === 'ari+paced');
process.exit(rec && rec.refusals > 0 ? 1 : 0);
