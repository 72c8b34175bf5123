/**
 * `certctl csr` as a user runs it: the built CLI in a subprocess, checked by
 * the files it leaves (names, modes), by OpenSSL, and by its exit codes.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin/certctl.js');
const DISTID = 'distid:1234567812345678';
let tmp: string;

beforeAll(async () => {
  // Built once before the suite (npm test = build && vitest): building here would rewrite dist/
  // while other test files run the CLI from it.
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-csr-cli-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Run the CLI; never throws, returns exit code and both streams. */
async function certctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [bin, '--state-dir', path.join(tmp, 'state'), ...args], { cwd: tmp, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
function openssl(args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.error) throw r.error;
  return r.stdout + r.stderr;
}
const mode = (f: string) => fs.statSync(f).mode & 0o777;
const verifies = (csr: string, sm2 = false) => openssl(['req', '-in', csr, '-noout', '-verify', ...(sm2 ? ['-vfyopt', DISTID] : [])]).includes('verify OK');
const keyOk = (key: string) => /Key is valid/.test(openssl(['pkey', '-in', key, '-check', '-noout']));

describe('certctl csr', () => {
  it('sm2: writes sign and enc key + CSR, keys 0600, both verified by OpenSSL with the right key usages', async () => {
    const out = path.join(tmp, 'sm2');
    const r = await certctl(['csr', '--key-type', 'sm2', '-d', 'www.example.com', '-d', 'example.com', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['enc.csr', 'enc.key', 'sign.csr', 'sign.key']);
    expect(mode(path.join(out, 'sign.key'))).toBe(0o600);
    expect(mode(path.join(out, 'enc.key'))).toBe(0o600);
    expect(mode(out)).toBe(0o700);
    for (const role of ['sign', 'enc']) {
      expect(keyOk(path.join(out, `${role}.key`))).toBe(true);
      expect(verifies(path.join(out, `${role}.csr`), true)).toBe(true);
    }
    const sign = openssl(['req', '-in', path.join(out, 'sign.csr'), '-noout', '-text']);
    expect(sign).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Non Repudiation\n/);
    expect(sign).toContain('DNS:www.example.com, DNS:example.com');
    const enc = openssl(['req', '-in', path.join(out, 'enc.csr'), '-noout', '-text']);
    expect(enc).toMatch(/X509v3 Key Usage: critical\s+Key Encipherment, Data Encipherment, Key Agreement\n/);
    // the two pairs are different keys
    expect(fs.readFileSync(path.join(out, 'sign.key'), 'utf8')).not.toBe(fs.readFileSync(path.join(out, 'enc.key'), 'utf8'));
    expect(r.stdout).toContain('sign.key');
  });

  it('ecdsa (default): privkey.pem + csr.pem, IP names allowed', async () => {
    const out = path.join(tmp, 'ec');
    const r = await certctl(['csr', '-d', 'example.com,192.0.2.10', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['csr.pem', 'privkey.pem']);
    expect(mode(path.join(out, 'privkey.pem'))).toBe(0o600);
    expect(keyOk(path.join(out, 'privkey.pem'))).toBe(true);
    expect(verifies(path.join(out, 'csr.pem'))).toBe(true);
    const text = openssl(['req', '-in', path.join(out, 'csr.pem'), '-noout', '-text']);
    expect(text).toContain('DNS:example.com, IP Address:192.0.2.10');
    expect(text).toMatch(/ecdsa-with-SHA256/);
  });

  it('dual with --json: four files with -rsa/-ecdsa suffixes, listed in a certctl.csr/1 document', async () => {
    const out = path.join(tmp, 'dual');
    const r = await certctl(['--json', 'csr', '--key-type', 'dual', '-d', 'example.com', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.schema).toBe('certctl.csr/1');
    expect(doc.keyType).toBe('dual');
    expect(doc.names).toEqual(['example.com']);
    expect(doc.files.map((f: { path: string }) => path.basename(f.path))).toEqual(['privkey-rsa.pem', 'csr-rsa.pem', 'privkey-ecdsa.pem', 'csr-ecdsa.pem']);
    expect(doc.files.map((f: { kind: string; algorithm: string }) => `${f.kind}:${f.algorithm}`)).toEqual(['key:rsa:2048', 'csr:rsa:2048', 'key:ecdsa:p256', 'csr:ecdsa:p256']);
    for (const f of doc.files as { path: string; kind: string }[]) {
      if (f.kind === 'key') {
        expect(mode(f.path)).toBe(0o600);
        expect(keyOk(f.path)).toBe(true);
      } else {
        expect(verifies(f.path)).toBe(true);
      }
    }
    expect(openssl(['req', '-in', path.join(out, 'csr-rsa.pem'), '-noout', '-text'])).toMatch(/sha256WithRSAEncryption/);
  });

  it('never replaces an existing key without --force; with --force it does, still 0600, no temp files left', async () => {
    const out = path.join(tmp, 'again');
    expect((await certctl(['csr', '--key-type', 'rsa:2048', '-d', 'example.com', '--out', out])).code).toBe(0);
    const before = fs.readFileSync(path.join(out, 'privkey.pem'), 'utf8');
    const refused = await certctl(['csr', '--key-type', 'rsa:2048', '-d', 'example.com', '--out', out]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/privkey\.pem already exists; certctl never replaces a private key unasked/);
    expect(refused.stderr).toMatch(/--force/);
    expect(fs.readFileSync(path.join(out, 'privkey.pem'), 'utf8')).toBe(before);
    const forced = await certctl(['csr', '--key-type', 'rsa:2048', '-d', 'example.com', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, 'privkey.pem'), 'utf8')).not.toBe(before);
    expect(mode(path.join(out, 'privkey.pem'))).toBe(0o600);
    expect(verifies(path.join(out, 'csr.pem'))).toBe(true);
    expect(fs.readdirSync(out).sort()).toEqual(['csr.pem', 'privkey.pem']);
  });

  it('exit 2 with a clear message for a bad name, and nothing is written', async () => {
    const out = path.join(tmp, 'badname');
    const r = await certctl(['csr', '-d', 'https://example.com/', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: "https:\/\/example\.com\/" is not a domain name/);
    expect(fs.existsSync(out)).toBe(false);
    const single = await certctl(['csr', '-d', 'localhost', '--out', out]);
    expect(single.code).toBe(2);
    expect(single.stderr).toMatch(/single label/);
  });

  it('exit 2 with the accepted forms for a bad key type (text and --json)', async () => {
    const out = path.join(tmp, 'badtype');
    const r = await certctl(['csr', '--key-type', 'rsa:1024', '-d', 'example.com', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown key type "rsa:1024"/);
    expect(r.stderr).toMatch(/rsa:2048.*ecdsa:p384.*sm2/);
    expect(fs.existsSync(out)).toBe(false);
    const j = await certctl(['--json', 'csr', '--key-type', 'sm3', '-d', 'example.com', '--out', out]);
    expect(j.code).toBe(2);
    const doc = JSON.parse(j.stdout);
    expect(doc.schema).toBe('certctl.error/1');
    expect(doc.error.exitCode).toBe(2);
  });

  it('exit 2 when names or --out are missing', async () => {
    const noNames = await certctl(['csr', '--out', path.join(tmp, 'x')]);
    expect(noNames.code).toBe(2);
    expect(noNames.stderr).toMatch(/No names given/);
    const noOut = await certctl(['csr', '-d', 'example.com']);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toMatch(/--out/);
  });
});
