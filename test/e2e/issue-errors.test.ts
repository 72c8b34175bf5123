/**
 * Bad input to `certctl issue`: each refusal is one clear sentence and an
 * exit code, nothing is sent, no partial lineage is left, the ledger stays
 * intact.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
/** certctl's ACME test proxy in front of Pebble: "nothing sent" is counted here, at the server, every endpoint. */
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa()));
afterAll(() => stopOneCa({ pebble, proxy }));

function args(state: string, webroot = pebble.webroot): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}

/** Rows certctl wrote: accounts included (an account registered is something sent and something written). */
function counts(state: string): Record<string, number> {
  const file = path.join(state, 'ledger.sqlite');
  if (!fs.existsSync(file)) return { accounts: 0, lineages: 0, orders: 0, certificates: 0 };
  const db = new Database(file, { readonly: true });
  const n = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  const out = { accounts: n('accounts'), lineages: n('lineages'), orders: n('orders'), certificates: n('certificates') };
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  db.close();
  return out;
}

describe('names are validated before anything is sent', () => {
  const cases: [string[], RegExp][] = [
    [['-d', '*.example.test'], /wildcards cannot be validated with HTTP-01/],
    [['-d', 'a.*.example.test'], /wildcard may only be the whole leftmost label/],
    [['-d', 'co.uk'], /is a public suffix/],
    [['-d', 'localhost'], /single label/],
    [['-d', '192.0.2.1'], /IP address/],
    [['-d', 'a.example.test', '-d', 'A.example.test.'], /given twice/],
    [['-d', 'http://a.example.test/'], /not a domain name/],
    [['-d', '-bad.example.test'], /invalid label/],
    [['-d', `${'a'.repeat(64)}.example.test`], /invalid label/],
    [['-d', 'x.example.test', '--cert-name', '../../etc'], /cannot be used as a certificate name/],
    [['-d', 'x.example.test', '--key-type', 'dsa'], /Unknown key type/],
    [['-d', 'e.example.test', '--cert-name', ''], /cannot be used as a certificate name/],
  ];
  for (const [extra, message] of cases) {
    it(`refuses ${extra.join(' ')}`, async () => {
      const state = tempDir();
      proxy.resetObservations();
      const r = await runCli([...args(state), ...extra]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')[0]).toMatch(/^error: /);
      // Nothing sent: not even the directory or a nonce, at any endpoint (accounts included).
      expect(proxy.total(), JSON.stringify(proxy.counts)).toBe(0);
      // Nothing written: no ledger, no account, no lineage, no webroot directories.
      expect(fs.readdirSync(state)).toEqual([]);
      expect(fs.readdirSync(pebble.webroot)).toEqual([]);
      expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
    });
  }

  it('accepts an IDN and stores its punycode form', async () => {
    const state = tempDir();
    const r = await runCli([...args(state), '-d', 'bücher.example.test', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).certificates[0].names).toEqual(['xn--bcher-kva.example.test']);
  });
});

describe('environment problems', () => {
  it('a webroot that does not exist: exit 2, nothing written', async () => {
    const state = tempDir();
    const r = await runCli([...args(state, path.join(tempDir(), 'no-such-dir')), '-d', 'nowebroot.example.test']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/webroot .* does not exist/);
    expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
  });

  it('a webroot that cannot be written: exit 2, nothing written', async () => {
    const state = tempDir();
    const webroot = tempDir();
    // .well-known is a file, so the challenge directory cannot be created (works as root too).
    fs.writeFileSync(path.join(webroot, '.well-known'), 'not a directory');
    const r = await runCli([...args(state, webroot), '-d', 'ro.example.test']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Cannot write into/);
    expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
  });

  it('an unreachable ACME server: exit 8 with the real network error, no lineage left', async () => {
    const state = tempDir();
    const port = await freePort();
    const r = await runCli(['--state-dir', state, 'issue', '--server', `https://127.0.0.1:${port}/dir`, '--webroot', pebble.webroot, '-d', 'unreach.example.test', '--no-precheck']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/Cannot reach the ACME server at https:\/\/127\.0\.0\.1:\d+\/dir: ECONNREFUSED/);
    expect(r.stderr).not.toMatch(/TypeError|Cannot read properties/);
    expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
  });

  it('an untrusted TLS certificate is reported as such (verification is never turned off)', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, 'issue', '--server', pebble.directoryUrl, '--webroot', pebble.webroot, '-d', 'tls.example.test', '--no-precheck']);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/--ca-bundle/);
    expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
  });
});

describe('a CA that rejects every nonce', () => {
  it('gives up after bounded badNonce retries with a CA error, not an internal error', async () => {
    const bad = await startPebble({ nonceReject: 100 });
    try {
      const state = tempDir();
      const r = await runCli(['--state-dir', state, 'issue', '--server', bad.directoryUrl, '--ca-bundle', bad.caBundle, '--webroot', bad.webroot, '--resolver', bad.dns.resolver, '--http-port', String(bad.httpPort), '-d', 'nonce.example.test']);
      expect(r.code).toBe(8);
      expect(r.stderr).toMatch(/badNonce|anti-replay nonce/);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(counts(state)).toEqual({ accounts: 0, lineages: 0, orders: 0, certificates: 0 });
    } finally {
      await bad.stop();
    }
  });
});
