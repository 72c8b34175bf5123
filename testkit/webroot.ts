/**
 * A static web server serving a webroot on a loopback port: what a site's
 * own web server does for HTTP-01 (`/.well-known/acme-challenge/<token>`).
 * Used by the test servers, so a test can point certctl's --webroot at `dir`
 * and the CA's validation at `port`.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

export interface Webroot {
  /** The directory served (created if not given). */
  dir: string;
  port: number;
  /** Paths asked for, in order (to assert what a CA fetched). */
  hits: string[];
  stop(): Promise<void>;
}

export async function startWebroot(opts: { dir?: string; port?: number } = {}): Promise<Webroot> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-webroot-'));
  fs.mkdirSync(dir, { recursive: true });
  const root = path.resolve(dir);
  const port = opts.port ?? (await freePort());
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    let url: string;
    try {
      url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    } catch {
      res.writeHead(400).end();
      return;
    }
    hits.push(url);
    const file = path.join(root, path.normalize(url));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) res.writeHead(404).end('not found');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(data);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    dir: root,
    port,
    hits,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
