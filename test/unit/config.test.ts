/** The config file: parsing (YAML and JSON), validation messages with file, line and field, defaults. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyDefaults, clearConfigCache, defaultConfigPath, loadConfig, parseConfig, parseDuration } from '../../src/core/config/index.js';
import { InputError } from '../../src/core/errors.js';
import { policyFor } from '../../src/core/limits/policies.js';

async function errorOf(text: string, file = '/etc/certctl/config.yaml'): Promise<InputError> {
  try {
    await parseConfig(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected the config to be refused');
}

const GOOD = `# certctl config
defaults:
  email: ops@example.com
  keyType: rsa:3072
  webroot: /var/www/html
  httpPort: 8080
  concurrency: 4
  renewDays: 30
  hooks:
    deployHook: systemctl reload nginx
policies:
  letsencrypt:
    certificates-per-domain: { capacity: 300 }
    duplicate-certificates:
      capacity: 10
      period: 7d
certificates:
  - domains: [example.com, www.example.com]
  - name: api
    domains:
      - api.example.com
    standalone: "127.0.0.1:8402"
    keyType: dual
`;

describe('parseConfig', () => {
  it('reads a full YAML file: defaults, policies, certificates with their lines', async () => {
    const c = await parseConfig(GOOD, '/etc/certctl/config.yaml');
    expect(c.defaults).toEqual({
      email: 'ops@example.com',
      keyType: 'rsa:3072',
      webroot: '/var/www/html',
      httpPort: 8080,
      concurrency: 4,
      renewDays: 30,
      hooks: { deployHook: 'systemctl reload nginx' },
    });
    expect(c.certificates).toHaveLength(2);
    expect(c.certificates[0]).toMatchObject({ domains: ['example.com', 'www.example.com'], line: 18 });
    expect(c.certificates[1]).toMatchObject({ name: 'api', domains: ['api.example.com'], standalone: '127.0.0.1:8402', keyType: 'dual', line: 19 });
    const p = policyFor('letsencrypt', c.policies);
    expect(p.limits['certificates-per-domain']).toMatchObject({ kind: 'bucket', capacity: 300 });
    // capacity 10 over 7 days → one token back every 16.8 h.
    expect(p.limits['duplicate-certificates']).toMatchObject({ kind: 'bucket', capacity: 10, refillMs: (7 * 86_400_000) / 10 });
  });

  it('reads JSON too, with lines', async () => {
    const json = '{\n  "certificates": [\n    { "domains": ["a.example.com"] },\n    { "domains": "b.example.com" }\n  ]\n}\n';
    const e = await errorOf(json, 'certctl.json');
    expect(e.message).toBe('certctl.json:4: certificates[1].domains: expected a list of names');
    const ok = await parseConfig('{"certificates":[{"domains":["a.example.com"]}]}', 'c.json');
    expect(ok.certificates[0]!.domains).toEqual(['a.example.com']);
  });

  it('names the file, line and field of every problem, all at once', async () => {
    const text = `defaults:
  httpPort: 99999
  colour: blue
certificates:
  - domains: [example.com]
  - domains: example.org
  - name: ../evil
    domains: [ok.example.com]
    webroot: /srv
    standalone: true
  - domains: ["bad name.example"]
    keyType: dsa
`;
    const e = await errorOf(text, 'config.yaml');
    const lines = e.message.split('\n');
    expect(lines).toEqual([
      'config.yaml:2: defaults.httpPort: expected a whole number from 1 to 65535, got number 99999',
      expect.stringMatching(/^config\.yaml:3: defaults\.colour: unknown field; expected one of: ca, server, email/),
      'config.yaml:6: certificates[1].domains: expected a list of names',
      expect.stringMatching(/^config\.yaml:7: certificates\[2\]\.name: "\.\.\/evil" cannot be used as a certificate name/),
      'config.yaml:10: certificates[2].standalone: give either webroot or standalone, not both',
      expect.stringMatching(/^config\.yaml:11: certificates\[3\]\.domains: /),
      expect.stringMatching(/^config\.yaml:12: certificates\[3\]\.keyType: Unknown key type "dsa"/),
    ]);
    expect(e.exitCode).toBe(2);
    expect(e.hint).toMatch(/7 problems/);
  });

  it('a missing domains field and a certificate that is not a mapping', async () => {
    const e = await errorOf('certificates:\n  - name: x\n  - just-a-string\n', 'c.yaml');
    expect(e.message.split('\n')).toEqual(['c.yaml:2: certificates[0].domains: missing: expected a list of names', 'c.yaml:3: certificates[1]: expected a mapping with at least "domains", got string "just-a-string"']);
  });

  it('the same lineage twice is refused', async () => {
    const e = await errorOf('certificates:\n  - domains: [a.example.com]\n  - domains: [a.example.com, b.example.com]\n    name: a.example.com\n', 'c.yaml');
    expect(e.message).toBe('c.yaml:3: certificates[1]: declares the same lineage name "a.example.com" as certificates[0]');
  });

  it('policy overrides: unknown limits, bad numbers and durations, incomplete new limits', async () => {
    const text = `policies:
  letsencrypt:
    certificates-per-day: { capacity: 3 }
    new-orders: { capacity: -1 }
    duplicate-certificates: { period: soon }
  mycorp:
    certificates-per-domain: { count: 10 }
`;
    const e = await errorOf(text, 'c.yaml');
    expect(e.message.split('\n')).toEqual([
      expect.stringMatching(/^c\.yaml:3: policies\.letsencrypt\.certificates-per-day: unknown rate limit; expected one of: certificates-per-domain/),
      'c.yaml:4: policies.letsencrypt.new-orders.capacity: expected a whole number ≥ 1, got number -1',
      'c.yaml:5: policies.letsencrypt.duplicate-certificates.period: expected a duration such as "7d", "3h", "36s" or milliseconds, got string "soon"',
      // an unknown policy id starts from the conservative default (a window): count alone is enough
    ]);
    const ok = await parseConfig('policies:\n  mycorp:\n    certificates-per-domain: { count: 10 }\n', 'c.yaml');
    expect(policyFor('mycorp', ok.policies).limits['certificates-per-domain']).toMatchObject({ kind: 'window', count: 10 });
    const e2 = await errorOf('policies:\n  letsencrypt:\n    pending-orders: { count: 5 }\n', 'c.yaml');
    expect(e2.message).toMatch(/^c\.yaml:2: policies\.letsencrypt: Policy override letsencrypt\.pending-orders adds a limit but gives no "kind"/);
  });

  it('JSON is read without the YAML parser, with the same value, lines and refusals (a repeated key, even escaped, is still one)', async () => {
    const text = '{\n  "defaults": { "email": "a@example.com", "httpPort": 8080 },\n  "certificates": [\n    { "domains": ["a.example.com"], "keyType": "ecdsa:p256" },\n    { "domains": ["b.example.com"], "n\\u0061me": "b\\u002dname" }\n  ]\n}\n';
    const ok = await parseConfig(text, 'c.json');
    expect(ok.certificates.map((c) => c.domains)).toEqual([['a.example.com'], ['b.example.com']]);
    expect(ok.defaults.email).toBe('a@example.com');
    const bad = text.replace('"httpPort": 8080', '"httpPort": 99999');
    expect((await errorOf(bad, 'c.json')).message).toMatch(/^c\.json:2: defaults\.httpPort: /);
    for (const dup of ['{"defaults": {"email": "a@example.com", "email": "b@example.com"}}', '{"defaults": {"email": "a@example.com", "\\u0065mail": "b@example.com"}}']) {
      expect((await errorOf(dup, 'c.json')).message).toMatch(/^c\.json:1: not valid YAML or JSON: /);
    }
    // In a fresh process: a good JSON config of defaults never loads the yaml package (declared
    // certificates do: each keeps its line, which the YAML parser finds).
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      const { parseConfig } = await import(${JSON.stringify(path.resolve('dist/core/config/index.js'))});
      await parseConfig(${JSON.stringify(text.replace(/,\n  "certificates"[^]*\]/, ''))}, 'c.json');
      console.log(Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules[\\\\/]yaml[\\\\/]/.test(f)).length);`], { encoding: 'utf8' });
    expect({ out: r.stdout.trim(), err: r.stderr }).toEqual({ out: '0', err: '' });
  });

  it('syntax errors carry the line', async () => {
    const e = await errorOf('defaults:\n  email: a\n  email: b\n', 'c.yaml');
    expect(e.message).toMatch(/^c\.yaml:3: not valid YAML or JSON: /);
    const e2 = await errorOf('{\n "defaults": {\n   "email": "a",\n }\n', 'c.json');
    expect(e2.message).toMatch(/^c\.json:\d: not valid YAML or JSON/);
  });

  it('relative paths are relative to the config file', async () => {
    // caBundle must exist when the file is read (its problem then carries file:line).
    const top = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-cfg-'));
    fs.mkdirSync(path.join(top, 'certctl'));
    fs.writeFileSync(path.join(top, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const c = await parseConfig('defaults:\n  webroot: www\n  caBundle: ../ca.pem\n', path.join(top, 'certctl', 'config.yaml'));
    expect(c.defaults.webroot).toBe(path.join(top, 'certctl', 'www'));
    expect(c.defaults.caBundle).toBe(path.join(top, 'ca.pem'));
  });

  it('a missing caBundle or EAB key file: file:line and the field', async () => {
    const e = await errorOf('defaults:\n  email: ops@example.com\n  caBundle: /nonexistent/ca.pem\n  eabHmacKeyFile: /nonexistent/hmac\n', '/etc/certctl/config.yaml');
    expect(e.message).toMatch(/^\/etc\/certctl\/config\.yaml:3: defaults\.caBundle: the CA bundle \/nonexistent\/ca\.pem does not exist$/m);
    expect(e.message).toMatch(/^\/etc\/certctl\/config\.yaml:4: defaults\.eabHmacKeyFile: the EAB HMAC key file \/nonexistent\/hmac does not exist$/m);
    expect(e.hint).toMatch(/Fix the config file/);
  });

  it('NUL and other control characters in any string field: refused with the field, escaped', async () => {
    const e = await errorOf('defaults:\n  webroot: "/var/www\\0x"\n  email: "a\\e[2J@example.com"\n', 'c.yaml');
    expect(e.message).toMatch(/c\.yaml:2: defaults\.webroot: contains a control character.*\\u0000/);
    expect(e.message).toMatch(/c\.yaml:3: defaults\.email: contains a control character/);
    expect(e.message).not.toMatch(/[\u0000\u001b]/);
  });

  it('a YAML alias bomb: an InputError with file:line, not the parser\'s "Excessive alias count"', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const p = String.fromCharCode(96 + i);
      lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${p}`).join(', ')}]`);
    }
    const e = await errorOf(lines.join('\n'), 'bomb.yaml');
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/^bomb\.yaml:2: YAML aliases \(\*name\) expand to too much/);
  });

  it('EAB fields and forceWebroot are accepted in defaults', async () => {
    const c = await parseConfig('defaults:\n  eabKid: kid-1\n  eabHmacKey: zWNDZM6eQGHWpSRTPal5eIUYFTu7EajV\n  forceWebroot: true\n', 'c.yaml');
    expect(c.defaults).toMatchObject({ eabKid: 'kid-1', eabHmacKey: 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajV', forceWebroot: true });
  });

  it('an empty file is an empty config; a list at the top is not', async () => {
    expect((await parseConfig('', 'c.yaml')).certificates).toEqual([]);
    expect((await errorOf('- a\n', 'c.yaml')).message).toMatch(/^c\.yaml:1: \(top level\): expected a mapping/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['7d', 604_800_000],
    ['3h', 10_800_000],
    ['36s', 36_000],
    ['36min', 2_160_000],
    ['1w', 604_800_000],
    [1500, 1500],
  ])('%s', (v, ms) => expect(parseDuration(v)).toBe(ms));
  it.each(['', '7', 'soon', -5, 0, '0d', null])('refuses %s', (v) => expect(parseDuration(v)).toBeUndefined());
});

describe('where the file is', () => {
  it('root reads /etc/certctl, others $XDG_CONFIG_HOME or ~/.config', () => {
    expect(defaultConfigPath({}, 0)).toBe('/etc/certctl/config.yaml');
    expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x/cfg' }, 1000)).toBe('/x/cfg/certctl/config.yaml');
    expect(defaultConfigPath({}, 1000)).toBe(path.join(os.homedir(), '.config/certctl/config.yaml'));
  });

  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-config-'));
    clearConfigCache();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing default file is an empty config; config.json is read when there is no config.yaml; a missing --config is an error', async () => {
    const env = { XDG_CONFIG_HOME: dir };
    expect((await loadConfig(undefined, env, 1000)).file).toBeNull();
    clearConfigCache();
    fs.mkdirSync(path.join(dir, 'certctl'));
    fs.writeFileSync(path.join(dir, 'certctl/config.json'), '{"defaults": {"email": "j@example.com"}}');
    expect((await loadConfig(undefined, env, 1000)).defaults.email).toBe('j@example.com');
    await expect(loadConfig(path.join(dir, 'nope.yaml'))).rejects.toThrow(/does not exist/);
  });
});

describe('applyDefaults', () => {
  const config = { file: 'c.yaml', defaults: { ca: 'pebble', keyType: 'rsa', webroot: '/srv/www', email: 'a@example.com', httpPort: 5002, concurrency: 4, renewDays: 20, hooks: { deployHook: 'reload' } }, policies: {}, certificates: [] };

  it('fills what the command line left out; a given flag wins', () => {
    const given = new Set(['keyType', 'domain']);
    const o = applyDefaults({ domain: ['a.example.com'], keyType: 'ecdsa', email: undefined as string | undefined }, config, 'issue', (k) => given.has(k));
    expect(o).toEqual({ domain: ['a.example.com'], keyType: 'ecdsa', email: 'a@example.com', ca: 'pebble', webroot: '/srv/www', httpPort: 5002 });
  });

  it('a default from commander (not given) is replaced', () => {
    const o = applyDefaults({ keyType: 'ecdsa' }, config, 'issue', () => false);
    expect(o.keyType).toBe('rsa');
  });

  it('--standalone suppresses the default webroot; --server suppresses the default CA', () => {
    const o = applyDefaults({ standalone: true as const, server: 'https://ca.example/dir' } as Record<string, unknown>, config, 'issue');
    expect(o.webroot).toBeUndefined();
    expect(o.ca).toBeUndefined();
  });

  it('renew takes hooks, days and concurrency', () => {
    const o = applyDefaults({ concurrency: 1, randomSleep: true }, config, 'renew', (k) => k === 'randomSleep');
    expect(o).toEqual({ concurrency: 4, randomSleep: true, days: 20, deployHook: 'reload', httpPort: 5002 });
  });
});

describe('the README example', () => {
  it('parses and validates', async () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const at = readme.indexOf('## Config file');
    const block = /```yaml\n([\s\S]*?)```/.exec(readme.slice(at))![1]!;
    const c = await parseConfig(block, '/etc/certctl/config.yaml');
    expect(c.certificates.map((x) => x.name ?? x.domains[0])).toEqual(['example.com', 'api']);
    expect(policyFor('letsencrypt', c.policies).limits['certificates-per-domain']).toMatchObject({ capacity: 300 });
  });
});
