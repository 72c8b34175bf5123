/**
 * Fleet hosts share one ledger, and their cron runs overlap: each notification must be sent once
 * between them, not once per host (hostile tester's find: every host read the same pending rows and
 * delivered each). Two Ledger handles on one file stand for two hosts; the receiver holds the first
 * POST so the second run looks while the first is still sending.
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { event, notify, type NotifySettings } from '../../src/core/notify/index.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { silentSink } from '../../src/core/env.js';

describe('a notification claimed by the run sending it', () => {
  it('two runs at once on one ledger: the receiver gets each notification once; a stale claim is taken over', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-claim-'));
    const got: number[] = [];
    const rx = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push(JSON.parse(body).id as number);
        setTimeout(() => res.writeHead(204).end(), 300);
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const file = path.join(dir, 'ledger.sqlite');
    const a = Ledger.open(file);
    const b = Ledger.open(file);
    try {
      const url = `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`;
      const settings: NotifySettings = { targets: [{ type: 'webhook', id: 'ops', url, retries: 0, timeoutMs: 5_000 } as never], periodMs: 86_400_000, headroomBelow: 2, maxAgeMs: 7 * 86_400_000 };
      const at = Date.now();
      const failed = (lineage: string) => event({ kind: 'renewal-failed', subject: lineage, lineage, at, summary: 's', reason: 'r', next: 'n' });
      const [ra, rb] = await Promise.all([notify(a, settings, [failed('one.example')], at, silentSink, 'host-a'), notify(b, settings, [failed('one.example')], at, silentSink, 'host-b')]);
      expect(ra.recorded + rb.recorded).toBe(1);
      expect(got).toHaveLength(1);
      expect(a.notifications()[0]!.done_at).not.toBeNull();

      // A run that died while sending left its claim: honoured until it expires, then taken over.
      const id = a.recordNotification({ kind: 'renewal-failed', subject: 'two.example', lineage: 'two.example', at, payload: { event: 'renewal-failed' } }, at);
      expect(a.claimNotification(id!, 'host-dead/1', at, at + 3_600_000)).not.toBeNull();
      expect(b.claimNotification(id!, 'host-b/2', at + 60_000, at + 3_660_000)).toBeNull();
      expect(b.claimNotification(id!, 'host-b/2', at + 3_600_000, at + 7_200_000)?.claimed_by).toBe('host-b/2');
    } finally {
      a.close();
      b.close();
      rx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a backlog for a target that stays down', () => {
  it('does not hide a newer notification from a target that works (pending rows are read past the first page)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-backlog-'));
    const log = path.join(dir, 'told');
    const script = path.join(dir, 'tell.sh');
    fs.writeFileSync(script, `#!/bin/sh\necho "$CERTCTL_EVENT_SUBJECT" >> ${log}\n`, { mode: 0o755 });
    const ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
    try {
      const settings: NotifySettings = {
        targets: [{ type: 'command', id: 'down', command: ['/bin/false'], timeoutMs: 10_000 }, { type: 'command', id: 'works', command: [script], timeoutMs: 10_000 }],
        periodMs: 86_400_000,
        headroomBelow: 2,
        maxAgeMs: 7 * 86_400_000,
      };
      const at = Date.now();
      // 250 earlier notifications that 'works' has and 'down' never took.
      for (let i = 0; i < 250; i++) {
        const ev = event({ kind: 'renewal-failed', subject: `old${i}.example`, lineage: `old${i}.example`, at, summary: 's', reason: 'r', next: 'n' });
        const { notifyDocument } = await import('../../src/core/notify/message.js');
        const id = ledger.recordNotification({ kind: ev.kind, subject: ev.subject, lineage: ev.lineage, at, payload: notifyDocument(ev, null, 'h') }, at)!;
        ledger.updateNotification(id, { delivered: { works: at }, lastError: 'down: exit 1', doneAt: null });
      }
      const fresh = event({ kind: 'renewal-failed', subject: 'new.example', lineage: 'new.example', at, summary: 's', reason: 'r', next: 'n' });
      await notify(ledger, settings, [fresh], at, silentSink, 'h');
      expect(fs.readFileSync(log, 'utf8')).toBe('new.example\n');
    } finally {
      ledger.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
