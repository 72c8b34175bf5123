/**
 * renew's random delay off a terminal (issue 20): it decides first, so a run
 * with nothing due returns at once and records no wait; when something is
 * due it says it waits, waits (bounded here by --random-sleep-max 1), then
 * renews. runCli runs certctl in a pipe: never on a terminal.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { spawn } from 'node:child_process';
import { ariCertId } from '../../src/core/acme/ari.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';

const YEAR = 365 * 86_400_000;
const future = (years: number) => new Date(Date.now() + years * YEAR).toISOString();
const WAIT_1 = 'waiting 1 s before contacting the CA (random delay; --no-random-sleep to skip)';
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
beforeEach(() => proxy.resetObservations());

function issueArgs(state: string, name: string, server = proxy.directoryUrl): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, server), '-d', name];
}
/** renew WITHOUT --no-random-sleep: the delay is on. */
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
const lastRunSummary = (state: string) => JSON.parse(q<{ summary_json: string }>(state, "SELECT summary_json FROM runs WHERE command = 'renew' ORDER BY id DESC LIMIT 1")[0]!.summary_json) as Record<string, number>;

describe('renew off a terminal: the random delay only before a due renewal', () => {
  it('nothing due: no delay at all (default maximum 480 s), no message, the run records no wait', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'sleep-kept.example.test'))).code).toBe(0);
    proxy.resetObservations();
    const r = await runCli(renewArgs(state));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kept\s+sleep-kept\.example\.test/);
    expect(r.stdout).not.toMatch(/waiting/);
    expect(lastRunSummary(state)).toMatchObject({ kept: 1, renewed: 0, randomSleepSeconds: 0 });
    const j = await runCli(renewArgs(state, ['--json']));
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({ randomSleepSeconds: 0, counts: { kept: 1 } });
    expect(lastRunSummary(state).randomSleepSeconds).toBe(0);
    // Decided from the ledger: no order (the first run after issue only reads the directory).
    expect(proxy.requests.map((x) => x.endpoint)).toEqual(['directory']);
  });

  it('something due: says it waits, waits, then renews; --quiet waits without saying so', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'sleep-due.example.test'))).code).toBe(0);
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--random-sleep-max', '1']), { CERTCTL_TEST_NOW: future(4) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(WAIT_1);
    expect(lines.slice(1).join('\n')).toMatch(/^renewed\s+sleep-due\.example\.test: serial /);
    expect(lastRunSummary(state)).toMatchObject({ renewed: 1, randomSleepSeconds: 1 });
    expect(proxy.issued).toBe(1);

    const quiet = await runCli(renewArgs(state, ['--quiet', '--json', '--random-sleep-max', '1']), { CERTCTL_TEST_NOW: future(8) });
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toMatch(/waiting/);
    expect(JSON.parse(quiet.stdout)).toMatchObject({ randomSleepSeconds: 1, counts: { renewed: 1 } });
    expect(lastRunSummary(state).randomSleepSeconds).toBe(1);
    expect(proxy.issued).toBe(2);
  });

  it('a run waiting its delay decides again after it: a lineage renewed meanwhile by another run is not renewed twice', async () => {
    const state = tempDir();
    const name = 'sleep-race.example.test';
    expect((await runCli(issueArgs(state, name, ariProxy.directoryUrl))).code).toBe(0);
    // The CA (ARI) says: renew the first certificate now, its successor much later.
    const first = ariCertId(fs.readFileSync(path.join(state, 'live', name, 'cert.pem'), 'utf8'));
    const now = Date.now();
    ariProxy.setRenewalWindow((id) => (id === first ? { start: new Date(now - 7_200_000), end: new Date(now - 3_600_000) } : { start: new Date(now + 30 * 86_400_000), end: new Date(now + 32 * 86_400_000) }));
    try {
      ariProxy.resetObservations();
      // Run A finds the lineage due and says it waits (the run lock is released for the wait)…
      const a = spawn(process.execPath, [BIN, ...renewArgs(state, ['--random-sleep-max', '1'])], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let aOut = '';
      let aErr = '';
      a.stdout.on('data', (d) => (aOut += d));
      a.stderr.on('data', (d) => (aErr += d));
      const aExit = new Promise<number | null>((resolve) => a.on('exit', (code) => resolve(code)));
      while (!aOut.includes(WAIT_1)) {
        if (a.exitCode !== null) throw new Error(`renew exited before waiting: ${aOut} ${aErr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      // …then run B, started during A's wait, runs at once. Whichever renews, the other must find it done.
      const b = await runCli(renewArgs(state, ['--json', '--no-random-sleep']));
      expect(await aExit).toBe(0);
      expect(aErr).toBe('');
      expect(b.stderr).toBe('');
      expect(b.code).toBe(0);
      const aAction = /^(renewed|kept)\s+sleep-race/m.exec(aOut)?.[1];
      expect([aAction, JSON.parse(b.stdout).lineages[0].action].sort()).toEqual(['kept', 'renewed']);
      expect(ariProxy.issued).toBe(1);
      expect(q(state, 'SELECT version FROM certificates ORDER BY version')).toEqual([{ version: 1 }, { version: 2 }]);
    } finally {
      ariProxy.setRenewalWindow(null);
    }
  });

  it('--no-random-sleep and --random-sleep-max 0: renewed without a wait', async () => {
    const state = tempDir();
    expect((await runCli(issueArgs(state, 'sleep-off.example.test'))).code).toBe(0);
    for (const [flags, years] of [[['--no-random-sleep'], 4], [['--random-sleep-max', '0'], 8]] as const) {
      const r = await runCli(renewArgs(state, [...flags]), { CERTCTL_TEST_NOW: future(years) });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/waiting/);
      expect(r.stdout).toMatch(/renewed\s+sleep-off/);
      expect(lastRunSummary(state).randomSleepSeconds).toBe(0);
    }
  });

  it('a bad --random-sleep-max: exit 2, one sentence, nothing sent', async () => {
    const state = tempDir();
    for (const v of ['-1', '1.5', 'soon', '43201']) {
      const r = await runCli(renewArgs(state, ['--random-sleep-max', v]));
      expect(r.code, v).toBe(2);
      expect(r.stderr).toMatch(/--random-sleep-max must be a whole number of seconds from 0 to 43200/);
    }
    expect(proxy.total()).toBe(0);
  });
});
