/**
 * certctl through an HTTP(S) proxy: Debian's tinyproxy on loopback between
 * the built CLI and the CA (Pebble behind the ACME test proxy, which counts
 * what reaches the CA). HTTPS_PROXY, NO_PROXY, --proxy, the config's proxy:,
 * credentials in the proxy URL (never shown), and a proxy that is down or
 * refuses the tunnel (one clear sentence, exit 8, nothing reached the CA).
 * The HTTP-01 readiness check goes direct (tinyproxy allows CONNECT only to
 * the CA's port, and forwards nothing to the web server's).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startTinyproxy, type TinyProxy } from '../../testkit/tinyproxy.js';
import { freePort } from '../../testkit/ports.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startCtServer, type CtServer } from '../unit/ct-server.js';

let pebble: Pebble;
let ca: AcmeTestProxy;
let tiny: TinyProxy;
let tinyAuth: TinyProxy;
const PASSWORD = 'Pw-s3cret-Zq9';

/** No proxy from the test runner's own environment. */
const CLEAN = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', ALL_PROXY: '', all_proxy: '', NO_PROXY: '', no_proxy: '' };

beforeAll(async () => {
  pebble = await startPebble({ nonceReject: 0 });
  ca = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  tiny = await startTinyproxy({ connectPorts: [ca.port] });
  tinyAuth = await startTinyproxy({ connectPorts: [ca.port], auth: { user: 'certctl', password: PASSWORD } });
});
afterAll(async () => {
  await tinyAuth?.stop();
  await tiny?.stop();
  await ca?.stop();
  await pebble?.stop();
});

const target = () => `127.0.0.1:${ca.port}`;
const issue = (state: string, name: string, extra: string[] = []) => ['--state-dir', state, ...extra, 'issue', ...pebbleIssueFlags(pebble, ca.directoryUrl), '--email', 'ops@example.test', '-d', name];

function everything(state: string): string {
  // Every file certctl wrote (ledger included), as text: no secret may be in any of them.
  let all = '';
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) all += fs.readFileSync(p).toString('latin1');
    }
  };
  walk(state);
  return all;
}

