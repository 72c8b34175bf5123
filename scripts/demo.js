#!/usr/bin/env node
// `npm run demo`: certctl's story in under a minute, on a local Pebble.
// Starts Pebble + pebble-challtestsrv + a web server for the webroot (all on
// free loopback ports), then runs the real certctl CLI against them.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!fs.existsSync('/usr/bin/pebble') || !fs.existsSync('/usr/bin/pebble-challtestsrv')) {
  console.error('The demo needs Pebble, the ACME test server from Debian:\n\n  sudo apt-get install -y pebble\n\nthen run `npm run demo` again.');
  process.exit(2);
}
// The test servers are not part of certctl's package: `npm run demo` builds them into dist-testkit/.
if (!fs.existsSync(path.join(root, 'dist-testkit', 'testkit', 'pebble.js')) || !fs.existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
  console.error('The demo runs the built CLI (dist/) and the built test servers (dist-testkit/): start it with `npm run demo`, which builds both.');
  process.exit(2);
}
const { startPebble } = await import(path.join(root, 'dist-testkit', 'testkit', 'pebble.js'));
const { startAcmeTestProxy } = await import(path.join(root, 'dist-testkit', 'testkit', 'acme-proxy.js'));

const pebble = await startPebble();
const state = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-demo-'));
const bold = (s) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
let proxy;

// Asynchronous on purpose: Pebble's web server for the webroot runs in this process and must keep answering.
async function certctl(args, note) {
  console.log('\n' + bold(`$ certctl ${args.join(' ')}`) + (note ? `   # ${note}` : ''));
  const child = spawn(process.execPath, [path.join(root, 'bin', 'certctl.js'), ...args], { stdio: 'inherit', env: { ...process.env, CERTCTL_HOME: state } });
  const code = await new Promise((resolve) => child.on('close', resolve));
  console.log(bold(`  → exit ${code}`));
  return code;
}

try {
  const ca = ['--server', pebble.directoryUrl];
  const server = [...ca, '--ca-bundle', pebble.caBundle];
  const names = ['-d', 'www.demo.example.test', '-d', 'demo.example.test'];
  const web = ['--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
  console.log(`Pebble is at ${pebble.directoryUrl}; certctl's state (ledger, keys, live/) is in ${state}.`);
  await certctl(['plan', ...names, ...ca], 'before anything is sent: would the CA allow it?');
  await certctl(['issue', ...names, ...server, ...web, '--email', 'ops@demo.example.test'], 'check readiness, order, validate, download');
  await certctl(['status'], 'what is held, and when it expires');
  await certctl(['plan', ...names, ...ca], 'the ledger now knows a slot is spent');
  await certctl(['issue', ...names, ...server, ...web], 'the same command again: refused, no duplicate is ordered');
  await certctl(['renew', '--no-random-sleep'], 'cron does this: nothing is due, so nothing is sent');
  if (startAcmeTestProxy) {
    proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
    const viaProxyCa = ['--server', proxy.directoryUrl];
    const viaProxy = [...viaProxyCa, '--ca-bundle', pebble.caBundle];
    proxy.rateLimit('newOrder', { seconds: 3 * 3600, detail: 'too many new orders (300) from this account in the last 3h0m0s' });
    await certctl(['issue', '-d', 'api.demo.example.test', ...viaProxy, ...web], "the project's ACME test server answers 429, as Let's Encrypt does");
    await certctl(['plan', '-d', 'api.demo.example.test', ...viaProxyCa], 'the 429 is evidence: plan says exactly when to try again');
    await certctl(['issue', '-d', 'api.demo.example.test', ...viaProxy, ...web], 'and certctl will not send that request before then');
  }
} finally {
  await proxy?.stop();
  await pebble.stop();
}
