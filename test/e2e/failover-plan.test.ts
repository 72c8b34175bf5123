/**
 * A CA list seen before ordering (docs/cas.md): `plan -d NAME --ca a,b` (and the list of a
 * lineage or of the config) shows every CA of the list in order with its decision and
 * allowed-at, and which one would be used and why; `check --ca a,b` checks CAA for each CA.
 * Hostile lists (an unknown CA, a CA twice, an empty element, 20 entries, in the config too)
 * and a custom CA whose directory answers garbage: one sentence, the documented exit code,
 * nothing sent and nothing written. Two real Pebbles behind certctl's ACME test proxy.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Pebble } from '../../testkit/pebble.js';
import { startTwoCas, stopTwoCas, resetProxies } from '../helpers/two-cas.js';
import type { AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

let a: Pebble;
let b: Pebble;
let pa: AcmeTestProxy;
let pb: AcmeTestProxy;

beforeAll(async () => {
  ({ a, b, pa, pb } = await startTwoCas());
}, 60_000);
afterAll(() => stopTwoCas({ a, b, pa, pb }));
beforeEach(() => resetProxies(pa, pb));

/** ca-a allows one certificate per exact set per 45 days; the list is the config's default unless `list` is false. */
function config(dir: string, opts: { list?: unknown; extra?: Record<string, unknown> } = {}): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    file,
    JSON.stringify({
      cas: {
        'ca-a': { name: 'Pebble A', directory: pa.directoryUrl, caBundle: a.caBundle, caa: ['ca-a.test'], policy: { 'duplicate-certificates': { kind: 'window', count: 1, window: '45d' } } },
        'ca-b': { name: 'Pebble B', directory: pb.directoryUrl, caBundle: b.caBundle, caa: ['ca-b.test'] },
        'ca-junk': { name: 'Garbage CA', directory: `${pa.origin}/junk-directory`, caBundle: a.caBundle, caa: ['junk.test'] },
        ...opts.extra,
      },
      ...(opts.list === false ? {} : { defaults: { ca: opts.list ?? ['ca-a', 'ca-b'] } }),
    }),
  );
  return file;
}
const issueArgs = (state: string, cfg: string, name: string, extra: string[] = []) => ['--state-dir', state, '--config', cfg, 'issue', '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort), '-d', name, ...extra];
const nothingSent = () => {
  expect(pa.total()).toBe(0);
  expect(pb.total()).toBe(0);
};

describe('plan with a CA list', () => {
  it('plan -d NAME --ca a,b: each CA in order with its verdict and allowed-at, the one used and why (text and --json)', async () => {
    const state = tempDir();
    const cfg = config(state, { list: false });
    const name = 'plan.example.test';
    expect((await runCli(issueArgs(state, cfg, name, ['--ca', 'ca-a']))).code).toBe(0);
    pa.resetObservations();

    // ca-a's exact set is spent for 45 days (after the certificate's expiry): plan --ca ca-a,ca-b would use ca-b.
    const j = await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '--ca', 'ca-a,ca-b', '--force-renewal', '--json']);
    expect(j.code, j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout);
    const p = doc.plans[0];
    expect(p.caList.cas).toEqual(['ca-a', 'ca-b']);
    expect(p.caList.chosen).toBe('ca-b');
    expect(p.caList.reason).toMatch(/^ca-a would refuse until \d{4}-.*, after the certificate must be renewed .*; ca-b allows it now$/);
    expect(p.caList.verdicts[0]).toMatchObject({ ca: 'ca-a', verdict: 'blocked', unreachable: null, caa: null });
    expect(Date.parse(p.caList.verdicts[0].allowedAt)).toBeGreaterThan(Date.now() + 44 * 86_400_000);
    expect(p.caList.verdicts[0].why).toMatch(/1 per 45 d/);
    expect(p.caList.verdicts[1]).toMatchObject({ ca: 'ca-b', verdict: 'allowed', why: '' });
    // The plan below the list is ca-b's (the CA issue would use).
    expect(p.ca.id).toBe('ca-b');
    expect(p.verdict).toBe('allowed');

    const t = await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '--ca', 'ca-a,ca-b', '--force-renewal']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/CA list ca-a, ca-b, in order:/);
    expect(t.stdout).toMatch(/ ca-a: blocked until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC — /);
    expect(t.stdout).toMatch(/→ ca-b: allowed now/);
    expect(t.stdout).toMatch(/Would use ca-b: ca-a would refuse until/);
    nothingSent();

    // Without --force-renewal the set is held and not due: issue would order nothing → duplicate (exit 3), at the CA that holds it.
    const held = await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '--ca', 'ca-a,ca-b', '--json']);
    expect(held.code).toBe(3);
    const hp = JSON.parse(held.stdout).plans[0];
    expect(hp).toMatchObject({ verdict: 'duplicate', ca: { id: 'ca-a' }, caList: { chosen: 'ca-a' } });
    expect(hp.caList.reason).toMatch(/held at ca-a and not due: nothing to order/);
  }, 120_000);

  it("the lineage's own list and the config's default list are planned without --ca; none usable → exit 4 with every CA's verdict", async () => {
    const state = tempDir();
    const cfg = config(state, { extra: { 'ca-c': { name: 'Pebble C', directory: `${pb.origin}/dir-c`, caBundle: b.caBundle, caa: ['ca-c.test'], policy: { 'names-per-certificate': { kind: 'max', count: 1 } } } } });
    const name = 'own.example.test';
    const made = await runCli(issueArgs(state, cfg, name, ['-d', `www.${name}`]));
    expect(made.code, made.stderr).toBe(0);
    // The lineage holds the list (from the config): plan -d NAME without --ca plans it.
    const own = JSON.parse((await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '-d', `www.${name}`, '--force-renewal', '--json'])).stdout).plans[0];
    expect(own.caList).toMatchObject({ cas: ['ca-a', 'ca-b'], chosen: 'ca-b' });
    // A new name: the config's default list.
    const fresh = JSON.parse((await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', 'fresh.example.test', '--json'])).stdout).plans[0];
    expect(fresh.caList).toMatchObject({ cas: ['ca-a', 'ca-b'], chosen: 'ca-a' });
    // ca-a allows one certificate per set per 45 days: this one would spend its last slot.
    expect(fresh.caList.verdicts.map((v: { verdict: string }) => v.verdict)).toEqual(['last-slot', 'allowed']);
    // ca-a's exact set is spent, ca-c takes one name per certificate: no CA of --ca ca-a,ca-c → exit 4, both verdicts shown.
    const none = await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '-d', `www.${name}`, '--ca', 'ca-a,ca-c', '--force-renewal', '--json']);
    expect(none.code, none.stdout).toBe(4);
    const np = JSON.parse(none.stdout).plans[0];
    expect(np.caList.chosen).toBeNull();
    expect(np.caList.reason).toMatch(/No CA of the list \(ca-a, ca-c\) can issue this now/);
    expect(np.caList.verdicts.map((v: { ca: string; verdict: string }) => [v.ca, v.verdict])).toEqual([
      ['ca-a', 'blocked'],
      ['ca-c', 'blocked'],
    ]);
    const text = await runCli(['--state-dir', state, '--config', cfg, 'plan', '-d', name, '-d', `www.${name}`, '--ca', 'ca-a,ca-c', '--force-renewal']);
    expect(text.code).toBe(4);
    expect(text.stdout + text.stderr).toMatch(/No CA of the list can issue this now/);
  }, 120_000);
});

