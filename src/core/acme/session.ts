/**
 * An ACME session: acme-client's Client for one CA directory, bound to the
 * account certctl keeps for that directory (one account key per CA, 0600),
 * with every call wrapped so that a refusal becomes an AcmeError carrying the
 * problem document, recorded in the ledger before it is thrown.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Ledger } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import type { CaProfile } from '../ca/registry.js';
import { AcmeError, NetworkError, CertctlError, ExitCode, InputError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { Mutex } from '../concurrency.js';
import { classifyProblem } from '../limits/problems.js';
import { scopes } from '../planner/plan.js';
import { registeredDomain } from '../names.js';
import { configureTransport, withCallContext, takeNonce, type CallContext } from './transport.js';

// acme-client is CommonJS with its own types; loaded lazily (it pulls axios and X.509 parsers).
type AcmeModule = typeof import('acme-client');
export type AcmeClient = InstanceType<AcmeModule['Client']>;

export interface SessionOptions {
  ledger: Ledger;
  paths: StatePaths;
  ca: CaProfile;
  directoryUrl: string;
  email?: string;
  eab?: { kid: string; hmacKey: string };
  caBundle?: string;
  verbose?: (line: string) => void;
  now: () => number;
  /** Called for every ACME response (tests and --verbose). */
  onResponse?: CallContext['onResponse'];
}

export interface Session {
  client: AcmeClient;
  acme: AcmeModule;
  accountId: number;
  accountUrl: string;
  directoryUrl: string;
  directory: Record<string, unknown>;
  /** Run one ACME step; problems are recorded (with `where`) and thrown as AcmeError. */
  call<T>(endpoint: string, fn: () => Promise<T>, where?: { orderId?: number; lineage?: string; scope?: string }): Promise<T>;
  /** Signed POST-as-GET of an ACME object (order, authorization), expecting 200. */
  postAsGet(endpoint: string, url: string, where?: { orderId?: number; lineage?: string }): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }>;
}

/** Where the account key for a directory lives: accounts/<hash of URL>/account.key */
export function accountKeyPath(paths: StatePaths, directoryUrl: string): string {
  const h = crypto.createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
  return path.join(paths.accounts, h, 'account.key');
}

