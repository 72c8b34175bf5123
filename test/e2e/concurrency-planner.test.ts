/**
 * The planner holds under concurrency: `apply --concurrency 8` with 25
 * certificates under one registered domain issues exactly the 20 the
 * unknown-CA policy allows per week and blocks the rest before anything is
 * sent — orders in flight count against the limit — and eight requests
 * starting at once on an empty state directory register one ACME account.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Pebble } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa()));
afterAll(() => stopOneCa({ pebble, proxy }));

describe('apply --concurrency respects the planner', () => {
  it('25 certificates for one registered domain, 8 at a time: 20 issued, 5 blocked, one account', async () => {
    const dir = tempDir('certctl-conc-');
    const state = path.join(dir, 'state');
    const config = path.join(dir, 'config.yaml');
    const certs = Array.from({ length: 25 }, (_, i) => `  - domains: [host${i}.conc.example.test]`).join('\n');
    fs.writeFileSync(
      config,
      `defaults:
  server: ${proxy.directoryUrl}
  caBundle: ${pebble.caBundle}
  webroot: ${pebble.webroot}
  resolver: ${JSON.stringify(pebble.dns.resolver)}
  httpPort: ${pebble.httpPort}
  concurrency: 8
certificates:
${certs}
`,
    );
    const r = await runCli(['--state-dir', state, '--config', config, '--json', 'apply'], { XDG_CONFIG_HOME: '/nonexistent' }, 300_000);
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout);
    const actions = doc.certificates.map((c: { action: string }) => c.action);
    expect(actions.filter((a: string) => a === 'issued')).toHaveLength(20);
    expect(actions.filter((a: string) => a === 'blocked')).toHaveLength(5);
    expect(proxy.issued).toBe(20);
    expect(proxy.requests.filter((x) => x.endpoint === 'newAccount' && x.status === 201)).toHaveLength(1);
    const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
    expect((db.prepare('SELECT COUNT(*) AS n FROM certificates').get() as { n: number }).n).toBe(20);
    expect((db.prepare('SELECT COUNT(*) AS n FROM accounts').get() as { n: number }).n).toBe(1);
    expect((db.prepare("SELECT COUNT(*) AS n FROM orders WHERE state = 'open'").get() as { n: number }).n).toBe(0);
    db.close();
  });
});
