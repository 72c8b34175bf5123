/**
 * HTTP-01 readiness against pebble-challtestsrv's DNS (every name → 127.0.0.1)
 * and a local web server on a free port standing in for the site's server.
 * The server's behaviour is switched per test with `mode`.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startChallTestSrv, type ChallTestSrv } from '../helpers/challtestsrv.js';
import { freePort } from '../helpers/ports.js';
import { runPrechecks, type PrecheckOptions } from '../../src/core/precheck/index.js';

type Mode = 'static' | 'wrong' | 'chain' | 'loop' | 'forbidden-port' | 'https-scheme-ftp' | 'huge' | 'huge-declared' | 'slow' | 'ip-redirect' | 'many';
let mode: Mode = 'static';
let cts: ChallTestSrv;
let server: http.Server;
let port: number;
let webroot: string;
const requests: { host: string | undefined; url: string }[] = [];

function serveFile(token: string, res: http.ServerResponse): void {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) {
    res.writeHead(400).end();
    return;
  }
  const file = path.join(webroot, '.well-known', 'acme-challenge', token);
  if (!fs.existsSync(file)) {
    res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' }).end(fs.readFileSync(file));
}

beforeAll(async () => {
  cts = await startChallTestSrv();
  port = await freePort();
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push({ host: req.headers.host, url });
    const m = /^\/(?:\.well-known\/acme-challenge|hop\d|final)\/([^/?]+)/.exec(url);
    const token = m?.[1] ?? '';
    switch (mode) {
      case 'static':
        return serveFile(token, res);
      case 'wrong':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Welcome to nginx!</html>\n');
      case 'chain':
        if (url.startsWith('/.well-known/')) return void res.writeHead(302, { location: `/hop1/${token}` }).end();
        if (url.startsWith('/hop1/')) return void res.writeHead(301, { location: `http://other.example.test:${port}/hop2/${token}` }).end();
        if (url.startsWith('/hop2/')) return void res.writeHead(307, { location: `/final/${token}?x=1` }).end();
        return serveFile(token, res);
      case 'loop':
        if (url.startsWith('/.well-known/')) return void res.writeHead(302, { location: '/a' }).end();
        return void res.writeHead(302, { location: url === '/a' ? '/b' : '/a' }).end();
      case 'many': {
        const n = Number(/\/n(\d+)/.exec(url)?.[1] ?? 0);
        return void res.writeHead(302, { location: `/n${n + 1}` }).end();
      }
      case 'forbidden-port':
        return void res.writeHead(301, { location: `http://${req.headers.host?.split(':')[0]}:8080${url}` }).end();
      case 'https-scheme-ftp':
        return void res.writeHead(301, { location: `ftp://files.example.test${url}` }).end();
      case 'ip-redirect':
        return void res.writeHead(301, { location: `http://127.0.0.1:${port}${url}` }).end();
      case 'huge': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const pump = () => {
          while (sent < 200 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('error', () => undefined);
        return pump();
      }
      case 'huge-declared':
        return void res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) }).write('x'.repeat(1000));
      case 'slow':
        return; // never answers
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await cts?.stop();
});

beforeEach(() => {
  mode = 'static';
  requests.length = 0;
  webroot = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-webroot-'));
});
afterEach(() => {
  server.closeAllConnections();
  fs.rmSync(webroot, { recursive: true, force: true });
});

function opts(over: Partial<PrecheckOptions> = {}): PrecheckOptions {
  return { names: ['www.site.example.test'], webroot, resolver: cts.resolver, httpPort: port, httpsPort: port + 1, caaIdentities: ['letsencrypt.org'], now: Date.now(), timeoutMs: 2000, ...over };
}

/** The probe directory certctl created must be gone again (nothing left behind). */
function expectClean(): void {
  expect(fs.existsSync(path.join(webroot, '.well-known'))).toBe(false);
}

const http01 = (rep: Awaited<ReturnType<typeof runPrechecks>>, name = 'www.site.example.test') => rep.results.find((r) => r.check === 'http01' && r.name === name)!;

