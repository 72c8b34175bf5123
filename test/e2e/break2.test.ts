/**
 * Hostile tests of revoke, delete and account rollover (break2), each one a
 * break found and fixed, end to end against Pebble through the ACME test proxy:
 * - a key change settled while the CA is failing (503s, a 429) must not throw
 *   away the new key the CA may already hold (the account would be lost);
 * - a planted symbolic link at STATE/trash must not make renew empty the
 *   directory it points at;
 * - a dual lineage whose second revocation failed is finished by running the
 *   same `revoke --cert-name` again (not refused as "already revoked");
 * - after `account deactivate`, revoke signs with the certificate's own key
 *   (the deactivated account can sign nothing).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import crypto, { X509Certificate } from 'node:crypto';
import { type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;

beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

const ENV = { CERTCTL_ACME_TIMEOUT: '2' };

function issueArgs(state: string, name: string, ...extra: string[]): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function accountArgs(state: string, sub: string, ...extra: string[]): string[] {
  return ['--state-dir', state, 'account', sub, '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, ...extra];
}
async function issue(state: string, name: string, ...extra: string[]): Promise<void> {
  const r = await runCli(issueArgs(state, name, ...extra), ENV);
  expect(r.code, r.stderr + r.stdout).toBe(0);
}
function keyFile(state: string): string {
  const dir = path.join(state, 'accounts');
  return path.join(dir, fs.readdirSync(dir)[0]!, 'account.key');
}
function thumbprint(file: string): string {
  const jwk = crypto.createPublicKey(fs.readFileSync(file, 'utf8')).export({ format: 'jwk' }) as Record<string, string>;
  return crypto.createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
}
function keyRows(state: string) {
  return q<{ state: string }>(state, 'SELECT state FROM account_keys ORDER BY id').map((k) => k.state);
}
function oneSentence(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  expect(stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}
/** What Pebble says about a serial: { Status: 'Valid' | 'Revoked', Reason?: number }. */
function certStatus(serial: string): Promise<{ Status: string; Reason?: number }> {
  return new Promise((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${pebble.mgmtPort}/cert-status-by-serial/${serial}`, { ca: fs.readFileSync(pebble.caBundle) }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`cert-status-by-serial/${serial}: HTTP ${res.statusCode} ${body}`))));
      })
      .on('error', reject);
  });
}
function serialOf(file: string): string {
  return new X509Certificate(fs.readFileSync(file)).serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
}

describe('account rollover settled while the CA fails', () => {
  for (const fault of ['503', '429'] as const) {
    it(`killed after the CA took the new key, the next command meets a ${fault}: the new key is kept pending, then settled; the account works`, async () => {
      const state = tempDir();
      await issue(state, `b2-roll-${fault}.example.test`);
      const before = thumbprint(keyFile(state));
      proxy.clearFaults();
      const k = await killedAt(proxy, 'keyChange', 'after', accountArgs(state, 'rollover'), ENV);
      expect(k.fired).toBe(true);
      expect(keyRows(state)).toEqual(['current', 'pending']);
      const next = `${keyFile(state)}.next`;
      const newThumb = thumbprint(next);

      // The CA is failing when the next command tries the new key: that says nothing about the key.
      if (fault === '503') proxy.failNext('account', 503, 10);
      else proxy.rateLimit('account', { seconds: 60, detail: 'too many requests (injected)', times: 1 });
      const failing = await runCli([...accountArgs(state, 'show'), '--json'], ENV);
      proxy.clearFaults();
      expect(failing.code).not.toBe(0);
      // Nothing decided: the new key (which the CA holds) is still there, 0600, still pending.
      expect(fs.existsSync(next)).toBe(true);
      expect(fs.statSync(next).mode & 0o777).toBe(0o600);
      expect(keyRows(state)).toEqual(['current', 'pending']);
      expect(thumbprint(keyFile(state))).toBe(before);

      // The CA is back: settled to the new key, and the account signs again.
      const s = await runCli([...accountArgs(state, 'show'), '--json'], ENV);
      expect(s.code, s.stderr).toBe(0);
      expect(JSON.parse(s.stdout).account.ca).toMatchObject({ status: 'valid' });
      expect(thumbprint(keyFile(state))).toBe(newThumb);
      expect(keyRows(state)).toEqual(['retired', 'current']);
      proxy.resetObservations();
      await issue(state, `b2-roll-${fault}-2.example.test`);
      expect(proxy.counts.newAccount).toBe(0);
    });
  }
});

describe('delete: a planted link at STATE/trash', () => {
  it('renew neither follows it nor empties the directory it points at', async () => {
    const state = tempDir();
    await issue(state, 'b2-trash.example.test');
    const victim = tempDir('certctl-victim-');
    fs.writeFileSync(path.join(victim, 'precious.txt'), 'keep me\n');
    fs.mkdirSync(path.join(victim, 'sub'));
    fs.writeFileSync(path.join(victim, 'sub', 'more.txt'), 'keep me too\n');
    fs.rmSync(path.join(state, 'trash'), { recursive: true, force: true });
    fs.symlinkSync(victim, path.join(state, 'trash'));

    const r = await runCli(['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)], ENV);
    expect(fs.readFileSync(path.join(victim, 'precious.txt'), 'utf8')).toBe('keep me\n');
    expect(fs.readFileSync(path.join(victim, 'sub', 'more.txt'), 'utf8')).toBe('keep me too\n');
    expect(r.code, r.stderr).toBe(0);
    expect(fs.lstatSync(path.join(state, 'trash')).isSymbolicLink()).toBe(true);

    // delete refuses to move the lineage into it (nothing deleted), in one sentence.
    const d = await runCli(['--state-dir', state, 'delete', '--cert-name', 'b2-trash.example.test', '--yes'], ENV);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/trash is a symbolic link/);
    oneSentence(d.stderr);
    expect(fs.readdirSync(victim).sort()).toEqual(['precious.txt', 'sub']);
    expect(fs.existsSync(path.join(state, 'live', 'b2-trash.example.test', 'cert.pem'))).toBe(true);
  });
});

describe('revoke', () => {
  it('dual lineage, the second revocation fails: the same revoke --cert-name again revokes the second, the first is not sent again', async () => {
    const state = tempDir();
    const name = 'b2-dual.example.test';
    await issue(state, name, '--key-type', 'dual');
    const rows = q<{ serial: string; role: string }>(state, `SELECT serial, role FROM certificates WHERE lineage = '${name}' ORDER BY id`);
    expect(rows).toHaveLength(2);
    proxy.clearFaults();
    // The first revokeCert goes through; every attempt of the second gets a 500 (ordered by holding each request).
    const hold1 = proxy.hold('revokeCert');
    const run = runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name], ENV);
    await hold1.arrived;
    const hold2 = proxy.hold('revokeCert');
    hold1.release();
    await hold2.arrived;
    proxy.failNext('revokeCert', 500, 10);
    hold2.release();
    const r1 = await run;
    proxy.clearFaults();
    expect(r1.code).toBe(8);
    const revoked1 = q<{ serial: string }>(state, `SELECT serial FROM certificates WHERE lineage = '${name}' AND revoked_at IS NOT NULL`);
    expect(revoked1).toHaveLength(1);

    proxy.resetObservations();
    const r2 = await runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name], ENV);
    expect(r2.code, r2.stderr).toBe(0);
    const doc = JSON.parse(r2.stdout);
    expect(doc.certificates).toHaveLength(1);
    expect(doc.certificates[0]).toMatchObject({ result: 'revoked', by: 'account' });
    expect(proxy.forwarded.revokeCert).toBe(1);
    for (const row of rows) expect((await certStatus(row.serial)).Status).toBe('Revoked');
    expect(q(state, `SELECT serial FROM certificates WHERE lineage = '${name}' AND revoked_at IS NULL`)).toHaveLength(0);

    // Both revoked now: a third run is refused, nothing sent.
    proxy.resetObservations();
    const r3 = await runCli(['--state-dir', state, 'revoke', '--cert-name', name], ENV);
    expect(r3.code).toBe(3);
    expect(proxy.forwarded.revokeCert).toBe(0);
  });

  it('after account deactivate: revoke --cert-name signs with the certificate’s own key', async () => {
    const state = tempDir();
    const name = 'b2-deact-rev.example.test';
    await issue(state, name);
    const serial = serialOf(path.join(state, 'live', name, 'cert.pem'));
    const d = await runCli([...accountArgs(state, 'deactivate', '--yes'), '--json'], ENV);
    expect(d.code, d.stderr).toBe(0);
    const r = await runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name, '--reason', 'keyCompromise'], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).certificates[0]).toMatchObject({ result: 'revoked', by: 'certificate-key' });
    expect(await certStatus(serial)).toMatchObject({ Status: 'Revoked', Reason: 1 });
    expect(q<{ revoked_by: string }>(state, 'SELECT revoked_by FROM certificates')[0]!.revoked_by).toBe('certificate key');
  });
});

describe('issue --cert-name: a change to a set another lineage holds exactly', () => {
  it('is refused in one sentence, nothing sent, the names unchanged (it ordered a duplicate); --force-renewal spends it on purpose', async () => {
    const state = tempDir();
    const a = 'b2-ren-a.example.test';
    const c = ['b2-ren-c.example.test', 'b2-ren-c2.example.test'];
    await issue(state, a);
    await issue(state, c[0]!, '-d', c[1]!);
    const names = () => q<{ name: string; names_json: string; current_version: number }>(state, 'SELECT name, names_json, current_version FROM lineages ORDER BY name');
    const before = names();
    proxy.clearFaults();
    proxy.resetObservations();
    const r = await runCli(issueArgs(state, c[0]!, '-d', c[1]!, '--cert-name', a), ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`The lineage ${c[0]!.replace(/\./g, '\\.')} already holds exactly .*: changing ${a.replace(/\./g, '\\.')} to the same names would order a duplicate certificate; nothing was sent\\.`));
    oneSentence(r.stderr);
    expect(proxy.total()).toBe(0);
    expect(names()).toEqual(before);

    const forced = await runCli(issueArgs(state, c[0]!, '-d', c[1]!, '--cert-name', a, '--force-renewal'), ENV);
    expect(forced.code, forced.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
    expect(names().find((l) => l.name === a)).toMatchObject({ names_json: JSON.stringify(c), current_version: 2 });
  });
});

describe('account forget with a rollover left pending', () => {
  it('sets the pending new key aside (0600) instead of deleting it: it may be the key the CA holds', async () => {
    const state = tempDir();
    await issue(state, 'b2-forget.example.test');
    proxy.clearFaults();
    const k = await killedAt(proxy, 'keyChange', 'after', accountArgs(state, 'rollover'), ENV);
    expect(k.fired).toBe(true);
    const next = `${keyFile(state)}.next`;
    const pending = thumbprint(next);
    const dir = path.dirname(keyFile(state));
    const f = await runCli([...accountArgs(state, 'forget', '--yes'), '--json'], ENV);
    expect(f.code, f.stderr).toBe(0);
    const id = JSON.parse(f.stdout).account.id;
    const aside = path.join(dir, `forgotten-${id}.next.key`);
    expect(thumbprint(aside)).toBe(pending);
    expect(fs.statSync(aside).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dir, `forgotten-${id}.key`))).toBe(true);
    // The next issue registers a new account with a new key.
    proxy.resetObservations();
    await issue(state, 'b2-forget2.example.test');
    expect(proxy.counts.newAccount).toBe(1);
  });
});
