/**
 * A local stand-in for crt.sh (a test server of certctl's own, not crt.sh):
 * answers `/?q=…&output=json&exclude=expired` from a script per query — a
 * list of responses used in order (the last one repeats) — so tests can
 * replay fixtures, 502s, non-JSON bodies and slow answers.
 */
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'ct');

export interface Reply {
  status?: number;
  body?: string | unknown[];
  /** Wait this long before answering (a time-out test). */
  delayMs?: number;
  headers?: Record<string, string>;
}

export interface CtServer {
  url: string;
  hits: { q: string; output: string | null; exclude: string | null }[];
  /** Set the script for a query (e.g. "%.example.com"). Unscripted queries get []. */
  script(q: string, replies: Reply[]): void;
  stop(): Promise<void>;
}

export function fixture(name: string): unknown[] {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as unknown[];
}

export async function startCtServer(): Promise<CtServer> {
  const scripts = new Map<string, Reply[]>();
  const used = new Map<string, number>();
  const hits: CtServer['hits'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const q = u.searchParams.get('q') ?? '';
    hits.push({ q, output: u.searchParams.get('output'), exclude: u.searchParams.get('exclude') });
    const list = scripts.get(q) ?? [{ body: [] }];
    const i = used.get(q) ?? 0;
    used.set(q, i + 1);
    const r = list[Math.min(i, list.length - 1)]!;
    const send = () => {
      const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? []);
      if (res.destroyed) return;
      res.writeHead(r.status ?? 200, { 'content-type': typeof r.body === 'string' ? 'text/html' : 'application/json', ...(r.headers ?? {}) });
      res.end(body);
    };
    if (r.delayMs) {
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, r.delayMs);
      timers.add(t);
    } else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    script(q, replies) {
      scripts.set(q, replies);
      used.set(q, 0);
    },
    async stop() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `n` distinct crt.sh rows (one certificate each) under `domain`, for the row-cap test. */
export function manyRows(domain: string, n: number, entry = '2026-02-24T00:00:00'): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    issuer_ca_id: 295815,
    issuer_name: "C=US, O=Let's Encrypt, CN=R11",
    common_name: `h${i}.${domain}`,
    name_value: `h${i}.${domain}`,
    id: 1_000_000 + i,
    entry_timestamp: entry,
    not_before: '2026-02-23T23:00:00',
    not_after: '2026-05-23T23:00:00',
    serial_number: (0x1000000 + i).toString(16).padStart(36, '0'),
    result_count: 1,
  }));
}
