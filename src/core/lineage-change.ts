/**
 * Which lineage a request for a set of names belongs to, and what changing a
 * lineage's names spends (issue 15, seed 000: a user added names to an
 * existing certificate and silently spent the domain's slots).
 *
 * - `--cert-name NAME` naming an existing lineage with another set: a change
 *   of NAME's names (a new exact set for the CA: no renewal exemption).
 *   With `--expand` (certbot's meaning) the new set must contain the old one.
 * - No `--cert-name`: the lineage holding exactly the set at this CA; a
 *   request that overlaps another lineage at this CA is not quietly made a
 *   second lineage (certbot's NAME-0001, certbot#2128/#1882): the caller asks
 *   for `--cert-name NAME` (change it) or `--new-lineage` (a second one).
 *   `--expand` alone picks the one overlapping lineage whose names it keeps.
 *
 * Pure reads of the ledger; nothing here writes or prints.
 */
import type { Ledger, LineageRow } from './ledger/ledger.js';
import type { Decision } from './planner/plan.js';
import { InputError } from './errors.js';
import { registeredDomains, setKey, defaultLineageName, assertLineageName } from './names.js';

export interface LineageAsk {
  names: string[];
  directoryUrl: string;
  certName?: string;
  /** certbot's --expand: the new set must contain the old one. */
  expand?: boolean;
  /** A second lineage beside an overlapping one, on purpose. */
  newLineage?: boolean;
  forceRenewal?: boolean;
}

/** A lineage's names replaced by another set. */
export interface NameChange {
  lineage: string;
  from: string[];
  to: string[];
  added: string[];
  removed: string[];
}

export type LineageChoice =
  /** The lineage the request belongs to (undefined: a new one named `name`); `change` when its names change. */
  | { kind: 'lineage'; existing: LineageRow | undefined; name: string; change: NameChange | null }
  /** No --cert-name, no --new-lineage, and the names overlap these lineages at this CA: issue refuses (`message`, `hint`). */
  | { kind: 'overlap'; overlapping: LineageRow[]; name: string; message: string; hint: string };

function list(names: readonly string[]): string {
  return names.join(', ');
}

export function nameChange(l: LineageRow, names: string[]): NameChange {
  const old = new Set(l.names);
  const now = new Set(names);
  return { lineage: l.name, from: l.names, to: names, added: names.filter((n) => !old.has(n)), removed: l.names.filter((n) => !now.has(n)) };
}

function assertExpands(l: LineageRow, names: string[]): void {
  const missing = nameChange(l, names).removed;
  if (missing.length) {
    throw new InputError(
      `--expand keeps every name of the lineage ${l.name}, but this request leaves out ${list(missing)}.`,
      `Add -d ${missing.join(' -d ')} to keep ${missing.length === 1 ? 'it' : 'them'}, or drop --expand to replace ${l.name}'s names with exactly ${list(names)}.`,
    );
  }
}

/** Lineages at this CA sharing at least one name with `names`, other than those holding exactly the set. */
export function overlappingLineages(ledger: Pick<Ledger, 'lineagesWithAnyName'>, names: string[], directoryUrl: string): LineageRow[] {
  const key = setKey(names);
  return ledger.lineagesWithAnyName(names, directoryUrl).filter((l) => l.set_key !== key && !l.settings.deleting);
}

