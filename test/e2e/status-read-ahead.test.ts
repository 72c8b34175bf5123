/**
 * `status` on a SQLite ledger of READ_AHEAD_LINEAGES lineages or more reads its one sorted
 * statement in a worker thread (src/core/ledger/sqlite-reader.ts). Through the CLI: the report is
 * the one the calling thread builds alone (library, readAhead: false), text and JSON; a reader
 * that stops early (| head) ends certctl at once; a ledger damaged where only that statement
 * reads is exit 10 with the same sentence as on the calling thread.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ledger, READ_AHEAD_LINEAGES } from '../../src/core/ledger/ledger.js';
import { statusReport } from '../../src/core/status.js';
import { statePaths } from '../../src/core/paths.js';
import { fillStatusLedger } from '../../testkit/status-ledger.js';
import { BIN } from '../helpers/cli.js';

const FROZEN = fileURLToPath(new URL('../helpers/frozen-clock.mjs', import.meta.url));
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const COUNT = READ_AHEAD_LINEAGES + 200;
let state: string;
let global: string[];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(args: string[], dir = state): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, '--state-dir', dir, '--config', path.join(dir, 'no-config.json'), ...args],
      { env: { ...process.env, NO_COLOR: '1', CERTCTL_TEST_FROZEN_NOW: String(NOW), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${FROZEN}`.trim() }, maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null;
        resolve({ code: !e ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr });
      },
    );
  });
}

beforeAll(() => {
  state = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-readahead-'));
  fs.writeFileSync(path.join(state, 'no-config.json'), '{}\n');
  const ledger = Ledger.open(path.join(state, 'ledger.sqlite'));
  ledger.db.pragma('synchronous = OFF');
  fillStatusLedger(ledger, { count: COUNT, now: NOW });
  ledger.close();
  global = ['--state-dir', state];
}, 120_000);
afterAll(() => {
  fs.rmSync(state, { recursive: true, force: true });
});

describe(`status on ${COUNT} lineages (SQLite, read ahead in a worker thread)`, () => {
  it('--json status: every lineage, equal to the report built on one thread', async () => {
    const r = await run(['--json', 'status']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ledger = Ledger.open(path.join(state, 'ledger.sqlite'));
    let alone: unknown;
    try {
      alone = JSON.parse(JSON.stringify(statusReport(ledger, statePaths(state), NOW, { readAhead: false })));
    } finally {
      ledger.close();
    }
    const doc = JSON.parse(r.stdout) as { lineages: unknown[] };
    expect(doc.lineages).toHaveLength(COUNT);
    expect(doc.lineages).toEqual(alone);
  });

  it('text status lists every lineage in the same order as --json', async () => {
    const [text, json] = await Promise.all([run(['status']), run(['--json', 'status'])]);
    expect(text.code).toBe(0);
    const names = text.stdout.split('\n').filter((l) => l && !l.startsWith(' ') && !l.startsWith('warning: ')).map((l) => l.split('  ')[0]);
    expect(names).toEqual((JSON.parse(json.stdout) as { lineages: { name: string }[] }).lineages.map((l) => l.name));
  });

  it('| head -1: certctl exits 0 once the reader has gone (the thread does not hold it)', async () => {
    const t0 = Date.now();
    const code = await new Promise<number | null>((resolve) => {
      const c = spawn(process.execPath, [BIN, ...global, '--config', path.join(state, 'no-config.json'), 'status'], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout.once('data', () => c.stdout.destroy());
      c.on('exit', (code) => resolve(code));
    });
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('a ledger damaged in the pages only the sorted statement reads: exit 10, the damage named, as on one thread', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-readahead-damaged-'));
    try {
      fs.writeFileSync(path.join(dir, 'no-config.json'), '{}\n');
      const file = path.join(dir, 'ledger.sqlite');
      fs.copyFileSync(path.join(state, 'ledger.sqlite'), file);
      // renewal_info's pages: status reads them (LEFT JOIN), its damaged-row check does not.
      const db = Ledger.open(file);
      const pages = db.db.prepare("SELECT pageno FROM dbstat WHERE name = 'renewal_info' AND pagetype = 'leaf'").pluck().all() as number[];
      db.close();
      expect(pages.length).toBeGreaterThan(2);
      const fd = fs.openSync(file, 'r+');
      for (const p of pages) fs.writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (p - 1) * 4096);
      fs.closeSync(fd);
      const r = await run(['status'], dir);
      expect(r.code).toBe(10);
      expect(r.stderr).toMatch(/is damaged \(SQLITE_CORRUPT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
