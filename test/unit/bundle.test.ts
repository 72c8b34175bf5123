/**
 * The command line ships as one bundled file (dist/certctl.js, scripts/bundle.mjs; docs/architecture.md
 * "How dist/ is built"). It must behave as the file-by-file build of the same sources (dist/cli/main.js)
 * does — the same help for every command, the same usage errors and exit codes — load nothing outside
 * itself before its first line runs, and map stack traces to src/ when CERTCTL_DEBUG is set.
 * Needs `npm run build` first (npm test does).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

describe('the bundled CLI (dist/certctl.js)', () => {
  it('imports nothing at its top but node:module: packages and built-ins load when first used', () => {
    const text = fs.readFileSync(BUNDLE, 'utf8');
    const statics = [...text.matchAll(/(?:^|[;\n}])import\s*(?:[\w${},\s*]+from\s*)?["']([^"']+)["']/g)].map((m) => m[1]);
    expect(statics).toEqual(['node:module']);
    // better-sqlite3 is required from node_modules (native), never inlined.
    expect(text).toContain('require("better-sqlite3")');
  });

  it('keeps class names: a class the bundler renames (X = class _X) still says X (an error\'s kind in --json)', () => {
    const text = fs.readFileSync(BUNDLE, 'utf8');
    const renamed = [...text.matchAll(/([A-Za-z0-9$]+)=class _\1\b/g)].map((m) => m[1]!);
    expect(renamed).toContain('InterruptedError');
    expect(renamed.filter((n) => !text.includes(`__name(this,"${n.replace(/\d+$/, '')}")`))).toEqual([]);
  });

  it('gives the same help as the file-by-file build, for the program and every command', () => {
    expect(commands.length).toBeGreaterThan(15);
    for (const args of [['--help'], ...commands.map((c) => [c, '--help'])]) {
      const a = runMain(BUNDLE, args);
      const b = runMain(TSC_MAIN, args);
      expect({ args, ...a }).toEqual({ args, ...b });
      expect(a.code).toBe(0);
    }
  });

  it('gives the same usage errors and exit codes (text and --json), and the same version', () => {
    for (const args of [['--version'], ['frobnicate'], ['--json', 'frobnicate'], ['issue'], ['--json', 'plan', '--key-type', 'dsa', '-d', 'a.example.org'], ['plan', '-d', 'bad name']]) {
      const a = runMain(BUNDLE, args);
      const b = runMain(TSC_MAIN, args);
      expect({ args, ...a }).toEqual({ args, ...b });
    }
    expect(runMain(BUNDLE, ['--version']).stdout).toBe(`${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });

  it('maps a stack trace to src/ through its source map (what bin/certctl.js turns on for CERTCTL_DEBUG / --verbose)', () => {
    const code = `process.setSourceMapsEnabled(true); const m = await import(${JSON.stringify(pathToFileURL(BUNDLE).href)}); try { await m.main(null); } catch (e) { console.log(e.stack); }`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/at .*main \(.*src\/cli\/main\.ts:\d+:\d+\)/);
  });
});
