/** The body of `certctl plan` (wiring: commands/plan.ts). */
import { utc, humanDuration, isoTime } from '../../core/clock.js';
import { wrap, lineWidth } from '../layout.js';
import { verdictJson } from '../ca-verdicts.js';
import type { Context } from '../context.js';
import type { Decision, LimitReport } from '../../core/planner/plan.js';
import type { CaProfile } from '../../core/ca/registry.js';
import type { LimitName, Policy } from '../../core/limits/policies.js';
import type { ChangeCost } from '../../core/lineage-change.js';
import type { CaCandidate, CaChoice, CandidateVerdict, ChooseInput } from '../../core/failover.js';

export interface PlanOptions {
  domain?: string[];
  keyType?: string;
  ca?: string;
  server?: string;
  staging?: boolean;
  forceRenewal?: boolean;
  certName?: string;
  expand?: boolean;
  newLineage?: boolean;
  ctSync?: string;
  ctMaxAge?: number;
  ctUrl?: string;
  profile?: string;
}


interface PlanItem {
  lineage: string | null;
  names: string[];
  ca: CaProfile;
  directoryUrl: string;
  policy: Policy;
  keyType: string;
  parts: number;
  /** The profile planned for (asked, the lineage's, or the CA's default) and what it means for the certificate; null when certctl knows no profiles of this CA. */
  profile: ProfileView | null;
  /** Config `policies:` overrides of this policy in force (the CA granted more capacity), else null. */
  override: { source: string | null; limits: { name: string; capacity: number | null; removed: boolean }[] } | null;
  decision: Decision;
  /** plan --cert-name NAME on a lineage with other names: what changing them spends. */
  change?: ChangeCost | null;
  changeText?: string[];
  /** A lineage with a CA list: the CA renew would choose now (or chose last), and why. */
  caChoice?: { ca: string; first: string; failedOver: boolean; reason: string; at?: string | null } | null;
  /** A CA list planned now (--ca a,b, a lineage's or the config's list): every CA's verdict in order, and the one used. */
  caList?: CaListView | null;
}

interface CaListView {
  cas: string[];
  verdicts: CandidateVerdict[];
  /** The CA issue/renew would use now; null when none of the list can. */
  chosen: string | null;
  /** Why that CA (or, with none, why none). */
  reason: string;
}

interface ProfileView {
  name: string;
  asked: boolean;
  maxNames: number;
  ipIdentifiers: boolean;
  /** Lifetime of a certificate ordered now under it (the 2026-2029 changes applied); null when unknown. */
  lifetimeMs: number | null;
  /** Without ARI (or renewDays), renewed when this much is left. */
  renewLeftMs: number | null;
}

