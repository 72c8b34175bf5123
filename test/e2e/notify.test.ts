/**
 * Notifications (docs/notify.md) end to end: the built CLI against a real
 * Pebble behind certctl's ACME test proxy (which counts what reaches the CA),
 * with the targets' receiving ends real and in this test:
 *  - an HTTP receiver for the webhook (one JSON document per event across
 *    three cron-like runs; a receiver that is down → sent by the next run,
 *    the renewals exit 0);
 *  - the `smtp-server` package on loopback (STARTTLS with a test certificate
 *    made by openssl, AUTH PLAIN/LOGIN) for e-mail;
 *  - a command target (a node script that writes its argv and environment)
 *    fed hostile text by the CA's problem detail.
 * Plus the predicted block: the exact-set limit of the lineage's CA does not
 * free before the certificate expires → a notice, 0 requests to the CA.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { SMTPServer } from 'smtp-server';
import { startPebble, pebbleIssueFlags, type Pebble } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { freePort } from '../../testkit/ports.js';
import { runCli, startCli, tempDir, q } from '../helpers/cli.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const VALIDITY_DAYS = 30;
let pebble: Pebble;
let proxy: AcmeTestProxy;
const t0 = Date.now();
const at = (ms: number) => new Date(t0 + ms).toISOString();

beforeAll(async () => {
  pebble = await startPebble({ validitySeconds: VALIDITY_DAYS * 86_400, nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.clearFaults();
  proxy.resetObservations();
});

/** A webhook receiver: every request's headers and parsed JSON body. */
interface Receiver {
  url: string;
  port: number;
  got: { headers: http.IncomingHttpHeaders; body: Record<string, unknown> }[];
  stop(): Promise<void>;
}
async function receiver(port?: number): Promise<Receiver> {
  const got: Receiver['got'] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port ?? 0, '127.0.0.1', () => resolve()));
  const p = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${p}/hook/certctl`, port: p, got, stop: () => new Promise((r) => server.close(() => r())) };
}

function writeConfig(dir: string, cfg: Record<string, unknown>): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}
function issue(state: string, cfg: string, name: string, extra: string[] = []) {
  return runCli(['--state-dir', state, '--config', cfg, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra]);
}
/** A cron-like run: renew, every lineage due (fewer than 29.99 days left of its 30), at t0 + `ms`. */
function renew(state: string, cfg: string, ms: number, extra: string[] = []) {
  return runCli(['--state-dir', state, '--config', cfg, 'renew', '--no-random-sleep', '--days', '29.99', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra], { CERTCTL_TEST_NOW: at(ms) });
}
/** The name's A record points where nothing listens: its HTTP-01 readiness check fails (no order is created). */
async function unreachable(name: string): Promise<void> {
  await pebble.dns.post('/add-a', { host: name, addresses: ['127.0.0.9'] });
}
function notifications(state: string) {
  return q<{ id: number; kind: string; subject: string; done_at: number | null; attempts: number; last_error: string | null; delivered_json: string; payload_json: string }>(state, 'SELECT * FROM notifications ORDER BY id');
}

describe('webhook', () => {
  it('one JSON document per event across three cron-like runs, the fields as documented; the post-hook gets RENEWED_DOMAINS and FAILED_DOMAINS', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      const token = 'tok-' + 'x'.repeat(30) + '-secret';
      const tokenFile = path.join(state, 'hook.token');
      fs.writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
      const cfg = writeConfig(state, { notify: [{ type: 'webhook', name: 'ops', url: rx.url, tokenFile, retries: 0 }] });
      const ok = 'ok.hook.test';
      const bad = 'fail.hook.test';
      expect((await issue(state, cfg, ok)).code).toBe(0);
      expect((await issue(state, cfg, bad)).code).toBe(0);
      expect(rx.got).toEqual([]); // issue tells nobody; renew does
      await unreachable(bad);

      const hookOut = path.join(state, 'post.env');
      const runs = [];
      for (const h of [1, 2, 3]) {
        const r = await renew(state, cfg, h * HOUR, ['--json', '--post-hook', `env | grep -E '^(RENEWED|FAILED)_DOMAINS=' | sort > ${hookOut}.${h}`]);
        runs.push(r);
        // The failed readiness check is the run's exit code (6), as without notifications.
        expect(r.code, r.stdout + r.stderr).toBe(6);
        const doc = JSON.parse(r.stdout);
        expect(doc.lineages.map((x: { lineage: string; action: string }) => [x.lineage, x.action])).toEqual([
          [bad, 'failed'],
          [ok, 'renewed'],
        ]);
        expect(fs.readFileSync(`${hookOut}.${h}`, 'utf8')).toBe(`FAILED_DOMAINS=${bad}\nRENEWED_DOMAINS=${ok}\n`);
      }
      // Three runs, two events (each once per lineage and kind per day): exactly two documents.
      expect(rx.got.map((g) => [g.body.event, g.body.lineage])).toEqual([
        ['renewal-failed', bad],
        ['renewed', ok],
      ]);
      expect(JSON.parse(runs[0]!.stdout).notifications.sent.map((s: { event: string }) => s.event)).toEqual(['renewal-failed', 'renewed']);
      expect(JSON.parse(runs[1]!.stdout).notifications).toEqual({ recorded: 0, sent: [] });
      for (const g of rx.got) {
        expect(g.headers['content-type']).toBe('application/json');
        expect(g.headers.authorization).toBe(`Bearer ${token}`);
        expect(Object.keys(g.body).sort()).toEqual(['at', 'ca', 'exitCode', 'expiresAt', 'event', 'headroom', 'host', 'id', 'limit', 'lineage', 'names', 'next', 'reason', 'retryAt', 'schema', 'serial', 'subject', 'summary'].sort());
        expect(g.body.schema).toBe('certctl.notify/1');
        // When the run recorded it (the test clock starts at t0 + 1 h and runs on).
        expect(Date.parse(g.body.at as string) - (t0 + HOUR)).toBeGreaterThanOrEqual(0);
        expect(Date.parse(g.body.at as string) - (t0 + HOUR)).toBeLessThan(120_000);
      }
      const [failed, renewed] = rx.got.map((g) => g.body);
      expect(failed).toMatchObject({ event: 'renewal-failed', subject: bad, names: [bad], exitCode: 6, serial: null, limit: null });
      expect(failed!.reason).toMatch(/Not ready to order/);
      expect(failed!.reason).toContain(bad);
      expect(failed!.next).toMatch(/^certctl tries again at the next renew run/);
      expect(Date.parse(failed!.expiresAt as string)).toBeGreaterThan(t0 + (VALIDITY_DAYS - 1) * DAY);
      expect(renewed).toMatchObject({ event: 'renewed', subject: ok, names: [ok], exitCode: 0, retryAt: null });
      expect(renewed!.serial).toMatch(/^[0-9a-f]+$/);
      expect(renewed!.summary).toMatch(/^ok\.hook\.test was renewed; the new certificate is valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/);
      // The ledger: one row per event, delivered to "ops", ids as sent; never the token.
      const rows = notifications(state);
      expect(rows.map((r) => [r.id, r.kind, r.subject, r.attempts])).toEqual([
        [failed!.id, 'renewal-failed', bad, 1],
        [renewed!.id, 'renewed', ok, 1],
      ]);
      expect(rows.every((r) => r.done_at !== null && JSON.parse(r.delivered_json).ops > 0)).toBe(true);
      const everything = runs.map((r) => r.stdout + r.stderr).join('') + JSON.stringify(rows) + fs.readFileSync(cfg, 'utf8');
      expect(everything).not.toContain(token);

      // A day later the period is over: the same events are sent once more.
      const later = await renew(state, cfg, DAY + 2 * HOUR);
      expect(later.code).toBe(6);
      expect(rx.got.map((g) => g.body.event)).toEqual(['renewal-failed', 'renewed', 'renewal-failed', 'renewed']);
    } finally {
      await rx.stop();
    }
  }, 240_000);

  it('a receiver that is down: the renewal still succeeds (exit 0) and the next run delivers it, once', async () => {
    const port = await freePort(); // nothing listens here yet
    const state = tempDir();
    const cfg = writeConfig(state, { notify: { period: '1d', targets: [{ type: 'webhook', url: `http://127.0.0.1:${port}/hook/certctl`, retries: 1, timeout: 5 }] } });
    const name = 'down.hook.test';
    expect((await issue(state, cfg, name)).code).toBe(0);

    const first = await renew(state, cfg, HOUR);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^renewed +down\.hook\.test: serial /m);
    expect(first.stdout).toContain(`notify: renewed for down.hook.test could not be sent to webhook-1 (http://127.0.0.1:${port}: ECONNREFUSED); the next run sends it again.`);
    let rows = notifications(state);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'renewed', done_at: null, attempts: 1, delivered_json: '{}', last_error: `webhook-1: http://127.0.0.1:${port}: ECONNREFUSED` });

    const rx = await receiver(port);
    try {
      // The next run renews again (due by --days) — its own "renewed" is within the period — and sends the first run's.
      const second = await renew(state, cfg, 2 * HOUR);
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(rx.got).toHaveLength(1);
      expect(rx.got[0]!.body).toMatchObject({ id: rows[0]!.id, event: 'renewed', lineage: name, at: JSON.parse(rows[0]!.payload_json).at });
      rows = notifications(state);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ attempts: 2, last_error: null });
      expect(rows[0]!.done_at).not.toBeNull();
      const third = await renew(state, cfg, 3 * HOUR);
      expect(third.code).toBe(0);
      expect(rx.got).toHaveLength(1);
    } finally {
      await rx.stop();
    }
  }, 240_000);
});

