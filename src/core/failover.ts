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
import type { Ledger } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import type { PolicyOverride } from './limits/policies.js';
import type { Decision } from './plan.js';
import { BlockedError } from './errors.js';
import { utc, humanRelative } from './clock.js';

export interface CaCandidate {
  ca: CaProfile;
  directoryUrl: string;
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
  /** CAA for this CA over every name: null when not checked (--no-precheck). */
  caa: { ok: boolean; summary: string } | null;
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
    verdicts.push({ caId: c.ca.id, directoryUrl: c.directoryUrl, verdict: d.verdict, allowedAt: d.verdict === 'blocked' ? d.allowedAt : now, why: d.verdict === 'blocked' ? blockingText(d) : '', caa: null });
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

  const first = input.candidates[0]!;
  const fv = verdicts[0]!;
  const usable = (v: CandidateVerdict) => v.verdict !== 'blocked' && v.caa?.ok !== false;
  const pick = (i: number, failedOver: boolean, reason: string): CaChoice => ({ ca: input.candidates[i]!.ca, directoryUrl: input.candidates[i]!.directoryUrl, failedOver, firstId: first.ca.id, reason, verdicts });

  if (usable(fv)) return pick(0, false, `${first.ca.id} is the first CA of the list and its plan allows the request`);
  // Blocked (not by CAA) but allowed in time: wait for it — the gate says when, nothing is spent elsewhere.
  const canWait = fv.caa?.ok !== false && fv.allowedAt !== null && input.waitUntil !== null && fv.allowedAt <= input.waitUntil;
  if (canWait) return pick(0, false, `${first.ca.id} refuses until ${utc(fv.allowedAt!)}, before the certificate must be renewed (${utc(input.waitUntil!)}): waiting for it`);

  const firstWhy =
    fv.caa?.ok === false
      ? `CAA forbids ${first.ca.id} (${fv.caa.summary})`
      : `${first.ca.id} would refuse ${fv.allowedAt === null ? 'as asked' : `until ${utc(fv.allowedAt)}`} (${fv.why})` +
        (input.waitUntil === null ? ' and there is no certificate to wait on' : `, after the certificate must be renewed (${utc(input.waitUntil)})`);
  for (let i = 1; i < verdicts.length; i++) {
    if (usable(verdicts[i]!)) return pick(i, true, `${firstWhy}; ${verdicts[i]!.caId} allows it now${verdicts[i]!.caa ? ' and CAA permits it' : ''}`);
  }
  const lines = verdicts.map((v) => {
    const when = v.verdict !== 'blocked' ? 'its plan allows it now' : v.allowedAt === null ? `refuses as asked (${v.why})` : `refuses until ${utc(v.allowedAt)}, ${humanRelative(v.allowedAt, now)} (${v.why})`;
    return `${v.caId}: ${when}${v.caa && !v.caa.ok ? `, but CAA forbids it (${v.caa.summary})` : ''}`;
  });
  const soonest = verdicts.filter((v) => v.caa?.ok !== false && v.allowedAt !== null).map((v) => ({ id: v.caId, at: v.allowedAt! }))
    .sort((a, b) => a.at - b.at)[0];
  throw new BlockedError(
    `No CA of the list (${input.candidates.map((c) => c.ca.id).join(', ')}) can issue this now:\n  ${lines.join('\n  ')}\n` +
      (soonest ? `Next allowed ${utc(soonest.at)} (${humanRelative(soonest.at, now)}) at ${soonest.id}.` : 'None will allow it as asked.'),
    'Nothing was sent. Add a CAA record for another CA of the list (certctl ca show ID gives its CAA domain), or wait until the time above; certctl plan shows the same.',
    { allowedAt: soonest?.at ?? null, limits: verdicts.filter((v) => !usable(v)).map((v) => ({ name: v.caa?.ok === false ? 'caa' : v.why, scope: `CA ${v.caId}`, allowedAt: v.caa?.ok === false ? null : v.allowedAt })) },
  );
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
