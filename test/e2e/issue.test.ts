/**
 * `certctl issue` end to end: the built CLI as a subprocess against a real
 * Pebble (5 % of nonces rejected, so badNonce retry is exercised), with
 * pebble-challtestsrv as DNS and a web server serving the webroot.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { runCli, tempDir } from '../helpers/cli.js';

let pebble: Pebble;
let chainFile: string;

beforeAll(async () => {
  pebble = await startPebble();
  const dir = tempDir();
  chainFile = path.join(dir, 'pebble-roots.pem');
  fs.writeFileSync(chainFile, await pebble.rootPem());
});
afterAll(async () => {
  await pebble?.stop();
});

function common(stateDir: string): string[] {
  return ['--state-dir', stateDir, 'issue', ...pebbleIssueFlags(pebble), '--email', 'ops@example.test'];
}

function ledger(stateDir: string): Database.Database {
  return new Database(path.join(stateDir, 'ledger.sqlite'), { readonly: true });
}

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function verifyChain(stateDir: string, lineage: string, suffix = ''): string {
  const live = path.join(stateDir, 'live', lineage);
  return execFileSync('openssl', ['verify', '-CAfile', chainFile, '-untrusted', path.join(live, `chain${suffix}.pem`), path.join(live, `cert${suffix}.pem`)], { encoding: 'utf8' });
}

describe('certctl issue against Pebble', () => {
  it('issues a 2-name ECDSA certificate: live symlinks into archive, modes, chain verifies, ledger rows', async () => {
    const state = tempDir();
    const r = await runCli([...common(state), '-d', 'www.shop.example.test', '-d', 'shop.example.test', '--key-type', 'ecdsa']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const live = path.join(state, 'live', 'www.shop.example.test');
    // The serial as OpenSSL prints it, so what certctl says can be compared with openssl and the CA's pages.
    const serial = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-serial'], { encoding: 'utf8' }).trim().replace(/^serial=/, '');
    expect(r.stdout).toContain(`Issued www.shop.example.test: serial ${serial}, valid until`);
    for (const f of ['cert', 'chain', 'fullchain', 'privkey']) {
      const link = path.join(live, `${f}.pem`);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(path.join('..', '..', 'archive', 'www.shop.example.test', `${f}1.pem`));
    }
    expect(mode(path.join(state, 'archive', 'www.shop.example.test', 'privkey1.pem'))).toBe(0o600);
    expect(mode(path.join(state, 'archive', 'www.shop.example.test', 'cert1.pem'))).toBe(0o644);
    expect(verifyChain(state, 'www.shop.example.test')).toMatch(/cert\.pem: OK/);
    const text = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/DNS:www\.shop\.example\.test/);
    expect(text).toMatch(/DNS:shop\.example\.test/);
    expect(text).toMatch(/id-ecPublicKey/);
    // The key in privkey.pem belongs to the certificate.
    const pubCert = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-pubkey'], { encoding: 'utf8' });
    const pubKey = execFileSync('openssl', ['pkey', '-in', path.join(live, 'privkey.pem'), '-pubout'], { encoding: 'utf8' });
    expect(pubKey).toBe(pubCert);

    const db = ledger(state);
    const acct = db.prepare('SELECT * FROM accounts').all() as { key_path: string; account_url: string; directory_url: string }[];
    expect(acct).toHaveLength(1);
    expect(acct[0]!.directory_url).toBe(pebble.directoryUrl);
    expect(acct[0]!.account_url).toMatch(/^https:\/\/127\.0\.0\.1/);
    expect(mode(acct[0]!.key_path)).toBe(0o600);
    const certs = db.prepare('SELECT * FROM certificates').all() as Record<string, unknown>[];
    expect(certs).toHaveLength(1);
    expect(certs[0]).toMatchObject({ lineage: 'www.shop.example.test', version: 1, source: 'certctl', set_key: 'shop.example.test,www.shop.example.test' });
    expect(certs[0]!.key_type).toBe('ecdsa:prime256v1');
    expect(Number(certs[0]!.not_after)).toBeGreaterThan(Date.now());
    const doms = db.prepare('SELECT registered_domain FROM certificate_domains').all();
    expect(doms).toEqual([{ registered_domain: 'example.test' }]);
    const orders = db.prepare('SELECT * FROM orders').all() as Record<string, unknown>[];
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ state: 'done', step: 'stored', status: 'valid' });
    expect(String(orders[0]!.order_url)).toMatch(/^https:/);
    const steps = (db.prepare('SELECT step FROM order_events WHERE order_id = ? ORDER BY id').all(orders[0]!.id) as { step: string }[]).map((e) => e.step);
    expect(steps[0]).toBe('creating');
    expect(steps).toContain('created');
    expect(steps).toContain('finalizing');
    expect(steps).toContain('downloading');
    expect(steps.at(-1)).toBe('stored');
    const authz = db.prepare('SELECT identifier, status FROM authorizations ORDER BY identifier').all();
    expect(authz).toEqual([
      { identifier: 'shop.example.test', status: 'valid' },
      { identifier: 'www.shop.example.test', status: 'valid' },
    ]);
    const lin = db.prepare('SELECT * FROM lineages').get() as Record<string, unknown>;
    expect(lin).toMatchObject({ name: 'www.shop.example.test', key_type: 'ecdsa:p256', challenge: 'webroot', webroot: pebble.webroot, current_version: 1 });
    db.close();
    // The challenge files were removed after validation.
    // The challenge files are gone, and so are the .well-known/acme-challenge/ directories certctl created for them.
    expect(fs.existsSync(path.join(pebble.webroot, '.well-known'))).toBe(false);
    // Pebble fetched them through the web server.
    expect(pebble.webHits.some((h) => h.startsWith('/.well-known/acme-challenge/'))).toBe(true);

    // Status shows it, in text and JSON.
    const st = await runCli(['--state-dir', state, 'status', '--json']);
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout);
    expect(doc.schema).toBe('certctl.status/1');
    expect(doc.lineages[0]).toMatchObject({ name: 'www.shop.example.test', names: ['www.shop.example.test', 'shop.example.test'], keyType: 'ecdsa:p256', version: 1 });
    expect(doc.lineages[0].daysLeft).toBeGreaterThan(300);

    // The same exact set again: already held, nothing ordered.
    const again = await runCli([...common(state), '-d', 'shop.example.test', '-d', 'WWW.shop.example.test']);
    expect(again.code).toBe(3);
    expect(again.stdout).toMatch(/Already held/);
    const db2 = ledger(state);
    expect((db2.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n).toBe(1);
    db2.close();
  });

  it('issues an RSA certificate', async () => {
    const state = tempDir();
    const r = await runCli([...common(state), '-d', 'rsa.example.test', '--key-type', 'rsa:2048', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.issue/1', result: 'issued', lineage: 'rsa.example.test', version: 1 });
    expect(verifyChain(state, 'rsa.example.test')).toMatch(/OK/);
    const text = execFileSync('openssl', ['x509', '-in', path.join(state, 'live', 'rsa.example.test', 'cert.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    expect(text).toMatch(/rsaEncryption/);
  });

  it('serves the challenge itself with --standalone', async () => {
    const p2 = await startPebble({ noWeb: true });
    try {
      const state = tempDir();
      const r = await runCli([
        '--state-dir', state, 'issue', '--server', p2.directoryUrl, '--ca-bundle', p2.caBundle,
        '--standalone', `127.0.0.1:${p2.httpPort}`, '-d', 'standalone.example.test', '--resolver', p2.dns.resolver, '--http-port', String(p2.httpPort),
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(fs.existsSync(path.join(state, 'live', 'standalone.example.test', 'fullchain.pem'))).toBe(true);
      // The readiness check served its own probe on the same port before certctl's responder took it.
      const db = ledger(state);
      expect(db.prepare("SELECT ok FROM prechecks WHERE name = 'standalone.example.test' AND check_name = 'http01'").all()).toEqual([{ ok: 1 }]);
      db.close();
    } finally {
      await p2.stop();
    }
  });
});

describe('External Account Binding', () => {
  let eabPebble: Pebble;
  const hmac = Buffer.from('certctl-test-hmac-key-0123456789').toString('base64url');
  beforeAll(async () => {
    eabPebble = await startPebble({ eab: { 'kid-1': hmac } });
  });
  afterAll(async () => {
    await eabPebble?.stop();
  });

  it('refuses clearly without EAB when the CA requires it, and issues with it', async () => {
    const state = tempDir();
    const base = ['--state-dir', state, 'issue', '--server', eabPebble.directoryUrl, '--ca-bundle', eabPebble.caBundle, '--webroot', eabPebble.webroot, '--resolver', eabPebble.dns.resolver, '--http-port', String(eabPebble.httpPort), '-d', 'eab.example.test'];
    const no = await runCli(base);
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/requires External Account Binding/);
    const yes = await runCli([...base, '--eab-kid', 'kid-1', '--eab-hmac-key', hmac]);
    expect(yes.stderr).toBe('');
    expect(yes.code).toBe(0);
    const db = ledger(state);
    expect(db.prepare('SELECT eab_kid FROM accounts').get()).toEqual({ eab_kid: 'kid-1' });
    db.close();
  });
});
