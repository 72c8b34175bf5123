/**
 * DNS-01 under hostile conditions (a hostile tester's findings, each a bug
 * that was fixed): the built CLI against a real Pebble that validates through
 * a real BIND 9 (testkit/bind.ts), behind certctl's ACME test proxy. Pebble
 * asks BIND through a small UDP relay in this file, so a test can hold the
 * CA's own DNS question (a CA that validates a few seconds after it was told
 * to look, as real CAs do). What the nameservers hold is read with `dig`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, startCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { digTxt, startDnsWorld, NSUPDATE_BIN, type DnsWorld } from '../../testkit/bind.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';

/** A UDP relay in front of ns1 for Pebble's DNS questions; while held, questions wait for release(). */
interface DnsRelay {
  address: string;
  hold(): void;
  /** Forward every held question now; resolves when each has been answered to Pebble. */
  release(): Promise<void>;
  /** Questions held so far (since hold()). */
  held(): number;
  close(): Promise<void>;
}

async function startDnsRelay(upstream: string): Promise<DnsRelay> {
  const sock = dgram.createSocket('udp4');
  let holding = false;
  let queue: (() => Promise<void>)[] = [];
  sock.on('message', (msg, rinfo) => {
    const go = () =>
      new Promise<void>((resolve) => {
        const up = dgram.createSocket('udp4');
        const t = setTimeout(() => {
          up.close();
          resolve();
        }, 3000);
        up.on('message', (ans) => {
          clearTimeout(t);
          sock.send(ans, rinfo.port, rinfo.address, () => resolve());
          up.close();
        });
        up.send(msg, 53, upstream);
      });
    if (holding) queue.push(go);
    else void go();
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    address: `127.0.0.1:${sock.address().port}`,
    hold() {
      holding = true;
    },
    async release() {
      holding = false;
      const q2 = queue;
      queue = [];
      await Promise.all(q2.map((f) => f()));
    },
    held: () => queue.length,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

let w: DnsWorld;
let relay: DnsRelay;
let pebble: Pebble;
let proxy: AcmeTestProxy;

beforeAll(async () => {
  w = await startDnsWorld();
  relay = await startDnsRelay(w.ns1);
  pebble = await startPebble({ dnsServer: relay.address });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
}, 90_000);

afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
  await relay?.close();
  await w?.stop();
});

const ca = () => ['--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--email', 'ops@example.test'];
const rfc2136 = () => ['--dns', 'rfc2136', '--dns-server', `${w.ns1}:53`, '--tsig-key', w.keyFiles.certctl, '--resolver', `${w.ns1}:53`];

function until(pred: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  return (async () => {
    while (!(await pred())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
}

describe('DNS-01: what someone else does to the records while certctl waits', () => {
  it('a value removed from a nameserver after it was counted ready is not answered: the wait goes on, then gives up (exit 6, 0 challenge POSTs, 0 failed authorizations)', async () => {
    const state = tempDir();
    proxy.resetObservations();
    const run = startCli(['--state-dir', state, 'issue', ...ca(), '-d', 'gone.lag.test', ...rfc2136(), '--no-precheck', '--dns-propagation-timeout', '8']);
    let out = '';
    run.child.stdout!.on('data', (d) => (out += d));
    run.child.stderr!.on('data', (d) => (out += d));
    // ns1 (IPv4 + IPv6) has the value and was counted; ns2 (the lagging one) has nothing yet.
    await until(() => /2\/3 nameservers have it/.test(out), 'ns1 to be counted');
    const values = await digTxt(w.ns1, '_acme-challenge.gone.lag.test');
    expect(values.length).toBe(1);
    // Someone else's clean-up takes it off ns1 — then ns2 gets it (a late zone transfer of the old state).
    await w.update(w.ns1, w.keyFiles.admin, 'lag.test', ['update delete _acme-challenge.gone.lag.test. TXT']);
    await w.update(w.ns2, w.keyFiles.admin, 'lag.test', values.map((v) => `update add _acme-challenge.gone.lag.test. 60 IN TXT "${v}"`));
    const r = await run.result;
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stderr).toMatch(/did not have the TXT record for _acme-challenge\.gone\.lag\.test after 8 s: ns1\.example\.test \(127\.53\.\d+\.1\) has no _acme-challenge\.gone\.lag\.test yet/);
    expect(r.stderr).toMatch(/No challenge was answered/);
    expect(proxy.counts.challenge ?? 0).toBe(0);
    const authz = q<{ status: string }>(state, 'SELECT status FROM authorizations');
    expect(authz.filter((a) => a.status === 'invalid')).toEqual([]);
    expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
    await w.update(w.ns2, w.keyFiles.admin, 'lag.test', ['update delete _acme-challenge.gone.lag.test. TXT']);
  });
});

describe('DNS-01: a run killed after the CA was told to look, before it validated', () => {
  it('the next run does not remove the record the CA is still about to read: the authorization becomes valid, no failed validation', async () => {
    const state = tempDir();
    const args = ['--state-dir', state, 'issue', ...ca(), '-d', 'late.example.test', ...rfc2136()];
    // The CA looks a moment later than it answers the challenge POST (its DNS question is held).
    relay.hold();
    let ran2: ReturnType<typeof startCli> | undefined;
    try {
      const k = await killedAt(proxy, 'challenge', 'after', args);
      expect(k.fired).toBe(true);
      expect(k.signal).toBe('SIGKILL');
      await until(() => relay.held() > 0, "the CA's DNS question");
      expect((await digTxt(w.ns1, '_acme-challenge.late.example.test')).length).toBe(1);
      expect(q(state, 'SELECT * FROM challenge_records').length).toBe(1);
      // The next run, while the CA has not read the record yet: it is held at its first look at the authorization.
      const h = proxy.hold('authz');
      ran2 = startCli(['--state-dir', state, '--verbose', 'renew', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
      await h.arrived;
      // Now the CA reads the record (what ns1 has at this moment), then the run goes on.
      await relay.release();
      await new Promise((r) => setTimeout(r, 500));
      h.release();
    } finally {
      await relay.release();
    }
    const r = await ran2!.result;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const authz = q<{ status: string }>(state, 'SELECT status FROM authorizations');
    expect(authz.filter((a) => a.status === 'invalid')).toEqual([]);
    expect(fs.existsSync(path.join(state, 'live', 'late.example.test', 'cert.pem'))).toBe(true);
    expect(await digTxt(w.ns1, '_acme-challenge.late.example.test')).toEqual([]);
    expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
  });

  it('a leftover the resumed order no longer needs (the CA validated it before the kill) is removed at the end of the next run', async () => {
    const state = tempDir();
    const k = await killedAt(proxy, 'challenge', 'after', ['--state-dir', state, 'issue', ...ca(), '-d', 'done.example.test', ...rfc2136()]);
    expect(k.fired).toBe(true);
    expect(q(state, 'SELECT * FROM challenge_records').length).toBe(1);
    const r = await runCli(['--state-dir', state, '--verbose', 'renew', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Removing 1 DNS-01 record\(s\) of done\.example\.test that an interrupted run left: _acme-challenge\.done\.example\.test\./);
    expect(await digTxt(w.ns1, '_acme-challenge.done.example.test')).toEqual([]);
    expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
    expect(q<{ status: string }>(state, 'SELECT status FROM authorizations').filter((a) => a.status === 'invalid')).toEqual([]);
  });
});

describe('DNS-01 names certctl can tell are impossible: one sentence, exit 2, nothing sent, nothing written', () => {
  // 240 characters: a valid host name, but _acme-challenge.<it> is 256, past DNS's 253.
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(35)}.example.test`;

  it.each([
    ['a name whose _acme-challenge record cannot exist (240 characters)', [long], /_acme-challenge\.aaa.* would be 256 characters, longer than DNS allows \(253\)/],
    ['its wildcard', [`*.${long.slice(2)}`], /would be 254 characters, longer than DNS allows \(253\)/],
    ['an IP address (DNS-01 cannot validate one)', ['127.0.0.1'], /127\.0\.0\.1 is an IP address: DNS-01 cannot validate IP addresses/],
  ])('%s', async (_what, names, message) => {
    const state = tempDir();
    const before = proxy.total();
    for (const extra of [[], ['--no-precheck']]) {
      const r = await runCli(['--state-dir', state, 'issue', ...ca(), ...names.flatMap((n) => ['-d', n]), ...rfc2136(), ...extra]);
      expect(r.stderr).toMatch(message);
      expect(r.code, r.stdout + r.stderr).toBe(2);
    }
    const c = await runCli(['--state-dir', state, 'check', '--server', proxy.directoryUrl, ...names.flatMap((n) => ['-d', n]), ...rfc2136()]);
    expect(c.stderr).toMatch(message);
    expect(c.code, c.stdout + c.stderr).toBe(2);
    expect(proxy.total()).toBe(before);
    expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
  });
});

describe('DNS-01 hooks that misbehave', () => {
  it('a hook that leaves a child running (holding its stdout) is done when it exits, not 120 s later when the child is killed', async () => {
    const state = tempDir();
    const dir = tempDir('certctl-hook-');
    const pids = path.join(dir, 'pids');
    const script = (op: 'add' | 'delete') => {
      const f = path.join(dir, `${op}.sh`);
      fs.writeFileSync(
        f,
        `#!/bin/sh
set -e
printf 'server ${w.ns1} 53\\nzone example.test\\nupdate ${op} _acme-challenge.%s. 60 IN TXT "%s"\\nsend\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | ${NSUPDATE_BIN} -k '${w.keyFiles.admin}'
echo "record ${op}ed"
# A helper the hook starts and leaves behind, with the hook's stdout and stderr still open.
sleep 600 &
echo $! >> '${pids}'
`,
        { mode: 0o755 },
      );
      return f;
    };
    try {
      const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'bg.example.test', '--dns', 'hook', '--dns-hook', script('add'), '--dns-cleanup-hook', script('delete'), '--resolver', `${w.ns1}:53`], {}, 90_000);
      expect(r.signal, 'certctl was still waiting for the hooks').toBe(null);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(fs.existsSync(path.join(state, 'live', 'bg.example.test', 'cert.pem'))).toBe(true);
      expect(await digTxt(w.ns1, '_acme-challenge.bg.example.test')).toEqual([]);
      expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
      // The helpers were the hook's business: still running (certctl only stopped waiting for them).
      expect(fs.readFileSync(pids, 'utf8').trim().split('\n').length).toBe(4);
    } finally {
      for (const pid of fs.existsSync(pids) ? fs.readFileSync(pids, 'utf8').trim().split('\n') : []) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }, 100_000);
});

describe('DNS-01 set-ups that cannot work', () => {
  it('a CNAME loop on _acme-challenge: exit 6 naming the loop, before any order; with --no-precheck no challenge is answered', async () => {
    const state = tempDir();
    proxy.resetObservations();
    const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'loop.example.test', ...rfc2136()]);
    expect(r.stderr).toMatch(/The CNAME chain from _acme-challenge\.loop\.example\.test loops \(_acme-challenge\.loop\.example\.test → _acme-challenge\.loop2\.example\.test → _acme-challenge\.loop\.example\.test\)/);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(proxy.total()).toBe(0);
    const n = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'loop.example.test', ...rfc2136(), '--no-precheck']);
    expect(n.stderr).toMatch(/The CNAME chain from _acme-challenge\.loop\.example\.test loops/);
    expect(n.code, n.stdout + n.stderr).toBe(6);
    expect(proxy.counts.challenge ?? 0).toBe(0);
    expect(q<{ status: string }>(state, 'SELECT status FROM authorizations').filter((a) => a.status === 'invalid')).toEqual([]);
    expect(q(state, 'SELECT * FROM challenge_records')).toEqual([]);
  });

  it('renew of a DNS-01 lineage whose TSIG key file was deleted: one sentence naming the file, exit 2, nothing sent', async () => {
    const state = tempDir();
    const dir = tempDir('certctl-key-');
    const key = path.join(dir, 'certctl.key');
    fs.copyFileSync(w.keyFiles.certctl, key);
    fs.chmodSync(key, 0o600);
    const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'nokey.example.test', '--dns', 'rfc2136', '--dns-server', `${w.ns1}:53`, '--tsig-key', key, '--resolver', `${w.ns1}:53`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    fs.rmSync(key);
    proxy.resetObservations();
    const rn = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep', '--resolver', `${w.ns1}:53`]);
    expect(rn.stdout + rn.stderr).toMatch(new RegExp(`The TSIG key file ${key.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist`));
    expect(rn.code, rn.stdout + rn.stderr).toBe(2);
    expect(proxy.total()).toBe(0);
    expect(q<{ current_version: number }>(state, 'SELECT current_version FROM lineages')[0]!.current_version).toBe(1);
  });
});

describe('DNS-01 key and credentials files that are not files', () => {
  it.each([
    ['/dev/zero', () => '/dev/zero', /is a device, not a regular file\./],
    ['a named pipe nobody writes to', (dir: string) => {
      const f = path.join(dir, 'fifo');
      execFileSync('mkfifo', [f]);
      return f;
    }, /is a named pipe, not a regular file\./],
    ['a 1 MB file', (dir: string) => {
      const f = path.join(dir, 'big');
      fs.writeFileSync(f, 'x'.repeat(1024 * 1024), { mode: 0o600 });
      return f;
    }, /is 1048576 bytes: too large/],
  ])('%s as --tsig-key or --acme-dns-credentials: one sentence, exit 2, nothing sent or written (it hung or filled the memory)', async (_what, make, message) => {
    const dir = tempDir('certctl-badfile-');
    const file = make(dir);
    const before = proxy.total();
    for (const method of [['--dns', 'rfc2136', '--dns-server', `${w.ns1}:53`, '--tsig-key', file], ['--dns', 'acme-dns', '--acme-dns-credentials', file]]) {
      const state = tempDir();
      const r = await runCli(['--state-dir', state, 'issue', ...ca(), '-d', 'file.example.test', ...method, '--resolver', `${w.ns1}:53`], {}, 30_000);
      expect(r.signal, 'certctl hung reading the file').toBe(null);
      expect(r.stderr).toMatch(message);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
    }
    expect(proxy.total()).toBe(before);
  });
});
