/**
 * `certctl renew` end to end on Pebble, with the clock moved forward through
 * the test-only CERTCTL_TEST_NOW hook (Pebble issues 5-year certificates:
 * due after 2/3 of that). Every request goes through certctl's ACME test
 * proxy (testkit/acme-proxy.ts), so "nothing sent" and "one certificate"
 * are counted at the server, not in the ledger. `proxy` offers no ARI, as
 * Pebble itself; `ariProxy` adds it where a test needs the CA to choose.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';

const YEAR = 365 * 86_400_000;
const HOUR = 3_600_000;
let pebble: Pebble;
let proxy: AcmeTestProxy;
let ariProxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ari: false });
  ariProxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
});
afterAll(async () => {
  await ariProxy?.stop();
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.resetObservations();
  ariProxy.resetObservations();
});

/** Requests the CA accepted at `endpoint` (a re-sent request after a rejected nonce is not an operation). */
const accepted = (px: AcmeTestProxy, endpoint: string) => px.requests.filter((x) => x.endpoint === endpoint && x.status >= 200 && x.status < 300).length;

function issueArgs(state: string, name: string, extra: string[] = [], server = proxy.directoryUrl): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, server), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
const future = (years: number) => new Date(Date.now() + years * YEAR).toISOString();

describe('certctl renew', () => {
  it('not due → one directory read, then nothing sent at all; due → renewed, live/ switched, archive kept, deploy hook ran', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'renew1.example.test'))).code).toBe(0);

    // Not due: kept. Counted at the proxy: the first run after issue reads the directory once (is
    // renewalInfo offered? issue does not record that; cached a day from here) and sends nothing else.
    proxy.resetObservations();
    const kept = await runCli(renewArgs(state, ['--json']));
    expect(kept.code).toBe(0);
    const doc = JSON.parse(kept.stdout);
    expect(doc.schema).toBe('certctl.renew/1');
    expect(doc.lineages[0]).toMatchObject({ lineage: 'renew1.example.test', action: 'kept' });
    expect(proxy.requests.map((x) => `${x.method} ${x.endpoint}`)).toEqual(['GET directory']);
    proxy.resetObservations();
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(1);
    // The next run sends nothing at all; --quiet with nothing to do prints nothing at all.
    const quiet = await runCli(renewArgs(state, ['--quiet']));
    expect(quiet.code).toBe(0);
    expect(quiet.stdout + quiet.stderr).toBe('');
    expect(proxy.total()).toBe(0);

    // Four years later it is due.
    const hookOut = path.join(tempDir(), 'deploy.txt');
    const hook = `printf '%s|%s\\n' "$RENEWED_LINEAGE" "$RENEWED_DOMAINS" >> ${hookOut}`;
    const r = await runCli(renewArgs(state, ['--deploy-hook', hook]), { CERTCTL_TEST_NOW: future(4) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/renewed\s+renew1\.example\.test: serial [0-9A-F]+,/);
    expect(proxy.issued).toBe(1);
    const live = path.join(state, 'live', 'renew1.example.test');
    expect(fs.readlinkSync(path.join(live, 'fullchain.pem'))).toMatch(/fullchain2\.pem$/);
    expect(fs.existsSync(path.join(state, 'archive', 'renew1.example.test', 'fullchain1.pem'))).toBe(true);
    expect(fs.readFileSync(hookOut, 'utf8')).toBe(`${live}|renew1.example.test\n`);
    const certs = q<{ version: number; serial: string }>(state, 'SELECT version, serial FROM certificates ORDER BY version');
    expect(certs.map((c) => c.version)).toEqual([1, 2]);
    expect(certs[0]!.serial).not.toBe(certs[1]!.serial);

    // Back at the real date, the new certificate is not due: nothing is sent.
    proxy.resetObservations();
    const again = await runCli(renewArgs(state, ['--json']));
    expect(JSON.parse(again.stdout).lineages[0].action).toBe('kept');
    expect(proxy.total()).toBe(0);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(2);
  });

  it('a failing deploy hook is reported and the new certificate is kept', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'hookfail.example.test'))).code).toBe(0);
    const r = await runCli(renewArgs(state, ['--deploy-hook', 'echo boom >&2; exit 3']), { CERTCTL_TEST_NOW: future(4) });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/renewed\s+hookfail/);
    expect(r.stdout).toMatch(/deploy-hook failed \(exit 3\): boom/);
    expect(fs.readlinkSync(path.join(state, 'live', 'hookfail.example.test', 'cert.pem'))).toMatch(/cert2\.pem$/);
  });

  it('domain names reach hooks only through the environment, never through a shell', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'env.example.test'))).code).toBe(0);
    const out = path.join(tempDir(), 'argv.txt');
    // The hook prints its own argument count: names are not appended as arguments.
    const r = await runCli(renewArgs(state, ['--deploy-hook', `echo "$#" > ${out}`]), { CERTCTL_TEST_NOW: future(4) });
    expect(r.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8').trim()).toBe('0');
  });

  it('ten renews started at once after a crashed issue: exactly one certificate at the CA, no ledger error', async () => {
    const state = tempDir();
    // The issue run is SIGKILLed right after new-order (the order journalled, its authorization never
    // fetched): the lineage has an open order and no certificate.
    const crashed = await killedAt(proxy, 'authz', 'before', issueArgs(state, 'ten.example.test'));
    expect(crashed.fired, crashed.stderr).toBe(true);
    expect(crashed.signal).toBe('SIGKILL');
    expect(q(state, "SELECT step FROM orders WHERE state = 'open'")).toEqual([{ step: 'created' }]);
    expect(accepted(proxy, 'newOrder')).toBe(1);
    proxy.resetObservations();
    const runs = await Promise.all(Array.from({ length: 10 }, () => runCli(renewArgs(state, ['--json']))));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    const actions = runs.map((r) => JSON.parse(r.stdout).lineages[0].action).sort();
    expect(actions.filter((a) => a === 'recovered')).toHaveLength(1);
    expect(actions.filter((a) => a === 'kept')).toHaveLength(9);
    // Counted at the server: the open order was finished once; no new order, one finalize.
    expect(accepted(proxy, 'newOrder')).toBe(0);
    expect(accepted(proxy, 'finalize')).toBe(1);
    expect(proxy.issued).toBe(1);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(1);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
  });

  it('ten renews started at once with the certificate due: exactly one renewal at the CA', async () => {
    const state = tempDir();
    const name = 'ten-due.example.test';
    expect((await runCli(issueArgs(state, name, [], ariProxy.directoryUrl))).code).toBe(0);
    // The CA (ARI) says: renew the first certificate now; its successor much later.
    const first = ariCertId(fs.readFileSync(path.join(state, 'live', name, 'cert.pem'), 'utf8'));
    const now = Date.now();
    ariProxy.setRenewalWindow((certId) =>
      certId === first ? { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) } : { start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) },
    );
    try {
      ariProxy.resetObservations();
      const runs = await Promise.all(Array.from({ length: 10 }, () => runCli(renewArgs(state, ['--json']))));
      for (const r of runs) {
        expect(r.stderr).toBe('');
        expect(r.code).toBe(0);
      }
      const actions = runs.map((r) => JSON.parse(r.stdout).lineages[0].action).sort();
      expect(actions.filter((a) => a === 'renewed')).toHaveLength(1);
      expect(actions.filter((a) => a === 'kept')).toHaveLength(9);
      // Counted at the server: one new order, one finalize, one certificate.
      expect(accepted(ariProxy, 'newOrder')).toBe(1);
      expect(accepted(ariProxy, 'finalize')).toBe(1);
      expect(ariProxy.issued).toBe(1);
      expect(q(state, 'SELECT version FROM certificates ORDER BY version')).toEqual([{ version: 1 }, { version: 2 }]);
      expect(fs.readlinkSync(path.join(state, 'live', name, 'cert.pem'))).toMatch(/cert2\.pem$/);
    } finally {
      ariProxy.setRenewalWindow(null);
    }
  });

  it('--dry-run for a CA without a staging twin plans and checks only, touching nothing', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'dry.example.test'))).code).toBe(0);
    const before = fs.readlinkSync(path.join(state, 'live', 'dry.example.test', 'cert.pem'));
    const r = await runCli(renewArgs(state, ['--dry-run']));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/has no staging CA known to certctl/);
    expect(fs.readlinkSync(path.join(state, 'live', 'dry.example.test', 'cert.pem'))).toBe(before);
    expect(q(state, 'SELECT id FROM orders')).toHaveLength(1);
  });

  it('--dry-run against a staging twin issues in a throw-away directory', async () => {
    const state = tempDir();
    // --ca pebble: Pebble is its own staging twin.
    expect((await runCli([...issueArgs(state, 'drytwin.example.test'), '--ca', 'pebble'])).code).toBe(0);
    const r = await runCli(renewArgs(state, ['--dry-run']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/a test certificate was issued by .*live files untouched/);
    expect(fs.readlinkSync(path.join(state, 'live', 'drytwin.example.test', 'cert.pem'))).toMatch(/cert1\.pem$/);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
  });
});