describe('webhook, hostile', () => {
  it('killed while the webhook is being sent: the next run sends the same notification (same id) and records it delivered', async () => {
    const bodies: Record<string, unknown>[] = [];
    let arrived!: () => void;
    const first = new Promise<void>((r) => (arrived = r));
    let hold = true;
    const server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        if (hold) {
          hold = false;
          arrived(); // never answered: the test kills certctl here
          return;
        }
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as { port: number }).port;
      const state = tempDir();
      const cfg = writeConfig(state, { notify: [{ type: 'webhook', url: `http://127.0.0.1:${port}/x`, timeout: 60 }] });
      const name = 'kill.hook.test';
      expect((await issue(state, cfg, name)).code).toBe(0);
      const run = startCli(['--state-dir', state, '--config', cfg, 'renew', '--no-random-sleep', '--days', '29.99', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)], { CERTCTL_TEST_NOW: at(HOUR) });
      await first;
      run.child.kill('SIGKILL');
      await run.exited;
      // The renewal was stored before the notification was sent; the row is recorded, not delivered.
      expect(q<{ n: number }>(state, `SELECT count(*) AS n FROM certificates WHERE lineage = '${name}'`)[0]!.n).toBe(2);
      expect(notifications(state).map((r) => [r.kind, r.done_at])).toEqual([['renewed', null]]);

      const next = await renew(state, cfg, 2 * HOUR);
      expect(next.code, next.stdout + next.stderr).toBe(0);
      // Sent again with the same id (at least once: a receiver that must not act twice keys on the id).
      expect(bodies.map((b) => [b.event, b.id])).toEqual([
        ['renewed', bodies[0]!.id],
        ['renewed', bodies[0]!.id],
      ]);
      expect(notifications(state)[0]!.done_at).not.toBeNull();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 240_000);

  it('the token file missing when the message is sent: a failed delivery naming the file, the renewal exit 0, sent once the file is back', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      const tokenFile = path.join(state, 'rotating.token');
      const cfg = writeConfig(state, { notify: [{ type: 'webhook', url: rx.url, tokenFile }] });
      const name = 'token.hook.test';
      expect((await issue(state, cfg, name)).code).toBe(0); // the config is valid without the file: it is read when sending
      const r = await renew(state, cfg, HOUR);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`notify: renewed for ${name} could not be sent to webhook-1 (cannot read the webhook token file ${tokenFile} (ENOENT)); the next run sends it again.`);
      expect(rx.got).toEqual([]);
      fs.writeFileSync(tokenFile, 'rotated-token-0123456789\n', { mode: 0o600 });
      expect((await renew(state, cfg, 2 * HOUR)).code).toBe(0);
      expect(rx.got.map((g) => [g.body.event, g.headers.authorization])).toEqual([['renewed', 'Bearer rotated-token-0123456789']]);
    } finally {
      await rx.stop();
    }
  }, 240_000);

  it('a target that is down is tried once per run, not once per pending notification; the others stay pending', async () => {
    const port = await freePort();
    const state = tempDir();
    const cfg = writeConfig(state, { notify: { period: '1h', targets: [{ type: 'webhook', url: `http://127.0.0.1:${port}/x`, retries: 0 }] } });
    const name = 'many.hook.test';
    expect((await issue(state, cfg, name)).code).toBe(0);
    // Three runs an hour and a bit apart (period 1 h): three "renewed" notifications, none delivered.
    for (const m of [61, 122, 183]) expect((await renew(state, cfg, m * 60_000)).code).toBe(0);
    const rows = notifications(state);
    expect(rows.map((r) => [r.kind, r.done_at])).toEqual([
      ['renewed', null],
      ['renewed', null],
      ['renewed', null],
    ]);
    // Each run tried the target once, with the oldest pending notification, and left the newer ones untouched.
    expect(rows.map((r) => r.attempts)).toEqual([3, 0, 0]);
    const rx = await receiver(port);
    try {
      const r = await renew(state, cfg, 184 * 60_000); // within the period: nothing new, the three pending are sent
      expect(r.code).toBe(0);
      expect(rx.got.map((g) => g.body.id)).toEqual(rows.map((x) => x.id));
      expect(notifications(state).every((x) => x.done_at !== null)).toBe(true);
    } finally {
      await rx.stop();
    }
  }, 240_000);
});

