/**
 * apply at scale (issue 19, BENCHMARKS.md "bulk at scale"): many lineages in one
 * process share one keep-alive connection pool to the CA (an agent per session
 * built a new TLS context from ~140 root certificates for every connection: 40 %
 * of apply's CPU), the custom policy in the config is what the planner holds to,
 * and a SIGKILL in the middle of `apply --concurrency 16` followed by another
 * apply issues every certificate exactly once, none half-written.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pebble } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, startCli, tempDir, q } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

/** A state dir with its ACME account and a config of `names` under a policy of `perDomain` per registered domain per week. */
async function setup(names: string[], perDomain: number): Promise<{ state: string; config: string }> {
  const state = tempDir('certctl-bulk-');
  const config = path.join(state, 'certctl.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      defaults: { server: proxy.directoryUrl, caBundle: pebble.caBundle, webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@example.test' },
      policies: { default: { 'certificates-per-domain': { kind: 'window', count: perDomain, window: '7d' }, 'new-orders': { kind: 'window', count: 10000, window: '3h' }, 'pending-orders': { kind: 'concurrent', count: 64, lifetime: '7d' } } },
      certificates: names.map((n) => ({ domains: [n] })),
    }),
  );
  const acct = await runCli(['--state-dir', state, '--config', config, 'issue', '-d', 'acct.acct-bulk.test']);
  expect(acct.code, acct.stderr).toBe(0);
  return { state, config };
}
const apply = (s: { state: string; config: string }, conc: number) => ['--state-dir', s.state, '--config', s.config, '--json', 'apply', '--concurrency', String(conc)];

/** live/ complete and its key matching its certificate; one certificate row per lineage. */
function whole(state: string, names: string[]): string[] {
  const bad: string[] = [];
  const rows = new Map(q<{ lineage: string; n: number }>(state, "SELECT lineage, COUNT(*) AS n FROM certificates WHERE lineage LIKE 'c%' GROUP BY lineage").map((r) => [r.lineage, r.n]));
  for (const n of names) {
    if (rows.get(n) !== 1) bad.push(`${n}: ${rows.get(n) ?? 0} certificate rows`);
    try {
      const live = path.join(state, 'live', n);
      for (const f of ['cert.pem', 'chain.pem']) fs.accessSync(path.join(live, f));
      const key = crypto.createPublicKey(fs.readFileSync(path.join(live, 'privkey.pem')));
      const cert = new crypto.X509Certificate(fs.readFileSync(path.join(live, 'fullchain.pem')));
      if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(key.export({ type: 'spki', format: 'der' }))) bad.push(`${n}: key does not match`);
    } catch (err) {
      bad.push(`${n}: ${(err as Error).message}`);
    }
  }
  return bad;
}

describe('apply at scale', () => {
  it('20 lineages under 4 registered domains, 4 at a time: all issued over a handful of reused TLS connections', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `c${i}.d${i % 4}-reuse.test`);
    const s = await setup(names, 20);
    proxy.resetObservations();
    const r = await runCli(apply(s, 4));
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { certificates: { action: string }[] };
    expect(doc.certificates.filter((c) => c.action === 'issued')).toHaveLength(20);
    expect(proxy.issued).toBe(20);
    // 4 workers, up to 2 requests each at once (parallel authorizations of one lineage are 1 here):
    // one new connection per lineage (or more) was the agent-per-session pool.
    expect(proxy.tlsConnections).toBeGreaterThan(0);
    expect(proxy.tlsConnections).toBeLessThanOrEqual(8);
    expect(whole(s.state, names)).toEqual([]);
  });

  it('policy 5 per registered domain, 12 asked for one domain at --concurrency 16: 5 issued, 7 blocked before anything is sent', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `c${i}.one-bulk.test`);
    const s = await setup(names, 5);
    proxy.resetObservations();
    const r = await runCli(apply(s, 16));
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout) as { certificates: { action: string }[] };
    expect(doc.certificates.filter((c) => c.action === 'issued')).toHaveLength(5);
    expect(doc.certificates.filter((c) => c.action === 'blocked')).toHaveLength(7);
    expect(proxy.counts.newOrder).toBe(5);
    expect(proxy.issued).toBe(5);
  });

  it('SIGKILL of apply --concurrency 16 after 10 of 30 certificates, then apply again: each issued once at the CA, no lineage half-written', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `c${i}.d${i % 3}-kill.test`);
    const s = await setup(names, 30);
    proxy.resetObservations();
    const run = startCli(apply(s, 16));
    // Killed the moment the CA has issued the 10th (proxy counter), whatever the others are doing.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (proxy.issued >= 10 || run.child.exitCode !== null) {
          clearInterval(check);
          run.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
    });
    await run.exited;
    const killed = await run.result;
    expect(killed.signal).toBe('SIGKILL');
    expect(proxy.issued).toBeLessThan(30);
    const again = await runCli(apply(s, 16));
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.issued).toBe(30);
    expect(whole(s.state, names)).toEqual([]);
    // Nothing left in flight: every order done (an order whose newOrder answer the kill took is 'possible').
    expect(q<{ n: number }>(s.state, "SELECT COUNT(*) AS n FROM orders WHERE state = 'open'")[0]!.n).toBe(0);
  });
});
