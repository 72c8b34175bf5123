/**
 * CA fail-over (docs/cas.md) with two real Pebbles as two custom CAs of the
 * config file (different roots), each behind certctl's ACME test proxy so the
 * requests each CA receives are counted:
 *  (1) the first CA's exact-set limit exhausted in the ledger → issue and renew
 *      go to the second with 0 requests to the first;
 *  (2) the first answers 429 with a Retry-After beyond the expiry → the next run
 *      uses the second (the first receives nothing more);
 *  (3) CAA allows only the first → no fail-over, a clear error with the time it
 *      will be allowed, 0 requests anywhere;
 *  (4) after the block clears, the next renewal goes back to the first
 *      (and with caStick: true it stays at the second).
 * Both Pebbles validate HTTP-01 on one port (one webroot) and resolve through
 * one pebble-challtestsrv, as two public CAs see one site.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Pebble } from '../../testkit/pebble.js';
import { startTwoCas, stopTwoCas, resetProxies } from '../helpers/two-cas.js';
import type { AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';

const DAY = 86_400_000;
const VALIDITY_DAYS = 30;
let a: Pebble;
let b: Pebble;
let pa: AcmeTestProxy;
let pb: AcmeTestProxy;
const t0 = Date.now();
const at = (days: number) => new Date(t0 + days * DAY).toISOString();

beforeAll(async () => {
  ({ a, b, pa, pb } = await startTwoCas(VALIDITY_DAYS));
}, 60_000);
afterAll(() => stopTwoCas({ a, b, pa, pb }));
beforeEach(() => resetProxies(pa, pb));

/** A config with the two Pebbles as custom CAs; ca-a's exact-set limit is 1 per 45 days unless `aPolicy` says otherwise. */
function config(dir: string, extra: Record<string, unknown> = {}, aPolicy: unknown = { 'duplicate-certificates': { kind: 'window', count: 1, window: '45d' } }): string {
  const file = path.join(dir, 'config.yaml');
  const cfg = {
    cas: {
      'ca-a': { name: 'Pebble A', directory: pa.directoryUrl, caBundle: a.caBundle, caa: ['ca-a.test'], ...(aPolicy ? { policy: aPolicy } : {}) },
      'ca-b': { name: 'Pebble B', directory: pb.directoryUrl, caBundle: b.caBundle, caa: ['ca-b.test'] },
    },
    defaults: { ca: ['ca-a', 'ca-b'], ...extra },
  };
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}
function issueArgs(state: string, cfg: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', name, ...extra];
}
function renewArgs(state: string, cfg: string, extra: string[] = []): string[] {
  return ['--state-dir', state, '--config', cfg, 'renew', '--no-random-sleep', '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), ...extra];
}
/** The issuer of the live certificate: which Pebble's intermediate signed it. */
function issuerOf(state: string, name: string): string {
  return new X509Certificate(fs.readFileSync(path.join(state, 'live', name, 'cert.pem'))).issuer;
}
function lineageCa(state: string, name: string): string {
  return q<{ ca_id: string }>(state, `SELECT ca_id FROM lineages WHERE name = '${name}'`)[0]!.ca_id;
}
function choices(state: string): { ca_id: string; first_ca_id: string; failed_over: number; reason: string }[] {
  return q(state, 'SELECT ca_id, first_ca_id, failed_over, reason FROM ca_choices ORDER BY id');
}

describe('fail-over to the second CA', () => {
  it('(1)+(4) exact-set limit exhausted at the first: issue and renew go to the second with 0 requests to the first; once it clears, back to the first', async () => {
    const state = tempDir();
    const cfg = config(state);
    const name = 'one.example.test';
    // First issue: ca-a allows (its exact-set window is empty) → ca-a.
    const first = await runCli(issueArgs(state, cfg, name, ['--json']));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).ca).toMatchObject({ ca: 'ca-a', first: 'ca-a', failedOver: false });
    expect(pa.issued).toBe(1);
    expect(pb.total()).toBe(0);
    const issuerA = issuerOf(state, name);

    // Ordered again: ca-a's exact set is spent for 45 days, after the certificate expires (30 days) → ca-b, nothing sent to ca-a.
    pa.resetObservations();
    const again = await runCli(issueArgs(state, cfg, name, ['--force-renewal']));
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout + again.stderr).toMatch(/CA ca-b instead of ca-a \(fail-over\): ca-a would refuse until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(1 per 45 d .*\), after the certificate must be renewed \(\d{4}-.*\); ca-b allows it now and CAA permits it/);
    expect(pa.total()).toBe(0);
    expect(pb.issued).toBe(1);
    expect(pb.counts.newOrder).toBe(1);
    expect(lineageCa(state, name)).toBe('ca-b');
    expect(issuerOf(state, name)).not.toBe(issuerA);
    expect(choices(state).map((c) => [c.ca_id, c.first_ca_id, c.failed_over])).toEqual([
      ['ca-a', 'ca-a', 0],
      ['ca-b', 'ca-a', 1],
    ]);

    // plan and status show the choice.
    const plan = await runCli(['--state-dir', state, '--config', cfg, 'plan', '--json'], { CERTCTL_TEST_NOW: at(1) });
    const pl = JSON.parse(plan.stdout);
    expect(pl.notDue[0]).toMatchObject({ lineage: name, caChoice: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
    const status = await runCli(['--state-dir', state, '--config', cfg, 'status']);
    expect(status.stdout).toMatch(/ca-b \(failed over from ca-a/);

    // Renewal due (day 25 of 30, post-hook told): ca-a still refuses until day 45 → ca-b again, 0 requests to ca-a.
    pa.resetObservations();
    pb.resetObservations();
    const hookOut = path.join(state, 'hook.env');
    const renew = await runCli(renewArgs(state, cfg, ['--json', '--post-hook', `env | grep ^CERTCTL_ > ${hookOut}`]), { CERTCTL_TEST_NOW: at(25) });
    expect(renew.code, renew.stdout + renew.stderr).toBe(0);
    const out = JSON.parse(renew.stdout).lineages[0];
    expect(out).toMatchObject({ lineage: name, action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
    expect(pa.total()).toBe(0);
    expect(pb.issued).toBe(1);
    const hookEnv = fs.readFileSync(hookOut, 'utf8');
    expect(hookEnv).toMatch(/^CERTCTL_CA=ca-b$/m);
    expect(hookEnv).toMatch(/^CERTCTL_FAILOVERS=one\.example\.test=ca-a>ca-b$/m);
    expect(hookEnv).toMatch(/^CERTCTL_CA_REASON=ca-a would refuse/m);

    // (4) Day 46: ca-a's window has cleared → the renewal goes back to the first CA; ca-b receives nothing.
    pa.resetObservations();
    pb.resetObservations();
    const back = await runCli(renewArgs(state, cfg, ['--json']), { CERTCTL_TEST_NOW: at(46) });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(JSON.parse(back.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-a', failedOver: false } });
    // ca-b (the current certificate's CA) was only asked for its ARI window (GETs); nothing was ordered there.
    expect(pb.requests.filter((r) => r.method === 'POST')).toEqual([]);
    expect(pb.requests.every((r) => r.endpoint === 'directory' || r.endpoint === 'renewalInfo')).toBe(true);
    expect(pa.issued).toBe(1);
    expect(pa.counts.newOrder).toBe(1);
    expect(lineageCa(state, name)).toBe('ca-a');
    expect(issuerOf(state, name)).toBe(issuerA);
    // Over the whole story: 2 certificates from ca-a, 2 from ca-b, no order left open, no failed authorization.
    expect(q<{ ca_id: string; n: number }>(state, 'SELECT ca_id, count(*) AS n FROM certificates GROUP BY ca_id ORDER BY ca_id')).toEqual([
      { ca_id: 'ca-a', n: 2 },
      { ca_id: 'ca-b', n: 2 },
    ]);
    expect(q(state, "SELECT id FROM orders WHERE state <> 'done'")).toEqual([]);
    expect(q(state, "SELECT id FROM authorizations WHERE status = 'invalid'")).toEqual([]);
  }, 180_000);

  it('(4) caStick: true keeps renewing at the CA a fail-over chose', async () => {
    const state = tempDir();
    const cfg = config(state, { caStick: true });
    const name = 'stick.example.test';
    expect((await runCli(issueArgs(state, cfg, name))).code).toBe(0);
    expect((await runCli(issueArgs(state, cfg, name, ['--force-renewal']))).code).toBe(0);
    expect(lineageCa(state, name)).toBe('ca-b');
    pa.resetObservations();
    pb.resetObservations();
    const r = await runCli(renewArgs(state, cfg, ['--json']), { CERTCTL_TEST_NOW: at(46) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-b', failedOver: false } });
    expect(pa.total()).toBe(0);
    expect(pb.issued).toBe(1);
  }, 180_000);

  it('(2) a 429 to newOrder from the first with Retry-After beyond the expiry: the same run goes to the second; nothing else was spent at the first', async () => {
    const state = tempDir();
    const cfg = config(state, {}, null); // ca-a under certctl's conservative default policy
    const name = 'limited.example.test';
    expect((await runCli(issueArgs(state, cfg, name))).code).toBe(0);
    expect(lineageCa(state, name)).toBe('ca-a');

    // Day 25: due; ca-a's plan allows, but ca-a answers newOrder with a 429 for 60 days (past the expiry on day 30).
    pa.resetObservations();
    pa.rateLimit('newOrder', { seconds: 60 * 86_400, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    const r = await runCli(renewArgs(state, cfg, ['--json']), { CERTCTL_TEST_NOW: at(25) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const o = JSON.parse(r.stdout).lineages[0];
    expect(o).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
    expect(o.ca.reason).toMatch(/^ca-a would refuse until \d{4}-.* \(it answered newOrder with 429 this run: too many new orders .*\), after the certificate must be renewed .*; ca-b allows it now and CAA permits it$/);
    // At ca-a: the one refused newOrder, nothing after it (no authorization, no finalize); ca-b issued once.
    expect(pa.counts.newOrder).toBe(1);
    expect(pa.requests.filter((x) => x.method === 'POST' && x.endpoint !== 'newOrder' && x.endpoint !== 'nonce')).toEqual([]);
    expect(pa.issued).toBe(0);
    expect(pb.counts.newOrder).toBe(1);
    expect(pb.issued).toBe(1);
    expect(lineageCa(state, name)).toBe('ca-b');
    expect(q<{ retry_after: number }>(state, 'SELECT retry_after FROM problems WHERE http_status = 429')).toHaveLength(1);
    expect(choices(state).map((c) => [c.ca_id, c.failed_over])).toEqual([
      ['ca-a', 0],
      ['ca-a', 0],
      ['ca-b', 1],
    ]);
    expect(q(state, "SELECT id FROM orders WHERE state NOT IN ('done', 'failed', 'closed')")).toEqual([]);

    // The next run (forced) does not ask ca-a at all: its 429 is in force, recorded; ca-b again.
    pa.resetObservations();
    const next = await runCli(renewArgs(state, cfg, ['--json', '--force-renewal']), { CERTCTL_TEST_NOW: at(25.01) });
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(JSON.parse(next.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', failedOver: true } });
    expect(pa.total()).toBe(0);
  }, 180_000);

  it('(2) killed once the second CA created its order (the same-run fail-over after a 429; journalled, before its authorization is fetched): the next run finishes that order at the second CA — one order, one certificate, nothing more at the first', async () => {
    const state = tempDir();
    const cfg = config(state, {}, null);
    const name = 'crash429.example.test';
    expect((await runCli(issueArgs(state, cfg, name))).code).toBe(0);
    pa.resetObservations();
    pa.rateLimit('newOrder', { seconds: 60 * 86_400, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    const killed = await killedAt(pb, 'authz', 'before', renewArgs(state, cfg), { CERTCTL_TEST_NOW: at(25) });
    expect(killed.fired).toBe(true);
    expect(killed.signal).toBe('SIGKILL');
    expect(pb.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(lineageCa(state, name)).toBe('ca-b');

    pa.resetObservations();
    const next = await runCli(renewArgs(state, cfg, ['--json']), { CERTCTL_TEST_NOW: at(25.01) });
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(JSON.parse(next.stdout).lineages[0]).toMatchObject({ action: 'recovered' });
    // The order ca-b created is the one finished: one order, one certificate there; nothing sent to ca-a.
    expect(pb.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(pb.issued).toBe(1);
    expect(pa.total()).toBe(0);
    expect(q<{ ca_id: string; n: number }>(state, 'SELECT ca_id, count(*) AS n FROM certificates GROUP BY ca_id ORDER BY ca_id')).toEqual([
      { ca_id: 'ca-a', n: 1 },
      { ca_id: 'ca-b', n: 1 },
    ]);
  }, 180_000);

  it('(2) issue: a 429 to newOrder from the first CA fails over in the same run (counted at each CA)', async () => {
    const state = tempDir();
    const cfg = config(state, {}, null);
    const name = 'issue429.example.test';
    pa.rateLimit('newOrder', { seconds: 60 * 86_400, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    const r = await runCli(issueArgs(state, cfg, name, ['--json']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ca).toMatchObject({ ca: 'ca-b', first: 'ca-a', failedOver: true });
    expect(pa.counts.newOrder).toBe(1);
    expect(pa.issued).toBe(0);
    expect(pb.counts.newOrder).toBe(1);
    expect(pb.issued).toBe(1);
    expect(lineageCa(state, name)).toBe('ca-b');
  }, 180_000);

  it('(2) a 429 whose Retry-After comes before the renewal deadline: no fail-over, the 429 stands (exit 5), nothing sent to the second', async () => {
    const state = tempDir();
    const cfg = config(state, {}, null);
    const name = 'short429.example.test';
    expect((await runCli(issueArgs(state, cfg, name))).code).toBe(0);
    pa.resetObservations();
    pa.rateLimit('newOrder', { seconds: 3600, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    // Real time: the proxy's Retry-After is an hour from now; the certificate (issued now) expires in 30 days.
    const r = await runCli(renewArgs(state, cfg, ['--force-renewal']));
    expect(r.code, r.stdout + r.stderr).toBe(5);
    expect(pa.counts.newOrder).toBe(1);
    expect(pb.total()).toBe(0);
    expect(lineageCa(state, name)).toBe('ca-a');
  }, 180_000);
});

describe('no fail-over where CAA forbids the other CA', () => {
  it('(3) CAA allows only the first: blocked, the time it will be allowed, 0 requests to either CA', async () => {
    const state = tempDir();
    const cfg = config(state);
    const name = 'caa.example.test';
    // Only ca-a (and Pebble's own issuer domain, which Pebble checks) may issue.
    await a.dns.post('/add-caa', { host: name, policies: [{ tag: 'issue', value: 'ca-a.test' }, { tag: 'issue', value: 'happy-hacker-ca.invalid' }] });
    const first = await runCli(issueArgs(state, cfg, name));
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(lineageCa(state, name)).toBe('ca-a');

    pa.resetObservations();
    pb.resetObservations();
    const again = await runCli(issueArgs(state, cfg, name, ['--force-renewal']));
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/No CA of the list \(ca-a, ca-b\) can issue this now/);
    expect(again.stderr).toMatch(/ca-b: .*CAA forbids it/);
    expect(again.stderr).toMatch(/Next allowed \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(.*\) at ca-a\./);
    expect(pa.total()).toBe(0);
    expect(pb.total()).toBe(0);

    // Renewal due on day 25: the same answer, still nothing sent; the certificate in place is untouched.
    const renew = await runCli(renewArgs(state, cfg), { CERTCTL_TEST_NOW: at(25) });
    expect(renew.code).toBe(4);
    expect(renew.stdout).toMatch(/blocked\s+caa\.example\.test: No CA of the list/);
    // The current CA was asked for its ARI window (GETs: is it due?); nothing was ordered or signed.
    expect(pa.requests.filter((r) => r.method === 'POST')).toEqual([]);
    expect(pa.requests.every((r) => r.endpoint === 'directory' || r.endpoint === 'renewalInfo')).toBe(true);
    expect(pb.total()).toBe(0);
    expect(lineageCa(state, name)).toBe('ca-a');
    expect(fs.readlinkSync(path.join(state, 'live', name, 'cert.pem'))).toMatch(/cert1\.pem$/);
    expect(choices(state).filter((c) => c.failed_over)).toEqual([]);
  }, 180_000);
});