describe('predicted block', () => {
  it('the exact-set limit frees only after the certificate expires → a notice, and 0 requests reach the CA', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      const cfg = writeConfig(state, {
        cas: { 'pebble-x': { name: 'Pebble X', directory: proxy.directoryUrl, caBundle: pebble.caBundle, caa: ['pebble-x.test'], policy: { 'duplicate-certificates': { kind: 'window', count: 1, window: '45d' } } } },
        notify: [{ type: 'webhook', url: rx.url, format: 'json' }],
      });
      const name = 'blocked.hook.test';
      const issued = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--ca', 'pebble-x', '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name]);
      expect(issued.code, issued.stdout + issued.stderr).toBe(0);
      const issuedAt = q<{ issued_at: number; not_after: number }>(state, 'SELECT issued_at, not_after FROM certificates')[0]!;
      proxy.resetObservations();

      const r = await renew(state, cfg, HOUR, ['--json']);
      expect(r.code, r.stdout + r.stderr).toBe(4);
      expect(proxy.total()).toBe(0); // nothing reached the CA: not the directory, not an order
      const line = JSON.parse(r.stdout).lineages[0];
      expect(line).toMatchObject({ lineage: name, action: 'blocked', expiresAt: new Date(issuedAt.not_after).toISOString() });
      expect(line.block.limits[0]).toMatchObject({ name: 'duplicate-certificates' });
      expect(rx.got).toHaveLength(1);
      const doc = rx.got[0]!.body;
      expect(doc).toMatchObject({ event: 'predicted-block', lineage: name, exitCode: 4, expiresAt: new Date(issuedAt.not_after).toISOString() });
      const limit = doc.limit as { name: string; scope: string; freesAt: string };
      expect(limit.name).toBe('duplicate-certificates');
      expect(limit.scope).toBe(name);
      // Frees 45 days after the spend, after the 30-day certificate has expired.
      expect(Date.parse(limit.freesAt)).toBe(issuedAt.issued_at + 45 * DAY);
      expect(doc.retryAt).toBe(limit.freesAt);
      expect(doc.summary).toMatch(/^blocked\.hook\.test will expire \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC before the CA allows its renewal: duplicate-certificates \(blocked\.hook\.test\) frees \d{4}-/);
      expect(doc.next).toMatch(/certctl sent nothing to the CA/);

      // The next hourly run: still blocked, still nothing sent, no second notice.
      const again = await renew(state, cfg, 2 * HOUR);
      expect(again.code).toBe(4);
      expect(proxy.total()).toBe(0);
      expect(rx.got).toHaveLength(1);
    } finally {
      await rx.stop();
    }
  }, 240_000);
});