export async function runPlan(ctx: Context, opts: PlanOptions): Promise<number> {
  const { ExitCode } = await import('../../core/errors.js');
  const { caForLineage, candidateFor } = await import('../../core/ca/registry.js');
  const { normalizeNames, registeredDomains } = await import('../../core/names.js');
  const { ctForPlan } = await import('../../core/ct/index.js');
  const { managedDomains } = await import('../../core/ledger/snapshot.js');
  const { parseKeyType } = await import('../../core/keys/index.js');
  const { planFromLedger, planRequestFor } = await import('../../core/plan.js');
  const { policyFor } = await import('../../core/limits/policies.js');
  const { loadConfig, applyDefaults } = await import('../../core/config/index.js');
  const config = await loadConfig(ctx.opts.config);
  opts = applyDefaults(opts, config, 'plan', (k) => (opts as Record<string, unknown>)[k] !== undefined);
  const overrides = config.policies;
  // Every value checked before the ledger is opened (a bad one must not even create ledger.sqlite).
  const { url, seconds } = await import('../validate.js');
  url(opts.server, '--server');
  url(opts.ctUrl, '--ct-url');
  opts.ctMaxAge = seconds(opts.ctMaxAge, '--ct-max-age', 24 * 365 * 10);
  (await import('../validate.js')).profile(opts.profile);
  if (opts.domain !== undefined && opts.domain.length === 0) {
    const { InputError } = await import('../../core/errors.js');
    throw new InputError('-d was given an empty name.', 'Pass each name with -d, e.g. -d example.com; leave -d out to plan every due renewal.');
  }
  if (!opts.domain && (opts.certName !== undefined || opts.expand || opts.newLineage)) {
    const { InputError } = await import('../../core/errors.js');
    throw new InputError(`${opts.certName !== undefined ? '--cert-name' : opts.expand ? '--expand' : '--new-lineage'} plans a request for names: give them with -d.`, 'E.g. certctl plan --cert-name example.com -d example.com -d www.example.com.');
  }
  if (opts.certName !== undefined) (await import('../../core/names.js')).assertLineageName(opts.certName);
  let request: { names: string[]; ca: CaProfile; directoryUrl: string; keyType: string } | undefined;
  let requestList: CaCandidate[] | null = null;
  if (opts.domain && opts.domain.length > 0) {
    const { resolveCaList } = await import('../../core/ca/registry.js');
    const cas = resolveCaList({ ca: opts.ca, server: opts.server, staging: opts.staging });
    if (cas.length > 1) requestList = cas;
    const { ca, directoryUrl } = cas[0]!;
    // No maxNames here: the planner reports names-per-certificate as a limit with its reason.
    const names = normalizeNames(opts.domain, { allowIp: ca.ipIdentifiers, allowWildcard: true });
    const keyType = parseKeyType(opts.keyType ?? (ca.keyTypes.length === 1 ? ca.keyTypes[0]! : 'ecdsa')).text;
    request = { names, ca, directoryUrl, keyType };
  } else if (opts.keyType !== undefined) parseKeyType(opts.keyType);
  const ledger = await ctx.ledger();
  const now = ctx.now();

  const { profileRule, expectedLifetimeMs, ruleCapacity } = await import('../../core/limits/policies.js');
  const { dueAt } = await import('../../core/renew/due.js');
  const planOne = (names: string[], ca: CaProfile, directoryUrl: string, keyType: string, extra: { renewalOf?: string; forceRenewal?: boolean; lineage?: string; profile?: string; renewDays?: number }): PlanItem => {
    const spec = parseKeyType(keyType);
    const decision = planFromLedger(ledger, planRequestFor(ledger, { names, ca, directoryUrl, keyType, forceRenewal: extra.forceRenewal, renewalOf: extra.renewalOf, profile: extra.profile }), now, overrides);
    const policy = policyFor(ca.policyId, overrides);
    const pr = profileRule(policy, extra.profile);
    const life = expectedLifetimeMs(policy, extra.profile, now) ?? null;
    const profile: ProfileView | null = pr
      ? { name: pr.name, asked: pr.asked, maxNames: pr.rule.maxNames, ipIdentifiers: pr.rule.ipIdentifiers, lifetimeMs: life, renewLeftMs: life === null ? null : now + life - dueAt({ not_before: now, not_after: now + life }, extra.renewDays) }
      : null;
    const o = overrides[ca.policyId];
    const override = o
      ? {
          source: o.source ?? null,
          limits: Object.entries(o.limits ?? {}).map(([name, r]) => {
            const rule = policy.limits[name as LimitName];
            return { name, removed: r === null, capacity: r === null || !rule ? null : ruleCapacity(rule) };
          }),
        }
      : null;
    return { lineage: extra.lineage ?? null, names, ca, directoryUrl, policy, keyType: spec.text, parts: spec.parts.length, profile, override, decision };
  };

  let nextRunAt: number | null | undefined; // read once (the cron file, the ledger's runs)
  /** chooseCa as issue/renew would call it, but sending nothing (no CAA look-up, no probe of an unreachable CA). */
  const planList = async (candidates: CaCandidate[], input: Omit<ChooseInput, 'candidates' | 'caa' | 'overrides' | 'now' | 'unreachable'>, validity: { notBefore: number; notAfter: number } | null): Promise<{ choice: CaChoice | null; view: CaListView }> => {
    const failover = await import('../../core/failover.js');
    if (nextRunAt === undefined) nextRunAt = (await import('../../core/schedule/next-run.js')).estimateNextRun(ledger, now)?.at ?? null;
    const nextRun = nextRunAt;
    try {
      const c = await failover.chooseCa(ledger, { ...input, candidates, caa: false, overrides, now, unreachable: { policy: failover.unreachablePolicy(config.defaults.caUnreachable), validity, nextRun, probe: false } });
      return { choice: c, view: { cas: candidates.map((x) => x.ca.id), verdicts: c.verdicts, chosen: c.ca.id, reason: c.reason } };
    } catch (err) {
      if (!(err instanceof failover.NoCaError)) throw err;
      return { choice: null, view: { cas: candidates.map((x) => x.ca.id), verdicts: err.verdicts, chosen: null, reason: err.message } };
    }
  };

  if (request) {
    // No CA asked for: the CA (and key type) of the lineage that holds these names, not Let's Encrypt by
    // default — a plan against another CA than the one renew would ask says nothing about that renewal.
    let holder: string | undefined;
    if (opts.ca === undefined && opts.server === undefined && !opts.staging) {
      const { setKey } = await import('../../core/names.js');
      const live = (l: { settings: { deleting?: unknown } }) => !l.settings.deleting;
      const held = ledger.lineagesBySet(setKey(request.names)).filter(live)[0] ?? ledger.lineages().find((l) => live(l) && request!.names.every((n) => l.names.includes(n)));
      if (held) {
        holder = held.name;
        request = { ...request, ca: caForLineage(held), directoryUrl: held.directory_url, keyType: opts.keyType === undefined ? held.key_type : request.keyType };
        // The lineage's own CA list (issue --ca a,b, a config list): planned as renew would.
        const own = (held.settings.cas ?? []).map((id) => candidateFor(id, held)).filter((x): x is NonNullable<typeof x> => Boolean(x));
        if (own.length > 1) requestList = held.settings.caStick ? [...own.filter((c) => c.directoryUrl === held.directory_url), ...own.filter((c) => c.directoryUrl !== held.directory_url)] : own;
      }
    }
    let listView: CaListView | null = null;
    if (requestList) {
      // The lineage these names belong to (at any CA of the list), and its certificate: how long it can wait.
      const { setKey } = await import('../../core/names.js');
      const { soonestExpiring, revokedAt } = await import('../../core/renew/due.js');
      const urls = requestList.map((c) => c.directoryUrl);
      const owner = (holder ? ledger.lineage(holder) : undefined) ?? urls.map((u) => ledger.lineagesBySet(setKey(request!.names), u).find((x) => !x.settings.deleting)).find(Boolean);
      const certs = owner ? ledger.currentCertificates(owner.name) : [];
      const soonest = soonestExpiring(certs);
      const valid = soonest && !revokedAt(certs) ? soonest : undefined;
      const { waitUntilFor } = await import('../../core/failover.js');
      const r = await planList(
        requestList,
        { names: request.names, keyType: request.keyType, waitUntil: valid ? waitUntilFor(valid.not_after) : null, renewalOf: owner?.name, forceRenewal: opts.forceRenewal, current: owner ? { directoryUrl: owner.directory_url, replaces: null } : undefined },
        valid ? { notBefore: valid.not_before, notAfter: valid.not_after } : null,
      );
      listView = r.view;
      let use: CaCandidate = r.choice ?? requestList[0]!;
      // The exact set held and not due: issue orders nothing (it keeps it), at the CA that holds it.
      const { isDue } = await import('../../core/renew/due.js');
      if (owner && owner.set_key === setKey(request.names) && valid && valid.not_after > now && !isDue(valid, now, owner.settings.renewDays) && !opts.forceRenewal) {
        use = requestList.find((c) => c.directoryUrl === owner.directory_url) ?? use;
        listView = { ...listView, chosen: use.ca.id, reason: `the set is held at ${use.ca.id} and not due: nothing to order (--force-renewal plans an order)` };
      }
      request = { ...request, ca: use.ca, directoryUrl: use.directoryUrl };
    }
    const { names, ca, directoryUrl, keyType } = request;
    const ctSync = await ctForPlan(ledger, registeredDomains(names), ctx.now, opts, (l) => ctx.out.verbose(l));
    // The lineage-aware view issue takes (lineage-change.ts): a change of a lineage's names, or an overlap issue refuses.
    const { chooseLineage, changeCost, changeLines } = await import('../../core/lineage-change.js');
    const choice = chooseLineage(ledger, { names, directoryUrl, certName: opts.certName, expand: opts.expand, newLineage: opts.newLineage, forceRenewal: opts.forceRenewal });
    const held = choice.kind !== 'overlap' ? choice.existing : undefined;
    const item = planOne(names, ca, directoryUrl, keyType, { forceRenewal: opts.forceRenewal, profile: opts.profile ?? held?.settings.profile, renewDays: held?.settings.renewDays });
    item.caList = listView;
    if (choice.kind === 'overlap') {
      item.decision.notes.push(`certctl issue refuses this as asked: ${choice.message.replace(/, nothing was sent\.?$/, '.')} ${choice.hint}`);
    } else if (opts.certName !== undefined || opts.expand || opts.newLineage) {
      item.lineage = choice.name;
      item.change = choice.change ? changeCost(choice.change, item.decision) : null;
      item.changeText = item.change ? changeLines(item.change) : [];
    }
    const code = item.decision.verdict === 'blocked' || (listView && listView.chosen === null) ? ExitCode.BLOCKED : item.decision.verdict === 'duplicate' ? ExitCode.NOTHING_TO_DO : ExitCode.OK;
    // The last readiness checks recorded for these names (certctl check, or an issue/renew run).
    const { latestPrechecks } = await import('../../core/ledger/prechecks.js');
    const prechecks = latestPrechecks(ledger, names);
    if (ctx.out.json) {
      ctx.out.document('certctl.plan/1', {
        now: iso(now), mode: 'request', verdict: item.decision.verdict, exitCode: code, plans: [planJson(item)], notDue: [], ctSync,
        prechecks: prechecks.map((p) => ({ name: p.name, check: p.check, ok: p.ok, summary: p.summary, advice: p.advice, at: iso(p.at) })),
      });
    } else printItem(ctx, item, now, holder);
    for (const s of ctSync) ctx.out.info(wrap(s.text, 4));
    if (!ctx.out.json) {
      if (prechecks.length === 0) ctx.out.info(wrap(`Readiness: not checked yet (certctl check -d … ${names.some((n) => n.startsWith('*.')) ? '--dns METHOD …: a wildcard needs DNS-01' : '--webroot DIR'}).`, 4));
      for (const p of prechecks) {
        const line = `Readiness ${p.name} ${p.check}: ${p.ok ? 'passed' : 'FAILED'} ${now - p.at < 1000 ? 'just now' : `${humanDuration(now - p.at)} ago`} — ${p.summary}`;
        if (p.ok) ctx.out.info(wrap(line, 4));
        else ctx.out.attention(wrap(`${line}${p.advice ? ` → ${p.advice}` : ''}`, 4));
      }
    }
    return code;
  }

  // A whole renewal run: every lineage that is due now.
  const { ariDecides, renewalDue, revokedAt, soonestExpiring } = await import('../../core/renew/due.js');
  const { ariDecision, dueBeforeNextRun } = await import('../../core/renew/ari.js');
  // As renew decides from cron: an ARI moment chosen before the next scheduled run is due now.
  const nextRun = (await import('../../core/schedule/next-run.js')).estimateNextRun(ledger, now);
  const items: PlanItem[] = [];
  const notDue: { lineage: string; names: string[]; dueAt: number; caChoice: ReturnType<typeof lastChoice> }[] = [];
  // The CA a fail-over list chose last for a lineage (docs/cas.md), shown with its plan.
  const lastChoice = (name: string) => {
    const c = ledger.lastCaChoice(name);
    return c ? { ca: c.ca_id, first: c.first_ca_id, failedOver: c.failed_over === 1, reason: c.reason, at: iso(c.at) } : null;
  };
  const ctSync = await ctForPlan(ledger, managedDomains(ledger), ctx.now, opts, (l) => ctx.out.verbose(l));
  for (const l of ledger.lineages()) {
    if (l.settings.deleting) continue; // being deleted (certctl delete, interrupted): never renewed
    const certs = ledger.currentCertificates(l.name);
    const soonest = soonestExpiring(certs);
    // renew's rule, from what the ledger knows (no request): the ARI moment chosen earlier stands for the CA's answer.
    const facts = { openOrders: ledger.openOrders(l.name).length, soonest, revokedAt: revokedAt(certs), renewDays: l.settings.renewDays };
    const ari = soonest && ariDecides(facts) ? ariDecision(ledger.renewalInfo(soonest.id), now) : null;
    const due = renewalDue({ ...facts, ari: ari ? dueBeforeNextRun(ari, now, nextRun) : null }, now);
    if (!due.due) {
      notDue.push({ lineage: l.name, names: l.names, dueAt: due.nextAt!, caChoice: lastChoice(l.name) });
      continue;
    }
    // A CA list: the CA renew would choose now (rate limits and 429s; CAA is checked by renew itself).
    let ca = caForLineage(l);
    let dir = l.directory_url;
    const list = (l.settings.cas ?? []).map((id) => candidateFor(id, l)).filter((x): x is NonNullable<typeof x> => Boolean(x));
    let planned: { ca: string; first: string; failedOver: boolean; reason: string } | null = null;
    let view: CaListView | null = null;
    if (list.length > 1 && facts.openOrders === 0) {
      const { waitUntilFor } = await import('../../core/failover.js');
      const ordered = l.settings.caStick ? [...list.filter((c) => c.directoryUrl === l.directory_url), ...list.filter((c) => c.directoryUrl !== l.directory_url)] : list;
      const valid = soonest && !facts.revokedAt ? soonest : undefined;
      const r = await planList(ordered, { names: l.names, keyType: l.key_type, waitUntil: valid ? waitUntilFor(valid.not_after) : null, renewalOf: l.name, forceRenewal: true, current: { directoryUrl: l.directory_url, replaces: null } }, valid ? { notBefore: valid.not_before, notAfter: valid.not_after } : null);
      view = r.view;
      // No CA of the list allows it: the first CA's plan says why and when.
      if (r.choice) {
        ({ ca } = r.choice);
        dir = r.choice.directoryUrl;
        planned = { ca: r.choice.ca.id, first: r.choice.firstId, failedOver: r.choice.failedOver, reason: r.choice.reason };
      }
    }
    items.push({ ...planOne(l.names, ca, dir, l.key_type, { renewalOf: l.name, forceRenewal: true, lineage: l.name, profile: l.settings.profile, renewDays: l.settings.renewDays }), caChoice: planned ?? lastChoice(l.name), caList: view });
  }
  const blocked = items.some((i) => i.decision.verdict === 'blocked');
  const code = blocked ? ExitCode.BLOCKED : ExitCode.OK;
  const verdict = blocked ? 'blocked' : items.some((i) => i.decision.verdict === 'last-slot') ? 'last-slot' : 'allowed';
  if (ctx.out.json) {
    ctx.out.document('certctl.plan/1', { now: iso(now), mode: 'renewals', verdict, exitCode: code, plans: items.map(planJson), notDue: notDue.map((n) => ({ ...n, dueAt: iso(n.dueAt) })), ctSync });
    return code;
  }
  if (items.length === 0) {
    ctx.out.info(notDue.length ? `Nothing is due for renewal (${notDue.length} certificate(s) held).` : 'No certificates in the ledger yet.');
  }
  for (const i of items) {
    printItem(ctx, i, now);
    ctx.out.info('');
  }
  for (const n of notDue.sort((a, b) => a.dueAt - b.dueAt)) {
    ctx.out.info(wrap(`${n.lineage}: not due until ${utc(n.dueAt)}${n.caChoice ? `; CA ${n.caChoice.ca}${n.caChoice.failedOver ? ` (failed over from ${n.caChoice.first}: ${n.caChoice.reason})` : ''}` : ''}`, 4));
  }
  if (items.length) {
    const fits = items.filter((i) => i.decision.verdict !== 'blocked').length;
    ctx.out.attention(wrap(`${fits} of ${items.length} due renewal(s) fit the CA's limits now${blocked ? '; the others are blocked (see above)' : ''}.`, 4));
  }
  for (const s of ctSync) ctx.out.info(wrap(s.text, 4));
  return code;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : isoTime(ms);
}

