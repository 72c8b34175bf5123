/**
 * The DNS-01 building blocks against a real BIND 9 (testkit/bind.ts):
 * nameservers on port 53 of their own loopback addresses, found through NS
 * records as in real life; a second primary for lag.test that the test
 * updates late or never (the lagging nameserver); an address where nothing
 * listens (dead.test's ns3). What the nameservers hold is always read back
 * with `dig`, not with the code under test.
 *
 * The acme-dns HTTP API is played by a small stand-in (testkit/acmedns-standin.ts),
 * which writes into BIND with nsupdate as acme-dns writes into its own DNS.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsError } from '../../src/core/dns/errors.js';
import { loadTsigKey, parseKeyFile } from '../../src/core/dns/keyfile.js';
import { dns01Precheck } from '../../src/core/dns/precheck.js';
import { waitForPropagation, type PropagationProgress } from '../../src/core/dns/propagation.js';
import { AcmeDnsProvider, loadAcmeDnsCredentials } from '../../src/core/dns/providers/acmedns.js';
import { HookProvider } from '../../src/core/dns/providers/hook.js';
import { Rfc2136Provider } from '../../src/core/dns/providers/rfc2136.js';
import type { DnsProvider, DnsRecord } from '../../src/core/dns/providers/types.js';
import { query } from '../../src/core/dns/query.js';
import { Dns01Solver, dns01Value } from '../../src/core/dns/solver.js';
import { TsigKey } from '../../src/core/dns/tsig.js';
import { sendUpdate } from '../../src/core/dns/update.js';
import { RRType } from '../../src/core/dns/wire.js';
import { discoverChallengeZone } from '../../src/core/dns/zone.js';
import { digTxt, startDnsWorld, type DnsWorld } from '../../testkit/bind.js';
import { startAcmeDnsStandIn } from '../../testkit/acmedns-standin.js';

const execFileP = promisify(execFile);

let w: DnsWorld;
let tmp: string;
let key: TsigKey;
let ns1: { host: string; port: number };
let rfc2136: Rfc2136Provider;

beforeAll(async () => {
  w = await startDnsWorld();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-dns-e2e-'));
  key = loadTsigKey(w.keyFiles.certctl);
  ns1 = { host: w.ns1, port: 53 };
  rfc2136 = new Rfc2136Provider({ server: ns1, key });
}, 60_000);

afterAll(async () => {
  await w?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const discovery = () => ({ resolver: ns1 });
const both = async (name: string) => ({ v4: await digTxt(w.ns1, name), v6: await digTxt(w.ns1v6, name) });

async function rejection(p: Promise<unknown>): Promise<DnsError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DnsError);
    expect((err as DnsError).exitCode).toBe(6);
    return err as DnsError;
  }
  throw new Error('expected a DnsError');
}

describe('RFC 2136 update with TSIG, against BIND', () => {
  it('adds and deletes single values with hmac-sha256 and hmac-sha512; BIND answers signed and we verify it', async () => {
    const name = '_acme-challenge.upd.example.test';
    await sendUpdate([{ op: 'add', fqdn: name, value: 'sha256-value' }], { server: ns1, zone: 'example.test', key });
    await sendUpdate([{ op: 'add', fqdn: name, value: 'sha512-value' }], { server: ns1, zone: 'example.test', key: loadTsigKey(w.keyFiles.certctl512) });
    await w.update(w.ns1, w.keyFiles.admin, 'example.test', [`update add ${name}. 60 IN TXT "someone-else"`]);
    expect(await digTxt(w.ns1, name)).toEqual(['sha256-value', 'sha512-value', 'someone-else']);
    await sendUpdate([{ op: 'delete', fqdn: name, value: 'sha256-value' }], { server: ns1, zone: 'example.test', key });
    // Deleting again is a no-op, not an error (a clean-up after a crash may repeat one).
    await sendUpdate([{ op: 'delete', fqdn: name, value: 'sha256-value' }], { server: ns1, zone: 'example.test', key });
    await sendUpdate([{ op: 'delete', fqdn: name, value: 'sha512-value' }], { server: ns1, zone: 'example.test', key });
    // Someone else's value on the same name is left alone.
    expect(await digTxt(w.ns1, name)).toEqual(['someone-else']);
  });

  it('each refusal is a clear error: BADSIG, BADKEY, BADTIME, REFUSED, NOTAUTH, nothing listening', async () => {
    const add = (k: TsigKey, zone = 'example.test', server = ns1, now?: () => number) =>
      sendUpdate([{ op: 'add', fqdn: `_acme-challenge.bad.${zone}`, value: 'must-not-appear' }], { server, zone, key: k, now, tries: 1, timeoutMs: 1500 });
    const wrongSecret = new TsigKey('certctl', 'hmac-sha256', Buffer.alloc(32, 1));
    const e1 = await rejection(add(wrongSecret));
    expect(e1).toMatchObject({ kind: 'tsig', rcode: 'BADSIG' });
    expect(e1.message).toBe(`The DNS server ${w.ns1}:53 rejected the signature of TSIG key "certctl" (BADSIG): the secret does not match the server's.`);
    const e2 = await rejection(add(new TsigKey('nobody', 'hmac-sha256', Buffer.alloc(32, 1))));
    expect(e2).toMatchObject({ kind: 'tsig', rcode: 'BADKEY' });
    expect(e2.message).toContain('does not know the TSIG key "nobody"');
    // Right secret, wrong algorithm: BIND does not know that key either.
    const k512 = parseKeyFile(fs.readFileSync(w.keyFiles.certctl512, 'utf8'))[0]!;
    expect(await rejection(add(new TsigKey(k512.name, 'hmac-sha256', k512.secret)))).toMatchObject({ rcode: 'BADKEY' });
    const e3 = await rejection(add(key, 'example.test', ns1, () => Date.now() - 3_600_000));
    expect(e3).toMatchObject({ kind: 'tsig', rcode: 'BADTIME' });
    expect(e3.message).toMatch(/clock differs from ours by 3600 s/);
    const e4 = await rejection(add(key, 'locked.test'));
    expect(e4).toMatchObject({ kind: 'rcode', rcode: 'REFUSED' });
    expect(e4.hint).toMatch(/allow-update/);
    const e5 = await rejection(add(key, 'unknown.test'));
    expect(e5).toMatchObject({ kind: 'rcode', rcode: 'NOTAUTH' });
    const e6 = await rejection(add(key, 'example.test', { host: w.ns3, port: 53 }));
    expect(e6).toMatchObject({ kind: 'connection-refused' });
    expect(e6.message).toBe(`The DNS server ${w.ns3}:53 refused the connection (UDP): nothing answers DNS there.`);
    for (const zone of ['example.test', 'locked.test']) expect(await digTxt(w.ns1, `_acme-challenge.bad.${zone}`)).toEqual([]);
    // The secret never shows in any of these.
    for (const e of [e1, e2, e3, e4, e5, e6]) expect(JSON.stringify({ m: e.message, h: e.hint })).not.toContain(Buffer.alloc(32, 1).toString('base64'));
  });

  it('an answer too large for UDP comes over TCP (12 TXT records, ~800 bytes)', async () => {
    const m = await query(ns1, 'big.example.test', RRType.TXT);
    expect(m.answers).toHaveLength(12);
    expect((await digTxt(w.ns1, 'big.example.test')).length).toBe(12);
  });
});

describe('zone discovery', () => {
  it('finds the zone from the SOA and every nameserver address (IPv4 and IPv6), for a name and its wildcard', async () => {
    const z = await discoverChallengeZone('*.www.example.test', discovery());
    expect(z).toEqual({
      domain: '*.www.example.test',
      fqdn: '_acme-challenge.www.example.test',
      target: '_acme-challenge.www.example.test',
      cnames: [],
      zone: 'example.test',
      nameservers: [{ name: 'ns1.example.test', addresses: [w.ns1, w.ns1v6] }],
    });
    const lag = await discoverChallengeZone('lag.test', discovery());
    expect(lag.zone).toBe('lag.test');
    expect(lag.nameservers).toEqual([
      { name: 'ns1.example.test', addresses: [w.ns1, w.ns1v6] },
      { name: 'ns2.example.test', addresses: [w.ns2] },
    ]);
  });

  it('follows a CNAME on _acme-challenge into another zone (acme-dns delegation)', async () => {
    const z = await discoverChallengeZone('cname.example.test', discovery());
    expect(z).toMatchObject({ fqdn: '_acme-challenge.cname.example.test', target: 'x1.auth.example.org', cnames: ['x1.auth.example.org'], zone: 'auth.example.org' });
  });

  it('a given zone is checked; CNAME loops and unknown zones are clear errors', async () => {
    expect((await discoverChallengeZone('a.b.example.test', { ...discovery(), zone: 'example.test.' })).zone).toBe('example.test');
    expect((await rejection(discoverChallengeZone('a.example.test', { ...discovery(), zone: 'lag.test' }))).message).toBe(
      'The record _acme-challenge.a.example.test is not inside the zone lag.test.',
    );
    expect((await rejection(discoverChallengeZone('a.example.test', { ...discovery(), zone: 'a.example.test' }))).message).toMatch(/^a\.example\.test is not a zone: the resolver .* has no SOA record for it/);
    expect((await rejection(discoverChallengeZone('loop.example.test', discovery()))).message).toMatch(/The CNAME chain from _acme-challenge\.loop\.example\.test loops/);
    // A name in no zone the server serves: BIND (authoritative only) answers REFUSED all the way up.
    expect((await rejection(discoverChallengeZone('www.nowhere.invalid', discovery()))).message).toMatch(/No zone was found for _acme-challenge\.www\.nowhere\.invalid/);
  });
});

describe('propagation wait and the solver', () => {
  it('waits for a lagging nameserver (2/3 have it), then succeeds; cleans up every value', async () => {
    const journal: DnsRecord[][] = [];
    const progress: PropagationProgress[] = [];
    let lateUpdateDone = false;
    const solver = new Dns01Solver({ provider: rfc2136, discovery: discovery(), propagation: { timeoutMs: 30_000 }, journal: (r) => void journal.push(r) });
    const challenges = [
      { domain: 'late.lag.test', keyAuthorization: 'tokenA.thumb' },
      { domain: '*.late.lag.test', keyAuthorization: 'tokenB.thumb' },
    ];
    const values = challenges.map((c) => dns01Value(c.keyAuthorization)).sort();
    await solver.solve(challenges, (p) => {
      progress.push(p);
      // ns2 gets the records only once we have seen it lag: the primary's two addresses have them, ns2 not.
      if (!lateUpdateDone && p.ready === 2) {
        lateUpdateDone = true;
        void w.update(w.ns2, w.keyFiles.admin, 'lag.test', values.map((v) => `update add _acme-challenge.late.lag.test. 60 IN TXT "${v}"`));
      }
    });
    expect(progress[0]).toEqual({ ready: 2, total: 3, lagging: [`ns2.example.test (${w.ns2})`] });
    expect(progress[progress.length - 1]).toEqual({ ready: 3, total: 3, lagging: [] });
    for (const ns of [w.ns1, w.ns1v6, w.ns2]) expect(await digTxt(ns, '_acme-challenge.late.lag.test')).toEqual(values);
    // Journalled before the first update: both records, no secret.
    expect(journal[0]!.map((r) => r.value).sort()).toEqual(values);
    expect(JSON.stringify(journal)).not.toMatch(/secret|hmac/i);
    const res = await solver.cleanup();
    expect(res.failed).toEqual([]);
    expect(journal[journal.length - 1]).toEqual([]);
    expect(await both('_acme-challenge.late.lag.test')).toEqual({ v4: [], v6: [] });
  });

  it('a nameserver that never gets the record: gives up at the timeout, names it, and removes the records', async () => {
    const journal: DnsRecord[][] = [];
    const solver = new Dns01Solver({ provider: rfc2136, discovery: discovery(), propagation: { timeoutMs: 2500 }, journal: (r) => void journal.push(r) });
    const e = await rejection(solver.solve([{ domain: 'never.lag.test', keyAuthorization: 'tok.thumb' }]));
    expect(e.kind).toBe('propagation');
    expect(e.message).toBe(`1 of 3 nameserver addresses did not have the TXT record for _acme-challenge.never.lag.test after 3 s: ns2.example.test (${w.ns2}) has no _acme-challenge.never.lag.test yet (NXDOMAIN).`);
    expect(e.hint).toMatch(/no validation was spent/);
    expect(await both('_acme-challenge.never.lag.test')).toEqual({ v4: [], v6: [] });
    expect(journal[0]).toHaveLength(1);
    expect(journal[journal.length - 1]).toEqual([]);
  });

  it('a nameserver that does not answer at all is named as such', async () => {
    await sendUpdate([{ op: 'add', fqdn: '_acme-challenge.dead.test', value: 'v' }], { server: ns1, zone: 'dead.test', key });
    const z = await discoverChallengeZone('dead.test', discovery());
    const e = await rejection(waitForPropagation([{ name: z.target, values: ['v'], nameservers: z.nameservers }], { timeoutMs: 1000 }));
    expect(e.message).toContain(`ns3.example.test (${w.ns3}) refuses connections`);
    expect(e.message).toMatch(/^1 of 3 nameserver addresses/);
  });

  it('one value of two is not enough: a wildcard and its base name need both values on every server', async () => {
    await sendUpdate([{ op: 'add', fqdn: '_acme-challenge.half.example.test', value: 'one' }], { server: ns1, zone: 'example.test', key });
    const z = await discoverChallengeZone('half.example.test', discovery());
    const e = await rejection(waitForPropagation([{ name: z.target, values: ['one', 'two'], nameservers: z.nameservers }], { timeoutMs: 800 }));
    expect(e.message).toContain(`ns1.example.test (${w.ns1}) lacks 1 of 2 values for _acme-challenge.half.example.test`);
    expect(e.message).toContain(`ns1.example.test (${w.ns1v6}) lacks 1 of 2 values`);
  });

  it('after a crash (SIGKILL right after presenting), the journalled records are cleaned up by the next run', async () => {
    const journalFile = path.join(tmp, 'journal.json');
    const dist = path.resolve('dist/core/dns');
    const script = `
      import fs from 'node:fs';
      const { loadTsigKey } = await import(${JSON.stringify(path.join(dist, 'keyfile.js'))});
      const { Rfc2136Provider } = await import(${JSON.stringify(path.join(dist, 'providers/rfc2136.js'))});
      const { Dns01Solver } = await import(${JSON.stringify(path.join(dist, 'solver.js'))});
      const provider = new Rfc2136Provider({ server: { host: ${JSON.stringify(w.ns1)}, port: 53 }, key: loadTsigKey(${JSON.stringify(w.keyFiles.certctl)}) });
      const solver = new Dns01Solver({ provider, discovery: { resolver: { host: ${JSON.stringify(w.ns1)}, port: 53 } },
        journal: (r) => fs.writeFileSync(${JSON.stringify(journalFile)}, JSON.stringify(r)) });
      await solver.present([{ domain: 'crash.example.test', keyAuthorization: 'a.b' }, { domain: '*.crash.example.test', keyAuthorization: 'c.d' }]);
      process.kill(process.pid, 'SIGKILL');
    `;
    const r = await execFileP(process.execPath, ['--input-type=module', '-e', script]).then(
      () => ({ signal: null as string | null }),
      (e: { signal?: string }) => ({ signal: e.signal ?? null }),
    );
    expect(r.signal).toBe('SIGKILL');
    expect((await digTxt(w.ns1, '_acme-challenge.crash.example.test')).length).toBe(2);
    const records = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as DnsRecord[];
    expect(records.map((x) => x.domain)).toEqual(['crash.example.test', '*.crash.example.test']);
    // The next run: a provider built from the lineage's settings, and the journal.
    const res = await Dns01Solver.cleanupRecords(new Rfc2136Provider({ server: ns1, key: loadTsigKey(w.keyFiles.certctl) }), records);
    expect(res.failed).toEqual([]);
    expect(await both('_acme-challenge.crash.example.test')).toEqual({ v4: [], v6: [] });
  });
});

describe('DNS-01 precheck', () => {
  it('writes a probe, sees it on every nameserver, removes it', async () => {
    const report = await dns01Precheck(['pre.example.test', '*.pre.example.test', 'cname.example.test'], { provider: rfc2136, discovery: discovery() });
    expect(report.zones.map((z) => z.target)).toEqual(['_acme-challenge.pre.example.test', 'x1.auth.example.org']);
    expect(report.lines).toContain('_acme-challenge.pre.example.test: a probe TXT record was written (rfc2136), answered by all 2 nameserver addresses, and removed');
    expect(report.lines[1]).toBe(`_acme-challenge.cname.example.test → x1.auth.example.org: zone auth.example.org, nameservers ns1.example.test (${w.ns1}, ${w.ns1v6})`);
    expect(await both('_acme-challenge.pre.example.test')).toEqual({ v4: [], v6: [] });
    expect(await both('x1.auth.example.org')).toEqual({ v4: [], v6: [] });
  });

  it('a wrong key, a refused update and a lagging nameserver fail the precheck and leave nothing behind', async () => {
    const wrong = new Rfc2136Provider({ server: ns1, key: new TsigKey('certctl', 'hmac-sha256', Buffer.alloc(32, 5)) });
    expect(await rejection(dns01Precheck(['p2.example.test'], { provider: wrong, discovery: discovery() }))).toMatchObject({ rcode: 'BADSIG' });
    expect(await rejection(dns01Precheck(['p2.locked.test'], { provider: rfc2136, discovery: discovery() }))).toMatchObject({ rcode: 'REFUSED' });
    const e = await rejection(dns01Precheck(['p2.lag.test'], { provider: rfc2136, discovery: discovery(), propagation: { timeoutMs: 1000 } }));
    expect(e.message).toMatch(/^The DNS-01 probe record was written for _acme-challenge\.p2\.lag\.test but not every nameserver answered it: 1 of 3/);
    expect(e.message).toContain(`ns2.example.test (${w.ns2})`);
    for (const n of ['_acme-challenge.p2.example.test', '_acme-challenge.p2.lag.test']) expect(await both(n)).toEqual({ v4: [], v6: [] });
  });
});

describe('hook provider (certbot manual-hook environment)', () => {
  function writeScript(name: string, body: string): string {
    const f = path.join(tmp, name);
    fs.writeFileSync(f, `#!/bin/bash\nset -eu\n${body}\n`, { mode: 0o755 });
    return f;
  }

  it('an nsupdate script written for certbot works unchanged, through the solver', async () => {
    const envLog = path.join(tmp, 'env.log');
    const auth = writeScript(
      'auth.sh',
      `printf '%s|%s|%s|%s|%s\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" "$CERTBOT_REMAINING_CHALLENGES" "$CERTBOT_ALL_DOMAINS" "\${CERTBOT_TOKEN-unset}" >> ${envLog}
printf 'server %s 53\\nzone example.test\\nupdate add _acme-challenge.%s. 60 IN TXT "%s"\\nsend\\n' "$NS" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | nsupdate -k "$KEYFILE"
echo "added-$CERTBOT_VALIDATION"`,
    );
    const cleanup = writeScript(
      'cleanup.sh',
      `printf 'cleanup %s %s\\n' "$CERTBOT_DOMAIN" "$CERTBOT_AUTH_OUTPUT" >> ${envLog}
printf 'server %s 53\\nzone example.test\\nupdate delete _acme-challenge.%s. IN TXT "%s"\\nsend\\n' "$NS" "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" | nsupdate -k "$KEYFILE"`,
    );
    const provider = new HookProvider({ authHook: [auth], cleanupHook: [cleanup], env: { PATH: process.env.PATH, NS: w.ns1, KEYFILE: w.keyFiles.certctl, CERTBOT_TOKEN: 'inherited' } });
    const solver = new Dns01Solver({ provider, discovery: discovery(), propagation: { timeoutMs: 20_000 } });
    const challenges = [
      { domain: 'hook.example.test', keyAuthorization: 'h1.t' },
      { domain: '*.hook.example.test', keyAuthorization: 'h2.t' },
    ];
    const [v1, v2] = challenges.map((c) => dns01Value(c.keyAuthorization));
    await solver.solve(challenges);
    expect(await both('_acme-challenge.hook.example.test')).toEqual({ v4: [v1, v2].sort(), v6: [v1, v2].sort() });
    await solver.cleanup();
    expect(await both('_acme-challenge.hook.example.test')).toEqual({ v4: [], v6: [] });
    expect(fs.readFileSync(envLog, 'utf8').trim().split('\n')).toEqual([
      `hook.example.test|${v1}|1|hook.example.test,*.hook.example.test|unset`,
      `hook.example.test|${v2}|0|hook.example.test,*.hook.example.test|unset`,
      `cleanup hook.example.test added-${v1}`,
      `cleanup hook.example.test added-${v2}`,
    ]);
  });

  it('names with shell metacharacters reach the hook as plain values and inject nothing', async () => {
    const out = path.join(tmp, 'hostile.log');
    const pwned = path.join(tmp, 'PWNED');
    const hook = writeScript('hostile.sh', `printf '%s\\n%s\\n' "$CERTBOT_DOMAIN" "$CERTBOT_VALIDATION" > ${out}`);
    const provider = new HookProvider({ authHook: [hook] });
    const hostile = [`$(touch ${pwned}).example.test`, `\`touch ${pwned}\`;touch ${pwned}|x&&touch ${pwned}`, `a'"; touch ${pwned}; echo "'b`];
    for (const domain of hostile) {
      const value = `$(touch ${pwned})`;
      await provider.present({ domain, fqdn: `_acme-challenge.${domain}`, target: `_acme-challenge.${domain}`, zone: 'example.test', value }, { allDomains: [domain], remaining: 0 });
      expect(fs.readFileSync(out, 'utf8')).toBe(`${domain}\n${value}\n`);
    }
    expect(fs.existsSync(pwned)).toBe(false);
  });

  it('a hook that exits non-zero is a clear error with the tail of its stderr; a missing hook too', async () => {
    const bad = writeScript('bad.sh', `echo "first line" >&2\necho "update failed: zone example.test is frozen" >&2\nexit 3`);
    const rec: DnsRecord = { domain: 'x.example.test', fqdn: '_acme-challenge.x.example.test', target: '_acme-challenge.x.example.test', zone: 'example.test', value: 'v' };
    const e = await rejection(new HookProvider({ authHook: [bad] }).present(rec, { allDomains: ['x.example.test'], remaining: 0 }));
    expect(e.message).toBe(`The DNS auth hook for x.example.test: ${bad} exited with status 3; it said: first line\nupdate failed: zone example.test is frozen.`);
    const e2 = await rejection(new HookProvider({ authHook: [path.join(tmp, 'nope.sh')] }).present(rec, { allDomains: [], remaining: 0 }));
    expect(e2.message).toMatch(/could not be started \(ENOENT\)/);
    // A hook that hangs is killed at its time-out, with the processes it started.
    const pidFile = path.join(tmp, 'grandchild.pid');
    const hang = writeScript('hang.sh', `sleep 300 &\necho $! > ${pidFile}\nwait`);
    const e3 = await rejection(new HookProvider({ authHook: [hang], timeoutMs: 500 }).present(rec, { allDomains: [], remaining: 0 }));
    expect(e3.message).toBe(`The DNS auth hook for x.example.test: ${hang} did not finish within 0.5 s and was killed with the processes it started (it wrote nothing on stderr).`);
    const grandchild = fs.readFileSync(pidFile, 'utf8').trim();
    const stat = fs.existsSync(`/proc/${grandchild}/stat`) ? fs.readFileSync(`/proc/${grandchild}/stat`, 'utf8') : '';
    expect(stat === '' || / Z /.test(stat)).toBe(true);
    // And through the solver: nothing is waited for, the journalled record is cleaned up.
    const cleaned: string[] = [];
    const provider: DnsProvider = { kind: 'hook', present: (r, c) => new HookProvider({ authHook: [bad] }).present(r, c), cleanup: async (r) => void cleaned.push(r.domain) };
    await rejection(new Dns01Solver({ provider, discovery: discovery() }).solve([{ domain: 'x.example.test', keyAuthorization: 'k.t' }]));
    expect(cleaned).toEqual(['x.example.test']);
  });
});

describe('acme-dns provider, against a stand-in for the acme-dns HTTP API writing into BIND', () => {
  /** certctl's acme-dns stand-in: POST /update with X-Api-User/X-Api-Key; keeps the two newest values per subdomain, as acme-dns does. */
  const acmeDnsStandIn = (accounts: Record<string, { user: string; key: string }>) => startAcmeDnsStandIn(w, accounts);

  it('sets both values of a wildcard + base name; wrong credentials are a clear error without the password', async () => {
    const api = await acmeDnsStandIn({ x1: { user: 'user-1', key: 'pa55word-x1' } });
    try {
      const credFile = path.join(tmp, 'acmedns.json');
      const account = { username: 'user-1', password: 'pa55word-x1', fulldomain: 'x1.auth.example.org', subdomain: 'x1', allowfrom: [] };
      fs.writeFileSync(credFile, JSON.stringify({ 'cname.example.test': account }), { mode: 0o600 });
      const provider = new AcmeDnsProvider({ accounts: loadAcmeDnsCredentials(credFile), apiUrl: api.url });
      const solver = new Dns01Solver({ provider, discovery: discovery(), propagation: { timeoutMs: 20_000 } });
      const challenges = [
        { domain: 'cname.example.test', keyAuthorization: 'a1.t' },
        { domain: '*.cname.example.test', keyAuthorization: 'a2.t' },
      ];
      await solver.solve(challenges);
      expect(api.updates()).toBe(2);
      expect(await both('x1.auth.example.org')).toEqual({ v4: challenges.map((c) => dns01Value(c.keyAuthorization)).sort(), v6: challenges.map((c) => dns01Value(c.keyAuthorization)).sort() });

      fs.writeFileSync(credFile, JSON.stringify({ 'cname.example.test': { ...account, password: 'wrong-password' } }));
      const wrong = new AcmeDnsProvider({ accounts: loadAcmeDnsCredentials(credFile), apiUrl: api.url });
      const e = await rejection(new Dns01Solver({ provider: wrong, discovery: discovery() }).solve([{ domain: 'cname.example.test', keyAuthorization: 'a3.t' }]));
      expect(e.message).toBe(`The acme-dns API ${api.url} refused the update for cname.example.test (HTTP 401: {"error": "forbidden"}).`);
      expect(JSON.stringify({ m: e.message, h: e.hint })).not.toContain('wrong-password');
      // A name whose _acme-challenge is not a CNAME to the account's fulldomain: told which CNAME to add, nothing sent.
      fs.writeFileSync(credFile, JSON.stringify({ 'plain.example.test': account }));
      const plain = new AcmeDnsProvider({ accounts: loadAcmeDnsCredentials(credFile), apiUrl: api.url });
      const e2 = await rejection(new Dns01Solver({ provider: plain, discovery: discovery() }).solve([{ domain: 'plain.example.test', keyAuthorization: 'a4.t' }]));
      expect(e2.hint).toBe('Add the record: _acme-challenge.plain.example.test. CNAME x1.auth.example.org.');
      expect(api.updates()).toBe(2);
    } finally {
      await api.close();
    }
  });
});
