/**
 * DNS-01 end to end: the built CLI against a real Pebble that validates
 * through a real BIND 9 (testkit/bind.ts startDnsWorld: nameservers on port
 * 53 of their own loopback addresses, found through NS records), behind
 * certctl's ACME test proxy so every request the CA saw is counted. What the
 * nameservers hold is read back with `dig`, never with the code under test.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { digTxt, startDnsWorld, NSUPDATE_BIN, type DnsWorld } from '../../testkit/bind.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startAcmeDnsStandIn } from '../../testkit/acmedns-standin.js';

let w: DnsWorld;
let pebble: Pebble;
let proxy: AcmeTestProxy;
let tmp: string;
let secret: string;

beforeAll(async () => {
  w = await startDnsWorld();
  pebble = await startPebble({ dnsServer: `${w.ns1}:53` });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  tmp = tempDir('certctl-dns01-');
  secret = /secret\s+"([^"]+)"/.exec(fs.readFileSync(w.keyFiles.certctl, 'utf8'))![1]!;
}, 90_000);

afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await w?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const ca = () => ['--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--email', 'ops@example.test'];
const rfc2136 = (keyFile = w.keyFiles.certctl) => ['--dns', 'rfc2136', '--dns-server', `${w.ns1}:53`, '--tsig-key', keyFile, '--resolver', `${w.ns1}:53`];

function sans(state: string, lineage: string): string[] {
  const text = execFileSync('openssl', ['x509', '-in', path.join(state, 'live', lineage, 'cert.pem'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
  return [...text.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]!).sort();
}

/** Every byte certctl keeps in a state directory (ledger + WAL, settings, logs) as one string. */
function everything(state: string): string {
  let out = '';
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out += fs.readFileSync(p).toString('latin1');
    }
  };
  walk(state);
  return out;
}

function challengeRows(state: string): unknown[] {
  return q(state, 'SELECT * FROM challenge_records');
}

