/**
 * CA fail-over: the planner run over an ordered list of CAs, before any
 * order (docs/cas.md). `issue`, `renew` and `apply` call `chooseCa` when a
 * lineage names more than one CA; it plans the request against each CA in
 * turn from the ledger (rate limits, 429s in force), checks CAA for every
 * CA of the list, and picks:
 *
 *  - the first CA when its plan allows, or when it refuses but will allow
 *    before the lineage must have a new certificate (`waitUntil`): waiting
 *    spends nothing, so the gate reports the block as it always did;
 *  - else the next CA in the list whose plan allows and whose CAA permits it;
 *  - else nothing: a BlockedError naming, for each CA, why not and when.
 *
 * Nothing here sends an ACME request; CAA is read from DNS (the CA reads the
 * same records). Pure apart from that look-up.
 */
import type { Ledger, CaOutageRow } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import type { PolicyOverride } from './limits/policies.js';
import type { Decision } from './plan.js';
import { BlockedError, NetworkError, type BlockFacts } from './errors.js';
import { utc, humanRelative, humanDuration } from './clock.js';

export interface CaCandidate {
  ca: CaProfile;
  directoryUrl: string;
  /** Extra CA certificates to trust for this CA (a custom CA's bundle, the lineage's own): for the reachability probe. */
  caBundle?: string;
}

/** What the ledger knows of a CA that could not be reached (table ca_outages), as a verdict shows it. */
export interface UnreachableFact {
  /** Consecutive runs that could not reach it, this one included when it probed. */
  runs: number;
  since: number;
  last: number;
  kind: string;
  detail: string;
  /** This run asked its directory again (and it still did not answer). */
  probed: boolean;
  /** The rule is met: unreachable on enough runs, over long enough, and waiting would pass the deadline. */
  givenUp: boolean;
  /** The renewal deadline it is waited for until (null: no certificate to wait on). */
  deadline: number | null;
}

/** What one CA of the list would do with the request now. */
export interface CandidateVerdict {
  caId: string;
  directoryUrl: string;
  verdict: Decision['verdict'];
  /** When the CA would allow it (now when allowed); null = never as asked. */
  allowedAt: number | null;
  /** The limits or refusals that block it ('' when allowed). */
  why: string;
  /** CAA for this CA over every name: null when not checked (--no-precheck, plan). */
  caa: { ok: boolean; summary: string } | null;
  /** The CA could not be reached on recent runs (null: no outage recorded, or it answered this run). */
  unreachable: UnreachableFact | null;
}

export interface CaChoice {
  ca: CaProfile;
  directoryUrl: string;
  /** The CA chosen is not the first of the list. */
  failedOver: boolean;
  /** Id of the first CA of the list (the preferred one). */
  firstId: string;
  /** One sentence: why this CA. */
  reason: string;
  verdicts: CandidateVerdict[];
}

/**
 * When a first CA that cannot be reached is given up for the next one (config
 * `defaults.caUnreachable`): unreachable on `runs` consecutive runs, the first and
 * last failure at least `periodMs` apart (one blip, or three runs in a minute, never
 * fail over), and the next run would come after the renewal deadline: the
 * certificate's expiry less `marginMs` (at most a third of its lifetime).
 */
export interface UnreachablePolicy {
  runs: number;
  periodMs: number;
  marginMs: number;
}

/**
 * Three runs: a cron twice a day has then seen the CA down for a day; six hours: runs by hand
 * in one afternoon are not an outage; seven days: a 90-day certificate renewed with 30 days
 * left waits three weeks for its CA, and a second CA still has a week to validate.
 */
export const UNREACHABLE_DEFAULTS: UnreachablePolicy = { runs: 3, periodMs: 6 * 3_600_000, marginMs: 7 * 86_400_000 };

export function unreachablePolicy(s: { runs?: number; periodMs?: number; marginMs?: number } | undefined): UnreachablePolicy {
  return { runs: s?.runs ?? UNREACHABLE_DEFAULTS.runs, periodMs: s?.periodMs ?? UNREACHABLE_DEFAULTS.periodMs, marginMs: s?.marginMs ?? UNREACHABLE_DEFAULTS.marginMs };
}

/** The latest moment to wait for an unreachable first CA: expiry less the margin (at most a third of the lifetime). */
export function unreachableDeadline(validity: { notBefore: number; notAfter: number } | null | undefined, marginMs: number): number | null {
  if (!validity) return null;
  return validity.notAfter - Math.min(marginMs, Math.max(0, (validity.notAfter - validity.notBefore) / 3));
}