describe('certctl through an HTTP(S) proxy', () => {
  it('HTTPS_PROXY: every request to the CA goes through CONNECT tunnels, the readiness check goes direct', async () => {
    const state = tempDir();
    const before = tiny.connects().length;
    ca.resetObservations();
    const r = await runCli([...issue(state, 'via-proxy.example.test'), '--verbose'], { ...CLEAN, HTTPS_PROXY: tiny.url });
    expect(r.stderr).toContain(`via the proxy ${tiny.url} (from HTTPS_PROXY)`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Issued via-proxy.example.test');
    expect(ca.issued).toBe(1);
    const connects = tiny.connects().slice(before);
    expect(connects.length).toBeGreaterThan(0);
    expect(new Set(connects)).toEqual(new Set([target()]));
    // tinyproxy saw no plain request: the precheck of http://via-proxy.example.test/.well-known/… went direct.
    expect(tiny.log()).not.toMatch(/Request \(file descriptor \d+\): GET /);
    expect(pebble.webHits.some((h) => h.includes('/.well-known/acme-challenge/'))).toBe(true);
  });

  it('https_proxy (lower case) wins over HTTPS_PROXY, as in curl', async () => {
    const state = tempDir();
    const before = tiny.connects().length;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(issue(state, 'lower.example.test'), { ...CLEAN, https_proxy: tiny.url, HTTPS_PROXY: dead });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(tiny.connects().length).toBeGreaterThan(before);
  });

  it('NO_PROXY naming the CA host: certctl goes direct, tinyproxy sees no CONNECT', async () => {
    for (const noProxy of ['127.0.0.1', 'localhost,127.0.0.0/8', '*']) {
      const state = tempDir();
      const before = tiny.log().length;
      const r = await runCli(issue(state, 'direct.example.test'), { ...CLEAN, HTTPS_PROXY: tiny.url, NO_PROXY: noProxy });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(tiny.log().slice(before)).not.toContain('CONNECT');
    }
  });

  it('--proxy and the config file’s proxy: are used (over the environment), "" goes direct', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    let before = tiny.connects().length;
    const r1 = await runCli(issue(tempDir(), 'flag.example.test', ['--proxy', tiny.url]), { ...CLEAN, HTTPS_PROXY: dead });
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    expect(tiny.connects().length).toBeGreaterThan(before);

    const dir = tempDir();
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, `proxy: ${tiny.url}\n`);
    before = tiny.connects().length;
    const r2 = await runCli(issue(tempDir(), 'config.example.test', ['--config', config]), { ...CLEAN, HTTPS_PROXY: dead });
    expect(r2.stderr).toBe('');
    expect(r2.code).toBe(0);
    expect(tiny.connects().length).toBeGreaterThan(before);

    before = tiny.log().length;
    const r3 = await runCli(issue(tempDir(), 'none.example.test', ['--proxy', '']), { ...CLEAN, HTTPS_PROXY: tiny.url });
    expect(r3.stderr).toBe('');
    expect(r3.code).toBe(0);
    expect(tiny.log().slice(before)).not.toContain('CONNECT');
  });

  it('credentials in the proxy URL are sent to the proxy and shown nowhere (text, --json, --verbose, errors, ledger)', async () => {
    const state = tempDir();
    const before = tinyAuth.connects().length;
    const url = `http://certctl:${PASSWORD}@127.0.0.1:${tinyAuth.port}`;
    const r = await runCli([...issue(state, 'auth.example.test'), '--verbose'], { ...CLEAN, HTTPS_PROXY: url });
    expect(r.code).toBe(0);
    expect(tinyAuth.connects().length).toBeGreaterThan(before);
    const j = await runCli(['--json', ...issue(state, 'auth2.example.test')], { ...CLEAN, HTTPS_PROXY: url });
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toBeTruthy();
    // A wrong password: the proxy answers 407, said as the proxy's refusal; neither password shown.
    const wrong = `http://certctl:Wr0ng-Passw0rd@127.0.0.1:${tinyAuth.port}`;
    ca.resetObservations();
    const w = await runCli(['--json', ...issue(state, 'auth3.example.test')], { ...CLEAN, HTTPS_PROXY: wrong });
    expect(w.code).toBe(8);
    // (tinyproxy answers a CONNECT with wrong credentials 401, others 407.)
    const msg = JSON.parse(w.stdout).error.message as string;
    expect(msg.replace(/\(HTTP 40[17] [^)]*\)/, '(HTTP 4xx)')).toBe(`The proxy http://127.0.0.1:${tinyAuth.port} (from HTTPS_PROXY) wants credentials (HTTP 4xx) to open a tunnel to ${target()}, so nothing was sent to the ACME server at ${ca.directoryUrl}.`);
    expect(ca.total()).toBe(0);
    // On the command line a password is refused before anything is sent (any user can read argv).
    const a = await runCli(issue(state, 'auth4.example.test', ['--proxy', url]), CLEAN);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--proxy carries a password');
    expect(ca.total()).toBe(0);
    for (const out of [r.stdout, r.stderr, j.stdout, j.stderr, w.stdout, w.stderr, a.stdout, a.stderr, everything(state)]) {
      expect(out).not.toContain(PASSWORD);
      expect(out).not.toContain('Wr0ng-Passw0rd');
    }
  });

  it('a proxy that is down: one sentence about the proxy (not the CA), exit 8, nothing reached the CA', async () => {
    const port = await freePort();
    ca.resetObservations();
    const state = tempDir();
    const r = await runCli(issue(state, 'down.example.test'), { ...CLEAN, HTTPS_PROXY: `http://ops:${PASSWORD}@127.0.0.1:${port}` });
    expect(r.code).toBe(8);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`Cannot reach the proxy http://127.0.0.1:${port} (from HTTPS_PROXY) (ECONNREFUSED), so nothing was sent to the ACME server at ${ca.directoryUrl}.`);
    expect(r.stderr).toContain('Start the proxy or correct HTTPS_PROXY');
    expect(r.stderr).not.toContain('Nothing is listening there: check --server');
    expect(r.stderr).not.toContain(PASSWORD);
    expect(ca.total()).toBe(0);
    expect(everything(state)).not.toContain(PASSWORD);
  });

  it('CT (crt.sh) goes through the proxy too: http_proxy forwards an http:// crt.sh; a dead proxy is said as such, not retried', async () => {
    const srv: CtServer = await startCtServer();
    try {
      const FAST = ['--request-timeout', '2', '--total-timeout', '10', '--retries', '2', '--backoff', '0.05'];
      const before = tiny.log().length;
      const r = await runCli(['--state-dir', tempDir(), 'sync', 'ct', 'ctproxy.com', '--ct-url', srv.url, ...FAST], { ...CLEAN, http_proxy: tiny.url });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/ctproxy\.com: complete/);
      expect(tiny.log().slice(before)).toMatch(new RegExp(`GET ${srv.url.replace(/[.]/g, '\\.')}/\\?q=ctproxy\\.com`));

      const hits = srv.hits.length;
      const port = await freePort();
      const d = await runCli(['--state-dir', tempDir(), '--json', 'sync', 'ct', 'ctdown.com', '--ct-url', srv.url, ...FAST], { ...CLEAN, http_proxy: `http://127.0.0.1:${port}` });
      expect(d.code).toBe(8);
      const doc = JSON.parse(d.stdout);
      expect(doc.domains[0].error).toContain(`Cannot reach the proxy http://127.0.0.1:${port} (from http_proxy) (ECONNREFUSED), so nothing was sent to crt.sh.`);
      expect(doc.domains[0].attempts).toBe(2);
      expect(srv.hits.length).toBe(hits);
    } finally {
      await srv.stop();
    }
  });

  it('a proxy that refuses the tunnel (403) or a bad proxy URL: one sentence each, nothing reached the CA', async () => {
    const strict = await startTinyproxy({ connectPorts: [1] });
    try {
      ca.resetObservations();
      const r = await runCli(issue(tempDir(), 'refused.example.test'), { ...CLEAN, HTTPS_PROXY: strict.url });
      expect(r.code).toBe(8);
      expect(r.stderr).toContain(`The proxy ${strict.url} (from HTTPS_PROXY) refused to open a tunnel to ${target()} (HTTP 403`);
      expect(ca.total()).toBe(0);
    } finally {
      await strict.stop();
    }
    const s = await runCli(issue(tempDir(), 'socks.example.test'), { ...CLEAN, HTTPS_PROXY: 'socks5://127.0.0.1:1080' });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('The proxy given by HTTPS_PROXY is a socks5:// proxy; certctl speaks only to HTTP(S) proxies (CONNECT).');
    const dir = tempDir();
    const config = path.join(dir, 'config.yaml');
    fs.writeFileSync(config, 'proxy: ftp://proxy.example\n');
    const c = await runCli(issue(tempDir(), 'cfg.example.test', ['--config', config]), CLEAN);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/config\.yaml:1.*proxy.*ftp:\/\/ proxy/);
    expect(ca.total()).toBe(0);
  });
});

