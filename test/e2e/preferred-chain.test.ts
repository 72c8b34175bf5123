/**
 * `--preferred-chain "ISSUER CN"` against Pebble offering two alternate
 * chains (PEBBLE_ALTERNATE_ROOTS=2: three roots, each with its own
 * intermediate). Each chain can be chosen, and `openssl verify` against the
 * matching root (Pebble's management interface /roots/N) passes; the choice is
 * recorded in the lineage's settings and renew keeps it; a name that matches
 * no chain writes the default chain with a warning (as certbot). The config's
 * preferredChain: is the default for issue.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { issue as libIssue, renew as libRenew, InputError } from 'certctl';

let pebble: Pebble;
const roots: { file: string; cn: string }[] = [];

function mgmt(p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${pebble.mgmtPort}${p}`, { ca: fs.readFileSync(pebble.caBundle) }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${p}: HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  pebble = await startPebble({ env: { PEBBLE_ALTERNATE_ROOTS: '2' } });
  const dir = tempDir();
  for (let i = 0; i < 3; i++) {
    const pem = await mgmt(`/roots/${i}`);
    const file = path.join(dir, `root${i}.pem`);
    fs.writeFileSync(file, pem);
    const cn = new X509Certificate(pem).subject.split('\n').find((l) => l.startsWith('CN='))!.slice(3);
    roots.push({ file, cn });
  }
});
afterAll(async () => {
  await pebble?.stop();
});

const issue = (state: string, name: string, extra: string[] = []) => runCli(['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble), '--email', 'ops@example.test', '-d', name, ...extra]);

function verify(state: string, lineage: string, root: string): boolean {
  const live = path.join(state, 'live', lineage);
  try {
    execFileSync('openssl', ['verify', '-CAfile', root, '-untrusted', path.join(live, 'chain.pem'), path.join(live, 'cert.pem')], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function settings(state: string, lineage: string): Record<string, unknown> {
  const rows = q<{ name: string; settings_json: string }>(state, 'SELECT name, settings_json FROM lineages');
  return JSON.parse(rows.find((r) => r.name === lineage)!.settings_json);
}

describe('--preferred-chain', () => {
  it('three distinct roots are offered', () => {
    expect(new Set(roots.map((r) => r.cn)).size).toBe(3);
  });

  it('each chain can be chosen: openssl verify passes against its root only; the choice is recorded; renew keeps it', async () => {
    for (let i = 0; i < 3; i++) {
      const state = tempDir();
      const name = `chain${i}.example.test`;
      const r = await issue(state, name, ['--preferred-chain', roots[i]!.cn]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toContain('warning');
      for (let j = 0; j < 3; j++) expect(verify(state, name, roots[j]!.file), `chain for root ${i} against root ${j}`).toBe(i === j);
      expect(settings(state, name).preferredChain).toBe(roots[i]!.cn);
      if (i === 2) {
        const again = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep']);
        expect(again.code, again.stderr).toBe(0);
        expect(fs.readlinkSync(path.join(state, 'live', name, 'cert.pem'))).toContain('cert2.pem');
        for (let j = 0; j < 3; j++) expect(verify(state, name, roots[j]!.file)).toBe(j === 2);
      }
    }
  }, 120_000);

  it('renew --preferred-chain switches a lineage to another chain and records it (an empty name: exit 2)', async () => {
    const state = tempDir();
    const name = 'switch.example.test';
    expect((await issue(state, name)).code).toBe(0);
    expect(verify(state, name, roots[0]!.file)).toBe(true);
    expect(settings(state, name).preferredChain).toBeUndefined();
    const r = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep', '--preferred-chain', roots[1]!.cn]);
    expect(r.code, r.stderr).toBe(0);
    expect(verify(state, name, roots[1]!.file)).toBe(true);
    expect(verify(state, name, roots[0]!.file)).toBe(false);
    expect(settings(state, name).preferredChain).toBe(roots[1]!.cn);
    // Renewing with a name the CA does not offer: the default chain, and the warning is shown by renew too (not only with --verbose).
    const none = await runCli(['--state-dir', state, 'renew', '--force-renewal', '--no-random-sleep', '--preferred-chain', 'Gone Root CA']);
    expect(none.code, none.stderr).toBe(0);
    expect(`${none.stdout}${none.stderr}`).toMatch(/switch\.example\.test: warning: no chain the CA offered has its topmost certificate issued by "Gone Root CA"/);
    expect(verify(state, name, roots[0]!.file)).toBe(true);
    const empty = await runCli(['--state-dir', state, 'renew', '--preferred-chain', ' ']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--preferred-chain is empty.');
  }, 120_000);

  it('a name no chain matches: the default chain, with a warning naming what was offered', async () => {
    const state = tempDir();
    const r = await issue(state, 'nomatch.example.test', ['--preferred-chain', 'No Such Root CA']);
    expect(r.code).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/warning: no chain the CA offered has its topmost certificate issued by "No Such Root CA" \(offered: .*\); the default chain was written\./);
    expect(verify(state, 'nomatch.example.test', roots[0]!.file)).toBe(true);
  });

  it('the config file’s defaults.preferredChain applies to issue', async () => {
    const state = tempDir();
    const config = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(config, `defaults:\n  preferredChain: ${JSON.stringify(roots[1]!.cn)}\n`);
    const r = await runCli(['--state-dir', state, '--config', config, 'issue', ...pebbleIssueFlags(pebble), '--email', 'ops@example.test', '-d', 'cfgchain.example.test']);
    expect(r.code, r.stderr).toBe(0);
    expect(verify(state, 'cfgchain.example.test', roots[1]!.file)).toBe(true);
    expect(settings(state, 'cfgchain.example.test').preferredChain).toBe(roots[1]!.cn);
  });

  it('apply: a declared certificate’s preferredChain: wins over the defaults’', async () => {
    const state = tempDir();
    const config = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(
      config,
      [
        'defaults:',
        `  server: ${pebble.directoryUrl}`,
        `  caBundle: ${JSON.stringify(pebble.caBundle)}`,
        `  webroot: ${JSON.stringify(pebble.webroot)}`,
        `  resolver: ${JSON.stringify(pebble.dns.resolver)}`,
        `  httpPort: ${pebble.httpPort}`,
        '  email: ops@example.test',
        `  preferredChain: ${JSON.stringify(roots[1]!.cn)}`,
        'certificates:',
        '  - domains: [applychain.example.test]',
        `    preferredChain: ${JSON.stringify(roots[2]!.cn)}`,
        '  - domains: [applydefault.example.test]',
        '',
      ].join('\n'),
    );
    const r = await runCli(['--state-dir', state, '--config', config, 'apply']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(verify(state, 'applychain.example.test', roots[2]!.file)).toBe(true);
    expect(verify(state, 'applydefault.example.test', roots[1]!.file)).toBe(true);
  });

  it('the library: issue({ preferredChain }) stores that chain and records it; renew({ preferredChain }) switches; a non-string is refused before anything is sent', async () => {
    const state = tempDir();
    const name = 'library.chain.example.test';
    const req = { domains: [name], server: pebble.directoryUrl, caBundle: pebble.caBundle, webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@example.test' };
    const out = await libIssue({ ...req, preferredChain: roots[2]!.cn }, { stateDir: state });
    expect(out.result).toBe('issued');
    for (let j = 0; j < 3; j++) expect(verify(state, name, roots[j]!.file)).toBe(j === 2);
    expect(settings(state, name).preferredChain).toBe(roots[2]!.cn);
    const r = await libRenew({ forceRenewal: true, preferredChain: roots[1]!.cn, resolver: pebble.dns.resolver, httpPort: pebble.httpPort }, { stateDir: state });
    expect(r.outcomes.map((o) => o.action)).toEqual(['renewed']);
    for (let j = 0; j < 3; j++) expect(verify(state, name, roots[j]!.file)).toBe(j === 1);
    expect(settings(state, name).preferredChain).toBe(roots[1]!.cn);
    await expect(libIssue({ ...req, domains: ['other.chain.example.test'], preferredChain: 7 as unknown as string }, { stateDir: state })).rejects.toThrow(InputError);
    await expect(libIssue({ ...req, domains: ['other.chain.example.test'], preferredChain: '  ' }, { stateDir: state })).rejects.toThrow('request.preferredChain is empty.');
    expect(q<{ n: number }>(state, 'SELECT COUNT(*) AS n FROM lineages')[0]!.n).toBe(1);
  }, 120_000);
});