function limitJson(l: LimitReport) {
  return {
    name: l.name,
    scope: l.scope,
    kind: l.kind,
    used: l.used,
    capacity: l.capacity,
    spend: l.spend,
    after: l.after,
    nextFreeAt: iso(l.nextFreeAt),
    allowedAt: iso(l.allowedAt),
    exempt: Boolean(l.exempt),
    reason: l.reason,
    evidence: l.evidence ? { problemId: l.evidence.problemId, at: iso(l.evidence.at), retryAfter: iso(l.evidence.retryAfter), detail: l.evidence.detail } : null,
  };
}

function planJson(i: PlanItem) {
  return {
    lineage: i.lineage,
    names: i.names,
    change: i.change ?? null,
    ca: { id: i.ca.id, name: i.ca.name, directoryUrl: i.directoryUrl },
    caChoice: i.caChoice ?? null,
    caList: i.caList
      ? {
          cas: i.caList.cas,
          chosen: i.caList.chosen,
          reason: i.caList.reason,
          verdicts: i.caList.verdicts.map(verdictJson),
        }
      : null,
    policy: { id: i.policy.id, name: i.policy.name, source: i.policy.source, date: i.policy.date, override: i.override },
    profile: i.profile
      ? {
          name: i.profile.name,
          asked: i.profile.asked,
          maxNames: i.profile.maxNames,
          ipIdentifiers: i.profile.ipIdentifiers,
          lifetimeHours: i.profile.lifetimeMs === null ? null : i.profile.lifetimeMs / 3_600_000,
          renewWhenLeftHours: i.profile.renewLeftMs === null ? null : Math.round(i.profile.renewLeftMs / 3_600_000),
        }
      : null,
    keyType: i.keyType,
    parts: i.parts,
    verdict: i.decision.verdict,
    allowedAt: iso(i.decision.allowedAt),
    renewal: i.decision.renewal,
    held: i.decision.held.map((h) => ({ lineage: h.lineage, notAfter: iso(h.notAfter) })),
    limits: i.decision.limits.map(limitJson),
    notes: i.decision.notes,
  };
}