describe('--reuse-key', () => {
  it('keeps the private key across a renewal; without it the key is new', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'reuse.example.test', ['--reuse-key']))).code).toBe(0);
    expect((await runCli(issueArgs(state, 'fresh.example.test'))).code).toBe(0);
    const r = await runCli(renewArgs(state), { CERTCTL_TEST_NOW: future(4) });
    expect(r.code).toBe(0);
    const key = (n: string, v: number) => fs.readFileSync(path.join(state, 'archive', n, `privkey${v}.pem`), 'utf8');
    expect(key('reuse.example.test', 2)).toBe(key('reuse.example.test', 1));
    expect(key('fresh.example.test', 2)).not.toBe(key('fresh.example.test', 1));
    expect(fs.statSync(path.join(state, 'archive', 'reuse.example.test', 'privkey2.pem')).mode & 0o777).toBe(0o600);
  });
});

describe('pre and post hooks', () => {
  it('run once per run around the attempts, not when nothing is due; a failing pre-hook orders nothing', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'hooks-a.example.test'))).code).toBe(0);
    expect((await runCli(issueArgs(state, 'hooks-b.example.test'))).code).toBe(0);
    const log = path.join(tempDir(), 'hooks.log');
    const hooks = ['--pre-hook', `echo pre >> ${log}`, '--post-hook', `echo post >> ${log}`, '--deploy-hook', `echo "deploy $RENEWED_DOMAINS" >> ${log}`];
    expect((await runCli(renewArgs(state, hooks))).code).toBe(0);
    expect(fs.existsSync(log)).toBe(false);
    const r = await runCli(renewArgs(state, hooks), { CERTCTL_TEST_NOW: future(4) });
    expect(r.code).toBe(0);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('pre');
    expect(lines.at(-1)).toBe('post');
    expect(lines.slice(1, -1).sort()).toEqual(['deploy hooks-a.example.test', 'deploy hooks-b.example.test']);

    const bad = await runCli(renewArgs(state, ['--pre-hook', 'exit 9']), { CERTCTL_TEST_NOW: future(8) });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/pre-hook failed \(exit 9\)/);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(4);
  });
});