describe('check --ca a,b', () => {
  it('checks CAA for each CA of the list: ready while one is permitted, says which cannot be used; exit 6 when CAA forbids all', async () => {
    const state = tempDir();
    const cfg = config(state, { list: false });
    const name = 'caa-list.example.test';
    await a.dns.post('/add-caa', { host: name, policies: [{ tag: 'issue', value: 'ca-b.test' }] });
    const args = ['--state-dir', state, '--config', cfg, 'check', '-d', name, '--webroot', a.webroot, '--resolver', a.dns.resolver, '--http-port', String(a.httpPort)];
    const j = await runCli([...args, '--ca', 'ca-a,ca-b', '--json']);
    expect(j.code, j.stdout + j.stderr).toBe(0);
    const doc = JSON.parse(j.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.caList.map((c: { ca: string; ok: boolean }) => [c.ca, c.ok])).toEqual([
      ['ca-a', false],
      ['ca-b', true],
    ]);
    expect(doc.caList[0].results[0].summary).toMatch(/ca-a|Pebble A|not/i);
    const t = await runCli([...args, '--ca', 'ca-a,ca-b']);
    expect(t.code).toBe(0);
    expect(t.stdout + t.stderr).toMatch(/CA ca-a \(CAA ca-a\.test\): forbidden/);
    expect(t.stdout + t.stderr).toMatch(/CA ca-b \(CAA ca-b\.test\): permitted/);
    expect(t.stdout + t.stderr).toMatch(/Fail-over can use only ca-b: CAA forbids the others/);

    const all = await runCli([...args, '--ca', 'ca-a,ca-junk', '--json']);
    expect(all.code).toBe(6);
    expect(JSON.parse(all.stdout).ok).toBe(false);
    nothingSent();
  }, 120_000);
});

