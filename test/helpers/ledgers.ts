/**
 * The ledger test suites run against both backends: `describe.each(BACKENDS)`
 * and `openTestLedger(backend)`. SQLite gets a file in a temp dir; PostgreSQL
 * gets a fresh database (CREATE DATABASE) on one server per test file,
 * started on first use by testkit/postgres.ts (which fails loudly, never
 * skips, when PostgreSQL is not installed). Call `stopTestPostgres` in the
 * file's afterAll.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { startPostgres, type PostgresServer } from '../../testkit/postgres.js';

export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

let server: Promise<PostgresServer> | undefined;

/** This file's PostgreSQL server (started once). */
export function testPostgres(): Promise<PostgresServer> {
  server ??= startPostgres();
  return server;
}

export async function stopTestPostgres(): Promise<void> {
  const s = server;
  server = undefined;
  if (s) await (await s).stop();
}

/** Where a new, empty ledger lives: a SQLite file path or a PostgreSQL URL. `dir` is a temp dir either way (removed by cleanup). */
export async function newLedgerLocation(backend: Backend, prefix = 'certctl-ledger-'): Promise<{ location: string; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (backend === 'sqlite') return { location: path.join(dir, 'ledger.sqlite'), dir };
  return { location: await (await testPostgres()).createDatabase(), dir };
}

export async function openTestLedger(backend: Backend, prefix?: string): Promise<{ ledger: Ledger; dir: string; location: string }> {
  const { location, dir } = await newLedgerLocation(backend, prefix);
  return { ledger: Ledger.open(location), dir, location };
}
