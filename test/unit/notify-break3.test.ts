/**
 * break3: a notification target that never finishes must not hold a renew run. Each case is a real
 * program or a real local server that keeps certctl waiting; deliver() must come back with a failed
 * result within the target's `timeout` (the test's own time-out is only the backstop for a hang).
 */
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { deliver } from '../../src/core/notify/deliver.js';
import { event, notify, type NotifySettings } from '../../src/core/notify/index.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { silentSink } from '../../src/core/env.js';
import Database from 'better-sqlite3';

const e = event({ kind: 'renewal-failed', subject: 'example.org', lineage: 'example.org', at: Date.parse('2026-03-02T10:00:00Z'), summary: 's', reason: 'r', next: 'n' });

/** Whether a process still runs (a zombie waiting for its reaper does not). */
const running = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
};
/** Resolves once `pid` no longer runs (SIGKILL is delivered asynchronously); the test's time-out is the backstop. */
const gone = async (pid: number) => {
  while (running(pid)) await new Promise((r) => setTimeout(r, 20));
  return true;
};

describe('a command target that never exits', () => {
  it('one that ignores SIGTERM is killed at its time-out, with what it left running', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-hang-'));
    const pidFile = path.join(dir, 'pid');
    const script = path.join(dir, 'stubborn.sh');
    // Ignores SIGTERM, and its child (sleep) holds stdout open.
    fs.writeFileSync(script, `#!/bin/sh\ntrap '' TERM\nsleep 300 &\necho $! > "${pidFile}"\nwait\nwait\n`, { mode: 0o755 });
    const r = await deliver({ type: 'command', id: 'cmd', command: [script], timeoutMs: 1000 }, e, 1, 'h');
    expect(r).toMatchObject({ ok: false, detail: `${script} killed after 1 s` });
    expect(await gone(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(true);
  }, 30_000);

  it('one that exits 0 but leaves a process holding its output is delivered, not waited for', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-hang-'));
    const pidFile = path.join(dir, 'pid');
    const script = path.join(dir, 'bg.sh');
    fs.writeFileSync(script, `#!/bin/sh\nsleep 300 &\necho $! > "${pidFile}"\necho sent\n`, { mode: 0o755 });
    const r = await deliver({ type: 'command', id: 'cmd', command: [script], timeoutMs: 1000 }, e, 1, 'h');
    expect(r).toMatchObject({ ok: true, detail: `${script} exited 0` });
    expect(await gone(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(true);
  }, 30_000);
});

describe('a webhook receiver that never finishes its answer', () => {
  it('one that trickles a byte at a time (never idle for a whole time-out) fails at the time-out', async () => {
    const timers: NodeJS.Timeout[] = [];
    let requests = 0;
    const server = http.createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      timers.push(setInterval(() => res.write('.'), 100));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', url: `http://127.0.0.1:${port}/x`, format: 'json', retries: 0, timeoutMs: 1000 }, e, 1, 'h');
      expect(r.ok).toBe(false);
      expect(r.detail).toBe(`http://127.0.0.1:${port}: no answer within 1 s`);
      expect(requests).toBe(1);
    } finally {
      timers.forEach(clearInterval);
      server.closeAllConnections();
      server.close();
    }
  }, 30_000);
});

describe('an SMTP server that greets, then never finishes its answer', () => {
  it('one that answers EHLO with a continued 250- line at a time fails at the time-out', async () => {
    const timers: NodeJS.Timeout[] = [];
    const server = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.write('220 smtp.example ESMTP\r\n');
      sock.once('data', () => timers.push(setInterval(() => sock.write('250-still here\r\n'), 100)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await deliver({ type: 'email', id: 'mail', host: '127.0.0.1', port, security: 'none', from: 'a@example.org', to: ['b@example.org'], timeoutMs: 1000 }, e, 1, 'h');
      expect(r.ok).toBe(false);
      expect(r.detail).toBe(`127.0.0.1:${port}: no answer within 1 s`);
    } finally {
      timers.forEach(clearInterval);
      server.close();
    }
  }, 30_000);
});

describe('a bearer token never goes over plain http to another machine', () => {
  it('a URL read from urlEnv that is http:// to another host is refused before anything is sent', async () => {
    const lan = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(lan).toBeDefined();
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as AddressInfo).port;
    const env = { HOOK_URL: `http://${lan}:${port}/hooks/T000/B000/secretpath`, HOOK_TOKEN: 'tok-0123456789abcdef' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', urlSecret: { env: 'HOOK_URL' }, token: { env: 'HOOK_TOKEN' }, format: 'json', retries: 0, timeoutMs: 2000 }, e, 1, 'h');
      expect(seen).toEqual([]);
      expect(r.ok).toBe(false);
      expect(r.detail).toBe(`the webhook URL (from HOOK_URL) is http:// to http://${lan}:${port}, another machine: a bearer token is sent only over https://; give an https:// URL (http:// only for a receiver on this machine)`);
      expect(r.detail).not.toContain('secretpath');
      expect(r.detail).not.toContain('tok-');
    } finally {
      process.env = saved;
      server.close();
    }
  });
});

describe('every revocation is told', () => {
  it('two certificates of one lineage revoked (a dual lineage, or one after the other the same day): two notifications', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-revoked-'));
    const ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
    try {
      const log = path.join(dir, 'log');
      const script = path.join(dir, 'target.sh');
      fs.writeFileSync(script, `#!/bin/sh\necho "$CERTCTL_EVENT $CERTCTL_EVENT_SUBJECT $(printf %s "$CERTCTL_EVENT_JSON" | sed 's/.*"serial":"\\([^"]*\\)".*/\\1/')" >> "${log}"\n`, { mode: 0o755 });
      const settings: NotifySettings = { targets: [{ type: 'command', id: 'cmd', command: [script], timeoutMs: 10_000 }], periodMs: 86_400_000, headroomBelow: 2, maxAgeMs: 7 * 86_400_000 };
      const at = Date.parse('2026-03-02T10:00:00Z');
      const revoked = (serial: string, t: number) => event({ kind: 'revoked', subject: 'example.org', lineage: 'example.org', names: ['example.org'], serial, at: t, summary: `The certificate ${serial} was revoked`, reason: 'r', next: 'n' });
      const first = await notify(ledger, settings, [revoked('aa01', at), revoked('bb02', at)], at, silentSink, 'h');
      expect(first.recorded).toBe(2);
      const later = await notify(ledger, settings, [revoked('cc03', at + 3_600_000)], at + 3_600_000, silentSink, 'h');
      expect(later.recorded).toBe(1);
      expect(fs.readFileSync(log, 'utf8')).toBe('revoked example.org aa01\nrevoked example.org bb02\nrevoked example.org cc03\n');
    } finally {
      ledger.close();
    }
  });
});

