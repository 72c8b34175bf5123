/**
 * ARI timing as RFC 9773 §4.2 says (issue 17, acme.sh#7024): a uniform moment in the WHOLE
 * suggested window; renew now when it is past or comes before the next run certctl will make
 * (cron: the schedule in the cron file, else the ledger's renew runs). Pure functions with fixed
 * clocks, and the estimate on a real SQLite ledger and a real cron file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ariDecision, chooseInWindow, dueBeforeNextRun, type AriDecision } from '../../src/core/renew/ari.js';
import { estimateNextRun, nextRunFromCronText, nextRunFromHistory } from '../../src/core/schedule/next-run.js';
import { openTestLedger } from '../helpers/ledgers.js';
import type { Ledger } from '../../src/core/ledger/ledger.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T = Date.parse('2026-09-01T10:00:00Z');

describe('chooseInWindow: uniform over the whole window', () => {
  it('spans [start, end) whatever the clock says: a window that opened before the run can yield a moment already past', () => {
    const start = T - 30 * MIN;
    const end = T + 30 * MIN;
    expect(chooseInWindow(start, end, () => 0)).toBe(start);
    expect(chooseInWindow(start, end, () => 0.25)).toBe(T - 15 * MIN);
    expect(chooseInWindow(start, end, () => 1 - Number.EPSILON)).toBe(end - 1);
    // The old choice, [max(start, now), end), would never have picked before T: half the window was unreachable.
    const picks = Array.from({ length: 1000 }, (_, i) => chooseInWindow(start, end, () => i / 1000));
    expect(picks.filter((p) => p < T)).toHaveLength(500);
  });
});

const decision = (start: number, end: number, at: number, now: number): AriDecision =>
  ariDecision({ cert_id: 1, ari_cert_id: 'x.y', window_start: start, window_end: end, chosen_at: at, next_check: now + HOUR, explanation_url: null, fetched_at: now }, now)!;

describe('dueBeforeNextRun: the next run decides when the moment cannot be waited for', () => {
  // Let's Encrypt's window for a 6-day certificate: about ±1.6 h; cron runs every 12 h.
  const start = T + HOUR;
  const end = T + 4 * HOUR;
  const at = T + 2 * HOUR;
  const cron = (next: number) => ({ at: next, source: 'the schedule in /etc/cron.d/certctl' });

  it('a moment already past: due, whatever the next run', () => {
    const d = decision(T - 3 * HOUR, T + HOUR, T - HOUR, T);
    expect(d.due).toBe(true);
    expect(dueBeforeNextRun(d, T, null).due).toBe(true);
  });
  it('the window (and the moment) ahead, the next run after the window: renew now, before the window, rather than miss it', () => {
    const d = dueBeforeNextRun(decision(start, end, at, T), T, cron(T + 12 * HOUR));
    expect(d.due).toBe(true);
    expect(d.windowOpen).toBe(false); // not inside: the planner does not count it ARI-exempt
    expect(d.reason).toMatch(/certctl chose 2026-09-01T12:00:00\.000Z, before the next run \(2026-09-01T22:00:00\.000Z, by the schedule in \/etc\/cron\.d\/certctl\): renewing now/);
  });
  it('inside the window, the moment ahead, the next run after it: renew now (inside: exempt)', () => {
    const now = T + 90 * MIN;
    const d = dueBeforeNextRun(decision(start, end, at, now), now, cron(now + 12 * HOUR));
    expect(d).toMatchObject({ due: true, windowOpen: true });
  });
  it('before the window, the next run inside it and after the moment: that run renews (inside the window), not this one', () => {
    const d = dueBeforeNextRun(decision(start, end, at, T), T, cron(T + 3 * HOUR));
    expect(d.due).toBe(false);
    expect(d.reason).toMatch(/the next run \(2026-09-01T13:00:00\.000Z, by the schedule in \/etc\/cron\.d\/certctl\) falls inside the window and renews then/);
    // … and that run finds the moment past.
    expect(dueBeforeNextRun(decision(start, end, at, T + 3 * HOUR), T + 3 * HOUR, cron(T + 15 * HOUR)).due).toBe(true);
  });
  it('the next run before the moment: wait for it (the usual case of a wide window)', () => {
    const d = dueBeforeNextRun(decision(T + 30 * HOUR, T + 60 * HOUR, T + 40 * HOUR, T), T, cron(T + 12 * HOUR));
    expect(d.due).toBe(false);
    expect(d.at).toBe(T + 40 * HOUR);
  });
  it('no next run known (the daemon wakes at the moment itself): only the moment decides', () => {
    expect(dueBeforeNextRun(decision(start, end, at, T), T, null).due).toBe(false);
  });
});

describe('when the next run is', () => {
  it('from a cron file: the next tick of the certctl renew line (/etc/cron.d form, crontab form, any schedule)', () => {
    const cronD = 'SHELL=/bin/sh\nPATH=/usr/bin:/bin\n# a comment\n\n17 3,15 * * * root /usr/bin/certctl renew --quiet\n';
    expect(nextRunFromCronText(cronD, T)).toBe(Date.parse('2026-09-01T15:17:00Z'));
    expect(nextRunFromCronText('*/30 * * * * certctl --state-dir /x renew\n', T)).toBe(T + 30 * MIN);
    expect(nextRunFromCronText('0 4 * * * certctl status\n', T)).toBeNull(); // not a renew line
    expect(nextRunFromCronText('nonsense certctl renew\n', T)).toBeNull();
  });
  it('from the run history: the median gap between renew runs; re-runs by hand (under 10 min apart) do not count', () => {
    expect(nextRunFromHistory([T - 24 * HOUR, T - 12 * HOUR, T - 12 * HOUR + MIN, T], T)).toEqual({ at: T + 12 * HOUR, periodMs: 12 * HOUR });
    expect(nextRunFromHistory([T - 12 * HOUR, T], T)).toBeNull(); // one gap is not a schedule
    expect(nextRunFromHistory([], T)).toBeNull();
  });

  let dir: string | undefined;
  let ledger: Ledger | undefined;
  afterEach(() => {
    ledger?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    ledger = dir = undefined;
  });
  it('estimateNextRun on a real ledger: the cron file first, then the renew runs recorded, else unknown', async () => {
    ({ ledger, dir } = await openTestLedger('sqlite', 'certctl-nextrun-'));
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-cron-')), 'certctl');
    const missing = path.join(path.dirname(file), 'none');
    expect(estimateNextRun(ledger, T, missing)).toBeNull();
    for (const at of [T - 18 * HOUR, T - 12 * HOUR, T - 6 * HOUR]) ledger.finishRun(ledger.startRun('renew', at), 0, {}, at + MIN);
    ledger.startRun('renew', T - MIN); // unfinished (this run): not history
    ledger.finishRun(ledger.startRun('plan', T - 3 * HOUR), 0, {}, T - 3 * HOUR); // another command
    expect(estimateNextRun(ledger, T, missing)).toEqual({ at: T + 6 * HOUR, source: "the ledger's renew runs (about every 6 h)" });
    fs.writeFileSync(file, '5 4,16 * * * root certctl renew --quiet\n');
    expect(estimateNextRun(ledger, T, file)).toEqual({ at: Date.parse('2026-09-01T16:05:00Z'), source: `the schedule in ${file}` });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