describe('CA fail-over', () => {
  it('renewed at the second CA of the list → ca-failover and renewed, each once, naming both CAs and why', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      // Two CAs of the list: the same Pebble through the proxy (ca-a, exact set 1 per 45 days) and directly (ca-b).
      const cfg = writeConfig(state, {
        cas: {
          'ca-a': { name: 'Pebble via proxy', directory: proxy.directoryUrl, caBundle: pebble.caBundle, caa: ['ca-a.test'], policy: { 'duplicate-certificates': { kind: 'window', count: 1, window: '45d' } } },
          'ca-b': { name: 'Pebble direct', directory: pebble.directoryUrl, caBundle: pebble.caBundle, caa: ['ca-b.test'] },
        },
        defaults: { ca: ['ca-a', 'ca-b'] },
        notify: [{ type: 'webhook', url: rx.url }],
      });
      const name = 'fo.hook.test';
      const issued = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name]);
      expect(issued.code, issued.stdout + issued.stderr).toBe(0);
      proxy.resetObservations();
      const r = await renew(state, cfg, HOUR, ['--json']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
      expect(proxy.total()).toBe(0);
      expect(rx.got.map((g) => g.body.event)).toEqual(['renewed', 'ca-failover']);
      const fo = rx.got[1]!.body;
      expect(fo).toMatchObject({ lineage: name, ca: { ca: 'ca-b', first: 'ca-a' } });
      expect(fo.summary).toBe(`${name} was renewed at ca-b instead of ca-a, the first CA of its list.`);
      expect(fo.reason).toMatch(/^ca-a would refuse until \d{4}-.*; ca-b allows it now/);
    } finally {
      await rx.stop();
    }
  }, 240_000);
});

