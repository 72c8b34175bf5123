/**
 * A dead or failing CA (issue #12): a 502 page on the directory, on newNonce,
 * an empty 500 on newOrder, a directory that never answers — each ends in
 * exit 8 (CA error) with one sentence, after bounded retries, and nothing is
 * lost: the next run, with the CA back, issues exactly one certificate.
 * Served by certctl's ACME test proxy in front of Pebble.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));
beforeEach(() => {
  proxy.clearFaults();
  proxy.resetObservations();
});

const ENV = { CERTCTL_ACME_TIMEOUT: '1' };
const BAD_GATEWAY = '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>';
/** 1 attempt + the transport's 3 retries. */
const ATTEMPTS = 4;

function issueArgs(state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name];
}

/** The error line(s) certctl printed: one sentence saying what happened, no "internal error", no stack. */
function expectCaError(stderr: string, what: RegExp): void {
  expect(stderr).toMatch(what);
  expect(stderr).not.toMatch(/internal error|This is a bug|at .*\.js:\d+/);
}

describe('a dead CA → exit 8, bounded retries, one sentence; nothing lost', () => {
  it('directory answers 502 Bad Gateway (an HTML page): 4 attempts, then exit 8; no order left behind', async () => {
    const state = tempDir();
    proxy.failNext('directory', 502, Infinity, { body: BAD_GATEWAY });
    const r = await runCli(issueArgs(state, 'dead-dir.example.test'), ENV);
    expect(r.code).toBe(8);
    expectCaError(r.stderr, /answered HTTP 502 to GET https:\/\/127\.0\.0\.1:\d+\/dir \(directory\) after 3 retries/);
    expect(r.stderr).toMatch(/run the command again later/);
    expect(proxy.counts.directory).toBe(ATTEMPTS);
    expect(proxy.total()).toBe(ATTEMPTS);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(0);
    expect(fs.existsSync(path.join(state, 'live', 'dead-dir.example.test'))).toBe(false);

    // The CA is back: one certificate.
    proxy.clearFaults();
    proxy.resetObservations();
    const ok = await runCli(issueArgs(state, 'dead-dir.example.test'), ENV);
    expect(ok.code, ok.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
  });

  it('directory answers 502 twice, then works: the retries carry the run (exit 0)', async () => {
    const state = tempDir();
    proxy.failNext('directory', 502, 2, { body: BAD_GATEWAY });
    const r = await runCli(issueArgs(state, 'flaky-dir.example.test'), ENV);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.counts.directory).toBeGreaterThanOrEqual(3);
    expect(proxy.issued).toBe(1);
  });

  it('newNonce answers 502 ("Failed to get nonce" inside acme-client): exit 8 naming newNonce; the next run issues once', async () => {
    const state = tempDir();
    proxy.failNext('nonce', 502, Infinity, { body: BAD_GATEWAY });
    const r = await runCli(issueArgs(state, 'dead-nonce.example.test'), ENV);
    expect(r.code).toBe(8);
    expectCaError(r.stderr, /answered HTTP 502 to HEAD https:\/\/127\.0\.0\.1:\d+\/nonce-plz \(newAccount\) after 3 retries/);
    expect(r.stderr).not.toMatch(/Failed to get nonce/);
    expect(proxy.counts.nonce).toBe(ATTEMPTS);
    expect(proxy.forwarded.newAccount + proxy.forwarded.newOrder).toBe(0);
    proxy.clearFaults();
    proxy.resetObservations();
    const ok = await runCli(issueArgs(state, 'dead-nonce.example.test'), ENV);
    expect(ok.code, ok.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
  });

  it('newOrder answers an empty 500 (no body, no problem): exit 8 with a sentence, not an empty message; the next run issues once', async () => {
    const state = tempDir();
    proxy.failNext('newOrder', 500, Infinity, { body: '' });
    const r = await runCli(issueArgs(state, 'empty-500.example.test'), ENV);
    expect(r.code).toBe(8);
    expectCaError(r.stderr, /answered HTTP 500 to POST https:\/\/127\.0\.0\.1:\d+\/order-plz \(newOrder\) after 3 retries\./);
    expect(proxy.counts.newOrder).toBe(ATTEMPTS);
    expect(proxy.forwarded.newOrder).toBe(0);
    // The order is journalled and left open (the request may have reached a CA), never marked failed.
    expect(q<{ state: string; step: string }>(state, "SELECT state, step FROM orders WHERE state <> 'possible'")).toEqual([{ state: 'open', step: 'creating' }]);
    // Each unanswered attempt may have created an order at a real CA: journalled as a possible order, counted by the planner.
    expect(q<{ n: number }>(state, "SELECT COUNT(*) AS n FROM orders WHERE state = 'possible'")).toEqual([{ n: ATTEMPTS }]);
    proxy.clearFaults();
    proxy.resetObservations();
    const ok = await runCli(issueArgs(state, 'empty-500.example.test'), ENV);
    expect(ok.code, ok.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
    expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
  });

  it('a directory that never answers: exit 8 after the time-out (CERTCTL_ACME_TIMEOUT) on each attempt', async () => {
    const state = tempDir();
    proxy.loseAnswer('directory', 'hold', Infinity);
    const r = await runCli(issueArgs(state, 'silent-dir.example.test'), ENV);
    expect(r.code).toBe(8);
    expectCaError(r.stderr, /did not answer within 1 s \(4 attempts\)/);
    expect(r.stderr).toMatch(/CERTCTL_ACME_TIMEOUT/);
    expect(proxy.counts.directory).toBe(ATTEMPTS);
  });

  it('a bad CERTCTL_ACME_TIMEOUT is bad input (exit 2) with what to set; nothing reaches the CA', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, 'bad-timeout.example.test'), { CERTCTL_ACME_TIMEOUT: '5m' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CERTCTL_ACME_TIMEOUT="5m" is not a time-out certctl can use/);
    expect(r.stderr).toMatch(/number of seconds from 1 to 600/);
    expect(proxy.total()).toBe(0);
  });
});
