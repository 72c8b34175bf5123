/**
 * What `npm pack` would ship: certctl's CLI and docs, never a test server
 * (testkit/) nor a test hook. Runs `npm pack --dry-run --json` on the built
 * tree (`npm run build` first; --ignore-scripts so packing does not rebuild
 * dist/ under the other test files) and reads every file it lists.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Names only the test servers define (testkit/*.ts exports): none may be in a shipped file. */
const TEST_SERVER_EXPORTS = ['startAcmeTestProxy', 'startPebble', 'startChallTestSrv', 'startPostgres', 'startSm2AcmeServer', 'startWebroot'];
/** Environment variables that were (or would be) test hooks inside the product. */
const TEST_HOOKS = ['CERTCTL_TEST_CRASH', 'CERTCTL_TEST_NOW'];

let files: string[] = [];
beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does).');
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const doc = JSON.parse(out) as { files: { path: string }[] }[];
  files = doc[0]!.files.map((f) => f.path);
});

describe('npm pack', () => {
  it('ships the CLI: bin/, the bundled CLI and its map, the library, the README', () => {
    expect(files).toContain('bin/certctl.js');
    expect(files).toContain('dist/certctl.js');
    expect(files).toContain('dist/certctl.js.map');
    expect(files).toContain('bin/package.json'); // bin/certctl.js is CommonJS
    expect(files).toContain('dist/cli/status.bundle.cjs');
    expect(files).toContain('dist/cli/status.bundle.cjs.cache'); // its V8 code cache
    expect(files).toContain('dist/cli/commands/index.cjs'); // bin/ picks the bundle with its commandOf
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('README.md');
    // Every module the library entry loads is there: the package works without the source tree.
    expect(files.filter((f) => f.startsWith('dist/core/')).length).toBeGreaterThan(20);
    // The build tooling stays home.
    expect(files.filter((f) => f.startsWith('scripts/'))).toEqual([]);
  });

  it('lists no test server: nothing under testkit/, dist-testkit/ or test/', () => {
    const offending = files.filter((f) => /(^|\/)(testkit|dist-testkit|test)\//.test(f) || /acme-proxy|sm2-acme-server|pebble\.js|challtestsrv/.test(f));
    expect(offending, `test code in the package: ${offending.join(', ')}`).toEqual([]);
  });

  it('no shipped file defines a test server or reads a test crash hook', () => {
    const found: string[] = [];
    for (const f of files) {
      // Code only: docs/testing.md, which ships with the docs, describes the test-side clock by name.
      if (!/\.(js|mjs|cjs|json)$/.test(f)) continue;
      const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
      for (const s of [...TEST_SERVER_EXPORTS, ...TEST_HOOKS]) if (text.includes(s)) found.push(`${f}: ${s}`);
    }
    expect(found).toEqual([]);
  });
});
