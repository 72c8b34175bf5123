/** core/http01.ts Http01Server: the one standalone HTTP-01 server (readiness probe and solver). */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { Http01Server, ListenError } from '../../src/core/http01.js';
import { freePort } from '../helpers/ports.js';

const TOKEN = 'A'.repeat(43);
let servers: Http01Server[] = [];
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
});

function get(port: number, p: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Http01Server', () => {
  it('answers GET for a token set on it, 404 for anything else, and stops listening on close', async () => {
    const port = await freePort();
    const s = await Http01Server.listen('127.0.0.1', port);
    servers.push(s);
    s.set(TOKEN, `${TOKEN}.thumb`);
    expect(await get(port, `/.well-known/acme-challenge/${TOKEN}`)).toEqual({ status: 200, body: `${TOKEN}.thumb` });
    expect((await get(port, `/.well-known/acme-challenge/${TOKEN}`, 'POST')).status).toBe(404);
    expect((await get(port, `/.well-known/acme-challenge/${TOKEN}?x=1`)).status).toBe(404);
    expect((await get(port, '/.well-known/acme-challenge/other-token-aaaaaaaaaaaaaaaa')).status).toBe(404);
    s.delete(TOKEN);
    expect((await get(port, `/.well-known/acme-challenge/${TOKEN}`)).status).toBe(404);
    await s.close();
    servers = [];
    await expect(get(port, '/')).rejects.toThrow();
  });

  it('refuses a token that is not base64url of RFC 8555 length', async () => {
    const s = await Http01Server.listen('127.0.0.1', await freePort());
    servers.push(s);
    for (const bad of ['../../etc/passwd', 'short', 'A'.repeat(257), 'a/b'.repeat(10)]) expect(() => s.set(bad, 'x')).toThrow(/base64url/);
  });

  it('a port in use is one sentence with advice (the same for the readiness check and for issuing)', async () => {
    const port = await freePort();
    servers.push(await Http01Server.listen('127.0.0.1', port));
    const err = await Http01Server.listen('127.0.0.1', port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect((err as ListenError).message).toBe(`Cannot listen on 127.0.0.1:${port} for HTTP-01: something else (a web server?) already uses it.`);
    expect((err as ListenError).hint).toMatch(/--webroot/);
    expect((err as ListenError).exitCode).toBe(2);
  });
});
