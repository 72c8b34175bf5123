/**
 * A webhook receiver that answers 429 or 503 with Retry-After is asked again no sooner than it said,
 * and not at all by this run when that is later than the run's retry pauses allow (the row stays
 * pending for the next run: the claim on it lasts only as long as those pauses, index.ts claimMs).
 */
import { describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { deliver } from '../../src/core/notify/deliver.js';
import { event } from '../../src/core/notify/index.js';

const e = event({ kind: 'renewal-failed', subject: 'example.org', lineage: 'example.org', at: Date.parse('2026-03-02T10:00:00Z'), summary: 's', reason: 'r', next: 'n' });

/** A receiver answering each request with the next of `answers` ([status, Retry-After]); it records when each came. */
async function receiver(answers: Array<[number, string | undefined]>) {
  const at: number[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      at.push(Date.now());
      const [status, ra] = answers[Math.min(at.length - 1, answers.length - 1)]!;
      res.writeHead(status, { 'content-type': 'text/plain', ...(ra !== undefined ? { 'retry-after': ra } : {}) });
      res.end(status >= 400 ? 'slow down' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { at, url, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('webhook Retry-After', () => {
  it('429 with Retry-After: 2 — the second attempt comes at least 2 s after the first (the backoff alone would wait 1 s), and is delivered', async () => {
    const rx = await receiver([[429, '2'], [200, undefined]]);
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', url: rx.url, format: 'json', retries: 2, timeoutMs: 5000 }, e, 1, 'h');
      expect(r).toMatchObject({ ok: true, attempts: 2 });
      expect(rx.at).toHaveLength(2);
      expect(rx.at[1]! - rx.at[0]!).toBeGreaterThanOrEqual(1900);
    } finally {
      await rx.stop();
    }
  }, 30_000);

  it('503 with a Retry-After past what this run may wait (retries 1: 1 s of pauses) — asked once, the next run sends it', async () => {
    const later = new Date(Date.now() + 3_600_000).toUTCString();
    const rx = await receiver([[503, later]]);
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', url: rx.url, format: 'json', retries: 1, timeoutMs: 5000 }, e, 1, 'h');
      expect(r.ok).toBe(false);
      expect(r.attempts).toBe(1);
      expect(rx.at).toHaveLength(1);
      expect(r.detail).toMatch(/answered 503: slow down \(it asked to be sent again after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC; the next run sends it\)$/);
    } finally {
      await rx.stop();
    }
  }, 30_000);

  it('429 without Retry-After still backs off and retries as before (1 s, then 2 s)', async () => {
    const rx = await receiver([[429, undefined], [429, undefined], [200, undefined]]);
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', url: rx.url, format: 'json', retries: 2, timeoutMs: 5000 }, e, 1, 'h');
      expect(r).toMatchObject({ ok: true, attempts: 3 });
      expect(rx.at[1]! - rx.at[0]!).toBeGreaterThanOrEqual(900);
      expect(rx.at[2]! - rx.at[1]!).toBeGreaterThanOrEqual(1900);
    } finally {
      await rx.stop();
    }
  }, 30_000);

  it('a Retry-After no date can hold (99999999999999999999 s) counts as none: backoff, and the answer is reported as it was', async () => {
    const rx = await receiver([[503, '99999999999999999999'], [200, undefined]]);
    try {
      const r = await deliver({ type: 'webhook', id: 'hook', url: rx.url, format: 'json', retries: 1, timeoutMs: 5000 }, e, 1, 'h');
      expect(r).toMatchObject({ ok: true, attempts: 2 });
    } finally {
      await rx.stop();
    }
  }, 30_000);
});