describe('revoked', () => {
  it('certctl revoke tells the targets: which certificate, why, that renew replaces it; the exit code stays 0', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      const cfg = writeConfig(state, { notify: [{ type: 'webhook', url: rx.url }] });
      const name = 'rv.hook.test';
      expect((await issue(state, cfg, name)).code).toBe(0);
      const serial = q<{ serial: string }>(state, 'SELECT serial FROM certificates')[0]!.serial;
      const r = await runCli(['--state-dir', state, '--config', cfg, 'revoke', '--cert-name', name, '--reason', 'keyCompromise']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(rx.got).toHaveLength(1);
      expect(rx.got[0]!.body).toMatchObject({ event: 'revoked', lineage: name, subject: name, serial, names: [name] });
      expect(rx.got[0]!.body.summary).toBe(`The certificate ${serial} (${name}) was revoked, reason keyCompromise.`);
      expect(rx.got[0]!.body.next).toMatch(/^the lineage rv\.hook\.test is due for renewal now: the next certctl renew replaces it/);
      expect(notifications(state)[0]).toMatchObject({ kind: 'revoked', subject: name });
    } finally {
      await rx.stop();
    }
  }, 120_000);
});

describe('headroom low', () => {
  it('a registered domain with few certificate slots left → one headroom-low notice (per domain, per period)', async () => {
    const rx = await receiver();
    try {
      const state = tempDir();
      const cfg = writeConfig(state, {
        cas: { 'pebble-h': { name: 'Pebble H', directory: proxy.directoryUrl, caBundle: pebble.caBundle, caa: ['pebble-h.test'], policy: { 'certificates-per-domain': { kind: 'window', count: 4, window: '7d' } } } },
        notify: { headroomBelow: 2, targets: [{ type: 'webhook', url: rx.url, events: ['headroom-low'] }] },
      });
      const issued = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--ca', 'pebble-h', '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', 'www.headroom.test']);
      expect(issued.code, issued.stdout + issued.stderr).toBe(0);
      // Renewed at +1 h: 2 of 4 used, 2 left (≤ headroomBelow) → the notice; renewed again at +2 h: 3 used, no second notice.
      for (const h of [1, 2]) {
        const r = await renew(state, cfg, h * HOUR);
        expect(r.code, r.stdout + r.stderr).toBe(0);
      }
      expect(rx.got).toHaveLength(1);
      const doc = rx.got[0]!.body;
      expect(doc).toMatchObject({ event: 'headroom-low', subject: 'headroom.test', lineage: 'www.headroom.test', names: ['headroom.test'] });
      expect(doc.headroom).toMatchObject({ domain: 'headroom.test', limit: 'certificates-per-domain', available: 2, capacity: 4 });
      expect(doc.summary).toMatch(/^headroom\.test has 2 of 4 certificates left at pebble-h \(certificates-per-domain\)/);
      // Only the kinds this target asked for: the renewals were not sent to it.
      expect(notifications(state).map((r) => r.kind)).toEqual(['headroom-low']);
    } finally {
      await rx.stop();
    }
  }, 240_000);
});