describe('hostile CA lists: one sentence, exit 2, nothing sent or written', () => {
  const twenty = Array.from({ length: 20 }, (_, i) => `ca-${i}`).join(',');
  const cases: [string, string, RegExp][] = [
    ['an unknown CA', 'ca-a,no-such-ca', /^error: Unknown CA "no-such-ca"\.$/m],
    ['a CA twice', 'ca-a,ca-b,ca-a', /^error: --ca "ca-a,ca-b,ca-a" names the CA ca-a twice\.$/m],
    ['an empty element', 'letsencrypt,,zerossl', /^error: --ca "letsencrypt,,zerossl" has an empty element\.$/m],
    ['a trailing comma', 'ca-a,ca-b,', /^error: --ca "ca-a,ca-b," has an empty element\.$/m],
    ['20 entries', twenty, /^error: --ca names 20 CAs; a fail-over list holds at most 8\.$/m],
  ];
  for (const [what, list, message] of cases) {
    it(`${what}: issue, plan and check refuse it`, async () => {
      const state = tempDir();
      const cfg = config(state, { list: false });
      for (const cmd of [issueArgs(state, cfg, 'hostile.example.test', ['--ca', list]), ['--state-dir', state, '--config', cfg, 'plan', '-d', 'hostile.example.test', '--ca', list], ['--state-dir', state, '--config', cfg, 'check', '-d', 'hostile.example.test', '--webroot', a.webroot, '--ca', list]]) {
        const r = await runCli(cmd);
        expect(r.code, `${cmd.join(' ')}\n${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
        expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
      }
      expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
      expect(fs.existsSync(path.join(state, 'live'))).toBe(false);
      nothingSent();
    }, 60_000);
  }

  it('the same in the config file: file:line and the field, exit 2', async () => {
    for (const [list, message] of [
      [['ca-a', '', 'ca-b'], /config\.yaml:1: defaults\.ca: expected a CA id or an ordered list of CA ids/],
      ['ca-a,,ca-b', /config\.yaml:1: defaults\.ca: expected a CA id or an ordered list of CA ids/],
      [['ca-a', 'ca-a'], /config\.yaml:1: defaults\.ca: names a CA twice/],
      [Array.from({ length: 20 }, (_, i) => `ca-${i}`), /config\.yaml:1: defaults\.ca: names 20 CAs; a fail-over list holds at most 8/],
      [['ca-a', 'nope'], /Unknown CA "nope"/],
    ] as [unknown, RegExp][]) {
      const state = tempDir();
      const cfg = config(state, { list });
      const r = await runCli(issueArgs(state, cfg, 'hostile-config.example.test'));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
    }
    nothingSent();
  }, 60_000);

  it('a custom CA whose directory answers garbage: exit 8, one sentence, no account and no order (only the directory GETs)', async () => {
    const state = tempDir();
    const cfg = config(state, { list: false });
    pa.failNext('directory', 200, Infinity, { body: '<html>this is not ACME</html>' });
    const r = await runCli(issueArgs(state, cfg, 'junk.example.test', ['--ca', 'ca-junk']), { CERTCTL_ACME_TIMEOUT: '2' });
    expect(r.code, r.stderr).toBe(8);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: The ACME server at https:\/\/127\.0\.0\.1:\d+\/junk-directory (gave an answer to directory that is not usable ACME|answered HTTP \d+ to GET)/m);
    expect(r.stderr).not.toMatch(/internal error|TypeError|at .*\.js:\d+/);
    expect(pa.requests.filter((x) => x.method === 'POST')).toEqual([]);
    expect(pb.total()).toBe(0);
    expect(q(state, 'SELECT id FROM accounts WHERE account_url IS NOT NULL')).toEqual([]);
    expect(q(state, "SELECT id FROM orders WHERE state <> 'possible'")).toEqual([]);
    // A garbage answer is an answer: the CA is not recorded as unreachable.
    expect(q(state, 'SELECT * FROM ca_outages')).toEqual([]);
  }, 60_000);
});
