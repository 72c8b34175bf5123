/**
 * `certctl sync ct` and `certctl plan`'s CT status on the built CLI, against
 * a local crt.sh stand-in (test/unit/ct-server.ts), and — with Pebble — a
 * certificate certctl issued that CT also reports, counted once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { startCtServer, manyRows, type CtServer } from '../unit/ct-server.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

const MIN = 60_000;
let srv: CtServer;
let pebble: Pebble;
beforeAll(async () => {
  srv = await startCtServer();
  pebble = await startPebble();
});
afterAll(async () => {
  await srv?.stop();
  await pebble?.stop();
});

/** crt.sh's time format: UTC, no "Z". */
const ct = (ms: number) => new Date(ms).toISOString().replace('Z', '');
const FAST = ['--request-timeout', '1', '--total-timeout', '10', '--retries', '2', '--backoff', '0.05'];


/** Three issuances in the last half hour (two as precertificate + certificate pairs, one without entry timestamp), plus one by another CA. */
function recentRows(domain: string, now: number): unknown[] {
  const le = "C=US, O=Let's Encrypt, CN=R11";
  const row = (id: number, serial: string, names: string[], entry: number | null, notBefore: number, issuer = le) => ({
    issuer_ca_id: 295815,
    issuer_name: issuer,
    common_name: names[0],
    name_value: names.join('\n'),
    id,
    entry_timestamp: entry === null ? null : ct(entry),
    not_before: ct(notBefore),
    not_after: ct(notBefore + 90 * 86_400_000),
    serial_number: serial,
    result_count: 1,
  });
  return [
    row(1, '0a01', [domain, `www.${domain}`], now - 30 * MIN, now - 90 * MIN),
    row(2, '0a01', [domain, `www.${domain}`], now - 30 * MIN + 2000, now - 90 * MIN),
    row(3, '0a02', [`API.${domain}`], now - 20 * MIN, now - 80 * MIN),
    row(4, '0a02', [`api.${domain}`], now - 20 * MIN + 1500, now - 80 * MIN),
    row(5, '0a03', [`mail.${domain}`], null, now - 65 * MIN),
    row(6, '0b01', [`shop.${domain}`], now - 5 * MIN, now - 65 * MIN, 'C=US, O=Google Trust Services, CN=WR1'),
  ];
}

