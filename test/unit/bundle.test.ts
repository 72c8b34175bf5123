/**
 * The command line ships bundled (scripts/bundle.mjs; docs/architecture.md "How dist/ is built"):
 * dist/cli/<command>.bundle.cjs per command (with its V8 code cache) and dist/certctl.js with all of
 * them. Each must behave as the file-by-file build of the same sources (dist/cli/main.js) does — the
 * same help for every command, the same usage errors and exit codes — load nothing outside itself
 * before its first line runs, keep class names, and map stack traces to src/ when CERTCTL_DEBUG is
 * set; bin/certctl.js must run the named command's bundle, with a code cache V8 accepts.
 * Needs `npm run build` first (npm test does).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import vm from 'node:vm';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'certctl.js');
const TSC_MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Run a built main(argv) (the bundle or tsc's) in a fresh process. */
function runMain(file: string, args: string[], env: Record<string, string> = {}) {
  const code = `const { main } = await import(${JSON.stringify(pathToFileURL(file).href)}); await main(['node', 'certctl', ...${JSON.stringify(args)}]);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let commands: string[] = [];
beforeAll(() => {
  if (!fs.existsSync(BUNDLE) || !fs.existsSync(TSC_MAIN)) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  const top = runMain(BUNDLE, ['--help']);
  const help = top.stdout;
  if (!help.includes('Commands:')) throw new Error(`certctl --help: exit ${top.code}, ${top.stderr.slice(0, 500)}`);
  commands = [...help.split('Commands:')[1]!.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
});

const perCommand = (c: string) => path.join(ROOT, 'dist', 'cli', `${c}.bundle.cjs`);

describe('the bundled CLI (dist/certctl.js, dist/cli/<command>.bundle.cjs)', () => {
  it('imports nothing at the top of any bundle but node:module: packages and built-ins load when first used', () => {
    const text = fs.readFileSync(BUNDLE, 'utf8');
    const statics = [...text.matchAll(/(?:^|[;\n}])import\s*(?:[\w${},\s*]+from\s*)?["']([^"']+)["']/g)].map((m) => m[1]);
    expect({ file: BUNDLE, statics }).toEqual({ file: BUNDLE, statics: ['node:module'] });
    // A command's bundle (CommonJS): loading it, which runs its first lines, reads no file but itself.
    for (const file of commands.map(perCommand)) {
      // Without the tests' own preload (vitest.config.ts' --require of the test clock), which require.cache would list too.
      const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)}); console.log(JSON.stringify(Object.keys(require.cache)))`], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      expect({ file, loaded: JSON.parse(r.stdout || 'null') }).toEqual({ file, loaded: [file] });
    }
    // better-sqlite3 is required from node_modules (native), never inlined.
    expect(fs.readFileSync(BUNDLE, 'utf8')).toContain('require("better-sqlite3")');
  });

  it('a command\'s bundle holds that command only: status does not carry issue\'s ACME code', () => {
    const status = fs.readFileSync(perCommand('status'), 'utf8');
    expect(status).not.toContain('acme-client');
    expect(status.length).toBeLessThan(fs.readFileSync(BUNDLE, 'utf8').length / 2);
    expect(fs.readFileSync(perCommand('issue'), 'utf8')).toContain('require("../vendor/acme-client.cjs")');
  });

  it('acme-client is one vendored file (dist/vendor/acme-client.cjs) whose x509, asn1js and node-forge load only when first used', () => {
    const vendor = path.join(ROOT, 'dist', 'vendor', 'acme-client.cjs');
    const code = `
      const acme = require(${JSON.stringify(vendor)});
      const loaded = () => Object.keys(require.cache).filter((f) => /node_modules[\\/](@peculiar[\\/]x509|asn1js|node-forge)[\\/]/.test(f)).length;
      const before = loaded();
      const pem = require('node:crypto').generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
      const chain = acme.crypto.splitPemChain(pem + pem);
      const forge = typeof acme.forge.readCsrDomains;
      console.log(JSON.stringify({ keys: Object.keys(acme), before, chain: chain.length, after: loaded() > 0, forge }));`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ keys: ['Client', 'directory', 'crypto', 'forge', 'axios', 'setLogger'], before: 0, chain: 2, after: true, forge: 'function' });
    // The package's own entry has the same exports.
    const pkg = spawnSync(process.execPath, ['-e', 'console.log(JSON.stringify(Object.keys(require("acme-client"))))'], { encoding: 'utf8', cwd: ROOT });
    expect(JSON.parse(pkg.stdout)).toEqual(['Client', 'directory', 'crypto', 'forge', 'axios', 'setLogger']);
  });

  it('bin/certctl.js runs the named command\'s bundle (as commandOf reads the command line), the full one otherwise', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-bundle-'));
    try {
      for (const [args, file] of [
        [['--state-dir', state, 'status'], 'dist/cli/status.bundle.cjs'],
        [['certificates', '--state-dir', state], 'dist/cli/status.bundle.cjs'],
        [['--state-dir', state, '--json', 'limits'], 'dist/cli/limits.bundle.cjs'],
        [['--verbose', '--state-dir', state, 'status'], 'dist/cli/status.bundle.cjs'],
        [['help', 'status'], 'dist/certctl.js'],
        [['--help'], 'dist/certctl.js'],
      ] as const) {
        // Which bundle a run loaded: the scripts V8 ran, from its coverage output (NODE_V8_COVERAGE).
        const cov = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-cov-'));
        try {
          const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'certctl.js'), ...args], { encoding: 'utf8', env: { ...process.env, NODE_V8_COVERAGE: cov } });
          expect({ args, code: r.status }).toEqual({ args, code: 0 });
          const urls = fs.readdirSync(cov).flatMap((f) => (JSON.parse(fs.readFileSync(path.join(cov, f), 'utf8')) as { result: { url: string }[] }).result.map((x) => x.url));
          const loaded = urls.flatMap((u) => /dist\/(?:certctl\.js|cli\/[a-z-]+\.bundle\.c?js)$/.exec(u) ?? []);
          expect({ args, loaded: [...new Set(loaded)] }).toEqual({ args, loaded: [file] });
        } finally {
          fs.rmSync(cov, { recursive: true, force: true });
        }
      }
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  it('each command\'s bundle has a V8 code cache this Node accepts, and a run through it prints what a run without it does', () => {
    const { compileBundle } = createRequire(import.meta.url)(path.join(ROOT, 'bin', 'certctl.js')) as { compileBundle(file: string, vm: unknown, fs: unknown): { cachedDataRejected?: boolean } };
    for (const c of commands) {
      expect({ c, cache: fs.existsSync(perCommand(c) + '.cache') }).toEqual({ c, cache: true });
      expect({ c, rejected: compileBundle(perCommand(c), vm, fs).cachedDataRejected }).toEqual({ c, rejected: false });
    }
    // --verbose loads the bundle through Node's CommonJS loader (for its source map), without the cache.
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-bundle-'));
    try {
      const run = (extra: string[]) => spawnSync(process.execPath, [path.join(ROOT, 'bin', 'certctl.js'), ...extra, '--state-dir', state, '--json', 'plan', '-d', 'www.example.org', '-d', 'example.org', '--key-type', 'dual'], { encoding: 'utf8' });
      const cached = run([]);
      const plain = run(['--verbose']);
      expect(cached.status).toBe(0);
      const stable = (out: string) => out.replace(/"\d{4}-\d\d-\d\dT[\d:.]+Z"/g, '"T"');
      expect(stable(cached.stdout)).toBe(stable(plain.stdout));
      expect(JSON.parse(cached.stdout).schema).toBe('certctl.plan/1');
      // A bundle's import() of a package (yaml, to read the config) works from the cached script too.
      const config = path.join(state, 'config.yaml');
      fs.writeFileSync(config, 'certificates:\n  - domains: 5\n');
      for (const extra of [[], ['--verbose']]) {
        const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'certctl.js'), ...extra, '--state-dir', state, '--config', config, 'apply'], { encoding: 'utf8' });
        expect({ extra, code: r.status, stderr: r.stderr.split('\n')[0] }).toEqual({ extra, code: 2, stderr: `error: ${config}:2: certificates[0].domains: expected a list of names` });
      }
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
    }
  });

  it('keeps class names: a class the bundler renames (X = class _X) still says X (an error\'s kind in --json)', () => {
    const text = fs.readFileSync(perCommand('issue'), 'utf8');
    const renamed = [...text.matchAll(/([A-Za-z0-9$]+)=class _\1\b/g)].map((m) => m[1]!);
    expect(renamed).toContain('InterruptedError');
    expect(renamed.filter((n) => !text.includes(`__name(this,"${n.replace(/\d+$/, '')}")`))).toEqual([]);
  });

  it('gives the same help as the file-by-file build, for the program and every command', () => {
    expect(commands.length).toBeGreaterThan(15);
    for (const args of [['--help'], ...commands.map((c) => [c, '--help'])]) {
      const b = runMain(TSC_MAIN, args);
      expect(b.code).toBe(0);
      for (const file of args[0] === '--help' ? [BUNDLE] : [BUNDLE, perCommand(args[0]!)]) expect({ file, args, ...runMain(file, args) }).toEqual({ file, args, ...b });
    }
  });

  it('gives the same usage errors and exit codes (text and --json), and the same version', () => {
    for (const [args, own] of [[['--version']], [['frobnicate']], [['--json', 'frobnicate']], [['issue'], 'issue'], [['--json', 'plan', '--key-type', 'dsa', '-d', 'a.example.org'], 'plan'], [['plan', '-d', 'bad name'], 'plan'], [['renew', '--bogus'], 'renew']] as [string[], string?][]) {
      const b = runMain(TSC_MAIN, args);
      for (const file of own ? [BUNDLE, perCommand(own)] : [BUNDLE]) expect({ file, args, ...runMain(file, args) }).toEqual({ file, args, ...b });
    }
    expect(runMain(BUNDLE, ['--version']).stdout).toBe(`${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });

  it('maps a stack trace to src/ through its source map (what bin/certctl.js turns on for CERTCTL_DEBUG / --verbose)', () => {
    const code = `process.setSourceMapsEnabled(true); const m = await import(${JSON.stringify(pathToFileURL(BUNDLE).href)}); try { await m.main(null); } catch (e) { console.log(e.stack); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/at .*main \(.*src\/cli\/main\.ts:\d+:\d+\)/);
  });
});