describe('notification webhooks through the proxy', () => {
  it('http_proxy carries a webhook POST (tinyproxy forwards it); NO_PROXY sends it direct; the receiver gets it both ways', async () => {
    const http = await import('node:http');
    const got: string[] = [];
    const rx = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        got.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    const port = (rx.address() as { port: number }).port;
    try {
      const dir = tempDir();
      const cfg = path.join(dir, 'config.yaml');
      fs.writeFileSync(cfg, `notify:\n  targets:\n    - type: webhook\n      name: ops\n      url: http://127.0.0.1:${port}/hook\n`);
      const before = tiny.log().length;
      const via = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test', '--json'], { ...CLEAN, http_proxy: tiny.url });
      expect(via.code, via.stderr).toBe(0);
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0]!).schema).toBe('certctl.notify/1');
      expect(tiny.log().slice(before)).toMatch(new RegExp(`Request \\(file descriptor \\d+\\): POST http://127\\.0\\.0\\.1:${port}/hook`));
      const mid = tiny.log().length;
      const direct = await runCli(['--state-dir', dir, '--config', cfg, 'notify', 'test', '--json'], { ...CLEAN, http_proxy: tiny.url, NO_PROXY: '127.0.0.1' });
      expect(direct.code, direct.stderr).toBe(0);
      expect(got).toHaveLength(2);
      expect(tiny.log().slice(mid)).not.toMatch(/POST http:/);
    } finally {
      rx.close();
    }
  });
});
