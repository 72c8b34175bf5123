/**
 * Every input is validated before anything is sent or written (issue #12).
 *
 * The batteries run the built CLI against certctl's ACME test proxy in front
 * of a real Pebble, on a state directory that already holds an issued
 * lineage, and assert for each bad input: exit 2, one "error:" sentence (plus
 * its hint), NOTHING sent (every endpoint counted at the proxy, accounts and
 * the directory included), NOTHING written (the state directory's tree with
 * sizes and mtimes, the webroot's tree, every ledger table's row count).
 * Then the positive side: 253-character names, redaction of tokens / EAB
 * HMAC / keys in --verbose and CA problem details, hostile CA tokens, the
 * webroot left as it was found, EPIPE.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, BIN, q } from '../helpers/cli.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startChallTestSrv, type ChallTestSrv } from '../../testkit/challtestsrv.js';
import { startWebroot, type Webroot } from '../../testkit/webroot.js';
import { startSm2AcmeServer, type Sm2AcmeServer } from '../../testkit/sm2-acme-server.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
/** A state directory holding one issued lineage (held.example.test): what must stay exactly as it is. */
let state: string;

beforeAll(async () => {
  // No nonce rejections: request counts at the proxy are exact.
  pebble = await startPebble({ nonceReject: 0 });
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
  state = tempDir();
  const r = await runCli([...issueArgs(state), '-d', 'held.example.test']);
  expect(r.code, r.stderr).toBe(0);
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => {
  proxy.rewriteTokens(null);
  proxy.clearFaults();
  proxy.resetObservations();
});

function issueArgs(dir: string, webroot = pebble.webroot): string[] {
  return ['--state-dir', dir, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--webroot', webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}

/** Every path below `root` with its type, size and mtime: any write shows. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      // SQLite's own side files: the test's read-only reader creates them; the ledger's content is compared row by row instead.
      if (/\.sqlite-(wal|shm)$/.test(e.name)) continue;
      const st = fs.lstatSync(p);
      out.push(`${path.relative(root, p)} ${e.isDirectory() ? 'd' : e.isSymbolicLink() ? `l->${fs.readlinkSync(p)}` : 'f'} ${e.isDirectory() ? '' : `${st.size} ${st.mtimeMs}`}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

/** Row count of every table of a state directory's ledger ({} when there is none). */
function rows(dir: string): Record<string, number> {
  const file = path.join(dir, 'ledger.sqlite');
  if (!fs.existsSync(file)) return {};
  const db = new Database(file, { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((t) => t.name);
    return Object.fromEntries(tables.map((t) => [t, (db.prepare(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

/** All text of every ledger row, for "never stored in clear". */
function ledgerText(dir: string): string {
  const db = new Database(path.join(dir, 'ledger.sqlite'), { readonly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((t) => t.name);
    return tables.map((t) => JSON.stringify(db.prepare(`SELECT * FROM "${t}"`).all())).join('\n');
  } finally {
    db.close();
  }
}

interface Snapshot {
  state: string[];
  webroot: string[];
  rows: Record<string, number>;
  ledger: string;
}
/** The state directory's files, the webroot's files, and the ledger's every row (not only how many). */
const snap = (webroot = pebble.webroot): Snapshot => ({ rows: rows(state), ledger: ledgerText(state), state: tree(state), webroot: tree(webroot) });

/** The refusal contract: exit 2, an "error:" sentence first, nothing sent, nothing written. */
async function expectRefused(args: string[], message: RegExp, opts: { webroot?: string; env?: Record<string, string> } = {}): Promise<string> {
  const before = snap(opts.webroot);
  proxy.resetObservations();
  const r = await runCli(args, opts.env);
  expect(r.code, r.stderr + r.stdout).toBe(2);
  expect(r.stderr.split('\n')[0]).toMatch(/^error: /);
  expect(r.stderr).toMatch(message);
  // One sentence and its hint: no stack trace, no echo of garbage.
  expect(r.stderr).not.toMatch(/\n\s+at |internal error|TypeError/);
  expect(r.stderr.length).toBeLessThan(800);
  expect(r.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  expect(proxy.total(), JSON.stringify(proxy.counts)).toBe(0);
  expect(snap(opts.webroot)).toEqual(before);
  return r.stderr;
}

/** A name of exactly `total` characters: labels of at most 63 characters, ending in `suffix`. */
const LONG_LABELS = (total: number, suffix = '.example.test'): string => {
  let rest = total - suffix.length;
  const labels: string[] = [];
  while (rest > 0) {
    let len = Math.min(63, rest);
    if (rest - len === 1) len -= 1; // never leave room for a dot alone
    labels.push(String.fromCharCode(97 + (labels.length % 26)).repeat(len));
    rest -= len < rest ? len + 1 : len;
  }
  const name = labels.join('.') + suffix;
  if (name.length !== total) throw new Error(`LONG_LABELS: ${name.length} != ${total}`);
  return name;
};

describe('bad names, options and webroots: refused with nothing sent and nothing written', () => {
  const name254 = LONG_LABELS(254);
  const cases: [string, string[], RegExp][] = [
    // Every rule of src/core/names.ts
    ['an empty -d', ['-d', ''], /No names given/],
    ['a blank name', ['-d', '   '], /empty name/],
    ['a control character', ['-d', 'a\u001b[31m.example.test'], /control character/],
    ['a line break', ['-d', 'a\nb.example.test'], /control character/],
    ['a space', ['-d', 'a b.example.test'], /not a domain name/],
    ['a URL', ['-d', 'http://a.example.test/'], /not a domain name/],
    ['path traversal in a name', ['-d', '../../etc/passwd'], /not a domain name/],
    ['a port', ['-d', 'a.example.test:443'], /not a domain name/],
    ['an e-mail address', ['-d', 'root@a.example.test'], /not a domain name/],
    ['a query', ['-d', 'a.example.test?x'], /not a domain name/],
    ['shell: $(…)', ['-d', '$(touch${IFS}pwned).example.test'], /invalid label|not a domain name/],
    ['shell: backticks', ['-d', '`id`.example.test'], /invalid label|not a domain name/],
    ['shell: ;', ['-d', 'a;id.example.test'], /invalid label|not a domain name/],
    ['shell: |&><', ['-d', 'a|b&c>d<e.example.test'], /invalid label|not a domain name|IDNA/],
    ['shell: quotes', ['-d', `a'b"c.example.test`], /invalid label|not a domain name|IDNA/],
    ['an IP address', ['-d', '192.0.2.1'], /IP address/],
    ['a wildcard (HTTP-01)', ['-d', '*.example.test'], /wildcards cannot be validated with HTTP-01/],
    ['a wildcard in the middle', ['-d', 'a.*.example.test'], /wildcard may only be the whole leftmost label/],
    ['IDNA failure', ['-d', 'xn--zz.example.test'], /IDNA|invalid label/],
    ['254 characters', ['-d', name254], /longer than 253 characters/],
    ['a single label', ['-d', 'localhost'], /single label/],
    ['a label of 64', ['-d', `${'a'.repeat(64)}.example.test`], /invalid label/],
    ['a leading hyphen', ['-d', '-bad.example.test'], /invalid label/],
    ['an underscore', ['-d', 'a_b.example.test'], /invalid label/],
    ['an empty label', ['-d', 'a..example.test'], /invalid label|IDNA/],
    ['a numeric TLD', ['-d', 'example.123'], /numeric label|IDNA/],
    ['a public suffix', ['-d', 'co.uk'], /public suffix/],
    ['a duplicate', ['-d', 'a.example.test', '-d', 'A.example.test.'], /given twice/],
    // Lineage names
    ['--cert-name ""', ['-d', 'x.example.test', '--cert-name', ''], /cannot be used as a certificate name \(it is empty\)/],
    ['--cert-name ..', ['-d', 'x.example.test', '--cert-name', '..'], /cannot be used as a certificate name/],
    ['--cert-name ../../etc', ['-d', 'x.example.test', '--cert-name', '../../etc'], /cannot be used as a certificate name/],
    ['--cert-name a/b', ['-d', 'x.example.test', '--cert-name', 'a/b'], /cannot be used as a certificate name/],
    ['--cert-name .hidden', ['-d', 'x.example.test', '--cert-name', '.hidden'], /cannot be used as a certificate name/],
    ['--cert-name $(id)', ['-d', 'x.example.test', '--cert-name', '$(id)'], /cannot be used as a certificate name/],
    ['--cert-name of 201', ['-d', 'x.example.test', '--cert-name', 'a'.repeat(201)], /longer than 200 characters/],
    // Other options
    ['--key-type dsa', ['-d', 'x.example.test', '--key-type', 'dsa'], /Unknown key type/],
    ['--http-port abc', ['-d', 'x.example.test', '--http-port', 'abc'], /--http-port "abc" must be a whole number/],
    ['--http-port 70000', ['-d', 'x.example.test', '--http-port', '70000'], /--http-port "70000" must be a whole number/],
    ['--lock-wait soon', ['-d', 'x.example.test', '--lock-wait', 'soon'], /--lock-wait "soon" must be a number of seconds/],
    ['--email not-an-address', ['-d', 'x.example.test', '--email', 'ops at example'], /is not an e-mail address/],
    ['--email with mailto:', ['-d', 'x.example.test', '--email', 'mailto:ops@example.com'], /is not an e-mail address/],
    ['--profile with a space', ['-d', 'x.example.test', '--profile', 'a b'], /is not a profile name/],
    ['--resolver by name', ['-d', 'x.example.test', '--resolver', 'dns.example'], /--resolver/],
    ['--ca-bundle missing', ['-d', 'x.example.test', '--ca-bundle', '/nonexistent/ca.pem'], /--ca-bundle: the CA bundle \/nonexistent\/ca.pem does not exist/],
    ['--eab-kid alone', ['-d', 'x.example.test', '--eab-kid', 'kid-1'], /needs the HMAC key/],
    ['--eab-hmac-key alone', ['-d', 'x.example.test', '--eab-hmac-key', 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W'], /without its key id/],
    ['--eab-hmac-key not base64url', ['-d', 'x.example.test', '--eab-kid', 'k', '--eab-hmac-key', 'not/base64+url=key!!'], /not base64url/],
    ['--eab-hmac-key-file missing', ['-d', 'x.example.test', '--eab-kid', 'k', '--eab-hmac-key-file', '/nonexistent/hmac'], /--eab-hmac-key-file "\/nonexistent\/hmac" does not exist/],
    ['--server ftp://', ['-d', 'x.example.test', '--server', 'ftp://ca.example/dir'], /not an http\(s\) URL/],
    // Webroots that are not document roots
    ['--webroot /etc', ['-d', 'x.example.test', '--webroot', '/etc'], /The webroot \/etc is a system directory/],
    ['--webroot /', ['-d', 'x.example.test', '--webroot', '/'], /The webroot \/ is a system directory/],
    ['--webroot /usr', ['-d', 'x.example.test', '--webroot', '/usr'], /is a system directory/],
    ['--webroot /proc/self', ['-d', 'x.example.test', '--webroot', '/proc/self'], /is a system directory/],
    ['--webroot /var/lib', ['-d', 'x.example.test', '--webroot', '/var/lib'], /is a system directory/],
    ['--webroot a missing dir', ['-d', 'x.example.test', '--webroot', '/nonexistent/www'], /does not exist/],
    ['--webroot ""', ['-d', 'x.example.test', '--webroot', ''], /--webroot is empty/],
  ];
  for (const [what, extra, message] of cases) {
    it(`refuses ${what}`, async () => {
      await expectRefused([...issueArgs(state), ...extra], message);
    });
  }

  it('refuses the state directory itself (and a directory inside it) as the webroot', async () => {
    await expectRefused([...issueArgs(state, state), '-d', 'x.example.test'], /is certctl's state directory/, { webroot: state });
    await expectRefused([...issueArgs(state, path.join(state, 'live')), '-d', 'x.example.test'], /is inside certctl's state directory/, { webroot: state });
  });

  it('refuses a webroot whose .well-known is a file, without creating anything', async () => {
    const webroot = tempDir();
    fs.writeFileSync(path.join(webroot, '.well-known'), 'not a directory');
    await expectRefused([...issueArgs(state, webroot), '-d', 'x.example.test'], /Cannot write into .*not a directory/, { webroot });
  });

  it('a fresh state directory stays empty: --cert-name "" creates no ledger, no account, no lineage', async () => {
    const fresh = tempDir();
    proxy.resetObservations();
    const r = await runCli([...issueArgs(fresh), '-d', 'e.example.test', '--cert-name', '']);
    expect(r.code).toBe(2);
    expect(fs.readdirSync(fresh)).toEqual([]);
    expect(proxy.total()).toBe(0);
    expect(tree(pebble.webroot)).toEqual([]);
  });

  it('renew, plan, check and status refuse bad values before opening the ledger', async () => {
    const fresh = tempDir();
    const g = ['--state-dir', fresh];
    for (const [args, msg] of [
      [['renew', '--no-random-sleep', '--concurrency', '0'], /--concurrency "0" must be a whole number from 1 to 64/],
      [['renew', '--no-random-sleep', '--days', 'soon'], /--days "soon" must be a positive number/],
      [['renew', '--no-random-sleep', '--lock-wait', '-1'], /--lock-wait "-1"/],
      [['renew', '--no-random-sleep', '--cert-name', '../x'], /cannot be used as a certificate name/],
      [['renew', '--no-random-sleep', '--http-port', '0'], /--http-port "0"/],
      [['plan', '-d', 'x.example.test', '--key-type', 'dsa'], /Unknown key type/],
      [['plan', '-d', ''], /-d was given an empty name/],
      [['plan', '-d', 'x.example.test', '--ct-url', 'file:///etc/passwd'], /--ct-url/],
      [['check', '-d', 'x.example.test', '--webroot', '/etc'], /is a system directory/],
      [['status', '--nginx', '../../etc'], /cannot be used as a certificate name/],
      [['csr', '-d', 'x.example.test', '--out', 'a\nb'], /--out .* contains a control character/],
    ] as [string[], RegExp][]) {
      const r = await runCli([...g, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(fs.readdirSync(fresh), args.join(' ')).toEqual([]);
    }
  });
});

describe('bad config files: file:line, capped and escaped, nothing sent or written', () => {
  const writeConfig = (text: string | Buffer): string => {
    const f = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(f, text);
    return f;
  };
  const issueWith = (config: string) => ['--config', config, ...issueArgs(state), '-d', 'cfg.example.test'];
  // The defaults in these files would apply to issue; the flags above do not override a broken file.

  it('a YAML alias bomb: refused with its file:line, not "Excessive alias count" exit 1', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) lines.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`);
    const f = writeConfig(lines.join('\n') + '\n');
    const err = await expectRefused(issueWith(f), new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: YAML aliases`));
    expect(err).not.toMatch(/Excessive alias count/);
  });

  it('a 10 MB binary file: one short line, no bytes of it echoed', async () => {
    const buf = Buffer.alloc(10 * 1024 * 1024);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 7919 + 13) % 256;
    const f = writeConfig(buf);
    const err = await expectRefused(issueWith(f), /is 10485760 bytes; certctl reads config files of at most/);
    expect(err.length).toBeLessThan(400);
  });

  it('a small binary file: "not a text file" with its line', async () => {
    const f = writeConfig(Buffer.concat([Buffer.from('defaults:\n  email: ops@example.com\n'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01, 0x1b, 0x5b])]));
    await expectRefused(issueWith(f), /:3: not a text file \(it contains a NUL byte\)/);
  });

  it('invalid UTF-8: refused with its line', async () => {
    const f = writeConfig(Buffer.concat([Buffer.from('defaults:\n  email: "ops'), Buffer.from([0xc3, 0x28]), Buffer.from('@example.com"\n')]));
    await expectRefused(issueWith(f), /:2: not UTF-8 text/);
  });

  it('syntax errors echo at most a short, escaped excerpt', async () => {
    const f = writeConfig(`defaults: {email: "\u001b[2J${'x'.repeat(5000)}\n`);
    await expectRefused(issueWith(f), /not valid YAML or JSON/);
  });

  for (const [field, yaml] of [
    ['webroot', 'defaults:\n  webroot: "/var/www\\0/html"\n'],
    ['email', 'defaults:\n  email: "ops@example.com\\0"\n'],
    ['caBundle', 'defaults:\n  caBundle: "ca\\0.pem"\n'],
    ['server', 'defaults:\n  server: "https://ca.example/dir\\0"\n'],
    ['resolver', 'defaults:\n  resolver: "127.0.0.1\\0:53"\n'],
    ['hooks.deployHook', 'defaults:\n  hooks:\n    deployHook: "systemctl reload nginx\\0; rm -rf /"\n'],
  ] as const) {
    it(`NUL through the config (${field}): refused with file:line and the field`, async () => {
      const f = writeConfig(yaml);
      await expectRefused(issueWith(f), new RegExp(`config\\.yaml:\\d+: defaults\\.${field.replace('.', '\\.')}: contains a control character`));
    });
  }

  it('NUL in a declared domain (apply): refused, nothing sent', async () => {
    const f = writeConfig(`defaults:\n  webroot: ${pebble.webroot}\ncertificates:\n  - domains: ["a\\0.example.test"]\n`);
    await expectRefused(['--config', f, '--state-dir', state, 'apply'], /config\.yaml:4: certificates\[0\]\.domains: .*control character/);
  });

  it('a missing caBundle: file:line and the field, not the flag', async () => {
    const f = writeConfig('defaults:\n  email: ops@example.com\n  caBundle: missing-ca.pem\n');
    const err = await expectRefused(['--config', f, '--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--webroot', pebble.webroot, '-d', 'cfg.example.test'], /config\.yaml:3: defaults\.caBundle: the CA bundle .*missing-ca\.pem does not exist/);
    expect(err).not.toMatch(/--ca-bundle/);
    expect(err).toMatch(/Fix the config file/);
  });

  it('webroot: /etc from a config file: refused, naming the config field', async () => {
    const f = writeConfig('defaults:\n  webroot: /etc\n');
    await expectRefused(['--config', f, '--state-dir', state, 'issue', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '-d', 'cfg.example.test'], /The webroot \/etc is a system directory.*\n.*config\.yaml: defaults\.webroot/);
  });

  it('a 253-character name declared in the config is accepted by validation (apply --dry-run)', async () => {
    const f = writeConfig(`defaults:\n  webroot: ${pebble.webroot}\n  server: ${proxy.directoryUrl}\ncertificates:\n  - domains: ["${LONG_LABELS(253)}"]\n`);
    const r = await runCli(['--config', f, '--state-dir', state, 'apply', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.counts.newOrder).toBe(0);
  });
});

describe('long names get a safe, shortened lineage name', () => {
  // Pebble's own DNS client cannot resolve names this long ("dns: overflowing header size"), so these
  // run against certctl's SM2 ACME test server (it resolves through pebble-challtestsrv with node:dns).
  let dns: ChallTestSrv;
  let web: Webroot;
  let srv: Sm2AcmeServer;
  beforeAll(async () => {
    dns = await startChallTestSrv();
    web = await startWebroot();
    srv = await startSm2AcmeServer({ resolver: dns.resolver, httpPort: web.port });
  });
  afterAll(async () => {
    await srv?.stop();
    await web?.stop();
    await dns?.stop();
  });
  for (const len of [201, 253]) {
    it(`a ${len}-character name issues; the lineage is shortened deterministically; issuing again is "already held"`, async () => {
      const dir = tempDir();
      const name = LONG_LABELS(len);
      const args = ['--state-dir', dir, 'issue', '--ca', 'sm2acme', '--server', srv.directoryUrl, '--ca-bundle', srv.tlsCert, '--webroot', web.dir, '--resolver', dns.resolver, '--http-port', String(web.port), '-d', name];
      const r = await runCli([...args, '--json']);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const doc = JSON.parse(r.stdout) as { lineage: string; certificates: { names: string[] }[] };
      expect(doc.certificates[0]!.names).toEqual([name]);
      expect(doc.lineage.length).toBeLessThanOrEqual(190);
      expect(doc.lineage).toMatch(/^[a-z0-9][a-z0-9.-]*-[0-9a-f]{10}$/);
      expect(name.startsWith(doc.lineage.slice(0, 100))).toBe(true);
      expect(fs.readdirSync(path.join(dir, 'live'))).toEqual([doc.lineage]);
      const finalized = srv.stats.finalize;
      const again = await runCli(args);
      expect(again.code, again.stderr).toBe(3);
      expect(again.stdout).toContain(doc.lineage);
      expect(srv.stats.finalize).toBe(finalized);
    });
  }
});

describe('secrets and tokens are never shown', () => {
  const HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
  let eabPebble: Pebble;
  beforeAll(async () => {
    eabPebble = await startPebble({ nonceReject: 0, eab: { 'kid-1': HMAC } });
  });
  afterAll(async () => {
    await eabPebble?.stop();
  });
  const eabArgs = (dir: string) => ['--state-dir', dir, 'issue', '--server', eabPebble.directoryUrl, '--ca-bundle', eabPebble.caBundle, '--webroot', eabPebble.webroot, '--resolver', eabPebble.dns.resolver, '--http-port', String(eabPebble.httpPort), '--eab-kid', 'kid-1', '--verbose'];
  const tokensSeen = (p: Pebble) => p.webHits.map((u) => /acme-challenge\/([^/?]+)$/.exec(u)?.[1]).filter((t): t is string => Boolean(t && t.length >= 22));

  const expectClean = (text: string, tokens: string[]) => {
    expect(text).not.toContain(HMAC);
    expect(text).not.toMatch(/PRIVATE KEY/);
    for (const t of tokens) expect(text).not.toContain(t);
  };

  it('--verbose issue with EAB from a file: no HMAC, no key, no token in any output; the HMAC not in the ledger', async () => {
    const dir = tempDir();
    const keyFile = path.join(tempDir(), 'hmac');
    fs.writeFileSync(keyFile, HMAC + '\n', { mode: 0o600 });
    eabPebble.webHits.length = 0;
    const r = await runCli([...eabArgs(dir), '--eab-hmac-key-file', keyFile, '-d', 'eab.example.test']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/POST|GET/); // --verbose did show the requests
    const tokens = tokensSeen(eabPebble);
    expect(tokens.length).toBeGreaterThan(0);
    expectClean(r.stdout + r.stderr, tokens);
    expect(ledgerText(dir)).not.toContain(HMAC);
    expect(ledgerText(dir)).toContain('kid-1');
  });

  it('EAB from $CERTCTL_EAB_HMAC_KEY and from --eab-hmac-key: works, never echoed', async () => {
    const dir = tempDir();
    const r = await runCli([...eabArgs(dir), '-d', 'eab-env.example.test', '--json'], { CERTCTL_EAB_HMAC_KEY: HMAC });
    expect(r.code, r.stderr).toBe(0);
    expectClean(r.stdout + r.stderr, tokensSeen(eabPebble));
    const dir2 = tempDir();
    const r2 = await runCli([...eabArgs(dir2), '-d', 'eab-argv.example.test', '--eab-hmac-key', HMAC]);
    expect(r2.code, r2.stderr).toBe(0);
    expectClean(r2.stdout + r2.stderr, tokensSeen(eabPebble));
  });

  it('a wrong EAB HMAC: the CA refuses, and the refusal does not show the key', async () => {
    const dir = tempDir();
    const wrong = 'A'.repeat(43) + 'Q';
    const r = await runCli([...eabArgs(dir), '-d', 'eab-bad.example.test', '--json'], { CERTCTL_EAB_HMAC_KEY: wrong });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(1);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('a failed validation: exit 7, the CA detail shown with the token redacted (text and JSON)', async () => {
    for (const json of [false, true]) {
      const dir = tempDir();
      const unserved = tempDir(); // not what the CA's HTTP-01 port serves
      pebble.webHits.length = 0;
      const r = await runCli([...issueArgs(dir, unserved), '-d', `fail${json ? '-json' : ''}.example.test`, '--no-precheck', '--verbose', ...(json ? ['--json'] : [])]);
      expect(r.code, r.stderr).toBe(7);
      const tokens = tokensSeen(pebble);
      expect(tokens.length).toBeGreaterThan(0);
      const all = r.stdout + r.stderr;
      for (const t of tokens) expect(all).not.toContain(t);
      expect(all).toMatch(/acme-challenge\/\[redacted\]|\[redacted\]/);
      // Nor in the ledger: the CA's detail (which quotes the token) is stored redacted in every table.
      const tables = q<{ name: string }>(dir, "SELECT name FROM sqlite_master WHERE type = 'table'").map((t) => t.name);
      const stored = JSON.stringify(tables.map((t) => q(dir, `SELECT * FROM "${t}"`)));
      expect(stored).toMatch(/\[redacted\]/);
      for (const t of tokens) expect(stored).not.toContain(t);
      // certctl created .well-known/acme-challenge/ in that webroot: gone again.
      expect(fs.readdirSync(unserved)).toEqual([]);
      if (json) expect(() => JSON.parse(r.stdout)).not.toThrow();
    }
  });
});

describe('the webroot is left as it was found', () => {
  it('after a successful issue, the .well-known/acme-challenge/ certctl created is removed', async () => {
    expect(fs.readdirSync(pebble.webroot)).toEqual([]);
    const r = await runCli([...issueArgs(tempDir()), '-d', 'clean.example.test']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(pebble.webroot)).toEqual([]);
  });

  it('an existing .well-known/ with other files is kept; only certctl\'s files go', async () => {
    fs.mkdirSync(path.join(pebble.webroot, '.well-known', 'acme-challenge'), { recursive: true });
    fs.writeFileSync(path.join(pebble.webroot, '.well-known', 'security.txt'), 'Contact: mailto:sec@example.com\n');
    try {
      const before = tree(pebble.webroot);
      const r = await runCli([...issueArgs(tempDir()), '-d', 'keep.example.test']);
      expect(r.code, r.stderr).toBe(0);
      expect(tree(pebble.webroot).map((l) => l.split(' ')[0])).toEqual(before.map((l) => l.split(' ')[0]));
    } finally {
      fs.rmSync(path.join(pebble.webroot, '.well-known'), { recursive: true, force: true });
    }
  });

  it('$HOME as the webroot is refused, and accepted with --force-webroot', async () => {
    const env = { HOME: pebble.webroot };
    await expectRefused([...issueArgs(state), '-d', 'home.example.test'], /is a system directory/, { env });
    const r = await runCli([...issueArgs(tempDir()), '-d', 'home.example.test', '--force-webroot'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readdirSync(pebble.webroot)).toEqual([]);
  });
});

describe('a hostile CA token never becomes a path', () => {
  const hostile: [string, (t: string) => string, RegExp][] = [
    ['../x', () => '../x', /not base64url/],
    ['a/b', () => 'a/b', /not base64url/],
    ['too short', () => 'abc', /only 3 characters long/],
    ['traversal with a valid-looking tail', (t) => `../../../../tmp/${t}`, /not base64url/],
    ['empty', () => '', /empty/],
    ['very long', (t) => t.repeat(10), /characters long/],
    ['non-base64url', (t) => `${t.slice(0, 30)}%2e%2e`, /not base64url/],
  ];
  for (const [what, fn, message] of hostile) {
    it(`token ${what}: exit 8, nothing written outside (or inside) the webroot, nothing answered, the order resumable`, async () => {
      const dir = tempDir();
      // The webroot the CA's HTTP-01 port really serves, so the resumed order can be validated.
      const webroot = pebble.webroot;
      const outside = path.join(path.dirname(webroot), 'x');
      fs.rmSync(outside, { force: true, recursive: true });
      proxy.rewriteTokens(fn);
      const r = await runCli([...issueArgs(dir, webroot), '-d', `hostile-${what.length}-${what.replace(/[^a-z]/g, '')}.example.test`, '--no-precheck']);
      proxy.rewriteTokens(null);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/refusing to use it as a file name/);
      expect(fs.existsSync(outside)).toBe(false);
      expect(fs.readdirSync(webroot)).toEqual([]);
      expect(proxy.counts.challenge).toBe(0);
      expect(proxy.counts.finalize).toBe(0);
      // The order is left open (not failed, not wasted): the next run, against an honest CA, resumes it.
      const open = new Database(path.join(dir, 'ledger.sqlite'), { readonly: true }).prepare("SELECT count(*) AS n FROM orders WHERE state = 'open'").get() as { n: number };
      expect(open.n).toBe(1);
      proxy.resetObservations();
      const again = await runCli([...issueArgs(dir, webroot), '-d', `hostile-${what.length}-${what.replace(/[^a-z]/g, '')}.example.test`, '--no-precheck']);
      expect(again.code, again.stderr).toBe(0);
      expect(proxy.counts.newOrder).toBe(0);
      expect(proxy.issued).toBe(1);
      expect(fs.readdirSync(webroot)).toEqual([]);
    });
  }
});

describe('EPIPE on stdout', () => {
  for (const args of [['status'], ['status', '--json'], ['plan', '-d', 'other.example.test'], ['limits'], ['--help']]) {
    it(`certctl ${args.join(' ')} with its reader gone: exits quietly, no stack trace`, async () => {
      const child = spawn(process.execPath, [BIN, '--state-dir', state, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
      // The reader closes its end before certctl writes anything (as `| head -0` would): every write gets EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
      expect(stderr).toBe('');
      expect(code).toBe(0);
    });
  }
});
