/**
 * `certctl migrate certbot` on two lineages made by Debian's certbot against
 * Pebble, served by Debian's nginx from certbot's live/ paths:
 * list (dry run) → refuse off a terminal without --yes → migrate → certbot
 * no longer lists or renews them → `certctl renew --force-renewal` with
 * certbot's carried-over directory hooks (one reloads that nginx) → nginx
 * serves the new serial from the unchanged config path → --revert puts
 * certbot's tree back byte for byte (hash of every path, mode, mtime,
 * content, link target). Then SIGKILL at every rename/symlink of a
 * migration (strace fault injection), revert and migrate again; and hostile
 * lineages (odd name, planted link, regular file) refused untouched.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { BIN, runCli, tempDir, q } from '../helpers/cli.js';
import { certbot as runCertbot, hashTree, treeListing, requireCertbot } from '../helpers/certbot.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';

const A = 'a.mig.example.test';
const B = 'b.mig.example.test';
const FILES = ['cert', 'chain', 'fullchain', 'privkey'];
const STRACE = '/usr/bin/strace';
let pebble: Pebble;
let nginx: Nginx;
let cb: string; // certbot's --config-dir
/** cb as beforeAll left it: the crash and hostile tests copy this, so a failure of the first test (which migrates cb and reverts it at its end) does not fail them too. */
let pristine: string;
let hookLog: string;
let cron: string;
const certbot = (args: string[], acme = true) => runCertbot(pebble, cb, args, acme);

function write(file: string, text: string, mode = 0o755): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode });
}

