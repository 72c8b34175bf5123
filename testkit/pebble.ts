/**
 * A real ACME server for end-to-end tests: Debian's Pebble, with
 * pebble-challtestsrv as its DNS (every name → 127.0.0.1) and a small static
 * web server on Pebble's HTTP-01 port serving a webroot. Each call starts its
 * own set on free ports, with a TLS certificate made for this run; the test
 * trusts it through --ca-bundle, never by turning verification off.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { freePort, waitForPort } from './ports.js';
import { startChallTestSrv, requireBinary, type ChallTestSrv } from './challtestsrv.js';

export const PEBBLE_BIN = '/usr/bin/pebble';

export interface Pebble {
  dir: string;
  directoryUrl: string;
  /** PEM of the certificate Pebble's API presents (pass as --ca-bundle). */
  caBundle: string;
  /** The TLS certificate and key files of Pebble's API (e.g. for a test proxy presenting the same identity). */
  tlsCert: string;
  tlsKey: string;
  httpPort: number;
  /** Port Pebble's validator connects to for TLS-ALPN-01. */
  tlsPort: number;
  mgmtPort: number;
  webroot: string;
  dns: ChallTestSrv;
  /** Paths the web server was asked for (to assert what the CA fetched). */
  webHits: string[];
  /** What Pebble printed so far (its validation results: "authz … set VALID/INVALID"). */
  log(): string;
  /** Pebble's current root CA certificate (management API). */
  rootPem(): Promise<string>;
  intermediatePem(): Promise<string>;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  eab?: Record<string, string>;
  nonceReject?: number;
  env?: Record<string, string>;
  /** Do not serve the webroot on Pebble's HTTP-01 port (for --standalone tests). */
  noWeb?: boolean;
  /** host:port of the DNS server Pebble resolves through (DNS-01: the BIND serving the zone); default pebble-challtestsrv. */
  dnsServer?: string;
  /** The port Pebble's validator connects to for HTTP-01 (default: a free one, served from `webroot`); with noWeb, another Pebble's port: two CAs validating one webroot. */
  httpPort?: number;
  /** Lifetime of the certificates it issues, in seconds (Pebble's certificateValidityPeriod; default Pebble's 5 years). */
  validitySeconds?: number;
}

function makeTlsCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'api-cert.pem');
  const key = path.join(dir, 'api-key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

function get(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/**
 * Start Pebble (+ DNS + web server) on free ports. A port found free can be
 * taken by a parallel test file before Pebble binds it; such a start is
 * retried on new ports (a few times) instead of failing the test file.
 */
export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPebbleOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/address already in use|EADDRINUSE|did not start/.test((err as Error).message)) throw err;
    }
  }
}

async function startPebbleOnce(opts: PebbleOptions): Promise<Pebble> {
  requireBinary(PEBBLE_BIN);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-pebble-'));
  const { cert, key } = makeTlsCert(dir);
  const [apiPort, mgmtPort, freeHttpPort, tlsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const httpPort = opts.httpPort ?? freeHttpPort;
  const dns = await startChallTestSrv();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${apiPort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: cert,
      privateKey: key,
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: Boolean(opts.eab),
      ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
      ...(opts.eab ? { externalAccountMACKeys: opts.eab } : {}),
    },
  };
  const configFile = path.join(dir, 'pebble.json');
  fs.writeFileSync(configFile, JSON.stringify(config));

  const webroot = path.join(dir, 'webroot');
  fs.mkdirSync(webroot);
  const webHits: string[] = [];
  const web = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    webHits.push(url);
    const file = path.join(webroot, path.normalize(url).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(webroot + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) res.writeHead(404).end('not found');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(data);
    });
  });
  if (!opts.noWeb) {
    try {
      await new Promise<void>((resolve, reject) => {
        web.once('error', reject);
        web.listen(httpPort, '127.0.0.1', () => resolve());
      });
    } catch (err) {
      await dns.stop();
      throw new Error(`pebble did not start: the webroot server could not listen on ${httpPort}: ${(err as Error).message}`);
    }
  }

  let log = '';
  const child: ChildProcess = spawn(PEBBLE_BIN, ['-config', configFile, '-dnsserver', opts.dnsServer ?? dns.resolver], {
    cwd: dir,
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: String(opts.nonceReject ?? 5), ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  // Pebble exits at once when a port is taken: fail fast then, rather than waiting for the port time-out.
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`pebble exited with code ${code}`))));
  exited.catch(() => undefined);
  try {
    await Promise.race([Promise.all([waitForPort(apiPort), waitForPort(mgmtPort)]), exited]);
  } catch (err) {
    child.kill('SIGKILL');
    web.close();
    await dns.stop();
    throw new Error(`pebble did not start: ${(err as Error).message}\n${log}`);
  }
  const caBundle = fs.readFileSync(cert, 'utf8');
  return {
    dir,
    directoryUrl: `https://127.0.0.1:${apiPort}/dir`,
    caBundle: cert,
    tlsCert: cert,
    tlsKey: key,
    httpPort,
    tlsPort,
    mgmtPort,
    webroot,
    dns,
    webHits,
    log: () => log,
    rootPem: () => get(`https://127.0.0.1:${mgmtPort}/roots/0`, caBundle),
    intermediatePem: () => get(`https://127.0.0.1:${mgmtPort}/intermediates/0`, caBundle),
    async stop() {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      });
      if (web.listening) await new Promise<void>((resolve) => web.close(() => resolve()));
      await dns.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The flags of `certctl issue` that order from `directoryUrl` (Pebble itself, or the ACME test proxy
 * in front of it) and answer HTTP-01 from Pebble's webroot, checked through Pebble's DNS and HTTP port.
 */
export function pebbleIssueFlags(pebble: Pebble, directoryUrl: string = pebble.directoryUrl): string[] {
  return ['--server', directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}
