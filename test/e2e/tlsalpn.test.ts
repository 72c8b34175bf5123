/**
 * TLS-ALPN-01 end to end (RFC 8737, `--standalone-tls`): the built CLI
 * against a real Pebble that validates on its tlsPort, with nothing on its
 * HTTP-01 port (port 80 "closed"); through certctl's ACME test proxy, which
 * counts what reached the CA. Issue, openssl on the result, renew from the
 * lineage settings alone; the readiness check before any order and before
 * the challenge is answered (another server on the port, nothing on the
 * port): exit 6 with what was seen, no challenge answered, no failed
 * authorization; bad input refused before the ledger exists.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, startCli, tempDir, q } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { killedAt } from '../helpers/crash.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { TlsAlpnServer } from '../../src/core/tlsalpn.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
let roots: string;

beforeAll(async () => {
  pebble = await startPebble({ noWeb: true });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  roots = path.join(tempDir(), 'roots.pem');
  fs.writeFileSync(roots, await pebble.rootPem());
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => proxy.resetObservations());

function issueArgs(state: string, listen: string, ...more: string[]): string[] {
  return ['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--resolver', pebble.dns.resolver, '--email', 'ops@example.test', '--standalone-tls', listen, '--tls-port', String(pebble.tlsPort), ...more];
}

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8' });
}

describe('certctl issue --standalone-tls against Pebble', () => {
  it('issues through TLS-ALPN-01 (port 80 closed), the certificate verifies, and renew repeats it from the lineage settings', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, `127.0.0.1:${pebble.tlsPort}`, '-d', 'mail.example.test'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Issued mail\.example\.test: serial [0-9A-F]+,/);
    const live = path.join(state, 'live', 'mail.example.test');
    expect(openssl(['verify', '-CAfile', roots, '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')])).toMatch(/cert\.pem: OK/);
    expect(openssl(['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-ext', 'subjectAltName'])).toMatch(/DNS:mail\.example\.test/);
    expect(fs.statSync(path.join(state, 'archive', 'mail.example.test', 'privkey1.pem')).mode & 0o777).toBe(0o600);
    // What the CA saw: one challenge answered; nothing was fetched over HTTP (nothing listens there).
    // (Counted as accepted: a POST Pebble refused for its nonce, 5 % of them at random, is sent again.)
    expect(proxy.requests.filter((x) => x.endpoint === 'challenge' && x.status >= 200 && x.status < 300)).toHaveLength(1);
    // What the ledger keeps: the method, where to listen, which port the CA connects to.
    const [l] = q<{ challenge: string; standalone_addr: string; settings_json: string }>(state, "SELECT challenge, standalone_addr, settings_json FROM lineages WHERE name = 'mail.example.test'");
    expect(l).toMatchObject({ challenge: 'standalone-tls', standalone_addr: `127.0.0.1:${pebble.tlsPort}` });
    expect(JSON.parse(l!.settings_json)).toMatchObject({ tlsPort: pebble.tlsPort, resolver: pebble.dns.resolver });
    expect(q(state, 'SELECT identifier, status, challenge_type FROM authorizations')).toEqual([{ identifier: 'mail.example.test', status: 'valid', challenge_type: 'tls-alpn-01' }]);
    // The readiness check served a probe certificate on the port and connected to it through the name's DNS.
    expect(q(state, "SELECT check_name, ok FROM prechecks WHERE name = 'mail.example.test' ORDER BY id")).toEqual([
      { check_name: 'dns', ok: 1 },
      { check_name: 'tlsalpn01', ok: 1 },
      { check_name: 'caa', ok: 1 },
      { check_name: 'failures', ok: 1 },
    ]);

    // renew: no challenge option given; the lineage's says TLS-ALPN-01 on the same address.
    proxy.resetObservations();
    const rn = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep']);
    expect(rn.stderr).toBe('');
    expect(rn.code).toBe(0);
    expect(fs.readlinkSync(path.join(live, 'cert.pem'))).toBe(path.join('..', '..', 'archive', 'mail.example.test', 'cert2.pem'));
    expect(openssl(['verify', '-CAfile', roots, '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')])).toMatch(/cert\.pem: OK/);
    expect(proxy.counts.newOrder).toBeGreaterThanOrEqual(1);
    expect(q(state, "SELECT count(*) AS n FROM authorizations WHERE status != 'valid'")).toEqual([{ n: 0 }]);
    expect(q(state, "SELECT DISTINCT challenge_type FROM authorizations")).toEqual([{ challenge_type: 'tls-alpn-01' }]);
  });

  it('killed with its responder up, before the challenge was answered: the next issue resumes the same order and answers it', async () => {
    const state = tempDir();
    const args = issueArgs(state, `127.0.0.1:${pebble.tlsPort}`, '-d', 'crash.example.test');
    const k = await killedAt(proxy, 'challenge', 'before', args);
    expect(k.fired).toBe(true);
    expect(k.signal).toBe('SIGKILL');
    // The dead process's port is free again for the next run (the kernel closed it).
    const r = await runCli(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Resuming the order of crash\.example\.test interrupted at \w+/);
    expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
    expect(q(state, "SELECT status, challenge_type FROM authorizations")).toEqual([{ status: 'valid', challenge_type: 'tls-alpn-01' }]);
    expect(fs.existsSync(path.join(state, 'live', 'crash.example.test', 'cert.pem'))).toBe(true);
  });

  it('config file: a certificate with standaloneTls is applied through TLS-ALPN-01 even where defaults name a webroot; both in one certificate is refused with file:line', async () => {
    const dir = tempDir();
    const state = path.join(dir, 'state');
    const config = path.join(dir, 'config.yaml');
    const head = `defaults:
  server: ${proxy.directoryUrl}
  caBundle: ${pebble.caBundle}
  webroot: ${pebble.webroot}
  resolver: ${JSON.stringify(pebble.dns.resolver)}
certificates:
`;
    fs.writeFileSync(config, head + `  - domains: [apply.example.test]\n    standaloneTls: "127.0.0.1:${pebble.tlsPort}"\n    tlsPort: ${pebble.tlsPort}\n`);
    const r = await runCli(['--state-dir', state, '--config', config, '--json', 'apply'], { XDG_CONFIG_HOME: '/nonexistent' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).certificates.map((c: { action: string }) => c.action)).toEqual(['issued']);
    expect(q(state, "SELECT challenge, standalone_addr, webroot FROM lineages")).toEqual([{ challenge: 'standalone-tls', standalone_addr: `127.0.0.1:${pebble.tlsPort}`, webroot: null }]);
    expect(q(state, "SELECT status, challenge_type FROM authorizations")).toEqual([{ status: 'valid', challenge_type: 'tls-alpn-01' }]);

    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, head + `  - domains: [both.example.test]\n    webroot: ${pebble.webroot}\n    standaloneTls: true\n  - domains: [port.example.test]\n    tlsPort: 443\n`);
    const b = await runCli(['--state-dir', path.join(dir, 'state2'), '--config', bad, 'apply'], { XDG_CONFIG_HOME: '/nonexistent' });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/bad\.yaml:\d+: certificates\[0\]\.standaloneTls: give one of webroot, standalone and standaloneTls, not webroot as well/);
    expect(b.stderr).toMatch(/bad\.yaml:\d+: certificates\[1\]\.tlsPort: tlsPort is the port the CA connects to for TLS-ALPN-01: it goes with standaloneTls/);
    expect(fs.existsSync(path.join(dir, 'state2', 'ledger.sqlite'))).toBe(false);
  });

  it('dual key type: two orders for the same name share the one responder (one certificate per name at a time), both valid', async () => {
    const state = tempDir();
    const r = await runCli(issueArgs(state, `127.0.0.1:${pebble.tlsPort}`, '-d', 'dual.example.test', '-d', 'www.dual.example.test', '--key-type', 'dual'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const live = path.join(state, 'live', 'dual.example.test');
    for (const c of ['cert.pem', 'cert-ecdsa.pem']) expect(openssl(['x509', '-in', path.join(live, c), '-noout', '-ext', 'subjectAltName'])).toMatch(/DNS:dual\.example\.test, DNS:www\.dual\.example\.test/);
    expect(q(state, "SELECT count(*) AS n FROM authorizations WHERE status != 'valid' OR challenge_type != 'tls-alpn-01'")).toEqual([{ n: 0 }]);
  });

  it('check --standalone-tls: the same probe on its own, nothing sent to the CA, JSON says the method and port', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, '--json', 'check', '-d', 'probe.example.test', '--ca', 'pebble', '--resolver', pebble.dns.resolver, '--standalone-tls', `127.0.0.1:${pebble.tlsPort}`, '--tls-port', String(pebble.tlsPort)]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ ok: true, method: 'standalone-tls', tlsPort: pebble.tlsPort });
    expect(doc.results.map((x: { check: string }) => x.check)).toEqual(['dns', 'tlsalpn01', 'caa', 'failures']);
    expect(doc.results[1].evidence.tried[0]).toMatchObject({ address: '127.0.0.1', ok: true, alpn: 'acme-tls/1', sans: ['DNS:probe.example.test'] });
    expect(doc.skipped.filter((s: { check: string }) => s.check === 'http01')).toEqual([]);
    expect(proxy.total()).toBe(0);
  });

  it('nothing on the port the CA connects to: the readiness check says so before any order (exit 6, 0 requests to the CA)', async () => {
    const state = tempDir();
    const elsewhere = await freePort();
    const r = await runCli(issueArgs(state, `127.0.0.1:${elsewhere}`, '-d', 'closed.example.test'));
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(new RegExp(`closed\\.example\\.test tlsalpn01: cannot connect to 127\\.0\\.0\\.1:${pebble.tlsPort}: ECONNREFUSED`));
    expect(r.stderr).toMatch(/no order was created/);
    expect(proxy.total()).toBe(0);
    expect(q(state, 'SELECT count(*) AS n FROM orders')).toEqual([{ n: 0 }]);
  });

  it('another server holds the port with its own acme-tls/1 certificate: refused before the order; and when it takes the port after the check, the challenge is NOT answered (exit 6, no failed authorization)', async () => {
    // A second ACME client answering on the CA's port (for another key authorization); certctl listens elsewhere.
    const foreignKa = `${'f'.repeat(43)}.${'g'.repeat(43)}`;
    let foreign: TlsAlpnServer | undefined = await TlsAlpnServer.listen('127.0.0.1', pebble.tlsPort);
    const state = tempDir();
    const elsewhere = await freePort();
    const sockets = new Set<net.Socket>();
    // A port forward from the CA's port to certctl's address (as a NAT would do it).
    const forward = net.createServer((c) => {
      const up = net.connect(elsewhere, '127.0.0.1');
      for (const s of [c, up]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      c.pipe(up).pipe(c);
    });
    try {
      await foreign.set('busy.example.test', foreignKa);
      const pre = await runCli(issueArgs(state, `127.0.0.1:${elsewhere}`, '-d', 'busy.example.test'));
      expect(pre.code).toBe(6);
      expect(pre.stderr).toMatch(/busy\.example\.test tlsalpn01: .*acmeIdentifier certificate for another key authorization/);
      expect(proxy.total()).toBe(0);

      // Now the forward is right during the readiness check, and the foreign server takes the CA's
      // port back while the order is being created (held at newOrder, so by construction, not timing):
      // the solver's own check (waitReady) sees it and the challenge POST is never sent.
      await foreign.close();
      foreign = undefined;
      await new Promise<void>((r) => forward.listen(pebble.tlsPort, '127.0.0.1', () => r()));
      const held = proxy.hold('newOrder');
      const run = startCli(issueArgs(state, `127.0.0.1:${elsewhere}`, '-d', 'busy.example.test'));
      await held.arrived;
      await new Promise<void>((r) => {
        forward.close(() => r());
        for (const s of sockets) s.destroy();
      });
      foreign = await TlsAlpnServer.listen('127.0.0.1', pebble.tlsPort);
      await foreign.set('busy.example.test', foreignKa);
      held.release();
      const r = await run.result;
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(/Not answering the TLS-ALPN-01 challenge for busy\.example\.test: the CA would not see certctl's certificate — 127\.0\.0\.1:\d+ answered acme-tls\/1 for busy\.example\.test with an acmeIdentifier certificate for another key authorization/);
      expect(r.stderr).toMatch(/no failed validation was spent/);
      expect(q(state, "SELECT check_name, ok FROM prechecks WHERE check_name = 'tlsalpn01' ORDER BY id")).toEqual([{ check_name: 'tlsalpn01', ok: 0 }, { check_name: 'tlsalpn01', ok: 1 }]);
      // One order created at the CA (a badNonce resend of the same request counts as a request, not an order).
      expect(proxy.orders.filter((o) => o.caStatus === 201)).toHaveLength(1);
      expect(proxy.forwarded.authz).toBeGreaterThanOrEqual(1);
      expect(proxy.counts.challenge).toBe(0);
      expect(q(state, "SELECT count(*) AS n FROM authorizations WHERE status = 'invalid'")).toEqual([{ n: 0 }]);
      expect(fs.existsSync(path.join(state, 'live', 'busy.example.test'))).toBe(false);
      // certctl's own responder is gone again: its port is free.
      await new Promise<void>((resolve, reject) => {
        const s = net.createServer().once('error', reject).listen(elsewhere, '127.0.0.1', () => s.close(() => resolve()));
      });

      // --no-precheck turns the solver's check off too (the way out without hairpin NAT): the
      // challenge is answered and the CA, seeing the foreign certificate, fails the authorization.
      proxy.resetObservations();
      const n = await runCli(issueArgs(state, `127.0.0.1:${elsewhere}`, '-d', 'busy.example.test', '--no-precheck'));
      expect(n.code).toBe(7);
      expect(proxy.forwarded.challenge).toBeGreaterThanOrEqual(1);
      expect(q(state, "SELECT status, challenge_type FROM authorizations WHERE status = 'invalid'")).toEqual([{ status: 'invalid', challenge_type: 'tls-alpn-01' }]);
    } finally {
      if (forward.listening) forward.close();
      for (const s of sockets) s.destroy();
      await foreign?.close();
    }
  });

  it('its own port taken: one sentence, before any order (exit 6 with the check, exit 2 without it)', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()));
    try {
      const state = tempDir();
      const a = await runCli(issueArgs(state, `127.0.0.1:${port}`, '-d', 'taken.example.test'));
      expect(a.code).toBe(6);
      expect(a.stderr).toMatch(new RegExp(`could not set up the probe: Cannot listen on 127\\.0\\.0\\.1:${port} for TLS-ALPN-01: something else \\(a web server\\?\\) already uses it\\.`));
      const b = await runCli(issueArgs(state, `127.0.0.1:${port}`, '-d', 'taken.example.test', '--no-precheck'));
      expect(b.code).toBe(2);
      expect(b.stderr).toMatch(new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} for TLS-ALPN-01: something else \\(a web server\\?\\) already uses it\\.`));
      expect(proxy.total()).toBe(0);
    } finally {
      blocker.close();
    }
  });

  it.each([
    ['with --webroot', ['--webroot', '/var/www/html'], /Give one of --webroot and --standalone-tls, not both\./],
    ['with --standalone', ['--standalone', '127.0.0.1:5002'], /Give one of --standalone and --standalone-tls, not both\./],
    ['an address that is not one', ['--standalone-tls', '127.0.0.1:99999'], /"127\.0\.0\.1:99999" is not a listen address\./],
    ['a control character in the address', ['--standalone-tls', '127.0.0.1\n:443'], /--standalone-tls "127\.0\.0\.1\\n:443" contains a control character/],
    ['--tls-port out of range', ['--tls-port', '0'], /--tls-port "0" must be a whole number from 1 to 65535\./],
  ])('bad input %s: one sentence, exit 2, no ledger, nothing sent', async (_what, extra, re) => {
    const state = tempDir();
    const args = issueArgs(state, `127.0.0.1:${pebble.tlsPort}`, '-d', 'bad.example.test');
    // The later --standalone-tls / --tls-port wins in commander; the others are added.
    const r = await runCli([...args, ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
    expect(proxy.total()).toBe(0);
  });

  it('an IP address identifier (the CA issues for IPs): refused with --standalone-tls, exit 2, no ledger', async () => {
    for (const cmd of ['issue', 'check']) {
      const state = tempDir();
      const r = await runCli(['--state-dir', state, cmd, '--ca', 'pebble', '--standalone-tls', '-d', 'ok.example.test', '-d', '127.0.0.1']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/certctl's TLS-ALPN-01 responder does not answer for IP addresses such as 127\.0\.0\.1\./);
      expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
    }
  });

  it('--tls-port without --standalone-tls is refused (exit 2)', async () => {
    const state = tempDir();
    const r = await runCli(['--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', pebble.webroot, '--tls-port', '443', '-d', 'x.example.test']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tls-port is the port the CA connects to for TLS-ALPN-01; it goes with --standalone-tls\./);
    expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
  });
});