export function chooseLineage(ledger: Pick<Ledger, 'lineage' | 'lineagesBySet' | 'lineagesWithAnyName'>, ask: LineageAsk): LineageChoice {
  const { names, directoryUrl, certName } = ask;
  const key = setKey(names);
  if (ask.newLineage) {
    if (ask.expand) throw new InputError('--expand changes an existing lineage and --new-lineage makes a second one: give one of them.', 'Use --cert-name NAME --expand to add names to NAME, or --new-lineage for a separate certificate.');
    const holder = ledger.lineagesBySet(key, directoryUrl).find((l) => !l.settings.deleting);
    if (holder && !ask.forceRenewal) {
      throw new InputError(
        `The lineage ${holder.name} already holds exactly ${list(names)} at this CA: a second lineage would order a duplicate certificate.`,
        `Leave out --new-lineage (renewal is certctl renew's job), or add --force-renewal to spend a duplicate slot on purpose.`,
      );
    }
    if (certName !== undefined) {
      if (ledger.lineage(certName)) throw new InputError(`--new-lineage makes a new lineage, but ${certName} already exists.`, `Choose another --cert-name, or leave out --new-lineage to change ${certName}'s names.`);
      return { kind: 'lineage', existing: undefined, name: assertLineageName(certName), change: null };
    }
    return { kind: 'lineage', existing: undefined, name: freeLineageName(ledger, defaultLineageName(names)), change: null };
  }
  if (certName !== undefined) {
    const l = ledger.lineage(certName);
    if (l && l.directory_url !== directoryUrl) {
      throw new InputError(`The lineage ${certName} belongs to another CA (${l.directory_url}).`, 'Choose another --cert-name.');
    }
    if (!l) return { kind: 'lineage', existing: undefined, name: assertLineageName(certName), change: null };
    if (l.set_key === key) return { kind: 'lineage', existing: l, name: l.name, change: null };
    if (ask.expand) assertExpands(l, names);
    // Another lineage holds exactly the new set: the change would order a duplicate of its certificate
    // (a slot of the duplicate limit and of each domain's, for a certificate certctl already has).
    const holder = ledger.lineagesBySet(key, directoryUrl).find((x) => x.name !== l.name && !x.settings.deleting);
    if (holder && !ask.forceRenewal) {
      throw new InputError(
        `The lineage ${holder.name} already holds exactly ${list(names)} at this CA: changing ${l.name} to the same names would order a duplicate certificate; nothing was sent.`,
        `To stop renewing ${l.name}, delete it (certctl delete --cert-name ${l.name}); to spend a duplicate slot on purpose, add --force-renewal.`,
      );
    }
    return { kind: 'lineage', existing: l, name: l.name, change: nameChange(l, names) };
  }
  const exact = ledger.lineagesBySet(key, directoryUrl)[0];
  if (exact) return { kind: 'lineage', existing: exact, name: exact.name, change: null };
  const overlapping = overlappingLineages(ledger, names, directoryUrl);
  if (ask.expand) {
    if (overlapping.length === 0) {
      throw new InputError(`--expand adds names to an existing lineage, but no lineage at this CA has any of ${list(names)}.`, 'Leave out --expand to get a new certificate for these names.');
    }
    if (overlapping.length > 1) {
      throw new InputError(`--expand cannot tell which lineage to change: ${overlapping.map((l) => l.name).join(', ')} all share names with this request.`, 'Say which with --cert-name NAME.');
    }
    assertExpands(overlapping[0]!, names);
    return { kind: 'lineage', existing: overlapping[0]!, name: overlapping[0]!.name, change: nameChange(overlapping[0]!, names) };
  }
  const name = defaultLineageName(names);
  if (overlapping.length) {
    const first = overlapping[0]!;
    const shared = first.names.filter((n) => names.includes(n));
    const others = overlapping.length > 1 ? ` (and ${overlapping.length - 1} other lineage(s): ${overlapping.slice(1).map((l) => l.name).join(', ')})` : '';
    return {
      kind: 'overlap',
      overlapping,
      name,
      message: `These names overlap the lineage ${first.name} (${list(first.names)}; shared: ${list(shared)})${others}: certctl does not quietly make a second lineage for them, nothing was sent.`,
      hint: `To change ${first.name}'s names to exactly ${list(names)}: add --cert-name ${first.name} (see the change first: certctl plan --cert-name ${first.name} -d …); for a second certificate beside it: add --new-lineage.`,
    };
  }
  return { kind: 'lineage', existing: undefined, name: freeLineageName(ledger, name), change: null };
}

/** `name`, or `name-0001`, `name-0002`… if taken by a different set. */
export function freeLineageName(ledger: Pick<Ledger, 'lineage'>, name: string): string {
  if (!ledger.lineage(name)) return assertLineageName(name);
  for (let i = 1; i < 10_000; i++) {
    const n = `${name}-${String(i).padStart(4, '0')}`;
    if (!ledger.lineage(n)) return assertLineageName(n);
  }
  throw new InputError(`Too many lineages named ${name}-NNNN.`);
}

/** What a change of names spends, from the planner's decision for the new set (certctl plan, and issue before it sends). */
export interface ChangeCost {
  lineage: string;
  from: string[];
  to: string[];
  added: string[];
  removed: string[];
  /** The CA's renewal exemption applies (the new exact set was issued recently): normally false for a change. */
  renewal: boolean;
  /** Lineages already holding exactly the new set. */
  heldBy: string[];
  /** Every certificate limit the change spends a slot of: the new exact set, each registered domain, the account's orders. */
  spends: { limit: string; scope: string; used: number; capacity: number; spend: number; after: number; exempt: boolean }[];
}

export function changeCost(change: NameChange, d: Decision): ChangeCost {
  const domains = new Set(registeredDomains(change.to));
  const key = setKey(change.to);
  const spends = d.limits
    .filter((l) => l.kind !== 'max' && (l.scope === key || domains.has(l.scope) || l.name === 'new-orders'))
    .map((l) => ({ limit: l.name, scope: l.scope, used: l.used, capacity: l.capacity, spend: l.spend, after: l.after, exempt: Boolean(l.exempt) }));
  return { ...change, renewal: d.renewal.sameSet || d.renewal.ari, heldBy: d.held.map((h) => h.lineage).filter((x): x is string => Boolean(x)), spends };
}

/** The lines `issue` prints before it sends anything, and `plan --cert-name` prints with its plan. */
export function changeLines(c: ChangeCost): string[] {
  const lines = [
    `Changing the names of ${c.lineage}: ${list(c.from)} → ${list(c.to)}` +
      `${c.added.length ? ` (adds ${list(c.added)}` : ''}${c.removed.length ? `${c.added.length ? '; ' : ' ('}removes ${list(c.removed)}` : ''}${c.added.length || c.removed.length ? ')' : ''}.`,
    c.renewal
      ? `This exact set was issued recently, so the CA counts it as a renewal of that set (not of ${c.lineage}'s current certificate).`
      : `For the CA this is a new certificate for a new exact set, not a renewal of ${c.lineage}: no renewal exemption applies.`,
  ];
  for (const s of c.spends) {
    if (s.exempt) lines.push(`  ${s.limit} ${s.scope}: exempt`);
    else lines.push(`  ${s.limit} ${s.scope}: spends ${s.spend} (used ${s.used}/${s.capacity}, ${Math.max(0, s.after)} left after it${s.after < 0 ? ': over the limit' : ''})`);
  }
  const others = c.heldBy.filter((n) => n !== c.lineage);
  if (others.length) lines.push(`  The lineage ${others.join(', ')} already holds exactly these names.`);
  return lines;
}