export interface ChooseInput {
  names: string[];
  keyType: string;
  /** In the user's order; the first is preferred. */
  candidates: CaCandidate[];
  /**
   * The latest moment the lineage can wait for the first CA: the current certificate's expiry less
   * a day of margin; null when there is no certificate to wait on (a new lineage).
   */
  waitUntil: number | null;
  renewalOf?: string;
  forceRenewal?: boolean;
  /** The current certificate's CA and its ARI facts: `replaces` only means something to that CA. */
  current?: { directoryUrl: string; replaces: string | null; ariWindowOpen?: boolean };
  /** Check CAA for each CA (false with --no-precheck). */
  caa: boolean;
  resolver?: string;
  overrides?: Record<string, PolicyOverride>;
  now: number;
  /**
   * Unreachable across runs: the rule, the validity of the certificate held (its deadline), when
   * certctl runs next (null: unknown, taken as now), and whether to ask a CA with a recorded
   * outage for its directory again before choosing (issue, renew: yes; plan: no, it sends nothing).
   */
  unreachable?: { policy: UnreachablePolicy; validity: { notBefore: number; notAfter: number } | null; nextRun: number | null; probe: boolean };
  /** A CA that refused this run (a 429 to newOrder): blocked until `allowedAt` whatever its plan says. */
  refused?: { directoryUrl: string; allowedAt: number | null; why: string };
}

/** No CA of the list can be used now: a BlockedError (exit 4) that keeps every CA's verdict (plan shows them). */
export class NoCaError extends BlockedError {
  readonly verdicts: CandidateVerdict[];
  constructor(message: string, hint: string, verdicts: CandidateVerdict[], block?: BlockFacts) {
    super(message, hint, block);
    this.verdicts = verdicts;
  }
}

/** A day: how long before expiry the lineage stops waiting for its first CA. */
export const WAIT_MARGIN_MS = 86_400_000;

/** The wait limit for a lineage whose current certificate expires at `notAfter` (null: none held). */
export function waitUntilFor(notAfter: number | null | undefined): number | null {
  return notAfter === null || notAfter === undefined ? null : notAfter - WAIT_MARGIN_MS;
}

function blockingText(d: Decision): string {
  const blocking = d.limits.filter((x) => x.after < 0 || x.evidence).sort((a, b) => (b.allowedAt ?? Infinity) - (a.allowedAt ?? Infinity));
  return blocking.length ? blocking.map((x) => x.reason).join('; ') : d.notes.join(' ');
}

/**
 * Ask a CA for its directory once (with the transport's bounded retries): sends nothing that
 * spends anything. Any answer below 500 ends its outage; no answer (or 5xx) counts this run.
 */
async function probe(ledger: Ledger, c: CaCandidate, now: number, known: CaOutageRow): Promise<CaOutageRow | undefined> {
  // Already found unreachable by this run (another lineage, or this one's session): asked once per run,
  // so a renew run over many lineages at a CA that times out waits for it once, not once per lineage.
  if (known.last_run === ledger.runKey) return known;
  const [{ acmeGet }, { networkMessage }] = await Promise.all([import('./acme/transport.js'), import('./acme/session.js')]);
  try {
    const r = await acmeGet(c.directoryUrl, { caBundle: c.caBundle ?? c.ca.custom?.caBundle });
    if (r.status < 500) {
      ledger.noteCaReached(c.directoryUrl);
      return undefined;
    }
    return ledger.recordCaUnreachable({ directory_url: c.directoryUrl, ca_id: c.ca.id, at: now, kind: 'http-5xx', endpoint: 'directory', detail: `The ACME server at ${c.directoryUrl} answered HTTP ${r.status} to its directory.` });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const ne = networkMessage({ code: e.code, message: e.message ?? String(err) }, c.directoryUrl);
    return ledger.recordCaUnreachable({ directory_url: c.directoryUrl, ca_id: c.ca.id, at: now, kind: ne.kind, endpoint: 'directory', detail: ne.message });
  }
}

function outageText(u: UnreachableFact): string {
  return `unreachable on ${u.runs} consecutive run${u.runs === 1 ? '' : 's'} since ${utc(u.since)} (${u.kind}: ${u.detail.replace(/\.$/, '')})`;
}

