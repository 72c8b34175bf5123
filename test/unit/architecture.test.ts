/**
 * The house rules of docs/architecture.md, checked on every `npm test` by
 * dependency-cruiser (.dependency-cruiser.cjs): no import loop between files,
 * no loop between folders of src/core/, nothing in src/core/ imports src/cli/,
 * nothing in src/ imports test/. A second case proves the check bites: a tree
 * breaking each rule is refused, rule by rule.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');

function cruise(cwd: string): { status: number | null; output: string } {
  // FORCE_COLOR=0: with CI set, dependency-cruiser's colour detection paints the report (the rule names then do not match).
  const r = spawnSync(process.execPath, [BIN, 'src', '--config', CONFIG, '--output-type', 'err'], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('architecture', () => {
  it('src/ keeps the layering rules: no file loops, no core folder loops, core never imports cli, src never imports test', () => {
    const r = cruise(ROOT);
    // On failure the message is dependency-cruiser's own list of what breaks which rule.
    expect(r.output, r.output).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  }, 120_000);

  it('the check refuses a tree that breaks each rule', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-arch-'));
    try {
      const put = (p: string, text: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
        fs.writeFileSync(path.join(dir, p), text);
      };
      fs.copyFileSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
      put('src/cli/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
      put('src/cli/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
      put('src/core/gate.ts', "import { a } from '../cli/a.js';\nexport const g = a;\n");
      put('src/core/one/x.ts', "import { y } from '../two/y.js';\nexport const x = () => y;\n");
      put('src/core/two/y.ts', "import { z } from '../one/z.js';\nexport const y = () => z;\n");
      put('src/core/one/z.ts', 'export const z = 1;\n');
      put('src/core/h.ts', "import { t } from '../../test/t.js';\nexport const h = t;\n");
      put('test/t.ts', 'export const t = 1;\n');
      const r = cruise(dir);
      expect(r.status, r.output).not.toBe(0);
      for (const rule of ['no-circular', 'core-not-cli', 'no-core-folder-cycles', 'src-not-test']) expect(r.output, r.output).toContain(`error ${rule}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
