/**
 * The DNS-01 solver for one order: present every value, wait until every
 * authoritative nameserver has every value, clean up. It is the DNS-01 half
 * of the challenge interface (design.md, "One challenge interface"):
 *
 *   present(challenges)  → the records, journalled BEFORE the provider is called
 *   waitUntilReady()     → resolves only when the CA may be told to look
 *   cleanup()            → removes what was presented (also after a crash:
 *                          Dns01Solver.cleanupRecords with the journalled records)
 *
 * Journalling: `journal(records)` is called with every record that may
 * exist in DNS — all of them before the first provider call (write-ahead: a
 * crash half-way leaves nothing unknown), and after clean-up with those
 * whose removal failed (usually none). Records are plain JSON without
 * secrets; removing an absent value is a no-op for every provider, so
 * cleaning up a record that was never presented is harmless.
 *
 * If waitUntilReady fails, the caller must NOT answer the challenge (no
 * failed validation is spent) and must call cleanup().
 */
import crypto from 'node:crypto';
import { DnsError } from './errors.js';
import { waitForPropagation, type PropagationOptions } from './propagation.js';
import type { DnsProvider, DnsRecord, PresentContext } from './providers/types.js';
import { discoverChallengeZone, type ChallengeZone, type DiscoveryOptions } from './zone.js';

export interface Dns01Challenge {
  /** The identifier as ordered (`*.example.com` for a wildcard). */
  domain: string;
  /** The challenge's key authorization (token + "." + account key thumbprint). */
  keyAuthorization: string;
}

/** The TXT value for a key authorization: base64url(SHA-256(keyAuthorization)) (RFC 8555 §8.4). */
export function dns01Value(keyAuthorization: string): string {
  return crypto.createHash('sha256').update(keyAuthorization).digest('base64url');
}

export interface Dns01SolverOptions {
  provider: DnsProvider;
  discovery?: DiscoveryOptions;
  propagation?: PropagationOptions;
  /** Store the records that may exist in DNS (see above). */
  journal?: (records: DnsRecord[]) => void | Promise<void>;
}

export interface CleanupResult {
  removed: DnsRecord[];
  failed: { record: DnsRecord; error: Error }[];
}

export class Dns01Solver {
  private records: DnsRecord[] = [];
  private zones = new Map<string, ChallengeZone>();
  private allDomains: string[] = [];

  constructor(private readonly opts: Dns01SolverOptions) {}

  /** Records presented (or being presented) so far. */
  get presented(): readonly DnsRecord[] {
    return this.records;
  }

  async present(challenges: Dns01Challenge[]): Promise<DnsRecord[]> {
    this.allDomains = challenges.map((c) => c.domain);
    const planned: DnsRecord[] = [];
    for (const c of challenges) {
      const base = c.domain.replace(/^\*\./, '').toLowerCase();
      let z = this.zones.get(base);
      if (!z) {
        z = await discoverChallengeZone(c.domain, this.opts.discovery);
        this.zones.set(base, z);
      }
      planned.push({ domain: c.domain.toLowerCase(), fqdn: z.fqdn, target: z.target, zone: z.zone, value: dns01Value(c.keyAuthorization) });
    }
    this.records = [...this.records, ...planned];
    await this.opts.journal?.(this.records.map((r) => ({ ...r })));
    for (let i = 0; i < planned.length; i++) {
      await this.opts.provider.present(planned[i]!, this.context(planned.length - i - 1));
    }
    // authOutput may have been set by the provider: journal it for the clean-up hook.
    if (planned.some((r) => r.authOutput !== undefined)) await this.opts.journal?.(this.records.map((r) => ({ ...r })));
    return planned;
  }

  private context(remaining: number): PresentContext {
    return { allDomains: this.allDomains, remaining };
  }

  /** Every nameserver of every zone concerned, until each has every value of its names. */
  async waitUntilReady(onProgress?: PropagationOptions['onProgress']): Promise<void> {
    if (this.records.length === 0) throw new DnsError('propagation', 'Nothing was presented, so there is nothing to wait for.');
    const byTarget = new Map<string, { values: string[]; zone: ChallengeZone }>();
    for (const r of this.records) {
      const z = this.zones.get(r.domain.replace(/^\*\./, ''))!;
      const t = byTarget.get(r.target) ?? { values: [], zone: z };
      t.values.push(r.value);
      byTarget.set(r.target, t);
    }
    await waitForPropagation(
      [...byTarget.entries()].map(([name, t]) => ({ name, values: t.values, nameservers: t.zone.nameservers })),
      { port: this.opts.discovery?.nameserverPort, ...this.opts.propagation, onProgress: onProgress ?? this.opts.propagation?.onProgress },
    );
  }

  /** present + waitUntilReady; when the wait fails, the records are cleaned up and the error rethrown. */
  async solve(challenges: Dns01Challenge[], onProgress?: PropagationOptions['onProgress']): Promise<DnsRecord[]> {
    try {
      const recs = await this.present(challenges);
      await this.waitUntilReady(onProgress);
      return recs;
    } catch (err) {
      await this.cleanup();
      throw err;
    }
  }

  async cleanup(): Promise<CleanupResult> {
    const res = await Dns01Solver.cleanupRecords(this.opts.provider, this.records, this.allDomains);
    this.records = res.failed.map((f) => f.record);
    await this.opts.journal?.(this.records.map((r) => ({ ...r })));
    return res;
  }

  /** Remove journalled records (after a crash, by the next run). Never throws for one record: all are tried. */
  static async cleanupRecords(provider: DnsProvider, records: readonly DnsRecord[], allDomains?: string[]): Promise<CleanupResult> {
    const removed: DnsRecord[] = [];
    const failed: CleanupResult['failed'] = [];
    const domains = allDomains ?? [...new Set(records.map((r) => r.domain))];
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      try {
        await provider.cleanup(r, { allDomains: domains, remaining: records.length - i - 1 });
        removed.push(r);
      } catch (err) {
        failed.push({ record: r, error: err as Error });
      }
    }
    return { removed, failed };
  }
}
