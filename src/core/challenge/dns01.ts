/**
 * The DNS-01 ChallengeSolver: the building blocks of src/core/dns/ (zone
 * discovery, providers, the propagation wait, the probe precheck) behind
 * the one challenge interface (solver.ts), so the order driver treats it as
 * it treats HTTP-01.
 *
 *   prepare    builds the provider from the lineage's settings (the key file
 *              is read here) and finds the records a previous run left
 *              journalled (a crash between present and cleanup): present
 *              takes over those the resumed order needs (the CA may still be
 *              reading them), close removes the others;
 *   present    one TXT value per challenge, journalled in the ledger
 *              (challenge_records) BEFORE the provider is called — a wildcard
 *              and its base name are two values on one `_acme-challenge` name;
 *   waitReady  every authoritative nameserver address (IPv4 and IPv6) of
 *              every zone concerned has every value; progress goes to the
 *              log ("1/2 nameservers have it"); a timeout throws a DnsError
 *              naming the nameservers that lag, and the driver answers nothing;
 *   cleanup    the value removed, then its journal row.
 */
import fs from 'node:fs';
import { InputError } from '../errors.js';
import type { DnsSettings, Ledger } from '../ledger/ledger.js';
import { registerSecret } from '../redact.js';
import { DnsError } from '../dns/errors.js';
import { loadTsigKey, parseKeyFile, readSecretFile } from '../dns/keyfile.js';
import { dns01Precheck } from '../dns/precheck.js';
import { DEFAULT_PROPAGATION_TIMEOUT_MS, waitForPropagation, type PropagationProgress } from '../dns/propagation.js';
import { AcmeDnsProvider, loadAcmeDnsCredentials } from '../dns/providers/acmedns.js';
import { HookProvider, splitCommand } from '../dns/providers/hook.js';
import { Rfc2136Provider } from '../dns/providers/rfc2136.js';
import type { DnsProvider, DnsRecord } from '../dns/providers/types.js';
import { Dns01Solver, dns01Value } from '../dns/solver.js';
import type { TsigKey } from '../dns/tsig.js';
import { parseServer, type DnsServer } from '../dns/transport.js';
import { discoverChallengeZone, type ChallengeZone, type DiscoveryOptions } from '../dns/zone.js';
import type { PrecheckResult } from '../precheck/types.js';
import type { PrecheckRun } from '../precheck/index.js';
import type { Challenge, ChallengeSolver, SolverPrecheckInput } from './solver.js';

export const DNS_METHODS = ['rfc2136', 'hook', 'acme-dns'] as const;

/** The TSIG key of a BIND key file; every secret in the file is registered for redaction (never printed, never stored elsewhere). */
export function tsigKeyFrom(file: string, keyName?: string): TsigKey {
  const key = loadTsigKey(file, keyName);
  try {
    for (const k of parseKeyFile(readSecretFile(file, 'The TSIG key file'), file)) registerSecret(k.secret.toString('base64'));
  } catch {
    /* loadTsigKey read it just now */
  }
  return key;
}

/**
 * A warning for a secret file others can read or change (certbot's DNS plugins warn alike): the TSIG
 * secret lets whoever reads it rewrite the zone, the acme-dns password its TXT record. Group read
 * stays quiet (BIND's own key files are often 0640 root:bind). Not a refusal: renewals keep working.
 */
export function secretFileWarning(file: string, what: string): string | undefined {
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch {
    return undefined; // reading it reports what is wrong
  }
  if (!(mode & 0o026)) return undefined;
  const who = mode & 0o002 ? 'changed by every user' : mode & 0o020 ? 'changed by its group' : 'read by every user';
  return `warning: ${what} ${file} can be ${who} (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 ${file} (or 640 with the group that must read it).`;
}