/** A time in plan's text: once, in UTC (the local zone and a relative form beside it made lines wrap). */
function when(at: number | null, now: number): string {
  if (at === null) return 'never, as asked';
  if (at <= now) return 'now';
  return utc(at);
}

function printItem(ctx: Context, i: PlanItem, now: number, holder?: string): void {
  const p = ctx.out.palette;
  const d = i.decision;
  const say = (line: string, indent = 4) => ctx.out.info(wrap(line, indent));
  const of = i.change ? ` (change of ${i.lineage})` : i.lineage && i.change === undefined ? ` (renewal of ${i.lineage})` : i.lineage ? ` (lineage ${i.lineage})` : '';
  say(`${p.bold('Plan')}${of}: ${i.names.join(', ')}`);
  for (const line of i.changeText ?? []) say(`  ${line}`);
  say(`  CA ${i.ca.name} (${i.directoryUrl}); policy ${i.policy.id} of ${i.policy.date}; key ${i.keyType}${i.parts > 1 ? ` = ${i.parts} certificates` : ''}`);
  if (i.caList) {
    say(`  CA list ${i.caList.cas.join(', ')}, in order:`);
    for (const v of i.caList.verdicts) {
      const state = v.verdict === 'blocked' ? p.bad(`blocked until ${when(v.allowedAt, now)}`) : v.verdict === 'last-slot' ? p.warn('allowed (last slot)') : v.verdict === 'duplicate' ? p.warn('duplicate (held)') : p.ok('allowed now');
      const u = v.unreachable;
      const down = u ? `; ${u.givenUp ? p.bad('unreachable') : p.warn('unreachable')} on ${u.runs} consecutive run(s) since ${utc(u.since)} (${u.kind})${u.givenUp ? ', given up for this renewal' : ''}` : '';
      say(`    ${v.caId === i.caList.chosen ? '→' : ' '} ${v.caId}: ${state}${v.why ? ` — ${v.why}` : ''}${down}`, 8);
    }
    if (i.caList.chosen) say(`  Would use ${i.caList.chosen}: ${i.caList.reason}. CAA is checked by issue/renew (and certctl check --ca ${i.caList.cas.join(',')}).`);
    else ctx.out.attention(wrap(`  ${p.bad('No CA of the list can issue this now')} (the plan below is the first CA's).`, 4));
  }
  if (i.caChoice && !i.caList) say(`  CA choice: ${i.caChoice.ca}${i.caChoice.failedOver ? ` (failed over from ${i.caChoice.first})` : ''} — ${i.caChoice.reason}`);
  if (i.override) {
    const what = i.override.limits.map((x) => (x.removed ? `${x.name} removed` : `${x.name}${x.capacity !== null ? ` ${x.capacity}` : ''}`)).join(', ');
    ctx.out.attention(wrap(`  ${p.warn('Override in force')} (config policies.${i.policy.id}${i.override.source ? `, ${i.override.source}` : ''}): ${what || 'renewal rule or name changed'} — the CA's published numbers are replaced by yours.`, 4));
  }
  if (i.profile) {
    const pf = i.profile;
    const days = (ms: number) => (ms % 86_400_000 === 0 ? `${ms / 86_400_000} days` : `${Math.round(ms / 3_600_000)} h`);
    const life = pf.lifetimeMs !== null ? `; a certificate ordered now lives ${days(pf.lifetimeMs)}, renewed in the CA's ARI window, else with ${days(pf.renewLeftMs!)} left` : '';
    say(`  profile ${pf.name}${pf.asked ? '' : " (the CA's default)"}: at most ${pf.maxNames} names, ${pf.ipIdentifiers ? 'DNS names and IP addresses' : 'DNS names only'}${life}`);
  }
  if (holder) say(`  These names are held by lineage ${holder}: planned with its CA and key type (--server or --ca plans for another CA).`);
  // A row: limit and scope, then its numbers and state; on one line when it fits, else the numbers
  // on the next line. Scopes are never cut: an exact set is what the limit counts.
  const w = Math.max(...d.limits.map((l) => l.name.length), 10);
  const sw = Math.max(...d.limits.map((l) => l.scope.length), 5);
  const width = lineWidth();
  for (const l of d.limits) {
    if (l.exempt) {
      const line = `  ${l.name.padEnd(w)}  ${l.scope.padEnd(sw)}  ${p.dim(`exempt: ${l.reason}`)}`;
      say(columns(line) <= width ? line : `  ${l.name}  ${l.scope}  ${p.dim(`exempt: ${l.reason}`)}`, 6);
      continue;
    }
    const fits = l.allowedAt !== null && l.allowedAt <= now;
    const nums = l.name === 'identifier-types' ? `${l.used} IP address(es), ${fits ? 'issued' : 'not issued'} under this profile` : l.kind === 'max' ? `${l.used} of max ${l.capacity}` : `used ${l.used}/${l.capacity}, spend ${l.spend}, ${l.after >= 0 ? `left ${l.after}` : `none left (${-l.after} short)`}`;
    const state = fits ? (l.kind !== 'max' && l.spend > 0 && l.after === 0 ? p.warn('last slot') : p.ok('fits')) : p.bad(`blocked until ${when(l.allowedAt, now)}`);
    const one = `  ${l.name.padEnd(w)}  ${l.scope.padEnd(sw)}  ${nums}; ${state}`;
    if (columns(one) <= width) ctx.out.info(one);
    else {
      say(`  ${l.name}  ${l.scope}`, 6);
      say(`      ${nums}; ${state}`, 6);
    }
    if (l.nextFreeAt !== null && l.nextFreeAt > now && l.used > 0 && l.kind !== 'max') say(`      ${p.dim(`next slot frees ${when(l.nextFreeAt, now)}`)}`, 6);
    if (!fits || ctx.opts.verbose) say(`      ${p.dim(l.reason)}`, 6);
  }
  const blockedToo = d.limits.filter((l) => !l.exempt && (l.allowedAt === null || l.allowedAt > now));
  const verdict =
    d.verdict === 'allowed'
      ? p.ok('ALLOWED: the CA should accept this request now.')
      : d.verdict === 'last-slot'
        ? p.warn('ALLOWED, LAST SLOT: this spends the last free slot of a limit (warning).')
        : d.verdict === 'duplicate' && blockedToo.length
          ? // Held and blocked: both, and what --force-renewal would meet (the same rows: forcing changes the verdict only).
            p.bad(`DUPLICATE and BLOCKED: a valid certificate for exactly these names is already held; nothing to order, and --force-renewal would be refused until ${when(d.allowedAt, now)} (${blockedToo.map((l) => l.name).join(', ')}).`)
          : d.verdict === 'duplicate'
            ? p.warn('DUPLICATE: a valid certificate for exactly these names is already held; nothing to order.')
            : p.bad(`BLOCKED: the CA would refuse this request; earliest allowed ${when(d.allowedAt, now)}.`);
  ctx.out.attention(wrap(`Verdict: ${verdict}`, 4));
  for (const n of d.notes) say(`  - ${n}`);
}

function columns(s: string): number {
  // eslint-disable-next-line no-control-regex
  return [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
}
