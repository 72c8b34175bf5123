/**
 * A fleet renewing (issue 16, second half), end to end on Debian's PostgreSQL
 * (testkit/postgres.ts) and Pebble, counted at the ACME test proxy. "Hosts" are
 * state directories and --host names on one machine, each with its copy of the
 * fleet key. Pebble serves no webroot: its HTTP-01 port is host c's
 * `certctl serve`, answering from the ledger, and pebble-challtestsrv points
 * every name at it.
 *  - the CA's HTTP-01 request is answered by c's `certctl serve` while a orders;
 *  - a is SIGKILLed mid-renewal (right after the CA issued): b finds the
 *    lineage leased, then, once the lease expired, resumes the same order with
 *    the pending key from the ledger (a's state directory is gone): 1 certificate;
 *  - 10 hosts renew 10 due lineages at once: 10 certificates, each lineage by one
 *    host, renewals by different hosts overlapping in time (ledger times);
 *  - two hosts renew two lineages of one registered domain with 1 slot left:
 *    exactly 1 order.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { keyMatchesCert } from '../../src/core/store/lineage.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { useFleetSuite, livePem, outcomes, waitLeaseExpired } from '../helpers/fleet.js';

const h = useFleetSuite('certctl-fleet-leases-');
const createdOrders = () => h.proxy.requests.filter((x) => x.endpoint === 'newOrder' && x.status === 201).length;

describe('a fleet renewing on one PostgreSQL ledger', () => {
  it("the CA's HTTP-01 request is answered by host c's certctl serve, from the ledger, while host a orders", async () => {
    const f = await h.fleet('lease_serve');
    const name = 'served.leases.test';
    const r = await f.issue('a', name);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: 'issued', lineage: name });
    expect(h.proxy.issued).toBe(1);
    // The CA validated over HTTP-01 (nothing else listens on its port) and certctl answered the challenge once.
    expect(h.proxy.requests.filter((x) => x.endpoint === 'challenge' && x.status === 200).length).toBe(1);
    expect(f.rows<{ challenge: string }>('SELECT challenge FROM lineages')).toEqual([{ challenge: 'fleet' }]);
    expect(f.rows<{ challenge_type: string; status: string }>('SELECT challenge_type, status FROM authorizations')).toEqual([{ challenge_type: 'http-01', status: 'valid' }]);
    // Key authorizations live only while pending: none left, and never in any output.
    expect(f.rows('SELECT token FROM http_challenges')).toEqual([]);
    const served = await f.stop();
    expect(served.code, served.stderr).toBe(0);
    expect(served.stdout).toMatch(/certctl serve stopped \(SIGTERM\)/);
    for (const out of [served.stdout, served.stderr, r.stdout, r.stderr]) expect(out).not.toMatch(/[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}/);
    const cert = livePem(f.state.a!, name);
    expect(await keyMatchesCert(livePem(f.state.a!, name, 'privkey.pem'), cert)).toBe(true);
  });

  it('a is killed mid-renewal after the CA issued; b waits for the lease to expire, then resumes the same order with the key from the ledger: 1 certificate', async () => {
    const f = await h.fleet('lease_crash');
    const name = 'crash.leases.test';
    const first = await f.issue('a', name);
    expect(first.code, first.stderr).toBe(0);
    h.dueNow([livePem(f.state.a!, name)]);
    h.proxy.resetObservations();
    // Killed right after the CA answered finalize (it issued): the journal says finalizing, the lease stays.
    const killed = await killedAt(h.proxy, 'finalize', 'after', f.renewArgs('a', '--lease-ttl', '4'), f.env('a'));
    expect(killed.fired, killed.stderr).toBe(true);
    expect(killed.signal).toBe('SIGKILL');
    expect(h.proxy.issued).toBe(1);
    const [lease] = f.rows<{ host: string; expires_at: string }>('SELECT host, expires_at FROM leases');
    expect(lease!.host).toBe('a');
    const [open] = f.rows<{ id: number; key_sealed: string | null; step: string }>("SELECT id, key_sealed, step FROM orders WHERE state = 'open'");
    expect(open!.key_sealed).toMatch(/^certctl-sealed-v1:/);
    h.proxy.resetObservations();
    // The machine of host a is gone, pending/ key and all.
    fs.rmSync(f.state.a!, { recursive: true, force: true });
    // b while the lease lives: left to its holder, nothing sent.
    const early = await runCli(f.renewArgs('b'), f.env('b'));
    expect(early.code, early.stderr).toBe(0);
    expect(outcomes(early)).toEqual([expect.objectContaining({ lineage: name, action: 'kept', reason: expect.stringMatching(/^host a \(pid \d+\) is renewing it now/) })]);
    expect(createdOrders()).toBe(0);
    // Once the lease has expired (the server's clock), b resumes the journalled order.
    await waitLeaseExpired(f, Number(lease!.expires_at));
    const b = await runCli(f.renewArgs('b'), f.env('b'));
    expect(b.code, b.stderr).toBe(0);
    expect(outcomes(b)).toEqual([expect.objectContaining({ lineage: name, action: 'recovered' })]);
    // One certificate in all for this renewal (a's finalize): b sent no order and no finalize; the same order finished.
    expect(h.proxy.issued).toBe(0);
    expect(createdOrders()).toBe(0);
    const orders = f.rows<{ id: number; state: string; key_sealed: string | null }>('SELECT id, state, key_sealed FROM orders ORDER BY id');
    expect(orders).toHaveLength(2);
    expect(orders[1]).toEqual({ id: open!.id, state: 'done', key_sealed: null });
    expect(f.rows<{ renewed_by: string; current_version: number }>('SELECT renewed_by, current_version FROM lineages')).toEqual([{ renewed_by: 'b', current_version: 2 }]);
    expect(f.rows('SELECT lineage FROM leases')).toEqual([]);
    expect(await keyMatchesCert(livePem(f.state.b!, name, 'privkey.pem'), livePem(f.state.b!, name))).toBe(true);
    expect(fs.statSync(path.join(f.state.b!, 'archive', name, 'privkey2.pem')).mode & 0o777).toBe(0o600);
    expect((await f.stop()).code).toBe(0);
  });

  it('10 hosts renew 10 due lineages at once: 10 certificates, each lineage renewed by one host, renewals on different hosts overlapping in time', async () => {
    const f = await h.fleet('lease_ten');
    const names = Array.from({ length: 10 }, (_, i) => `l${i}.ten${i}.test`);
    for (const n of names) {
      const r = await f.issue('h0', n);
      expect(r.code, r.stderr).toBe(0);
    }
    h.dueNow(names.map((n) => livePem(f.state.h0!, n)));
    const before = f.rows<{ max: number | null }>('SELECT max(id) AS max FROM orders')[0]!.max ?? 0;
    h.proxy.resetObservations();
    const hosts = Array.from({ length: 10 }, (_, i) => `h${i}`);
    // A CA slow to finalize the first renewal: while it is held, other hosts must order other lineages
    // (with one run lock for the fleet they would wait). Released once a second order exists.
    const slow = h.proxy.hold('finalize');
    const running = Promise.all(hosts.map((h) => runCli(f.renewArgs(h), f.env(h), 300_000)));
    await slow.arrived;
    while (createdOrders() < 2) await new Promise((r) => setTimeout(r, 100));
    slow.release();
    const runs = await running;
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(h.proxy.issued).toBe(10);
    expect(createdOrders()).toBe(10);
    // Each lineage renewed by exactly one host, and the ledger says which.
    const renewedBy = new Map<string, string>();
    runs.forEach((r, i) => {
      for (const o of outcomes(r)) {
        if (o.action === 'kept') continue;
        expect(o.action).toBe('renewed');
        expect(renewedBy.has(o.lineage), o.lineage).toBe(false);
        renewedBy.set(o.lineage, hosts[i]!);
      }
    });
    expect([...renewedBy.keys()].sort()).toEqual([...names].sort());
    const ledgerSays = f.rows<{ name: string; renewed_by: string; current_version: number }>('SELECT name, renewed_by, current_version FROM lineages ORDER BY name');
    for (const l of ledgerSays) {
      expect(l.current_version).toBe(2);
      expect(l.renewed_by).toBe(renewedBy.get(l.name));
    }
    expect(new Set(renewedBy.values()).size, JSON.stringify(runs.map((r) => outcomes(r).map((o) => [o.lineage, o.action, o.reason])))).toBeGreaterThan(1);
    // When each renewal ran (its order journalled → stored), from the ledger: two on different hosts overlapped.
    const spans = f.rows<{ lineage: string; start: string; end: string }>(
      `SELECT o.lineage, o.created_at AS start, max(e.at) AS end FROM orders o JOIN order_events e ON e.order_id = o.id WHERE o.id > ${before} GROUP BY o.id, o.lineage`,
    ).map((s) => ({ lineage: s.lineage, start: Number(s.start), end: Number(s.end), host: renewedBy.get(s.lineage)! }));
    expect(spans).toHaveLength(10);
    const overlapping = spans.flatMap((a) => spans.filter((b) => a.host < b.host && a.start < b.end && b.start < a.end).map((b) => [a.lineage, b.lineage]));
    expect(overlapping.length, JSON.stringify(spans)).toBeGreaterThan(0);
    expect(f.rows('SELECT lineage FROM leases')).toEqual([]);
    expect((await f.stop()).code).toBe(0);
  }, 400_000);

  it('two hosts renew two lineages of one registered domain with 1 slot left: exactly 1 ordered, the other blocked before anything is sent', async () => {
    // 3 certificates per registered domain per 7 days at this CA (config policy), renewals included.
    const config = path.join(h.work, 'tight.yaml');
    fs.writeFileSync(config, 'policies:\n  default:\n    certificates-per-domain: { kind: window, count: 3, window: 7d }\n');
    const f = await h.fleet('lease_slot', { config });
    const names = ['x.slot.test', 'y.slot.test'];
    for (const n of names) {
      const r = await f.issue('a', n);
      expect(r.code, r.stderr).toBe(0);
    }
    h.dueNow(names.map((n) => livePem(f.state.a!, n)));
    h.proxy.resetObservations();
    // a walks x then y, b walks y then x (--cert-name order does not matter: the walk is by name), at the same moment.
    const [a, b] = await Promise.all([runCli(f.renewArgs('a'), f.env('a')), runCli(f.renewArgs('b'), f.env('b'))]);
    const all = [...outcomes(a), ...outcomes(b)];
    expect(all.filter((o) => o.action === 'renewed')).toHaveLength(1);
    expect(all.filter((o) => o.action === 'blocked').length, JSON.stringify(all)).toBeGreaterThanOrEqual(1);
    for (const o of all.filter((x) => x.action === 'blocked')) expect(o.reason).toMatch(/^The CA would refuse this request: 3 per 7 d/);
    expect(h.proxy.issued).toBe(1);
    expect(createdOrders()).toBe(1);
    // The host that was blocked says so in its exit code (4); nothing else failed.
    expect([a.code, b.code]).toContain(4);
    for (const c of [a.code, b.code]) expect([0, 4]).toContain(c);
    expect(f.rows("SELECT id FROM orders WHERE state = 'open'")).toEqual([]);
    expect((await f.stop()).code).toBe(0);
  });

  it('--serve and certctl serve without a shared ledger: refused in one sentence (exit 2), nothing written or sent', async () => {
    const state = tempDir('certctl-serve-sqlite-');
    const issued = await runCli(['--state-dir', state, 'issue', '--server', h.proxy.directoryUrl, '--ca-bundle', h.pebble.caBundle, '--serve', '-d', 'nofleet.leases.test']);
    expect(issued.code, issued.stderr).toBe(2);
    expect(issued.stderr).toMatch(/--serve answers HTTP-01 from a fleet's shared ledger, and this ledger is not one/);
    const served = await runCli(['--state-dir', state, 'serve', '--listen', '127.0.0.1:9']);
    expect(served.code, served.stderr).toBe(2);
    expect(served.stderr).toMatch(/certctl serve answers HTTP-01 from a fleet's shared PostgreSQL ledger/);
    const bad = await runCli(['--state-dir', state, 'serve', '--listen', 'no:where:80']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--listen "no:where:80" is not a listen address/);
    expect(h.proxy.requests).toEqual([]);
    expect(fs.existsSync(path.join(state, 'live'))).toBe(false);
  });
});
