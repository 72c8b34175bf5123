/**
 * Notifications (docs/notify.md): record each event in the ledger — at most
 * one per kind and subject per period, so an hourly cron job does not flood
 * anyone — then deliver every notification some target does not have yet,
 * this run's and those an earlier run could not deliver. Delivery never
 * throws and never changes the caller's exit code: a target that is down is
 * reported as a line and tried again by the next run.
 */
import os from 'node:os';
import type { Ledger } from '../ledger/ledger.js';
import type { Sink } from '../env.js';
import { deliver, retryPausesMs } from './deliver.js';
import { eventFromDocument, notifyDocument } from './message.js';
import { event, type DeliveryResult, type NotifyEvent, type NotifySettings, type NotifyTarget } from './types.js';

export * from './types.js';
export { notifyDocument, notifyText, notifyTitle, notifyEnv, NOTIFY_SCHEMA } from './message.js';

/** Notifications delivered (or not) by one run. */
export interface NotifyReport {
  /** Rows recorded by this run (not within the period of an earlier one). */
  recorded: number;
  /** Each notification this run tried to deliver, with each target's result. */
  sent: { id: number; event: string; subject: string; results: DeliveryResult[] }[];
}

const wants = (t: NotifyTarget, kind: string) => !t.events || (t.events as string[]).includes(kind);

/**
 * Record `events` (each once per kind and subject per `settings.periodMs`), then deliver what is
 * pending. With no targets nothing is recorded: there is no one to tell.
 */
/**
 * How long a run's claim on a notification holds against other runs: the longest one row's
 * delivery can take (every target in turn, each attempt bounded by its time-out, a webhook's
 * retries and their pauses), plus a minute. A run killed while sending leaves a claim that has
 * expired by the next cron run, so that run sends it again.
 */
function claimMs(targets: readonly NotifyTarget[]): number {
  let ms = 60_000;
  for (const t of targets) {
    const attempts = t.type === 'webhook' ? t.retries + 1 : 1;
    ms += attempts * t.timeoutMs + (t.type === 'webhook' ? retryPausesMs(t.retries) : 0);
  }
  return ms;
}

export async function notify(ledger: Ledger, settings: NotifySettings | undefined, events: readonly NotifyEvent[], now: number, sink: Sink, host: string = os.hostname()): Promise<NotifyReport> {
  const report: NotifyReport = { recorded: 0, sent: [] };
  if (!settings || settings.targets.length === 0) return report;
  for (const e of events) {
    if (e.kind === 'test' || !settings.targets.some((t) => wants(t, e.kind))) continue;
    const payload = notifyDocument(e, null, host);
    // A revocation is an administrator's act on one certificate, not a state that repeats: each is
    // told (two certificates of a lineage revoked the same day are two notifications, not one).
    const since = e.kind === 'revoked' ? Number.MAX_SAFE_INTEGER : e.at - settings.periodMs + 1;
    const id = ledger.recordNotification({ kind: e.kind, subject: e.subject, lineage: e.lineage, at: e.at, payload }, since);
    if (id !== null) report.recorded++;
  }
  // A target that failed once in this run is not tried again by it: a receiver that is down would
  // otherwise cost every pending notification its time-outs and retries. Those left stay pending
  // (one line was said about the target) and the next run tries again.
  const down = new Map<string, string>();
  // Each row is claimed before it is sent: fleet hosts sharing the ledger whose runs overlap send
  // it once between them, not once each. A run that dies mid-send leaves a claim that expires.
  const who = `${host}/${process.pid}`;
  const claim = claimMs(settings.targets);
  for (const listed of ledger.pendingNotificationPages(now - settings.maxAgeMs)) {
    const row = ledger.claimNotification(listed.id, who, now, now + claim);
    if (!row) continue;
    let delivered: Record<string, number>;
    let e: NotifyEvent;
    try {
      delivered = JSON.parse(row.delivered_json) as Record<string, number>;
      const doc = JSON.parse(row.payload_json) as Record<string, unknown>;
      // Valid JSON is not enough ('null', '5', '[]'): a row that is not the shape written would throw
      // below on every run, and no notification after it would ever be sent.
      const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
      if (!isObject(delivered) || !isObject(doc) || doc.event !== row.kind) throw new Error('damaged');
      e = eventFromDocument(doc);
    } catch {
      // A row damaged by hand or by a disk fault is given up (said once), never a stop for the others.
      sink.attention(`notify: the ledger's notification ${row.id} (${row.kind} for ${row.subject}) is damaged and cannot be sent; given up.`);
      ledger.updateNotification(row.id, { delivered: {}, lastError: 'damaged row: not the JSON certctl wrote; given up', doneAt: now });
      continue;
    }
    const due = settings.targets.filter((t) => wants(t, row.kind) && delivered[t.id] === undefined);
    const results: DeliveryResult[] = [];
    let skipped = 0;
    for (const t of due) {
      if (down.has(t.id)) {
        skipped++;
        continue;
      }
      const r = await deliver(t, e, row.id, host);
      if (!r.ok) down.set(t.id, r.detail);
      results.push(r);
      if (r.ok) {
        delivered[t.id] = now;
        sink.verbose(`notify: ${row.kind} for ${row.subject} sent to ${t.id}: ${r.detail}`);
      } else {
        sink.attention(`notify: ${row.kind} for ${row.subject} could not be sent to ${t.id} (${r.detail}); the next run sends it again.`);
      }
    }
    const failed = results.filter((r) => !r.ok);
    if (results.length || due.length === 0) {
      ledger.updateNotification(row.id, { delivered, lastError: failed.length ? failed.map((r) => `${r.target}: ${r.detail}`).join('; ') : row.last_error && skipped ? row.last_error : null, doneAt: failed.length || skipped ? null : now });
    } else ledger.releaseNotification(row.id, who);
    if (results.length) report.sent.push({ id: row.id, event: row.kind, subject: row.subject, results });
  }
  return report;
}

