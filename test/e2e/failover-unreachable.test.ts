/**
 * Fail-over when the first CA of a list has been unreachable across runs (docs/cas.md
 * "Unreachable across runs"): two real Pebbles as two custom CAs, each behind certctl's ACME
 * test proxy; the first CA is "stopped" by stopping its proxy (connection refused on its
 * port) and "back" by starting a proxy on the same port. The rule under test
 * (caUnreachable: runs 3, period 6h, margin 3d; a 30-day certificate: deadline day 27):
 *  - a single failed run never fails over (exit 8, the outage recorded);
 *  - three runs over 6 h, the next run still before the deadline: no fail-over (exit 8, said why);
 *  - the next run after the deadline: fail over to the second CA, the reason printed, recorded
 *    (ca_choices), shown by plan and status;
 *  - the first CA back with headroom: the next renewal returns to it and its outage is cleared.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Pebble } from '../../testkit/pebble.js';
import { startTwoCas, stopTwoCas } from '../helpers/two-cas.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';

const DAY = 86_400_000;
let a: Pebble;
let b: Pebble;
let pa: AcmeTestProxy;
let pb: AcmeTestProxy;
const t0 = Date.now();
const at = (days: number) => new Date(t0 + days * DAY).toISOString();
const ENV = { CERTCTL_ACME_TIMEOUT: '2' };

beforeAll(async () => {
  ({ a, b, pa, pb } = await startTwoCas());
}, 60_000);
afterAll(() => stopTwoCas({ a, b, pa, pb }));

function config(dir: string): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    file,
    JSON.stringify({
      cas: {
        'ca-a': { name: 'Pebble A', directory: pa.directoryUrl, caBundle: a.caBundle, caa: ['ca-a.test'] },
        'ca-b': { name: 'Pebble B', directory: pb.directoryUrl, caBundle: b.caBundle, caa: ['ca-b.test'] },
      },
      defaults: { ca: ['ca-a', 'ca-b'], caUnreachable: { runs: 3, period: '6h', margin: '3d' } },
    }),
  );
  return file;
}
const renewArgs = (state: string, cfg: string, extra: string[] = []) => ['--state-dir', state, '--config', cfg, 'renew', '--no-random-sleep', '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), ...extra];
const outage = (state: string) => q<{ ca_id: string; runs: number; kind: string; endpoint: string }>(state, 'SELECT ca_id, runs, kind, endpoint FROM ca_outages');
const posts = (p: AcmeTestProxy) => p.requests.filter((r) => r.method === 'POST');

describe('the first CA unreachable across runs', () => {
  it('a 4xx answer is a CA that answered: no outage is recorded', async () => {
    const state = tempDir();
    const cfg = config(state);
    pa.failNext('directory', 404, 1, { body: 'not here' });
    const r = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', 'fourxx.example.test'], ENV);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/answered HTTP 404/);
    expect(outage(state)).toEqual([]);
  }, 120_000);

  it('a CA that times out is waited for once per run, not once per lineage (the ledger says this run found it down)', async () => {
    const state = tempDir();
    const cfg = config(state);
    for (const n of ['t1.example.test', 't2.example.test', 't3.example.test']) {
      const r = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', n], ENV);
      expect(r.code, r.stderr).toBe(0);
    }
    pa.resetObservations();
    pb.resetObservations();
    pa.loseAnswer('directory', 'hold', Infinity);
    pa.loseAnswer('renewalInfo', 'hold', Infinity);
    const r = await runCli(renewArgs(state, cfg, ['--json']), { CERTCTL_ACME_TIMEOUT: '1', CERTCTL_TEST_NOW: at(25) });
    pa.clearFaults();
    // Counted at the CA: the first lineage's ARI look-up of the directory and its session, each 1 attempt + 3 retries; nothing for the others.
    expect(pa.requests.map((x) => x.endpoint)).toEqual(Array(8).fill('directory'));
    expect(r.code, r.stdout + r.stderr).toBe(8);
    const out = JSON.parse(r.stdout).lineages as { action: string; reason: string }[];
    expect(out.map((x) => x.action)).toEqual(['failed', 'failed', 'failed']);
    // One lineage's session waited (1 attempt + 3 retries); the two others were told from the ledger.
    expect(out.filter((x) => /^The ACME server at \S+ did not answer within 1 s \(4 attempts\)\.$/.test(x.reason))).toHaveLength(1);
    expect(out.filter((x) => /^ca-a could not be reached: unreachable on 1 consecutive run since .*not failing over to ca-b yet/.test(x.reason))).toHaveLength(2);
    expect(q(state, 'SELECT runs, kind FROM ca_outages')).toEqual([{ runs: 1, kind: 'timeout' }]);
    expect(pb.total()).toBe(0);
  }, 240_000);

  it('an order left open at the first CA (killed after it was created) when that CA goes away: resumed while the rule waits, abandoned (not finalized) once it is met; one certificate, at the second CA', async () => {
    const state = tempDir();
    const cfg = config(state);
    const name = 'open-order.example.test';
    const issued = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', name], ENV);
    expect(issued.code, issued.stderr).toBe(0);
    // Day 25: the renewal's order is created at ca-a; the process is killed as the CA answers (the journal says 'creating').
    const killed = await killedAt(pa, 'newOrder', 'after', renewArgs(state, cfg), { ...ENV, CERTCTL_TEST_NOW: at(25) });
    expect(killed.fired, killed.stdout + killed.stderr).toBe(true);
    expect(q<{ step: string }>(state, "SELECT step FROM orders WHERE state = 'open'")).toEqual([{ step: 'creating' }]);
    const portA = pa.port;
    await pa.stop();
    pb.resetObservations();
    // Runs while the rule waits: the open order stays with ca-a (exit 8), nothing sent to ca-b.
    for (const day of [25.1, 25.4, 25.7]) {
      const r = await runCli(renewArgs(state, cfg), { ...ENV, CERTCTL_TEST_NOW: at(day) });
      expect(r.code, `day ${day}: ${r.stdout}${r.stderr}`).toBe(8);
      expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(1);
    }
    expect(pb.total()).toBe(0);
    // Day 26.9: the next run would pass the deadline (day 27) → the open order is abandoned, the renewal goes to ca-b.
    const r = await runCli(renewArgs(state, cfg, ['--json']), { ...ENV, CERTCTL_TEST_NOW: at(26.9) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
    expect(pb.issued).toBe(1);
    expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toEqual([]);
    const abandoned = q<{ detail: string }>(state, "SELECT detail FROM order_events WHERE step = 'abandoned'");
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!.detail).toMatch(/^abandoned at ca-a \(unreachable\); renewed at ca-b instead: ca-a has been unreachable on \d consecutive runs/);
    expect(q<{ ca_id: string; n: number }>(state, 'SELECT ca_id, count(*) AS n FROM certificates GROUP BY ca_id ORDER BY ca_id')).toEqual([
      { ca_id: 'ca-a', n: 1 },
      { ca_id: 'ca-b', n: 1 },
    ]);
    pa = await startAcmeTestProxy({ upstream: a.directoryUrl, caBundle: a.caBundle, port: portA });
  }, 240_000);

  it('one blip never fails over; enough runs and a deadline that waiting would pass do; the first CA back gets the next renewal', async () => {
    const state = tempDir();
    const cfg = config(state);
    const name = 'down.example.test';
    pa.resetObservations();
    const issued = await runCli(['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', name], ENV);
    expect(issued.code, issued.stderr).toBe(0);
    expect(pa.issued).toBe(1);
    expect(outage(state)).toEqual([]);

    // ca-a goes away: nothing listens on its port.
    const portA = pa.port;
    await pa.stop();
    pb.resetObservations();

    // Run 1 (day 25, due): ca-a is tried, cannot be reached → exit 8, recorded; ca-b is not asked (one blip).
    const r1 = await runCli(renewArgs(state, cfg), { ...ENV, CERTCTL_TEST_NOW: at(25) });
    expect(r1.code, r1.stdout + r1.stderr).toBe(8);
    expect(r1.stdout + r1.stderr).toMatch(/Cannot reach the ACME server at https:\/\/127\.0\.0\.1:\d+\/dir: ECONNREFUSED/);
    expect(outage(state)).toEqual([{ ca_id: 'ca-a', runs: 1, kind: 'refused', endpoint: 'directory' }]);
    expect(pb.total()).toBe(0);

    // Run 2 (day 25.3): asked again (its directory), still refused: 2 runs, not failing over yet.
    const r2 = await runCli(renewArgs(state, cfg), { ...ENV, CERTCTL_TEST_NOW: at(25.3) });
    expect(r2.code, r2.stdout + r2.stderr).toBe(8);
    expect(r2.stdout + r2.stderr).toMatch(/ca-a could not be reached: unreachable on 2 consecutive runs since .* \(refused: .*\); not failing over to ca-b yet/);
    expect(outage(state)[0]!.runs).toBe(2);
    expect(pb.total()).toBe(0);

    // Run 3 (day 25.6): 3 runs over 14 h, but the next run comes before the deadline (day 27): still waiting.
    const r3 = await runCli(renewArgs(state, cfg), { ...ENV, CERTCTL_TEST_NOW: at(25.6) });
    expect(r3.code, r3.stdout + r3.stderr).toBe(8);
    expect(r3.stdout + r3.stderr).toMatch(/unreachable on 3 consecutive runs .*not failing over to ca-b yet/s);
    expect(r3.stdout + r3.stderr).toMatch(/fails over once ca-a has been unreachable on 3 runs over at least 6 h and the next run would pass the renewal deadline \(\d{4}-/);
    expect(pb.total()).toBe(0);

    // plan and status show the outage (plan sends nothing: it does not ask ca-a).
    const plan = await runCli(['--state-dir', state, '--config', cfg, 'plan', '--json'], { CERTCTL_TEST_NOW: at(25.7) });
    const planned = JSON.parse(plan.stdout).plans[0];
    expect(planned.caList.verdicts[0]).toMatchObject({ ca: 'ca-a', unreachable: { runs: 3, kind: 'refused', givenUp: false } });
    expect(planned.caList.verdicts[1]).toMatchObject({ ca: 'ca-b', verdict: 'allowed', unreachable: null });
    const status = await runCli(['--state-dir', state, '--config', cfg, 'status']);
    expect(status.stdout).toMatch(/CA ca-a \(https:\/\/127\.0\.0\.1:\d+\/dir\) unreachable on 3 consecutive runs since/);
    const sj = JSON.parse((await runCli(['--state-dir', state, '--config', cfg, 'status', '--json'])).stdout);
    expect(sj.caOutages).toEqual([expect.objectContaining({ ca: 'ca-a', runs: 3, kind: 'refused' })]);

    // Run 4 (day 26.9): the runs so far say the next comes about 0.3 days later, after day 27 → fail over to ca-b.
    pb.resetObservations();
    const r4 = await runCli(renewArgs(state, cfg, ['--json']), { ...ENV, CERTCTL_TEST_NOW: at(26.9) });
    expect(r4.code, r4.stdout + r4.stderr).toBe(0);
    const o4 = JSON.parse(r4.stdout).lineages[0];
    expect(o4).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
    expect(o4.ca.reason).toMatch(/^ca-a has been unreachable on 4 consecutive runs since .*, and waiting for the next run \(.*\) would pass the renewal deadline \(.*\); ca-b allows it now and CAA permits it$/);
    expect(pb.issued).toBe(1);
    expect(q<{ ca_id: string; failed_over: number; reason: string }>(state, 'SELECT ca_id, failed_over, reason FROM ca_choices ORDER BY id DESC LIMIT 1')[0]).toMatchObject({ ca_id: 'ca-b', failed_over: 1, reason: o4.ca.reason });
    const planAfter = JSON.parse((await runCli(['--state-dir', state, '--config', cfg, 'plan', '--json'], { CERTCTL_TEST_NOW: at(27) })).stdout);
    // (The ca-b certificate is real-time: due on day 27 already; plan says renew would stay at ca-b, ca-a being given up.)
    expect(planAfter.plans[0]).toMatchObject({ lineage: name, caList: { chosen: 'ca-b' }, caChoice: { ca: 'ca-b', failedOver: true } });
    expect(planAfter.plans[0].caList.reason).toMatch(/ca-a has been unreachable on 4 consecutive runs/);
    expect(planAfter.plans[0].caList.verdicts[0]).toMatchObject({ ca: 'ca-a', unreachable: { runs: 4, givenUp: true } });
    expect((await runCli(['--state-dir', state, '--config', cfg, 'status'])).stdout).toMatch(/ca-b \(failed over from ca-a: ca-a has been unreachable/);

    // ca-a is back (same URL). Day 28: the ca-b certificate (real time: issued now, 30 days) is due; ca-a answers its
    // directory again and has headroom → the renewal goes back to ca-a; nothing is ordered at ca-b; the outage is cleared.
    pa = await startAcmeTestProxy({ upstream: a.directoryUrl, caBundle: a.caBundle, port: portA });
    pb.resetObservations();
    const back = await runCli(renewArgs(state, cfg, ['--json']), { ...ENV, CERTCTL_TEST_NOW: at(28) });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(JSON.parse(back.stdout).lineages[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-a', failedOver: false } });
    expect(pa.issued).toBe(1);
    expect(posts(pb)).toEqual([]);
    expect(outage(state)).toEqual([]);
    // Over the story: 2 certificates at ca-a, 1 at ca-b, no order left open, no failed authorization.
    expect(q<{ ca_id: string; n: number }>(state, 'SELECT ca_id, count(*) AS n FROM certificates GROUP BY ca_id ORDER BY ca_id')).toEqual([
      { ca_id: 'ca-a', n: 2 },
      { ca_id: 'ca-b', n: 1 },
    ]);
    expect(q(state, "SELECT id FROM orders WHERE state NOT IN ('done', 'failed', 'closed')")).toEqual([]);
    expect(q(state, "SELECT id FROM authorizations WHERE status = 'invalid'")).toEqual([]);
  }, 240_000);

});