describe('DNS-01 via RFC 2136 (TSIG) against BIND + Pebble', () => {
  it('issues *.example.test + example.test in one certificate, then renews from the lineage settings alone; the TSIG secret is nowhere', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, '--verbose', 'issue', ...ca(), '-d', 'example.test', '-d', '*.example.test', ...rfc2136()]);
    expect(r.stderr + r.stdout).toContain('nameservers have it');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Issued example\.test: serial/);
    expect(sans(state, 'example.test')).toEqual(['*.example.test', 'example.test']);
    // Both values were on one name at once, and both are gone again.
    expect(await digTxt(w.ns1, '_acme-challenge.example.test')).toEqual([]);
    expect(await digTxt(w.ns1v6, '_acme-challenge.example.test')).toEqual([]);
    expect(challengeRows(state)).toEqual([]);
    const [l] = q<{ challenge: string; settings_json: string }>(state, "SELECT challenge, settings_json FROM lineages WHERE name = 'example.test'");
    expect(l!.challenge).toBe('dns');
    expect(JSON.parse(l!.settings_json).dns).toEqual({ method: 'rfc2136', server: `${w.ns1}:53`, tsigKeyFile: w.keyFiles.certctl });
    const authz = q<{ identifier: string; status: string; challenge_type: string }>(state, 'SELECT identifier, status, challenge_type FROM authorizations ORDER BY identifier');
    expect(authz.map((a) => [a.identifier, a.status, a.challenge_type])).toEqual([
      ['example.test', 'valid', 'dns-01'],
      ['example.test', 'valid', 'dns-01'],
    ]);

    // renew repeats DNS-01 from what the lineage remembers: no DNS option on this command line.
    const rn = await runCli(['--state-dir', state, '--json', '--verbose', 'renew', '--force-renewal', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    expect(rn.code, rn.stdout + rn.stderr).toBe(0);
    expect(JSON.parse(rn.stdout).results ?? JSON.parse(rn.stdout)).toBeTruthy();
    expect(q<{ current_version: number }>(state, "SELECT current_version FROM lineages WHERE name = 'example.test'")[0]!.current_version).toBe(2);
    expect(sans(state, 'example.test')).toEqual(['*.example.test', 'example.test']);
    expect(await digTxt(w.ns1, '_acme-challenge.example.test')).toEqual([]);
    // Never the secret: not in the ledger, not in any output (--verbose, --json, text).
    for (const text of [r.stdout, r.stderr, rn.stdout, rn.stderr, everything(state)]) expect(text).not.toContain(secret);
  });

  it('a dual (RSA + ECDSA) wildcard lineage through a hook: its two orders are solved one after the other (each sees its own counters), both issued, nothing left', async () => {
    const state = tempDir();
    const log = path.join(tmp, 'dual-hook.log');
    const script = (op: 'add' | 'delete') => {
      const f = path.join(tmp, `dual-${op}.sh`);
      fs.writeFileSync(
        f,
        `#!/bin/sh
set -e
echo "${op} $CERTBOT_DOMAIN $CERTBOT_REMAINING_CHALLENGES" >> '${log}'
printf 'server ${w.ns1} 53\\nzone example.test\\nupdate ${op} _acme-challenge.%s. 60 IN TXT "%s"\\nsend\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | ${NSUPDATE_BIN} -k '${w.keyFiles.admin}'
`,
        { mode: 0o755 },
      );
      return f;
    };
    const hook = ['--dns', 'hook', '--dns-hook', script('add'), '--dns-cleanup-hook', script('delete'), '--resolver', `${w.ns1}:53`];
    // A Pebble that never hands the second order the first one's valid authorizations: both orders present.
    const own = await startPebble({ dnsServer: `${w.ns1}:53`, env: { PEBBLE_AUTHZREUSE: '0' } });
    let r;
    try {
      r = await runCli(['--state-dir', state, 'issue', '--server', own.directoryUrl, '--ca-bundle', own.caBundle, '--email', 'ops@example.test', '-d', 'dual.example.test', '-d', '*.dual.example.test', '--key-type', 'dual', ...hook]);
    } finally {
      await own.stop();
    }
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Issued dual\.example\.test: serial/);
    expect(r.stdout).toMatch(/Issued dual\.example\.test \(ecdsa\): serial/);
    expect(sans(state, 'dual.example.test')).toEqual(['*.dual.example.test', 'dual.example.test']);
    expect(await digTxt(w.ns1, '_acme-challenge.dual.example.test')).toEqual([]);
    expect(challengeRows(state)).toEqual([]);
    // After the probe: order 1 presents its two values (1 then 0 remaining) and removes them, then order 2 does the same.
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    const ops = lines.slice(2).map((l) => `${l.split(' ')[0]} ${l.split(' ')[2]}`);
    expect(ops, lines.join('\n')).toEqual(['add 1', 'add 0', 'delete 1', 'delete 0', 'add 1', 'add 0', 'delete 1', 'delete 0']);
    const authz = q<{ status: string }>(state, 'SELECT status FROM authorizations');
    expect(authz.map((x) => x.status)).toEqual(['valid', 'valid', 'valid', 'valid']);
  });

  it('waits for a lagging second nameserver (lag.test: ns2 gets each change 2 s late), then issues', async () => {
    const state = tempDir();
    let stop = false;
    // The lagging secondary, played by the test: whatever ns1 has for the name, ns2 gets 2 s later.
    const mirror = (async () => {
      let seen = '[]';
      while (!stop) {
        const now = await digTxt(w.ns1, '_acme-challenge.lag.test');
        if (JSON.stringify(now) !== seen) {
          seen = JSON.stringify(now);
          await new Promise((r) => setTimeout(r, 2000));
          await w.update(w.ns2, w.keyFiles.admin, 'lag.test', ['update delete _acme-challenge.lag.test. TXT', ...now.map((v) => `update add _acme-challenge.lag.test. 60 IN TXT "${v}"`)]);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'lag.test', '-d', '*.lag.test', ...rfc2136()]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).toMatch(/2\/3 nameservers have it \(waiting for ns2\.example\.test/);
      expect(sans(state, 'lag.test')).toEqual(['*.lag.test', 'lag.test']);
    } finally {
      stop = true;
      await mirror;
    }
    expect(await digTxt(w.ns1, '_acme-challenge.lag.test')).toEqual([]);
  });

  it('a nameserver that never gets the records: gives up without answering, spends no authorization, removes the records, keeps the order', async () => {
    const state = tempDir();
    // With the readiness checks, the probe finds it before any order: nothing at all reaches the CA.
    const before = proxy.total();
    const pre = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'never.lag.test', ...rfc2136(), '--dns-propagation-timeout', '2']);
    expect(pre.code, pre.stdout + pre.stderr).toBe(6);
    expect(pre.stderr).toMatch(/ns2\.example\.test \(127\.53\.\d+\.2\)/);
    expect(proxy.total()).toBe(before);
    expect(q(state, 'SELECT * FROM orders')).toEqual([]);

    // Without them (--no-precheck), the order is created, and the solver's own wait gives up.
    proxy.resetObservations();
    const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'never.lag.test', '-d', '*.never.lag.test', ...rfc2136(), '--no-precheck', '--dns-propagation-timeout', '2']);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stderr).toMatch(/1 of 3 nameserver addresses did not have the TXT records? for _acme-challenge\.never\.lag\.test after 2 s: ns2\.example\.test \(127\.53\.\d+\.2\)/);
    expect(r.stderr).toMatch(/No challenge was answered/);
    expect(proxy.counts.newOrder).toBeGreaterThan(0);
    expect(proxy.counts.challenge).toBe(0);
    // 0 failed authorizations: no challenge POST reached the CA (so none can fail there), none in the ledger.
    const authz = q<{ status: string }>(state, 'SELECT status FROM authorizations');
    expect(authz.filter((a) => a.status !== 'pending' && a.status !== 'valid')).toEqual([]);
    const [order] = q<{ state: string; step: string; order_url: string }>(state, 'SELECT state, step, order_url FROM orders');
    expect(order).toMatchObject({ state: 'open', step: 'authorizing' });
    expect(await digTxt(w.ns1, '_acme-challenge.never.lag.test')).toEqual([]);
    expect(challengeRows(state)).toEqual([]);
  });

  it('a run killed between present and clean-up: the next run takes the journalled records over, finishes, and leaves nothing in BIND', async () => {
    const state = tempDir();
    const args = ['--state-dir', state, 'issue', ...ca(), '-d', 'crash.example.test', '-d', '*.crash.example.test', ...rfc2136()];
    const k = await killedAt(proxy, 'challenge', 'before', args);
    expect(k.fired).toBe(true);
    expect(k.signal).toBe('SIGKILL');
    // The records are in DNS and journalled.
    expect((await digTxt(w.ns1, '_acme-challenge.crash.example.test')).length).toBe(2);
    expect(challengeRows(state).length).toBe(2);
    const r = await runCli(['--state-dir', state, '--verbose', 'renew', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    // The resumed order presents the same two values: it takes the journalled records over (the CA may still read them).
    expect(r.stdout + r.stderr).toMatch(/Found 2 DNS-01 record\(s\) of crash\.example\.test that an interrupted run left: _acme-challenge\.crash\.example\.test/);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(sans(state, 'crash.example.test')).toEqual(['*.crash.example.test', 'crash.example.test']);
    expect(await digTxt(w.ns1, '_acme-challenge.crash.example.test')).toEqual([]);
    expect(challengeRows(state)).toEqual([]);
  });
});

