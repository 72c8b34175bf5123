/**
 * `status`, `status --json` and `metrics` read the ledger a page at a time and write as they read
 * (issue 19). Their output must be what it was before, byte for byte: this test builds certctl as
 * it was at BEFORE (the commit before paging, from git) and runs both on the same generated ledger
 * (testkit/status-ledger.ts: 2,500 varied lineages — more than one page — with dual and SM2
 * bundles, no certificate, expired, ties, revoked, open and failed orders, Retry-Afters, ARI, CA
 * lists and choices, fleet hosts), on SQLite and on PostgreSQL, with live/ files on disk that are
 * right, missing, replaced and pointing elsewhere, and an archive the ledger does not know.
 * Both run on one frozen clock, so "now" is the same moment in both.
 *
 * When status/metrics output is changed on purpose, move BEFORE to the commit that changed it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { MIGRATIONS } from '../../src/core/ledger/migrations.js';
import { StatusScan } from '../../src/core/status.js';
import { statePaths } from '../../src/core/paths.js';
import { copyLedger, fillStatusLedger, statusLineageName } from '../../testkit/status-ledger.js';
import { testPostgres, stopTestPostgres } from '../helpers/ledgers.js';
import { BIN } from '../helpers/cli.js';

// main just before paging was merged (with everything merged before it: CA outages, one time format,
// the seconds metric, the bundle); the paged reading must print exactly what it printed.
const BEFORE = 'ec257242e49f7fe08206a08f29efcc5097d9a4ee';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FROZEN = fileURLToPath(new URL('../helpers/frozen-clock.mjs', import.meta.url));
const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const COUNT = 2500;

/** The .ts files below `d` (no declaration files). */
function tsFiles(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(path.join(d, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path.join(d, e.name)] : []));
}