/**
 * An event that cannot be recorded in the ledger because the ledger itself cannot be reached (a
 * fleet's PostgreSQL down): sent from memory, at most once per kind and subject per period from
 * this state directory — `notify-unrecorded.json` there (0600) remembers when each was last sent
 * (a run whose targets all failed leaves it unsent: the next run tries again). Delivery failures
 * are lines; nothing here changes the run's exit code.
 */
export async function notifyUnrecorded(stateDir: string, settings: NotifySettings | undefined, e: NotifyEvent, now: number, sink: Sink, host: string = os.hostname()): Promise<DeliveryResult[]> {
  if (!settings) return [];
  const targets = settings.targets.filter((t) => wants(t, e.kind));
  if (targets.length === 0) return [];
  const fs = await import('node:fs');
  const path = await import('node:path');
  const file = path.join(stateDir, 'notify-unrecorded.json');
  const key = `${e.kind} ${e.subject}`;
  let sent: Record<string, number> = {};
  try {
    const st = fs.lstatSync(file);
    if (st.isFile() && st.size < 65_536) {
      const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) sent = Object.fromEntries(Object.entries(doc).filter(([, v]) => typeof v === 'number' && Number.isFinite(v))) as Record<string, number>;
    }
  } catch {
    // missing, or damaged by hand: as if nothing had been sent (one message more, never one fewer)
  }
  const last = sent[key];
  if (last !== undefined && last <= now && now - last < settings.periodMs) return [];
  const results: DeliveryResult[] = [];
  for (const t of targets) {
    const r = await deliver(t, e, null, host);
    results.push(r);
    if (r.ok) sink.verbose(`notify: ${e.kind} for ${e.subject} sent to ${t.id}: ${r.detail}`);
    else sink.attention(`notify: ${e.kind} for ${e.subject} could not be sent to ${t.id} (${r.detail}); the next run tries again.`);
  }
  if (results.some((r) => r.ok)) {
    sent[key] = now;
    for (const [k, at] of Object.entries(sent)) if (now - at >= settings.maxAgeMs) delete sent[k];
    try {
      const { writeFileAtomic } = await import('../store/atomic.js');
      writeFileAtomic(file, JSON.stringify(sent) + '\n', 0o600);
    } catch (err) {
      sink.attention(`notify: could not record that ${e.kind} was sent (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the next run may send it again.`);
    }
  }
  return results;
}

/** `certctl notify test`: one test message to each target (nothing recorded), each target's result. */
export async function sendTest(settings: NotifySettings, now: number, host: string = os.hostname()): Promise<DeliveryResult[]> {
  const e = event({
    kind: 'test',
    subject: 'notify test',
    at: now,
    summary: `certctl on ${host}: test message to check this notification target`,
    reason: 'certctl notify test was run',
    next: 'nothing: certctl sends real events here (renewal failed, predicted block, headroom low, renewed, revoked, CA fail-over, shared ledger unreachable)',
  });
  const out: DeliveryResult[] = [];
  for (const t of settings.targets) out.push(await deliver(t, e, null, host));
  return out;
}
