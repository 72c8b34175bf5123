/**
 * `certctl daemon` against Pebble, through certctl's ACME test proxy: a
 * SIGTERM that arrives while a renewal is in flight lets that run finish
 * (certificate stored, lock released, exit 0) before the daemon stops. The
 * proxy holds the finalize request until the signal has been received, so
 * the signal lands mid-order by construction, not by timing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';

const YEAR = 365 * 86_400_000;
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

function startDaemon(state: string, config: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, '--state-dir', state, '--config', config, 'daemon'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  /** Resolves when the output matches (the test's own timeout bounds the wait). */
  const waitFor = async (re: RegExp) => {
    while (!re.test(out)) {
      if (child.exitCode !== null) throw new Error(`daemon exited before ${re}: ${out} ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, output: () => ({ out, err }) };
}

describe('certctl daemon', () => {
  it('SIGTERM during a renewal: the run finishes (certificate stored, lock released), then exit 0', async () => {
    const state = tempDir();
    const name = 'daemon-term.example.test';
    const issued = await runCli(['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name]);
    expect(issued.code, issued.stderr).toBe(0);
    const config = path.join(tempDir(), 'certctl.yaml');
    fs.writeFileSync(config, `defaults:\n  resolver: "${pebble.dns.resolver}"\n  httpPort: ${pebble.httpPort}\n`);
    proxy.resetObservations();
    // The CA is slow to finalize: the request waits at the proxy until released.
    const finalize = proxy.hold('finalize');
    // Four years on the certificate is due; no renew run yet, so the daemon runs one at once (catch-up).
    const d = startDaemon(state, config, { CERTCTL_TEST_NOW: new Date(Date.now() + 4 * YEAR).toISOString() });
    try {
      await finalize.arrived;
      // The renewal is in flight (finalize sent, no answer yet), holding the run lock.
      expect(q(state, 'SELECT name FROM locks')).toHaveLength(1);
      d.child.kill('SIGTERM');
      await d.waitFor(/SIGTERM: finishing the current renew run, then stopping/);
    } finally {
      finalize.release();
    }
    const exit = await d.exited;
    const { out, err } = d.output();
    expect(err).toBe('');
    expect(exit).toEqual({ code: 0, signal: null });
    // The run completed: renewed, then the daemon stopped without starting another.
    const lines = out.trim().split('\n');
    expect(lines.map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC /, '').replace(/\(pid \d+\).*|\(\d+\.\d s\)$/, ''))).toEqual([
      'certctl daemon started ',
      'SIGTERM: finishing the current renew run, then stopping',
      'renew (catch-up) exit 0: 1 renewed ',
      'certctl daemon stopped (SIGTERM)',
    ]);
    expect(proxy.issued).toBe(1);
    expect(fs.readlinkSync(path.join(state, 'live', name, 'cert.pem'))).toMatch(/cert2\.pem$/);
    expect(q(state, 'SELECT version FROM certificates ORDER BY version')).toEqual([{ version: 1 }, { version: 2 }]);
    expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
    expect(q(state, 'SELECT name FROM locks')).toEqual([]);
    // The run was recorded as finished.
    expect(q(state, "SELECT exit_code FROM runs WHERE command = 'renew'")).toEqual([{ exit_code: 0 }]);
  });
});
