/**
 * When certctl will run renew next, for RFC 9773 §4.2's "renew now if the chosen moment comes
 * before the next run" (renew/ari.ts dueBeforeNextRun). A cron job cannot wake at the moment
 * it chose inside a CA's ARI window; it only knows when cron starts it again: from the schedule
 * in the cron file (`certctl cron install` writes /etc/cron.d/certctl, or --file, whose renew
 * line then names the file with --schedule-file), else from the ledger's history of renew runs.
 * The daemon wakes at the chosen moment itself and needs none of this.
 */
import fs from 'node:fs';
import type { Ledger } from '../ledger/ledger.js';
import type { NextRun } from '../renew/ari.js';
import { cronSchedule } from './cron.js';

/** The file `certctl cron install` writes by default. */
export const DEFAULT_CRON_FILE = '/etc/cron.d/certctl';
/** Runs closer together than this are a person re-running by hand, not the schedule's period. */
const MIN_PERIOD_MS = 10 * 60_000;
/** Renew runs of the history that are read. */
const HISTORY = 10;

/**
 * Pure: the next tick after `now` of the first line of a cron file (crontab or /etc/cron.d form)
 * that runs `certctl … renew`; null when there is none or its time fields do not parse.
 */
export function nextRunFromCronText(text: string, now: number): number | null {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^[A-Za-z_][A-Za-z0-9_]*=/.test(line)) continue;
    const m = /^(\S+\s+\S+\s+\S+\s+\S+\s+\S+)\s+(.*)$/.exec(line);
    if (!m || !/certctl/.test(m[2]!) || !/\brenew\b/.test(m[2]!)) continue;
    try {
      return cronSchedule(m[1]!).next(now);
    } catch {
      continue;
    }
  }
  return null;
}

/**
 * Pure: from the start times of past renew runs (any order), the next one: `now` plus the median
 * gap between consecutive runs (a run within 10 min of the one before is a re-run by hand and is left out); null
 * with fewer than two such gaps.
 */
export function nextRunFromHistory(starts: readonly number[], now: number): { at: number; periodMs: number } | null {
  // A run started within 10 min of the one kept before it is a re-run by hand: left out.
  const kept: number[] = [];
  for (const t of [...starts].sort((a, b) => a - b)) if (kept.length === 0 || t - kept[kept.length - 1]! >= MIN_PERIOD_MS) kept.push(t);
  const gaps: number[] = [];
  for (let i = 1; i < kept.length; i++) gaps.push(kept[i]! - kept[i - 1]!);
  if (gaps.length < 2) return null;
  gaps.sort((a, b) => a - b);
  const mid = gaps.length >> 1;
  const periodMs = gaps.length % 2 ? gaps[mid]! : Math.round((gaps[mid - 1]! + gaps[mid]!) / 2);
  return { at: now + periodMs, periodMs };
}

function period(ms: number): string {
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : `${Math.round(ms / 60_000)} min`;
}

/**
 * The next renew run: the cron file's schedule (`scheduleFile`, default /etc/cron.d/certctl when
 * it exists and runs certctl renew), else the ledger's renew runs; null when neither says.
 */
export function estimateNextRun(ledger: Pick<Ledger, 'runStarts'>, now: number, scheduleFile?: string): NextRun | null {
  const file = scheduleFile ?? DEFAULT_CRON_FILE;
  let text: string | null = null;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = null;
  }
  const fromCron = text === null ? null : nextRunFromCronText(text, now);
  if (fromCron !== null) return { at: fromCron, source: `the schedule in ${file}` };
  const h = nextRunFromHistory(ledger.runStarts('renew', HISTORY), now);
  return h ? { at: h.at, source: `the ledger's renew runs (about every ${period(h.periodMs)})` } : null;
}
