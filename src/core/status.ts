/** What `certctl status` shows: every lineage, soonest-expiring first. */
import type { Ledger } from './ledger/ledger.js';
import type { StatePaths } from './paths.js';
import { LineageStore } from './store/lineage.js';
import { scheduleFacts } from './schedule/facts.js';
import { soonestExpiring } from './renew/due.js';
import { isoTime } from './clock.js';

export interface LineageStatus {
  name: string;
  names: string[];
  keyType: string;
  caId: string;
  directoryUrl: string;
  /** A lineage with a CA list (docs/cas.md): the list, and the last choice made from it (null: none yet). */
  cas: string[] | null;
  caChoice: { ca: string; first: string; failedOver: boolean; reason: string; at: string } | null;
  version: number;
  notAfter: string | null;
  daysLeft: number | null;
  /** Less than a third of the lifetime left (the default renewal rule). */
  due: boolean;
  serials: string[];
  files: string[];
  /** live/ files that do not serve the current version (missing, replaced, pointing elsewhere): a web server would fail on them. */
  liveProblems: string[];
  openOrders: number;
  /** The next thing renew will do for this lineage, and when (ARI moment, due date, Retry-After, resume). */
  next: { kind: string; at: string } | null;
  /** Fleet hosts deploying it from a shared ledger (docs/fleet.md), each with the version it last wrote; [] otherwise. */
  hosts: { host: string; deployedVersion: number; upToDate: boolean; deployedAt: string | null; pending: boolean }[];
  /** The host that stored the current version (shared ledger with a fleet key), else null. */
  renewedBy: { host: string; at: string } | null;
}

const DAY = 86_400_000;

export function statusReport(ledger: Ledger, paths: StatePaths, now: number): LineageStatus[] {
  const store = new LineageStore(paths);
  const next = new Map(scheduleFacts(ledger, now).actions.filter((a) => a.lineage !== null).map((a) => [a.lineage!, a]));
  const hostsOf = new Map<string, LineageStatus['hosts']>();
  const shared = ledger.backend === 'postgres';
  const lineages = ledger.lineages();
  const versionOf = new Map(lineages.map((l) => [l.name, l.current_version]));
  if (shared) {
    for (const h of ledger.allLineageHosts()) {
      const list = hostsOf.get(h.lineage) ?? [];
      list.push({ host: h.host, deployedVersion: h.deployed_version, upToDate: h.deployed_version === versionOf.get(h.lineage) && h.pending_version === null, deployedAt: h.deployed_at === null ? null : isoTime(h.deployed_at), pending: h.pending_version !== null });
      hostsOf.set(h.lineage, list);
    }
  }
  const out = lineages.map((l): LineageStatus => {
    const by = shared ? ledger.renewedBy(l.name) : undefined;
    const certs = ledger.currentCertificates(l.name);
    const soonest = soonestExpiring(certs);
    const lifetime = soonest ? soonest.not_after - soonest.not_before : 0;
    return {
      name: l.name,
      names: l.names,
      keyType: l.key_type,
      caId: l.ca_id,
      directoryUrl: l.directory_url,
      cas: l.settings.cas ?? null,
      caChoice: (() => {
        const c = l.settings.cas ? ledger.lastCaChoice(l.name) : undefined;
        return c ? { ca: c.ca_id, first: c.first_ca_id, failedOver: c.failed_over === 1, reason: c.reason, at: isoTime(c.at) } : null;
      })(),
      version: l.current_version,
      notAfter: soonest ? isoTime(soonest.not_after) : null,
      daysLeft: soonest ? Math.floor((soonest.not_after - now) / DAY) : null,
      due: soonest ? soonest.not_after - now < lifetime / 3 : true,
      serials: certs.map((c) => c.serial),
      files: store.liveFiles(l.name),
      liveProblems: certs.length ? store.liveProblems(l.name, l.current_version) : [],
      openOrders: ledger.openOrders(l.name).length,
      next: next.has(l.name) ? { kind: next.get(l.name)!.kind, at: isoTime(next.get(l.name)!.at) } : null,
      hosts: hostsOf.get(l.name) ?? [],
      renewedBy: by ? { host: by.host, at: isoTime(by.at) } : null,
    };
  });
  return out.sort((a, b) => (a.notAfter ?? '').localeCompare(b.notAfter ?? ''));
}
