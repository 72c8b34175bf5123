/**
 * A fleet's shared ledger that cannot be reached cannot record a notification, but a person must
 * still hear of it: renew (exit 10, one sentence, nothing changed) sends `ledger-unreachable` to
 * the config's targets from memory, once per period from this state directory, and retries a
 * delivery that failed at the next run. A real local HTTP receiver; the ledger a PostgreSQL URL
 * on a loopback port where nothing listens (connection refused, as a database that is down).
 */
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { runCli, tempDir } from '../helpers/cli.js';

interface Got { body: Record<string, unknown> }
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function receiver(): Promise<{ url: string; got: Got[] }> {
  const got: Got[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      got.push({ body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(204).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`, got };
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const HOUR = 3_600_000;
const T0 = Date.parse('2027-03-01T10:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/**
 * A state dir whose config has `notify`, and a certctl run on it with a PostgreSQL ledger nobody
 * answers, as host `host`, at T0 + `ms` on the test clock.
 */
async function downHost(notify: Record<string, unknown>, host: string) {
  const state = tempDir();
  const cfg = path.join(state, 'config.yaml');
  fs.writeFileSync(cfg, JSON.stringify({ notify }));
  const ledger = `postgres://certctl@127.0.0.1:${await closedPort()}/certctl`;
  const run = (command: string[], ms = 0) => runCli(['--state-dir', state, '--config', cfg, '--ledger', ledger, '--host', host, ...command], { CERTCTL_TEST_NOW: at(ms) });
  return { state, ledger, run, renew: (ms = 0) => run(['renew', '--no-random-sleep'], ms) };
}

describe('notify: the shared ledger unreachable', () => {
  it('renew exits 10 and tells the webhook once per period (from memory, remembered in the state dir); a later period tells it again', async () => {
    const rx = await receiver();
    const { state, renew } = await downHost({ period: '6h', targets: [{ type: 'webhook', name: 'ops', url: rx.url, retries: 0 }] }, 'web1');

    const first = await renew(0);
    expect(first.code, first.stderr).toBe(10);
    expect(first.stderr.split('\n')[0]).toMatch(/^error: The ledger postgres:\/\/certctl@127\.0\.0\.1:\d+\/certctl cannot be reached \(ECONNREFUSED\): certctl changed nothing/);
    expect(rx.got).toHaveLength(1);
    expect(rx.got[0]!.body).toMatchObject({ event: 'ledger-unreachable', subject: 'web1', lineage: null, host: 'web1' });
    expect(String(rx.got[0]!.body.reason)).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    const file = path.join(state, 'notify-unrecorded.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    // The test clock starts at the time given and runs on: the moment sent is within the run.
    const sentAt = () => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
    expect(Object.keys(sentAt())).toEqual(['ledger-unreachable web1']);
    expect(sentAt()['ledger-unreachable web1']).toBeGreaterThanOrEqual(T0);
    expect(sentAt()['ledger-unreachable web1']).toBeLessThan(T0 + 60_000);

    // The next cron run within the period: still exit 10, nothing sent again.
    const second = await renew(HOUR);
    expect(second.code).toBe(10);
    expect(rx.got).toHaveLength(1);
    // After the period, while it lasts: told again.
    const third = await renew(7 * HOUR);
    expect(third.code).toBe(10);
    expect(rx.got).toHaveLength(2);
    expect(sentAt()['ledger-unreachable web1']).toBeGreaterThanOrEqual(T0 + 7 * HOUR);
  }, 60_000);

  it('a receiver that is down too: exit 10 all the same, a line about it, nothing remembered — the next run sends it', async () => {
    const hookPort = await closedPort();
    const { state, ledger, renew } = await downHost({ targets: [{ type: 'webhook', url: `http://127.0.0.1:${hookPort}/hook`, retries: 0 }] }, 'web2');
    const r = await renew();
    expect(r.code).toBe(10);
    expect(r.stdout + r.stderr).toContain(`notify: ledger-unreachable for web2 could not be sent to webhook-1 (http://127.0.0.1:${hookPort}: ECONNREFUSED); the next run tries again.`);
    expect(fs.existsSync(path.join(state, 'notify-unrecorded.json'))).toBe(false);
    // No config targets wanting the kind: nothing at all (the events: filter).
    const only = path.join(state, 'only.yaml');
    fs.writeFileSync(only, JSON.stringify({ notify: { targets: [{ type: 'webhook', url: `http://127.0.0.1:${hookPort}/hook`, events: ['renewal-failed'] }] } }));
    const r2 = await runCli(['--state-dir', state, '--config', only, '--ledger', ledger, 'renew', '--no-random-sleep'], { CERTCTL_TEST_NOW: at(0) });
    expect(r2.code).toBe(10);
    expect(r2.stdout + r2.stderr).not.toContain('notify:');
  }, 60_000);

  it('a damaged notify-unrecorded.json is read as nothing sent (one message more, never one fewer)', async () => {
    const rx = await receiver();
    const { state, renew } = await downHost({ targets: [{ type: 'webhook', url: rx.url, retries: 0 }] }, 'web3');
    fs.writeFileSync(path.join(state, 'notify-unrecorded.json'), '{"ledger-unreachable web3": "yesterday", ');
    const r = await renew();
    expect(r.code).toBe(10);
    expect(rx.got).toHaveLength(1);
    expect(Object.keys(JSON.parse(fs.readFileSync(path.join(state, 'notify-unrecorded.json'), 'utf8')))).toEqual(['ledger-unreachable web3']);
  }, 60_000);

  it('certctl daemon started while the ledger is down: exit 10, and the webhook is told', async () => {
    const rx = await receiver();
    const { run } = await downHost({ targets: [{ type: 'webhook', url: rx.url, retries: 0 }] }, 'web4');
    const r = await run(['daemon', '--schedule', '* * * * *']);
    expect(r.code).toBe(10);
    expect(rx.got.map((g) => [g.body.event, g.body.subject])).toEqual([['ledger-unreachable', 'web4']]);
  }, 60_000);
});
