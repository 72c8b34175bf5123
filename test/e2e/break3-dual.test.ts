/**
 * break3: a dual lineage (RSA + ECDSA, two orders driven side by side) where the CA refuses one
 * part's newOrder with a 429 while the other part's order is under way. What the CA saw must
 * be honest: the part in flight is not abandoned halfway (its challenge torn down while the CA
 * validates it — a failed authorization), and the next run finishes it rather than ordering anew.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;

beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

const args = (state: string, name: string) => [
  '--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot,
  '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '--key-type', 'dual', '-d', name,
];

describe('dual lineage: one part refused with a 429 while the other is in flight', () => {
  it('the other part is not torn down mid-validation; the next run finishes it and orders only the refused part', async () => {
    const state = tempDir();
    const name = 'dual429.example.test';
    proxy.resetObservations();
    proxy.rateLimit('newOrder', { seconds: 60, detail: 'too many new orders (300) from this account in the last 3h0m0s', times: 1 });
    const r = await runCli(args(state, name));
    expect(r.code, r.stderr).toBe(5);
    // One newOrder refused, the other created; the created one was driven to its end, not abandoned.
    expect(proxy.orders.map((o) => o.status)).toEqual([429, 201]);
    expect(proxy.issued).toBe(1);
    const after = q<{ role: string; state: string; step: string }>(state, 'SELECT role, state, step FROM orders ORDER BY id');
    expect(after.filter((o) => o.state === 'failed')).toHaveLength(1);
    const kept = after.find((o) => o.state !== 'failed')!;
    expect(kept.step).toBe('downloaded');

    // The next run (after the Retry-After) finishes it: the refused part is ordered again, the other is not.
    proxy.clearFaults();
    proxy.resetObservations();
    const again = await runCli(args(state, name), { CERTCTL_TEST_NOW: new Date(Date.now() + 120_000).toISOString() });
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.orders.map((o) => o.status)).toEqual([201]);
    expect(proxy.issued).toBe(1);
    expect(q(state, "SELECT id FROM orders WHERE state NOT IN ('done', 'failed')")).toEqual([]);
    expect(q<{ n: number }>(state, 'SELECT count(*) AS n FROM certificates')[0]!.n).toBe(2);
  }, 180_000);
});