/** The provider a lineage's DNS settings name. Reads the key / credentials file; InputError for anything wrong in them. `warn` hears about loose file modes. */
export function dnsProviderFor(s: DnsSettings, warn?: (line: string) => void): DnsProvider {
  const file = s.method === 'rfc2136' ? s.tsigKeyFile : s.method === 'acme-dns' ? s.acmeDnsCredentials : undefined;
  const loose = file && warn ? secretFileWarning(file, s.method === 'rfc2136' ? 'the TSIG key file' : 'the acme-dns credentials file') : undefined;
  if (loose) warn!(loose);
  switch (s.method) {
    case 'rfc2136': {
      const server = s.server ? parseServer(s.server) : undefined;
      if (!server) throw new InputError(`The DNS server ${JSON.stringify(s.server ?? '')} is not HOST or HOST:PORT.`, 'Give --dns-server the primary nameserver that accepts dynamic updates, e.g. ns1.example.com or 192.0.2.1:53.');
      if (!s.tsigKeyFile) throw new InputError('--dns rfc2136 needs the TSIG key file (--tsig-key FILE).', 'Give the key file tsig-keygen wrote, e.g. --tsig-key /etc/bind/certctl.key.');
      return new Rfc2136Provider({ server, key: tsigKeyFrom(s.tsigKeyFile, s.tsigKeyName) });
    }
    case 'hook': {
      if (!s.hook) throw new InputError('--dns hook needs the command that adds the TXT record (--dns-hook CMD).', 'Give --dns-hook and --dns-cleanup-hook the scripts you use with certbot --manual-auth-hook / --manual-cleanup-hook.');
      return new HookProvider({ authHook: splitCommand(s.hook), cleanupHook: s.cleanupHook ? splitCommand(s.cleanupHook) : undefined });
    }
    case 'acme-dns': {
      if (!s.acmeDnsCredentials) throw new InputError('--dns acme-dns needs the credentials file (--acme-dns-credentials FILE).', 'Give the JSON file lego or certbot\'s acme-dns plugin keeps.');
      const accounts = loadAcmeDnsCredentials(s.acmeDnsCredentials);
      for (const a of accounts.values()) registerSecret(a.password);
      return new AcmeDnsProvider({ accounts, apiUrl: s.acmeDnsApi });
    }
    default:
      throw new InputError(`Unknown DNS-01 method ${JSON.stringify((s as { method?: unknown }).method)}.`, `Use one of: ${DNS_METHODS.join(', ')}.`);
  }
}

export interface Dns01Deps {
  ledger: Ledger;
  lineage: string;
  now: () => number;
  /** Progress and recovery lines (the run's sink). */
  log: (line: string) => void;
  /** host:port of the resolver for discovery (--resolver); default the system's. */
  resolver?: string;
  /** A provider to use instead of building one from the settings (library callers). */
  provider?: DnsProvider;
}

interface Entry {
  id: number;
  record: DnsRecord;
}

/** A journalled record: `presented` once the provider had put it in place. */
type Journalled = DnsRecord & { presented?: boolean };

/**
 * The record as the ledger keeps it once presented. Without the auth hook's output: a hook may print
 * anything (an API token, a record id with a key in it), and the ledger holds no secret. This run's
 * clean-up hook gets it as CERTBOT_AUTH_OUTPUT from memory; after a crash the next run's clean-up
 * gets it empty (certbot runs no clean-up at all then).
 */
function journalled(record: Journalled): Journalled {
  const { authOutput: _dropped, ...rest } = record;
  return { ...rest, presented: true };
}

function domainOf(ch: Challenge): string {
  return `${ch.wildcard ? '*.' : ''}${ch.identifier}`.toLowerCase();
}

export class Dns01ChallengeSolver implements ChallengeSolver {
  readonly type = 'dns-01' as const;
  readonly oneOrderAtATime = true;
  readonly checkHint = 'Run certctl check -d NAME --dns … to see what each authoritative nameserver answers, then try again.';
  private provider?: DnsProvider;
  private readonly zones = new Map<string, ChallengeZone>();
  private readonly entries = new Map<string, Entry>();
  /** Records an interrupted run left (prepare), until a challenge takes one over or close() removes it. */
  private leftovers: { id: number; record: Journalled }[] = [];
  private allDomains: string[] = [];
  private remaining = 0;
  /** How many entries the last successful wait covered. */
  private readyFor = -1;

  constructor(
    private readonly settings: DnsSettings,
    private readonly names: string[],
    private readonly deps: Dns01Deps,
  ) {}

