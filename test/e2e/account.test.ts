/**
 * `certctl account` end to end against Pebble (through the ACME test proxy):
 * update the contact (the CA's view read back by POST-as-GET), roll the key
 * over and issue with the new key, deactivate and be refused (then forget and
 * register anew), list; a rollover whose keyChange answer is lost, and one
 * SIGKILLed on either side of the keyChange POST: the next command settles it
 * and the account still works. Keys stay 0600 and are never printed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
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
async function account(state: string, sub: string, ...extra: string[]) {
  const r = await runCli([...accountArgs(state, sub, ...extra), '--json'], ENV);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY/);
  return JSON.parse(r.stdout);
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
  return q<{ state: string; thumbprint: string }>(state, 'SELECT state, thumbprint FROM account_keys ORDER BY id');
}
function oneSentence(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  expect(stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}

describe('certctl account', () => {
  it('update --email: the CA has the new contact (read back by show), the ledger too; bad input sends nothing', async () => {
    const state = tempDir();
    await issue(state, 'acct-update.example.test', '--email', 'old@example.test');
    proxy.resetObservations();
    const bad = await runCli(accountArgs(state, 'update', '--email', 'not an address'), ENV);
    expect(bad.code).toBe(2);
    oneSentence(bad.stderr);
    const unknown = await runCli(['--state-dir', state, 'account', 'show', '--server', 'https://127.0.0.1:1/nowhere'], ENV);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/certctl has no account at https:\/\/127\.0\.0\.1:1\/nowhere in this ledger.*nothing was sent/);
    expect(proxy.total()).toBe(0);

    const u = await account(state, 'update', '--email', 'new@example.test');
    expect(u).toMatchObject({ schema: 'certctl.account/1', action: 'update', account: { email: 'new@example.test', status: 'valid', ca: { contact: ['mailto:new@example.test'] } } });
    expect(q<{ email: string }>(state, 'SELECT email FROM accounts')).toEqual([{ email: 'new@example.test' }]);
    proxy.resetObservations();
    const s = await account(state, 'show');
    expect(s.account).toMatchObject({ accountUrl: u.account.accountUrl, ca: { status: 'valid', contact: ['mailto:new@example.test'] }, keyThumbprint: thumbprint(keyFile(state)) });
    expect(proxy.forwarded.account).toBeGreaterThanOrEqual(1);

    const help = await runCli(['account', '--help']);
    expect(help.stdout).toMatch(/certctl account update --email ops@example\.com/);
    expect(help.stdout).toMatch(/certctl account rollover/);
    const list = await runCli(['--state-dir', state, '--json', 'account', 'list']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).accounts).toEqual([expect.objectContaining({ directoryUrl: proxy.directoryUrl, status: 'valid', email: 'new@example.test' })]);
  });

  it('rollover: a new key (0600) the CA confirmed, the old one retired in the ledger; issue then signs with the new key', async () => {
    const state = tempDir();
    await issue(state, 'acct-roll.example.test');
    const before = thumbprint(keyFile(state));
    proxy.resetObservations();
    const r = await account(state, 'rollover');
    expect(proxy.forwarded.keyChange).toBe(1);
    const after = thumbprint(keyFile(state));
    expect(after).not.toBe(before);
    expect(r.account).toMatchObject({ keyThumbprint: after, previousKeyThumbprint: before });
    expect(fs.statSync(keyFile(state)).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(`${keyFile(state)}.next`)).toBe(false);
    expect(keyRows(state)).toEqual([
      { state: 'retired', thumbprint: before },
      { state: 'current', thumbprint: after },
    ]);
    // The CA knows the account by the new key: issue works, with no new registration.
    proxy.resetObservations();
    await issue(state, 'acct-roll2.example.test');
    expect(proxy.counts.newAccount).toBe(0);
    expect(proxy.issued).toBe(1);
    expect(q(state, 'SELECT id FROM accounts')).toHaveLength(1);
  });

  it('deactivate: refused without confirmation off a terminal; then issue and renew refuse in one sentence; forget lets issue register a new account', async () => {
    const state = tempDir();
    await issue(state, 'acct-deact.example.test');
    proxy.resetObservations();
    const noYes = await runCli(accountArgs(state, 'deactivate'), ENV);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/without confirmation: stdin is not a terminal; nothing was sent/);
    expect(proxy.total()).toBe(0);

    const d = await account(state, 'deactivate', '--yes');
    expect(d.account).toMatchObject({ status: 'deactivated', ca: { status: 'deactivated' } });
    expect(q<{ deactivated_at: number }>(state, 'SELECT deactivated_at FROM accounts')[0]!.deactivated_at).toBeGreaterThan(0);

    proxy.resetObservations();
    const refused = await runCli(issueArgs(state, 'acct-deact2.example.test'), ENV);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/was deactivated on .*nothing was sent/);
    expect(refused.stderr).toMatch(/certctl account forget --server .* --yes/);
    oneSentence(refused.stderr);
    const renew = await runCli(['--state-dir', state, 'renew', '--no-random-sleep', '--force-renewal', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)], ENV);
    expect(renew.code).not.toBe(0);
    expect(renew.stdout + renew.stderr).toMatch(/was deactivated/);
    expect(proxy.orders).toHaveLength(0);
    expect(proxy.counts.newAccount).toBe(0);
    // show reads the ledger only (the CA refuses a deactivated account).
    expect((await account(state, 'show')).account).toMatchObject({ status: 'deactivated', ca: null });

    const f = await account(state, 'forget', '--yes');
    expect(f.account).toMatchObject({ status: 'forgotten' });
    await issue(state, 'acct-deact2.example.test');
    expect(proxy.counts.newAccount).toBe(1);
    const list = JSON.parse((await runCli(['--state-dir', state, '--json', 'account', 'list'])).stdout).accounts;
    expect(list.map((a: { status: string }) => a.status)).toEqual(['forgotten', 'valid']);
    expect(list[0].accountUrl).not.toBe(list[1].accountUrl);
    expect(fs.statSync(keyFile(state)).mode & 0o777).toBe(0o600);
  });

  it('rollover with the keyChange answer lost after the CA acted: settled by trying the new key, the account works', async () => {
    const state = tempDir();
    await issue(state, 'acct-lost.example.test');
    const before = thumbprint(keyFile(state));
    proxy.clearFaults();
    proxy.resetObservations();
    proxy.loseAnswer('keyChange', 'cut', 1);
    const r = await runCli([...accountArgs(state, 'rollover'), '--json'], ENV);
    proxy.clearFaults();
    expect(proxy.requests.filter((x) => x.lost).length).toBe(1);
    expect(r.code, r.stderr).toBe(0);
    const after = thumbprint(keyFile(state));
    expect(after).not.toBe(before);
    expect(keyRows(state).map((k) => k.state)).toEqual(['retired', 'current']);
    await issue(state, 'acct-lost2.example.test');
  });

  it('deactivate with its answer lost after the CA acted: the resent request is refused as deactivated, recorded as done', async () => {
    const state = tempDir();
    await issue(state, 'acct-deact-lost.example.test');
    const url = q<{ account_url: string }>(state, 'SELECT account_url FROM accounts')[0]!.account_url;
    proxy.clearFaults();
    proxy.resetObservations();
    proxy.loseAnswer('account', 'cut', 1);
    const r = await runCli([...accountArgs(state, 'deactivate', '--yes'), '--json'], ENV);
    proxy.clearFaults();
    expect(proxy.requests.filter((x) => x.lost).length).toBe(1);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).account).toMatchObject({ accountUrl: url, status: 'deactivated' });
    const refused = await runCli(issueArgs(state, 'acct-deact-lost2.example.test'), ENV);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/was deactivated/);
  });

  for (const when of ['after', 'before'] as const) {
    it(`SIGKILL ${when} the keyChange POST, then any command: the account still works (${when === 'after' ? 'the new key' : 'the old key'})`, async () => {
      const state = tempDir();
      await issue(state, `acct-kill-${when}.example.test`);
      const before = thumbprint(keyFile(state));
      proxy.clearFaults();
      const k = await killedAt(proxy, 'keyChange', when, accountArgs(state, 'rollover'), ENV);
      expect(k.fired).toBe(true);
      expect(k.signal).toBe('SIGKILL');
      // Killed between the two halves: the new key journalled, not committed.
      expect(keyRows(state).map((x) => x.state)).toEqual(['current', 'pending']);
      expect(fs.existsSync(`${keyFile(state)}.next`)).toBe(true);
      expect(fs.statSync(`${keyFile(state)}.next`).mode & 0o777).toBe(0o600);

      // Any command that uses the account settles it first: here, show.
      const s = await account(state, 'show');
      expect(s.account.ca).toMatchObject({ status: 'valid' });
      const now = thumbprint(keyFile(state));
      if (when === 'after') {
        expect(now).not.toBe(before);
        expect(keyRows(state).map((x) => x.state)).toEqual(['retired', 'current']);
      } else {
        expect(now).toBe(before);
        expect(keyRows(state).map((x) => x.state)).toEqual(['current', 'abandoned']);
      }
      expect(fs.existsSync(`${keyFile(state)}.next`)).toBe(false);
      proxy.resetObservations();
      await issue(state, `acct-kill-${when}2.example.test`);
      expect(proxy.counts.newAccount).toBe(0);
    });
  }
});