function networkMessage(err: { code?: string; message: string }, url: string): NetworkError {
  const code = err.code ?? '';
  const hint =
    code === 'ECONNREFUSED'
      ? 'Nothing is listening there: check --server, and that the ACME server is running.'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'The host name does not resolve: check --server and this machine’s DNS.'
        : /certificate|self.signed|UNABLE_TO_VERIFY|CERT_/i.test(code + err.message)
          ? 'The server’s TLS certificate is not trusted: for a private CA pass its root with --ca-bundle FILE.'
          : 'Check the network path to the ACME server; certctl retried transient errors already.';
  return new NetworkError(`Cannot reach the ACME server at ${url}: ${code ? code + ' ' : ''}${err.message}`, hint);
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  const acme = (await import('acme-client')).default as unknown as AcmeModule;
  configureTransport(acme.axios as never, { caBundle: opts.caBundle, verbose: opts.verbose, userAgent: 'certctl (+acme-client)' });
  acme.setLogger(() => {}); // its debug lines may include URLs with tokens; our transport logs safely

  const { ledger, paths, directoryUrl } = opts;
  const ctx: CallContext = { onResponse: opts.onResponse };
  let accountId: number | undefined;
  const within = <T>(fn: () => Promise<T>) => withCallContext(ctx, fn);

  const call = async <T>(endpoint: string, fn: () => Promise<T>, where: { orderId?: number; lineage?: string; scope?: string } = {}): Promise<T> => {
    ctx.lastProblem = undefined;
    try {
      return await within(fn);
    } catch (err) {
      if (err instanceof CertctlError) throw err;
      const p = ctx.lastProblem as CallContext["lastProblem"];
      if (p) {
        ctx.lastProblem = undefined;
        const cls = classifyProblem(p.type, p.detail);
        p.retryAfter ??= cls.retryAfter ?? undefined;
        ledger.recordProblem({
          at: opts.now(),
          ca_id: opts.ca.id,
          directory_url: directoryUrl,
          account_id: accountId ?? null,
          order_id: where.orderId ?? null,
          lineage: where.lineage ?? null,
          endpoint,
          http_status: p.status,
          type: p.type,
          detail: p.detail,
          retry_after: p.retryAfter ?? null,
          limit_name: cls.limit,
          scope: problemScope(cls.limit, cls.subject, accountId ?? null, where.scope),
        });
        const when = p.retryAfter ? ` The CA says to retry after ${new Date(p.retryAfter).toISOString()}.` : '';
        throw new AcmeError(
          p,
          `The CA refused ${endpoint}: ${p.detail || p.type} (HTTP ${p.status}).${when}`,
          p.status === 429 ? 'certctl recorded this refusal; later runs will not ask again before that time. See: certctl limits' : undefined,
        );
      }
      const e = err as { code?: string; message: string; isAxiosError?: boolean };
      if (e.code && (e.isAxiosError || /^E[A-Z]+$/.test(e.code))) throw networkMessage(e, directoryUrl);
      throw err;
    }
  };

  // One account per CA directory: sessions opened side by side in this process (apply/renew
  // --concurrency) wait for each other here, so two never register two accounts (and two keys).
  return accountSetup(directoryUrl).run(async (): Promise<Session> => {
  // Account key: one per CA directory, 0600, created once.
  const keyPath = accountKeyPath(paths, directoryUrl);
  let row = ledger.account(directoryUrl);
  let accountKey: string;
  if (fs.existsSync(keyPath)) {
    accountKey = fs.readFileSync(keyPath, 'utf8');
  } else {
    if (row?.account_url) {
      throw new CertctlError(
        `The ledger knows an account at ${directoryUrl}, but its key ${keyPath} is missing.`,
        ExitCode.CONFIG,
        ledger.backend === 'postgres'
          ? `A shared ledger has one ACME account per CA for the whole fleet: copy ${keyPath} (0600) from the host that registered it (its path below the state directory is the same on every host; see docs/fleet.md).`
          : 'Restore the key from backup; certctl will not register a new account over a lost one silently. To start over, delete the account row with: certctl account forget (or a fresh --state-dir).',
      );
    }
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    writeFileAtomic(keyPath, privateKey, 0o600);
    accountKey = privateKey;
  }

  const client = new acme.Client({
    directoryUrl,
    accountKey,
    accountUrl: row?.account_url ?? undefined,
    externalAccountBinding: opts.eab,
    backoffAttempts: 1,
  });

  // Use pooled Replay-Nonce values before asking newNonce (see transport.ts).
  const http = (client as unknown as { api: { http: { getNonce(): Promise<string> } } }).api.http;
  const askNonce = http.getNonce.bind(http);
  http.getNonce = async () => takeNonce(directoryUrl) ?? askNonce();

  accountId = row?.id;
  const directory = (await call('directory', () => (client as unknown as { api: { http: { getDirectory(): Promise<Record<string, unknown>> } } }).api.http.getDirectory())) as Record<string, unknown>;
  const meta = (directory.meta ?? {}) as { externalAccountRequired?: boolean };
  if (!row?.account_url) {
    if (meta.externalAccountRequired && !opts.eab) {
      throw new InputError(`${opts.ca.name} requires External Account Binding.`, 'Get an EAB key id and HMAC key from the CA and pass --eab-kid KID --eab-hmac-key KEY.');
    }
    await call('newAccount', () =>
      client.createAccount({ termsOfServiceAgreed: true, contact: opts.email ? [`mailto:${opts.email}`] : undefined }),
    );
  }
  const accountUrl = client.getAccountUrl();
  accountId = ledger.saveAccount({
    directory_url: directoryUrl,
    ca_id: opts.ca.id,
    account_url: accountUrl,
    key_path: keyPath,
    key_type: 'ecdsa:p256',
    email: opts.email ?? null,
    eab_kid: opts.eab?.kid ?? null,
    now: opts.now(),
  });
  row = ledger.accountById(accountId);
  const api = (client as unknown as { api: { apiRequest(url: string, payload: null, ok: number[]): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }> } }).api;
  const postAsGet: Session['postAsGet'] = (endpoint, url, where) => call(endpoint, () => api.apiRequest(url, null, [200]), where);
  return { client, acme, accountId, accountUrl, directoryUrl, directory, call, postAsGet };
  });
}

const accountMutexes = new Map<string, Mutex>();
function accountSetup(directoryUrl: string): Mutex {
  let m = accountMutexes.get(directoryUrl);
  if (!m) accountMutexes.set(directoryUrl, (m = new Mutex()));
  return m;
}

/**
 * The limit instance a refusal belongs to, spelled as the planner spells its
 * scopes (planner/plan.ts `scopes`), so a recorded 429 holds exactly that
 * limit shut until its Retry-After.
 */
export function problemScope(limit: string | null, subject: string | null, accountId: number | null, setKeyOfRequest?: string): string | null {
  switch (limit) {
    case 'certificates-per-domain':
      return subject ? (registeredDomain(subject) ?? subject) : null;
    case 'duplicate-certificates':
      return setKeyOfRequest ?? null;
    case 'new-orders':
    case 'pending-orders':
    case 'pending-authorizations':
      return scopes.account(accountId);
    case 'failed-authorizations':
    case 'consecutive-failures':
      return subject ? scopes.identifier(accountId, subject) : null;
    case 'registrations-per-ip':
      return scopes.host;
    default:
      return setKeyOfRequest ?? null;
  }
}
