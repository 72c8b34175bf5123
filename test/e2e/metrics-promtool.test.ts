/**
 * `certctl metrics` as Prometheus reads it: Prometheus's own linter
 * (`promtool check metrics`, Debian's prometheus package) on the real output
 * of a state directory with lineages certctl issued from Pebble and a renew
 * run recorded. Fails (never skips) when promtool is missing.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { requireBinary } from '../../testkit/challtestsrv.js';
import { runCli, tempDir } from '../helpers/cli.js';

const PROMTOOL = '/usr/bin/promtool';
let pebble: Pebble;
beforeAll(async () => {
  requireBinary(PROMTOOL);
  pebble = await startPebble();
});
afterAll(async () => {
  await pebble?.stop();
});

function promtool(text: string): { code: number | null; out: string } {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('certctl metrics and promtool', () => {
  it('promtool check metrics passes on the output of a ledger with lineages, rate limits and a renew run', async () => {
    const state = tempDir();
    for (const d of ['prom.example.test', 'second.example.test']) {
      const r = await runCli(['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble), '--email', 'ops@example.test', '-d', d, '-d', `www.${d}`]);
      expect(r.code, r.stderr).toBe(0);
    }
    const renew = await runCli(['--state-dir', state, 'renew']);
    expect(renew.code, renew.stderr).toBe(0);
    const m = await runCli(['--state-dir', state, 'metrics']);
    expect(m.code).toBe(0);
    const lint = promtool(m.stdout);
    expect(lint.out).toBe('');
    expect(lint.code).toBe(0);
    // What promtool would have refused is gone; the seconds are there, about Pebble's 5-year lifetime.
    expect(m.stdout).not.toContain('days_left');
    const left = [...m.stdout.matchAll(/^certctl_certificate_remaining_seconds\{lineage="([^"]+)"\} (-?\d+)$/gm)];
    expect(left.map((x) => x[1]).sort()).toEqual(['prom.example.test', 'second.example.test']);
    for (const x of left) expect(Number(x[2]) / 86_400).toBeGreaterThan(365);
    expect(m.stdout).toMatch(/^certctl_last_renew_exit_code 0$/m);
    expect(m.stdout).toMatch(/^certctl_ratelimit_headroom\{/m);

    // The same through --textfile.
    const dir = path.join(state, 'textfile');
    fs.mkdirSync(dir);
    expect((await runCli(['--state-dir', state, 'metrics', '--textfile', dir])).code).toBe(0);
    expect(promtool(fs.readFileSync(path.join(dir, 'certctl.prom'), 'utf8'))).toEqual({ code: 0, out: '' });
  });

  it('promtool refuses the old days metric (why it was renamed): the linter is really checking', () => {
    const lint = promtool('# HELP certctl_certificate_days_left Days left.\n# TYPE certctl_certificate_days_left gauge\ncertctl_certificate_days_left{lineage="a"} 3\n');
    expect(lint.out).toContain('use base unit "seconds" instead of "days"');
    expect(lint.code).not.toBe(0);
  });
});
