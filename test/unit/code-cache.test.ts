/**
 * The V8 code cache of a command bundle (bin/certctl.js compileBundle, scripts/code-cache.cjs) is used
 * only for the bundle it was made from, undamaged: V8 itself checks only the source's length, so a
 * flipped byte in the cache crashed the process and a same-length edit of the bundle ran the old code.
 * Needs `npm run build` (the bundles and their caches).
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const bin = require(path.join(ROOT, 'bin', 'certctl.js')) as { compileBundle: (f: string, v: typeof vm, f2: typeof fs) => vm.Script };
const BUNDLE = path.join(ROOT, 'dist', 'cli', 'status.bundle.cjs');

function copyBundle(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-cache-'));
  const file = path.join(dir, 'status.bundle.cjs');
  fs.copyFileSync(BUNDLE, file);
  fs.copyFileSync(BUNDLE + '.cache', file + '.cache');
  return file;
}

describe('code cache', () => {
  it('the build made one per command and V8 accepts it', () => {
    expect(bin.compileBundle(copyBundle(), vm, fs).cachedDataRejected).toBe(false);
  });

  it('a damaged byte in the cache: not used (compiled as usual), and the command runs', () => {
    const file = copyBundle();
    const data = fs.readFileSync(file + '.cache');
    data[Math.floor(data.length / 2)]! ^= 0xff;
    fs.writeFileSync(file + '.cache', data);
    expect(bin.compileBundle(file, vm, fs).cachedDataRejected).toBeUndefined();
    const real = fs.readFileSync(BUNDLE + '.cache');
    fs.writeFileSync(BUNDLE + '.cache', data);
    try {
      const out = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'certctl.js'), '--state-dir', fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-st-')), 'status'], { encoding: 'utf8' });
      expect(out).toMatch(/^No certificates yet in /);
    } finally {
      fs.writeFileSync(BUNDLE + '.cache', real);
    }
  });

  it('a same-length edit of the bundle: its cache is not used, so the edit takes effect', () => {
    const file = copyBundle();
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('No certificates yet in');
    fs.writeFileSync(file, text.replace('No certificates yet in', 'No certificatez YET in'));
    expect(bin.compileBundle(file, vm, fs).cachedDataRejected).toBeUndefined();
  });
});