/** Plan against every CA of the list, check CAA for every one, choose (see the file's comment). */
export async function chooseCa(ledger: Ledger, input: ChooseInput): Promise<CaChoice> {
  const { planFromLedger, planRequestFor } = await import('./plan.js');
  const { now } = input;
  const verdicts: CandidateVerdict[] = [];
  for (const c of input.candidates) {
    const same = input.current && input.current.directoryUrl === c.directoryUrl;
    const d = planFromLedger(
      ledger,
      planRequestFor(ledger, {
        names: input.names,
        ca: c.ca,
        directoryUrl: c.directoryUrl,
        keyType: input.keyType,
        replaces: same ? input.current!.replaces : null,
        ariWindowOpen: same ? input.current!.ariWindowOpen : undefined,
        forceRenewal: input.forceRenewal,
        renewalOf: input.renewalOf,
      }),
      now,
      input.overrides,
    );
    const v: CandidateVerdict = { caId: c.ca.id, directoryUrl: c.directoryUrl, verdict: d.verdict, allowedAt: d.verdict === 'blocked' ? d.allowedAt : now, why: d.verdict === 'blocked' ? blockingText(d) : '', caa: null, unreachable: null };
    const r = input.refused;
    if (r && r.directoryUrl === c.directoryUrl) {
      v.verdict = 'blocked';
      v.allowedAt = r.allowedAt === null || v.allowedAt === null ? null : Math.max(r.allowedAt, v.allowedAt);
      v.why = r.why;
    }
    verdicts.push(v);
  }
  if (input.caa) {
    const [{ DnsClient }, { checkCaa }] = await Promise.all([import('./precheck/dns.js'), import('./precheck/caa.js')]);
    const dns = new DnsClient({ resolver: input.resolver });
    for (let i = 0; i < input.candidates.length; i++) {
      const c = input.candidates[i]!;
      const results = await Promise.all(input.names.map((n) => checkCaa(dns, n, { identities: c.ca.caaIdentities }, c.ca.name)));
      const bad = results.filter((r) => !r.ok);
      verdicts[i]!.caa = bad.length ? { ok: false, summary: bad.map((r) => `${r.name}: ${r.summary}`).join('; ') } : { ok: true, summary: 'CAA permits it' };
    }
  }

  // Unreachable across runs: what the ledger recorded, asked again (issue, renew) before a CA is used.
  const un = input.unreachable;
  const deadline = un ? unreachableDeadline(un.validity, un.policy.marginMs) : null;
  const nextRun = un ? Math.max(now, un.nextRun ?? now) : now;
  const reach = async (i: number): Promise<UnreachableFact | null> => {
    const c = input.candidates[i]!;
    let row = ledger.caOutage(c.directoryUrl);
    const asked = Boolean(row && un?.probe);
    if (row && un?.probe) row = await probe(ledger, c, now, row);
    if (!row) return (verdicts[i]!.unreachable = null);
    const p = un?.policy ?? UNREACHABLE_DEFAULTS;
    const givenUp = row.runs >= p.runs && row.last_at - row.first_at >= p.periodMs && (deadline === null || nextRun > deadline);
    return (verdicts[i]!.unreachable = { runs: row.runs, since: row.first_at, last: row.last_at, kind: row.kind, detail: row.detail, probed: asked, givenUp, deadline });
  };

  const first = input.candidates[0]!;
  const fv = verdicts[0]!;
  const usable = (v: CandidateVerdict) => v.verdict !== 'blocked' && v.caa?.ok !== false;
  const pick = (i: number, failedOver: boolean, reason: string): CaChoice => ({ ca: input.candidates[i]!.ca, directoryUrl: input.candidates[i]!.directoryUrl, failedOver, firstId: first.ca.id, reason, verdicts });

  // Blocked (not by CAA) but allowed in time: wait for it — the gate says when, nothing is spent elsewhere.
  const canWait = fv.caa?.ok !== false && fv.allowedAt !== null && input.waitUntil !== null && fv.allowedAt <= input.waitUntil;
  let firstWhy: string | null = null;
  if (usable(fv) || canWait) {
    const u = await reach(0);
    if (u && u.givenUp) {
      firstWhy =
        `${first.ca.id} has been ${outageText(u)}, and ` +
        (deadline === null ? 'there is no certificate to wait on' : `waiting for the next run (${utc(nextRun)}) would pass the renewal deadline (${utc(deadline)})`);
    } else if (u && u.probed) {
      // Still unreachable, but not for long enough (or there is time): no fail-over on a blip.
      const p = un!.policy;
      const others = input.candidates.slice(1).map((c) => c.ca.id).join(', ');
      throw new NetworkError(
        `${first.ca.id} could not be reached: ${outageText(u)}; not failing over to ${others} yet: certctl fails over once ${first.ca.id} has been unreachable on ${p.runs} runs ` +
          `over at least ${humanDuration(p.periodMs)} and the next run would pass the renewal deadline${deadline === null ? '' : ` (${utc(deadline)})`}.`,
        'Nothing was ordered; the next run asks it again. The rule is config defaults.caUnreachable (docs/cas.md).',
        u.kind as NetworkError['kind'],
      );
    } else if (usable(fv)) return pick(0, false, `${first.ca.id} is the first CA of the list and its plan allows the request${u ? ` (it was ${outageText(u)}; certctl tries it again)` : ''}`);
    else return pick(0, false, `${first.ca.id} refuses until ${utc(fv.allowedAt!)}, before the certificate must be renewed (${utc(input.waitUntil!)}): waiting for it`);
  }

  firstWhy ??=
    fv.caa?.ok === false
      ? `CAA forbids ${first.ca.id} (${fv.caa.summary})`
      : `${first.ca.id} would refuse ${fv.allowedAt === null ? 'as asked' : `until ${utc(fv.allowedAt)}`} (${fv.why})` +
        (input.waitUntil === null ? ' and there is no certificate to wait on' : `, after the certificate must be renewed (${utc(input.waitUntil)})`);
  for (let i = 1; i < verdicts.length; i++) {
    if (!usable(verdicts[i]!)) continue;
    const u = await reach(i);
    if (u && (u.probed || u.givenUp)) continue; // it did not answer this run either (plan: given up on)
    return pick(i, true, `${firstWhy}; ${verdicts[i]!.caId} allows it now${verdicts[i]!.caa ? ' and CAA permits it' : ''}`);
  }
  const lines = verdicts.map((v) => {
    const when = v.verdict !== 'blocked' ? 'its plan allows it now' : v.allowedAt === null ? `refuses as asked (${v.why})` : `refuses until ${utc(v.allowedAt)}, ${humanRelative(v.allowedAt, now)} (${v.why})`;
    return `${v.caId}: ${when}${v.caa && !v.caa.ok ? `, but CAA forbids it (${v.caa.summary})` : ''}${v.unreachable ? `, but it is ${outageText(v.unreachable)}` : ''}`;
  });
  const soonest = verdicts.filter((v) => v.caa?.ok !== false && v.allowedAt !== null && !v.unreachable).map((v) => ({ id: v.caId, at: v.allowedAt! }))
    .sort((a, b) => a.at - b.at)[0];
  throw new NoCaError(
    `No CA of the list (${input.candidates.map((c) => c.ca.id).join(', ')}) can issue this now:\n  ${lines.join('\n  ')}\n` +
      (soonest ? `Next allowed ${utc(soonest.at)} (${humanRelative(soonest.at, now)}) at ${soonest.id}.` : 'None will allow it as asked.'),
    'Nothing was sent. Add a CAA record for another CA of the list (certctl ca show ID gives its CAA domain), or wait until the time above; certctl plan shows the same.',
    verdicts,
    { allowedAt: soonest?.at ?? null, limits: verdicts.filter((v) => !usable(v)).map((v) => ({ name: v.caa?.ok === false ? 'caa' : v.why, scope: `CA ${v.caId}`, allowedAt: v.caa?.ok === false ? null : v.allowedAt })) },
  );
}

