/**
 * Hostile tester: damaged files and a ledger edited by hand, through the built
 * CLI against Pebble behind certctl's ACME test proxy (which counts what the
 * CA did). Each case failed before its fix: an "internal error" exit 1, an
 * order stuck open for ever behind a false message, or a certificate ordered
 * (and a key overwritten) on every run.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
// No nonce rejection: the account tests count newAccount requests exactly (a badNonce resend counts again, testkit/acme-proxy.ts).
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));
beforeEach(() => {
  proxy.clearFaults();
  proxy.resetObservations();
});

function issueArgs(state: string, name: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name, ...extra];
}
function renewArgs(state: string, extra: string[] = []): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];
}
/** Orders the CA created (201), counted at the server. */
const ordersCreated = () => proxy.orders.filter((o) => o.caStatus === 201).length;
function edit(state: string, sql: string): void {
  const db = new Database(path.join(state, 'ledger.sqlite'));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}
async function issued(name: string): Promise<string> {
  const state = tempDir();
  const r = await runCli(issueArgs(state, name));
  expect(r.code, r.stderr).toBe(0);
  proxy.resetObservations();
  return state;
}

describe('a damaged ACME account key', () => {
  for (const [what, damage] of [
    ['cut short', (k: string) => fs.writeFileSync(k, fs.readFileSync(k).subarray(0, 100))],
    ['empty', (k: string) => fs.writeFileSync(k, '')],
    ['garbage', (k: string) => fs.writeFileSync(k, 'hello\n')],
  ] as const) {
    it(`${what}: exit 10 naming the key, never replaced by a new one, no account or order at the CA`, async () => {
      const state = await issued(`acct-${what.replace(/ /g, '')}.example.test`);
      const dir = path.join(state, 'accounts');
      const key = path.join(dir, fs.readdirSync(dir)[0]!, 'account.key');
      damage(key);
      const before = fs.readFileSync(key);
      const r = await runCli(issueArgs(state, `other-${what.replace(/ /g, '')}.example.test`));
      expect(r.code, r.stderr).toBe(10);
      expect(r.stderr).not.toMatch(/internal error|This is a bug/);
      expect(r.stderr).toContain(`The ACME account key ${key}`);
      expect(r.stderr).toContain('is damaged');
      expect(fs.readFileSync(key).equals(before)).toBe(true);
      expect(proxy.counts.newAccount).toBe(0);
      expect(ordersCreated()).toBe(0);
    });
  }

  it('a missing key: the hint names a command that exists, and following it registers a new account', async () => {
    const state = await issued('acct-missing.example.test');
    const dir = path.join(state, 'accounts');
    fs.rmSync(path.join(dir, fs.readdirSync(dir)[0]!, 'account.key'));
    const r = await runCli(issueArgs(state, 'other-missing.example.test'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is missing');
    expect(proxy.counts.newAccount).toBe(0);
    // The hint's command, as printed, works.
    const hinted = /certctl (account forget --server \S+ --yes)/.exec(r.stderr);
    expect(hinted, r.stderr).not.toBeNull();
    const forget = await runCli(['--state-dir', state, ...hinted![1]!.split(' ')]);
    expect(forget.code, forget.stderr).toBe(0);
    const again = await runCli(issueArgs(state, 'other-missing.example.test'));
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.counts.newAccount).toBe(1);
  });
});

describe('a damaged order key in pending/ after the CA issued', () => {
  it('cut short: the order is closed saying so (not "the CA sent a certificate for another key" on every run), the next run gets the certificate', async () => {
    const state = tempDir();
    const name = 'pending-cut.example.test';
    // Killed right after the CA accepted finalize, before its answer arrived (test/helpers/crash.ts).
    const crashed = await killedAt(proxy, 'finalize', 'after', issueArgs(state, name));
    expect(crashed.fired).toBe(true);
    expect(crashed.signal).toBe('SIGKILL');
    expect(proxy.issued).toBe(1);
    const key = path.join(state, 'pending', 'order-1-main.key');
    fs.writeFileSync(key, fs.readFileSync(key).subarray(0, 60));
    const damaged = fs.readFileSync(key);

    proxy.resetObservations();
    const first = await runCli(renewArgs(state));
    expect(first.code).toBe(8);
    expect(first.stdout + first.stderr).toContain(`The private key of order 1 (${key}) is damaged`);
    expect(first.stdout + first.stderr).not.toContain('another key');
    expect(q(state, 'SELECT state FROM orders WHERE id = 1')).toEqual([{ state: 'failed' }]);
    expect(proxy.issued).toBe(0);
    // The damaged file is left as it was (it is evidence, and certctl never deletes a key file it cannot read).
    expect(fs.readFileSync(key).equals(damaged)).toBe(true);

    proxy.resetObservations();
    const second = await runCli(renewArgs(state));
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(proxy.issued).toBe(1);
    expect(ordersCreated()).toBe(1);
    expect(fs.existsSync(path.join(state, 'live', name, 'privkey.pem'))).toBe(true);

    proxy.resetObservations();
    expect((await runCli(renewArgs(state))).code).toBe(0);
    expect(proxy.issued).toBe(0);
    expect(ordersCreated()).toBe(0);
  });
});

describe('a ledger edited by hand', () => {
  for (const [what, sql, column] of [
    ["current_version 'abc'", "UPDATE lineages SET current_version = 'abc'", 'current_version'],
    ['current_version -5', 'UPDATE lineages SET current_version = -5', 'current_version'],
    ['current_version 1.5', 'UPDATE lineages SET current_version = 1.5', 'current_version'],
    ['settings_json garbage', "UPDATE lineages SET settings_json = '{garbage'", 'settings_json'],
    ['settings_json a list', "UPDATE lineages SET settings_json = '[1,2]'", 'settings_json'],
    ['names_json garbage', "UPDATE lineages SET names_json = 'garbage'", 'names_json'],
    ['a certificate row with names_json {}', "UPDATE certificates SET names_json = '{}'", 'names_json'],
  ] as const) {
    it(`${what}: status, renew and issue exit 10 naming the row, no certificate, no file written`, async () => {
      const name = `edit-${column.replace(/_/g, "-")}-${Math.random().toString(36).slice(2, 8)}.example.test`;
      const state = await issued(name);
      edit(state, sql);
      const archive = () => fs.readdirSync(path.join(state, 'archive', name)).sort();
      const files = archive();
      for (const args of [['--state-dir', state, 'status'], renewArgs(state), issueArgs(state, name)]) {
        const r = await runCli(args);
        expect(r.code, `${args[2]}: ${r.stdout}${r.stderr}`).toBe(10);
        expect(r.stdout + r.stderr).not.toMatch(/internal error|This is a bug/);
        expect(r.stdout + r.stderr).toContain(`has a damaged ${column}`);
      }
      expect(proxy.issued).toBe(0);
      expect(ordersCreated()).toBe(0);
      expect(archive()).toEqual(files); // never certNaN.pem / privkeyNaN.pem
    });
  }

  it('current_version pointing at a version not on disk: renew re-binds the version live/ points at, no certificate ordered', async () => {
    const name = 'edit-version7.example.test';
    const state = await issued(name);
    const serial = q<{ serial: string }>(state, 'SELECT serial FROM certificates')[0]!.serial;
    edit(state, 'UPDATE lineages SET current_version = 7');
    const r = await runCli(renewArgs(state, ['--json']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(proxy.issued).toBe(0);
    expect(ordersCreated()).toBe(0);
    expect(q(state, 'SELECT current_version FROM lineages')).toEqual([{ current_version: 1 }]);
    const st = JSON.parse((await runCli(['--state-dir', state, 'status', '--json'])).stdout);
    expect(st.lineages[0].serials).toEqual([serial]);
    expect((await runCli(issueArgs(state, name))).code).toBe(3);
    expect(proxy.issued).toBe(0);
  });
});

describe('files that are not files: /dev/zero, a FIFO', () => {
  // Before: import pem read /dev/zero until the memory ran out, and waited for ever on a FIFO; a
  // caBundle of /dev/zero in a lineage's settings aborted renew (std::bad_alloc, exit 134).
  it('import pem /dev/zero, a FIFO, --key /dev/zero: exit 2 naming what the path is', async () => {
    const state = tempDir();
    const fifo = path.join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const cases: [string[], string][] = [
      [['import', 'pem', '/dev/zero'], '/dev/zero is a device, not a regular file'],
      [['import', 'pem', fifo], `${fifo} is a named pipe, not a regular file`],
      [['import', 'pem', pebble.caBundle, '--cert-name', 'x', '--key', fifo, '--webroot', pebble.webroot, '--server', proxy.directoryUrl], ''],
    ];
    for (const [args, says] of cases) {
      const r = await runCli(['--state-dir', state, ...args], {}, 30_000);
      expect(r.signal, args.join(' ')).toBeNull();
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(says);
    }
  });

  it("a lineage whose caBundle (ledger settings) is /dev/zero: renew exit 2 naming it, nothing sent", async () => {
    const name = 'cabundle-zero.example.test';
    const state = await issued(name);
    edit(state, `UPDATE lineages SET settings_json = json_set(settings_json, '$.caBundle', '/dev/zero')`);
    const r = await runCli(renewArgs(state, ['--force-renewal']), {}, 30_000);
    expect(r.signal).toBeNull();
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout + r.stderr).toContain('/dev/zero is a device, not a regular file');
    expect(proxy.total()).toBe(0);
  });
});

describe('a --ledger URL certctl does not speak', () => {
  // Before: "postgress://…" (a typo) or "mysql://…" was a relative SQLite path — a new, empty ledger
  // created in the working directory ("postgress:/u@h/db"), which knew none of the fleet's
  // certificates, so issue ordered a set the shared ledger holds.
  for (const url of ['postgress://certctl:pw@127.0.0.1/fleet', 'mysql://127.0.0.1/x', 'sqlite:///tmp/x.sqlite']) {
    it(`${url.split(':')[0]}://: exit 2 naming the scheme, nothing sent, no ledger made`, async () => {
      const state = tempDir();
      for (const env of [{ CERTCTL_LEDGER: url }, {}]) {
        const args = 'CERTCTL_LEDGER' in env ? issueArgs(state, 'typo.example.test') : ['--ledger', url, ...issueArgs(state, 'typo.example.test')];
        const r = await runCli(args, env);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain(`a "${url.split(':')[0]}://" URL is not a ledger certctl can use`);
        expect(r.stderr).not.toContain(':pw@');
      }
      expect(proxy.total()).toBe(0);
      expect(fs.readdirSync(state)).toEqual([]);
    });
  }
});

describe('the ledger\'s side files planted as symbolic links', () => {
  // Before: "internal error: unable to open database file … This is a bug" (exit 1).
  for (const side of ['-wal', '-shm']) {
    it(`ledger.sqlite${side} → a file outside: exit 2 naming the link, nothing written there, nothing sent`, async () => {
      const state = await issued(`side${side}.example.test`);
      const outside = path.join(tempDir('certctl-outside-'), 'victim');
      fs.writeFileSync(outside, 'victim\n');
      fs.rmSync(path.join(state, `ledger.sqlite${side}`), { force: true });
      fs.symlinkSync(outside, path.join(state, `ledger.sqlite${side}`));
      for (const args of [['--state-dir', state, 'status'], issueArgs(state, `other${side}.example.test`), renewArgs(state)]) {
        const r = await runCli(args);
        expect(r.code, r.stdout + r.stderr).toBe(2);
        expect(r.stderr).toContain(`${path.join(state, `ledger.sqlite${side}`)} is a symbolic link (to ${outside})`);
        expect(r.stderr).not.toMatch(/internal error/);
      }
      expect(fs.readFileSync(outside, 'utf8')).toBe('victim\n');
      expect(proxy.total()).toBe(0);
    });
  }
});

describe('status tells the truth about live/', () => {
  // Before: with live/<name>/privkey.pem deleted, replaced or pointing elsewhere, status listed the
  // lineage as healthy (the missing file simply left out of `files`) — nothing said a web server
  // would fail at its next reload.
  const cases: [string, (live: string, name: string) => void, RegExp][] = [
    ['privkey.pem deleted', (live) => fs.rmSync(path.join(live, 'privkey.pem')), /live\/[^ ]+\/privkey\.pem is missing \(to restore it: ln -s \.\.\/\.\.\/archive\/[^/]+\/privkey1\.pem /],
    ['cert.pem pointing outside', (live) => {
      const outside = path.join(tempDir('certctl-outside-'), 'x.pem');
      fs.writeFileSync(outside, 'x');
      fs.rmSync(path.join(live, 'cert.pem'));
      fs.symlinkSync(outside, path.join(live, 'cert.pem'));
    }, /cert\.pem points at \/.*x\.pem, not at \.\.\/\.\.\/archive\/[^/]+\/cert1\.pem/],
    ['fullchain.pem a regular file', (live) => {
      const data = fs.readFileSync(path.join(live, 'fullchain.pem'));
      fs.rmSync(path.join(live, 'fullchain.pem'));
      fs.writeFileSync(path.join(live, 'fullchain.pem'), data);
    }, /fullchain\.pem is not certctl's link to \.\.\/\.\.\/archive\/[^/]+\/fullchain1\.pem/],
    ['the archive directory deleted', (_live, name) => fs.rmSync(path.join(path.dirname(path.dirname(_live)), 'archive', name), { recursive: true }), /archive\/[^ ]+ is missing: archive version 1 is not on disk/],
  ];
  for (const [what, damage, says] of cases) {
    it(`${what}: status --json lists it in liveProblems and the text output warns`, async () => {
      const name = `live-${what.split(' ')[0]!.replace(/\./g, '-')}-${Math.random().toString(36).slice(2, 6)}.example.test`;
      const state = await issued(name);
      const healthy = JSON.parse((await runCli(['--state-dir', state, 'status', '--json'])).stdout);
      expect(healthy.lineages[0].liveProblems).toEqual([]);
      damage(path.join(state, 'live', name), name);
      const j = await runCli(['--state-dir', state, 'status', '--json']);
      expect(j.code).toBe(0);
      const problems: string[] = JSON.parse(j.stdout).lineages[0].liveProblems;
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(says);
      const t = await runCli(['--state-dir', state, 'status']);
      expect(t.stdout + t.stderr).toContain(`warning: ${name}: ${problems[0]}.`);
      expect(proxy.total()).toBe(0);
    });
  }
});

describe('import certbot with files that are not files', () => {
  // Before: a FIFO as cert1.pem hung the import for ever; after readInputFile, the skipped lineage
  // still ended in exit 1 ("internal error … a bug") saying "Nothing new: everything was imported before".
  it('a FIFO certificate and a renewal conf linked to /dev/zero: skipped, named, exit 2, nothing claimed', async () => {
    const le = tempDir('certctl-le-');
    const name = 'fifo.example.com';
    for (const d of ['renewal', `live/${name}`, `archive/${name}`]) fs.mkdirSync(path.join(le, d), { recursive: true });
    execFileSync('mkfifo', [path.join(le, 'archive', name, 'cert1.pem')]);
    for (const f of ['chain', 'fullchain', 'privkey']) fs.symlinkSync('/dev/zero', path.join(le, 'archive', name, `${f}1.pem`));
    for (const f of ['cert', 'chain', 'fullchain', 'privkey']) fs.symlinkSync(`../../archive/${name}/${f}1.pem`, path.join(le, 'live', name, `${f}.pem`));
    const live = (f: string) => path.join(le, 'live', name, `${f}.pem`);
    fs.writeFileSync(
      path.join(le, 'renewal', `${name}.conf`),
      `version = 2.0.0\narchive_dir = ${path.join(le, 'archive', name)}\ncert = ${live('cert')}\nprivkey = ${live('privkey')}\nchain = ${live('chain')}\nfullchain = ${live('fullchain')}\n[renewalparams]\nauthenticator = webroot\nserver = https://acme-v02.api.letsencrypt.org/directory\n`,
    );
    fs.symlinkSync('/dev/zero', path.join(le, 'renewal', 'zero.example.com.conf'));
    const state = tempDir();
    const r = await runCli(['--state-dir', state, 'import', 'certbot', le], {}, 30_000);
    expect(r.signal).toBeNull();
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toContain(`${path.join(le, 'archive', name, 'cert1.pem')} is a named pipe, not a regular file`);
    expect(r.stdout + r.stderr).toContain('zero.example.com.conf is a device, not a regular file');
    expect(r.stdout + r.stderr).not.toContain('everything was imported before');
  });
});
