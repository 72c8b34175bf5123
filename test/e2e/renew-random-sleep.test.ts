/**
 * renew's random delay off a terminal (issue 20): it decides first, so a run
 * with nothing due returns at once and records no wait; when something is
 * due it says it waits, waits (bounded here by --random-sleep-max 1), then
 * renews. runCli runs certctl in a pipe: never on a terminal.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import { startPebble, type Pebble } from '../../src/testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../src/testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

const YEAR = 365 * 86_400_000;
const future = (years: number) => new Date(Date.now() + years * YEAR).toISOString();
const WAIT_1 = 'waiting 1 s before contacting the CA (random delay; --no-random-sleep to skip)';
let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ari: false });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => proxy.resetObservations());

function issueArgs(state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name];
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
