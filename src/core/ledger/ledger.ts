/**
 * The ledger: everything certctl asked and was given, in one SQLite file (the
 * default) or one PostgreSQL database shared by a fleet (`--ledger
 * postgres://…`, see docs/fleet.md). This directory is the only place in
 * certctl with SQL in it; it is written in SQLite's dialect, and dialect.ts
 * rewrites it for PostgreSQL.
 *
 * Concurrency: short IMMEDIATE transactions. On SQLite, WAL mode and a busy
 * timeout let several certctl processes (cron + a manual run) share one file;
 * on PostgreSQL, an advisory lock serialises writers across hosts.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { MIGRATIONS } from './migrations.js';
import { CertctlError, ExitCode, StateError, InputError, faultError } from '../errors.js';
import { isPostgresUrl, redactUrl, type LedgerDb } from './db.js';
import { PostgresDb } from './postgres.js';
import { PostgresError } from './pg-bridge.js';
import { ReadAhead } from './sqlite-reader.js';
import { redact } from '../redact.js';

export type DB = LedgerDb;

export interface LedgerOpenOptions {
  /**
   * How long a write waits for another process's write lock before failing
   * (SQLite's busy timeout; PostgreSQL's lock_timeout): the command's
   * --lock-wait. Default 15 s.
   */
  busyTimeoutMs?: number;
}

/** From this many lineages, status reads its one sorted statement through a worker thread on SQLite (sqlite-reader.ts): below, the thread's start costs more than it saves. */
export const READ_AHEAD_LINEAGES = 5000;

/** SQLite's busy timeout when the command has no --lock-wait. */
export const DEFAULT_BUSY_TIMEOUT_MS = 15_000;

/** PRAGMA application_id of a certctl ledger ('cert'); ledgers made before it was set have 0. */
export const APPLICATION_ID = 0x63657274;

/** The tables each migration adds (index i: migration i + 1), checked on open. */
const REQUIRED_TABLES: readonly string[][] = [
  ['accounts', 'lineages', 'orders', 'order_events', 'authorizations', 'certificates', 'certificate_domains', 'problems', 'renewal_info', 'prechecks', 'ct_sync', 'runs'],
  ['locks'],
  ['directories'],
  [], // 4: columns only (certificates.revoked_*)
  ['challenge_records'], // 5
  ['account_keys'], // 6: account deactivation and key history (certctl account)
  ['version_files', 'lineage_hosts', 'fleet_meta'], // 7
  ['ca_choices'], // 8: CA fail-over choices
  ['leases', 'http_challenges'], // 9: per-lineage leases, fleet HTTP-01 answers
  ['notifications'], // 10: notification events and their delivery (docs/notify.md)
  ['ca_outages'], // 11: CAs that could not be reached, counted per run (fail-over)
  [], // 12: notifications.claimed_by / claimed_until (one fleet host sends each)
  [], // 13: index certificates(lineage, version, not_after) in place of (lineage, version)
];

// SQLite-only statements (the file's own catalogue), named so the PostgreSQL statement check (ledger-backends.test.ts) knows them apart.
const SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'";
const SQLITE_ANY = 'SELECT count(*) FROM sqlite_master';
const SQLITE_USER_TABLES = "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'";

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

function foreignLedger(file: string, what: string): StateError {
  return new StateError(
    `${file} is not a certctl ledger (${what}).`,
    'Point --ledger / --state-dir at certctl\'s own ledger, or move this file away; certctl will not write to it.',
    file,
  );
}

function damagedLedger(file: string, what: string): StateError {
  return new StateError(
    `The ledger ${file} is damaged: ${what}; certctl will not start a new ledger over it.`,
    'Move it away and restore ledger.sqlite from a backup; or, to rebuild from the certificates on disk, move it away and run `certctl import state`. Nothing was written to it.',
    file,
  );
}

function canWrite(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * What is at the ledger's path, before SQLite touches it: 'missing' (a new
 * ledger may be made) or 'file' (a SQLite file whose header is sound). Any
 * other finding is a StateError: SQLite would take an empty file for a new
 * database, and would only notice a truncated one at the first query that
 * reads a missing page.
 */
function inspectSqliteFile(file: string): 'missing' | 'file' {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StateError(`Cannot read the ledger ${file}: ${(err as Error).message}.`, 'Check the path and its permissions (--state-dir / CERTCTL_HOME, --ledger).', file);
    }
    const wal = walSize(file);
    if (wal > 0) {
      throw new StateError(
        `The ledger ${file} is missing, but its write-ahead log ${path.basename(file)}-wal (${wal} bytes) is still there.`,
        `Restore ${path.basename(file)} from a backup next to it (SQLite then replays the log); to start over, move ${path.basename(file)}-wal and -shm away and run \`certctl import state\`.`,
        file,
      );
    }
    return 'missing';
  }
  if (!st.isFile()) throw new StateError(`The ledger ${file} is not a file.`, 'Point --ledger / --state-dir at a ledger file.', file);
  if (st.size === 0) return fail('the file is empty (0 bytes: truncated by a full disk or a bad restore?)');
  const head = Buffer.alloc(100);
  let n = 0;
  const fd = fs.openSync(file, 'r');
  try {
    n = fs.readSync(fd, head, 0, 100, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n < 100 || !head.subarray(0, 16).equals(SQLITE_MAGIC)) {
    if (n >= 16 && head.subarray(0, 16).equals(SQLITE_MAGIC)) return fail(`the file is cut short (${st.size} bytes, less than a SQLite header)`);
    throw foreignLedger(file, `not a SQLite database: ${st.size} bytes that do not start with the SQLite header`);
  }
  const raw = head.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return fail(`its header names an impossible page size (${raw})`);
  if (st.size % pageSize !== 0) return fail(`its size (${st.size} bytes) is not a whole number of ${pageSize}-byte pages: it was cut short`);
  // The header's page count is valid when its version-valid-for number equals the change counter. A
  // write-ahead log left by a crash may still hold pages a checkpoint had begun to copy: SQLite
  // recovers those, so the count is only held against the file when there is no log.
  const pages = head.readUInt32BE(28);
  const valid = head.readUInt32BE(92) === head.readUInt32BE(24);
  if (valid && pages * pageSize > st.size && walSize(file) === 0) {
    return fail(`it is cut short: ${st.size} bytes of the ${pages * pageSize} its header says it has`);
  }
  return 'file';

  function fail(what: string): never {
    throw damagedLedger(file, what);
  }
}