  private get discovery(): DiscoveryOptions {
    const resolver: DnsServer | undefined = this.deps.resolver ? parseServer(this.deps.resolver) : undefined;
    return { resolver, zone: this.settings.zone };
  }

  private get timeoutMs(): number {
    return this.settings.propagationTimeout !== undefined ? this.settings.propagationTimeout * 1000 : DEFAULT_PROPAGATION_TIMEOUT_MS;
  }

  private getProvider(): DnsProvider {
    this.provider ??= this.deps.provider ?? dnsProviderFor(this.settings, this.deps.log);
    return this.provider;
  }

  async precheck(input: SolverPrecheckInput): Promise<PrecheckRun> {
    const { runPrechecks } = await import('../precheck/index.js');
    const run = await runPrechecks({ ...input, dns01: true });
    const results: PrecheckResult[] = [];
    try {
      // The probe waits as long as the challenge will (at most 60 s): a nameserver that lags past it would fail the order too.
      const rep = await dns01Precheck(input.names, { provider: this.getProvider(), discovery: this.discovery, propagation: { timeoutMs: Math.min(60_000, this.timeoutMs) } });
      for (const n of input.names) {
        const z = rep.zones.find((x) => x.domain.replace(/^\*\./, '') === n.replace(/^\*\./, ''));
        results.push({
          name: n,
          check: 'dns01',
          ok: true,
          summary: z ? `${z.target} in zone ${z.zone}: a probe record was written (${this.getProvider().kind}), answered by every nameserver (${z.nameservers.map((x) => `${x.name} ${x.addresses.join(' ')}`).join(', ')}) and removed` : 'ready',
          evidence: { lines: rep.lines },
        });
      }
    } catch (err) {
      if (!(err instanceof DnsError) && !(err instanceof InputError)) throw err;
      results.push({ name: input.names[0]!, check: 'dns01', ok: false, summary: err.message, evidence: { kind: (err as DnsError).kind ?? 'input', rcode: (err as DnsError).rcode ?? null, server: (err as DnsError).server ?? null }, advice: err.hint ?? 'Fix the DNS-01 set-up (certctl check --dns …).' });
    }
    const all = [...run.results, ...results];
    return { ...run, ok: all.every((r) => r.ok), results: all };
  }

  /**
   * The provider (the key file read now: a damaged one stops here) and the records a previous run left.
   * They are NOT removed here: a run killed after it told the CA to look leaves an order whose
   * validation may still be under way (the CA reads the record a moment after it answers the
   * challenge POST), and removing the record now would fail that authorization. present() takes
   * over each leftover the resumed order presents again (same value); close() removes the rest.
   */
  async prepare(): Promise<void> {
    const provider = this.getProvider();
    const left = this.deps.ledger.challengeRecords(this.deps.lineage);
    if (!left.length) return;
    const mine = left.filter((r) => r.kind === provider.kind && r.record && typeof (r.record as DnsRecord).target === 'string');
    for (const r of left) if (!mine.includes(r)) this.deps.log(`warning: a journalled ${r.kind} challenge record of ${this.deps.lineage} (row ${r.id}) cannot be removed with the ${provider.kind} method; remove it by hand.`);
    if (!mine.length) return;
    this.deps.log(`Found ${mine.length} DNS-01 record(s) of ${this.deps.lineage} that an interrupted run left: ${mine.map((r) => (r.record as DnsRecord).target).join(', ')}; those its resumed order still needs stay until it is done, the others are removed at the end of this run.`);
    this.leftovers = mine.map((r) => ({ id: r.id, record: r.record as Journalled }));
  }

  /** Remove the leftovers no challenge of this run took over (after a crash), journal rows with them. */
  private async removeLeftovers(): Promise<void> {
    const left = this.leftovers.splice(0);
    if (!left.length) return;
    this.deps.log(`Removing ${left.length} DNS-01 record(s) of ${this.deps.lineage} that an interrupted run left: ${left.map((r) => r.record.target).join(', ')}.`);
    const res = await Dns01Solver.cleanupRecords(this.getProvider(), left.map((r) => r.record));
    for (const r of left) if (res.removed.includes(r.record)) this.deps.ledger.removeChallengeRecord(r.id);
    for (const f of res.failed) this.deps.log(`warning: could not remove ${f.record.target} (${f.error.message}); the next run tries again.`);
  }

