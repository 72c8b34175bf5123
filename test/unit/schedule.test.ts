/** Scheduling: nextWake (pure), each lineage's next action, the twice-daily cron line, the cron package's schedules. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATCH_UP_AFTER_MS, MIN_GAP_MS, RETRY_MARGIN_MS, lineageAction, nextWake, type LedgerFacts, type Schedule } from '../../src/core/schedule/wake.js';
import { certctlCommand, cronExpression, cronFile, cronLine, cronSchedule, existingTime, installCronFile, randomTwiceDaily, shellWord } from '../../src/core/schedule/cron.js';

const NOW = Date.parse('2026-03-02T10:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
/** Every day at 03:17 and 15:17 UTC. */
const sched: Schedule = cronSchedule('17 3,15 * * *', 'UTC');
const facts = (actions: LedgerFacts['actions'], lastRunAt: number | null = NOW - HOUR): LedgerFacts => ({ actions, lastRunAt });

describe('nextWake', () => {
  it('nothing in the ledger: the next tick of the schedule', () => {
    expect(nextWake(facts([]), sched, NOW)).toEqual({ at: Date.parse('2026-03-02T15:17:00Z'), reason: 'schedule', lineage: null });
  });

  it('an ARI chosen moment before the next tick wakes early, for that lineage', () => {
    const at = NOW + 2 * HOUR;
    expect(nextWake(facts([{ lineage: 'a', at, kind: 'ari' }]), sched, NOW)).toEqual({ at, reason: 'ari', lineage: 'a' });
  });

  it('an ARI moment after the next tick does not change it', () => {
    expect(nextWake(facts([{ lineage: 'a', at: NOW + 24 * HOUR, kind: 'ari' }]), sched, NOW).reason).toBe('schedule');
  });

  it('a Retry-After wakes a minute after it ends; the earliest action wins', () => {
    const w = nextWake(
      facts([
        { lineage: 'a', at: NOW + 3 * HOUR, kind: 'ari' },
        { lineage: 'b', at: NOW + HOUR, kind: 'retry-after' },
        { lineage: 'c', at: NOW + 4 * HOUR, kind: 'due' },
      ]),
      sched,
      NOW,
    );
    expect(w).toEqual({ at: NOW + HOUR + RETRY_MARGIN_MS, reason: 'retry-after', lineage: 'b' });
  });

  it('actions already past never make it spin: at least MIN_GAP after now', () => {
    const w = nextWake(facts([{ lineage: 'a', at: NOW - HOUR, kind: 'due' }, { lineage: 'b', at: NOW, kind: 'resume' }]), sched, NOW);
    expect(w.reason).toBe('schedule');
    const soon = nextWake(facts([{ lineage: 'a', at: NOW + 1000, kind: 'ari' }]), sched, NOW);
    expect(soon).toEqual({ at: NOW + MIN_GAP_MS, reason: 'ari', lineage: 'a' });
  });

  it('no renew run yet, or none for 13 h: catch up now', () => {
    expect(nextWake(facts([], null), sched, NOW)).toEqual({ at: NOW, reason: 'catch-up', lineage: null });
    expect(nextWake(facts([], NOW - CATCH_UP_AFTER_MS - 1), sched, NOW).reason).toBe('catch-up');
    expect(nextWake(facts([], NOW - CATCH_UP_AFTER_MS + 1), sched, NOW).reason).toBe('schedule');
  });

  it('a custom schedule object is used as given', () => {
    const every5: Schedule = { next: (t) => Math.floor(t / (5 * MIN)) * 5 * MIN + 5 * MIN };
    expect(nextWake(facts([]), every5, NOW + 1000).at).toBe(NOW + 5 * MIN);
  });
});