function walSize(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

/**
 * A new ledger, made whole under a temporary name and then linked into
 * place: link() fails when the name exists, so two processes creating it at
 * once end with one ledger, and a crash leaves at most the temporary file.
 */
let addon: string | object | undefined;
/**
 * better-sqlite3's native addon (its `nativeBinding` option). Left to itself, better-sqlite3 finds
 * it through the `bindings` package, which reads a stack trace to find the package and then tries
 * a dozen paths; inside a command's bundle (scripts/bundle.mjs inlines better-sqlite3's JavaScript)
 * that stack names the bundle, not the package. So: the addon at build/Release by path, else what
 * `bindings` finds starting from better-sqlite3's own directory.
 */
function nativeBinding(): { nativeBinding?: string } {
  if (!addon) {
    const root = path.dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json'));
    const built = path.join(root, 'build', 'Release', 'better_sqlite3.node');
    addon = fs.existsSync(built) ? built : (createRequire(path.join(root, 'package.json'))('bindings') as (o: object) => object)({ bindings: 'better_sqlite3.node', module_root: root });
  }
  // better-sqlite3 takes the addon object too; its types name the path only.
  return { nativeBinding: addon as string };
}

function createSqlite(file: string, timeout: number): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.new-${process.pid}-${Date.now()}`);
  try {
    const db = new Database(tmp, { timeout, ...nativeBinding() });
    try {
      // The file is private until the link below, after its fsync: SQLite's own syncs (the journal's,
      // WAL's and the checkpoint's at close) would only make a file durable that nobody can see yet,
      // and a crash before the link leaves a temporary file, never a half ledger. So it is built with
      // no syncs and its journal in memory, then switched to WAL (the mode every open expects).
      db.pragma('synchronous = OFF');
      db.pragma('journal_mode = MEMORY');
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.transaction(() => {
        for (let i = 0; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i]!);
        db.pragma(`user_version = ${MIGRATIONS.length}`);
      }).immediate();
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
    fs.chmodSync(tmp, 0o600);
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another process made it first: use theirs.
    }
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (err) {
    throw faultError(err, file) ?? new StateError(`Cannot create the ledger ${file}: ${(err as Error).message}.`, 'Check that the state directory is writable (--state-dir / CERTCTL_HOME, --ledger).', file);
  } finally {
    for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) fs.rmSync(f, { force: true });
  }
}

/** Reads only: a file that is not a certctl ledger (another program's database, a newer certctl's) is refused before any write. */
function preflight(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StateError(
      `The ledger ${file} has schema version ${version}, newer than this certctl understands (${MIGRATIONS.length}).`,
      'Upgrade certctl (a newer certctl wrote it); an older version must not write to a newer ledger. Nothing was changed.',
      file,
    );
  }
  const app = db.pragma('application_id', { simple: true }) as number;
  if (app !== 0 && app !== APPLICATION_ID) throw foreignLedger(file, `a database of another program (application_id ${app})`);
  const tables = new Set((db.prepare(SQLITE_TABLES).pluck().all() as string[]).map((t) => t.toLowerCase()));
  if (version === 0) {
    const own = [...tables].filter((t) => !t.startsWith('sqlite_'));
    if (own.length) throw foreignLedger(file, `a SQLite database with ${own.length} table(s) of another program`);
    return;
  }
  const missing = REQUIRED_TABLES.slice(0, version).flat().filter((t) => !tables.has(t));
  if (missing.length) throw foreignLedger(file, `schema version ${version} without the table(s) ${missing.join(', ')}`);
}

/** A private copy of a read-only ledger (and its write-ahead log) to read from. */
function readOnlyCopy(file: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-ro-'));
  fs.copyFileSync(file, path.join(dir, 'ledger.sqlite'));
  if (walSize(file) > 0) fs.copyFileSync(`${file}-wal`, path.join(dir, 'ledger.sqlite-wal'));
  return dir;
}

export interface AccountRow {
  id: number;
  directory_url: string;
  ca_id: string;
  account_url: string | null;
  key_path: string;
  key_type: string;
  email: string | null;
  eab_kid: string | null;
  created_at: number;
  updated_at: number;
  /** certctl account deactivate (migration 5): certctl refuses to use the account after it. */
  deactivated_at?: number | null;
}

/** One account key in its history (migration 5): 'pending' until the CA confirmed a keyChange, then 'current'; 'retired', 'abandoned'. */
export interface AccountKeyRow {
  id: number;
  account_id: number;
  key_path: string;
  thumbprint: string;
  state: 'pending' | 'current' | 'retired' | 'abandoned';
  created_at: number;
  updated_at: number;
}

/** Per-lineage settings kept so a renewal repeats the original request. */
export interface LineageSettings {
  reuseKey?: boolean;
  renewDays?: number;
  profile?: string;
  /** --preferred-chain: the issuer CN of the topmost certificate of the chain to write (kept by renew). */
  preferredChain?: string;
  caBundle?: string;
  email?: string;
  preHook?: string;
  postHook?: string;
  deployHook?: string;
  /**
   * Executables run (no shell) before the command hook of the same kind, in this order: certbot's
   * renewal-hooks/pre|deploy|post/ carried over by `certctl migrate certbot`.
   */
  hookFiles?: { pre?: string[]; deploy?: string[]; post?: string[] };
  httpPort?: number;
  /** Port the CA connects to for TLS-ALPN-01 (--tls-port; default 443). */
  tlsPort?: number;
  /** DNS server for the readiness checks (host:port). */
  resolver?: string;
  /** DNS-01 (challenge 'dns'): the provider and where it reaches — paths and names, never a secret. */
  dns?: DnsSettings;
  /** Where an imported lineage came from (certctl import certbot/pem/state). */
  importedFrom?: { tool: 'certbot' | 'pem' | 'state'; confFile?: string; account?: string | null; version?: number; server?: string; file?: string; at?: string };
  /** certbot's per-name webroots, kept when they differ (certctl uses one). */
  webrootMap?: Record<string, string>;
  /** Set by `certctl delete` before it moves the files away (ms): a lineage so marked is gone for renew, and the next run finishes the deletion. */
  deleting?: number;
  /** The ordered CA list (ids) issue/renew choose from before each order (docs/cas.md); absent: the lineage's one CA. */
  cas?: string[];
  /** After a fail-over, keep renewing at the CA that issued instead of returning to the first of `cas`. */
  caStick?: boolean;
}

/** An event to tell a person about and its delivery (table notifications, docs/notify.md). */
export interface NotificationRow {
  id: number;
  kind: string;
  /** The lineage, or the registered domain (headroom-low). */
  subject: string;
  lineage: string | null;
  created_at: number;
  payload_json: string;
  /** Target id → when it was delivered there. */
  delivered_json: string;
  attempts: number;
  last_error: string | null;
  /** When every target had it (null: the next run sends it again). */
  done_at: number | null;
  /** The run sending it now (host/pid) and until when that claim holds (migration 12). */
  claimed_by?: string | null;
  claimed_until?: number | null;
}

/** One CA choice for a lineage with a CA list (table ca_choices). */
export interface CaChoiceRow {
  id: number;
  lineage: string;
  at: number;
  ca_id: string;
  directory_url: string;
  first_ca_id: string;
  failed_over: number;
  reason: string;
}

/** A CA directory that could not be reached, over one or more runs (table ca_outages). */
export interface CaOutageRow {
  directory_url: string;
  ca_id: string;
  /** First failure of this outage, and the latest. */
  first_at: number;
  last_at: number;
  /** Distinct runs that could not reach it (a run that fails twice counts once). */
  runs: number;
  last_run: string;
  /** refused | timeout | reset | dns | tls | network | http-5xx */
  kind: string;
  endpoint: string;
  detail: string;
}

/**
 * How a DNS-01 lineage writes its TXT records, as given to `issue` (or the
 * config file's `dns:`), so `renew` repeats it. Key material stays in the
 * files named here; none of it is ever copied into the ledger.
 */
export interface DnsSettings {
  method: 'rfc2136' | 'hook' | 'acme-dns';
  /** rfc2136: the primary accepting updates, host:port. */
  server?: string;
  /** The zone, if given (else found from the SOA). */
  zone?: string;
  /** rfc2136: the BIND key file (absolute path) and, when it holds several, the key's name. */
  tsigKeyFile?: string;
  tsigKeyName?: string;
  /** hook: the command lines (split without a shell). */
  hook?: string;
  cleanupHook?: string;
  /** acme-dns: the credentials file (absolute path) and the API URL for accounts without server_url. */
  acmeDnsCredentials?: string;
  acmeDnsApi?: string;
  /** Seconds to wait for every authoritative nameserver (default 120). */
  propagationTimeout?: number;
}

export interface LineageRow {
  name: string;
  names: string[];
  set_key: string;
  ca_id: string;
  directory_url: string;
  key_type: string;
  /** How control is proven: HTTP-01 from a webroot or certctl's own server (standalone_addr), TLS-ALPN-01 from certctl's own server (standalone-tls, standalone_addr), or DNS-01 ('dns': provider in settings.dns). */
  challenge: 'webroot' | 'standalone' | 'standalone-tls' | 'dns' | 'fleet';
  webroot: string | null;
  standalone_addr: string | null;
  settings: LineageSettings;
  current_version: number;
  created_at: number;
  updated_at: number;
}

/** 'possible': a newOrder whose answer never came (5xx, cut): the CA may hold an order certctl cannot name. Counted by the planner, never resumed. */
export type OrderState = 'open' | 'done' | 'failed' | 'possible';

export interface OrderRow {
  id: number;
  lineage: string | null;
  bundle_id: string | null;
  role: string;
  account_id: number | null;
  ca_id: string;
  directory_url: string;
  names: string[];
  set_key: string;
  key_type: string;
  key_path: string | null;
  csr_pem: string | null;
  order_url: string | null;
  finalize_url: string | null;
  certificate_url: string | null;
  replaces: string | null;
  profile: string | null;
  status: string;
  step: string;
  state: OrderState;
  forced: number;
  precheck_skipped: number;
  error_json: string | null;
  created_at: number;
  updated_at: number;
}

export interface CertificateRow {
  id: number;
  lineage: string | null;
  version: number | null;
  order_id: number | null;
  bundle_id: string | null;
  role: string | null;
  source: 'certctl' | 'ct' | 'certbot' | 'pem';
  ca_id: string | null;
  directory_url: string | null;
  issuer: string;
  serial: string;
  names: string[];
  set_key: string;
  key_type: string | null;
  not_before: number;
  not_after: number;
  issued_at: number;
  replaces: string | null;
  ari_cert_id: string | null;
  seen_in_ct: number;
  fingerprint: string | null;
  created_at: number;
  /** Set by `certctl revoke` (migration 4): when, the reason's name, who signed the request. */
  revoked_at?: number | null;
  revoked_reason?: string | null;
  revoked_by?: string | null;
}

export interface ProblemRow {
  id: number;
  at: number;
  ca_id: string | null;
  directory_url: string | null;
  account_id: number | null;
  order_id: number | null;
  lineage: string | null;
  endpoint: string | null;
  http_status: number | null;
  type: string | null;
  detail: string | null;
  retry_after: number | null;
  limit_name: string | null;
  scope: string | null;
}

export interface AuthorizationRow {
  id: number;
  order_id: number | null;
  account_id: number | null;
  directory_url: string;
  identifier: string;
  authz_url: string | null;
  status: string;
  challenge_type: string | null;
  error_type: string | null;
  error_detail: string | null;
  at: number;
}

/** The ARI state of one certificate: the CA's suggested window and the moment certctl chose inside it. */
export interface RenewalInfoRow {
  cert_id: number;
  ari_cert_id: string;
  window_start: number | null;
  window_end: number | null;
  chosen_at: number | null;
  next_check: number | null;
  explanation_url: string | null;
  fetched_at: number;
}

/** A current certificate as `renew` needs it (Ledger.renewalScan), with its ARI state. */
export type ScannedCertificate = Pick<CertificateRow, 'id' | 'version' | 'role' | 'serial' | 'not_before' | 'not_after' | 'ari_cert_id' | 'revoked_at'> & {
  renewal_info: RenewalInfoRow | undefined;
};

/** A lineage as `renew` needs it to decide (Ledger.renewalScan); lineage(name) has the rest. */
export type ScannedLineage = Pick<LineageRow, 'name' | 'names' | 'ca_id' | 'directory_url' | 'settings'>;

/** One lineage and its current certificates (Ledger.renewalScan). */
export interface RenewalScanEntry {
  lineage: ScannedLineage;
  current: ScannedCertificate[];
}

/** A lineage in `status` order (Ledger.statusOrder): its name, version and whether its current version has certificates. */
export interface StatusOrderRow {
  name: string;
  current_version: number;
  certificates: number;
}

/** A lineage as `status` shows it (Ledger.statusPages); lineage(name) has the rest. */
export type StatusLineage = Pick<LineageRow, 'name' | 'names' | 'key_type' | 'ca_id' | 'directory_url' | 'settings' | 'current_version'>;

/** A current certificate as `status` shows it (Ledger.statusPages). */
export type StatusCertificate = Pick<CertificateRow, 'id' | 'serial' | 'not_before' | 'not_after' | 'revoked_at'>;

/** One lineage with everything `status` shows about it (Ledger.statusPages): a page of these is part of one statement plus a query or two (CA lists, fleet hosts), not a handful per lineage. */
export interface StatusPageEntry {
  lineage: StatusLineage;
  /** The certificates of its current version, ORDER BY id (as currentCertificates()). */
  current: StatusCertificate[];
  /** renewal_info rows of those certificates, by certificate id. */
  renewalInfo: Map<number, RenewalInfoRow>;
  /** Its latest CA choice (as lastCaChoice()); read only for a lineage with a CA list (settings.cas). */
  caChoice: CaChoiceRow | undefined;
  /** Its lineage_hosts rows, ORDER BY host (as lineageHosts()); read only with `hosts`. */
  hosts: LineageHostRow[];
  /** As renewedBy(). */
  renewedBy: { host: string; at: number } | undefined;
}

type Raw = Record<string, unknown>;

/**
 * A row's JSON column and version number, checked: a ledger edited by hand (or damaged) must end
 * in one sentence and exit 10, not "internal error" — and never in a version number such as NaN
 * (archive/<name>/privkeyNaN.pem, overwritten by every later run: a key lost per certificate).
 */
type RowLabel = string | (() => string) | LazyRow;
/**
 * A row's name in an error, built only if the row is damaged: one small object per row in the
 * 100,000-row scans, where a closure per row also cost a call of the bundle's keepNames helper
 * (Object.defineProperty) per row, ~0.1 s of status' CPU on 100,000 lineages.
 */
export class LazyRow {
  constructor(
    readonly kind: 'lineage' | 'certificate',
    readonly id: unknown,
  ) {}
  toString(): string {
    return this.kind === 'lineage' ? `lineage ${JSON.stringify(String(this.id))}` : `certificate ${String(this.id)}`;
  }
}
function damagedRow(row: RowLabel, column: string, what: string): StateError {
  return new StateError(
    `The ledger's ${typeof row === 'function' ? row() : String(row)} has a damaged ${column} (${what}): certctl will not guess what it meant.`,
    'Restore the ledger from backup, or correct that row (sqlite3 / psql).',
  );
}
/** `row` names the row in the error; a function builds that name only when the row is damaged (the renew scan checks 100,000 rows). */
export function ledgerNames(text: unknown, row: RowLabel): string[] {
  let v: unknown;
  try {
    v = JSON.parse(String(text));
  } catch {
    throw damagedRow(row, 'names_json', 'not JSON');
  }
  if (!Array.isArray(v)) throw damagedRow(row, 'names_json', 'not a list of names');
  for (const x of v) if (typeof x !== 'string') throw damagedRow(row, 'names_json', 'not a list of names');
  return v as string[];
}
export function ledgerSettings(text: unknown, row: RowLabel): LineageSettings {
  if (text === '{}') return {};
  let v: unknown;
  try {
    v = JSON.parse(String(text));
  } catch {
    throw damagedRow(row, 'settings_json', 'not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw damagedRow(row, 'settings_json', 'not an object');
  // The fields status and metrics read of every lineage (checkLineageRows' SQL judges the same):
  // a wrong type there is a damaged row, not a crash half-way through a listing.
  const o = v as { cas?: unknown; renewDays?: unknown };
  if (o.cas != null && !(Array.isArray(o.cas) && o.cas.every((x) => typeof x === 'string'))) throw damagedRow(row, 'settings_json', 'its "cas" is not a list of CA ids');
  if (o.renewDays != null && typeof o.renewDays !== 'number') throw damagedRow(row, 'settings_json', 'its "renewDays" is not a number');
  return v as LineageSettings;
}
/** What statusPages reads per row: the lineage, one current certificate, its renewal_info. */
const STATUS_COLUMNS = `l.name, l.names_json, l.key_type, l.ca_id, l.directory_url, l.settings_json, l.current_version, l.renewed_by, l.renewed_at,
  c.id, c.serial, c.not_before, c.not_after, c.revoked_at,
  r.cert_id, r.ari_cert_id, r.window_start, r.window_end, r.chosen_at, r.next_check, r.explanation_url, r.fetched_at`;
const STATUS_FROM = `FROM lineages l
  LEFT JOIN certificates c ON c.lineage = l.name AND c.version = l.current_version
  LEFT JOIN renewal_info r ON r.cert_id = c.id`;

/** The rows of a stream of chunks, one at a time. */
function* flatChunks(chunks: Generator<unknown[][]>): Generator<unknown[]> {
  for (const c of chunks) yield* c;
}

/** Rows of STATUS_COLUMNS into StatusPageEntry (a lineage's rows may come in any order; certificates end up by id). */
function statusRowReader(): (r: unknown[], into: Map<string, StatusPageEntry>) => void {
  const strings = new Map<string, string>();
  const intern = (v: string): string => {
    const known = strings.get(v);
    if (known !== undefined) return known;
    strings.set(v, v);
    return v;
  };
  return (r, into) => {
    const name = r[0] as string;
    let e = into.get(name);
    if (!e) {
      const label = new LazyRow('lineage', name);
      const v = r[6];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw damagedRow(label, 'current_version', `${JSON.stringify(v)}, not a version number`);
      e = {
        lineage: { name, names: ledgerNames(r[1], label), key_type: intern(r[2] as string), ca_id: intern(r[3] as string), directory_url: intern(r[4] as string), settings: ledgerSettings(r[5], label), current_version: v },
        current: [],
        renewalInfo: new Map(),
        caChoice: undefined,
        hosts: [],
        renewedBy: r[7] ? { host: r[7] as string, at: Number(r[8]) } : undefined,
      };
      into.set(name, e);
    }
    if (r[9] === null) return;
    const id = Number(r[9]);
    const cert = { id, serial: r[10] as string, not_before: Number(r[11]), not_after: Number(r[12]), revoked_at: r[13] === null ? null : Number(r[13]) };
    const list = e.current;
    if (list.length && list[list.length - 1]!.id > id) {
      list.push(cert);
      list.sort((a, b) => a.id - b.id);
    } else list.push(cert);
    if (r[14] !== null) {
      e.renewalInfo.set(id, { cert_id: id, ari_cert_id: r[15] as string, window_start: r[16] as number | null, window_end: r[17] as number | null, chosen_at: r[18] as number | null, next_check: r[19] as number | null, explanation_url: r[20] as string | null, fetched_at: r[21] as number });
    }
  };
}

/** The folded PostgreSQL statement's last two columns (statusRead): the latest CA choice and the fleet hosts, as JSON arrays. */
function foldedExtras(r: unknown[], e: StatusPageEntry): void {
  const name = e.lineage.name;
  const c = r[22] as unknown[] | null;
  if (c) e.caChoice = { id: Number(c[0]), lineage: name, at: Number(c[1]), ca_id: c[2] as string, directory_url: c[3] as string, first_ca_id: c[4] as string, failed_over: Number(c[5]), reason: c[6] as string };
  const hosts = r[23] as unknown[][] | null;
  if (hosts) for (const h of hosts) e.hosts.push(hostRow({ lineage: name, host: h[0] as string, deployed_version: h[1] as number, deployed_at: h[2] as number | null, pending_version: h[3] as number | null, added_at: h[4] as number }));
}

function hostRow(r: LineageHostRow): LineageHostRow {
  return { ...r, deployed_version: Number(r.deployed_version), deployed_at: r.deployed_at === null ? null : Number(r.deployed_at), pending_version: r.pending_version === null ? null : Number(r.pending_version), added_at: Number(r.added_at) };
}
function lineageFromRaw(r: Raw): LineageRow {
  const { names_json, settings_json, renewed_by: _b, renewed_at: _a, ...rest } = r;
  const row = `lineage ${JSON.stringify(String(r.name))}`;
  const v = r.current_version;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw damagedRow(row, 'current_version', `${JSON.stringify(v)}, not a version number`);
  return { ...(rest as object), names: ledgerNames(names_json, row), settings: ledgerSettings(settings_json, row) } as LineageRow;
}
function orderFromRaw(r: Raw): OrderRow {
  // key_sealed (migration 8) stays in the ledger: read it with orderKey(), never with the row (status --orders, --json).
  const { names_json, key_sealed: _sealed, ...rest } = r;
  return { ...(rest as object), names: ledgerNames(names_json, `order ${String(r.id)}`) } as OrderRow;
}
function certFromRaw(r: Raw): CertificateRow {
  const { names_json, ...rest } = r;
  return { ...(rest as object), names: ledgerNames(names_json, `certificate ${String(r.id)}`) } as CertificateRow;
}

/**
 * What seals the fleet's private keys (fleet/key.ts FleetKey has this shape): the ledger stores and
 * reads sealed values only, and never sees the key. `aad` names the row a value belongs to.
 */
export interface Sealer {
  readonly keyId: string;
  readonly file: string;
  seal(plain: string, aad: string): string;
  open(sealed: string, aad: string, what: string): string;
}

/**
 * The fleet's key was rotated while this host (holding the old one) worked: nothing is sealed with a
 * key the fleet no longer holds (Ledger.assertFleetKeyCurrent, checked under the ledger's write lock).
 */
function fleetKeyChanged(file: string, mine: string, now: string): InputError {
  return new InputError(
    `The fleet key changed (certctl fleet key rotate: the ledger's key is now id ${now}, and ${file} is id ${mine}): certctl stored nothing with the old key.`,
    'Give this host the new fleet key file and run the command again: an order already begun is resumed (nothing is ordered twice).',
  );
}

/** How many of a lineage's newest versions keep their files in a fleet ledger (version_files). */
export const KEPT_VERSION_FILES = 2;

/** One file of a stored version (version_files), opened: `file` is base + ext ("privkey.pem"). */
export interface StoredFile {
  file: string;
  secret: boolean;
  data: string;
}

/** A host deploying a lineage (lineage_hosts). */
export interface LineageHostRow {
  lineage: string;
  host: string;
  deployed_version: number;
  deployed_at: number | null;
  pending_version: number | null;
  added_at: number;
}

const fileAad = (lineage: string, version: number, file: string) => `file:${lineage}:${version}:${file}`;
const accountAad = (directoryUrl: string) => `account:${directoryUrl}`;
const orderKeyAad = (orderId: number, role: string) => `order-key:${orderId}:${role}`;

/** Who holds a lineage's lease (leases, migration 8); times are the database server's clock on PostgreSQL. */
export interface LeaseRow {
  lineage: string;
  host: string;
  machine: string;
  pid: number;
  acquired_at: number;
  heartbeat: number;
  expires_at: number;
}

/** A lease's holder: the fleet host name, the process, and the machine it runs on (for the dead-pid check). */
export interface LeaseHolder {
  host: string;
  machine: string;
  pid: number;
}

/** A pending HTTP-01 challenge of a fleet order (http_challenges, migration 8). */
export interface HttpChallengeRow {
  token: string;
  key_authorization: string;
  lineage: string;
  identifier: string;
  host: string;
  created_at: number;
}

const leaseRow = (r: Raw): LeaseRow => ({ lineage: String(r.lineage), host: String(r.host), machine: String(r.machine), pid: Number(r.pid), acquired_at: Number(r.acquired_at), heartbeat: Number(r.heartbeat), expires_at: Number(r.expires_at) });

export class Ledger {
  readonly db: DB;
  /** This host's name in the fleet (--host / CERTCTL_HOST, default the hostname). */
  host: string = os.hostname();
  /** The fleet key, on a shared (PostgreSQL) ledger given one: then certificates and keys are kept here (docs/fleet.md). */
  sealer: Sealer | null = null;
  /** True when this ledger keeps the fleet's certificates and sealed keys: PostgreSQL with a fleet key. SQLite never does. */
  get fleetMode(): boolean {
    return this.backend === 'postgres' && this.sealer !== null;
  }
  /** The SQLite file, or the PostgreSQL URL without its password (safe to print). */
  readonly file: string;
  readonly backend: 'sqlite' | 'postgres';

  /** SQLite: the file this connection reads (a private copy for a read-only directory) and its busy timeout, for a reader thread (sqlite-reader.ts). */
  private sqliteSource: { file: string; busyMs: number } | undefined;

  private constructor(db: DB, file: string, backend: 'sqlite' | 'postgres') {
    this.db = db;
    this.file = file;
    this.backend = backend;
  }

  /**
   * Open the ledger and bring its schema up to date: a SQLite file (created if
   * it does not exist) or a `postgres://` URL (the database must exist; its
   * tables are created on first use).
   *
   * An existing file is never taken for a new ledger: empty, truncated,
   * garbage, another program's database or a newer certctl's is a StateError
   * (exit 10) and nothing is written to it. A new file is created whole (its
   * schema written under a temporary name, then linked into place), so a
   * crash or a second process can never leave or see a half-made ledger.
   * Where the file or its directory is read-only the ledger is opened
   * read-only (`readOnly`): reads work, the first write is a StateError.
   */
  static open(fileOrUrl: string, o: LedgerOpenOptions = {}): Ledger {
    return isPostgresUrl(fileOrUrl) ? Ledger.openPostgres(fileOrUrl, o) : Ledger.openSqlite(fileOrUrl, o);
  }

  private static openPostgres(url: string, o: LedgerOpenOptions): Ledger {
    const shown = redactUrl(url);
    let db: PostgresDb;
    try {
      db = new PostgresDb(url, { lockTimeoutMs: o.busyTimeoutMs });
    } catch (err) {
      if (err instanceof CertctlError) throw err;
      const fault = faultError(err, shown);
      if (fault) throw fault;
      throw new CertctlError(`Cannot open the PostgreSQL ledger at ${shown}: ${(err as Error).message}`, ExitCode.CONFIG, 'Check --ledger / CERTCTL_LEDGER, that the database exists, and that this user may create tables in it (docs/fleet.md).');
    }
    const ledger = new Ledger(db, shown, 'postgres');
    try {
      ledger.migrate();
      ledger.checkSchema();
    } catch (err) {
      ledger.close();
      throw faultError(err, shown) ?? err;
    }
    return ledger;
  }

  private static openSqlite(file: string, o: LedgerOpenOptions): Ledger {
    const timeout = o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const found = inspectSqliteFile(file);
    if (found === 'missing') createSqlite(file, timeout);
    const writable = canWrite(file) && canWrite(path.dirname(file));
    // SQLite refuses a -wal/-shm/-journal that is a symbolic link ("unable to open database file",
    // which was an internal error); say which file it is, as for any other planted link.
    for (const side of ['-wal', '-shm', '-journal']) {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(file + side);
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) {
        let to = '?';
        try {
          to = fs.readlinkSync(file + side);
        } catch {
          /* gone meanwhile */
        }
        throw new InputError(
          `${file + side} is a symbolic link (to ${to}): certctl never lets SQLite write its ledger through a link, so it wrote nothing.`,
          `Remove the link (rm ${file + side}) and run certctl again.`,
        );
      }
    }
    let db: Database.Database;
    let copy: string | undefined;
    try {
      db = new Database(file, { timeout, readonly: !writable, fileMustExist: true, ...nativeBinding() });
    } catch (err) {
      throw new StateError(`Cannot open the ledger ${file}: ${(err as Error).message}.`, 'Check the path and its permissions (--state-dir / CERTCTL_HOME, --ledger).', file);
    }
    try {
      if (writable) {
        // Nothing is written before the file is known to be certctl's: switching a foreign database to WAL would change it.
        preflight(db, file);
        if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
      } else {
        try {
          db.prepare(SQLITE_ANY).get();
        } catch (err) {
          // WAL mode needs ledger.sqlite-shm, which a read-only directory cannot get: read a private copy instead.
          if ((err as { code?: string }).code !== 'SQLITE_CANTOPEN') throw err;
          db.close();
          copy = readOnlyCopy(file);
          db = new Database(path.join(copy, 'ledger.sqlite'), { timeout, readonly: true, fileMustExist: true, ...nativeBinding() });
        }
      }
      db.pragma('foreign_keys = ON');
    } catch (err) {
      db.close();
      if (copy) fs.rmSync(copy, { recursive: true, force: true });
      throw faultError(err, file) ?? err;
    }
    const ledger = new Ledger(db as unknown as LedgerDb, file, 'sqlite');
    ledger.readOnly = !writable;
    ledger.tempCopy = copy;
    ledger.sqliteSource = { file: copy ? path.join(copy, 'ledger.sqlite') : file, busyMs: timeout };
    try {
      ledger.migrate();
      ledger.checkSchema();
    } catch (err) {
      ledger.close();
      throw faultError(err, file) ?? err;
    }
    if (writable) {
      try {
        fs.chmodSync(file, 0o600);
      } catch {
        /* not ours to chmod (shared ledger); reading still works */
      }
    }
    return ledger;
  }

  /** True when the ledger could only be opened for reading (read-only file system or file). */
  readOnly = false;
  /** A read-only ledger read through a private copy: removed at close. */
  private tempCopy: string | undefined;

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new StateError(
        `The ledger ${this.file} has schema version ${current}, newer than this certctl understands (${MIGRATIONS.length}).`,
        'Upgrade certctl (a newer certctl wrote it); an older version must not write to a newer ledger. Nothing was changed.',
        this.file,
      );
    }
    if (current === MIGRATIONS.length) return;
    if (current === 0 && this.backend === 'sqlite') {
      const tables = this.db.prepare(SQLITE_USER_TABLES).pluck().get() as number;
      if (tables > 0) throw foreignLedger(this.file, `a SQLite database with ${tables} table(s) of another program`);
    }
    if (this.readOnly) {
      throw new StateError(
        `The ledger ${this.file} is at schema version ${current} and needs upgrading to ${MIGRATIONS.length}, but it is read-only here.`,
        'Run any certctl command once where the state directory is writable; then read-only commands work here too.',
        this.file,
      );
    }
    // IMMEDIATE takes the write lock first, so two processes cannot both migrate.
    this.db.transaction(() => {
      const v = this.db.pragma('user_version', { simple: true }) as number;
      for (let i = v; i < MIGRATIONS.length; i++) {
        this.db.exec(MIGRATIONS[i]!);
        this.db.pragma(`user_version = ${i + 1}`);
      }
    }).immediate();
  }

  /** A ledger at a known version must hold the tables of that version: otherwise it is not certctl's (or lost some). */
  private checkSchema(): void {
    const version = this.schemaVersion();
    const rows =
      this.backend === 'sqlite'
        ? (this.db.prepare(SQLITE_TABLES).pluck().all() as string[])
        : (this.db.prepare('SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()').pluck().all() as string[]);
    const have = new Set(rows.map((r) => r.toLowerCase()));
    const missing = REQUIRED_TABLES.slice(0, version).flat().filter((t) => !have.has(t));
    if (missing.length) throw foreignLedger(this.file, `schema version ${version} without the table(s) ${missing.join(', ')}`);
    if (this.backend === 'sqlite') {
      const app = this.db.pragma('application_id', { simple: true }) as number;
      if (app !== 0 && app !== APPLICATION_ID) throw foreignLedger(this.file, `a database of another program (application_id ${app})`);
    }
  }

  close(): void {
    this.db.close();
    if (this.tempCopy) fs.rmSync(this.tempCopy, { recursive: true, force: true });
    this.tempCopy = undefined;
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Run `fn` in one IMMEDIATE transaction. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  // ---------------------------------------------------------------- accounts

  account(directoryUrl: string): AccountRow | undefined {
    return this.db.prepare('SELECT * FROM accounts WHERE directory_url = ?').get(directoryUrl) as AccountRow | undefined;
  }

  accountById(id: number): AccountRow | undefined {
    return this.db.prepare('SELECT * FROM accounts WHERE id = ?').get(id) as AccountRow | undefined;
  }

  /** Insert the account for this directory, or update its URL/email. Returns its id. */
  saveAccount(a: { directory_url: string; ca_id: string; account_url: string | null; key_path: string; key_type: string; email: string | null; eab_kid: string | null; now: number }): number {
    const row = this.db
      .prepare(
        `INSERT INTO accounts (directory_url, ca_id, account_url, key_path, key_type, email, eab_kid, created_at, updated_at)
         VALUES (@directory_url, @ca_id, @account_url, @key_path, @key_type, @email, @eab_kid, @now, @now)
         ON CONFLICT(directory_url) DO UPDATE SET account_url = COALESCE(excluded.account_url, accounts.account_url),
           email = COALESCE(excluded.email, accounts.email), eab_kid = COALESCE(excluded.eab_kid, accounts.eab_kid), updated_at = excluded.updated_at
         RETURNING id`,
      )
      .get(a) as { id: number };
    return row.id;
  }

  /** Every account row, forgotten ones included (certctl account list). */
  accounts(): AccountRow[] {
    return this.db.prepare('SELECT * FROM accounts ORDER BY id').all() as AccountRow[];
  }

  setAccountEmail(id: number, email: string, now: number): void {
    this.db.prepare('UPDATE accounts SET email = ?, updated_at = ? WHERE id = ?').run(email, now, id);
  }

  setAccountDeactivated(id: number, at: number): void {
    this.db.prepare('UPDATE accounts SET deactivated_at = ?, updated_at = ? WHERE id = ?').run(at, at, id);
  }

  /**
   * certctl account forget: the row stays (its orders keep counting where they counted) under a
   * directory key no lookup uses, its key file renamed to `keyPath`; the next run registers anew.
   */
  forgetAccount(id: number, keyPath: string, now: number): void {
    this.db.prepare(`UPDATE accounts SET directory_url = directory_url || '#forgotten-' || CAST(id AS TEXT), key_path = ?, updated_at = ? WHERE id = ?`).run(keyPath, now, id);
  }

  accountKeys(accountId: number): AccountKeyRow[] {
    return this.db.prepare('SELECT * FROM account_keys WHERE account_id = ? ORDER BY id').all(accountId) as AccountKeyRow[];
  }

  addAccountKey(k: { account_id: number; key_path: string; thumbprint: string; state: AccountKeyRow['state']; now: number }): number {
    const r = this.db
      .prepare('INSERT INTO account_keys (account_id, key_path, thumbprint, state, created_at, updated_at) VALUES (@account_id, @key_path, @thumbprint, @state, @now, @now) RETURNING id')
      .get(k) as { id: number };
    return r.id;
  }

  /** The key change is confirmed: the pending key becomes current (its file now at `keyPath`), the current one retired; one transaction. */
  commitAccountKey(accountId: number, pendingId: number, keyPath: string, now: number): void {
    this.tx(() => {
      this.db.prepare(`UPDATE account_keys SET state = 'retired', updated_at = ? WHERE account_id = ? AND state = 'current'`).run(now, accountId);
      this.db.prepare(`UPDATE account_keys SET state = 'current', key_path = ?, updated_at = ? WHERE id = ?`).run(keyPath, now, pendingId);
    });
  }

  setAccountKeyState(id: number, state: AccountKeyRow['state'], now: number): void {
    this.db.prepare('UPDATE account_keys SET state = ?, updated_at = ? WHERE id = ?').run(state, now, id);
  }

  // ---------------------------------------------------------------- lineages

  lineage(name: string): LineageRow | undefined {
    const r = this.db.prepare('SELECT * FROM lineages WHERE name = ?').get(name) as Raw | undefined;
    return r ? lineageFromRaw(r) : undefined;
  }

  lineages(): LineageRow[] {
    return (this.db.prepare('SELECT * FROM lineages ORDER BY name').all() as Raw[]).map(lineageFromRaw);
  }

  /** Lineages holding exactly this set of names at this CA. */
  lineagesBySet(setKey: string, directoryUrl?: string): LineageRow[] {
    const rows = directoryUrl
      ? this.db.prepare('SELECT * FROM lineages WHERE set_key = ? AND directory_url = ?').all(setKey, directoryUrl)
      : this.db.prepare('SELECT * FROM lineages WHERE set_key = ?').all(setKey);
    return (rows as Raw[]).map(lineageFromRaw);
  }

  /**
   * Lineages at this CA holding at least one of `names` (issue's overlap check, lineage-change.ts).
   * Portable SQL (SQLite and PostgreSQL): names and sets only are read and matched here; full rows only for matches.
   */
  lineagesWithAnyName(names: readonly string[], directoryUrl: string): LineageRow[] {
    const wanted = new Set(names);
    const hits = (this.db.prepare('SELECT name, names_json FROM lineages WHERE directory_url = ?').all(directoryUrl) as { name: string; names_json: string }[])
      .filter((r) => {
        try {
          const list = JSON.parse(r.names_json) as unknown;
          return Array.isArray(list) && list.some((n) => typeof n === 'string' && wanted.has(n));
        } catch {
          return false; // a damaged row is reported by status/plan, not here
        }
      })
      .map((r) => r.name);
    return hits.map((n) => this.lineage(n)).filter((l): l is LineageRow => Boolean(l));
  }

  saveLineage(l: Omit<LineageRow, 'created_at' | 'updated_at' | 'current_version'> & { now: number }): void {
    this.db
      .prepare(
        `INSERT INTO lineages (name, names_json, set_key, ca_id, directory_url, key_type, challenge, webroot, standalone_addr, settings_json, created_at, updated_at)
         VALUES (@name, @names_json, @set_key, @ca_id, @directory_url, @key_type, @challenge, @webroot, @standalone_addr, @settings_json, @now, @now)
         ON CONFLICT(name) DO UPDATE SET names_json = excluded.names_json, set_key = excluded.set_key, ca_id = excluded.ca_id,
           directory_url = excluded.directory_url, key_type = excluded.key_type, challenge = excluded.challenge, webroot = excluded.webroot,
           standalone_addr = excluded.standalone_addr, settings_json = excluded.settings_json, updated_at = excluded.updated_at`,
      )
      .run({
        name: l.name,
        names_json: JSON.stringify(l.names),
        set_key: l.set_key,
        ca_id: l.ca_id,
        directory_url: l.directory_url,
        key_type: l.key_type,
        challenge: l.challenge,
        webroot: l.webroot,
        standalone_addr: l.standalone_addr,
        settings_json: JSON.stringify(l.settings),
        now: l.now,
      });
  }

  setLineageVersion(name: string, version: number, now: number): void {
    this.db.prepare('UPDATE lineages SET current_version = ?, updated_at = ? WHERE name = ?').run(version, now, name);
  }

  deleteLineage(name: string): void {
    this.tx(() => {
      this.db.prepare('DELETE FROM version_files WHERE lineage = ?').run(name);
      this.db.prepare('DELETE FROM lineage_hosts WHERE lineage = ?').run(name);
      this.db.prepare('DELETE FROM lineages WHERE name = ?').run(name);
    });
  }

  /** Replace a lineage's settings (e.g. the `deleting` mark of certctl delete). */
  setLineageSettings(name: string, settings: LineageSettings, now: number): void {
    this.db.prepare('UPDATE lineages SET settings_json = ?, updated_at = ? WHERE name = ?').run(JSON.stringify(settings), now, name);
  }

  /** Lineages a `certctl delete` marked and did not finish (killed half-way): the next run finishes them. */
  lineagesBeingDeleted(): string[] {
    return this.db.prepare(`SELECT name FROM lineages WHERE settings_json LIKE '%"deleting":%' ORDER BY name`).pluck().all() as string[];
  }

  /**
   * The ledger half of `certctl delete`, one transaction: the lineage row goes; its certificates stay
   * (they still count against the CA's limits; their orders keep the lineage's name) but are no longer
   * bound to it, so a later lineage of the same name starts at version 1 without adopting them; an
   * order left open is closed (nothing will resume it). Returns how many certificates it had.
   */
  retireLineage(name: string, now: number): number {
    return this.tx(() => {
      const open = this.db.prepare("SELECT id FROM orders WHERE lineage = ? AND state = 'open'").pluck().all(name) as number[];
      for (const id of open) {
        this.db.prepare("UPDATE orders SET state = 'failed', updated_at = ? WHERE id = ?").run(now, id);
        this.db.prepare('INSERT INTO order_events (order_id, at, step, status, detail) VALUES (?, ?, ?, ?, ?)').run(id, now, 'failed', null, 'lineage deleted (certctl delete)');
      }
      const n = this.db.prepare('UPDATE certificates SET lineage = NULL, version = NULL WHERE lineage = ?').run(name).changes;
      // Its stored files and hosts go with it: a later lineage of the same name starts at version 1 and must not meet them.
      this.db.prepare('DELETE FROM version_files WHERE lineage = ?').run(name);
      this.db.prepare('DELETE FROM lineage_hosts WHERE lineage = ?').run(name);
      this.db.prepare('DELETE FROM lineages WHERE name = ?').run(name);
      return n;
    });
  }

  // ------------------------------------------------------------------ challenge records

  /** Journal a challenge response about to be created (before the provider is called); returns its id. */
  addChallengeRecord(lineage: string, kind: string, record: unknown, now: number): number {
    const { id } = this.db
      .prepare('INSERT INTO challenge_records (lineage, kind, record_json, created_at) VALUES (?, ?, ?, ?) RETURNING id')
      .get(lineage, kind, JSON.stringify(record), now) as { id: number };
    return id;
  }

  /** Replace a journalled record's data (e.g. with the output a hook printed, for its clean-up). */
  updateChallengeRecord(id: number, record: unknown): void {
    this.db.prepare('UPDATE challenge_records SET record_json = ? WHERE id = ?').run(JSON.stringify(record), id);
  }

  removeChallengeRecord(id: number): void {
    this.db.prepare('DELETE FROM challenge_records WHERE id = ?').run(id);
  }

  /** Records of a lineage still journalled (a crash, or a clean-up that failed). A damaged row is returned with record null. */
  challengeRecords(lineage: string): { id: number; kind: string; record: unknown; created_at: number }[] {
    const rows = this.db.prepare('SELECT id, kind, record_json, created_at FROM challenge_records WHERE lineage = ? ORDER BY id').all(lineage) as { id: number; kind: string; record_json: string; created_at: number }[];
    return rows.map((r) => {
      let record: unknown = null;
      try {
        record = JSON.parse(r.record_json);
      } catch {
        /* damaged: the caller reports it */
      }
      return { id: Number(r.id), kind: r.kind, record, created_at: Number(r.created_at) };
    });
  }

  // ------------------------------------------------------------------ orders

  /** Journal a new order before new-order is sent. Returns its id. */
  createOrder(o: {
    lineage: string | null;
    bundle_id?: string | null;
    role?: string;
    account_id: number | null;
    ca_id: string;
    directory_url: string;
    names: string[];
    set_key: string;
    key_type: string;
    replaces?: string | null;
    profile?: string | null;
    forced?: boolean;
    precheck_skipped?: boolean;
    now: number;
  }): number {
    return this.tx(() => {
      const { id } = this.db
        .prepare(
          `INSERT INTO orders (lineage, bundle_id, role, account_id, ca_id, directory_url, names_json, set_key, key_type, replaces, profile,
             status, step, state, forced, precheck_skipped, created_at, updated_at)
           VALUES (@lineage, @bundle_id, @role, @account_id, @ca_id, @directory_url, @names_json, @set_key, @key_type, @replaces, @profile,
             'new', 'creating', 'open', @forced, @precheck_skipped, @now, @now) RETURNING id`,
        )
        .get({
          lineage: o.lineage,
          bundle_id: o.bundle_id ?? null,
          role: o.role ?? 'main',
          account_id: o.account_id,
          ca_id: o.ca_id,
          directory_url: o.directory_url,
          names_json: JSON.stringify(o.names),
          set_key: o.set_key,
          key_type: o.key_type,
          replaces: o.replaces ?? null,
          profile: o.profile ?? null,
          forced: o.forced ? 1 : 0,
          precheck_skipped: o.precheck_skipped ? 1 : 0,
          now: o.now,
        }) as { id: number };
      this.db.prepare('INSERT INTO order_events (order_id, at, step, status) VALUES (?, ?, ?, ?)').run(id, o.now, 'creating', 'new');
      return id;
    });
  }

  /**
   * Move an order's journal forward. Every call adds an order_events row, so
   * the history of an order (and where a crash left it) can be read back.
   */
  updateOrder(
    id: number,
    patch: Partial<Pick<OrderRow, 'order_url' | 'finalize_url' | 'certificate_url' | 'status' | 'step' | 'state' | 'key_path' | 'csr_pem' | 'error_json' | 'replaces' | 'account_id'>>,
    now: number,
    detail?: string,
  ): void {
    // A CA's words (problem details, error messages) can quote challenge tokens: never stored in clear.
    if (patch.error_json) patch = { ...patch, error_json: redact(patch.error_json) };
    if (detail) detail = redact(detail);
    const keys = Object.keys(patch).filter((k) => (patch as Raw)[k] !== undefined);
    this.tx(() => {
      if (keys.length) {
        const sets = keys.map((k) => `${k} = @${k}`).join(', ');
        this.db.prepare(`UPDATE orders SET ${sets}, updated_at = @now WHERE id = @id`).run({ ...patch, id, now });
      }
      // The event copies the row's step and status as this transaction now sees them, in the same statement
      // (one round trip fewer per journal step on PostgreSQL).
      const added = this.db.prepare('INSERT INTO order_events (order_id, at, step, status, detail) SELECT id, ?, step, status, ? FROM orders WHERE id = ?').run(now, detail ?? null, id);
      if (added.changes !== 1) throw new CertctlError(`Order ${id} is not in the ledger; its journal cannot move on.`, ExitCode.INTERNAL);
    });
  }

  /**
   * Close open orders nothing will resume (fail-over away from a CA given up as unreachable, docs/cas.md):
   * state 'failed', with an order_events row saying why. They still count against that CA's limits.
   */
  abandonOrders(ids: readonly number[], now: number, detail: string): void {
    this.tx(() => {
      for (const id of ids) {
        this.db.prepare("UPDATE orders SET state = 'failed', updated_at = ? WHERE id = ? AND state = 'open'").run(now, id);
        this.db.prepare('INSERT INTO order_events (order_id, at, step, status, detail) VALUES (?, ?, ?, ?, ?)').run(id, now, 'abandoned', null, redact(detail).slice(0, 1000));
      }
    });
  }

  /** Remove a journalled order that never reached the CA (no order URL): nothing happened, so nothing to keep. */
  discardUnsentOrder(id: number): void {
    this.tx(() => {
      const row = this.db.prepare('SELECT order_url FROM orders WHERE id = ?').get(id) as { order_url: string | null } | undefined;
      if (!row || row.order_url !== null) return;
      this.db.prepare('DELETE FROM authorizations WHERE order_id = ?').run(id);
      this.db.prepare('DELETE FROM order_events WHERE order_id = ?').run(id);
      this.db.prepare('DELETE FROM orders WHERE id = ?').run(id);
    });
  }

  order(id: number): OrderRow | undefined {
    const r = this.db.prepare('SELECT * FROM orders WHERE id = ?').get(id) as Raw | undefined;
    return r ? orderFromRaw(r) : undefined;
  }

  /** Orders journalled but not finished (a crash, a kill, a time-out). */
  openOrders(lineage?: string): OrderRow[] {
    const rows = lineage
      ? this.db.prepare("SELECT * FROM orders WHERE state = 'open' AND lineage = ? ORDER BY id").all(lineage)
      : this.db.prepare("SELECT * FROM orders WHERE state = 'open' ORDER BY id").all();
    return (rows as Raw[]).map(orderFromRaw);
  }

  orders(limit = 100): OrderRow[] {
    return (this.db.prepare('SELECT * FROM orders ORDER BY id DESC LIMIT ?').all(limit) as Raw[]).map(orderFromRaw);
  }

  orderEvents(orderId: number): { at: number; step: string; status: string | null; detail: string | null }[] {
    return this.db.prepare('SELECT at, step, status, detail FROM order_events WHERE order_id = ? ORDER BY id').all(orderId) as never;
  }

  /**
   * `n` orders the CA may have created for the same request as order `fromId` without certctl
   * learning their URLs (a newOrder answered 5xx or not at all). They count against the account's
   * new-orders and pending-orders limits like any order; nothing resumes or finishes them.
   */
  recordPossibleOrders(fromId: number, n: number, now: number): void {
    this.tx(() => {
      for (let i = 0; i < n; i++) {
        const { id } = this.db
          .prepare(
            `INSERT INTO orders (lineage, bundle_id, role, account_id, ca_id, directory_url, names_json, set_key, key_type, replaces, profile, forced, precheck_skipped, status, step, state, created_at, updated_at)
             SELECT lineage, bundle_id, role, account_id, ca_id, directory_url, names_json, set_key, key_type, replaces, profile, forced, precheck_skipped, 'pending', 'possible', 'possible', @now, @now
             FROM orders WHERE id = @fromId RETURNING id`,
          )
          .get({ fromId, now }) as { id: number };
        this.db.prepare('INSERT INTO order_events (order_id, at, step, status, detail) VALUES (?, ?, ?, ?, ?)').run(id, now, 'possible', 'pending', `a newOrder of order ${fromId} got no answer (5xx or none): the CA may have created this order`);
      }
    });
  }

  // ---------------------------------------------------------- authorizations

  recordAuthorization(a: Omit<AuthorizationRow, 'id'>): void {
    this.db
      .prepare(
        `INSERT INTO authorizations (order_id, account_id, directory_url, identifier, authz_url, status, challenge_type, error_type, error_detail, at)
         VALUES (@order_id, @account_id, @directory_url, @identifier, @authz_url, @status, @challenge_type, @error_type, @error_detail, @at)`,
      )
      .run({ ...a, error_detail: a.error_detail === null ? null : redact(a.error_detail) });
  }

  authorizations(orderId: number): AuthorizationRow[] {
    return this.db.prepare('SELECT * FROM authorizations WHERE order_id = ? ORDER BY id').all(orderId) as AuthorizationRow[];
  }

  // ------------------------------------------------------------ certificates

  /**
   * Record a certificate and the registered domains it counts against.
   * Idempotent on (issuer, serial): a certificate seen twice (own + CT, or an
   * import run twice) is one row; the existing row is returned and enriched.
   */
  insertCertificate(c: Omit<CertificateRow, 'id' | 'created_at'> & { registered_domains: string[]; now: number }): { id: number; inserted: boolean } {
    return this.tx(() => {
      const existing = this.db.prepare('SELECT id, source, lineage FROM certificates WHERE issuer = ? AND serial = ?').get(c.issuer, c.serial) as
        | { id: number; source: string; lineage: string | null }
        | undefined;
      if (existing) {
        if (c.seen_in_ct) this.db.prepare('UPDATE certificates SET seen_in_ct = 1 WHERE id = ?').run(existing.id);
        if (c.lineage && !existing.lineage) {
          this.db.prepare('UPDATE certificates SET lineage = ?, version = ?, order_id = COALESCE(order_id, ?) WHERE id = ?').run(c.lineage, c.version, c.order_id, existing.id);
        }
        return { id: existing.id, inserted: false };
      }
      const { id } = this.db
        .prepare(
          `INSERT INTO certificates (lineage, version, order_id, bundle_id, role, source, ca_id, directory_url, issuer, serial, names_json, set_key,
             key_type, not_before, not_after, issued_at, replaces, ari_cert_id, seen_in_ct, fingerprint, created_at)
           VALUES (@lineage, @version, @order_id, @bundle_id, @role, @source, @ca_id, @directory_url, @issuer, @serial, @names_json, @set_key,
             @key_type, @not_before, @not_after, @issued_at, @replaces, @ari_cert_id, @seen_in_ct, @fingerprint, @now) RETURNING id`,
        )
        .get({ ...c, names_json: JSON.stringify(c.names), registered_domains: undefined }) as { id: number };
      const ins = this.db.prepare('INSERT OR IGNORE INTO certificate_domains (registered_domain, issued_at, cert_id) VALUES (?, ?, ?)');
      for (const d of c.registered_domains) ins.run(d, c.issued_at, id);
      return { id, inserted: true };
    });
  }

  certificate(id: number): CertificateRow | undefined {
    const r = this.db.prepare('SELECT * FROM certificates WHERE id = ?').get(id) as Raw | undefined;
    return r ? certFromRaw(r) : undefined;
  }

  certificatesForLineage(lineage: string): CertificateRow[] {
    return (this.db.prepare('SELECT * FROM certificates WHERE lineage = ? ORDER BY version, id').all(lineage) as Raw[]).map(certFromRaw);
  }

  /** The certificates of the lineage's current version (one, or two for dual, three for an SM2 bundle). */
  currentCertificates(lineage: string): CertificateRow[] {
    return (
      this.db
        .prepare('SELECT c.* FROM certificates c JOIN lineages l ON l.name = c.lineage AND l.current_version = c.version WHERE c.lineage = ? ORDER BY c.id')
        .all(lineage) as Raw[]
    ).map(certFromRaw);
  }

  /** The certificate rows recorded for these orders (the parts of one version being stored). */
  certificatesOfOrders(orderIds: number[]): CertificateRow[] {
    if (!orderIds.length) return [];
    return (this.db.prepare(`SELECT * FROM certificates WHERE order_id IN (${orderIds.map(() => '?').join(', ')}) ORDER BY id`).all(...orderIds) as Raw[]).map(certFromRaw);
  }

  /** Bind a certificate row to a lineage version (the row may predate it: seen in CT first, or a version being stored again). */
  setCertificateVersion(id: number, lineage: string, version: number, orderId: number | null): void {
    this.db.prepare('UPDATE certificates SET lineage = ?, version = ?, order_id = COALESCE(?, order_id) WHERE id = ?').run(lineage, version, orderId, id);
  }

  /** The certificates with this serial (lower-case hex as x509.ts writes it); one, unless two issuers reused a serial. */
  certificatesBySerial(serial: string): CertificateRow[] {
    return (this.db.prepare('SELECT * FROM certificates WHERE serial = ? ORDER BY id').all(serial) as Raw[]).map(certFromRaw);
  }

  /** Record a revocation (certctl revoke): the row stays, so the certificate still counts for the limits. */
  markRevoked(id: number, r: { at: number; reason: string | null; by: string }): void {
    this.db.prepare('UPDATE certificates SET revoked_at = ?, revoked_reason = ?, revoked_by = ? WHERE id = ?').run(r.at, r.reason, r.by, id);
  }

  certificatesBySet(setKey: string): CertificateRow[] {
    return (this.db.prepare('SELECT * FROM certificates WHERE set_key = ? ORDER BY issued_at').all(setKey) as Raw[]).map(certFromRaw);
  }

  allCertificates(): CertificateRow[] {
    return (this.db.prepare('SELECT * FROM certificates ORDER BY issued_at').all() as Raw[]).map(certFromRaw);
  }

  // -------------------------------------------------------------- CA choices

  /** Record the CA chosen for a lineage's order (fail-over, docs/cas.md). */
  recordCaChoice(c: Omit<CaChoiceRow, 'id'>): number {
    const { id } = this.db
      .prepare('INSERT INTO ca_choices (lineage, at, ca_id, directory_url, first_ca_id, failed_over, reason) VALUES (@lineage, @at, @ca_id, @directory_url, @first_ca_id, @failed_over, @reason) RETURNING id')
      .get({ ...c, reason: redact(c.reason) }) as { id: number };
    return id;
  }

  /** The latest CA choice of a lineage, if it has one. */
  lastCaChoice(lineage: string): CaChoiceRow | undefined {
    return this.db.prepare('SELECT * FROM ca_choices WHERE lineage = ? ORDER BY id DESC LIMIT 1').get(lineage) as CaChoiceRow | undefined;
  }

  // ----------------------------------------------------------- notifications

  /**
   * Record an event to tell a person about (docs/notify.md), unless one of the same kind and
   * subject was recorded at or after `since` (the period): returns the new row's id, or null.
   * Checked and written in one IMMEDIATE transaction, so two runs at once record it once.
   */
  recordNotification(n: { kind: string; subject: string; lineage: string | null; at: number; payload: unknown }, since: number): number | null {
    return this.tx(() => {
      const seen = this.db.prepare('SELECT id FROM notifications WHERE kind = ? AND subject = ? AND created_at >= ? LIMIT 1').get(n.kind, n.subject, since);
      if (seen) return null;
      const { id } = this.db
        .prepare("INSERT INTO notifications (kind, subject, lineage, created_at, payload_json, delivered_json, attempts) VALUES (?, ?, ?, ?, ?, '{}', 0) RETURNING id")
        .get(n.kind, n.subject, n.lineage, n.at, redact(JSON.stringify(n.payload))) as { id: number };
      return id;
    });
  }

  /** Notifications not yet delivered to every target, recorded at or after `since`, oldest first. */
  pendingNotifications(since: number, limit = 200, afterId = 0): NotificationRow[] {
    return this.db.prepare('SELECT * FROM notifications WHERE done_at IS NULL AND created_at >= ? AND id > ? ORDER BY id LIMIT ?').all(since, afterId, limit) as NotificationRow[];
  }

  /** Every pending notification, oldest first, read a page at a time (a broken target's backlog does not hide newer rows). */
  *pendingNotificationPages(since: number, limit = 200): Generator<NotificationRow> {
    for (let after = 0; ; ) {
      const page = this.pendingNotifications(since, limit, after);
      yield* page;
      if (page.length < limit) return;
      after = page[page.length - 1]!.id;
    }
  }

  /** All notification rows, newest first (status, tests). */
  notifications(limit = 100): NotificationRow[] {
    return this.db.prepare('SELECT * FROM notifications ORDER BY id DESC LIMIT ?').all(limit) as NotificationRow[];
  }

  /**
   * Claim a pending notification for this run until `until` (another run's live claim wins): the
   * row as it is now (another host may have just delivered part of it), or null when it is done or
   * claimed. One conditional UPDATE, so two hosts at once cannot both win.
   */
  claimNotification(id: number, who: string, now: number, until: number): NotificationRow | null {
    const won = this.db
      .prepare('UPDATE notifications SET claimed_by = ?, claimed_until = ? WHERE id = ? AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ? OR claimed_by = ?)')
      .run(who, until, id, now, who).changes;
    if (won !== 1) return null;
    return (this.db.prepare('SELECT * FROM notifications WHERE id = ?').get(id) as NotificationRow | undefined) ?? null;
  }

  /** Give a claim back without a delivery round (every due target was down this run). */
  releaseNotification(id: number, who: string): void {
    this.db.prepare('UPDATE notifications SET claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?').run(id, who);
  }

  /** One delivery round's result: which targets have it now, the last error (redacted), done when every target has it; the claim is released. */
  updateNotification(id: number, u: { delivered: Record<string, number>; lastError: string | null; doneAt: number | null }): void {
    this.db
      .prepare('UPDATE notifications SET delivered_json = ?, attempts = attempts + 1, last_error = ?, done_at = ?, claimed_by = NULL, claimed_until = NULL WHERE id = ?')
      .run(JSON.stringify(u.delivered), u.lastError === null ? null : redact(u.lastError), u.doneAt, id);
  }

  // ------------------------------------------------------------- CA outages

  /**
   * What identifies this run for ca_outages.runs: the renew run's id once startRun was called
   * (a daemon runs many in one process), else this process's opening of the ledger.
   */
  runKey = `proc:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly reachedUrls = new Set<string>();

  /** A CA could not be reached now: open its outage, or count this run in it (once per run). */
  recordCaUnreachable(o: { directory_url: string; ca_id: string; at: number; kind: string; endpoint: string; detail: string }): CaOutageRow {
    this.reachedUrls.delete(o.directory_url);
    const detail = redact(o.detail).slice(0, 500);
    return this.tx(() => {
      const row = this.caOutage(o.directory_url);
      if (!row) {
        this.db
          .prepare('INSERT INTO ca_outages (directory_url, ca_id, first_at, last_at, runs, last_run, kind, endpoint, detail) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)')
          .run(o.directory_url, o.ca_id, o.at, o.at, this.runKey, o.kind, o.endpoint, detail);
      } else {
        const runs = row.last_run === this.runKey ? row.runs : row.runs + 1;
        this.db
          .prepare('UPDATE ca_outages SET last_at = ?, runs = ?, last_run = ?, kind = ?, endpoint = ?, detail = ? WHERE directory_url = ?')
          .run(Math.max(row.last_at, o.at), runs, this.runKey, o.kind, o.endpoint, detail, o.directory_url);
      }
      return this.caOutage(o.directory_url)!;
    });
  }

  /** The CA answered (any HTTP answer below 500): its outage, if any, is over. One write per URL per run. */
  noteCaReached(directoryUrl: string): void {
    if (this.reachedUrls.has(directoryUrl)) return;
    this.reachedUrls.add(directoryUrl);
    this.db.prepare('DELETE FROM ca_outages WHERE directory_url = ?').run(directoryUrl);
  }

  caOutage(directoryUrl: string): CaOutageRow | undefined {
    const r = this.db.prepare('SELECT * FROM ca_outages WHERE directory_url = ?').get(directoryUrl) as CaOutageRow | undefined;
    return r ? { ...r, first_at: Number(r.first_at), last_at: Number(r.last_at), runs: Number(r.runs) } : undefined;
  }

  caOutages(): CaOutageRow[] {
    return (this.db.prepare('SELECT * FROM ca_outages ORDER BY first_at').all() as CaOutageRow[]).map((r) => ({ ...r, first_at: Number(r.first_at), last_at: Number(r.last_at), runs: Number(r.runs) }));
  }

  // ---------------------------------------------------------------- problems

  recordProblem(p: Omit<ProblemRow, 'id'>): number {
    const { id } = this.db
      .prepare(
        `INSERT INTO problems (at, ca_id, directory_url, account_id, order_id, lineage, endpoint, http_status, type, detail, retry_after, limit_name, scope)
         VALUES (@at, @ca_id, @directory_url, @account_id, @order_id, @lineage, @endpoint, @http_status, @type, @detail, @retry_after, @limit_name, @scope) RETURNING id`,
      )
      .get({ ...p, detail: p.detail === null ? null : redact(p.detail) }) as { id: number };
    return id;
  }

  /** The latest problem recorded for a lineage (which step the CA refused last). */
  lastProblemOf(lineage: string): ProblemRow | undefined {
    return this.db.prepare('SELECT * FROM problems WHERE lineage = ? ORDER BY id DESC LIMIT 1').get(lineage) as ProblemRow | undefined;
  }

  problems(limit = 100): ProblemRow[] {
    return this.db.prepare('SELECT * FROM problems ORDER BY id DESC LIMIT ?').all(limit) as ProblemRow[];
  }

  /** Problems whose Retry-After is still in the future at `now`. */
  activeProblems(now: number): ProblemRow[] {
    return this.db.prepare('SELECT * FROM problems WHERE retry_after IS NOT NULL AND retry_after > ? ORDER BY retry_after').all(now) as ProblemRow[];
  }

  /**
   * The latest moment the ledger has recorded anything (an order, a certificate, an authorization
   * result, a problem), by the clock of the run that recorded it. Each is the newest row by id, so
   * this is four index look-ups, not a scan, on any size of ledger.
   */
  latestRecordedAt(): number {
    // One statement (one round trip on PostgreSQL), the four look-ups as scalar subqueries.
    const r = this.db
      .prepare(
        `SELECT (SELECT created_at FROM orders WHERE id = (SELECT MAX(id) FROM orders)) AS o,
                (SELECT created_at FROM certificates WHERE id = (SELECT MAX(id) FROM certificates)) AS c,
                (SELECT at FROM authorizations WHERE id = (SELECT MAX(id) FROM authorizations)) AS a,
                (SELECT at FROM problems WHERE id = (SELECT MAX(id) FROM problems)) AS p`,
      )
      .get() as { o: number | null; c: number | null; a: number | null; p: number | null };
    return Math.max(Number(r.o ?? 0), Number(r.c ?? 0), Number(r.a ?? 0), Number(r.p ?? 0));
  }

  // --------------------------------------------------------- renew, batched

  lineageCount(): number {
    return this.db.prepare('SELECT count(*) FROM lineages').pluck().get() as number;
  }

  /**
   * Lineages (ORDER BY name, as lineages()) with the certificates of their
   * current version (ORDER BY id, as currentCertificates()) and each one's
   * renewal_info row, in ONE query, with only the columns `renew` decides on
   * (it reads the full row with lineage() for the few that are due). `renew`
   * reads pages of this instead of two or three queries per lineage: on
   * 100,000 lineages those cost ~100 µs each, seconds in all.
   * `after`/`limit`: the page of lineages named after `after`; `names`: only these.
   */
  renewalScan(page: { after?: string; limit?: number; names?: string[] } = {}): RenewalScanEntry[] {
    const where = [page.after !== undefined ? 'name > @after' : null, page.names ? 'name IN (SELECT value FROM json_each(@names))' : null].filter(Boolean);
    const rows = this.db
      .prepare(
        `SELECT l.name, l.names_json, l.ca_id, l.directory_url, l.settings_json,
                c.id, c.version, c.role, c.serial, c.not_before, c.not_after, c.ari_cert_id,
                CASE WHEN r.ari_cert_id IS c.ari_cert_id THEN NULL ELSE r.ari_cert_id END, r.cert_id IS NOT NULL,
                r.window_start, r.window_end, r.chosen_at, r.next_check, r.explanation_url, r.fetched_at, c.revoked_at
         FROM (SELECT name, names_json, ca_id, directory_url, settings_json, current_version FROM lineages
               ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY name ${page.limit !== undefined ? 'LIMIT @limit' : ''}) l
         LEFT JOIN certificates c ON c.lineage = l.name AND c.version = l.current_version
         LEFT JOIN renewal_info r ON r.cert_id = c.id
         ORDER BY l.name`,
      )
      .raw()
      .iterate({
        ...(page.after !== undefined ? { after: page.after } : {}),
        ...(page.limit !== undefined ? { limit: page.limit } : {}),
        ...(page.names ? { names: JSON.stringify(page.names) } : {}),
      }) as IterableIterator<unknown[]>;
    // The same few CA ids and directory URLs on every row: keep one copy of each.
    const strings = new Map<string, string>();
    const intern = (v: string): string => {
      const known = strings.get(v);
      if (known !== undefined) return known;
      strings.set(v, v);
      return v;
    };
    const out: RenewalScanEntry[] = [];
    let cur: RenewalScanEntry | undefined;
    // Sorted by name in SQL; a lineage's certificates by id here (only dual/bundle lineages have more
    // than one), which spares SQLite a sort of the whole page.
    const byId = (a: ScannedCertificate, b: ScannedCertificate) => a.id - b.id;
    for (const r of rows) {
      if (!cur || cur.lineage.name !== r[0]) {
        if (cur && cur.current.length > 1) cur.current.sort(byId);
        const settings = r[4] as string;
        const label = new LazyRow('lineage', r[0]);
        cur = {
          lineage: {
            name: r[0] as string,
            names: ledgerNames(r[1], label),
            ca_id: intern(r[2] as string),
            directory_url: intern(r[3] as string),
            settings: ledgerSettings(settings, label),
          },
          current: [],
        };
        out.push(cur);
      }
      if (r[5] === null) continue;
      const id = r[5] as number;
      const ariCertId = r[11] as string | null;
      cur.current.push({
        id,
        version: r[6] as number | null,
        role: r[7] as string | null,
        serial: r[8] as string,
        not_before: r[9] as number,
        not_after: r[10] as number,
        ari_cert_id: ariCertId,
        revoked_at: r[20] as number | null,
        // The row's ari_cert_id comes back only when it differs from the certificate's (one string fewer per row).
        renewal_info: !r[13]
          ? undefined
          : { cert_id: id, ari_cert_id: (r[12] ?? ariCertId) as string, window_start: r[14] as number | null, window_end: r[15] as number | null, chosen_at: r[16] as number | null, next_check: r[17] as number | null, explanation_url: r[18] as string | null, fetched_at: r[19] as number },
      });
    }
    if (cur && cur.current.length > 1) cur.current.sort(byId);
    return out;
  }

  // -------------------------------------------------------- status, batched

  /**
   * Every lineage (or only `names`) in `status` order: soonest-expiring
   * current certificate first, lineages without one before all others, then
   * by name — the order statusReport gave by sorting the whole report in
   * memory, and statusPages' — from ONE query, with only what the order needs
   * (a few dozen bytes per lineage): status' live/ check of the lineages with
   * files on this host.
   */
  /**
   * Appended to a name in ORDER BY: names compare as bytes, as SQLite compares them, whatever the
   * PostgreSQL database's collation (status' order, and the first damaged row by name).
   */
  private get byBytes(): string {
    return this.backend === 'postgres' ? ' COLLATE "C"' : '';
  }

  statusOrder(names?: readonly string[]): StatusOrderRow[] {
    const rows = this.db
      .prepare(
        `SELECT l.name, l.current_version, count(c.id)
         FROM lineages l LEFT JOIN certificates c ON c.lineage = l.name AND c.version = l.current_version
         ${names ? 'WHERE l.name IN (SELECT value FROM json_each(@names))' : ''}
         GROUP BY l.name, l.current_version
         ORDER BY CASE WHEN min(c.not_after) IS NULL THEN 0 ELSE 1 END, min(c.not_after), l.name${this.byBytes}`,
      )
      .raw()
      .all(names ? { names: JSON.stringify(names) } : {}) as unknown[][];
    return rows.map((r) => ({ name: r[0] as string, current_version: Number(r[1]), certificates: Number(r[2]) }));
  }

  /**
   * Read every lineage row's checked columns (names, settings, version) and its current
   * certificates' names, and throw the StateError lineages() / currentCertificates() would for a
   * damaged one, keeping nothing: `status` and `metrics` write as they read,
   * so they look first — a damaged row must end the command before any output, as it always did.
   */
  checkLineageRows(names?: readonly string[]): void {
    const only = names ? 'WHERE name IN (SELECT value FROM json_each(@names))' : '';
    const params = names ? { names: JSON.stringify(names) } : {};
    const checkLineage = (r: unknown[]): void => {
      const label = new LazyRow('lineage', r[0]);
      const v = r[3];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw damagedRow(label, 'current_version', `${JSON.stringify(v)}, not a version number`);
      ledgerNames(r[1], label);
      ledgerSettings(r[2], label);
    };
    const certsOf = `FROM certificates c JOIN lineages l ON c.lineage = l.name AND c.version = l.current_version ${names ? 'WHERE l.name IN (SELECT value FROM json_each(@names))' : ''}`;
    // The server checks the JSON itself and hands over only the rows that may be damaged (none, as a
    // rule), which the checks above then judge — the SQL lets through nothing they would refuse:
    // on SQLite 0.15 s + 0.4 s of CPU on 100,000 lineages instead of ~1.1 s moving and parsing every
    // names and settings text in JavaScript; on PostgreSQL ~0.4 s of the server's instead of ~1 s.
    const pg = this.backend === 'postgres';
    // PostgreSQL 15 has no IS JSON: a cast of a text that is not JSON fails the statement, and a
    // failed fast check falls back to the exact one below (CASE keeps the element scan off non-arrays).
    // SQLite: the JSON functions only under CASE WHEN json_valid (an AND does not promise to stop
    // before them, and json_type of a text that is not JSON is an error, not a NULL).
    // SQLite's JSON functions read a text only up to a NUL, JSON.parse reads all of it ('[]' NUL 'x'
    // is valid to one, not the other): a text with a NUL is a suspect (PostgreSQL's text has none).
    const noNul = (col: string): string => `instr(${col}, char(0)) = 0`;
    const namesOk = (col: string): string =>
      pg
        ? `coalesce(CASE WHEN json_typeof(CAST(${col} AS json)) = 'array' THEN NOT EXISTS (SELECT 1 FROM json_array_elements(CAST(${col} AS json)) e WHERE json_typeof(e) <> 'string') END, false)`
        : `(CASE WHEN typeof(${col}) = 'text' AND ${noNul(col)} AND json_valid(${col}) THEN json_type(${col}) = 'array' AND NOT EXISTS (SELECT 1 FROM json_each(${col}) WHERE type <> 'text') ELSE 0 END)`;
    // An object, whose "cas" (if not null) is a list of strings and "renewDays" a number, as ledgerSettings
    // wants; the fields are looked up only in a text that names them (one that names a key with an
    // escape is judged in JavaScript, judgeInJs), most texts have neither.
    const at = (text: string, what: string): string => `${pg ? 'strpos' : 'instr'}(${text}, '${what}')`;
    const settingsOk = pg
      ? `(settings_json = '{}' OR coalesce(json_typeof(CAST(settings_json AS json)) = 'object'
          AND (${at('settings_json', '"cas"')} = 0 OR coalesce(json_typeof(CAST(settings_json AS json) -> 'cas'), 'null') IN ('null', 'array')
            AND CASE WHEN json_typeof(CAST(settings_json AS json) -> 'cas') = 'array' THEN NOT EXISTS (SELECT 1 FROM json_array_elements(CAST(settings_json AS json) -> 'cas') e WHERE json_typeof(e) <> 'string') ELSE true END)
          AND (${at('settings_json', '"renewDays"')} = 0 OR coalesce(json_typeof(CAST(settings_json AS json) -> 'renewDays'), 'null') IN ('null', 'number')), false))`
      : `(settings_json = '{}' OR CASE WHEN typeof(settings_json) = 'text' AND ${noNul('settings_json')} AND json_valid(settings_json) THEN json_type(settings_json) = 'object'
          AND (${at('settings_json', '"cas"')} = 0 OR coalesce(json_type(settings_json, '$.cas'), 'null') IN ('null', 'array')
            AND CASE WHEN json_type(settings_json, '$.cas') = 'array' THEN NOT EXISTS (SELECT 1 FROM json_each(settings_json, '$.cas') WHERE type <> 'text') ELSE 1 END)
          AND (${at('settings_json', '"renewDays"')} = 0 OR coalesce(json_type(settings_json, '$.renewDays'), 'null') IN ('null', 'integer', 'real')) ELSE 0 END)`;
    // Which key a path means is JSON.parse's to say when a key is written twice (it takes the last)
    // or with an escape ("c\u0061s"): such texts are judged in JavaScript, whatever the SQL thinks.
    const twice = (key: string): string => `(${at('settings_json', `"${key}"`)} > 0 AND ${at(`substr(settings_json, ${at('settings_json', `"${key}"`)} + ${key.length + 2})`, `"${key}"`)} > 0)`;
    const judgeInJs = `(${at('settings_json', '\\')} > 0 OR ${twice('cas')} OR ${twice('renewDays')})`;
    const versionOk = pg ? 'coalesce(current_version BETWEEN 0 AND 9007199254740991, false)' : `(typeof(current_version) = 'integer' AND current_version BETWEEN 0 AND 9007199254740991)`;
    // Never NULL (a NULL text would make NOT lineageOk NULL, and the row would pass unjudged).
    const lineageOk = `coalesce(${versionOk} AND ${namesOk('names_json')} AND ${settingsOk}, ${pg ? 'false' : '0'})`;
    // sql_ok 0: the SQL finds it damaged; 1: only to be judged in JavaScript (judgeInJs).
    const suspectLineages = `SELECT name, names_json, settings_json, current_version, CASE WHEN ${lineageOk} THEN 1 ELSE 0 END AS sql_ok FROM lineages
        WHERE (NOT ${lineageOk} OR ${judgeInJs})
          ${names ? 'AND name IN (SELECT value FROM json_each(@names))' : ''}
        ORDER BY name${this.byBytes}`;
    // Every lineage: the certificates are checked in table order and only the suspect ones are
    // looked up as current (90 ms on 100,000 lineages on SQLite, against 240 ms walking the lineages
    // and looking up each one's current certificates); a few named lineages: through the index.
    const suspectCerts = names
      ? `SELECT c.id, c.names_json ${certsOf} AND NOT ${namesOk('c.names_json')} ORDER BY c.id`
      : `WITH s AS MATERIALIZED (SELECT c.id, c.names_json, c.lineage, c.version FROM certificates c WHERE NOT ${namesOk('c.names_json')})
           SELECT s.id, s.names_json FROM s JOIN lineages l ON s.lineage = l.name AND s.version = l.current_version ORDER BY s.id`;
    const fast = (): [unknown[][], unknown[][]] => [this.db.prepare(suspectLineages).raw().all(params) as unknown[][], this.db.prepare(suspectCerts).raw().all(params) as unknown[][]];
    let suspects: [unknown[][], unknown[][]] | undefined;
    if (!pg) suspects = fast();
    else {
      try {
        // In a transaction of its own (a savepoint inside a caller's): a failed cast ends only it.
        suspects = this.db.transaction(fast).deferred();
      } catch (err) {
        // Only a text the casts refused (class 22, data exception: not JSON; 54, too deeply nested)
        // sends it to the exact check; a lock time-out or a lost server is the command's answer.
        if (!(err instanceof PostgresError) || !/^(22|54)/.test(err.code ?? '')) throw err;
      }
    }
    if (suspects) {
      for (const r of suspects[0]) checkLineage(r);
      for (const r of suspects[1]) ledgerNames(r[1], new LazyRow('certificate', r[0]));
      // A row the SQL found damaged that every check here passes (the two disagree: a bug) sends
      // every row to be judged below, rather than the rows after it never being judged at all.
      if (!suspects[0].some((r) => !Number(r[4])) && !suspects[1].length) return;
    }
    // When the fast check failed (PostgreSQL: a text that is not JSON) or disagreed, every row is
    // read (through a cursor on PostgreSQL, or the bridge would hold every row at once) and judged
    // here, in name order — the first damaged lineage is the one named — then the current
    // certificates' names, which status and metrics do not show but renew and issue read: a damaged
    // one is the same exit 10 from every command, as before status read in pages.
    for (const r of this.stream(`SELECT name, names_json, settings_json, current_version FROM lineages ${only} ORDER BY name${this.byBytes}`, params, 5000)) checkLineage(r);
    for (const r of this.stream(`SELECT c.id, c.names_json ${certsOf} ORDER BY c.id`, params, 5000)) ledgerNames(r[1], new LazyRow('certificate', r[0]));
  }

  /** Which of these names have a lineage row (one query, whatever the size of the ledger). */
  lineagesAmong(names: readonly string[]): Set<string> {
    if (!names.length) return new Set();
    return new Set(this.db.prepare('SELECT name FROM lineages WHERE name IN (SELECT value FROM json_each(@names))').pluck().all({ names: JSON.stringify(names) }) as string[]);
  }

  /**
   * The status report's rows a page at a time, in statusOrder's order, from ONE sorted statement
   * read as it goes: SQLite steps through it (it walks the lineages in name order and sorts the
   * rows — twice as fast on 100,000 lineages as looking each page's names up out of order — its
   * sorter spilling to a temporary file, so memory stays bounded); PostgreSQL reads it through a
   * server-side cursor (LedgerDb.cursor), 2,000 rows per FETCH, where looking pages of names up
   * cost a scan of the lineages per page.
   */
  *statusPages(o: { names?: readonly string[]; pageSize: number; hosts?: boolean; readAhead?: boolean }): Generator<StatusPageEntry[]> {
    const read = this.statusRead(o);
    try {
      yield* read.pages;
    } finally {
      read.close();
    }
  }

  /**
   * statusPages, started now: on a large SQLite ledger the reader thread begins stepping through
   * the statement at once, so the caller's own reads (StatusScan's damaged-row check) overlap it.
   * `close()` ends it, whether or not `pages` was read.
   */
  statusRead(o: { names?: readonly string[]; pageSize: number; hosts?: boolean; readAhead?: boolean }): { pages: Generator<StatusPageEntry[]>; close(): void } {
    const only = o.names ? 'WHERE l.name IN (SELECT value FROM json_each(@names))' : '';
    // PostgreSQL: each lineage's latest CA choice and (with `hosts`) its fleet hosts come in the same
    // statement, on the lineage's first row, as JSON the driver parses in the bridge's thread — two
    // queries per page cost 100 pages × ~17 ms of waiting on 100,000 lineages (BENCHMARKS.md "status
    // at scale"). SQLite asks per page (statusExtras), in-process and cheap.
    const folded = this.backend === 'postgres';
    const onlyExtra = o.names ? 'WHERE lineage IN (SELECT value FROM json_each(@names))' : '';
    const extraCtes = folded
      ? `, cc AS (SELECT DISTINCT ON (lineage) lineage, json_build_array(id, at, ca_id, directory_url, first_ca_id, failed_over, reason) AS choice FROM ca_choices ${onlyExtra} ORDER BY lineage, id DESC)
         ${o.hosts ? `, h AS (SELECT lineage, json_agg(json_build_array(host, deployed_version, deployed_at, pending_version, added_at) ORDER BY host) AS hosts FROM lineage_hosts ${onlyExtra} GROUP BY lineage)` : ''}`
      : '';
    const extraColumns = folded ? `, CASE WHEN c.id IS NOT DISTINCT FROM o.first THEN cc.choice END, ${o.hosts ? 'CASE WHEN c.id IS NOT DISTINCT FROM o.first THEN h.hosts END' : 'NULL'}` : '';
    const extraJoins = folded ? `LEFT JOIN cc ON cc.lineage = l.name ${o.hosts ? 'LEFT JOIN h ON h.lineage = l.name' : ''}` : '';
    // PostgreSQL numbers the lineages in the report's order first (a sort of 100,000 narrow rows),
    // so the sort of the joined rows compares two integers, not a boolean, a time and a name: the
    // same order, ~0.4 s of the server's less on 100,000 lineages (EXPLAIN ANALYZE, BENCHMARKS.md).
    // Names compare as bytes (COLLATE "C"), as SQLite compares them, whatever the database's collation.
    const sql = `WITH ${folded ? 'o0' : 'o'} AS (SELECT l.name AS name, min(c.not_after) AS soon${folded ? ', min(c.id) AS first' : ''} FROM lineages l LEFT JOIN certificates c ON c.lineage = l.name AND c.version = l.current_version ${only} GROUP BY l.name)${folded ? ', o AS (SELECT name, first, row_number() OVER (ORDER BY soon IS NOT NULL, soon, name COLLATE "C") AS rn FROM o0)' : ''}${extraCtes}
         SELECT ${STATUS_COLUMNS}${extraColumns} ${STATUS_FROM.replace('FROM lineages l', 'FROM o JOIN lineages l ON l.name = o.name')} ${extraJoins}
         ORDER BY ${folded ? 'o.rn' : 'o.soon IS NOT NULL, o.soon, l.name'}, c.id`;
    const params = o.names ? { names: JSON.stringify(o.names) } : {};
    // A large ledger on SQLite is read ahead in a worker thread (~half of status' CPU is SQLite's;
    // BENCHMARKS.md "status at scale"); a small one or a few named lineages are not worth a thread.
    // `readAhead` true / false: always / never (the same rows either way).
    const useThread = this.backend === 'sqlite' && this.sqliteSource !== undefined && (o.readAhead ?? (!o.names && this.lineageCount() >= READ_AHEAD_LINEAGES));
    // Chunks of 500 rows: with 2,000, the two threads' heaps took status --json on 100,000 lineages
    // to 250 MB peak RSS (185 MB on one thread); with 500, 189 MB and the same speed.
    const ahead = useThread ? this.readAhead(sql, params, 500) : undefined;
    const rows = ahead ? flatChunks(ahead.chunks()) : this.stream(sql, params);
    return {
      pages: this.pagesOf(rows, { ...o, folded }),
      close: () => {
        ahead?.close();
        rows.return(undefined);
      },
    };
  }

  private *pagesOf(rows: Generator<unknown[]>, o: { pageSize: number; hosts?: boolean; folded: boolean }): Generator<StatusPageEntry[]> {
    const read = statusRowReader();
    const extras = (done: StatusPageEntry[]): void => {
      if (!o.folded) this.statusExtras(done, o);
    };
    let page = new Map<string, StatusPageEntry>();
    let last: string | undefined;
    for (const r of rows) {
      if (r[0] !== last && page.size >= o.pageSize) {
        const done = [...page.values()];
        extras(done);
        yield done;
        page = new Map();
      }
      last = r[0] as string;
      read(r, page);
      if (o.folded && (r[22] != null || r[23] != null)) foldedExtras(r, page.get(last)!);
    }
    if (page.size) {
      const done = [...page.values()];
      extras(done);
      yield done;
    }
  }

  /** A page's latest CA choices (lineages with a CA list only) and, with `hosts`, its fleet hosts: a query each. */
  private statusExtras(page: StatusPageEntry[], o: { hosts?: boolean }): void {
    const byName = new Map(page.map((e) => [e.lineage.name, e]));
    const withCas = page.filter((e) => e.lineage.settings.cas).map((e) => e.lineage.name);
    if (withCas.length) {
      const q = { names: JSON.stringify(withCas) };
      for (const r of this.db.prepare('SELECT * FROM ca_choices WHERE id IN (SELECT max(id) FROM ca_choices WHERE lineage IN (SELECT value FROM json_each(@names)) GROUP BY lineage)').all(q) as CaChoiceRow[]) {
        const e = byName.get(r.lineage);
        if (e) e.caChoice = r;
      }
    }
    if (o.hosts && page.length) {
      const q = { names: JSON.stringify([...byName.keys()]) };
      for (const r of this.db.prepare('SELECT * FROM lineage_hosts WHERE lineage IN (SELECT value FROM json_each(@names)) ORDER BY lineage, host').all(q) as LineageHostRow[]) byName.get(r.lineage)?.hosts.push(hostRow(r));
    }
  }

  /** A worker thread stepping through one SELECT on this SQLite ledger, ahead of the caller (sqlite-reader.ts). */
  private readAhead(sql: string, params: Record<string, unknown>, size: number): ReadAhead {
    const addon = nativeBinding().nativeBinding;
    const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');
    return new ReadAhead({ ...this.sqliteSource!, sqlitePath, addon: typeof addon === 'string' ? addon : undefined, sql, params, size });
  }

  /** Rows of one SELECT as arrays, read as they are consumed: LedgerDb.cursor on PostgreSQL, the statement's own iterator on SQLite. */
  private *stream(sql: string, params: Record<string, unknown>, size = 2000): Generator<unknown[]> {
    const db = this.db;
    if (db.cursor) {
      yield* flatChunks(db.cursor(sql, [params], size));
      return;
    }
    yield* db.prepare(sql).raw().iterate(params) as IterableIterator<unknown[]>;
  }

  /**
   * The soonest-expiring current certificate's not_after of each lineage that has one, ORDER BY
   * name, read as it is consumed: `metrics`' expiry families.
   */
  *expiries(): Generator<{ name: string; not_after: number }> {
    const sql = 'SELECT l.name, min(c.not_after) FROM lineages l JOIN certificates c ON c.lineage = l.name AND c.version = l.current_version GROUP BY l.name ORDER BY l.name';
    for (const r of this.stream(sql, {})) yield { name: r[0] as string, not_after: Number(r[1]) };
  }

  /**
   * lineage_hosts rows of existing lineages, ORDER BY lineage, host (as allLineageHosts()), each
   * with its lineage's current version, read as they are consumed: `metrics`' fleet families.
   */
  *lineageHostRows(): Generator<LineageHostRow & { current_version: number }> {
    const sql = `SELECT h.lineage, h.host, h.deployed_version, h.deployed_at, h.pending_version, h.added_at, l.current_version
                 FROM lineage_hosts h JOIN lineages l ON l.name = h.lineage ORDER BY h.lineage, h.host`;
    for (const r of this.stream(sql, {})) {
      yield { ...hostRow({ lineage: r[0], host: r[1], deployed_version: r[2], deployed_at: r[3], pending_version: r[4], added_at: r[5] } as LineageHostRow), current_version: Number(r[6]) };
    }
  }

  /** Lineages with a renewed_by host (renewedBy()), ORDER BY name, read as they are consumed. */
  *renewedByRows(): Generator<{ name: string; host: string; at: number }> {
    const sql = "SELECT name, renewed_by, renewed_at FROM lineages WHERE renewed_by IS NOT NULL AND renewed_by <> '' ORDER BY name";
    for (const r of this.stream(sql, {})) yield { name: r[0] as string, host: r[1] as string, at: Number(r[2]) };
  }

  // ------------------------------------------------------- directories / ARI

  directoryInfo(url: string): { url: string; renewal_info: string | null; profiles: Record<string, string> | null; fetched_at: number } | undefined {
    const r = this.db.prepare('SELECT * FROM directories WHERE url = ?').get(url) as { url: string; renewal_info: string | null; profiles_json: string | null; fetched_at: number } | undefined;
    return r ? { url: r.url, renewal_info: r.renewal_info, profiles: r.profiles_json ? JSON.parse(r.profiles_json) : null, fetched_at: r.fetched_at } : undefined;
  }

  saveDirectoryInfo(url: string, renewalInfo: string | null, profiles: Record<string, string> | null, now: number): void {
    this.db
      .prepare('INSERT INTO directories (url, renewal_info, profiles_json, fetched_at) VALUES (?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET renewal_info = excluded.renewal_info, profiles_json = excluded.profiles_json, fetched_at = excluded.fetched_at')
      .run(url, renewalInfo, profiles ? JSON.stringify(profiles) : null, now);
  }

  renewalInfo(certId: number): RenewalInfoRow | undefined {
    return this.db.prepare('SELECT * FROM renewal_info WHERE cert_id = ?').get(certId) as RenewalInfoRow | undefined;
  }

  saveRenewalInfo(r: RenewalInfoRow): void {
    this.db
      .prepare(
        `INSERT INTO renewal_info (cert_id, ari_cert_id, window_start, window_end, chosen_at, next_check, explanation_url, fetched_at)
         VALUES (@cert_id, @ari_cert_id, @window_start, @window_end, @chosen_at, @next_check, @explanation_url, @fetched_at)
         ON CONFLICT(cert_id) DO UPDATE SET ari_cert_id = excluded.ari_cert_id, window_start = excluded.window_start, window_end = excluded.window_end,
           chosen_at = excluded.chosen_at, next_check = excluded.next_check, explanation_url = excluded.explanation_url, fetched_at = excluded.fetched_at`,
      )
      .run(r);
  }

  setAriCertId(certId: number, ariCertId: string): void {
    this.db.prepare('UPDATE certificates SET ari_cert_id = ? WHERE id = ?').run(ariCertId, certId);
  }

  // ------------------------------------------------------------------- fleet

  /** The fleet key id this ledger's secrets are sealed with (fleet_meta), if any has been claimed. */
  fleetKeyId(): string | undefined {
    return this.db.prepare("SELECT value FROM fleet_meta WHERE name = 'key_id'").pluck().get() as string | undefined;
  }

  /** Record `keyId` as the fleet's key unless one is recorded already; returns the recorded one (race-free: one statement). */
  claimFleetKeyId(keyId: string): string {
    this.db.prepare("INSERT OR IGNORE INTO fleet_meta (name, value) VALUES ('key_id', ?)").run(keyId);
    return this.fleetKeyId()!;
  }

  private needSealer(): Sealer {
    if (!this.sealer) throw new StateError('This command needs the fleet key, and none was given.', 'Give --fleet-key FILE (or CERTCTL_FLEET_KEY_FILE, or fleetKey: in the config); see docs/fleet.md.');
    return this.sealer;
  }

  /**
   * The fleet key this host seals with is still the fleet's (fleet_meta): `certctl fleet key rotate` on
   * another host may have changed it since this process opened the ledger. Every seal runs inside a
   * write transaction (the advisory lock rotation takes too) after this check, so a value is sealed
   * either before a rotation (which then re-seals it) or not at all: never under a key nobody holds.
   */
  assertFleetKeyCurrent(): void {
    const sealer = this.needSealer();
    const recorded = this.fleetKeyId();
    if (recorded !== undefined && recorded !== sealer.keyId) throw fleetKeyChanged(sealer.file, sealer.keyId, recorded);
  }

  /** Keep every file of a lineage version, private keys sealed (called inside the storing transaction). */
  saveVersionFiles(lineage: string, version: number, files: StoredFile[], now: number): void {
    this.tx(() => this.saveVersionFilesLocked(lineage, version, files, now));
  }

  private saveVersionFilesLocked(lineage: string, version: number, files: StoredFile[], now: number): void {
    this.assertFleetKeyCurrent();
    const sealer = this.needSealer();
    if (files.length === 0) return;
    // One statement for the version's few files (cert, chain, fullchain, key): one round trip on PostgreSQL.
    const values = files.flatMap((f) => {
      const data = f.secret ? sealer.seal(f.data, fileAad(lineage, version, f.file)) : f.data;
      return [lineage, version, f.file, f.secret ? 1 : 0, data, f.secret ? sealer.keyId : null, now];
    });
    this.db.prepare(`INSERT OR IGNORE INTO version_files (lineage, version, file, secret, data, key_id, created_at) VALUES ${files.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`).run(...values);
    // Retention: hosts deploy only a lineage's current version (renew/deploy.ts), and a new order reuses
    // at most the current key (--reuse-key), so the ledger keeps the files of this version and the one
    // before it; older versions' files (70 % of a fleet ledger's yearly growth, docs/scale.md) go. Each
    // host's archive/ keeps every version it wrote, as certbot's does; the certificates, orders and
    // their journal stay (the planner's counts, status, revoke).
    // Never below the version live/ is at now (current_version): a version number can skip (archive
    // files left by a store that failed), and until the switch to this one is done the current
    // version is what a host that is behind deploys.
    const current = this.db.prepare('SELECT current_version FROM lineages WHERE name = ?').pluck().get(lineage) as number | null | undefined;
    const keepFrom = Math.min(version - KEPT_VERSION_FILES + 1, typeof current === 'number' ? current : version);
    this.db.prepare('DELETE FROM version_files WHERE lineage = ? AND version < ?').run(lineage, keepFrom);
  }

  /** The files of a stored version, keys opened with the fleet key (empty when the ledger holds none). */
  versionFiles(lineage: string, version: number): StoredFile[] {
    const rows = this.db.prepare('SELECT file, secret, data FROM version_files WHERE lineage = ? AND version = ? ORDER BY file').all(lineage, version) as { file: string; secret: number; data: string }[];
    return rows.map((r) => ({
      file: r.file,
      secret: Boolean(Number(r.secret)),
      data: Number(r.secret) ? this.needSealer().open(r.data, fileAad(lineage, version, r.file), `key ${r.file} of ${lineage} version ${version}`) : r.data,
    }));
  }

  /** The ACME account key of a directory, opened (undefined when the ledger holds none). */
  accountKey(directoryUrl: string): string | undefined {
    const sealed = this.db.prepare('SELECT key_sealed FROM accounts WHERE directory_url = ?').pluck().get(directoryUrl) as string | null | undefined;
    return sealed ? this.needSealer().open(sealed, accountAad(directoryUrl), `account key of ${directoryUrl}`) : undefined;
  }

  /** Keep the account key of a directory, sealed; the row is created (without an account URL) when there is none yet, before newAccount is sent. */
  saveAccountKey(a: { directory_url: string; ca_id: string; key_path: string; key_type: string; email: string | null; keyPem: string; now: number }): void {
    this.tx(() => {
    this.assertFleetKeyCurrent();
    const sealed = this.needSealer().seal(a.keyPem, accountAad(a.directory_url));
    this.db
      .prepare(
        `INSERT INTO accounts (directory_url, ca_id, account_url, key_path, key_type, email, eab_kid, created_at, updated_at, key_sealed)
         VALUES (@directory_url, @ca_id, NULL, @key_path, @key_type, @email, NULL, @now, @now, @sealed)
         ON CONFLICT(directory_url) DO UPDATE SET key_sealed = excluded.key_sealed, updated_at = excluded.updated_at`,
      )
      .run({ directory_url: a.directory_url, ca_id: a.ca_id, key_path: a.key_path, key_type: a.key_type, email: a.email, now: a.now, sealed });
    });
  }

  /**
   * `certctl fleet key rotate`: every sealed value opened with the current key and sealed with `next`,
   * and the fleet's key id changed, in ONE transaction (a failure changes nothing). Returns how many.
   */
  rotateFleetKey(next: Sealer): { files: number; accounts: number; orders: number } {
    const cur = this.needSealer();
    return this.tx(() => {
      // Under the write lock: a host that sealed with the current key committed before this, and is re-sealed below.
      this.assertFleetKeyCurrent();
      const files = this.db.prepare('SELECT lineage, version, file, data FROM version_files WHERE secret = 1').all() as { lineage: string; version: number; file: string; data: string }[];
      const upd = this.db.prepare('UPDATE version_files SET data = ?, key_id = ? WHERE lineage = ? AND version = ? AND file = ?');
      for (const f of files) {
        const aad = fileAad(f.lineage, Number(f.version), f.file);
        upd.run(next.seal(cur.open(f.data, aad, `key ${f.file} of ${f.lineage} version ${f.version}`), aad), next.keyId, f.lineage, f.version, f.file);
      }
      const accounts = this.db.prepare('SELECT directory_url, key_sealed FROM accounts WHERE key_sealed IS NOT NULL').all() as { directory_url: string; key_sealed: string }[];
      for (const a of accounts) {
        const aad = accountAad(a.directory_url);
        this.db.prepare('UPDATE accounts SET key_sealed = ? WHERE directory_url = ?').run(next.seal(cur.open(a.key_sealed, aad, `account key of ${a.directory_url}`), aad), a.directory_url);
      }
      // The pending keys of orders in flight (a host that died mid-order, or one refused because the key changed): resumed with the new key.
      const orders = this.db.prepare('SELECT id, role, key_sealed FROM orders WHERE key_sealed IS NOT NULL').all() as { id: number; role: string | null; key_sealed: string }[];
      for (const o of orders) {
        const aad = orderKeyAad(Number(o.id), o.role ?? 'main');
        this.db.prepare('UPDATE orders SET key_sealed = ? WHERE id = ?').run(next.seal(cur.open(o.key_sealed, aad, `pending key of order ${o.id}`), aad), o.id);
      }
      this.db.prepare("INSERT INTO fleet_meta (name, value) VALUES ('key_id', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value").run(next.keyId);
      return { files: files.length, accounts: accounts.length, orders: orders.length };
    });
  }

  /** Add a host that deploys the lineage (no-op when it does already). */
  addLineageHost(lineage: string, host: string, now: number): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO lineage_hosts (lineage, host, deployed_version, added_at) VALUES (?, ?, 0, ?)').run(lineage, host, now).changes > 0;
  }

  removeLineageHost(lineage: string, host: string): boolean {
    return this.db.prepare('DELETE FROM lineage_hosts WHERE lineage = ? AND host = ?').run(lineage, host).changes > 0;
  }

  lineageHosts(lineage: string): LineageHostRow[] {
    return (this.db.prepare('SELECT * FROM lineage_hosts WHERE lineage = ? ORDER BY host').all(lineage) as LineageHostRow[]).map(hostRow);
  }

  /** Every lineage_hosts row, by lineage then host (status, metrics: one query). */
  allLineageHosts(): LineageHostRow[] {
    return (this.db.prepare('SELECT * FROM lineage_hosts ORDER BY lineage, host').all() as LineageHostRow[]).map(hostRow);
  }

  /** The lineages `host` deploys. */
  hostLineages(host: string): LineageHostRow[] {
    return (this.db.prepare('SELECT * FROM lineage_hosts WHERE host = ? ORDER BY lineage').all(host) as LineageHostRow[]).map(hostRow);
  }

  /** Journal a host's write of `version` before its first file is written. */
  setHostPending(lineage: string, host: string, version: number): void {
    this.db.prepare('UPDATE lineage_hosts SET pending_version = ? WHERE lineage = ? AND host = ?').run(version, lineage, host);
  }

  /** The host wrote `version` (files, live/, deploy hooks done): recorded, the journal cleared. Only for a host that deploys the lineage. */
  setHostDeployed(lineage: string, host: string, version: number, now: number): void {
    this.db.prepare('UPDATE lineage_hosts SET deployed_version = ?, deployed_at = ?, pending_version = NULL WHERE lineage = ? AND host = ?').run(version, now, lineage, host);
  }

  /** Which host stored the lineage's current version, and when. */
  markRenewedBy(lineage: string, host: string, now: number): void {
    this.db.prepare('UPDATE lineages SET renewed_by = ?, renewed_at = ? WHERE name = ?').run(host, now, lineage);
  }

  renewedBy(lineage: string): { host: string; at: number } | undefined {
    const r = this.db.prepare('SELECT renewed_by, renewed_at FROM lineages WHERE name = ?').get(lineage) as { renewed_by: string | null; renewed_at: number | null } | undefined;
    return r?.renewed_by ? { host: r.renewed_by, at: Number(r.renewed_at) } : undefined;
  }

  // ------------------------------------------------------------------- locks

  /**
   * Take the named lock if it is free, or held by a process that is gone: on
   * this host a pid that no longer exists, on another host a heartbeat older
   * than `staleMs`. The check and the take are one IMMEDIATE transaction, so
   * two processes can never both win. Returns the current holder on failure.
   */
  tryLock(name: string, me: { pid: number; host: string }, now: number, staleMs: number, alive: (pid: number) => boolean): { ok: true } | { ok: false; holder: { pid: number; host: string; acquired_at: number } } {
    return this.tx(() => {
      now = this.lockClock(now);
      const cur = this.db.prepare('SELECT pid, host, acquired_at, heartbeat FROM locks WHERE name = ?').get(name) as
        | { pid: number; host: string; acquired_at: number; heartbeat: number }
        | undefined;
      if (cur && !(cur.pid === me.pid && cur.host === me.host)) {
        const gone = cur.host === me.host ? !alive(cur.pid) : now - cur.heartbeat > staleMs;
        if (!gone) return { ok: false as const, holder: cur };
      }
      this.db
        .prepare('INSERT INTO locks (name, pid, host, acquired_at, heartbeat) VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET pid = excluded.pid, host = excluded.host, acquired_at = excluded.acquired_at, heartbeat = excluded.heartbeat')
        .run(name, me.pid, me.host, now, now);
      return { ok: true as const };
    });
  }

  heartbeatLock(name: string, me: { pid: number; host: string }, now: number): void {
    this.db.prepare('UPDATE locks SET heartbeat = ? WHERE name = ? AND pid = ? AND host = ?').run(this.lockClock(now), name, me.pid, me.host);
  }

  /**
   * The clock of lock heartbeats. On a shared (PostgreSQL) ledger it is the
   * database server's: each host writing and judging heartbeats by its own
   * clock let a host whose clock ran LOCK_STALE_MS ahead take the lock of a
   * live run on another host (two runs, two certificates for one set).
   */
  private lockClock(now: number): number {
    if (this.backend !== 'postgres') return now;
    return Number(this.db.prepare('SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS t').pluck().get());
  }

  unlock(name: string, me: { pid: number; host: string }): void {
    this.db.prepare('DELETE FROM locks WHERE name = ? AND pid = ? AND host = ?').run(name, me.pid, me.host);
  }

  // ------------------------------------------------------------------ leases

  /**
   * Take the lease of one lineage (a fleet renews each lineage on one host at a time) if it is free,
   * expired, or held by a process of this host and machine that is gone. The check and the take are
   * one IMMEDIATE transaction (advisory lock on PostgreSQL), judged by the server's clock, so two
   * hosts can never both win. Returns the current holder on failure.
   */
  tryLease(lineage: string, me: LeaseHolder, now: number, ttlMs: number, alive: (pid: number) => boolean): { ok: true; expiresAt: number } | { ok: false; holder: LeaseRow } {
    return this.tx(() => {
      now = this.lockClock(now);
      const raw = this.db.prepare('SELECT * FROM leases WHERE lineage = ?').get(lineage) as Raw | undefined;
      const cur = raw ? leaseRow(raw) : undefined;
      if (cur && !(cur.pid === me.pid && cur.host === me.host && cur.machine === me.machine)) {
        const sameProcessSpace = cur.host === me.host && cur.machine === me.machine;
        const gone = now > cur.expires_at || (sameProcessSpace && !alive(cur.pid));
        if (!gone) return { ok: false as const, holder: cur };
      }
      const expiresAt = now + ttlMs;
      this.db
        .prepare(
          'INSERT INTO leases (lineage, host, machine, pid, acquired_at, heartbeat, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(lineage) DO UPDATE SET host = excluded.host, machine = excluded.machine, pid = excluded.pid, acquired_at = excluded.acquired_at, heartbeat = excluded.heartbeat, expires_at = excluded.expires_at',
        )
        .run(lineage, me.host, me.machine, me.pid, now, now, expiresAt);
      return { ok: true as const, expiresAt };
    });
  }

  /** Push the lease's expiry forward; false when this process no longer holds it (it expired and another host took it). */
  heartbeatLease(lineage: string, me: LeaseHolder, now: number, ttlMs: number): boolean {
    const t = this.lockClock(now);
    return this.db.prepare('UPDATE leases SET heartbeat = ?, expires_at = ? WHERE lineage = ? AND host = ? AND machine = ? AND pid = ?').run(t, t + ttlMs, lineage, me.host, me.machine, me.pid).changes > 0;
  }

  /** True while this process holds the lineage's lease and it has not expired (checked inside the journalling transaction). */
  holdsLease(lineage: string, me: LeaseHolder, now: number): boolean {
    const raw = this.db.prepare('SELECT * FROM leases WHERE lineage = ?').get(lineage) as Raw | undefined;
    if (!raw) return false;
    const cur = leaseRow(raw);
    return cur.host === me.host && cur.machine === me.machine && cur.pid === me.pid && cur.expires_at >= this.lockClock(now);
  }

  lease(lineage: string): LeaseRow | undefined {
    const raw = this.db.prepare('SELECT * FROM leases WHERE lineage = ?').get(lineage) as Raw | undefined;
    return raw ? leaseRow(raw) : undefined;
  }

  releaseLease(lineage: string, me: LeaseHolder): void {
    this.db.prepare('DELETE FROM leases WHERE lineage = ? AND host = ? AND machine = ? AND pid = ?').run(lineage, me.host, me.machine, me.pid);
  }

  // ------------------------------------------------- fleet order keys, HTTP-01

  /** Keep an order's pending private key sealed (fleet mode), so another host can resume the order. */
  saveOrderKey(orderId: number, role: string, keyPem: string): void {
    this.tx(() => {
      this.assertFleetKeyCurrent();
      const sealed = this.needSealer().seal(keyPem, orderKeyAad(orderId, role));
      this.db.prepare('UPDATE orders SET key_sealed = ? WHERE id = ?').run(sealed, orderId);
    });
  }

  /** An order's pending private key from the ledger, opened (undefined when none is kept). */
  orderKey(orderId: number, role: string): string | undefined {
    const sealed = this.db.prepare('SELECT key_sealed FROM orders WHERE id = ?').pluck().get(orderId) as string | null | undefined;
    return sealed ? this.needSealer().open(sealed, orderKeyAad(orderId, role), `pending key of order ${orderId}`) : undefined;
  }

  /** The order is stored or closed: its key is in version_files (sealed) or of no use; the pending copy goes. */
  clearOrderKey(orderId: number): void {
    this.db.prepare('UPDATE orders SET key_sealed = NULL WHERE id = ? AND key_sealed IS NOT NULL').run(orderId);
  }

  /** Publish a pending HTTP-01 challenge's key authorization for `certctl serve` on every host. */
  putHttpChallenge(c: HttpChallengeRow): void {
    this.db
      .prepare('INSERT INTO http_challenges (token, key_authorization, lineage, identifier, host, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(token) DO UPDATE SET key_authorization = excluded.key_authorization, lineage = excluded.lineage, identifier = excluded.identifier, host = excluded.host, created_at = excluded.created_at')
      .run(c.token, c.key_authorization, c.lineage, c.identifier, c.host, c.created_at);
  }

  /** The key authorization `certctl serve` answers for a token, if a challenge with it is pending. */
  httpChallengeAnswer(token: string): string | undefined {
    return this.db.prepare('SELECT key_authorization FROM http_challenges WHERE token = ?').pluck().get(token) as string | undefined;
  }

  httpChallenges(lineage?: string): HttpChallengeRow[] {
    const rows = (lineage === undefined ? this.db.prepare('SELECT * FROM http_challenges ORDER BY token').all() : this.db.prepare('SELECT * FROM http_challenges WHERE lineage = ? ORDER BY token').all(lineage)) as Raw[];
    return rows.map((r) => ({ token: String(r.token), key_authorization: String(r.key_authorization), lineage: String(r.lineage), identifier: String(r.identifier), host: String(r.host), created_at: Number(r.created_at) }));
  }

  deleteHttpChallenge(token: string): void {
    this.db.prepare('DELETE FROM http_challenges WHERE token = ?').run(token);
  }

  // -------------------------------------------------------------------- runs

  startRun(command: string, now: number): number {
    const id = (this.db.prepare('INSERT INTO runs (command, started_at) VALUES (?, ?) RETURNING id').get(command, now) as { id: number }).id;
    this.runKey = `run:${id}`;
    this.reachedUrls.clear();
    return id;
  }

  finishRun(id: number, exitCode: number, summary: unknown, now: number): void {
    this.db.prepare('UPDATE runs SET finished_at = ?, exit_code = ?, summary_json = ? WHERE id = ?').run(now, exitCode, JSON.stringify(summary), id);
  }

  /** Start times of the latest `limit` finished runs of `command`, newest first (the schedule's period, schedule/next-run.ts). */
  runStarts(command: string, limit: number): number[] {
    return (this.db.prepare('SELECT started_at FROM runs WHERE command = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?').all(command, limit) as { started_at: number }[]).map((r) => Number(r.started_at));
  }

  lastRun(command: string): { started_at: number; finished_at: number | null; exit_code: number | null; summary_json: string | null } | undefined {
    return this.db.prepare('SELECT * FROM runs WHERE command = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1').get(command) as never;
  }
}
