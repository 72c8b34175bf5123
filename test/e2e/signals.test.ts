/**
 * SIGINT/SIGTERM during `issue` and `renew` (issue 20): the run stops where
 * it is, cleans up what its challenge set up, says at which step of the order
 * journal it stopped, exits 130/143 — and the next run resumes that order
 * ("Resuming the order … interrupted at <step>…", not "Ordering a
 * certificate…"), one certificate at the CA over both runs. The signal is sent
 * while the ACME test proxy holds a request, so "during step X" is by
 * construction, not by timing.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, startCli, tempDir, q } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));
beforeEach(() => {
  proxy.clearFaults();
  proxy.resetObservations();
});

function issueArgs(state: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
const challengeDir = () => path.join(pebble.webroot, '.well-known', 'acme-challenge');
const challengeFiles = () => (fs.existsSync(challengeDir()) ? fs.readdirSync(challengeDir()) : []);

/** Start certctl, wait until the proxy holds its request to `endpoint`, send `signal`; the result. */
async function signalledAt(endpoint: 'finalize' | 'challenge' | 'newOrder', signal: NodeJS.Signals, args: string[], whileHeld?: () => Promise<void>) {
  const held = proxy.hold(endpoint);
  const run = startCli(args);
  await held.arrived;
  run.child.kill(signal);
  await whileHeld?.();
  // Released only after the process is gone (or, for 'challenge', once it said it waits): the CA then acts on
  // the request as on an answer lost after the CA acted.
  if (!whileHeld) await run.exited;
  held.release();
  return run.result;
}

describe('SIGTERM/SIGINT during issue', () => {
  it('SIGTERM while finalize is in flight: exit 143, the step named, nothing left in the webroot; the next issue resumes at "finalizing" and the CA issued one certificate', async () => {
    const state = tempDir();
    const name = 'sigterm-finalize.example.test';
    const r = await signalledAt('finalize', 'SIGTERM', issueArgs(state, name));
    expect(r.signal).toBeNull(); // it exited on its own, with its code, not killed by the signal
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(new RegExp(`Stopped by SIGTERM: the order of ${name.replace(/\./g, '\\.')} \\(order \\d+\\) at step finalizing; nothing more was sent to the CA\\.`));
    expect(r.stderr).toContain('it resumes the order from that step instead of ordering again');
    expect(challengeFiles()).toEqual([]);
    const [order] = q<{ state: string; step: string }>(state, 'SELECT state, step FROM orders');
    expect(order).toEqual({ state: 'open', step: 'finalizing' });
    // The lock was released: the next run does not wait for a dead holder.
    expect(q(state, "SELECT * FROM locks WHERE name = 'run'")).toHaveLength(0);

    const again = await runCli(issueArgs(state, name));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Resuming the order of ${name} interrupted at finalizing…`);
    expect(again.stdout).not.toContain('Ordering a certificate');
    expect(again.stdout).toMatch(/Recovered sigterm-finalize\.example\.test: serial [0-9A-F]+/);
    // One order, one certificate at the CA over both runs (the held finalize went through once released).
    expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(1);
  });

  it('SIGTERM while the CA validates the challenge: waits for the verdict (the response stays served), then stops at "authorizing" with no failed authorization; the file is removed; the next run resumes', async () => {
    const state = tempDir();
    const name = 'sigterm-challenge.example.test';
    let served: string[] = [];
    let run: ReturnType<typeof startCli> | undefined;
    const held = proxy.hold('challenge');
    run = startCli(issueArgs(state, name));
    await held.arrived;
    served = challengeFiles();
    run.child.kill('SIGTERM');
    // Still running and saying why, the challenge response still served.
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        if (String(d).includes('stopping once the CA has judged the challenge')) {
          run!.child.stdout!.off('data', onData);
          resolve();
        }
      };
      run!.child.stdout!.on('data', onData);
    });
    expect(challengeFiles()).toEqual(served);
    expect(served).toHaveLength(1);
    held.release();
    const r = await run.result;
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/Stopped by SIGTERM: the order of sigterm-challenge\.example\.test \(order \d+\) at step authorizing/);
    expect(challengeFiles()).toEqual([]);
    expect(q<{ status: string }>(state, 'SELECT status FROM authorizations').map((a) => a.status)).toEqual(['valid']);
    expect(proxy.issued).toBe(0);

    const again = await runCli(issueArgs(state, name));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Resuming the order of ${name} interrupted at authorizing…`);
    expect(again.stdout).not.toContain('Ordering a certificate');
    expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(proxy.issued).toBe(1);
    expect(q(state, "SELECT id FROM authorizations WHERE status != 'valid'")).toHaveLength(0);
  });

  it('SIGINT with newOrder in flight: exit 130 at step "creating"; the possible order is counted; the next run orders once more and gets one certificate', async () => {
    const state = tempDir();
    const name = 'sigint-neworder.example.test';
    const r = await signalledAt('newOrder', 'SIGINT', issueArgs(state, name, ['--json']));
    expect(r.code).toBe(130);
    const doc = JSON.parse(r.stdout);
    expect(doc.schema).toBe('certctl.error/1');
    expect(doc.error).toMatchObject({ kind: 'InterruptedError', exitCode: 130 });
    expect(doc.error.message).toMatch(/at step creating/);
    // The held newOrder reached the CA once released: a possible order, counted by the planner.
    expect(q(state, "SELECT id FROM orders WHERE state = 'possible'")).toHaveLength(1);

    const again = await runCli(issueArgs(state, name));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Resuming the order of ${name} interrupted at creating…`);
    expect(proxy.issued).toBe(1);
  });
});

describe('SIGTERM during renew', () => {
  it('exit 143 naming the lineage and step; the next renew recovers it ("finished the order interrupted at finalizing"), one certificate more at the CA', async () => {
    const state = tempDir();
    const name = 'sigterm-renew.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    proxy.resetObservations();
    const r = await signalledAt('finalize', 'SIGTERM', renewArgs(state, ['--force-renewal']));
    expect(r.code).toBe(143);
    expect(r.stderr).toMatch(/Stopped by SIGTERM: the order of sigterm-renew\.example\.test \(order \d+\) at step finalizing/);
    expect(challengeFiles()).toEqual([]);
    const again = await runCli(renewArgs(state));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/recovered\s+sigterm-renew\.example\.test: .*finished the order interrupted at finalizing/s);
    expect(proxy.issued).toBe(1);
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(2);
  });
});
