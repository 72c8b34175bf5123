/**
 * `certctl issue --key-type dual` end to end: the built CLI against a real
 * Pebble. One lineage, two orders for the same names (RSA + ECDSA), both
 * chains verified by OpenSSL, one bundle in the ledger, the planner counting
 * the request as two certificates, and the nginx snippet naming both pairs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir } from '../helpers/cli.js';

let pebble: Pebble;
let rootFile: string;

beforeAll(async () => {
  pebble = await startPebble();
  rootFile = path.join(tempDir(), 'pebble-root.pem');
  fs.writeFileSync(rootFile, await pebble.rootPem());
});
afterAll(async () => {
  await pebble?.stop();
});

const NAMES = ['dual.example.test', 'www.dual.example.test'];
const LINEAGE = 'dual.example.test';

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8' });
}

describe('dual (RSA + ECDSA) issuance against Pebble', () => {
  it('plans 2 certificates, issues two orders into one lineage, both verify, one bundle in the ledger, nginx snippet', async () => {
    const state = tempDir();
    const dFlags = NAMES.flatMap((n) => ['-d', n]);

    // Before anything is sent: the planner says this request spends 2 of the exact-set limit.
    const plan = await runCli(['--state-dir', state, '--json', 'plan', '--server', pebble.directoryUrl, '--key-type', 'dual', ...dFlags]);
    expect(plan.code).toBe(0);
    const pdoc = JSON.parse(plan.stdout);
    expect(pdoc.plans[0]).toMatchObject({ keyType: 'dual', parts: 2, verdict: 'allowed' });
    const dup = pdoc.plans[0].limits.find((l: { name: string }) => l.name === 'duplicate-certificates');
    expect(dup).toMatchObject({ scope: 'dual.example.test,www.dual.example.test', used: 0, spend: 2, after: dup.capacity - 2 });
    const perDomain = pdoc.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain');
    expect(perDomain).toMatchObject({ scope: 'example.test', spend: 2 });
    expect(pdoc.plans[0].notes.join(' ')).toMatch(/2 certificates/);

    const r = await runCli([
      '--state-dir', state, 'issue', '--server', pebble.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot,
      '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '--key-type', 'dual', ...dFlags,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Ordering 2 certificates/);
    expect(r.stdout).toMatch(/Issued dual\.example\.test: serial [0-9A-F]+,/);
    expect(r.stdout).toMatch(/Issued dual\.example\.test \(ecdsa\): serial [0-9A-F]+,/);

    const live = path.join(state, 'live', LINEAGE);
    const archive = path.join(state, 'archive', LINEAGE);
    for (const suffix of ['', '-ecdsa']) {
      for (const f of ['cert', 'chain', 'fullchain', 'privkey']) {
        const link = path.join(live, `${f}${suffix}.pem`);
        expect(fs.lstatSync(link).isSymbolicLink(), link).toBe(true);
        expect(fs.readlinkSync(link)).toBe(path.join('..', '..', 'archive', LINEAGE, `${f}${suffix}1.pem`));
      }
      expect(fs.statSync(path.join(archive, `privkey${suffix}1.pem`)).mode & 0o777).toBe(0o600);
      // The chain verifies against Pebble's root.
      const v = openssl(['verify', '-CAfile', rootFile, '-untrusted', path.join(live, `chain${suffix}.pem`), path.join(live, `cert${suffix}.pem`)]);
      expect(v).toMatch(/cert(-ecdsa)?\.pem: OK/);
      // fullchain = cert + chain.
      expect(fs.readFileSync(path.join(live, `fullchain${suffix}.pem`), 'utf8')).toBe(fs.readFileSync(path.join(live, `cert${suffix}.pem`), 'utf8') + fs.readFileSync(path.join(live, `chain${suffix}.pem`), 'utf8'));
      // The key belongs to the certificate.
      const pubCert = openssl(['x509', '-in', path.join(live, `cert${suffix}.pem`), '-noout', '-pubkey']);
      const pubKey = openssl(['pkey', '-in', path.join(live, `privkey${suffix}.pem`), '-pubout']);
      expect(pubKey).toBe(pubCert);
    }
    const rsaText = openssl(['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-text']);
    expect(rsaText).toMatch(/Public Key Algorithm: rsaEncryption/);
    expect(rsaText).toMatch(/Public-Key: \(2048 bit\)/);
    const ecText = openssl(['x509', '-in', path.join(live, 'cert-ecdsa.pem'), '-noout', '-text']);
    expect(ecText).toMatch(/Public Key Algorithm: id-ecPublicKey/);
    expect(ecText).toMatch(/NIST CURVE: P-256|prime256v1/);
    for (const t of [rsaText, ecText]) {
      expect(t).toMatch(/DNS:dual\.example\.test/);
      expect(t).toMatch(/DNS:www\.dual\.example\.test/);
    }
    // Two different certificates (two orders), not one served twice.
    const serial = (f: string) => openssl(['x509', '-in', path.join(live, f), '-noout', '-serial']).trim();
    expect(serial('cert.pem')).not.toBe(serial('cert-ecdsa.pem'));

    const db = new Database(path.join(state, 'ledger.sqlite'), { readonly: true });
    try {
      const certs = db.prepare('SELECT role, bundle_id, set_key, key_type, version, order_id FROM certificates ORDER BY role').all() as Record<string, unknown>[];
      expect(certs).toHaveLength(2);
      expect(certs.map((c) => c.role)).toEqual(['ecdsa', 'main']);
      expect(certs[0]!.bundle_id).toBeTruthy();
      expect(certs[1]!.bundle_id).toBe(certs[0]!.bundle_id);
      expect(new Set(certs.map((c) => c.set_key))).toEqual(new Set(['dual.example.test,www.dual.example.test']));
      expect(certs.map((c) => c.key_type)).toEqual(['ecdsa:prime256v1', 'rsa:2048']);
      expect(certs.every((c) => c.version === 1)).toBe(true);
      const orders = db.prepare('SELECT id, role, bundle_id, state, step, status, set_key FROM orders ORDER BY role').all() as Record<string, unknown>[];
      expect(orders).toHaveLength(2);
      expect(orders.map((o) => o.role)).toEqual(['ecdsa', 'main']);
      for (const o of orders) expect(o).toMatchObject({ state: 'done', step: 'stored', status: 'valid', bundle_id: certs[0]!.bundle_id, set_key: 'dual.example.test,www.dual.example.test' });
      expect(new Set(certs.map((c) => c.order_id))).toEqual(new Set(orders.map((o) => o.id)));
    } finally {
      db.close();
    }

    // After issuing: the ledger now holds 2 of the exact set; another dual request would spend 2 more.
    const again = await runCli(['--state-dir', state, '--json', 'plan', '--server', pebble.directoryUrl, '--key-type', 'dual', '--force-renewal', ...dFlags]);
    const adoc = JSON.parse(again.stdout);
    const dup2 = adoc.plans[0].limits.find((l: { name: string }) => l.name === 'duplicate-certificates');
    expect(dup2).toMatchObject({ used: 2, spend: 2, after: dup.capacity - 4 });

    // nginx snippet: two pairs, RSA first, pointing at the live files.
    const sn = await runCli(['--state-dir', state, 'status', '--nginx', LINEAGE]);
    expect(sn.stderr).toBe('');
    expect(sn.code).toBe(0);
    const certsIn = [...sn.stdout.matchAll(/ssl_certificate\s+(\S+);/g)].map((m) => m[1]);
    const keysIn = [...sn.stdout.matchAll(/ssl_certificate_key\s+(\S+);/g)].map((m) => m[1]);
    expect(certsIn).toEqual([path.join(live, 'fullchain.pem'), path.join(live, 'fullchain-ecdsa.pem')]);
    expect(keysIn).toEqual([path.join(live, 'privkey.pem'), path.join(live, 'privkey-ecdsa.pem')]);
    expect(sn.stdout).toContain('server_name dual.example.test www.dual.example.test;');
    const missing = await runCli(['--state-dir', state, 'status', '--nginx', 'nope.example.test']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No lineage named "nope\.example\.test"/);
  });
});