describe('certctl sync ct', () => {
  it('imports, then plan counts the CT-seen certificates and says how fresh the sync is', async () => {
    const state = tempDir();
    const now = Date.now();
    srv.script('%.fleet.com', [{ status: 502, body: '<html>502 Bad Gateway</html>' }, { body: '<html>not json</html>' }, { body: recentRows('fleet.com', now) }]);
    srv.script('fleet.com', [{ body: recentRows('fleet.com', now).slice(0, 2) }]);

    const before = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', '-d', 'x.fleet.com'])).stdout);
    expect(before.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain').used).toBe(0);
    expect(before.ctSync).toEqual([expect.objectContaining({ domain: 'fleet.com', state: 'never', syncedAt: null })]);

    const r = await runCli(['--state-dir', state, 'sync', 'ct', 'www.fleet.com', '--ct-url', srv.url, ...FAST]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('www.fleet.com: syncing its registered domain fleet.com');
    expect(r.stdout).toMatch(/fleet\.com: complete — 8 crt\.sh rows, 4 certificate\(s\): 4 new, 0 already known, 0 certctl\/imported/);

    const rows = q<{ source: string; seen_in_ct: number; ca_id: string | null; serial: string; issued_at: number; not_before: number }>(state, 'SELECT * FROM certificates ORDER BY serial');
    expect(rows.map((x) => x.serial)).toEqual(['a01', 'a02', 'a03', 'b01']);
    expect(rows.every((x) => x.source === 'ct' && x.seen_in_ct === 1)).toBe(true);
    // No entry timestamp: notBefore + 1 h.
    expect(rows[2]!.issued_at - rows[2]!.not_before).toBe(60 * MIN);

    const plan = await runCli(['--state-dir', state, '--json', 'plan', '-d', 'x.fleet.com']);
    const doc = JSON.parse(plan.stdout);
    // Three Let's Encrypt certificates in the last half hour: three slots of the bucket still in use. Google's does not count here.
    expect(doc.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain')).toMatchObject({ used: 3, capacity: 50 });
    expect(doc.ctSync).toEqual([expect.objectContaining({ domain: 'fleet.com', state: 'fresh', complete: true, rows: 8, error: null })]);
    const dup = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', '-d', 'fleet.com', '-d', 'www.fleet.com'])).stdout);
    expect(dup.plans[0].limits.find((l: { name: string }) => l.name === 'duplicate-certificates')).toMatchObject({ used: 1 });
    const text = await runCli(['--state-dir', state, 'plan', '-d', 'x.fleet.com']);
    expect(text.stdout).toMatch(/certificates-per-domain\s+fleet\.com\s+used 3\/50/);
    expect(text.stdout).toMatch(/CT sync for fleet\.com is 0 min old, complete \(8 rows\)/);
    // Three days later the same line says how old it is.
    const later = await runCli(['--state-dir', state, 'plan', '-d', 'x.fleet.com'], { CERTCTL_TEST_NOW: new Date(now + 3 * 86_400_000).toISOString() });
    expect(later.stdout).toMatch(/CT sync for fleet\.com is 3 days old \(8 rows\)/);

    // Again: nothing new.
    const again = await runCli(['--state-dir', state, 'sync', 'ct', 'fleet.com', '--ct-url', srv.url, ...FAST]);
    expect(again.stdout).toMatch(/0 new, 4 already known/);
  });

  it('crt.sh down, timing out, or capped: exit 8, recorded, and plan says so', async () => {
    const state = tempDir();
    srv.script('%.down.com', [{ status: 503, body: 'Service Unavailable' }]);
    srv.script('down.com', [{ delayMs: 5000, body: [] }]);
    const r = await runCli(['--state-dir', state, '--json', 'sync', 'ct', 'down.com', '--ct-url', srv.url, '--request-timeout', '0.3', '--total-timeout', '5', '--retries', '1', '--backoff', '0.05']);
    expect(r.code).toBe(8);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.sync-ct/1', complete: false });
    expect(doc.domains[0]).toMatchObject({ domain: 'down.com', complete: false, rows: 0, attempts: 4 });
    expect(doc.domains[0].error).toMatch(/%\.down\.com: crt\.sh gave HTTP 503 \(after 2 attempts\); down\.com: crt\.sh gave no complete answer within 0\.3 s/);
    const plan = await runCli(['--state-dir', state, 'plan', '-d', 'www.down.com']);
    expect(plan.stdout).toMatch(/CT sync for down\.com failed 0 min ago: .*HTTP 503.* — counts may be low/);

    srv.script('%.huge.com', [{ body: manyRows('huge.com', 10_000, ct(Date.now() - 10 * MIN)) }]);
    const big = await runCli(['--state-dir', state, 'sync', 'ct', 'huge.com', '--ct-url', srv.url, ...FAST]);
    expect(big.code).toBe(8);
    expect(big.stdout).toMatch(/huge\.com: incomplete — 10000 crt\.sh rows, 10000 certificate\(s\): 10000 new/);
    expect(big.stdout).toMatch(/10000 rows, crt\.sh's cap of 10000: more certificates may exist/);
    const p = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', '-d', 'x.huge.com'])).stdout);
    expect(p.ctSync[0]).toMatchObject({ domain: 'huge.com', state: 'incomplete', rows: 10_000 });
    expect(p.verdict).toBe('blocked');
  });

  it('plan --ct-sync auto syncs when the last sync is older than --ct-max-age, and not otherwise', async () => {
    const state = tempDir();
    const now = Date.now();
    srv.script('%.auto.com', [{ body: recentRows('auto.com', now) }]);
    srv.script('auto.com', [{ body: [] }]);
    const hits = () => srv.hits.filter((h) => h.q.endsWith('auto.com')).length;
    const args = ['--state-dir', state, '--json', 'plan', '-d', 'x.auto.com', '--ct-sync', 'auto', '--ct-url', srv.url];
    const first = JSON.parse((await runCli(args)).stdout);
    expect(hits()).toBe(2);
    expect(first.ctSync[0]).toMatchObject({ state: 'fresh', rows: 6 });
    expect(first.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain').used).toBe(3);
    await runCli(args);
    expect(hits()).toBe(2);
    await runCli([...args, '--ct-max-age', '1'], { CERTCTL_TEST_NOW: new Date(now + 2 * 3_600_000).toISOString() });
    expect(hits()).toBe(4);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(4);
    const bad = await runCli(['--state-dir', state, 'plan', '-d', 'x.auto.com', '--ct-sync', 'sometimes']);
    expect(bad.code).toBe(2);
  });

  it('a certificate certctl issued that CT also reports is one certificate, marked seen in CT', async () => {
    const state = tempDir();
    const issue = await runCli([
      '--state-dir', state, 'issue', '--server', pebble.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot,
      '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', 'once.ctown.com', '-d', 'www.once.ctown.com',
    ]);
    expect(issue.stderr).toBe('');
    expect(issue.code).toBe(0);
    const [own] = q<{ id: number; issuer: string; serial: string; not_before: number; not_after: number; issued_at: number }>(state, 'SELECT * FROM certificates');
    // crt.sh spells the issuer its own way: quoted value, attributes reordered when there are several.
    const issuerName = own!.issuer.split(', ').reverse().map((a) => a.replace(/=(.*)$/, '="$1"')).join(', ');
    const row = (id: number, entry: number) => ({
      issuer_ca_id: 7,
      issuer_name: issuerName,
      common_name: 'once.ctown.com',
      name_value: 'once.ctown.com\nwww.once.ctown.com',
      id,
      entry_timestamp: ct(entry),
      not_before: ct(own!.not_before),
      not_after: ct(own!.not_after),
      serial_number: '00' + own!.serial,
      result_count: 2,
    });
    srv.script('%.ctown.com', [{ body: [row(1, own!.issued_at - 2000), row(2, own!.issued_at)] }]);
    const r = await runCli(['--state-dir', state, 'sync', 'ct', 'ctown.com', '--ct-url', srv.url, ...FAST]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 crt\.sh rows, 1 certificate\(s\): 0 new, 0 already known, 1 certctl\/imported certificate\(s\) marked seen in CT/);
    expect(q(state, 'SELECT id, source, seen_in_ct FROM certificates')).toEqual([{ id: own!.id, source: 'certctl', seen_in_ct: 1 }]);
    const plan = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', '-d', 'x.ctown.com', '--server', pebble.directoryUrl])).stdout);
    expect(plan.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain')).toMatchObject({ used: 1 });
    const lim = JSON.parse((await runCli(['--state-dir', state, '--json', 'limits', 'ctown.com'])).stdout);
    const perDomain = lim.entries.filter((e: { name: string; scope: string }) => e.name === 'certificates-per-domain' && e.scope.includes('ctown.com'));
    expect(perDomain.reduce((n: number, e: { used: number }) => n + e.used, 0)).toBe(1);
  });
});
