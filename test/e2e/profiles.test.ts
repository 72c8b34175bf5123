/**
 * ACME profiles in the planner (issue 17): under Let's Encrypt's `tlsserver` and `shortlived`
 * profiles a certificate holds 25 names, not 100; IP addresses are issued only under
 * `shortlived`. `plan` says so before anything is sent, and `issue` refuses before anything
 * reaches the CA — counted at certctl's ACME test proxy in front of Pebble, with the CA taken as
 * Let's Encrypt (`--ca letsencrypt --server <proxy>`: its policy and profiles, Pebble's answers).
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir } from '../helpers/cli.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble({ nonceReject: 0 }); // exact request counts below: no random badNonce resend (testkit/acme-proxy.ts)
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ari: false });
  proxy.setProfiles({ classic: 'The same profile you know', tlsserver: '45-day certificates', shortlived: '6-day certificates' });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => proxy.resetObservations());

const names26 = Array.from({ length: 26 }, (_, i) => `n${i + 1}.profiles.test`);
const d = (names: string[]) => names.flatMap((n) => ['-d', n]);
/** plan sends nothing, so it needs no CA bundle. */
const asLe = () => ['--ca', 'letsencrypt', '--server', proxy.directoryUrl];
const issueArgs = (state: string, names: string[], extra: string[] = []) => ['--state-dir', state, 'issue', ...asLe(), '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...d(names), ...extra];

/** Nothing of this run reached the CA, and nothing was written but an empty state. */
function expectNothing(state: string): void {
  expect(proxy.total()).toBe(0);
  expect(fs.existsSync(path.join(state, 'live'))).toBe(false);
}

describe('names per certificate follow the profile', () => {
  it('plan: 26 names with --profile tlsserver are refused (25 under tlsserver); the same 26 fit classic', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, 'plan', ...asLe(), ...d(names26), '--profile', 'tlsserver']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/profile tlsserver: at most 25 names, DNS names only; a certificate ordered now lives 45 days/);
    expect(r.stdout).toMatch(/26 names; this CA allows at most 25 under the profile tlsserver: split the names over several certificates \(or ask for a profile that allows 100\)/);
    expect(r.stdout).toMatch(/BLOCKED: the CA would refuse this request; earliest allowed never, as asked/);
    const j = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', ...asLe(), ...d(names26), '--profile', 'tlsserver'])).stdout);
    expect(j.verdict).toBe('blocked');
    expect(j.plans[0].profile).toMatchObject({ name: 'tlsserver', asked: true, maxNames: 25, ipIdentifiers: false, lifetimeHours: 45 * 24, renewWhenLeftHours: 15 * 24 });
    expect(j.plans[0].limits.find((l: { name: string }) => l.name === 'names-per-certificate')).toMatchObject({ used: 26, capacity: 25, allowedAt: null });
    // classic (also the CA's default): 100.
    const c = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', ...asLe(), ...d(names26)])).stdout);
    expect(c.plans[0].profile).toMatchObject({ name: 'classic', asked: false, maxNames: 100 });
    expect(c.plans[0].limits.find((l: { name: string }) => l.name === 'names-per-certificate')).toMatchObject({ used: 26, capacity: 100 });
    expect(c.verdict).not.toBe('blocked');
    expectNothing(state);
  });

  it('issue: 26 names with --profile tlsserver (and shortlived) are bad input, exit 2, and nothing reaches the CA', async () => {
    for (const profile of ['tlsserver', 'shortlived']) {
      const state = tempDir();
      const r = await runCli(issueArgs(state, names26, ['--profile', profile]));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`26 names were given; Let's Encrypt allows at most 25 names per certificate under the profile ${profile}.`);
      expect(r.stderr).toMatch(/Split the names over several certificates, or use --profile classic\. Nothing was sent\./);
      expectNothing(state);
      expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
    }
  });

  it('issue: 25 names with --profile tlsserver are ordered with that profile (the CA saw profile "tlsserver", 25 identifiers)', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, names26.slice(0, 25), ['--profile', 'tlsserver']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(proxy.orders).toHaveLength(1);
    expect(proxy.orders[0]!.payload).toMatchObject({ profile: 'tlsserver' });
    expect((proxy.orders[0]!.payload as { identifiers: unknown[] }).identifiers).toHaveLength(25);
    expect(proxy.issued).toBe(1);
  });
});