describe('e-mail', () => {
  it('a real SMTP server on loopback (smtp-server; STARTTLS with a test certificate, AUTH) receives the message: lineage, reason, next step', async () => {
    const dir = tempDir();
    const key = path.join(dir, 'smtp-key.pem');
    const cert = path.join(dir, 'smtp-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const password = 'smtp-pass-' + 'y'.repeat(20);
    const mails: { from: string; to: string[]; data: string; secure: boolean; user: string }[] = [];
    const auths: string[] = [];
    const server = new SMTPServer({
      key: fs.readFileSync(key),
      cert: fs.readFileSync(cert),
      secure: false,
      authMethods: ['PLAIN', 'LOGIN'],
      disabledCommands: [],
      onAuth(auth, session, cb) {
        auths.push(`${auth.username}:${session.secure ? 'tls' : 'plain'}`);
        if (auth.username === 'certctl' && auth.password === password) cb(null, { user: 'certctl' });
        else cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (d: Buffer) => (data += d.toString()));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), data, secure: session.secure, user: String(session.user) });
          cb();
        });
      },
    });
    server.on('error', () => {});
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
    try {
      const state = tempDir();
      const passwordFile = path.join(state, 'smtp.password');
      fs.writeFileSync(passwordFile, password, { mode: 0o600 });
      const cfg = writeConfig(state, {
        notify: [{ type: 'email', host: '127.0.0.1', port, security: 'starttls', caBundle: cert, user: 'certctl', passwordFile, from: 'certctl@ops.example', to: ['oncall@ops.example', 'admin@ops.example'] }],
      });
      const name = 'mail.hook.test';
      expect((await issue(state, cfg, name)).code).toBe(0);
      await unreachable(name);
      const r = await renew(state, cfg, HOUR);
      expect(r.code, r.stdout + r.stderr).toBe(6);
      expect(mails).toHaveLength(1);
      const m = mails[0]!;
      expect(m).toMatchObject({ from: 'certctl@ops.example', to: ['oncall@ops.example', 'admin@ops.example'], secure: true, user: 'certctl' });
      expect(auths).toEqual(['certctl:tls']); // authenticated only after STARTTLS
      expect(m.data).toMatch(/^Subject: certctl: renewal failed: mail\.hook\.test$/m);
      expect(m.data).toMatch(/^X-Certctl-Event: renewal-failed$/m);
      const body = m.data.replace(/=\r?\n/g, ''); // quoted-printable soft breaks
      expect(body).toMatch(/Lineage: +mail\.hook\.test \(mail\.hook\.test\)/);
      expect(body).toMatch(/Why: +Not ready to order/);
      expect(body).toMatch(/Next: +certctl tries again at the next renew run/);
      expect(r.stdout + r.stderr + JSON.stringify(notifications(state))).not.toContain(password);
      expect(notifications(state)[0]!.done_at).not.toBeNull();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 240_000);
});