/** certctl at BEFORE, compiled once into the temp dir (kept for the next run). */
async function buildBefore(): Promise<string> {
  const dir = path.join(os.tmpdir(), `certctl-before-${BEFORE.slice(0, 12)}`);
  const bin = path.join(dir, 'bin', 'certctl.js');
  const modules = path.join(dir, 'node_modules');
  if (fs.existsSync(path.join(dir, '.built'))) {
    // The build is kept in the shared temp dir, but its node_modules is this checkout's: a build left by
    // another clone (since removed) would run against a link to nothing and exit 1.
    if (fs.readlinkSync(modules) !== path.join(ROOT, 'node_modules')) {
      fs.rmSync(modules, { force: true });
      fs.symlinkSync(path.join(ROOT, 'node_modules'), modules);
    }
    return bin;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', BEFORE, 'src', 'bin', 'scripts', 'tsconfig.json', 'package.json'], { maxBuffer: 256 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), modules);
  // dist/ (bin/ reads dist/cli/commands/index.js; the bundles are made from src/ by BEFORE's own
  // scripts/bundle.mjs) transpiled by esbuild, not tsc: BEFORE was type-checked when it was
  // committed, and tsc's check cost CI ~16 s of CPU (67 s wall on the loaded machine) against 3 s.
  await esbuild.build({ entryPoints: tsFiles(path.join(dir, 'src')), outdir: path.join(dir, 'dist'), outbase: path.join(dir, 'src'), format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' });
  execFileSync(process.execPath, [path.join(dir, 'scripts', 'bundle.mjs')], { stdio: 'pipe', cwd: dir });
  fs.writeFileSync(path.join(dir, '.built'), BEFORE + '\n');
  return bin;
}

/**
 * BEFORE's schema (its MIGRATIONS.length). Later migrations only add what status and metrics do not
 * read (12: the notification claim columns; 13: an index in place of another), so BEFORE's build is shown the ledger at its own
 * version for its run (an older certctl refuses a newer ledger) and the current one gets it back.
 */
const BEFORE_SCHEMA = 11;

async function setSchemaVersion(ledger: string, v: number): Promise<void> {
  if (ledger.includes('://')) {
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: ledger });
    await c.connect();
    try {
      await c.query('UPDATE schema_version SET version = $1', [v]);
    } finally {
      await c.end();
    }
  } else {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(ledger);
    db.pragma(`user_version = ${v}`);
    db.close();
  }
}

/** BEFORE's build on a ledger shown at BEFORE's schema version. */
async function runBefore(ledger: string, args: string[]): Promise<Run> {
  const current = MIGRATIONS.length;
  await setSchemaVersion(ledger, BEFORE_SCHEMA);
  try {
    return await run(oldBin, args);
  } finally {
    await setSchemaVersion(ledger, current);
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The id of a lineage's first current certificate. */
function certOf(l: Ledger, name: string): number {
  return Number((l.db.prepare('SELECT c.id FROM certificates c JOIN lineages l ON c.lineage = l.name AND c.version = l.current_version WHERE l.name = ? ORDER BY c.id').get(name) as { id: number }).id);
}

/** A copy of the SQLite backend's state directory (its ledger and an empty config), and the copy's ledger open. */
function copyOfSqliteState(prefix: string): { state: string; ledger: Ledger } {
  const src = backends.find((x) => x.name === 'sqlite')!.state;
  const state = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.copyFileSync(path.join(src, 'ledger.sqlite'), path.join(state, 'ledger.sqlite'));
  fs.writeFileSync(path.join(state, 'no-config.json'), '{}\n');
  return { state, ledger: Ledger.open(path.join(state, 'ledger.sqlite')) };
}

function run(bin: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, NO_COLOR: '1', CERTCTL_TEST_FROZEN_NOW: String(NOW), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${FROZEN}`.trim() }, maxBuffer: 256 * 1024 * 1024, timeout: 300_000 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string }) | null;
        resolve({ code: !e ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr });
      },
    );
  });
}

/** live/ and archive/ files for some lineages: right, link missing, regular file, pointing elsewhere, version not on disk; plus a live/ without archive/ and an archive the ledger does not know. */
function writeDisk(state: string, ledger: Ledger): void {
  const withCert = ledger.statusOrder().filter((o) => o.certificates > 0).map((o) => o.name).sort().slice(0, 40);
  const files = ['cert', 'chain', 'fullchain', 'privkey'];
  withCert.forEach((name, k) => {
    const v = ledger.lineage(name)!.current_version;
    const archive = path.join(state, 'archive', name);
    const live = path.join(state, 'live', name);
    fs.mkdirSync(archive, { recursive: true });
    fs.mkdirSync(live, { recursive: true });
    if (k % 5 === 4) {
      fs.writeFileSync(path.join(archive, `cert${v + 5}.pem`), 'x');
      return;
    }
    for (const f of files) {
      fs.writeFileSync(path.join(archive, `${f}${v}.pem`), `${f} ${name}\n`, { mode: f === 'privkey' ? 0o600 : 0o644 });
      if (v > 1) fs.writeFileSync(path.join(archive, `${f}${v - 1}.pem`), `${f} ${name} old\n`);
    }
    for (const f of files) {
      const link = path.join(live, `${f}.pem`);
      if (k % 5 === 1 && f === 'chain') continue;
      if (k % 5 === 2 && f === 'cert') fs.writeFileSync(link, 'a copy\n');
      else if (k % 5 === 3 && f === 'fullchain') fs.symlinkSync(path.join('..', '..', 'archive', name, `${f}${Math.max(1, v - 1)}x.pem`), link);
      else fs.symlinkSync(path.join('..', '..', 'archive', name, `${f}${v}.pem`), link);
    }
  });
  const lonely = ledger.statusOrder().filter((o) => o.certificates > 0).map((o) => o.name).sort()[41]!;
  fs.mkdirSync(path.join(state, 'live', lonely), { recursive: true });
  fs.mkdirSync(path.join(state, 'archive', 'ghost.example.net'), { recursive: true });
  // A real certificate the ledger does not know (status warns: certctl will not order its names).
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=ghost.example.net', '-addext', 'subjectAltName=DNS:ghost.example.net', '-days', '30', '-keyout', '/dev/null', '-out', path.join(state, 'archive', 'ghost.example.net', 'cert1.pem')], { stdio: 'pipe' });
}

const backends: { name: 'sqlite' | 'postgres'; state: string; ledger: string; global: string[] }[] = [];
let oldBin = '';

beforeAll(async () => {
  oldBin = await buildBefore();
  const sqliteState = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-status-sqlite-'));
  const ledger = Ledger.open(path.join(sqliteState, 'ledger.sqlite'));
  fillStatusLedger(ledger, { count: COUNT, now: NOW });
  writeDisk(sqliteState, ledger);
  const url = await (await testPostgres()).createDatabase('status_paging');
  const pg = Ledger.open(url);
  copyLedger(ledger, pg);
  pg.close();
  ledger.close();
  const pgState = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-status-pg-'));
  fs.cpSync(path.join(sqliteState, 'archive'), path.join(pgState, 'archive'), { recursive: true, verbatimSymlinks: true });
  fs.cpSync(path.join(sqliteState, 'live'), path.join(pgState, 'live'), { recursive: true, verbatimSymlinks: true });
  for (const [name, state, extra] of [['sqlite', sqliteState, []], ['postgres', pgState, ['--ledger', url]]] as const) {
    fs.writeFileSync(path.join(state, 'no-config.json'), '{}\n');
    backends.push({ name, state, ledger: name === 'sqlite' ? path.join(state, 'ledger.sqlite') : url, global: ['--state-dir', state, '--config', path.join(state, 'no-config.json'), ...extra] });
  }
}, 600_000);

afterAll(async () => {
  for (const b of backends) fs.rmSync(b.state, { recursive: true, force: true });
  await stopTestPostgres();
});

describe.each(['sqlite', 'postgres'] as const)('status and metrics on %s: byte for byte what they were', (backend) => {
  const b = () => backends.find((x) => x.name === backend)!;

  it.each([
    ['status'],
    ['certificates'],
    ['--json', 'status'],
    ['--quiet', 'status'],
    ['metrics'],
    ['--json', 'metrics'],
    ['status', '--nginx', statusLineageName(5)],
    ['--json', 'status', '--nginx', statusLineageName(6)],
    ['status', '--nginx', 'nope.example'],
  ])('certctl %s', async (...args) => {
    const before = await runBefore(b().ledger, [...b().global, ...args]);
    const now = await run(BIN, [...b().global, ...args]);
    expect(now.code).toBe(before.code);
    expect(now.stderr).toBe(before.stderr);
    expect(now.stdout).toBe(before.stdout);
    if (args.includes('status') && !args.includes('--nginx') && !args.includes('--quiet')) {
      // The comparison means something: every lineage is listed, the warnings are there.
      expect(now.stdout.length).toBeGreaterThan(COUNT * 100);
      if (!args.includes('--json')) {
        expect(now.stdout).toContain('ghost.example.net (ghost.example.net, 1 version(s)) is not in the ledger');
        expect(now.stdout).toMatch(/is missing \(to restore it: ln -s/);
        expect(now.stdout).toMatch(/is not certctl's link to/);
        expect(now.stdout).toMatch(/points at .*, not at/);
        expect(now.stdout).toMatch(/is not on disk/);
        expect(now.stdout).toContain('failed over from');
        if (backend === 'postgres') expect(now.stdout).toMatch(/hosts: web1 v\d+ up to date; web2 v\d+, writing, behind v\d+/);
      } else {
        expect((JSON.parse(now.stdout) as { lineages: unknown[] }).lineages).toHaveLength(COUNT);
      }
    }
  });

  it('metrics --textfile writes the same file and says the same', async () => {
    const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-prom-')), fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-prom-'))];
    const before = await runBefore(b().ledger, [...b().global, 'metrics', '--textfile', dirs[0]!]);
    const now = await run(BIN, [...b().global, 'metrics', '--textfile', dirs[1]!]);
    expect([now.code, before.code]).toEqual([0, 0]);
    expect(now.stdout.replace(dirs[1]!, 'DIR')).toBe(before.stdout.replace(dirs[0]!, 'DIR'));
    const text = fs.readFileSync(path.join(dirs[1]!, 'certctl.prom'), 'utf8');
    expect(text).toBe(fs.readFileSync(path.join(dirs[0]!, 'certctl.prom'), 'utf8'));
    expect(text.split('\n').filter((l) => l.startsWith('certctl_next_action_timestamp_seconds{'))).toHaveLength(COUNT);
    expect(fs.readdirSync(dirs[1]!)).toEqual(['certctl.prom']); // no temporary file left
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('--cert-name shows only those lineages, in the full listing order; an unknown one is refused', async () => {
    const full = JSON.parse((await run(BIN, [...b().global, '--json', 'status'])).stdout) as { lineages: { name: string }[] };
    const pick = [full.lineages[2000]!.name, full.lineages[3]!.name, full.lineages[1234]!.name];
    const r = await run(BIN, [...b().global, '--json', 'status', ...pick.flatMap((n) => ['--cert-name', n])]);
    expect(r.code).toBe(0);
    const only = JSON.parse(r.stdout) as { lineages: { name: string }[] };
    expect(only.lineages).toEqual([full.lineages[3], full.lineages[1234], full.lineages[2000]]);
    const text = await run(BIN, [...b().global, 'status', '--cert-name', pick[0]!]);
    expect(text.code).toBe(0);
    // The state directory's own warning (an archive the ledger does not know) stays; the listing is the one lineage.
    expect(text.stdout).toContain('ghost.example.net');
    expect(text.stdout.split('\n').filter((l) => l && !l.startsWith(' ') && !l.startsWith('warning: '))).toHaveLength(1);
    expect(text.stdout.split('\n').find((l) => !l.startsWith(' ') && !l.startsWith('warning: '))).toMatch(new RegExp(`^${pick[0]!.replace(/\./g, '\\.')}  `));
    expect(text.stdout).not.toContain(pick[1]!);
    const bad = await run(BIN, [...b().global, 'status', '--cert-name', pick[0]!, '--cert-name', 'nope.example']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^error: No lineage named "?nope\.example"?\.\n/);
    const worse = await run(BIN, [...b().global, 'status', '--cert-name', '../etc']);
    expect(worse.code).toBe(2);
    expect(worse.stdout).toBe('');
  });
});

describe('pages', () => {
  it('any page size gives the same report', () => {
    const state = backends.find((x) => x.name === 'sqlite')!.state;
    const ledger = Ledger.open(path.join(state, 'ledger.sqlite'));
    try {
      const paths = statePaths(state);
      const all = [...new StatusScan(ledger, paths, NOW, { pageSize: 1_000_000 }).pages()];
      expect(all).toHaveLength(1);
      const small = [...new StatusScan(ledger, paths, NOW, { pageSize: 7 }).pages()];
      expect(small).toHaveLength(Math.ceil(COUNT / 7));
      expect(small.flat()).toEqual(all[0]);
    } finally {
      ledger.close();
    }
  });

  it('read ahead in a worker thread or on this one: the same report, page for page', () => {
    const state = backends.find((x) => x.name === 'sqlite')!.state;
    const ledger = Ledger.open(path.join(state, 'ledger.sqlite'));
    try {
      const paths = statePaths(state);
      const here = [...new StatusScan(ledger, paths, NOW, { pageSize: 300, readAhead: false }).pages()];
      const thread = [...new StatusScan(ledger, paths, NOW, { pageSize: 300, readAhead: true }).pages()];
      expect(here.flat()).toHaveLength(COUNT);
      expect(thread).toEqual(here);
      // A reader stopped after one page (| head), and one never read: each ends without waiting for the thread.
      const scan = new StatusScan(ledger, paths, NOW, { pageSize: 300, readAhead: true });
      for (const page of scan.pages()) {
        expect(page).toEqual(here[0]);
        break;
      }
      new StatusScan(ledger, paths, NOW, { readAhead: true }).close();
    } finally {
      ledger.close();
    }
  });

  it('a damaged lineage row ends status and metrics before any output, as before', async () => {
    const { state, ledger } = copyOfSqliteState('certctl-status-damaged-');
    // Late in both orders (by name and by expiry): a streaming writer that did not look first would have written most of its output.
    const victim = ledger.statusOrder().map((o) => o.name).sort().at(-3)!;
    ledger.db.prepare("UPDATE lineages SET names_json = '[\"a\", 1' WHERE name = ?").run(victim);
    ledger.close();
    const global = ['--state-dir', state, '--config', path.join(state, 'no-config.json')];
    for (const args of [['status'], ['--json', 'status'], ['metrics'], ['--json', 'metrics']]) {
      const before = await runBefore(path.join(state, 'ledger.sqlite'), [...global, ...args]);
      const now = await run(BIN, [...global, ...args]);
      expect(now.code).toBe(10);
      expect(now).toEqual(before);
      if (!args.includes('--json')) expect(now.stdout).toBe('');
    }
    fs.rmSync(state, { recursive: true, force: true });
  });

  it('a NUL in a checked text, which SQLite\'s JSON functions stop reading at and JSON.parse does not, is found first too', async () => {
    const { state, ledger } = copyOfSqliteState('certctl-status-nul-');
    const order = ledger.statusOrder().filter((o) => o.certificates > 0).map((o) => o.name).sort();
    const victim = order.at(-3)!;
    const cert = certOf(ledger, victim);
    const global = ['--state-dir', state, '--config', path.join(state, 'no-config.json')];
    const cases: [string, unknown, string][] = [
      ["UPDATE lineages SET names_json = json_array(name) || char(0) || 'junk' WHERE name = ?", victim, `lineage "${victim}" has a damaged names_json`],
      ["UPDATE lineages SET settings_json = '{}' || char(0) WHERE name = ?", victim, `lineage "${victim}" has a damaged settings_json`],
      ["UPDATE certificates SET names_json = names_json || char(0) WHERE id = ?", cert, `certificate ${cert} has a damaged names_json`],
    ];
    for (const [sql, key, says] of cases) {
      const saved = ledger.db.prepare('SELECT * FROM lineages WHERE name = ?').get(victim) as Record<string, unknown>;
      const savedCert = ledger.db.prepare('SELECT names_json FROM certificates WHERE id = ?').pluck().get(cert);
      ledger.db.prepare(sql).run(key);
      for (const args of [['status'], ['--json', 'status'], ['metrics']]) {
        const r = await run(BIN, [...global, ...args]);
        expect(r.code).toBe(10);
        if (args.includes('--json')) expect(JSON.parse(r.stdout).error.message).toContain(says);
        else expect({ stdout: r.stdout, stderr: r.stderr.split('\n')[0] }).toEqual({ stdout: '', stderr: expect.stringContaining(says) });
      }
      ledger.db.prepare('UPDATE lineages SET names_json = ?, settings_json = ? WHERE name = ?').run(saved.names_json, saved.settings_json, victim);
      ledger.db.prepare('UPDATE certificates SET names_json = ? WHERE id = ?').run(savedCert, cert);
    }
    expect((await run(BIN, [...global, 'status'])).code).toBe(0);
    ledger.close();
    fs.rmSync(state, { recursive: true, force: true });
  });
});

describe('a damaged row on PostgreSQL (found by the server, judged in JavaScript)', () => {
  it('ends status and metrics before any output, with the sentence SQLite gives for the same row', async () => {
    const { state, ledger: sq } = copyOfSqliteState('certctl-status-pg-damaged-');
    const url = await (await testPostgres()).createDatabase('status_damaged');
    const pg = Ledger.open(url);
    copyLedger(sq, pg);
    const names = sq.statusOrder().map((o) => o.name).sort();
    const withCert = sq.statusOrder().filter((o) => o.certificates > 0).map((o) => o.name).sort();
    const withCas = (sq.db.prepare("SELECT l.name FROM lineages l WHERE l.settings_json LIKE '%\"cas\"%' AND EXISTS (SELECT 1 FROM ca_choices c WHERE c.lineage = l.name) ORDER BY l.name").pluck().all() as string[]);
    expect(withCas.length).toBeGreaterThan(4);
    // Each damage, late in the name order; the last case damages two lineages: the first by name is the one named.
    const cases: [string, string, unknown[]][][] = [
      [['UPDATE lineages SET names_json = ? WHERE name = ?', 'names_json', ['["a", 1', names.at(-3)]]],
      [['UPDATE lineages SET names_json = ? WHERE name = ?', 'names_json', ['["a", 1]', names.at(-4)]]],
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['[1]', names.at(-5)]]],
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"a"', names.at(-6)]]],
      [['UPDATE lineages SET current_version = ? WHERE name = ?', 'current_version', [-1, names.at(-7)]]],
      // Valid JSON, fields of the wrong type (status read "cas" as a list half-way through the listing).
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"cas":"letsencrypt"}', withCas.at(-1)]]],
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"cas":["a",{"b":1}]}', withCas.at(-2)]]],
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"renewDays":"soon"}', names.at(-8)]]],
      // A key written twice (JSON.parse takes the last) or with an escape: judged in JavaScript.
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"cas":["a"],"cas":"x"}', withCas.at(-3)]]],
      [['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['{"c\\u0061s":"x"}', withCas.at(-4)]]],
      [['UPDATE certificates SET names_json = ? WHERE id = ?', 'names_json', ['{"x":1}', certOf(sq, withCert.at(-2)!)]]],
      [
        ['UPDATE lineages SET settings_json = ? WHERE name = ?', 'settings_json', ['null', names.at(-2)]],
        ['UPDATE lineages SET names_json = ? WHERE name = ?', 'names_json', ['7', names.at(-9)]],
      ],
    ];
    for (const damage of cases) {
      const saved = damage.map(([sql, col, [, key]]) => [sql, (sq.db.prepare(`SELECT ${col} AS v FROM ${sql.includes('certificates') ? 'certificates' : 'lineages'} WHERE ${sql.includes('certificates') ? 'id' : 'name'} = ?`).get(key) as { v: unknown }).v, key] as const);
      for (const [sql, , values] of damage) for (const l of [sq, pg]) l.db.prepare(sql).run(...values);
      for (const args of [['status'], ['--json', 'status'], ['metrics']]) {
        const onSqlite = await run(BIN, ['--state-dir', state, '--config', path.join(state, 'no-config.json'), ...args]);
        const onPg = await run(BIN, ['--state-dir', state, '--config', path.join(state, 'no-config.json'), '--ledger', url, ...args]);
        expect(onSqlite.code).toBe(10);
        expect(onPg.code).toBe(10);
        // --json puts the error document on stdout; otherwise nothing is written before it.
        if (!args.includes('--json')) expect(onPg.stdout).toBe('');
        expect(onPg.stdout).toContain(args.includes('--json') ? '"kind": "StateError"' : '');
        expect({ stdout: onPg.stdout, stderr: onPg.stderr }).toEqual({ stdout: onSqlite.stdout, stderr: onSqlite.stderr });
      }
      for (const [sql, v, key] of saved) for (const l of [sq, pg]) l.db.prepare(sql).run(v, key);
    }
    // Should the SQL name as suspect only rows the checks in JavaScript pass (the two disagree: a
    // bug), every row is judged there instead of none after them: the damaged one is still found.
    // On both backends, with a damage the SQL would have named itself.
    for (const l of [sq, pg]) {
      const prepare = l.db.prepare.bind(l.db);
      l.db.prepare = (sql: string) => (sql.includes('AS sql_ok FROM lineages') ? ({ raw: () => ({ all: () => [[names[0], '["a.example"]', '{}', 1, 0]] }) } as never) : prepare(sql));
      l.checkLineageRows();
      const saved = l.db.prepare('SELECT names_json FROM lineages WHERE name = ?').pluck().get(names.at(-3));
      l.db.prepare('UPDATE lineages SET names_json = ? WHERE name = ?').run('7', names.at(-3));
      expect(() => l.checkLineageRows()).toThrow(/names_json/);
      l.db.prepare = prepare;
      expect(() => l.checkLineageRows()).toThrow(/names_json/);
      l.db.prepare('UPDATE lineages SET names_json = ? WHERE name = ?').run(saved, names.at(-3));
      l.checkLineageRows();
    }
    // Repaired, both list every lineage again.
    const ok = await run(BIN, ['--state-dir', state, '--config', path.join(state, 'no-config.json'), '--ledger', url, '--json', 'status']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).lineages).toHaveLength(names.length);
    sq.close();
    pg.close();
    fs.rmSync(state, { recursive: true, force: true });
  }, 300_000);
});

describe('a PostgreSQL ledger whose collation is not C', () => {
  it('lists lineages in the order SQLite does, and names the same damaged row', async () => {
    const { state, ledger: sq } = copyOfSqliteState('certctl-status-pg-icu-');
    const url = await (await testPostgres()).createDatabase('status_icu', { icuLocale: 'en-US' });
    const pg = Ledger.open(url);
    // Names an English collation sorts otherwise than bytes do (case, punctuation, digits), as
    // lineages without a certificate: those come first, by name alone.
    const model = sq.db.prepare('SELECT * FROM lineages ORDER BY name LIMIT 1').get() as Record<string, unknown>;
    const extra = ['a_b.example', 'a-c.example', 'B.example', 'a1.example', 'ab.example', 'A2.example'];
    for (const name of extra) {
      const row = { ...model, name, names_json: JSON.stringify([name]), set_key: name, current_version: 0 };
      sq.db.prepare(`INSERT INTO lineages (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row).map((k) => '@' + k).join(', ')})`).run(row);
    }
    copyLedger(sq, pg);
    const differs = pg.db.prepare(`SELECT string_agg(name, ' ' ORDER BY name) AS icu, string_agg(name, ' ' ORDER BY name COLLATE "C") AS bytes FROM lineages WHERE name LIKE '%.example'`).get() as { icu: string; bytes: string };
    expect(differs.icu).not.toBe(differs.bytes); // the collation really is another order
    const args = (extraArgs: string[]) => ['--state-dir', state, '--config', path.join(state, 'no-config.json'), ...extraArgs];
    for (const cmd of [['status'], ['--json', 'status']]) {
      const a = await run(BIN, args(cmd));
      const b = await run(BIN, args(['--ledger', url, ...cmd]));
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      if (cmd.includes('--json')) {
        const order = (out: string) => (JSON.parse(out).lineages as { name: string }[]).map((l) => l.name);
        expect(order(b.stdout)).toEqual(order(a.stdout));
        expect(order(a.stdout).filter((n) => n.endsWith('.example'))).toEqual([...extra].sort());
      }
    }
    // The order of the live/ warnings (statusOrder) too.
    expect(pg.statusOrder().map((o) => o.name)).toEqual(sq.statusOrder().map((o) => o.name));
    // Two damaged rows the collations order differently: both name the first by bytes.
    for (const l of [sq, pg]) for (const name of ['a_b.example', 'a-c.example']) l.db.prepare('UPDATE lineages SET names_json = ? WHERE name = ?').run('[1]', name);
    const a = await run(BIN, args(['status']));
    const b = await run(BIN, args(['--ledger', url, 'status']));
    expect(a.code).toBe(10);
    expect(a.stderr).toContain('lineage "a-c.example"');
    expect({ code: b.code, stdout: b.stdout, stderr: b.stderr }).toEqual({ code: a.code, stdout: a.stdout, stderr: a.stderr });
    sq.close();
    pg.close();
    fs.rmSync(state, { recursive: true, force: true });
  }, 300_000);
});
