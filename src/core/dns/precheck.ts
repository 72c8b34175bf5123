/**
 * The DNS-01 readiness check, run before any order exists: for each name,
 * find the record's zone and its nameservers, then prove the whole path
 * works by writing a probe TXT value through the provider, waiting until
 * every authoritative nameserver answers it, and removing it.
 *
 * Why a real write: a wrong TSIG secret, an update policy that refuses the
 * key, a hook that fails, a nameserver that never gets the zone's updates —
 * each would otherwise surface only after the order was created, as a
 * failed authorization or an order left to expire. The probe uses the same
 * `_acme-challenge` name as the challenge (an update policy limited to
 * those names accepts it) and a random 43-character value (the shape
 * acme-dns insists on), one probe per distinct record name.
 */
import crypto from 'node:crypto';
import { DnsError } from './errors.js';
import { waitForPropagation, type PropagationOptions } from './propagation.js';
import type { DnsProvider, DnsRecord } from './providers/types.js';
import { discoverChallengeZone, type ChallengeZone, type DiscoveryOptions } from './zone.js';

export interface Dns01PrecheckOptions {
  provider: DnsProvider;
  discovery?: DiscoveryOptions;
  /** The probe's wait; default 60 s (the challenge's own wait has its full timeout later). */
  propagation?: PropagationOptions;
}

export interface Dns01PrecheckReport {
  zones: ChallengeZone[];
  /** One line per step, for `certctl check` output. */
  lines: string[];
}

export async function dns01Precheck(identifiers: string[], opts: Dns01PrecheckOptions): Promise<Dns01PrecheckReport> {
  const zones: ChallengeZone[] = [];
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const id of identifiers) {
    const base = id.toLowerCase().replace(/^\*\./, '');
    if (seen.has(base)) continue;
    seen.add(base);
    const z = await discoverChallengeZone(id, opts.discovery);
    zones.push(z);
    lines.push(
      `${z.fqdn}${z.cnames.length ? ` → ${z.cnames.join(' → ')}` : ''}: zone ${z.zone}, nameservers ${z.nameservers.map((n) => `${n.name} (${n.addresses.join(', ')})`).join(', ')}`,
    );
  }
  const byTarget = new Map<string, ChallengeZone>();
  for (const z of zones) if (!byTarget.has(z.target)) byTarget.set(z.target, z);
  for (const z of byTarget.values()) {
    const probe: DnsRecord = { domain: z.domain, fqdn: z.fqdn, target: z.target, zone: z.zone, value: crypto.randomBytes(32).toString('base64url') };
    const ctx = { allDomains: identifiers, remaining: 0 };
    let presented = false;
    try {
      await opts.provider.present(probe, ctx);
      presented = true;
      await waitForPropagation([{ name: z.target, values: [probe.value], nameservers: z.nameservers }], { timeoutMs: 60_000, port: opts.discovery?.nameserverPort, ...opts.propagation });
    } catch (err) {
      if (presented) await opts.provider.cleanup(probe, ctx).catch(() => undefined);
      if (err instanceof DnsError && err.kind === 'propagation') {
        throw new DnsError('propagation', `The DNS-01 probe record was written for ${z.target} but not every nameserver answered it: ${err.message}`, { hint: err.hint });
      }
      throw err;
    }
    await opts.provider.cleanup(probe, ctx);
    lines.push(`${z.target}: a probe TXT record was written (${opts.provider.kind}), answered by all ${z.nameservers.reduce((n, ns) => n + ns.addresses.length, 0)} nameserver addresses, and removed`);
  }
  return { zones, lines };
}