describe('command target', () => {
  it('hostile text from the CA reaches the command in its environment only; argv as configured; no shell', async () => {
    const state = tempDir();
    const out = path.join(state, 'command.json');
    const script = path.join(state, 'record.cjs');
    fs.writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ argv: process.argv.slice(2), env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CERTCTL_EVENT'))) }));\n`);
    const pwned = path.join(state, 'PWNED');
    const hostileArg = `--note=$(touch ${pwned}) \`touch ${pwned}\`; touch ${pwned}`;
    const cfg = writeConfig(state, { notify: [{ type: 'command', name: 'pager', command: [process.execPath, script, hostileArg, '*'] }] });
    const name = 'cmd.hook.test';
    expect((await issue(state, cfg, name)).code).toBe(0);
    const detail = `Too many new orders $(touch ${pwned}) \`touch ${pwned}\` ; touch ${pwned} | tee ${pwned} "quoted" 'single' \\ back`;
    proxy.rateLimit('newOrder', { seconds: 3 * 3600, detail, times: 1 });
    const r = await renew(state, cfg, HOUR);
    expect(r.code, r.stdout + r.stderr).toBe(5); // the CA's 429
    const got = JSON.parse(fs.readFileSync(out, 'utf8')) as { argv: string[]; env: Record<string, string> };
    expect(got.argv).toEqual([hostileArg, '*']);
    expect(got.env.CERTCTL_EVENT).toBe('renewal-failed');
    expect(got.env.CERTCTL_EVENT_LINEAGE).toBe(name);
    expect(got.env.CERTCTL_EVENT_NAMES).toBe(name);
    expect(got.env.CERTCTL_EVENT_REASON).toContain(detail);
    expect(got.env.CERTCTL_EVENT_NEXT).toMatch(/^the CA refuses until \d{4}-/);
    expect(Date.parse(got.env.CERTCTL_EVENT_RETRY_AT!)).toBeGreaterThan(t0 + 2 * HOUR);
    expect(JSON.parse(got.env.CERTCTL_EVENT_JSON!)).toMatchObject({ event: 'renewal-failed', lineage: name, exitCode: 5 });
    expect(fs.existsSync(pwned)).toBe(false);
  }, 240_000);
});