  async begin(all: Challenge[]): Promise<void> {
    this.allDomains = all.map(domainOf);
    this.remaining = all.length;
  }

  async present(ch: Challenge): Promise<void> {
    const provider = this.getProvider();
    const domain = domainOf(ch);
    const base = domain.replace(/^\*\./, '');
    let z = this.zones.get(base);
    if (!z) {
      z = await discoverChallengeZone(domain, this.discovery);
      this.zones.set(base, z);
    }
    const record: DnsRecord = { domain, fqdn: z.fqdn, target: z.target, zone: z.zone, value: dns01Value(ch.keyAuthorization) };
    // The same value left by an interrupted run (its order resumed): take it over. When the provider had
    // finished putting it in place, it is not presented again (a hook may refuse a duplicate); the
    // readiness wait still checks that every nameserver has it.
    const i = this.leftovers.findIndex((l) => l.record.target === record.target && l.record.value === record.value);
    if (i >= 0) {
      const [l] = this.leftovers.splice(i, 1);
      this.entries.set(ch.token, { id: l!.id, record: l!.record });
      this.remaining = Math.max(0, this.remaining - 1);
      if (l!.record.presented) return;
      await provider.present(l!.record, { allDomains: this.allDomains.length ? this.allDomains : this.names, remaining: this.remaining });
      this.deps.ledger.updateChallengeRecord(l!.id, journalled(l!.record));
      return;
    }
    // Write-ahead: the row exists before the record can.
    const id = this.deps.ledger.addChallengeRecord(this.deps.lineage, provider.kind, record, this.deps.now());
    this.entries.set(ch.token, { id, record });
    this.remaining = Math.max(0, this.remaining - 1);
    await provider.present(record, { allDomains: this.allDomains.length ? this.allDomains : this.names, remaining: this.remaining });
    // Present done: a run that resumes this order takes it over as it is.
    this.deps.ledger.updateChallengeRecord(id, journalled(record));
  }

  /** One wait covers every record presented so far (the driver presents all before it waits for any). */
  async waitReady(): Promise<void> {
    const entries = [...this.entries.values()];
    if (this.readyFor === entries.length) return;
    const byTarget = new Map<string, { values: string[]; zone: ChallengeZone }>();
    for (const { record } of entries) {
      const z = this.zones.get(record.domain.replace(/^\*\./, ''))!;
      const t = byTarget.get(record.target) ?? { values: [], zone: z };
      t.values.push(record.value);
      byTarget.set(record.target, t);
    }
    const names = [...byTarget.keys()].join(', ');
    let last = '';
    const onProgress = (p: PropagationProgress) => {
      const line = `${names}: ${p.ready}/${p.total} nameservers have it${p.lagging.length ? ` (waiting for ${p.lagging.join(', ')})` : ''}`;
      if (line !== last) this.deps.log(line);
      last = line;
    };
    await waitForPropagation(
      [...byTarget.entries()].map(([name, t]) => ({ name, values: t.values, nameservers: t.zone.nameservers })),
      { timeoutMs: this.timeoutMs, onProgress },
    );
    this.readyFor = entries.length;
  }

  async cleanup(ch: Challenge): Promise<void> {
    const e = this.entries.get(ch.token);
    if (!e) return;
    await this.getProvider().cleanup(e.record, { allDomains: this.allDomains.length ? this.allDomains : this.names, remaining: Math.max(0, this.entries.size - 1) });
    this.deps.ledger.removeChallengeRecord(e.id);
    this.entries.delete(ch.token);
  }

  async close(): Promise<void> {
    await this.removeLeftovers();
    for (const [token, e] of [...this.entries]) {
      try {
        await this.getProvider().cleanup(e.record, { allDomains: this.allDomains, remaining: 0 });
        this.deps.ledger.removeChallengeRecord(e.id);
        this.entries.delete(token);
      } catch (err) {
        this.deps.log(`warning: could not remove ${e.record.target} (${(err as Error).message}); the next run tries again.`);
      }
    }
  }
}
