/**
 * CERTCTL_TIMELINE=1 (docs/architecture.md "Timeline of one issuance") and the
 * requests one issuance sends: the timeline names every ACME request the CA saw
 * and each step between them; a 2-name issuance finalizes as soon as its
 * authorizations are valid (no read of the order in between), and a CA that
 * still answers orderNotReady gets the read and one more finalize.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

const issue = (state: string, names: string[], env: Record<string, string> = {}) =>
  runCli(['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), ...names.flatMap((n) => ['-d', n]), '--key-type', 'ecdsa:p256'], env);

describe('timeline of one issuance', () => {
  it('CERTCTL_TIMELINE=1 marks start-up, ledger, gate, account, every request the CA saw, key generation, fsyncs and the store; no token is printed', async () => {
    proxy.resetObservations();
    const state = tempDir();
    const r = await issue(state, ['tl.example.test', 'www.tl.example.test'], { CERTCTL_TIMELINE: '1' });
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('[timeline] '));
    const acme = lines.filter((l) => / ms {2}ACME (GET|HEAD|POST) /.test(l));
    // One line per request the CA answered, in the order the proxy saw them.
    expect(acme.length).toBe(proxy.requests.length);
    for (const step of ['node bootstrap done', 'ledger open + migrate', 'gate: plan + readiness checks', 'ACME session: directory + account', 'key generation ecdsa:p256', 'fsyncs (one of the directory): cert1.pem, chain1.pem, fullchain1.pem, privkey1.pem', 'store the version', 'exit 0']) {
      expect(lines.some((l) => l.includes(step)), step).toBe(true);
    }
    // Marks are in time order (ms since the process started).
    const at = lines.map((l) => Number(/^\[timeline\]\s+([\d.]+) ms/.exec(l)![1]));
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // No challenge token or object id appears (webroot files are named for what they are, URLs by kind).
    expect(lines.filter((l) => l.includes('an HTTP-01 challenge file'))).toHaveLength(2);
    for (const l of lines) expect(l).not.toMatch(/[A-Za-z0-9_-]{32,}/);
    // Without the variable: no timeline at all.
    const quiet = await issue(tempDir(), ['tl2.example.test']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('[timeline]');
  });

  it('a 2-name issuance sends 14 requests with a warm nonce pool: finalize follows the last authorization without reading the order', async () => {
    proxy.resetObservations();
    const r = await issue(tempDir(), ['n14.example.test', 'www.n14.example.test']);
    expect(r.code).toBe(0);
    const seq = proxy.requests.map((x) => x.endpoint);
    const fin = seq.indexOf('finalize');
    expect(fin).toBeGreaterThan(0);
    expect(seq[fin - 1]).toBe('authz');
    expect(seq.filter((e) => e === 'order')).toEqual(['order']); // one poll after finalize, none before
    expect(proxy.counts.newOrder).toBe(1);
    expect(proxy.issued).toBe(1);
    // directory, newNonce ×1–2 (parallel authorizations), newAccount, newOrder, 2 authz, 2 challenges,
    // ≥2 authz polls, finalize, order poll, certificate.
    expect(seq.length).toBeGreaterThanOrEqual(14);
    expect(seq.length).toBeLessThanOrEqual(15 + (seq.filter((e) => e === 'authz').length - 4));
  });

  it('a CA answering orderNotReady to that finalize: the order is read and finalized once more — one certificate, nothing failed', async () => {
    proxy.resetObservations();
    const state = tempDir();
    proxy.failNext('finalize', 403, 1, { problemType: 'urn:ietf:params:acme:error:orderNotReady', detail: 'Order\'s status ("pending") is not acceptable for finalization' });
    const r = await issue(state, ['nr.example.test', 'www.nr.example.test']);
    proxy.clearFaults();
    expect(r.code, r.stderr).toBe(0);
    const seq = proxy.requests.map((x) => x.endpoint);
    expect(seq.filter((e) => e === 'finalize')).toHaveLength(2);
    expect(seq[seq.indexOf('finalize') + 1]).toBe('order');
    expect(proxy.issued).toBe(1);
    expect(proxy.counts.newOrder).toBe(1);
    const orders = q<{ state: string }>(state, 'SELECT state FROM orders');
    expect(orders.map((o) => o.state)).toEqual(['done']);
    expect(fs.existsSync(path.join(state, 'live', 'nr.example.test', 'fullchain.pem'))).toBe(true);
  });
});
