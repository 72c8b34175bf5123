/**
 * `certctl revoke` and `certctl delete` end to end against Pebble: the
 * revocation as the CA records it (Pebble's management API
 * /cert-status-by-serial/), the ledger rows, what renew and plan do next,
 * bad input refused with one sentence and nothing sent, a lost answer to the
 * revoke POST reconciled, and a delete killed half-way finished by the next run.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import Database from 'better-sqlite3';
import { type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';
import { execFileSync } from 'node:child_process';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;

beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

const ENV = { CERTCTL_ACME_TIMEOUT: '2' };

function issueArgs(state: string, name: string, server = proxy.directoryUrl): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, server), '-d', name];
}
function renewArgs(state: string): string[] {
  return ['--state-dir', state, '--json', 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
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

async function issue(state: string, name: string): Promise<string> {
  const r = await runCli(issueArgs(state, name), ENV);
  expect(r.code, r.stderr).toBe(0);
  return path.join(state, 'live', name, 'cert.pem');
}

/** One line on stderr: the sentence (and its hint), no stack, no "internal error". */
function oneSentence(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  expect(stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}

describe('certctl revoke', () => {
  it('through the account, with a reason: the CA revokes it, the ledger records it, renew replaces it at once, revoking again is refused', async () => {
    const state = tempDir();
    const name = 'rev-account.example.test';
    const cert = await issue(state, name);
    const serial = serialOf(cert);
    expect((await certStatus(serial)).Status).toBe('Valid');

    proxy.resetObservations();
    const r = await runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name, '--reason', 'keyCompromise'], ENV);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.revoke/1', lineage: name, renewalDue: true, deleted: null });
    expect(doc.certificates).toEqual([expect.objectContaining({ serial, result: 'revoked', by: 'account', reason: 'keyCompromise' })]);
    expect(proxy.forwarded.revokeCert).toBe(1);
    const status = await certStatus(serial);
    expect(status.Status).toBe('Revoked');
    expect(status.Reason).toBe(1);
    const rows = q<{ revoked_at: number; revoked_reason: string; revoked_by: string }>(state, `SELECT revoked_at, revoked_reason, revoked_by FROM certificates WHERE serial = '${serial}'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.revoked_reason).toBe('keyCompromise');
    expect(rows[0]!.revoked_by).toMatch(/^account https:\/\/127\.0\.0\.1/);
    expect(rows[0]!.revoked_at).toBeGreaterThan(0);

    // Again: the ledger knows; one sentence, exit 3, nothing sent.
    proxy.resetObservations();
    const again = await runCli(['--state-dir', state, 'revoke', '--cert-name', name], ENV);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/already revoked on .*keyCompromise.*nothing was sent/);
    oneSentence(again.stderr);
    expect(proxy.total()).toBe(0);

    // plan for the lineage's set: revocation gave nothing back.
    const plan = await runCli(['--state-dir', state, 'plan', '--server', proxy.directoryUrl, '-d', name]);
    expect(plan.stdout + plan.stderr).toMatch(/revoked.*no rate-limit capacity/i);

    // issue does not call a revoked certificate "held"; renew replaces it now, and says why.
    const renew = await runCli(renewArgs(state), ENV);
    expect(renew.code, renew.stderr).toBe(0);
    const l = JSON.parse(renew.stdout).lineages[0];
    expect(l).toMatchObject({ lineage: name, action: 'renewed' });
    expect(l.reason).toMatch(/revoked/);
    const fresh = serialOf(cert);
    expect(fresh).not.toBe(serial);
    expect((await certStatus(fresh)).Status).toBe('Valid');
    // Kept after that.
    const renew2 = await runCli(renewArgs(state), ENV);
    expect(JSON.parse(renew2.stdout).lineages[0]).toMatchObject({ action: 'kept' });
  });

  it("signed with the certificate's own key when certctl has no account for it (another client's certificate)", async () => {
    const issuer = tempDir();
    const name = 'rev-key.example.test';
    const cert = await issue(issuer, name);
    const serial = serialOf(cert);
    const elsewhere = tempDir();
    const certFile = path.join(elsewhere, 'cert.pem');
    const keyFile = path.join(elsewhere, 'privkey.pem');
    fs.copyFileSync(cert, certFile);
    fs.copyFileSync(path.join(issuer, 'live', name, 'privkey.pem'), keyFile);
    const state = tempDir();
    const base = ['--state-dir', state, 'revoke', '--cert-path', certFile, '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle];

    // Without its key: one sentence, nothing sent.
    proxy.resetObservations();
    const noKey = await runCli(base, ENV);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no account that issued the certificate .* nothing was sent/);
    expect(noKey.stderr).toMatch(/--key-path/);
    oneSentence(noKey.stderr);
    // Another key: refused.
    const otherKey = path.join(elsewhere, 'other.pem');
    fs.copyFileSync(path.join(issuer, 'accounts', fs.readdirSync(path.join(issuer, 'accounts'))[0]!, 'account.key'), otherKey);
    const wrong = await runCli([...base, '--key-path', otherKey], ENV);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/is not the private key of the certificate/);
    // A key file as the certificate.
    const notCert = await runCli(['--state-dir', state, 'revoke', '--cert-path', keyFile, '--key-path', keyFile, '--server', proxy.directoryUrl], ENV);
    expect(notCert.code).toBe(2);
    expect(notCert.stderr).toMatch(/is not a PEM certificate/);
    expect(proxy.total()).toBe(0);
    expect((await certStatus(serial)).Status).toBe('Valid');

    const r = await runCli([...base, '--key-path', keyFile, '--reason', 'superseded', '--json'], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).certificates[0]).toMatchObject({ serial, result: 'revoked', by: 'certificate-key', lineage: null });
    const status = await certStatus(serial);
    expect(status).toMatchObject({ Status: 'Revoked', Reason: 4 });
    // No account was registered for it; the certificate is now in this ledger (it counts), revoked.
    expect(q(state, 'SELECT * FROM accounts')).toHaveLength(0);
    expect(q<{ source: string; revoked_by: string; revoked_reason: string }>(state, `SELECT source, revoked_by, revoked_reason FROM certificates WHERE serial = '${serial}'`)).toEqual([{ source: 'pem', revoked_by: 'certificate key', revoked_reason: 'superseded' }]);

    // The issuing certctl does not know yet: its revoke is answered alreadyRevoked, recorded as done.
    const theirs = await runCli(['--state-dir', issuer, '--json', 'revoke', '--cert-name', name], ENV);
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(JSON.parse(theirs.stdout).certificates[0]).toMatchObject({ result: 'already-revoked' });
    expect(q<{ revoked_by: string }>(issuer, `SELECT revoked_by FROM certificates WHERE serial = '${serial}'`)[0]!.revoked_by).toMatch(/^unknown/);
  });

  it('a lost answer to the revoke POST after the CA acted: reconciled (alreadyRevoked is done), recorded as this run’s revocation', async () => {
    const state = tempDir();
    const name = 'rev-lost.example.test';
    const cert = await issue(state, name);
    const serial = serialOf(cert);
    proxy.clearFaults();
    proxy.resetObservations();
    proxy.loseAnswer('revokeCert', 'cut', 1);
    const r = await runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name, '--reason', 'cessationOfOperation'], ENV);
    proxy.clearFaults();
    expect(proxy.requests.filter((x) => x.lost).length).toBe(1);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).certificates[0]).toMatchObject({ serial, result: 'already-revoked', by: 'account' });
    expect(await certStatus(serial)).toMatchObject({ Status: 'Revoked', Reason: 5 });
    expect(q<{ revoked_by: string; revoked_reason: string }>(state, `SELECT revoked_by, revoked_reason FROM certificates WHERE serial = '${serial}'`)[0]).toMatchObject({ revoked_reason: 'cessationOfOperation', revoked_by: expect.stringMatching(/^account /) });
  });

  it('bad input: unknown lineage, neither or both of --cert-name/--cert-path; nothing sent, nothing changed', async () => {
    const state = tempDir();
    proxy.resetObservations();
    const unknown = await runCli(['--state-dir', state, 'revoke', '--cert-name', 'nope.example.test']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/There is no lineage named "nope\.example\.test"/);
    oneSentence(unknown.stderr);
    const neither = await runCli(['--state-dir', state, 'revoke']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/--cert-name NAME or --cert-path FILE/);
    const badReason = await runCli(['--state-dir', state, 'revoke', '--cert-name', 'x.example.test', '--reason', 'because']);
    expect(badReason.code).toBe(2);
    expect(proxy.total()).toBe(0);
  });

  it('--delete-after: revoked and the lineage retired in one step', async () => {
    const state = tempDir();
    const name = 'rev-delete.example.test';
    const cert = await issue(state, name);
    const serial = serialOf(cert);
    const r = await runCli(['--state-dir', state, '--json', 'revoke', '--cert-name', name, '--reason', 'cessationOfOperation', '--delete-after'], ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ renewalDue: false, deleted: { lineage: name, certificatesKept: 1 } });
    expect(await certStatus(serial)).toMatchObject({ Status: 'Revoked', Reason: 5 });
    expect(fs.existsSync(path.join(state, 'live', name))).toBe(false);
    expect(fs.existsSync(path.join(state, 'archive', name))).toBe(false);
    expect(q(state, 'SELECT * FROM lineages')).toHaveLength(0);
    expect(q<{ revoked_reason: string }>(state, `SELECT revoked_reason FROM certificates WHERE serial = '${serial}'`)).toEqual([{ revoked_reason: 'cessationOfOperation' }]);
  });
});

describe('certctl delete', () => {
  it('refused without --yes off a terminal; with --yes: files and settings gone, renew renews nothing, the ledger still counts the certificate', async () => {
    const state = tempDir();
    const name = 'del.example.test';
    await issue(state, name);
    const refused = await runCli(['--state-dir', state, 'delete', '--cert-name', name]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/without confirmation: stdin is not a terminal; nothing was deleted/);
    oneSentence(refused.stderr);
    expect(fs.existsSync(path.join(state, 'live', name, 'cert.pem'))).toBe(true);
    const unknown = await runCli(['--state-dir', state, 'delete', '--cert-name', 'other.example.test', '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/There is no lineage named other\.example\.test/);

    // On a terminal (a pty from script(1)), the question: "n" keeps everything, "y" would delete.
    const onTty = (answer: string) =>
      execFileSync('/usr/bin/script', ['-qec', `${process.execPath} ${BIN} --state-dir ${state} delete --cert-name ${name}; echo "rc=$?"`, '/dev/null'], { input: `${answer}\n`, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const no = onTty('n');
    expect(no).toMatch(/Delete the lineage del\.example\.test \(del\.example\.test\): .* keys included\? \[y\/N\]/);
    expect(no).toMatch(/Not confirmed: the lineage del\.example\.test was not deleted/);
    expect(no).toMatch(/rc=2/);
    expect(fs.existsSync(path.join(state, 'live', name, 'cert.pem'))).toBe(true);

    const r = await runCli(['--state-dir', state, '--json', 'delete', '--cert-name', name, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ schema: 'certctl.delete/1', lineage: name, certificatesKept: 1 });
    expect(fs.existsSync(path.join(state, 'live', name))).toBe(false);
    expect(fs.existsSync(path.join(state, 'archive', name))).toBe(false);
    expect(fs.readdirSync(path.join(state, 'trash'))).toEqual([]);
    expect(q(state, 'SELECT * FROM lineages')).toHaveLength(0);
    expect(q(state, `SELECT * FROM certificates WHERE set_key = '${name}'`)).toHaveLength(1);

    proxy.resetObservations();
    const renew = await runCli(renewArgs(state), ENV);
    expect(renew.code, renew.stderr).toBe(0);
    expect(JSON.parse(renew.stdout).lineages).toEqual([]);
    expect(proxy.total()).toBe(0);
    // plan still sees the certificate: the same set again is a duplicate the CA counts.
    const plan = await runCli(['--state-dir', state, '--json', 'plan', '--server', proxy.directoryUrl, '-d', name]);
    expect(JSON.stringify(JSON.parse(plan.stdout).plans[0])).toMatch(/duplicate-certificates[^}]*"used":1/);
  });

  it('a delete killed half-way (marked, live/ moved, archive/ not yet): the next renew finishes it and renews nothing; issue then starts a new lineage at version 1', async () => {
    const state = tempDir();
    const name = 'del-crash.example.test';
    await issue(state, name);
    // What a SIGKILL between the two renames leaves (retire.ts steps 1–2 half done).
    const db = new Database(path.join(state, 'ledger.sqlite'));
    db.prepare(`UPDATE lineages SET settings_json = json_set(settings_json, '$.deleting', 1) WHERE name = ?`).run(name);
    db.close();
    fs.mkdirSync(path.join(state, 'trash'), { mode: 0o700 });
    fs.renameSync(path.join(state, 'live', name), path.join(state, 'trash', `live.1-1.${name}`));

    proxy.resetObservations();
    const renew = await runCli(renewArgs(state), ENV);
    expect(renew.code, renew.stderr).toBe(0);
    expect(JSON.parse(renew.stdout).lineages).toEqual([]);
    expect(proxy.total()).toBe(0);
    expect(fs.existsSync(path.join(state, 'archive', name))).toBe(false);
    expect(fs.readdirSync(path.join(state, 'trash'))).toEqual([]);
    expect(q(state, 'SELECT * FROM lineages')).toHaveLength(0);
    expect(q(state, 'SELECT * FROM certificates')).toHaveLength(1);

    // The name is free again: a new lineage, version 1, the old certificate not adopted.
    const again = await runCli([...issueArgs(state, name), '--force-renewal'], ENV);
    expect(again.code, again.stderr).toBe(0);
    expect(q<{ current_version: number }>(state, `SELECT current_version FROM lineages WHERE name = '${name}'`)).toEqual([{ current_version: 1 }]);
    expect(q(state, `SELECT * FROM certificates WHERE lineage = '${name}'`)).toHaveLength(1);
    expect(q(state, 'SELECT * FROM certificates')).toHaveLength(2);
  });
});