describe('lineageAction', () => {
  const l = { name: 'x', openOrders: 0, hasCertificate: true, ariChosenAt: null, dueAt: NOW + 30 * 24 * HOUR, retryAfter: null };
  it('due date by default, ARI moment when the CA gave a window', () => {
    expect(lineageAction(l, NOW)).toEqual({ lineage: 'x', at: l.dueAt, kind: 'due' });
    expect(lineageAction({ ...l, ariChosenAt: NOW + HOUR }, NOW)).toEqual({ lineage: 'x', at: NOW + HOUR, kind: 'ari' });
  });
  it('a Retry-After in force wins; an open order or no certificate means now', () => {
    expect(lineageAction({ ...l, ariChosenAt: NOW + HOUR, retryAfter: NOW + 2 * HOUR }, NOW)).toEqual({ lineage: 'x', at: NOW + 2 * HOUR, kind: 'retry-after' });
    expect(lineageAction({ ...l, retryAfter: NOW - 1 }, NOW).kind).toBe('due');
    expect(lineageAction({ ...l, openOrders: 1 }, NOW)).toEqual({ lineage: 'x', at: NOW, kind: 'resume' });
    expect(lineageAction({ ...l, hasCertificate: false, dueAt: null }, NOW)).toEqual({ lineage: 'x', at: NOW, kind: 'resume' });
  });
});

describe('twice-daily cron lines', () => {
  it('a random minute 0-59 and two hours 12 apart, over many draws', () => {
    const minutes = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const t = randomTwiceDaily();
      expect(t.minute).toBeGreaterThanOrEqual(0);
      expect(t.minute).toBeLessThan(60);
      expect(t.hours[1] - t.hours[0]).toBe(12);
      expect(t.hours[0]).toBeGreaterThanOrEqual(0);
      expect(t.hours[1]).toBeLessThan(24);
      minutes.add(t.minute);
    }
    expect(minutes.size).toBeGreaterThan(30); // random, not a constant
    expect(randomTwiceDaily((n) => n - 1)).toEqual({ minute: 59, hours: [11, 23] });
    expect(randomTwiceDaily(() => 0)).toEqual({ minute: 0, hours: [0, 12] });
  });

  it('crontab and cron.d forms; the cron package accepts the expression', () => {
    const t = { minute: 17, hours: [3, 15] as [number, number] };
    expect(cronExpression(t)).toBe('17 3,15 * * *');
    expect(cronLine(t, '/usr/bin/certctl renew --quiet')).toBe('17 3,15 * * * /usr/bin/certctl renew --quiet');
    expect(cronLine(t, '/usr/bin/certctl renew --quiet', 'root')).toBe('17 3,15 * * * root /usr/bin/certctl renew --quiet');
    expect(cronFile(t, 'c')).toMatch(/^SHELL=\/bin\/sh$/m);
    expect(existingTime(cronFile(t, '/x/certctl.js renew --quiet'))).toEqual(t);
    const s = cronSchedule(cronExpression(t), 'UTC');
    expect(new Date(s.next(NOW)).toISOString()).toBe('2026-03-02T15:17:00.000Z');
    expect(new Date(s.next(Date.parse('2026-03-02T15:17:00Z'))).toISOString()).toBe('2026-03-03T03:17:00.000Z');
  });

  it('a bad --schedule is an input error', () => {
    expect(() => cronSchedule('61 * * * *')).toThrow(/is not a cron expression/);
    expect(() => cronSchedule('every day')).toThrow(/is not a cron expression/);
  });

  it('the command names the script by absolute path, with node in front when cron would not find it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-bin-'));
    const script = path.join(dir, 'certctl');
    fs.writeFileSync(script, '#!/usr/bin/env node\n', { mode: 0o755 });
    expect(certctlCommand(['renew', '--quiet'], { node: '/usr/bin/node', script })).toBe(`${script} renew --quiet`);
    expect(certctlCommand(['renew'], { node: '/opt/node 20/bin/node', script })).toBe(`'/opt/node 20/bin/node' ${script} renew`);
    fs.chmodSync(script, 0o644);
    expect(certctlCommand(['renew'], { node: '/usr/bin/node', script })).toBe(`/usr/bin/node ${script} renew`);
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
    fs.rmSync(dir, { recursive: true });
  });

  it('install writes 0644 atomically and keeps the time of an earlier install', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-crond-'));
    const file = path.join(dir, 'certctl');
    const first = installCronFile(file, '/x/certctl renew --quiet');
    expect(first.kept).toBe(false);
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    const again = installCronFile(file, '/x/certctl renew --quiet');
    expect(again).toEqual({ time: first.time, kept: true });
    expect(fs.readdirSync(dir)).toEqual(['certctl']); // no temporary files left behind
    fs.rmSync(dir, { recursive: true });
  });
});
