/**
 * The CA lost certctl's account (issue #12): Pebble restarted behind the same
 * directory URL forgets every account, order and certificate and answers
 * "Account … not found" (accountDoesNotExist, HTTP 400) for ever. certctl
 * says so, registers again with the same key in the same ledger row (so the
 * old account's orders and problems keep counting for the rate limits), and
 * an order journalled under the lost account is closed, not retried for ever.
 *
 * The restart: certctl's ACME test proxy is stopped with its Pebble and a new
 * proxy is started on the same port, presenting the same TLS certificate, in
 * front of a fresh Pebble — the same CA URL, a CA with no memory.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
/** The TLS identity the proxy presents across the restart (certctl trusts this file). */
let tls: { cert: string; key: string };
beforeAll(async () => {
  pebble = await startPebble({ nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  const dir = tempDir('certctl-proxy-tls-');
  tls = { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') };
  fs.copyFileSync(pebble.tlsCert, tls.cert);
  fs.copyFileSync(pebble.tlsKey, tls.key);
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});

async function restartCa(): Promise<void> {
  const port = proxy.port;
  await proxy.stop();
  await pebble.stop();
  pebble = await startPebble({ nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, tlsCert: tls.cert, tlsKey: tls.key, port });
}

function issueArgs(state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', tls.cert, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name];
}

describe('the CA lost the account', () => {
  it('registers again (same key, same ledger row, history kept); an order of the lost account is closed, then ordered anew once', async () => {
    const state = tempDir();
    const first = await runCli(issueArgs(state, 'before.example.test'));
    expect(first.code, first.stderr).toBe(0);
    // An order left in flight under the old account (SIGKILLed right after newOrder, at its authorization fetch).
    const killed = await killedAt(proxy, 'authz', 'before', issueArgs(state, 'inflight.example.test'));
    expect(killed.fired, killed.stderr).toBe(true);
    expect(killed.signal).toBe('SIGKILL');
    expect(q(state, "SELECT step FROM orders WHERE state = 'open'")).toEqual([{ step: 'created' }]);
    const before = q<{ id: number; account_url: string }>(state, 'SELECT id, account_url FROM accounts');
    expect(before).toHaveLength(1);
    const directoryUrl = proxy.directoryUrl;

    await restartCa();
    expect(proxy.directoryUrl).toBe(directoryUrl);

    // A new name: the CA says the account does not exist; certctl says so, registers again, issues.
    const r = await runCli(issueArgs(state, 'after.example.test'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/The CA no longer knows account https:\/\/127\.0\.0\.1:\d+\/my-account\/\S+; registered again as https:\/\/127\.0\.0\.1:\d+\/my-account\/\S+ \(same key/);
    expect(proxy.requests.filter((x) => x.endpoint === 'newAccount' && x.status === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
    const after = q<{ id: number; account_url: string }>(state, 'SELECT id, account_url FROM accounts');
    expect(after).toHaveLength(1);
    expect(after[0]!.id).toBe(before[0]!.id);
    expect(after[0]!.account_url).not.toBe(before[0]!.account_url);
    // The old account's history stays in the ledger, under the same account row.
    expect(q<{ n: number }>(state, `SELECT COUNT(*) AS n FROM orders WHERE account_id = ${before[0]!.id}`)[0]!.n).toBe(3);
    expect(q(state, "SELECT id FROM problems WHERE type = 'urn:ietf:params:acme:error:accountDoesNotExist'")).toHaveLength(1);

    // The order journalled under the lost account: the CA no longer has it → closed (exit 8, one sentence).
    proxy.resetObservations();
    const resumed = await runCli(issueArgs(state, 'inflight.example.test'));
    expect(resumed.code).toBe(8);
    expect(resumed.stderr).toMatch(/The CA no longer has order \d+ .*so the order is closed/);
    expect(resumed.stderr).toMatch(/Run the command again/);
    expect(proxy.requests.filter((x) => x.endpoint === 'newAccount')).toHaveLength(0);
    expect(q<{ state: string }>(state, "SELECT state FROM orders WHERE lineage = 'inflight.example.test'")).toEqual([{ state: 'failed' }]);
    // …and the next run orders it anew: one order, one certificate.
    const again = await runCli(issueArgs(state, 'inflight.example.test'));
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
  });
});