/**
 * After a 429 to newOrder from the CA a list chose: when its Retry-After (or the limit's own
 * time) comes after the lineage must be renewed, the same run may go to the next CA — nothing
 * else was spent at the first (a refused newOrder creates no order). The `refused` input for
 * a second chooseCa; null when the lineage can wait (the 429 stands as before).
 */
export function refusalFor(choice: CaChoice, problem: { retryAfter?: number; detail: string; type: string }, waitUntil: number | null): ChooseInput['refused'] | null {
  const at = problem.retryAfter ?? null;
  if (at !== null && waitUntil !== null && at <= waitUntil) return null;
  return { directoryUrl: choice.directoryUrl, allowedAt: at, why: `it answered newOrder with 429 this run: ${problem.detail || problem.type}` };
}

/**
 * The EAB credentials of a custom CA (config `cas:`), read now from the file or environment
 * variable the config names: the HMAC key is never stored (not in the config, not in the ledger).
 */
export async function customEab(ca: CaProfile, env: NodeJS.ProcessEnv = process.env): Promise<{ kid: string; hmacKey: string } | undefined> {
  const e = ca.custom?.eab;
  if (!e) return undefined;
  const { registerSecret } = await import('./redact.js');
  const { InputError } = await import('./errors.js');
  let key: string | undefined;
  if (e.hmacKeyFile) key = (await import('./store/read.js')).readInputFile(e.hmacKeyFile, `The EAB HMAC key file of ${ca.id}`, 4096).split('\n')[0]!.trim();
  else if (e.hmacKeyEnv) key = env[e.hmacKeyEnv]?.trim();
  if (!key) {
    throw new InputError(
      `The EAB HMAC key of the CA ${ca.id} is ${e.hmacKeyFile ? `empty in ${e.hmacKeyFile}` : `not set: $${e.hmacKeyEnv} is empty`}.`,
      `Put the key the CA gave you there (${ca.custom!.file}: cas.${ca.id}); nothing was sent.`,
    );
  }
  registerSecret(key);
  return { kid: e.kid, hmacKey: key };
}