describe('two runs at once', () => {
  it('two runs of renew --force-renewal for one lineage at once: one certificate at the CA; the second says it waited and for whom, and does not renew twice', async () => {
    const state = tempDir();
    const name = 'twice.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    proxy.resetObservations();
    const args = renewArgs(state, ['--force-renewal', '--cert-name', name]);
    const [a, b] = await Promise.all([runCli(args), runCli(args)]);
    expect([a.code, b.code], a.stderr + b.stderr).toEqual([0, 0]);
    expect(proxy.issued).toBe(1);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(2);
    const [first, second] = /waiting for another certctl run/.test(a.stdout) ? [b, a] : [a, b];
    expect(first.stdout).toMatch(new RegExp(`renewed\\s+${name.replace(/\./g, '\\.')}`));
    expect(second.stdout).toMatch(new RegExp(`waiting for another certctl run to finish \\(pid \\d+ on [^,]+, holding the lock since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\)`));
    expect(second.stdout).toMatch(/kept\s+twice\.example\.test: renewed \d+ s ago by another run while this one waited; not renewed twice \(--force-renewal included\)/);
    // A later forced run (not waiting on anyone) renews as asked.
    const later = await runCli(args);
    expect(later.code).toBe(0);
    expect(proxy.issued).toBe(2);
  });
});