beforeAll(async () => {
  requireCertbot();
  if (!fs.existsSync(STRACE)) throw new Error('strace is missing: apt-get install strace (the crash test injects SIGKILL with it)');
  pebble = await startPebble({ nonceReject: 0 });
  cb = path.join(tempDir('certctl-migrate-'), 'conf');
  hookLog = path.join(path.dirname(cb), 'hooks.log');
  const a = await certbot(['certonly', '--webroot', '-w', pebble.webroot, '-d', A, '-d', `www.${A}`, '--deploy-hook', `echo renew_hook-A "$RENEWED_DOMAINS" >> ${hookLog}`]);
  expect(a.out).toMatch(/Successfully received certificate/);
  const b = await certbot(['certonly', '--webroot', '-w', pebble.webroot, '-d', B]);
  expect(b.code).toBe(0);
  nginx = await startNginx([A, B].map((n) => ({ name: n, cert: path.join(cb, 'live', n, 'fullchain.pem'), key: path.join(cb, 'live', n, 'privkey.pem') })));
  // certbot's directory hooks: run by certbot in name order; one of them reloads this nginx.
  write(path.join(cb, 'renewal-hooks', 'pre', '10-pre'), `#!/bin/sh\necho pre >> ${hookLog}\n`);
  write(path.join(cb, 'renewal-hooks', 'deploy', '10-log'), `#!/bin/sh\necho deploy-10 "$RENEWED_LINEAGE" "$RENEWED_DOMAINS" >> ${hookLog}\n`);
  write(path.join(cb, 'renewal-hooks', 'deploy', '50-reload-nginx'), `#!/bin/sh\necho deploy-50 >> ${hookLog}\nexec ${nginx.reloadArgs.join(' ')}\n`);
  write(path.join(cb, 'renewal-hooks', 'deploy', 'notes.txt'), 'not executable: certbot does not run it\n', 0o644);
  write(path.join(cb, 'renewal-hooks', 'post', '10-post'), `#!/bin/sh\necho post >> ${hookLog}\n`);
  // Debian's cron job for certbot (named by migrate, never changed).
  cron = path.join(path.dirname(cb), 'cron.d-certbot');
  write(cron, "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew\n", 0o644);
  pristine = path.join(tempDir('certctl-migpristine-'), 'conf');
  fs.cpSync(cb, pristine, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
}, 240_000);
afterAll(async () => {
  await nginx?.stop();
  await pebble?.stop();
});

function serialOf(file: string): string {
  const leaf = new crypto.X509Certificate(fs.readFileSync(file, 'utf8'));
  return leaf.serialNumber.toUpperCase();
}
const norm = (s: string) => s.replace(/^0+/, '');

/** Each of certbot's live files of `name` resolves, and its key belongs to its certificate (and to fullchain's leaf). */
function assertPairs(dir: string, name: string): void {
  const live = path.join(dir, 'live', name);
  const cert = new crypto.X509Certificate(fs.readFileSync(path.join(live, 'cert.pem'), 'utf8'));
  const full = new crypto.X509Certificate(fs.readFileSync(path.join(live, 'fullchain.pem'), 'utf8'));
  const key = crypto.createPublicKey(fs.readFileSync(path.join(live, 'privkey.pem'), 'utf8'));
  const spki = (k: crypto.KeyObject) => k.export({ type: 'spki', format: 'der' });
  expect(spki(cert.publicKey).equals(spki(key)), `${name}: key and cert`).toBe(true);
  expect(full.serialNumber).toBe(cert.serialNumber);
  expect(fs.readFileSync(path.join(live, 'chain.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
}

const renewArgs = (state: string) => ['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];

describe('certctl migrate certbot', () => {
  it('dry run, refusal off a terminal, migrate, renew served by nginx from certbot’s paths, certbot ignores them, revert byte for byte', async () => {
    const state = tempDir();
    const env = { CERTCTL_CERTBOT_CRON: cron };
    const oldA = nginx.servedSerial(A);
    expect(oldA).toBe(serialOf(path.join(cb, 'live', A, 'cert.pem')));
    const before = hashTree(cb);
    const listing = treeListing(cb);

    // Dry run: the list, nothing else (not even certctl's state).
    const dry = await runCli(['--state-dir', state, '--json', 'migrate', 'certbot', cb, '--dry-run', '--ca-bundle', pebble.caBundle], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan).toMatchObject({ schema: 'certctl.migrate/1', mode: 'dry-run', applied: false, certbotDir: cb, done: [] });
    for (const n of [A, B]) {
      expect(plan.changes).toContainEqual({ kind: 'set-aside', lineage: n, path: path.join(cb, 'renewal', `${n}.conf`), to: path.join(cb, 'renewal', `${n}.conf.certctl-migrated`) });
      for (const f of FILES) expect(plan.changes).toContainEqual({ kind: 'link', lineage: n, path: path.join(cb, 'live', n, `${f}.pem`), from: `../../archive/${n}/${f}1.pem`, to: path.join(state, 'live', n, `${f}.pem`) });
    }
    expect(plan.hookFiles).toEqual({ pre: [path.join(cb, 'renewal-hooks/pre/10-pre')], deploy: [path.join(cb, 'renewal-hooks/deploy/10-log'), path.join(cb, 'renewal-hooks/deploy/50-reload-nginx')], post: [path.join(cb, 'renewal-hooks/post/10-post')] });
    expect(plan.ignoredHooks).toEqual([path.join(cb, 'renewal-hooks/deploy/notes.txt')]);
    expect(plan.renewers).toContainEqual(expect.objectContaining({ kind: 'cron', name: cron, state: 'present', active: true }));
    expect(fs.readdirSync(state)).toEqual([]);
    const dryText = await runCli(['--state-dir', state, 'migrate', 'certbot', cb, '--dry-run', '--ca-bundle', pebble.caBundle], env);
    expect(dryText.stdout).toContain(`link     ${path.join(cb, 'live', A, 'privkey.pem')}: ../../archive/${A}/privkey1.pem → ${path.join(state, 'live', A, 'privkey.pem')}`);
    expect(dryText.stdout).toMatch(new RegExp(`cron job ${cron} \\(present\\): certbot keeps no lineage now: comment out its line`));
    expect(hashTree(cb)).toBe(before);

    // Off a terminal without --yes: one sentence, exit 2, nothing changed.
    const no = await runCli(['--state-dir', state, 'migrate', 'certbot', cb, '--ca-bundle', pebble.caBundle], env);
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/not on a terminal to ask: run it with --dry-run to see the \d+ change\(s\), then with --yes/);
    expect(hashTree(cb)).toBe(before);
    expect(fs.readdirSync(state)).toEqual([]);

    const mig = await runCli(['--state-dir', state, 'migrate', 'certbot', cb, '--yes', '--ca-bundle', pebble.caBundle], env);
    expect(mig.stderr).toBe('');
    expect(mig.stdout).toMatch(new RegExp(`migrated ${A.replace(/\./g, '\\.')}: migrated`));
    expect(mig.code).toBe(0);
    for (const n of [A, B]) {
      for (const f of FILES) expect(fs.readlinkSync(path.join(cb, 'live', n, `${f}.pem`))).toBe(path.join(state, 'live', n, `${f}.pem`));
      expect(fs.existsSync(path.join(cb, 'renewal', `${n}.conf`))).toBe(false);
      expect(fs.existsSync(path.join(cb, 'renewal', `${n}.conf.certctl-migrated`))).toBe(true);
      assertPairs(cb, n);
    }
    expect(fs.readdirSync(path.join(cb, 'live', A)).filter((e) => e.startsWith('.'))).toEqual([]);
    const record = path.join(state, 'certbot-migration.json');
    expect(fs.statSync(record).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(record, 'utf8'))).toMatchObject({ state: 'migrated', certbotDir: cb });
    // certbot no longer considers them.
    const listed = await certbot(['certificates'], false);
    expect(listed.out).toMatch(/No certificates found/);
    const sim = await certbot(['renew', '--dry-run', '--no-random-sleep-on-renew'], false);
    expect(sim.code).toBe(0);
    expect(sim.out).not.toMatch(/mig\.example\.test/);
    expect(sim.out).toMatch(/No simulated renewals were attempted|No renewals were attempted/);
    // The hooks are the lineages' (settings), the per-lineage renew_hook kept.
    const [sa] = q<{ settings_json: string }>(state, `SELECT settings_json FROM lineages WHERE name = '${A}'`);
    expect(JSON.parse(sa!.settings_json)).toMatchObject({ deployHook: expect.stringContaining('renew_hook-A'), hookFiles: plan.hookFiles });
    // Running it again: nothing to change.
    const again = await runCli(['--state-dir', state, '--json', 'migrate', 'certbot', cb, '--yes', '--ca-bundle', pebble.caBundle], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ changes: [], lineages: [{ name: A, status: 'migrated' }, { name: B, status: 'migrated' }] });
    expect(again.code).toBe(0);

    // certctl renews; the carried-over deploy hook reloads nginx; the unchanged config path serves the new serial.
    fs.rmSync(hookLog, { force: true });
    const ren = await runCli([...renewArgs(state), '--force-renewal'], env);
    expect(ren.stderr).toBe('');
    expect(ren.code).toBe(0);
    expect(ren.stdout).toMatch(new RegExp(`renewed\\s+${A.replace(/\./g, '\\.')}`));
    const newA = serialOf(path.join(cb, 'live', A, 'cert.pem'));
    expect(newA).not.toBe(oldA);
    expect(norm(newA)).toBe(norm(serialOf(path.join(state, 'archive', A, 'cert2.pem'))));
    // nginx -s reload returns before the new workers answer, and B's reload (renewed after A, or
    // before) may still be under way when A's new serial is served: each is waited for.
    const servedEventually = async (name: string, serial: string) => {
      let served = '';
      for (let i = 0; i < 100 && served !== serial; i++) {
        served = nginx.servedSerial(name);
        if (served !== serial) await new Promise((r) => setTimeout(r, 100));
      }
      return served;
    };
    expect(await servedEventually(A, newA)).toBe(newA);
    const newB = serialOf(path.join(cb, 'live', B, 'cert.pem'));
    expect(await servedEventually(B, newB)).toBe(newB);
    const log = fs.readFileSync(hookLog, 'utf8').trim().split('\n');
    expect(log[0]).toBe('pre');
    expect(log[log.length - 1]).toBe('post');
    expect(log.filter((l) => l === 'pre' || l === 'post')).toEqual(['pre', 'post']);
    // Per lineage: the directory hooks in name order, then the lineage's own renew_hook.
    const iA = log.indexOf(`deploy-10 ${path.join(state, 'live', A)} ${A} www.${A}`);
    expect(iA).toBeGreaterThan(0);
    expect(log.slice(iA, iA + 3)).toEqual([`deploy-10 ${path.join(state, 'live', A)} ${A} www.${A}`, 'deploy-50', `renew_hook-A ${A} www.${A}`]);
    expect(log).toContain(`deploy-10 ${path.join(state, 'live', B)} ${B}`);
    expect(fs.readdirSync(path.join(cb, 'renewal-hooks', 'deploy'))).toEqual(['10-log', '50-reload-nginx', 'notes.txt']);

    // Revert: certbot's tree exactly as before (its files; certctl's own state stays).
    const rev = await runCli(['--state-dir', state, 'migrate', 'certbot', cb, '--revert', '--yes'], env);
    expect(rev.stderr).toBe('');
    expect(rev.code).toBe(0);
    expect(rev.stdout).toContain(`restored ${path.join(cb, 'live', A, 'cert.pem')}: ${path.join(state, 'live', A, 'cert.pem')} → ../../archive/${A}/cert1.pem (as before)`);
    expect(rev.stdout).toMatch(/certbot renews .* again/);
    expect(treeListing(cb)).toEqual(listing);
    expect(hashTree(cb)).toBe(before);
    expect((await certbot(['certificates'], false)).out).toMatch(new RegExp(`Certificate Name: ${A.replace(/\./g, '\\.')}`));
    const none = await runCli(['--state-dir', state, 'migrate', 'certbot', cb, '--revert', '--yes'], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/There is no certbot migration to revert .* \(the last one was reverted\)\./);
  }, 300_000);

  it('SIGKILL at each rename and symlink of a migration: every certbot link still resolves to a pair; renew waits; revert restores byte for byte; migrate finishes', async () => {
    const copy = () => {
      const d = path.join(tempDir('certctl-migcrash-'), 'conf');
      fs.cpSync(pristine, d, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      return d;
    };
    const migrateArgs = (state: string, dir: string, extra: string[] = []) => ['--state-dir', state, 'migrate', 'certbot', dir, '--yes', '--ca-bundle', pebble.caBundle, '--certbot-cron', cron, ...extra];
    // Reference run: the main thread's renames and symlinks, in order.
    const refDir = copy();
    const refState = tempDir();
    const ref = await underStrace(migrateArgs(refState, refDir));
    expect(ref.code).toBe(0);
    const seen = new Map<string, number>();
    const points: { sys: string; when: number; what: string }[] = [];
    for (const [sys, p] of ref.calls) {
      const n = (seen.get(sys) ?? 0) + 1;
      seen.set(sys, n);
      const where = p.startsWith(refDir) ? `certbot:${path.relative(refDir, p)}` : p.startsWith(refState) ? `state:${path.relative(refState, p)}` : null;
      if (!where) continue;
      // certctl's own archive writes are import's (killed there: covered by the first of them); the rest all.
      if (/^state:archive\//.test(where) && points.some((x) => x.what.startsWith('rename state:archive/'))) continue;
      points.push({ sys, when: n, what: `${sys} ${where}` });
    }
    expect(points.filter((x) => x.what.includes('certbot:live/')).length).toBe(2 * FILES.length * 2); // symlink + rename per link
    expect(points.filter((x) => x.what.includes('certbot:renewal/')).length).toBe(2);

    for (const [i, pt] of points.entries()) {
      const dir = copy();
      const before = hashTree(dir);
      const state = tempDir();
      const killed = await underStrace(migrateArgs(state, dir), `${pt.sys}:signal=KILL:when=${pt.when}`);
      expect(killed.signal ?? killed.code, pt.what).not.toBe(0);
      for (const n of [A, B]) assertPairs(dir, n);
      const rec = fs.existsSync(path.join(state, 'certbot-migration.json'));
      if (rec) {
        const ren = await runCli([...renewArgs(state), '--force-renewal']);
        expect(ren.code, pt.what).toBe(10);
        expect(ren.stderr).toMatch(/A certbot migration of .* is unfinished \(migrating\): certctl renews nothing until it is finished or reverted\./);
      }
      if (i % 2 === 0 || !rec) {
        // Migrate again finishes it.
        const fin = await runCli(migrateArgs(state, dir));
        expect(fin.code, `${pt.what}: ${fin.stdout}${fin.stderr}`).toBe(0);
        for (const n of [A, B]) for (const f of FILES) expect(fs.readlinkSync(path.join(dir, 'live', n, `${f}.pem`))).toBe(path.join(state, 'live', n, `${f}.pem`));
        for (const n of [A, B]) assertPairs(dir, n);
        expect(fs.readdirSync(path.join(dir, 'live', A)).filter((e) => e.startsWith('.'))).toEqual([]);
      }
      // Revert (after the kill, or after finishing) puts certbot back byte for byte.
      const rev = await runCli(['--state-dir', state, 'migrate', 'certbot', dir, '--revert', '--yes']);
      expect(rev.code, `${pt.what}: ${rev.stdout}${rev.stderr}`).toBe(0);
      expect(hashTree(dir), pt.what).toBe(before);
    }
  }, 600_000);

  it('hostile lineages — an odd name, a planted link, a regular file in live/ — are refused with one sentence and left untouched; the others migrate', async () => {
    const dir = path.join(tempDir('certctl-mighostile-'), 'conf');
    fs.cpSync(pristine, dir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    const clone = (to: string) => {
      fs.cpSync(path.join(dir, 'archive', B), path.join(dir, 'archive', to), { recursive: true, preserveTimestamps: true });
      fs.mkdirSync(path.join(dir, 'live', to));
      for (const f of FILES) fs.symlinkSync(`../../archive/${to}/${f}1.pem`, path.join(dir, 'live', to, `${f}.pem`));
      fs.writeFileSync(path.join(dir, 'renewal', `${to}.conf`), fs.readFileSync(path.join(dir, 'renewal', `${B}.conf`), 'utf8').replaceAll(`/${B}`, `/${to}`));
    };
    clone('odd name$(touch pwned)');
    clone('planted.example.test');
    fs.rmSync(path.join(dir, 'live', 'planted.example.test', 'privkey.pem'));
    fs.symlinkSync(`../../archive/${A}/privkey1.pem`, path.join(dir, 'live', 'planted.example.test', 'privkey.pem'));
    clone('regular.example.test');
    fs.rmSync(path.join(dir, 'live', 'regular.example.test', 'cert.pem'));
    fs.copyFileSync(path.join(dir, 'archive', 'regular.example.test', 'cert1.pem'), path.join(dir, 'live', 'regular.example.test', 'cert.pem'));
    const hostile = ['odd name$(touch pwned)', 'planted.example.test', 'regular.example.test'];
    const sub = (n: string) => hashTree(path.join(dir, 'live', n)) + fs.readFileSync(path.join(dir, 'renewal', `${n}.conf`), 'utf8');
    const before = Object.fromEntries(hostile.map((n) => [n, sub(n)]));
    const state = tempDir();
    const r = await runCli(['--state-dir', state, '--json', 'migrate', 'certbot', dir, '--yes', '--ca-bundle', pebble.caBundle, '--certbot-cron', cron]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    const v = (n: string) => doc.lineages.find((l: { name: string }) => l.name === n);
    expect(v('"odd name$(touch pwned)"')).toMatchObject({ status: 'refused', reason: expect.stringMatching(/^its name cannot be a certctl lineage name .*: certctl left .* to certbot and changed nothing of it\.$/) });
    expect(v('planted.example.test').reason).toBe(`${path.join(dir, 'live', 'planted.example.test', 'privkey.pem')} points at ../../archive/${A}/privkey1.pem, not at certbot's archive/planted.example.test/privkey1.pem: certctl left planted.example.test to certbot and changed nothing of it.`);
    expect(v('regular.example.test').reason).toBe(`${path.join(dir, 'live', 'regular.example.test', 'cert.pem')} is a regular file, not certbot's link into its archive: certctl left regular.example.test to certbot and changed nothing of it.`);
    expect(v(A)).toMatchObject({ status: 'migrated' });
    expect(v(B)).toMatchObject({ status: 'migrated' });
    for (const n of hostile) expect(sub(n)).toBe(before[n]);
    expect(fs.existsSync(path.join(process.cwd(), 'pwned'))).toBe(false);
    expect(q<{ name: string }>(state, 'SELECT name FROM lineages ORDER BY name').map((x) => x.name)).toEqual([A, B]);
    // certbot keeps lineages, so its cron job stays: said so.
    expect(doc.renewers).toContainEqual(expect.objectContaining({ kind: 'cron', advice: expect.stringMatching(/^certbot still renews the lineages it keeps, so leave it on/) }));
    // A planted link for certbot's live/ directory of a lineage.
    const dir2 = path.join(tempDir('certctl-mighostile2-'), 'conf');
    fs.cpSync(pristine, dir2, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    fs.renameSync(path.join(dir2, 'live', B), path.join(dir2, 'elsewhere'));
    fs.symlinkSync(path.join(dir2, 'elsewhere'), path.join(dir2, 'live', B));
    const before2 = hashTree(dir2);
    const state2 = tempDir();
    const r2 = await runCli(['--state-dir', state2, '--json', 'migrate', 'certbot', dir2, '--dry-run', '--ca-bundle', pebble.caBundle]);
    expect(r2.code).toBe(2);
    expect(JSON.parse(r2.stdout).lineages.find((l: { name: string }) => l.name === B).reason).toBe(`${path.join(dir2, 'live', B)} is a symbolic link (to ${path.join(dir2, 'elsewhere')}): certctl left ${B} to certbot and changed nothing of it.`);
    expect(hashTree(dir2)).toBe(before2);
    // A damaged record: nothing is guessed (migrate, revert and renew all stop), exit 10, nothing changed.
    fs.writeFileSync(path.join(state2, 'certbot-migration.json'), '{"schema": "certctl.migration/1", "lineages": [', { mode: 0o600 });
    for (const args of [['migrate', 'certbot', dir2, '--yes'], ['migrate', 'certbot', dir2, '--revert', '--yes'], ['renew', '--no-random-sleep']]) {
      const d = await runCli(['--state-dir', state2, ...args]);
      expect(d.code, args.join(' ')).toBe(10);
      expect(d.stderr).toMatch(/The migration record .*certbot-migration\.json cannot be read .*: certctl changed nothing\./);
    }
    expect(hashTree(dir2)).toBe(before2);
  }, 120_000);
});

interface TraceRun {
  signal: NodeJS.Signals | null;
  code: number | null;
  calls: [string, string][];
}

/** The built CLI under strace (rename, symlink of the main thread); `inject` e.g. "rename:signal=KILL:when=3". */
function underStrace(args: string[], inject?: string): Promise<TraceRun> {
  const out = path.join(tempDir('certctl-strace-'), 'trace');
  const sargs = ['-f', '-qq', '-o', out, '-e', 'trace=rename,symlink', '-e', 'signal=none', ...(inject ? ['-e', `inject=${inject}`] : []), process.execPath, BIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(STRACE, sargs, { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
      const main = lines[0]?.split(/\s+/)[0];
      const calls: [string, string][] = [];
      for (const l of lines) {
        // rename("tmp", "target") → the target; symlink("target", "link") → the link
        const m = /^(\d+)\s+(\w+)\("[^"]*", "([^"]*)"/.exec(l);
        if (m && m[1] === main) calls.push([m[2]!, m[3]!]);
      }
      resolve({ signal, code, calls });
    });
  });
}
