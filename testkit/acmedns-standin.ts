/**
 * A STAND-IN for joohoi/acme-dns's HTTP API (not acme-dns itself): `POST
 * /update` with X-Api-User / X-Api-Key and {"subdomain", "txt"}, keeping the
 * two newest values per subdomain as acme-dns does, written into the test
 * BIND (zone auth.example.org) with nsupdate as acme-dns writes into its own
 * DNS. Used by test/e2e/dns-bind.test.ts and test/e2e/dns01-*.test.ts.
 */
import http from 'node:http';
import type { DnsWorld } from './bind.js';
import { freePort } from './ports.js';

export interface AcmeDnsStandIn {
  url: string;
  updates(): number;
  close(): Promise<void>;
}

/** `zone`: where the subdomains live (acme-dns's own zone; default auth.example.org). */
export async function startAcmeDnsStandIn(w: DnsWorld, accounts: Record<string, { user: string; key: string }>, zone = 'auth.example.org'): Promise<AcmeDnsStandIn> {
  const values = new Map<string, string[]>();
  const port = await freePort();
  let updates = 0;
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', async () => {
      if (req.method !== 'POST' || req.url !== '/update') return res.writeHead(404).end();
      let parsed: { subdomain: string; txt: string };
      try {
        parsed = JSON.parse(body) as { subdomain: string; txt: string };
      } catch {
        return res.writeHead(400).end('{"error": "malformed_json_payload"}');
      }
      const { subdomain, txt } = parsed;
      const acc = accounts[subdomain];
      if (!acc || req.headers['x-api-user'] !== acc.user || req.headers['x-api-key'] !== acc.key) return res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"error": "forbidden"}');
      if (typeof txt !== 'string' || txt.length !== 43) return res.writeHead(400).end('{"error": "bad_txt"}');
      const list = [...(values.get(subdomain) ?? []), txt].slice(-2);
      values.set(subdomain, list);
      const name = `${subdomain}.${zone}.`;
      await w.update(w.ns1, w.keyFiles.admin, zone, [`update delete ${name} TXT`, ...list.map((v) => `update add ${name} 60 IN TXT "${v}"`)]);
      updates++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ txt }));
    });
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${port}`, updates: () => updates, close: () => new Promise<void>((r) => srv.close(() => r())) };
}
