/**
 * One time format in all text output ("2027-03-02 01:56:45 UTC", the form
 * `plan` always used), ISO 8601 in JSON, and no negative "left": the built
 * CLI on a state directory with a certificate Pebble issued, read now and
 * 200 days later (CERTCTL_TEST_NOW, when it has expired), and a plan blocked
 * by a config policy so that a limit is overspent.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { runCli, tempDir } from '../helpers/cli.js';

let pebble: Pebble;
let state: string;
let issued: { stdout: string; code: number };
const DAY = 86_400_000;
beforeAll(async () => {
  pebble = await startPebble({ validitySeconds: 90 * 86_400 });
  state = tempDir();
  issued = await runCli(['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble), '--email', 'ops@example.test', '-d', 'time.example.test']);
});
afterAll(async () => {
  await pebble?.stop();
});

/** A time as JSON writes it, anywhere in a text. */
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(\.\d+)?Z/;
const UTC = /\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\b/;
const TEXT_COMMANDS = [['status'], ['plan', '-d', 'time.example.test'], ['plan', '-d', 'other.example.test'], ['limits'], ['account', 'list'], ['renew', '--dry-run'], ['ca', 'show', 'letsencrypt']];

describe('time format in text output', () => {
  it('issue, status, plan, limits, account, renew --dry-run, ca show: every time as "YYYY-MM-DD HH:MM:SS UTC", none in ISO form; JSON stays ISO 8601', async () => {
    expect(issued.code).toBe(0);
    expect(issued.stdout).toMatch(/valid until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\./);
    for (const later of [0, 200 * DAY]) {
      const env = later ? { CERTCTL_TEST_NOW: new Date(Date.now() + later).toISOString() } : {};
      for (const c of TEXT_COMMANDS) {
        const r = await runCli(['--state-dir', state, ...c], env);
        expect(r.code, `${c.join(' ')}: ${r.stderr}`).toBeLessThan(4);
        expect(`${r.stdout}${r.stderr}`, c.join(' ')).not.toMatch(ISO);
        expect(`${r.stdout}${r.stderr}`, c.join(' ')).not.toMatch(/-\d+ days? left|left -\d/);
      }
    }
    const status = await runCli(['--state-dir', state, 'status']);
    expect(status.stdout).toMatch(new RegExp(`expires ${UTC.source} \\(89 days left\\)`));
    const json = JSON.parse((await runCli(['--state-dir', state, '--json', 'status'])).stdout);
    expect(JSON.stringify(json)).toMatch(ISO);
    expect(JSON.stringify(json)).not.toMatch(UTC);
  });

  it('an expired certificate: status says "expired N days ago", never a negative "left"', async () => {
    const r = await runCli(['--state-dir', state, 'status'], { CERTCTL_TEST_NOW: new Date(Date.now() + 200 * DAY).toISOString() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`expires ${UTC.source} \\(expired 11[01] days ago\\)`));
    expect(r.stdout).not.toMatch(/\(-\d| -\d+ days/);
  });

  it('plan of a limit already spent says "none left (N short)", not "left -N"', async () => {
    const config = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(config, 'policies:\n  default:\n    certificates-per-domain: { count: 1, period: 7d }\n');
    const r = await runCli(['--state-dir', state, '--config', config, 'plan', '-d', 'other.example.test', '--server', pebble.directoryUrl]);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(/certificates-per-domain\s+example\.test\s+used 1\/1, spend 1, none left \(1 short\); blocked until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    expect(r.stdout).not.toMatch(/left -\d/);
    expect(r.stdout).not.toMatch(ISO);
  });
});
