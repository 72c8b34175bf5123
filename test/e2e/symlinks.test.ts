/**
 * Planted symbolic links and unsafe state directories, through the built CLI
 * against Pebble behind certctl's ACME test proxy (which counts what reaches
 * the CA): each is refused with one sentence naming the path, exit 2, nothing
 * written at the link's target, nothing sent — and an order already done
 * keeps its key and is finished once the link is gone.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa()));
afterAll(() => stopOneCa({ pebble, proxy }));
beforeEach(() => proxy.resetObservations());

function issueArgs(state: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
/** Every file below `dir` (links not followed), as relative paths. */
function tree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}
const spki = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'der' });
function liveMatches(state: string, name: string): boolean {
  const live = path.join(state, 'live', name);
  const cert = new crypto.X509Certificate(fs.readFileSync(path.join(live, 'cert.pem')));
  return spki(crypto.createPublicKey(fs.readFileSync(path.join(live, 'privkey.pem')))).equals(spki(cert.publicKey));
}

describe('planted symbolic links', () => {
  it('archive/<name> → a directory outside: renew refuses, writes nothing there, sends nothing', async () => {
    const state = tempDir();
    const name = 'arch.example.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    const outside = tempDir('certctl-outside-');
    fs.renameSync(path.join(state, 'archive', name), path.join(outside, 'moved'));
    fs.symlinkSync(path.join(outside, 'moved'), path.join(state, 'archive', name));
    const before = tree(outside);
    proxy.resetObservations();
    const r = await runCli(renewArgs(state, ['--force-renewal']));
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain(`${path.join(state, 'archive', name)} is a symbolic link (to ${path.join(outside, 'moved')})`);
    expect(tree(outside)).toEqual(before);
    expect(before).toEqual(['moved', 'moved/cert1.pem', 'moved/chain1.pem', 'moved/fullchain1.pem', 'moved/privkey1.pem']);
    expect(proxy.total()).toBe(0);
    expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
  });

  it('a new archive/<name> → outside: issue refuses before anything is sent; no lineage is left behind', async () => {
    const state = tempDir();
    const outside = tempDir('certctl-outside-');
    fs.mkdirSync(path.join(state, 'archive'));
    fs.symlinkSync(outside, path.join(state, 'archive', 'newarch.example.test'));
    const r = await runCli(issueArgs(state, 'newarch.example.test'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/archive\/newarch\.example\.test is a symbolic link/);
    expect(r.stderr).toMatch(/Remove the link/);
    expect(tree(outside)).toEqual([]);
    expect(proxy.total()).toBe(0);
    expect(q(state, 'SELECT name FROM lineages')).toEqual([]);
  });

  it('pending → outside: the order key is never written there; nothing sent', async () => {
    const state = tempDir();
    const outside = tempDir('certctl-outside-');
    fs.symlinkSync(outside, path.join(state, 'pending'));
    const r = await runCli(issueArgs(state, 'pend.example.test'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${path.join(state, 'pending')} is a symbolic link (to ${outside})`);
    expect(tree(outside)).toEqual([]);
    expect(proxy.total()).toBe(0);
  });

  it('live/<name> → outside after a crash during the download: refused, the key stays in pending/, then finished with one certificate', async () => {
    const state = tempDir();
    const name = 'livel.example.test';
    // Killed right after the CA served the certificate, before certctl read it (test/helpers/crash.ts).
    const crashed = await killedAt(proxy, 'certificate', 'after', issueArgs(state, name));
    expect(crashed.fired).toBe(true);
    expect(crashed.signal).toBe('SIGKILL');
    expect(proxy.issued).toBe(1);
    const keyFile = path.join(state, 'pending', 'order-1-main.key');
    const key = fs.readFileSync(keyFile);
    const outside = tempDir('certctl-outside-');
    fs.mkdirSync(path.join(state, 'live'), { recursive: true });
    fs.symlinkSync(outside, path.join(state, 'live', name));

    const refused = await runCli(renewArgs(state));
    expect(refused.code).toBe(2);
    expect(refused.stdout + refused.stderr).toContain(`${path.join(state, 'live', name)} is a symbolic link (to ${outside})`);
    expect(tree(outside)).toEqual([]);
    expect(fs.readFileSync(keyFile).equals(key)).toBe(true);
    expect(q<{ step: string }>(state, "SELECT step FROM orders WHERE state = 'open'").map((o) => o.step)).toEqual(['downloading']);

    fs.unlinkSync(path.join(state, 'live', name));
    const fixed = await runCli(renewArgs(state, ['--json']));
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout).lineages[0].action).toBe('recovered');
    expect(proxy.issued).toBe(1);
    expect(liveMatches(state, name)).toBe(true);
    // The key certified is the one kept in pending/ through the refusal.
    expect(fs.readFileSync(path.join(state, 'live', name, 'privkey.pem')).equals(key)).toBe(true);
    expect(tree(outside)).toEqual([]);
  });
});

describe('the state directory', () => {
  it('writable by group or others: refused with the chmod to run; nothing sent, nothing written', async () => {
    const state = tempDir();
    fs.chmodSync(state, 0o775);
    const r = await runCli(issueArgs(state, 'gw.example.test'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`The state directory ${state} is writable by group or others (mode 0775)`);
    expect(r.stderr).toContain(`chmod go-w ${state}`);
    expect(proxy.total()).toBe(0);
    expect(['archive', 'live', 'pending', 'accounts'].filter((d) => fs.existsSync(path.join(state, d)))).toEqual([]);
  });
});
