/**
 * The fleet harness of the end-to-end fleet tests (fleet-leases, fleet-correctness): one Debian
 * PostgreSQL (testkit/postgres.ts), one Pebble serving no webroot (its HTTP-01 port is host c's
 * `certctl serve`, answering from the ledger) behind the ACME test proxy, and a fleet key. "Hosts"
 * are state directories and --host names on one machine.
 *
 * `useFleetSuite()` registers the file's hooks (start before all, stop after all, a clean proxy
 * before each test, the current test's serve stopped after it) and returns the harness, whose
 * fields are set once the servers run.
 */
import { beforeAll, afterAll, beforeEach, afterEach, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { startPostgres, type PostgresServer } from '../../testkit/postgres.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, startCli, tempDir, type CliResult, type RunningCli, untilOutput } from './cli.js';

const HOUR = 3_600_000;

export interface Fleet {
  url: string;
  /** Each host's state directory, made by dir() on first use. */
  state: Record<string, string>;
  dir(h: string): string;
  /** `key`: the fleet key file (default: the suite's), null for none. */
  env(h: string, key?: string | null): Record<string, string | undefined>;
  issue(h: string, name: string, ...more: string[]): Promise<CliResult>;
  renewArgs(h: string, ...more: string[]): string[];
  rows<T>(sql: string): T[];
  serve: RunningCli;
  stop(): Promise<CliResult>;
}

export interface FleetSuite {
  pebble: Pebble;
  proxy: AcmeTestProxy;
  server: PostgresServer;
  /** A directory for the file's own files (configs, keys). */
  work: string;
  keyFile: string;
  /** A fresh database (on `pg`, default the suite's server; `config` given to issue and renew) and c's `certctl serve` on Pebble's HTTP-01 port. */
  fleet(prefix: string, o?: { config?: string; pg?: PostgresServer }): Promise<Fleet>;
  /** The CA says: renew these certificates now (ARI window in the past); any other one much later. */
  dueNow(certPems: string[]): void;
}

export function useFleetSuite(workPrefix: string, before?: () => void): FleetSuite {
  let current: Fleet | undefined;
  const s = { work: tempDir(workPrefix) } as FleetSuite;
  beforeAll(async () => {
    before?.();
    s.server = await startPostgres();
    // No web server on Pebble's HTTP-01 port: certctl serve takes it.
    s.pebble = await startPebble({ noWeb: true });
    s.proxy = await startAcmeTestProxy({ upstream: s.pebble.directoryUrl, caBundle: s.pebble.caBundle });
    s.keyFile = path.join(s.work, 'fleet.key');
    const init = await runCli(['fleet', 'key', 'init', s.keyFile]);
    expect(init.code, init.stderr).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await s.proxy?.stop();
    await s.pebble?.stop();
    await s.server?.stop();
  });
  // The running serve of the current test, stopped after it whatever happened (the port is Pebble's one HTTP-01 port).
  afterEach(async () => {
    if (current && current.serve.child.exitCode === null && current.serve.child.signalCode === null) await current.stop();
    current = undefined;
  });
  beforeEach(() => {
    s.proxy.clearFaults();
    s.proxy.setRenewalWindow(null);
    s.proxy.resetObservations();
  });

  s.fleet = async (prefix, o = {}) => {
    const { pebble, proxy } = s;
    const url = await (o.pg ?? s.server).createDatabase(prefix);
    const state: Record<string, string> = {};
    const dir = (h: string) => (state[h] ??= tempDir(`certctl-${prefix}-${h}-`));
    const env = (h: string, key: string | null = s.keyFile) => ({ CERTCTL_LEDGER: url, CERTCTL_FLEET_KEY_FILE: key ?? undefined, CERTCTL_HOST: h });
    const cfg = o.config ? ['--config', o.config] : [];
    const rows = <T,>(sql: string): T[] => {
      const l = Ledger.open(url);
      try {
        return l.db.prepare(sql).all() as T[];
      } finally {
        l.close();
      }
    };
    // The ledger's schema exists before serve starts (any command creates it).
    expect((await runCli(['--state-dir', dir('c'), 'status'], env('c'))).code).toBe(0);
    const serve = startCli(['--state-dir', dir('c'), 'serve', '--listen', `127.0.0.1:${pebble.httpPort}`], env('c'), 600_000);
    await untilOutput(serve, /answering \/\.well-known\/acme-challenge\//, 'certctl serve');
    return (current = {
      url,
      state,
      dir,
      env,
      issue: (h, name, ...more) =>
        runCli([...cfg, '--state-dir', dir(h), 'issue', '--json', '--server', proxy.directoryUrl, '--ca-bundle', pebble.caBundle, '--serve', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), '-d', name, ...more], env(h)),
      renewArgs: (h, ...more) => [...cfg, '--state-dir', dir(h), 'renew', '--json', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...more],
      rows,
      serve,
      async stop() {
        serve.child.kill('SIGTERM');
        return serve.result;
      },
    });
  };

  s.dueNow = (certPems) => {
    const due = new Set(certPems.map((p) => ariCertId(p)));
    const now = Date.now();
    s.proxy.setRenewalWindow((certId) => (due.has(certId) ? { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) } : { start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) }));
  };
  return s;
}

/** A host's live/NAME/FILE, read. */
export const livePem = (state: string, name: string, f = 'cert.pem') => fs.readFileSync(path.join(state, 'live', name, f), 'utf8');

export type Outcome = { lineage: string; action: string; reason: string; exitCode: number };
/** The lineages of a `renew --json` run. */
export const outcomes = (r: CliResult): Outcome[] => JSON.parse(r.stdout).lineages;

/** Wait until the lease expiring at `expiresAt` has expired by the database server's clock. */
export async function waitLeaseExpired(f: Fleet, expiresAt: number): Promise<void> {
  for (;;) {
    const [{ t }] = f.rows<{ t: string }>('SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS t');
    if (Number(t) > expiresAt) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every file below `d` (none when it does not exist). */
export function walk(d: string): string[] {
  if (!fs.existsSync(d)) return [];
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
}

/** Every table of a PostgreSQL ledger, whole: "nothing written" is this before = after. */
export function dumpTables(url: string): string {
  const l = Ledger.open(url);
  try {
    const tables = l.db.prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name").pluck().all() as string[];
    return JSON.stringify(tables.map((t) => [t, l.db.prepare(`SELECT * FROM "${t}" ORDER BY 1`).all()]));
  } finally {
    l.close();
  }
}