describe('IP addresses only under shortlived', () => {
  it('plan says so before ordering: under classic (the default) and tlsserver blocked, under shortlived it fits', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, 'plan', ...asLe(), '-d', '127.0.0.1']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/identifier-types .*not issued under this profile/);
    expect(r.stdout).toMatch(/the profile classic \(the CA's default\) issues no IP-address certificates \(127\.0\.0\.1\); ask for --profile shortlived/);
    const t = await runCli(['--state-dir', state, 'plan', ...asLe(), '-d', '127.0.0.1', '--profile', 'tlsserver']);
    expect(t.code).toBe(4);
    expect(t.stdout).toMatch(/the profile tlsserver issues no IP-address certificates/);
    const s = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', ...asLe(), '-d', '127.0.0.1', '--profile', 'shortlived'])).stdout);
    expect(s.verdict).not.toBe('blocked');
    expect(s.plans[0].profile).toMatchObject({ name: 'shortlived', ipIdentifiers: true, lifetimeHours: 160, renewWhenLeftHours: 80 });
    expectNothing(state);
  });

  it('issue -d 127.0.0.1 --profile tlsserver: exit 2, says to use --profile shortlived; without a profile the planner blocks it (exit 4); nothing sent either way', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, ['127.0.0.1'], ['--profile', 'tlsserver']));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Let's Encrypt issues no certificates for IP addresses such as 127.0.0.1 under the profile tlsserver.");
    expect(r.stderr).toContain('Use --profile shortlived for IP addresses, or leave them out. Nothing was sent.');
    expectNothing(state);
    const b = await runCli(issueArgs(state, ['127.0.0.1']));
    expect(b.code).toBe(4);
    expect(b.stderr).toMatch(/The CA would refuse this request: the profile classic \(the CA's default\) issues no IP-address certificates \(127\.0\.0\.1\); ask for --profile shortlived/);
    expect(b.stderr).toMatch(/Nothing was sent/);
    expectNothing(state);
  });
});

describe('a rate-limit override is shown by plan', () => {
  it('config policies.letsencrypt raising certificates-per-domain: plan prints "Override in force" and --json carries it', async () => {
    const state = tempDir();
    const cfg = path.join(tempDir(), 'certctl.yaml');
    fs.writeFileSync(cfg, 'policies:\n  letsencrypt:\n    source: "ISRG rate limit adjustment, ticket 12345"\n    limits:\n      certificates-per-domain: { capacity: 300 }\n');
    const r = await runCli(['--state-dir', state, '--config', cfg, 'plan', ...asLe(), '-d', 'override.profiles.test']);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Override in force \(config policies\.letsencrypt, ISRG rate limit adjustment, ticket 12345\): certificates-per-domain 300/);
    expect(r.stdout).toMatch(/certificates-per-domain\s+profiles\.test\s+used 0\/300/);
    const j = JSON.parse((await runCli(['--state-dir', state, '--config', cfg, '--json', 'plan', ...asLe(), '-d', 'override.profiles.test'])).stdout);
    expect(j.plans[0].policy.override).toEqual({ source: 'ISRG rate limit adjustment, ticket 12345', limits: [{ name: 'certificates-per-domain', capacity: 300, removed: false }] });
    // Without the config: no override, LE's 50.
    const plain = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', ...asLe(), '-d', 'override.profiles.test'])).stdout);
    expect(plain.plans[0].policy.override).toBeNull();
    expect(plain.plans[0].limits.find((l: { name: string }) => l.name === 'certificates-per-domain').capacity).toBe(50);
    expectNothing(state);
  });
});