describe('certctl notify test', () => {
  it('sends a test message to each target and reports each result; exit 1 when one fails, 2 without targets', async () => {
    const rx = await receiver();
    try {
      const dir = tempDir();
      const cfg = writeConfig(dir, {
        notify: [
          { type: 'webhook', name: 'slack', url: rx.url, format: 'slack' },
          { type: 'webhook', name: 'ntfy', url: rx.url, format: 'ntfy' },
          { type: 'command', name: 'broken', command: ['/bin/false'] },
        ],
      });
      // ntfy's body is text: the receiver here parses JSON, so test it on its own below.
      const slack = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test', '--target', 'slack', 'broken', '--json']);
      expect(slack.code, slack.stderr).toBe(1);
      const doc = JSON.parse(slack.stdout);
      expect(doc.schema).toBe('certctl.notify-test/1');
      expect(doc.results).toEqual([
        { target: 'slack', type: 'webhook', ok: true, detail: `http://127.0.0.1:${rx.port} answered 204`, attempts: 1 },
        { target: 'broken', type: 'command', ok: false, detail: '/bin/false exited 1', attempts: 1 },
      ]);
      expect(rx.got).toHaveLength(1);
      expect(Object.keys(rx.got[0]!.body)).toEqual(['text']);
      expect(rx.got[0]!.body.text).toMatch(/^\*certctl: test message: notify test\*\n/);
      expect(fs.existsSync(path.join(dir, 'ledger.sqlite')) ? q(dir, 'SELECT * FROM notifications') : []).toEqual([]);

      const text = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test', '--target', 'slack']);
      expect(text.code).toBe(0);
      expect(text.stdout + text.stderr).toMatch(/^sent {2}slack \(webhook\): http:\/\/127\.0\.0\.1:\d+ answered 204$/m);

      const unknown = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test', '--target', 'nope']);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/No notify target is named "nope"; the config has: slack, ntfy, broken\./);
      const none = await runCli(['--state-dir', dir, '--config', writeConfig(tempDir(), {}), 'notify', 'test']);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/has no notify: targets, so there is nothing to test/);
      expect(rx.got).toHaveLength(2);
    } finally {
      await rx.stop();
    }
  }, 60_000);

  it('ntfy: the text as the body, title, priority and tags as headers', async () => {
    const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (server.address() as { port: number }).port;
      const dir = tempDir();
      const cfg = writeConfig(dir, { notify: [{ type: 'webhook', url: `http://127.0.0.1:${port}/certctl-alerts`, format: 'ntfy' }] });
      const r = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test']);
      expect(r.code, r.stderr).toBe(0);
      expect(got).toHaveLength(1);
      expect(got[0]!.headers).toMatchObject({ title: 'certctl: test message: notify test', priority: '3', tags: 'certctl,test', 'content-type': 'text/plain; charset=utf-8' });
      expect(got[0]!.body).toMatch(/^certctl on .*: test message to check this notification target\n\nWhy: +certctl notify test was run\nNext: +nothing/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 60_000);
});

describe('bad notify config', () => {
  it('each problem with its line and field, exit 2, nothing sent', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      file,
      [
        'notify:',
        '  - type: webhook',
        '    url: https://user:pw@hooks.example/x',
        '  - type: email',
        '    host: smtp.example',
        '    user: certctl',
        '    from: certctl@example.org',
        '    to: [ops@example.org]',
        '  - type: command',
        '    command: "notify-send hi"',
        '  - type: pager',
        '  - type: webhook',
        '    url: http://hooks.example/x',
        '    tokenEnv: HOOK_TOKEN',
        '  - type: email',
        '    host: smtp.example',
        '    security: none',
        '    user: u',
        '    passwordEnv: SMTP_PW',
        '    from: certctl@example.org',
        '    to: ops@example.org',
        '',
      ].join('\n'),
    );
    const r = await runCli(['--state-dir', dir, '--config', file, 'notify', 'test']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:3: notify[0].url: expected an http:// or https:// URL without user:password (use tokenFile for a credential)`);
    expect(r.stderr).toContain(`${file}:4: notify[1]: the SMTP password: give passwordFile (a file, mode 0600) or passwordEnv (an environment variable); it is never written in the config`);
    expect(r.stderr).toContain(`${file}:10: notify[2].command: expected the program and its arguments as a list of strings`);
    expect(r.stderr).toContain(`${file}:11: notify[3].type: expected webhook, email or command, got string "pager"`);
    expect(r.stderr).toContain(`${file}:13: notify[4].url: a bearer token is sent only over https://`);
    expect(r.stderr).toContain(`${file}:17: notify[5].security: a password is never sent without TLS: use starttls or tls`);
    expect(r.stderr).not.toContain('pw@');
  }, 60_000);
});
