/**
 * Notifications' pure rules (renew/notify.ts: which outcome is which event), the post-hook's
 * RENEWED_DOMAINS / FAILED_DOMAINS, and the record-once-per-period + deliver-what-is-pending loop
 * on a real SQLite ledger with a command target (a real program, no stub).
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renewEvents, type OutcomeFacts } from '../../src/core/renew/notify.js';
import { postHookDomainEnv, type LineageOutcome } from '../../src/core/renew/runner.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { notify, event, type NotifySettings } from '../../src/core/notify/index.js';
import { silentSink } from '../../src/core/env.js';
import Database from 'better-sqlite3';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-03-02T10:00:00Z');

const blocked = (allowedAt: number | null, expiresAt: number | null): OutcomeFacts => ({
  lineage: 'example.org',
  names: ['example.org', 'www.example.org'],
  action: 'blocked',
  reason: 'The CA would refuse this request: …',
  nextAt: null,
  exitCode: 4,
  expiresAt,
  block: { allowedAt, limits: [{ name: 'duplicate-certificates', scope: 'example.org,www.example.org', allowedAt }] },
});

describe('renewEvents', () => {
  it('a block that frees before the certificate expires is no event; one that frees after, or never, is a predicted block', () => {
    expect(renewEvents([blocked(NOW + DAY, NOW + 20 * DAY)], NOW, null)).toEqual([]);
    const [late] = renewEvents([blocked(NOW + 30 * DAY, NOW + 20 * DAY)], NOW, null);
    expect(late).toMatchObject({ kind: 'predicted-block', subject: 'example.org', retryAt: NOW + 30 * DAY, expiresAt: NOW + 20 * DAY, limit: { name: 'duplicate-certificates', freesAt: NOW + 30 * DAY } });
    expect(late!.summary).toBe('example.org will expire 2026-03-22 10:00:00 UTC before the CA allows its renewal: duplicate-certificates (example.org,www.example.org) frees 2026-04-01 10:00:00 UTC.');
    const [never] = renewEvents([blocked(null, NOW + 20 * DAY)], NOW, null);
    expect(never!.summary).toMatch(/does not allow it as asked\.$/);
    expect(never!.retryAt).toBeNull();
  });

  it('a 429 whose Retry-After is after the expiry says to act now; the next run time is the retry time', () => {
    const o: OutcomeFacts = { lineage: 'a.example', names: ['a.example'], action: 'blocked', reason: 'The CA refused the request: too many', nextAt: NOW + 10 * DAY, exitCode: 5, expiresAt: NOW + 5 * DAY };
    const [e] = renewEvents([o], NOW, { at: NOW + 12 * HOUR, source: 'the schedule in /etc/cron.d/certctl' });
    expect(e).toMatchObject({ kind: 'renewal-failed', retryAt: NOW + 10 * DAY, exitCode: 5 });
    expect(e!.next).toMatch(/^the CA refuses until 2026-03-12 10:00:00 UTC; .* — after the certificate expires: act now/);
    const [f] = renewEvents([{ ...o, exitCode: 6, nextAt: null, action: 'failed' }], NOW, { at: NOW + 12 * HOUR, source: 'the schedule in /etc/cron.d/certctl' });
    expect(f!.next).toBe('certctl tries again at the next renew run (2026-03-02 22:00:00 UTC, from the schedule in /etc/cron.d/certctl); fix the cause above so that it succeeds.');
    expect(f!.retryAt).toBe(NOW + 12 * HOUR);
  });

  it('kept and dry-run outcomes are no events; a fail-over renewal is renewed + ca-failover', () => {
    const kept: OutcomeFacts = { lineage: 'k', names: ['k.example'], action: 'kept', reason: 'not due', nextAt: NOW + DAY, exitCode: 0 };
    expect(renewEvents([kept, { ...kept, action: 'dry-run' }], NOW, null)).toEqual([]);
    const fo: OutcomeFacts = { ...kept, action: 'renewed', notAfter: NOW + 90 * DAY, serial: 'ab', ca: { ca: 'zerossl', first: 'letsencrypt', failedOver: true, reason: 'letsencrypt would refuse' } };
    expect(renewEvents([fo], NOW, null).map((e) => [e.kind, e.ca?.ca])).toEqual([
      ['renewed', 'zerossl'],
      ['ca-failover', 'zerossl'],
    ]);
  });
});

describe('postHookDomainEnv', () => {
  const o = (lineage: string, action: LineageOutcome['action'], names: string[]) => ({ lineage, names, action, reason: '', nextAt: null, exitCode: 0, hooks: [] }) as LineageOutcome;
  it('renewed and recovered names vs failed and blocked names, space-separated, empty when none', () => {
    expect(postHookDomainEnv([o('a', 'renewed', ['a.example', 'www.a.example']), o('b', 'kept', ['b.example']), o('c', 'failed', ['c.example']), o('d', 'recovered', ['d.example']), o('e', 'blocked', ['e.example'])])).toEqual({
      RENEWED_DOMAINS: 'a.example www.a.example d.example',
      FAILED_DOMAINS: 'c.example e.example',
    });
    expect(postHookDomainEnv([o('b', 'kept', ['b.example'])])).toEqual({ RENEWED_DOMAINS: '', FAILED_DOMAINS: '' });
  });
  it('stops at the last whole name within 16,000 characters, as certbot', () => {
    const names = Array.from({ length: 2000 }, (_, i) => `host-${String(i).padStart(4, '0')}.example.org`); // 21 characters each, 22 with the space
    const env = postHookDomainEnv([o('big', 'renewed', names)]);
    expect(env.RENEWED_DOMAINS.length).toBeLessThanOrEqual(16_000);
    expect(env.RENEWED_DOMAINS.split(' ').every((n) => names.includes(n))).toBe(true);
    expect(env.RENEWED_DOMAINS.split(' ')).toHaveLength(Math.floor((16_000 + 1) / 22));
  });
});

describe('notify: once per kind and subject per period, pending ones sent by a later call', () => {
  it('records, dedupes, retries a failed command target, then marks it done', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-notify-'));
    const ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
    try {
      const flag = path.join(dir, 'up');
      const log = path.join(dir, 'log');
      const script = path.join(dir, 'target.sh');
      // A real program: fails until the file `up` exists, then appends the event id to `log`.
      fs.writeFileSync(script, `#!/bin/sh\n[ -e "${flag}" ] || exit 3\necho "$CERTCTL_EVENT $CERTCTL_EVENT_ID $CERTCTL_EVENT_SUBJECT" >> "${log}"\n`, { mode: 0o755 });
      const settings: NotifySettings = { targets: [{ type: 'command', id: 'cmd', command: [script], timeoutMs: 10_000 }], periodMs: DAY, headroomBelow: 2, maxAgeMs: 7 * DAY };
      const e = (at: number) => event({ kind: 'renewal-failed', subject: 'example.org', lineage: 'example.org', at, summary: 's', reason: 'r', next: 'n' });
      const first = await notify(ledger, settings, [e(NOW)], NOW, silentSink, 'h');
      expect(first.recorded).toBe(1);
      expect(first.sent[0]!.results[0]).toMatchObject({ ok: false, detail: `${script} exited 3` });
      // An hour later, the same event: not recorded again; the pending one is tried again (still failing).
      const second = await notify(ledger, settings, [e(NOW + HOUR)], NOW + HOUR, silentSink, 'h');
      expect(second.recorded).toBe(0);
      expect(ledger.notifications()).toHaveLength(1);
      fs.writeFileSync(flag, '');
      const third = await notify(ledger, settings, [], NOW + 2 * HOUR, silentSink, 'h');
      expect(third.sent[0]!.results[0]).toMatchObject({ ok: true });
      const [row] = ledger.notifications();
      expect(row).toMatchObject({ attempts: 3, last_error: null, done_at: NOW + 2 * HOUR });
      expect(fs.readFileSync(log, 'utf8')).toBe(`renewal-failed ${row!.id} example.org\n`);
      // Nothing pending: nothing sent; a day later the same event is recorded (and sent) again.
      expect((await notify(ledger, settings, [], NOW + 3 * HOUR, silentSink, 'h')).sent).toEqual([]);
      expect((await notify(ledger, settings, [e(NOW + DAY)], NOW + DAY, silentSink, 'h')).recorded).toBe(1);
      expect(fs.readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(2);
      // No targets: nothing recorded.
      expect(await notify(ledger, { ...settings, targets: [] }, [e(NOW + 9 * DAY)], NOW + 9 * DAY, silentSink)).toEqual({ recorded: 0, sent: [] });
    } finally {
      ledger.close();
    }
  });

  it('a damaged row is given up with one line; the rows after it are still sent', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-notify-'));
    const file = path.join(dir, 'ledger.sqlite');
    const ledger = Ledger.open(file);
    try {
      const log = path.join(dir, 'log');
      const script = path.join(dir, 'target.sh');
      fs.writeFileSync(script, `#!/bin/sh\necho "$CERTCTL_EVENT_SUBJECT" >> "${log}"\n`, { mode: 0o755 });
      const settings: NotifySettings = { targets: [{ type: 'command', id: 'cmd', command: ['/bin/false'], timeoutMs: 10_000 }], periodMs: DAY, headroomBelow: 2, maxAgeMs: 7 * DAY };
      const e = (subject: string) => event({ kind: 'renewed', subject, lineage: subject, at: NOW, summary: 's', reason: 'r', next: 'n' });
      await notify(ledger, settings, [e('a.example'), e('b.example')], NOW, silentSink, 'h');
      const raw = new Database(file);
      raw.prepare("UPDATE notifications SET payload_json = '{not json' WHERE subject = 'a.example'").run();
      raw.close();
      const lines: string[] = [];
      const sink = { ...silentSink, attention: (l: string) => lines.push(l) };
      const r = await notify(ledger, { ...settings, targets: [{ type: 'command', id: 'cmd', command: [script], timeoutMs: 10_000 }] }, [], NOW + HOUR, sink, 'h');
      expect(lines).toEqual([expect.stringMatching(/^notify: the ledger's notification \d+ \(renewed for a\.example\) is damaged and cannot be sent; given up\.$/)]);
      expect(r.sent.map((x) => x.subject)).toEqual(['b.example']);
      expect(fs.readFileSync(log, 'utf8')).toBe('b.example\n');
      expect(ledger.notifications().every((x) => x.done_at !== null)).toBe(true);
    } finally {
      ledger.close();
    }
  });
});
