/** What `certctl status` shows: every lineage, soonest-expiring first. */
import fs from 'node:fs';
import type { Ledger, StatusPageEntry } from './ledger/ledger.js';
import type { StatePaths } from './paths.js';
import { LineageStore } from './store/lineage.js';
import { nextAction, retryIndex, type RetryIndex } from './schedule/facts.js';
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

/** Lineages per page (Ledger.statusPages): on SQLite one or two queries each besides the one sorted statement (none on PostgreSQL), a few MB at most. */
export const STATUS_PAGE = 1000;

export interface StatusOptions {
  /** Only these lineages (--cert-name); unknown names are the caller's to report. */
  names?: readonly string[];
  /** Lineages per page (tests use small pages). */
  pageSize?: number;
  /** SQLite: read the rows in a worker thread (true), on this one (false); unset, from READ_AHEAD_LINEAGES lineages with no `names`. */
  readAhead?: boolean;
}

/**
 * `status` a page at a time, soonest-expiring first (Ledger.statusPages: one sorted statement read
 * as it goes), so memory does not grow with the ledger: `pages()` yields each page's
 * LineageStatus in report order; `liveProblems()` only the live/ check of the lineages with files
 * on this host, for the warnings printed before the list.
 */
export class StatusScan {
  private readonly store: LineageStore;
  private readonly pageSize: number;
  private readonly names: readonly string[] | undefined;
  private readonly readAhead: boolean | undefined;
  /** Which lineages have a live/ or archive/ directory on this host (one readdir each, not a failed one per lineage). */
  private readonly liveDirs: Set<string>;
  private readonly archiveDirs: Set<string>;

  constructor(
    private readonly ledger: Ledger,
    paths: StatePaths,
    private readonly now: number,
    o: StatusOptions = {},
  ) {
    this.store = new LineageStore(paths);
    this.pageSize = Math.max(1, o.pageSize ?? STATUS_PAGE);
    this.names = o.names;
    this.readAhead = o.readAhead;
    this.liveDirs = entries(paths.live);
    this.archiveDirs = entries(paths.archive);
    // The report's rows are asked for first: on a large SQLite ledger a reader thread steps through
    // them while the check below runs here.
    this.read = this.startRead();
    // Output is written while pages are read: a damaged row must stop it before the first line.
    try {
      ledger.checkLineageRows(o.names);
    } catch (err) {
      this.read.close();
      throw err;
    }
  }

  /** The report's rows, started by the constructor; the first pages() reads them, a later one asks again. */
  private read: { pages: Generator<StatusPageEntry[]>; close(): void } | undefined;

  /** The report's rows from the ledger (fleet hosts on a shared ledger only). */
  private startRead(): { pages: Generator<StatusPageEntry[]>; close(): void } {
    return this.ledger.statusRead({ names: this.names, pageSize: this.pageSize, hosts: this.ledger.backend === 'postgres', readAhead: this.readAhead });
  }

  /**
   * Stop reading (a reader thread the report was not read from, e.g. `status --quiet`). pages() still works after it.
   * A library caller that neither reads pages() to the end nor calls this keeps the thread and its
   * read snapshot (which holds back SQLite's checkpoints) until the process ends.
   */
  close(): void {
    this.read?.close();
    this.read = undefined;
  }

  /**
   * Each lineage's live/ problems, in report order (the same check pages() puts in liveProblems),
   * for the warnings printed before the list. Only lineages with a directory on this host can
   * have one, so only those are ordered (none, on a fleet host that keeps none of them).
   */
  *liveProblems(): Generator<{ name: string; problems: string[] }> {
    let local = [...new Set([...this.liveDirs, ...this.archiveDirs])];
    if (this.names) {
      const wanted = new Set(this.names);
      local = local.filter((n) => wanted.has(n));
    }
    if (!local.length) return;
    for (const o of this.ledger.statusOrder(local)) {
      const problems = o.certificates ? this.problems(o.name, o.current_version) : [];
      if (problems.length) yield { name: o.name, problems };
    }
  }

  /** The report, page by page. `liveProblems: false` skips the live/ check (text output prints it first, from liveProblems()). */
  *pages(o: { liveProblems?: boolean } = {}): Generator<LineageStatus[]> {
    const active = retryIndex(this.ledger.activeProblems(this.now));
    // Open orders are few (interrupted ones): one query for all, as renew reads them.
    const open = new Map<string, number>();
    for (const x of this.ledger.openOrders()) if (x.lineage !== null) open.set(x.lineage, (open.get(x.lineage) ?? 0) + 1);
    const read = this.read ?? this.startRead();
    this.read = undefined;
    try {
      for (const page of read.pages) yield page.map((e) => this.entry(e, open.get(e.lineage.name) ?? 0, active, o.liveProblems !== false));
    } finally {
      read.close();
    }
  }

  /** LineageStore.liveProblems, which has nothing to say when neither directory exists (a lineage another host keeps). */
  private problems(name: string, version: number): string[] {
    return this.liveDirs.has(name) || this.archiveDirs.has(name) ? this.store.liveProblems(name, version) : [];
  }

  private entry(e: StatusPageEntry, openOrders: number, active: RetryIndex, live: boolean): LineageStatus {
    const l = e.lineage;
    const now = this.now;
    const shared = this.ledger.backend === 'postgres';
    const certs = e.current;
    const soonest = soonestExpiring(certs);
    const lifetime = soonest ? soonest.not_after - soonest.not_before : 0;
    const next = nextAction(l, certs, openOrders, (id) => e.renewalInfo.get(id), active, now);
    const c = l.settings.cas ? e.caChoice : undefined;
    return {
      name: l.name,
      names: l.names,
      keyType: l.key_type,
      caId: l.ca_id,
      directoryUrl: l.directory_url,
      cas: l.settings.cas ?? null,
      caChoice: c ? { ca: c.ca_id, first: c.first_ca_id, failedOver: c.failed_over === 1, reason: c.reason, at: isoTime(c.at) } : null,
      version: l.current_version,
      notAfter: soonest ? isoTime(soonest.not_after) : null,
      daysLeft: soonest ? Math.floor((soonest.not_after - now) / DAY) : null,
      due: soonest ? soonest.not_after - now < lifetime / 3 : true,
      serials: certs.map((x) => x.serial),
      files: this.liveDirs.has(l.name) ? this.store.liveFiles(l.name) : [],
      liveProblems: live && certs.length ? this.problems(l.name, l.current_version) : [],
      openOrders,
      next: { kind: next.kind, at: isoTime(next.at) },
      hosts: shared
        ? e.hosts.map((h) => ({ host: h.host, deployedVersion: h.deployed_version, upToDate: h.deployed_version === l.current_version && h.pending_version === null, deployedAt: h.deployed_at === null ? null : isoTime(h.deployed_at), pending: h.pending_version !== null }))
        : [],
      renewedBy: shared && e.renewedBy ? { host: e.renewedBy.host, at: isoTime(e.renewedBy.at) } : null,
    };
  }
}

function entries(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir));
  } catch {
    return new Set();
  }
}

/** The whole report in memory (library callers; `certctl status` streams StatusScan's pages). */
export function statusReport(ledger: Ledger, paths: StatePaths, now: number, o: StatusOptions = {}): LineageStatus[] {
  const out: LineageStatus[] = [];
  for (const page of new StatusScan(ledger, paths, now, o).pages()) out.push(...page);
  return out;
}