describe('a Slack message carries a CA problem detail as text, never as Slack markup', () => {
  it('<!channel>, <@U…> and <http://…|…> from a hostile CA reach Slack escaped (&lt; &gt; &amp;)', async () => {
    const got: string[] = [];
    const server = http.createServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        got.push(b);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const hostile = event({ ...e, reason: 'The CA refused: <!channel> urgent, see <http://evil.example/|your bank> & <@U012AB3CD>' });
      const r = await deliver({ type: 'webhook', id: 'slack', url: `http://127.0.0.1:${port}/hook`, format: 'slack', retries: 0, timeoutMs: 2000 }, hostile, 1, 'h');
      expect(r.ok).toBe(true);
      const text = (JSON.parse(got[0]!) as { text: string }).text;
      expect(text).toContain('The CA refused: &lt;!channel&gt; urgent, see &lt;http://evil.example/|your bank&gt; &amp; &lt;@U012AB3CD&gt;');
      expect(text).not.toMatch(/<[!@h]/);
      expect(text.startsWith('*certctl: renewal failed: example.org*\n')).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('a command target gets the event whatever its size', () => {
  it('a CA detail of 60,000 CJK characters: the command runs (no E2BIG) and CERTCTL_EVENT_JSON is whole JSON', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-big-'));
    const out = path.join(dir, 'json');
    const script = path.join(dir, 'save.sh');
    fs.writeFileSync(script, `#!/bin/sh\nprintf %s "$CERTCTL_EVENT_JSON" > "${out}"\nprintf %s "$CERTCTL_EVENT_REASON" > "${out}.reason"\n`, { mode: 0o755 });
    for (const reason of ['日'.repeat(60_000), 'x'.repeat(70_000), `${'é'.repeat(7_999)}😀${'a'.repeat(10)}`]) {
      const big = event({ ...e, names: Array.from({ length: 100 }, (_, i) => `n${i}.${'a'.repeat(60)}.example.org`), reason });
      const r = await deliver({ type: 'command', id: 'cmd', command: [script], timeoutMs: 10_000 }, big, 7, 'h');
      expect(r).toMatchObject({ ok: true, detail: `${script} exited 0` });
      const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as { id: number; event: string; subject: string; reason: string; names: string[] };
      expect(doc).toMatchObject({ id: 7, event: 'renewal-failed', subject: 'example.org' });
      expect(reason.startsWith(doc.reason.replace(/…$/, ''))).toBe(true);
      expect(Buffer.byteLength(fs.readFileSync(out))).toBeLessThanOrEqual(64_000);
      const envReason = fs.readFileSync(`${out}.reason`, 'utf8');
      expect(Buffer.byteLength(envReason)).toBeLessThanOrEqual(16_000);
      expect(envReason).not.toContain('\ufffd');
      expect(reason.startsWith(envReason.replace(/…$/, ''))).toBe(true);
    }
  });
});

describe('damaged notification rows that are valid JSON', () => {
  it("delivered_json 'null' / '5' / payload '\"x\"' / '[]' are each given up with one line; the others are still sent, every run", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-damaged-'));
    const file = path.join(dir, 'ledger.sqlite');
    const ledger = Ledger.open(file);
    try {
      const log = path.join(dir, 'log');
      const script = path.join(dir, 'target.sh');
      fs.writeFileSync(script, `#!/bin/sh\necho "$CERTCTL_EVENT_SUBJECT" >> "${log}"\n`, { mode: 0o755 });
      const down: NotifySettings = { targets: [{ type: 'command', id: 'cmd', command: ['/bin/false'], timeoutMs: 10_000 }], periodMs: 86_400_000, headroomBelow: 2, maxAgeMs: 7 * 86_400_000 };
      const at = Date.parse('2026-03-02T10:00:00Z');
      const ev = (subject: string) => event({ kind: 'renewed', subject, lineage: subject, at, summary: 's', reason: 'r', next: 'n' });
      await notify(ledger, down, ['a', 'b', 'c', 'd', 'ok'].map((x) => ev(`${x}.example`)), at, silentSink, 'h');
      const raw = new Database(file);
      raw.prepare("UPDATE notifications SET delivered_json = 'null' WHERE subject = 'a.example'").run();
      raw.prepare("UPDATE notifications SET delivered_json = '5' WHERE subject = 'b.example'").run();
      raw.prepare(`UPDATE notifications SET payload_json = '"x"' WHERE subject = 'c.example'`).run();
      raw.prepare("UPDATE notifications SET payload_json = '[]' WHERE subject = 'd.example'").run();
      raw.close();
      const lines: string[] = [];
      const sink = { ...silentSink, attention: (l: string) => lines.push(l) };
      const r = await notify(ledger, { ...down, targets: [{ type: 'command', id: 'cmd', command: [script], timeoutMs: 10_000 }] }, [], at + 3_600_000, sink, 'h');
      expect(lines).toHaveLength(4);
      expect(lines.every((l) => /^notify: the ledger's notification \d+ \(renewed for [abcd]\.example\) is damaged and cannot be sent; given up\.$/.test(l))).toBe(true);
      expect(r.sent.map((x) => x.subject)).toEqual(['ok.example']);
      expect(fs.readFileSync(log, 'utf8')).toBe('ok.example\n');
      expect(ledger.notifications().every((x) => x.done_at !== null)).toBe(true);
    } finally {
      ledger.close();
    }
  });
});
