/**
 * `certctl check` end to end: the BUILT CLI as a subprocess, pebble-challtestsrv
 * as DNS, a local web server serving the webroot. Asserts what the user
 * reads, the JSON document, exit codes and the ledger rows.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChallTestSrv, type ChallTestSrv } from '../helpers/challtestsrv.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { Ledger } from '../../src/core/ledger/ledger.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOW = '2026-01-20T12:00:00Z';
let cts: ChallTestSrv;
let server: http.Server;
let port: number;
let webroot: string;

beforeAll(async () => {
  // The test runs what users run: the compiled CLI, built once before the suite (npm test = build && vitest);
  // building here would rewrite dist/ while other test files run the CLI from it.
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  cts = await startChallTestSrv();
  webroot = tempDir('certctl-check-webroot-');
  port = await freePort();
  server = http.createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    // Only names under ready.test are served from the webroot; everything else 404s, like a default vhost.
    const file = token && req.headers.host?.includes('ready.test') ? path.join(webroot, '.well-known', 'acme-challenge', token) : undefined;
    if (file && fs.existsSync(file)) return void res.writeHead(200).end(fs.readFileSync(file));
    res.writeHead(404).end('<h1>404 Not Found</h1>');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await cts.post('/add-caa', { host: 'forbidden.test', policies: [{ tag: 'issue', value: 'pki.goog' }] });
  await cts.post('/add-caa', { host: 'ready.test', policies: [{ tag: 'issue', value: 'letsencrypt.org' }] });
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await cts?.stop();
  if (webroot) fs.rmSync(webroot, { recursive: true, force: true });
});

function check(stateDir: string, ...args: string[]) {
  return runCli(['check', '--state-dir', stateDir, '--resolver', cts.resolver, '--http-port', String(port), '--https-port', String(port + 1), '--timeout', '2', ...args], { CERTCTL_TEST_NOW: NOW });
}

function rows(stateDir: string) {
  const l = Ledger.open(path.join(stateDir, 'ledger.sqlite'));
  try {
    return l.db.prepare('SELECT at, name, check_name, ok, summary, evidence_json, advice FROM prechecks ORDER BY id').all() as {
      at: number;
      name: string;
      check_name: string;
      ok: number;
      summary: string;
      evidence_json: string;
      advice: string | null;
    }[];
  } finally {
    l.close();
  }
}

describe('certctl check', () => {
  it('all ready: exit 0, a line per check, rows in the ledger, probe removed', async () => {
    const state = tempDir();
    const r = await check(state, '-d', 'www.ready.test', '-d', 'ready.test', '--webroot', webroot);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('www.ready.test\n  passed  dns       resolves: A 127.0.0.1');
    expect(r.stdout).toMatch(/passed {2}http01 {4}fetched http:\/\/www\.ready\.test:\d+\/\.well-known\/acme-challenge\/\S+ from 127\.0\.0\.1: 200, the body matches/);
    expect(r.stdout).toContain('passed  caa       CAA inherited from ready.test: issue "letsencrypt.org" authorises this CA');
    expect(r.stdout).toContain('passed  failures  no failed validations in the last hour');
    expect(r.stdout).toContain('Ready: all 8 checks passed for 2 names.');
    const stored = rows(state);
    expect(stored).toHaveLength(8);
    // certctl's clock starts at NOW in that process and runs on (test/helpers/fake-clock.cjs): within the run's few seconds.
    expect(stored.every((x) => x.ok === 1 && x.at >= Date.parse(NOW) && x.at < Date.parse(NOW) + 30_000)).toBe(true);
    expect(stored.map((x) => `${x.name} ${x.check_name}`)).toContain('ready.test http01');
    expect(fs.readdirSync(webroot)).toEqual([]);
  });

  it('not ready: exit 6, evidence and what to do, failures stored', async () => {
    const state = tempDir();
    const r = await check(state, '-d', 'www.forbidden.test', '--webroot', webroot);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('FAILED  http01');
    expect(r.stdout).toMatch(/fetched {3}http:\/\/www\.forbidden\.test:\d+\/\.well-known\/acme-challenge\/\S+ \(127\.0\.0\.1\): 404/);
    expect(r.stdout).toContain('got       "<h1>404 Not Found</h1>"');
    expect(r.stdout).toMatch(/to do {5}The server answering for www\.forbidden\.test does not serve /);
    expect(r.stdout).toContain("FAILED  caa       CAA inherited from forbidden.test forbids Let's Encrypt");
    expect(r.stdout).toContain('CAA       www.forbidden.test: nodata\n          CAA       forbidden.test: 0 issue "pki.goog"');
    expect(r.stdout).toContain('forbidden.test. CAA 0 issue "letsencrypt.org"');
    expect(r.stdout).toContain('Not ready: 2 of 4 checks failed.');
    const stored = rows(state);
    const failed = stored.filter((x) => x.ok === 0);
    expect(failed.map((x) => x.check_name).sort()).toEqual(['caa', 'http01']);
    expect(failed.every((x) => x.advice && x.advice.length > 10)).toBe(true);
    expect(JSON.parse(failed.find((x) => x.check_name === 'http01')!.evidence_json)).toMatchObject({ status: 404, failure: 'status' });
    expect(fs.readdirSync(webroot)).toEqual([]);
  });

  it('--json: one certctl.check/1 document, exit code in it and in the process', async () => {
    const state = tempDir();
    const r = await check(state, '--json', '-d', 'www.forbidden.test', '-d', 'ready.test', '--webroot', webroot);
    expect(r.code).toBe(6);
    const doc = JSON.parse(r.stdout);
    expect(doc.schema).toBe('certctl.check/1');
    expect(doc).toMatchObject({ ok: false, exitCode: 6, method: 'webroot', names: ['www.forbidden.test', 'ready.test'], httpPort: port });
    expect(doc.checkedAt).toMatch(/^2026-01-20T12:00:(0\d|1\d|2\d)\.\d{3}Z$/);
    expect(doc.ca).toEqual({ id: 'letsencrypt', name: "Let's Encrypt", directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory', caaIdentities: ['letsencrypt.org'] });
    expect(doc.results.map((x: { name: string; check: string; ok: boolean }) => `${x.name} ${x.check} ${x.ok}`)).toEqual([
      'www.forbidden.test dns true',
      'www.forbidden.test http01 false',
      'www.forbidden.test caa false',
      'www.forbidden.test failures true',
      'ready.test dns true',
      'ready.test http01 true',
      'ready.test caa true',
      'ready.test failures true',
    ]);
    const caa = doc.results.find((x: { check: string; ok: boolean }) => x.check === 'caa' && !x.ok);
    expect(caa.evidence.records).toEqual(['0 issue "pki.goog"']);
    expect(caa.advice).toContain('letsencrypt.org');
    expect(doc.skipped).toEqual([]);
    expect(doc.warnings).toEqual([]);
  });

  it('without --webroot/--standalone: DNS and CAA only, HTTP-01 listed as skipped', async () => {
    const r = await check(tempDir(), '-d', 'www.ready.test');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('skipped http01    no --webroot or --standalone given');
  });

  it('standalone: serves the probe itself', async () => {
    const sport = await freePort();
    const r = await runCli(['check', '--state-dir', tempDir(), '--resolver', cts.resolver, '--http-port', String(sport), '--standalone', `127.0.0.1:${sport}`, '-d', 'www.ready.test'], { CERTCTL_TEST_NOW: NOW });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/passed {2}http01/);
  });

  it('a DNS failure: SERVFAIL reported, HTTP-01 not tried, exit 6', async () => {
    await cts.post('/set-servfail', { host: 'sf.ready.test' });
    const r = await check(tempDir(), '-d', 'sf.ready.test', '--webroot', webroot);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('FAILED  dns       DNS SERVFAIL for sf.ready.test');
    expect(r.stdout).toContain('not tried: sf.ready.test does not resolve');
  });

  it('a name at its failed-validation limit in the ledger fails the failures check', async () => {
    const state = tempDir();
    const l = Ledger.open(path.join(state, 'ledger.sqlite'));
    for (const min of [50, 40, 30, 20, 10]) {
      l.recordAuthorization({ order_id: null, account_id: null, directory_url: 'https://acme-v02.api.letsencrypt.org/directory', identifier: 'www.ready.test', authz_url: null, status: 'invalid', challenge_type: 'http-01', error_type: 'urn:ietf:params:acme:error:unauthorized', error_detail: 'Invalid response: 404', at: Date.parse(NOW) - min * 60_000 });
    }
    l.close();
    const r = await check(state, '-d', 'www.ready.test', '--webroot', webroot);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('FAILED  failures  5 failed validations in the last hour');
    expect(r.stdout).toContain('until 2026-01-20 12:10:00 UTC');
  });

  it("a CA without a CAA identity: cannot tell, unless --caa-identity says it", async () => {
    const a = await check(tempDir(), '--ca', 'pebble', '-d', 'www.ready.test');
    expect(a.code).toBe(6);
    expect(a.stdout).toContain("cannot tell: this CA's CAA identity is not configured");
    const b = await check(tempDir(), '--ca', 'pebble', '--caa-identity', 'letsencrypt.org', '-d', 'www.ready.test');
    expect(b.code).toBe(0);
  });

  it('bad input: exit 2 before anything is checked', async () => {
    const state = tempDir();
    for (const args of [
      ['-d', 'not a name'],
      ['-d', 'a.example.test', '--ca', 'nope'],
      ['-d', 'a.example.test', '--http-port', 'eighty'],
      ['-d', 'a.example.test', '--webroot', webroot, '--standalone', '5002'],
      ['-d', 'a.example.test', '--timeout', '0'],
    ]) {
      const r = await check(state, ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
    const bad = await runCli(['check', '--state-dir', state, '--resolver', 'dns.google:53', '-d', 'a.example.test']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not an IP address');
    const j = await runCli(['check', '--json', '--state-dir', state, '-d', '*.example.test']);
    expect(j.code).toBe(2);
    expect(JSON.parse(j.stdout)).toMatchObject({ schema: 'certctl.error/1', error: { exitCode: 2 } });
    expect(fs.existsSync(path.join(state, 'ledger.sqlite')) ? rows(state) : []).toEqual([]);
  });
});