describe('HTTP-01 readiness through a webroot', () => {
  it('ready: the probe is fetched through DNS with the Host header, matches, and is removed', async () => {
    const rep = await runPrechecks(opts({ names: ['www.site.example.test', 'site.example.test'] }));
    expect(rep.ok).toBe(true);
    const r = http01(rep);
    expect(r.ok).toBe(true);
    expect(r.summary).toMatch(/200, the body matches/);
    expect(r.evidence.url).toMatch(new RegExp(`^http://www\\.site\\.example\\.test:${port}/\\.well-known/acme-challenge/[A-Za-z0-9_-]{43}$`));
    expect((r.evidence.hops as { address: string }[])[0]!.address).toBe('127.0.0.1');
    expect(requests.map((q) => q.host).sort()).toEqual([`site.example.test:${port}`, `www.site.example.test:${port}`]);
    expectClean();
  });

  it('keeps a pre-existing challenge directory and removes only its own file', async () => {
    const dir = path.join(webroot, '.well-known', 'acme-challenge');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'keep-me'), 'x');
    const rep = await runPrechecks(opts());
    expect(rep.ok).toBe(true);
    expect(fs.readdirSync(dir)).toEqual(['keep-me']);
  });

  it('wrong body: fails, shows what came back, removes the probe', async () => {
    mode = 'wrong';
    const rep = await runPrechecks(opts());
    const r = http01(rep);
    expect(rep.ok).toBe(false);
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('body-mismatch');
    expect(r.evidence.received).toContain('Welcome to nginx!');
    expect(r.advice).toMatch(/virtual host/);
    expectClean();
  });

  it('404: fails with the status and advice on the document root, removes the probe', async () => {
    // The server serves a different directory than the one given.
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-other-'));
    const real = webroot;
    try {
      const rep = await runPrechecks(opts({ webroot: other }));
      const r = http01(rep);
      expect(r.ok).toBe(false);
      expect(r.summary).toMatch(/answered 404 Not Found/);
      expect(r.evidence.status).toBe(404);
      expect(r.advice).toMatch(/document root/);
      expect(fs.existsSync(path.join(other, '.well-known'))).toBe(false);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
      webroot = real;
    }
  });

  it('follows a redirect chain (other paths, another host, a query) like the validator', async () => {
    mode = 'chain';
    const rep = await runPrechecks(opts());
    const r = http01(rep);
    expect(r.ok).toBe(true);
    expect(r.summary).toContain('after 3 redirects');
    const hops = r.evidence.hops as { url: string; status: number }[];
    expect(hops.map((h) => h.status)).toEqual([302, 301, 307, 200]);
    expect(hops[2]!.url).toContain('other.example.test');
    expect(requests.map((q) => q.host)).toContain(`other.example.test:${port}`);
    expectClean();
  });

  it('detects a redirect loop', async () => {
    mode = 'loop';
    const r = http01(await runPrechecks(opts()));
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('redirect-loop');
    expect(r.summary).toMatch(/redirect loop/);
    expect(requests.length).toBeLessThanOrEqual(4);
    expectClean();
  });

  it('stops after 10 redirects', async () => {
    mode = 'many';
    const r = http01(await runPrechecks(opts()));
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('too-many-redirects');
    expect(requests.length).toBe(11);
  });

  it('refuses a redirect to a port the CA does not follow', async () => {
    mode = 'forbidden-port';
    const r = http01(await runPrechecks(opts()));
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('redirect-forbidden');
    expect(r.summary).toContain('redirect to port 8080');
    expect(requests.length).toBe(1);
    expectClean();
  });

  it('refuses a redirect to another scheme or to an IP address', async () => {
    mode = 'https-scheme-ftp';
    expect(http01(await runPrechecks(opts())).summary).toMatch(/only follows redirects to http and https/);
    mode = 'ip-redirect';
    expect(http01(await runPrechecks(opts())).summary).toMatch(/IP address 127\.0\.0\.1/);
  });

  it('huge body: stops reading at 64 KiB', async () => {
    mode = 'huge';
    const r = http01(await runPrechecks(opts()));
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('body-too-large');
    mode = 'huge-declared';
    const r2 = http01(await runPrechecks(opts()));
    expect(r2.evidence.failure).toBe('body-too-large');
    expectClean();
  });

  it('slow server: times out within the bound and still removes the probe', async () => {
    mode = 'slow';
    const t0 = Date.now();
    const r = http01(await runPrechecks(opts({ timeoutMs: 500 })));
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('timeout');
    expect(r.summary).toMatch(/within 500 ms/);
    expectClean();
  });

  it('nothing listening: a connect failure with advice', async () => {
    const closed = await freePort();
    const r = http01(await runPrechecks(opts({ httpPort: closed })));
    expect(r.ok).toBe(false);
    expect(r.evidence.failure).toBe('connect');
    expect(r.summary).toMatch(/ECONNREFUSED/);
    expectClean();
  });

  it('a name that does not resolve: HTTP-01 is not tried', async () => {
    await cts.post('/set-servfail', { host: 'dead.example.test' });
    const rep = await runPrechecks(opts({ names: ['dead.example.test'] }));
    expect(rep.results.find((r) => r.check === 'dns')!.ok).toBe(false);
    expect(http01(rep, 'dead.example.test').summary).toMatch(/not tried/);
    expect(requests.length).toBe(0);
    expectClean();
  });

  it('a missing webroot is a failed check, not a crash', async () => {
    const rep = await runPrechecks(opts({ webroot: path.join(webroot, 'nope') }));
    const r = http01(rep);
    expect(r.ok).toBe(false);
    expect(r.summary).toMatch(/does not exist/);
    expect(fs.existsSync(path.join(webroot, 'nope'))).toBe(false);
  });
});

describe('HTTP-01 readiness in standalone mode', () => {
  it('serves the probe from a temporary server and closes it afterwards', async () => {
    const sport = await freePort();
    const rep = await runPrechecks(opts({ webroot: undefined, standalone: { host: '127.0.0.1', port: sport }, httpPort: sport }));
    expect(http01(rep).ok).toBe(true);
    // The temporary server is gone.
    await expect(fetch(`http://127.0.0.1:${sport}/`)).rejects.toThrow();
  });

  it('reports a port already in use', async () => {
    const rep = await runPrechecks(opts({ webroot: undefined, standalone: { host: '127.0.0.1', port } }));
    const r = http01(rep);
    expect(r.ok).toBe(false);
    expect(r.summary).toMatch(/already uses it/);
    expect(r.advice).toMatch(/--webroot/);
  });
});