describe('DNS-01 via a hook (a small script using nsupdate) and via acme-dns', () => {
  it("the auth hook's output reaches its clean-up hook (CERTBOT_AUTH_OUTPUT) but never the ledger, not even while a killed run's records are journalled", async () => {
    const state = tempDir();
    const log = path.join(tmp, 'authout.log');
    const token = 'hook-api-token-5f1c9e2b7a';
    const script = (op: 'add' | 'delete') => {
      const f = path.join(tmp, `authout-${op}.sh`);
      fs.writeFileSync(
        f,
        `#!/bin/sh
set -e
printf 'server ${w.ns1} 53\\nzone example.test\\nupdate ${op} _acme-challenge.%s. 60 IN TXT "%s"\\nsend\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | ${NSUPDATE_BIN} -k '${w.keyFiles.admin}'
${op === 'add' ? `echo "record=42 token=${token}"` : `echo "cleanup got: $CERTBOT_AUTH_OUTPUT" >> '${log}'`}
`,
        { mode: 0o755 },
      );
      return f;
    };
    const hook = ['--dns', 'hook', '--dns-hook', script('add'), '--dns-cleanup-hook', script('delete'), '--resolver', `${w.ns1}:53`];
    const args = ['--state-dir', state, 'issue', ...ca(), '-d', 'authout.example.test', ...hook];
    const k = await killedAt(proxy, 'challenge', 'before', args);
    expect(k.fired).toBe(true);
    expect(challengeRows(state).length).toBe(1);
    expect(JSON.stringify(challengeRows(state))).not.toContain(token);
    expect(everything(state)).not.toContain(token);
    // The next run resumes and cleans up (after a crash the output is gone: the clean-up hook gets it empty).
    const r = await runCli(['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(challengeRows(state)).toEqual([]);
    expect(await digTxt(w.ns1, '_acme-challenge.authout.example.test')).toEqual([]);
    // A run that is not killed hands the output to its own clean-up hook.
    fs.rmSync(log, { force: true });
    const again = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(fs.readFileSync(log, 'utf8')).toContain(`cleanup got: record=42 token=${token}`);
    expect(everything(state)).not.toContain(token);
  });

  it('hook: certbot-style scripts add and remove the records; renew repeats them', async () => {
    const state = tempDir();
    const log = path.join(tmp, 'hook.log');
    const script = (op: 'add' | 'delete') => {
      const f = path.join(tmp, `${op}.sh`);
      fs.writeFileSync(
        f,
        `#!/bin/sh
set -e
echo "${op} $CERTBOT_DOMAIN $CERTBOT_REMAINING_CHALLENGES $CERTBOT_ALL_DOMAINS" >> '${log}'
printf 'server ${w.ns1} 53\\nzone example.test\\nupdate ${op} _acme-challenge.%s. 60 IN TXT "%s"\\nsend\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | ${NSUPDATE_BIN} -k '${w.keyFiles.admin}'
`,
        { mode: 0o755 },
      );
      return f;
    };
    const hook = ['--dns', 'hook', '--dns-hook', script('add'), '--dns-cleanup-hook', script('delete'), '--resolver', `${w.ns1}:53`];
    const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'hook.example.test', '-d', '*.hook.example.test', ...hook]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(sans(state, 'hook.example.test')).toEqual(['*.hook.example.test', 'hook.example.test']);
    expect(await digTxt(w.ns1, '_acme-challenge.hook.example.test')).toEqual([]);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    // The probe (add + delete), then the two challenges with certbot's counters, then their clean-up.
    const challenges = lines.filter((l) => /^add hook\.example\.test \d (\*\.)?hook\.example\.test,(\*\.)?hook\.example\.test$/.test(l));
    expect(challenges.map((l) => l.split(' ')[2]), lines.join('\n')).toEqual(['0', '1', '0']); // the probe's, then 2 challenges
    expect(lines.filter((l) => l.startsWith('delete')).length).toBe(lines.filter((l) => l.startsWith('add')).length);
    const rn = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep']);
    expect(rn.code, rn.stdout + rn.stderr).toBe(0);
    expect(q<{ current_version: number }>(state, "SELECT current_version FROM lineages WHERE name = 'hook.example.test'")[0]!.current_version).toBe(2);
  });

  it('acme-dns: _acme-challenge CNAMEs into the acme-dns zone; the stand-in API sets both values; the password is nowhere', async () => {
    const api = await startAcmeDnsStandIn(w, { 'x1-adns': { user: 'user-1', key: 'pa55word-x1-very-secret' } }, 'example.test');
    try {
      const state = tempDir();
      const cred = path.join(tmp, 'acme-dns.json');
      // acme-dns style delegation: _acme-challenge is a CNAME to the account's name. (Both in one zone:
      // the test BIND is authoritative only, and Pebble asks it directly, so a CNAME is only followed
      // within BIND's own zone data — a real CA's recursive resolver follows it anywhere.)
      await w.update(w.ns1, w.keyFiles.admin, 'example.test', ['update add _acme-challenge.adns.example.test. 60 IN CNAME x1-adns.example.test.']);
      fs.writeFileSync(cred, JSON.stringify({ 'adns.example.test': { username: 'user-1', password: 'pa55word-x1-very-secret', fulldomain: 'x1-adns.example.test', subdomain: 'x1-adns', allowfrom: [], server_url: api.url } }), { mode: 0o600 });
      const r = await runCli(['--state-dir', state, '--verbose', 'issue', ...ca(), '-d', 'adns.example.test', '-d', '*.adns.example.test', '--dns', 'acme-dns', '--acme-dns-credentials', cred, '--resolver', `${w.ns1}:53`]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(sans(state, 'adns.example.test')).toEqual(['*.adns.example.test', 'adns.example.test']);
      expect(api.updates()).toBe(3); // the probe + two values
      for (const text of [r.stdout, r.stderr, everything(state)]) expect(text).not.toContain('pa55word-x1-very-secret');
      expect(JSON.parse(q<{ settings_json: string }>(state, 'SELECT settings_json FROM lineages')[0]!.settings_json).dns).toEqual({ method: 'acme-dns', acmeDnsCredentials: cred });
    } finally {
      await api.close();
    }
  });
});

describe('DNS-01 in check and apply', () => {
  it('certctl check --dns runs the DNS-01 probe and CAA (issuewild for the wildcard); a wrong key fails it (exit 6)', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, '--json', 'check', '--server', proxy.directoryUrl, '-d', 'example.test', '-d', '*.example.test', ...rfc2136()]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const checks = (doc.results as { name: string; check: string; ok: boolean }[]).map((x) => `${x.name} ${x.check} ${x.ok}`);
    expect(checks).toEqual(expect.arrayContaining(['example.test dns01 true', '*.example.test dns01 true', 'example.test caa true', '*.example.test caa true']));
    expect(doc.method).toBe('dns-rfc2136');
    const bad = path.join(tmp, 'wrong2.key');
    fs.writeFileSync(bad, `key "certctl" {\n\talgorithm hmac-sha256;\n\tsecret "${crypto.randomBytes(32).toString('base64')}";\n};\n`, { mode: 0o600 });
    const f = await runCli(['--state-dir', state, 'check', '--server', proxy.directoryUrl, '-d', 'example.test', ...rfc2136(bad)]);
    expect(f.code, f.stdout + f.stderr).toBe(6);
    expect(f.stdout + f.stderr).toMatch(/FAILED\s+dns01\s+The DNS server .* rejected the signature/);
  });

  it('apply: dns: in the defaults of a config file issues a wildcard certificate', async () => {
    const state = tempDir();
    const cfg = path.join(tmp, 'certctl.yaml');
    fs.writeFileSync(
      cfg,
      `defaults:
  server: ${proxy.directoryUrl}
  caBundle: ${pebble.caBundle}
  email: ops@example.test
  resolver: "${w.ns1}:53"
  dns:
    method: rfc2136
    server: "${w.ns1}:53"
    tsigKey: ${w.keyFiles.certctl}
    propagationTimeout: 30
certificates:
  - domains: [apply.example.test, "*.apply.example.test"]
`,
    );
    const r = await runCli(['--state-dir', state, '--config', cfg, 'apply']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(sans(state, 'apply.example.test')).toEqual(['*.apply.example.test', 'apply.example.test']);
    expect(JSON.parse(q<{ settings_json: string }>(state, 'SELECT settings_json FROM lineages')[0]!.settings_json).dns).toEqual({ method: 'rfc2136', server: `${w.ns1}:53`, tsigKeyFile: w.keyFiles.certctl, propagationTimeout: 30 });
  });
});

describe('DNS-01 bad input: one sentence, the exit code, nothing sent to the CA, the ledger intact', () => {
  async function refused(args: string[], code: number, message: RegExp): Promise<void> {
    const state = tempDir();
    const before = proxy.total();
    const r = await runCli(['--state-dir', state, 'issue', ...ca(), ...args]);
    expect(r.stderr).toMatch(message);
    expect(r.code, r.stdout + r.stderr).toBe(code);
    expect(proxy.total()).toBe(before);
    if (fs.existsSync(path.join(state, 'ledger.sqlite'))) {
      expect(q(state, 'SELECT * FROM orders')).toEqual([]);
      expect(q(state, 'SELECT * FROM lineages')).toEqual([]);
      expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
    }
  }

  it('a wrong TSIG secret', async () => {
    const bad = path.join(tmp, 'wrong.key');
    fs.writeFileSync(bad, `key "certctl" {\n\talgorithm hmac-sha256;\n\tsecret "${crypto.randomBytes(32).toString('base64')}";\n};\n`, { mode: 0o600 });
    await refused(['-d', 'bad.example.test', ...rfc2136(bad)], 6, /rejected the signature of TSIG key "certctl" \(BADSIG\)/);
    expect(await digTxt(w.ns1, '_acme-challenge.bad.example.test')).toEqual([]);
  });

  it('an unknown zone', async () => {
    await refused(['-d', 'www.unknown.test', ...rfc2136()], 6, /unknown\.test/);
  });

  it('an unreachable DNS server', async () => {
    await refused(['-d', 'unreach.example.test', '--dns', 'rfc2136', '--dns-server', `${w.ns3}:53`, '--tsig-key', w.keyFiles.certctl, '--resolver', `${w.ns1}:53`], 6, /refused the connection|did not answer/);
  });

  it('a hook that exits non-zero', async () => {
    const f = path.join(tmp, 'fail.sh');
    fs.writeFileSync(f, '#!/bin/sh\necho "no API token configured" >&2\nexit 3\n', { mode: 0o755 });
    await refused(['-d', 'hookfail.example.test', '--dns', 'hook', '--dns-hook', f, '--resolver', `${w.ns1}:53`], 6, /exited with status 3; it said: no API token configured/);
  });

  it('a wildcard with --webroot, and DNS options without --dns', async () => {
    await refused(['-d', '*.example.test', '--webroot', tmp], 2, /wildcards cannot be validated with HTTP-01: use --dns/);
    await refused(['-d', 'x.example.test', '--webroot', tmp, '--tsig-key', w.keyFiles.certctl], 2, /--tsig-key is a DNS-01 option, but no --dns method was given/);
    await refused(['-d', 'x.example.test', '--dns', 'rfc2136', '--tsig-key', w.keyFiles.certctl], 2, /needs --dns-server/);
    await refused(['-d', 'x.example.test', '--dns', 'rfc2136', '--dns-server', w.ns1, '--tsig-key', path.join(tmp, 'missing.key')], 2, /missing\.key does not exist/);
  });
});
