/**
 * `certctl apply` end to end against a real Pebble: the config file's
 * certificates are issued (two at a time), then a second apply issues
 * nothing — every set is held — and the ledger has exactly one certificate
 * per declared set.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir } from '../helpers/cli.js';

let pebble: Pebble;
beforeAll(async () => {
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

describe('certctl apply against Pebble', () => {
  it('issues what is missing, then holds it: a second apply orders nothing', async () => {
    const dir = tempDir('certctl-apply-');
    const state = path.join(dir, 'state');
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      config,
      `defaults:
  server: ${pebble.directoryUrl}
  caBundle: ${pebble.caBundle}
  webroot: ${pebble.webroot}
  resolver: ${JSON.stringify(pebble.dns.resolver)}
  httpPort: ${pebble.httpPort}
  email: ops@example.test
  concurrency: 2
certificates:
  - domains: [apply.example.test, www.apply.example.test]
  - name: api
    domains: [api.apply.example.test]
    keyType: rsa:2048
`,
    );
    const env = { XDG_CONFIG_HOME: '/nonexistent' };
    const first = await runCli(['--state-dir', state, '--config', config, '--json', 'apply'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.apply/1', exitCode: 0, dryRun: false });
    expect(doc.certificates.map((c: { name: string; action: string }) => [c.name, c.action])).toEqual([
      ['apply.example.test', 'issued'],
      ['api', 'issued'],
    ]);
    for (const c of doc.certificates) expect(c.serial).toMatch(/^[0-9a-f]+$/);
    expect(fs.existsSync(path.join(state, 'live', 'api', 'fullchain.pem'))).toBe(true);

    const again = await runCli(['--state-dir', state, '--config', config, 'apply'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^held\s+apply\.example\.test /m);
    expect(again.stdout).toMatch(/^held\s+api /m);
    expect(again.stdout).toContain('2 declared: 2 held.');

    const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
    const rows = db.prepare('SELECT lineage, COUNT(*) AS n FROM certificates GROUP BY lineage ORDER BY lineage').all();
    const orders = db.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number };
    db.close();
    expect(rows).toEqual([
      { lineage: 'api', n: 1 },
      { lineage: 'apply.example.test', n: 1 },
    ]);
    expect(orders.n).toBe(2);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
