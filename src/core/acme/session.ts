/**
 * An ACME session: acme-client's Client for one CA directory, bound to the
 * account certctl keeps for that directory (one account key per CA, 0600),
 * with every call wrapped so that a refusal becomes an AcmeError carrying the
 * problem document, recorded in the ledger before it is thrown.
 */
import { utc } from '../clock.js';
import fs from 'node:fs';
import { readInputFile } from '../store/read.js';
import path from 'node:path';
import crypto from 'node:crypto';
import type { Ledger } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import type { CaProfile } from '../ca/registry.js';
import { AcmeError, NetworkError, CertctlError, ExitCode, InputError, StateError } from '../errors.js';
import { writeFileAtomic, fsyncDir } from '../store/atomic.js';
import { Mutex } from '../concurrency.js';
import { interruption } from '../interrupt.js';
import { classifyProblem } from '../limits/problems.js';
import { scopes } from '../planner/plan.js';
import { registeredDomain } from '../names.js';
import { proxyFailureOf, proxyError } from '../net/proxy.js';
import { configureTransport, withCallContext, takeNonce, safeUrl, requestTimeoutMs, RETRY_SCHEDULE_MS, type CallContext } from './transport.js';
import { acmeAxios, internalsOf, loadAcme, type AcmeModule, type AcmeClient } from './adapter.js';

/** RFC 8555 §6.7: the CA does not know the account of the request's `kid`. */
export const ACCOUNT_DOES_NOT_EXIST = 'urn:ietf:params:acme:error:accountDoesNotExist';

export type { AcmeClient };

export interface SessionOptions {
  ledger: Ledger;
  paths: StatePaths;
  ca: CaProfile;
  directoryUrl: string;
  email?: string;
  eab?: { kid: string; hmacKey: string };
  caBundle?: string;
  verbose?: (line: string) => void;
  /** User-facing progress lines (e.g. "registered again"). */
  log?: (line: string) => void;
  now: () => number;
  /** Called for every ACME response (tests and --verbose). */
  onResponse?: CallContext['onResponse'];
}

export interface Session {
  client: AcmeClient;
  acme: AcmeModule;
  accountId: number;
  /** The account's URL; changes when the CA lost the account and certctl registered again. */
  accountUrl: string;
  directoryUrl: string;
  directory: Record<string, unknown>;
  /** Run one ACME step; problems are recorded (with `where`) and thrown as AcmeError. */
  call<T>(endpoint: string, fn: () => Promise<T>, where?: { orderId?: number; lineage?: string; scope?: string }): Promise<T>;
  /** Signed POST-as-GET of an ACME object (order, authorization), expecting 200. */
  postAsGet(endpoint: string, url: string, where?: { orderId?: number; lineage?: string }): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }>;
  /** How many POSTs to `url` this session sent whose outcome is unknown (5xx, no answer): the CA may have acted on each. */
  uncertainPosts(url: string): number;
  /** Settle a pending account key change now (see settleKeyChange); true when the new key is the account's. */
  settle(): Promise<boolean>;
}

/** Where the account key for a directory lives: accounts/<hash of URL>/account.key */
export function accountKeyPath(paths: StatePaths, directoryUrl: string): string {
  const h = crypto.createHash('sha256').update(directoryUrl).digest('hex').slice(0, 16);
  return path.join(paths.accounts, h, 'account.key');
}

export function networkMessage(err: { code?: string; message: string }, url: string): NetworkError {
  const viaProxy = proxyFailureOf(err);
  if (viaProxy) return proxyError(viaProxy, `the ACME server at ${url}`);
  const code = err.code ?? '';
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || /timeout/i.test(err.message)) {
    const s = requestTimeoutMs() / 1000;
    return new NetworkError(
      `The ACME server at ${url} did not answer within ${s} s (${RETRY_SCHEDULE_MS.length + 1} attempts).`,
      'The CA is slow or down: run the command again later — an order in flight is resumed, not repeated. CERTCTL_ACME_TIMEOUT=<seconds> sets the time-out.',
      'timeout',
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/i.test(err.message)) {
    return new NetworkError(
      `The connection to the ACME server at ${url} was cut before its answer arrived (${RETRY_SCHEDULE_MS.length + 1} attempts).`,
      'Check the network path to the CA and run the command again: an order in flight is resumed, not repeated.',
      'reset',
    );
  }
  const hint =
    code === 'ECONNREFUSED'
      ? 'Nothing is listening there: check --server, and that the ACME server is running.'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'The host name does not resolve: check --server and this machine’s DNS.'
        : /certificate|self.signed|UNABLE_TO_VERIFY|CERT_/i.test(code + err.message)
          ? 'The server’s TLS certificate is not trusted: for a private CA pass its root with --ca-bundle FILE.'
          : 'Check the network path to the ACME server; certctl retried transient errors already.';
  const kind = code === 'ECONNREFUSED' ? 'refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'dns' : /certificate|self.signed|UNABLE_TO_VERIFY|CERT_/i.test(code + err.message) ? 'tls' : 'network';
  return new NetworkError(`Cannot reach the ACME server at ${url}: ${code ? code + ' ' : ''}${err.message}`, hint, kind);
}

/** The ledger's word for "the CA answered": any HTTP status below 500 (a 4xx is a CA that is there). */
function noteContact(ledger: Ledger, directoryUrl: string, caId: string, endpoint: string, err: CertctlError | undefined, now: number): void {
  try {
    if (err instanceof NetworkError) ledger.recordCaUnreachable({ directory_url: directoryUrl, ca_id: caId, at: now, kind: err.kind, endpoint, detail: err.message });
    else if (err instanceof AcmeError && err.problem.status >= 500) ledger.recordCaUnreachable({ directory_url: directoryUrl, ca_id: caId, at: now, kind: 'http-5xx', endpoint, detail: err.message });
    else ledger.noteCaReached(directoryUrl);
  } catch {
    /* a read-only ledger or a ledger without the table: the outage is not recorded, the run goes on */
  }
}

/** acme-client's own errors about an answer it could not use (no nonce, no directory, no Location…). */
const UNUSABLE_ANSWER = /^(Attempting to read ACME directory|Failed to get nonce|Unable to locate API resource|Creating a new order did not return|Unable to (download certificate|finalize order|get order))/;

/**
 * A failure whose last HTTP answer was an error without a problem document (a dead CA's 502 page,
 * an empty 500), or an answer acme-client could not use: a CA error (exit 8), said in one sentence.
 */
function caAnswerError(endpoint: string, err: { message?: string }, last: CallContext['lastResponse'], directoryUrl: string): CertctlError | undefined {
  if (last && last.status >= 400) {
    const retried = last.status >= 500 ? ` after ${RETRY_SCHEDULE_MS.length} retries` : '';
    // RFC 7807: a problem without a document is "about:blank" with the HTTP status; the status decides
    // (a 404 on an order means the CA no longer has it, a 5xx leaves the order open).
    return new AcmeError(
      { type: 'about:blank', detail: '', status: last.status, url: last.url },
      `The ACME server at ${directoryUrl} answered HTTP ${last.status} to ${last.method} ${safeUrl(last.url)} (${endpoint})${retried}.`,
      last.status >= 500
        ? 'The CA is down or failing: run the command again later — an order in flight is resumed, not repeated.'
        : endpoint === 'directory'
          ? 'Check --server: it must be the ACME directory URL of the CA.'
          : 'The CA gave no reason; see certctl status --orders, and run with --verbose to see each request.',
    );
  }
  const msg = err?.message ?? '';
  if (msg === '' || UNUSABLE_ANSWER.test(msg)) {
    return new CertctlError(
      `The ACME server at ${directoryUrl} gave an answer to ${endpoint} that is not usable ACME${msg ? `: ${msg}` : ''}.`,
      ExitCode.CA_ERROR,
      'Check --server (it must be the ACME directory URL of the CA), or run the command again later.',
    );
  }
  return undefined;
}

type Where = { orderId?: number; lineage?: string; scope?: string };
type Call = <T>(endpoint: string, fn: () => Promise<T>, where?: Where) => Promise<T>;

/**
 * What every session shares: acme-client loaded and its transport configured, and `call`, which
 * records each problem the CA answers (with the account, when `state.accountId` is known) and
 * throws it as an AcmeError; `state.reRegister`, once set, registers again when the CA lost the account.
 */
async function prepareCalls(opts: SessionOptions): Promise<{
  acme: AcmeModule;
  call: Call;
  state: { accountId?: number; reRegister?: (detail: string) => Promise<void> };
  uncertainPosts: (url: string) => number;
}> {
  const acme = await loadAcme();
  configureTransport(acmeAxios(acme), { caBundle: opts.caBundle, verbose: opts.verbose, userAgent: 'certctl (+acme-client)' });
  acme.setLogger(() => {}); // its debug lines may include URLs with tokens; our transport logs safely

  const { ledger, directoryUrl } = opts;
  const uncertain = new Map<string, number>();
  const ctx: CallContext = { onResponse: opts.onResponse, onUncertainPost: (url) => uncertain.set(url, (uncertain.get(url) ?? 0) + 1) };
  const state: { accountId?: number; reRegister?: (detail: string) => Promise<void> } = {};
  const within = <T>(fn: () => Promise<T>) => withCallContext(ctx, fn);

  const call = async <T>(endpoint: string, fn: () => Promise<T>, where: Where = {}, retried = false): Promise<T> => {
    const { accountId, reRegister } = state;
    ctx.lastProblem = undefined;
    ctx.lastResponse = undefined;
    try {
      // A stop asked for (a signal: core/interrupt.ts) sends nothing more and abandons the request in flight.
      const r = await interruption.abandonable(within(fn));
      noteContact(ledger, directoryUrl, opts.ca.id, endpoint, undefined, opts.now());
      return r;
    } catch (err) {
      if (err instanceof CertctlError) throw err;
      const p = ctx.lastProblem as CallContext["lastProblem"];
      if (p) noteContact(ledger, directoryUrl, opts.ca.id, endpoint, p.status >= 500 ? new AcmeError(p) : undefined, opts.now());
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
        // The CA no longer knows the account (a CA that lost its state, a test CA restarted): register
        // again with the same key — a CA that still knows the key returns that account — and send this
        // request once more. Nothing was done with the refused request, so sending it again is safe.
        if (p.type === ACCOUNT_DOES_NOT_EXIST && endpoint !== 'newAccount' && reRegister && !retried) {
          await reRegister(p.detail);
          return call(endpoint, fn, where, true);
        }
        const when = p.retryAfter ? ` The CA says to retry after ${utc(p.retryAfter)}.` : '';
        throw new AcmeError(
          p,
          `The CA refused ${endpoint}: ${p.detail || p.type} (HTTP ${p.status}).${when}`,
          p.status === 429 ? 'certctl recorded this refusal; later runs will not ask again before that time. See: certctl limits' : undefined,
        );
      }
      const e = err as { code?: string; message: string; isAxiosError?: boolean };
      if (e.code && (e.isAxiosError || /^E[A-Z]+$/.test(e.code))) {
        const ne = networkMessage(e, directoryUrl);
        noteContact(ledger, directoryUrl, opts.ca.id, endpoint, ne, opts.now());
        throw ne;
      }
      const ca = caAnswerError(endpoint, e, ctx.lastResponse, directoryUrl);
      if (ca) noteContact(ledger, directoryUrl, opts.ca.id, endpoint, ca, opts.now());
      if (ca) throw ca;
      throw err;
    }
  };
  return { acme, call, state, uncertainPosts: (url) => uncertain.get(url) ?? 0 };
}

/** A session signed by a certificate's own key (RFC 8555 §7.6): no account, for revokeCert only. */
export interface KeySession {
  directory: Record<string, unknown>;
  call: Call;
  uncertainPosts(url: string): number;
  /** revokeCert signed with the key as a JWK; `certificate` is the DER, base64url. */
  revoke(payload: { certificate: string; reason?: number }): Promise<unknown>;
}

export async function openKeySession(opts: SessionOptions, keyPem: string): Promise<KeySession> {
  const { acme, call, uncertainPosts } = await prepareCalls(opts);
  const client = new acme.Client({ directoryUrl: opts.directoryUrl, accountKey: keyPem, backoffAttempts: 1 });
  const api = internalsOf(client);
  api.useNoncesFrom(() => takeNonce(opts.directoryUrl));
  const directory = (await call('directory', () => api.directory())) as Record<string, unknown>;
  return { directory, call, uncertainPosts, revoke: (payload) => api.revokeWithJwk(payload) };
}

export async function openSession(opts: SessionOptions): Promise<Session> {
  const { acme, call, state, uncertainPosts } = await prepareCalls(opts);
  const { ledger, paths, directoryUrl } = opts;

  // One account per CA directory: sessions opened side by side in this process (apply/renew
  // --concurrency) wait for each other here, so two never register two accounts (and two keys).
  return accountSetup(directoryUrl).run(async (): Promise<Session> => {
  // Account key: one per CA directory, 0600, created once.
  const keyPath = accountKeyPath(paths, directoryUrl);
  let row = ledger.account(directoryUrl);
  if (row?.deactivated_at) throw deactivatedError(row.account_url, directoryUrl, row.deactivated_at);
  // A key change (certctl account rollover) interrupted between its two halves is settled first.
  if (row?.account_url && ledger.accountKeys(row.id).some((k) => k.state === 'pending')) {
    await settleKeyChange(opts, row.id, row.account_url, keyPath, call, acme);
  }
  let accountKey: string;
  const fromLedger = ledger.fleetMode ? ledger.accountKey(directoryUrl) : undefined;
  if (fromLedger !== undefined) {
    // A fleet's shared ledger holds the account key, sealed with the fleet key: no key file on any host.
    accountKey = fromLedger;
  } else if (fs.existsSync(keyPath)) {
    accountKey = readInputFile(keyPath, 'The ACME account key');
    // A damaged key (cut short, overwritten) would otherwise surface as an OpenSSL decoder error
    // from inside acme-client ("internal error"); it is never replaced by a new key (a new key is a
    // new account, and the CA's per-account history would start again).
    try {
      crypto.createPrivateKey(accountKey);
    } catch (err) {
      throw new StateError(
        `The ACME account key ${keyPath} (for ${directoryUrl}) is damaged: ${(err as Error).message}.`,
        `Restore the key from backup; certctl will not replace an account key with a new one (that would be a new account). To register a new account instead: certctl account forget --server ${directoryUrl} --yes.`,
      );
    }
  } else {
    if (row?.account_url) {
      throw new CertctlError(
        `The ledger knows an account at ${directoryUrl}, but its key ${keyPath} is missing.`,
        ExitCode.CONFIG,
        ledger.backend === 'postgres'
          ? ledger.fleetMode
            ? `The ledger holds no key for this account: run certctl once, with the fleet key, on the host that registered it (its ${keyPath} is then kept in the ledger, sealed), or copy that file (0600) here; see docs/fleet.md.`
            : `A shared ledger has one ACME account per CA for the whole fleet: give every host the fleet key (--fleet-key, docs/fleet.md) so the ledger keeps the account key, or copy ${keyPath} (0600) from the host that registered it.`
          : `Restore the key from backup; certctl will not register a new account over a lost one silently. To register a new account instead: certctl account forget --server ${directoryUrl} --yes.`,
      );
    }
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    // Kept before newAccount is sent: in the fleet's ledger (sealed), else in the state directory.
    if (ledger.fleetMode) ledger.saveAccountKey({ directory_url: directoryUrl, ca_id: opts.ca.id, key_path: keyPath, key_type: 'ecdsa:p256', email: opts.email ?? null, keyPem: privateKey, now: opts.now() });
    else writeFileAtomic(keyPath, privateKey, 0o600);
    accountKey = privateKey;
  }
  // A fleet's account registered before the ledger kept keys (its key file copied by hand): kept in the ledger from now on.
  if (ledger.fleetMode && fromLedger === undefined && row?.account_url) {
    ledger.saveAccountKey({ directory_url: directoryUrl, ca_id: opts.ca.id, key_path: keyPath, key_type: row.key_type, email: row.email, keyPem: accountKey, now: opts.now() });
  }
  row = ledger.account(directoryUrl);

  const client = new acme.Client({
    directoryUrl,
    accountKey,
    accountUrl: row?.account_url ?? undefined,
    externalAccountBinding: opts.eab,
    backoffAttempts: 1,
  });

  // acme-client's private parts certctl uses, all in adapter.ts (checked there, and by its contract test).
  const api = internalsOf(client);
  // Use pooled Replay-Nonce values before asking newNonce (see transport.ts).
  api.useNoncesFrom(() => takeNonce(directoryUrl));

  // newAccount at the API level: 201 a new account, 200 the CA already has one for this key (RFC 8555
  // §7.3.1) — as when an earlier answer was lost after the CA created it. (acme-client's createAccount
  // follows a 200 with an account update that some CAs refuse as empty: "Use POST-as-GET…".)
  const register = () =>
    api.newAccount({
      termsOfServiceAgreed: true,
      ...(opts.email ? { contact: [`mailto:${opts.email}`] } : {}),
    });

  state.accountId = row?.id;
  const directory = (await call('directory', () => api.directory())) as Record<string, unknown>;
  const meta = (directory.meta ?? {}) as { externalAccountRequired?: boolean };
  if (!row?.account_url) {
    if (meta.externalAccountRequired && !opts.eab) {
      throw new InputError(`${opts.ca.name} requires External Account Binding.`, 'Get an EAB key id and HMAC key from the CA and pass --eab-kid KID --eab-hmac-key KEY.');
    }
    await call('newAccount', register);
  }
  const save = (url: string) =>
    ledger.saveAccount({
      directory_url: directoryUrl,
      ca_id: opts.ca.id,
      account_url: url,
      key_path: keyPath,
      key_type: 'ecdsa:p256',
      email: opts.email ?? null,
      eab_kid: opts.eab?.kid ?? null,
      now: opts.now(),
    });
  const accountId = (state.accountId = save(client.getAccountUrl()));
  row = ledger.accountById(accountId);
  const postAsGet: Session['postAsGet'] = (endpoint, url, where) => call(endpoint, () => api.postAsGet(url), where);
  const session: Session = {
    client, acme, accountId, accountUrl: client.getAccountUrl(), directoryUrl, directory, call, postAsGet, uncertainPosts,
    // Never "registered again" on the way: a refusal of the new key means it is not the account's.
    settle: async () => {
      const again = state.reRegister;
      state.reRegister = undefined;
      try {
        return await settleKeyChange(opts, accountId, client.getAccountUrl(), keyPath, call, acme);
      } finally {
        state.reRegister = again;
      }
    },
  };

  // The CA lost the account: register again with the same key, in the SAME ledger row, so the
  // account's history (orders, authorizations, problems) keeps counting against the rate limits.
  // One session does this at most once (call() retries a refused request only once).
  state.reRegister = async (detail: string) => {
    const old = session.accountUrl;
    if (meta.externalAccountRequired && !opts.eab) {
      throw new CertctlError(
        `The CA no longer knows certctl's account ${old} ("${detail}"), and it requires External Account Binding to register again.`,
        ExitCode.CONFIG,
        'Get an EAB key id and HMAC key from the CA and run the command again with them (see certctl issue --help); the ledger keeps the old account’s history.',
      );
    }
    await accountSetup(directoryUrl).run(async () => {
      // Another session of this process may have registered again already.
      const current = ledger.account(directoryUrl)?.account_url;
      if (current && current !== old) {
        api.accountUrl = current;
      } else {
        api.accountUrl = null;
        await call('newAccount', register);
        save(client.getAccountUrl());
      }
    });
    session.accountUrl = client.getAccountUrl();
    opts.log?.(`The CA no longer knows account ${old}; registered again as ${session.accountUrl} (same key; the ledger keeps the old account’s history).`);
  };
  return session;
  });
}

/** RFC 8555 §7.3.6: certctl refuses to use an account it deactivated, and says how to get a new one. */
export function deactivatedError(accountUrl: string | null, directoryUrl: string, at: number): CertctlError {
  return new CertctlError(
    `The ACME account ${accountUrl ?? ''} at ${directoryUrl} was deactivated on ${utc(at)} (certctl account deactivate): the CA refuses everything it signs, so nothing was sent.`,
    ExitCode.CONFIG,
    `Register a new account: certctl account forget --server ${directoryUrl} --yes (the ledger keeps the old account's history), then run the command again.`,
  );
}

/** RFC 7638 JWK thumbprint of a private key's public half (what the ledger records of an account key). */
export function keyThumbprint(pem: string): string {
  const jwk = crypto.createPublicKey(pem).export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk;
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Where a new account key waits (0600) while its keyChange is unconfirmed. */
export function pendingKeyPath(keyPath: string): string {
  return `${keyPath}.next`;
}

/**
 * Settle a key change whose outcome is not known (a lost keyChange answer, a process killed between
 * the POST and the commit): POST-as-GET the account signed with the NEW key. 200: the CA has it —
 * commit (the new key file replaces the old one by one atomic rename, then the ledger). A problem
 * document: the CA never took it — abandon (the old key stays). No answer: left pending (throws).
 * Returns whether the new key is now the account's.
 */
async function settleKeyChange(opts: SessionOptions, accountId: number, accountUrl: string, keyPath: string, call: Call, acme: AcmeModule): Promise<boolean> {
  const { ledger, now } = opts;
  const pending = ledger.accountKeys(accountId).filter((k) => k.state === 'pending');
  let changed = false;
  for (const k of pending) {
    if (!fs.existsSync(k.key_path)) {
      // Killed after the rename, before the ledger's commit: the file in place says which key won.
      const inPlace = fs.existsSync(keyPath) ? keyThumbprint(readInputFile(keyPath, 'The ACME account key')) : null;
      if (inPlace === k.thumbprint) {
        ledger.commitAccountKey(accountId, k.id, keyPath, now());
        changed = true;
      } else ledger.setAccountKeyState(k.id, 'abandoned', now());
      continue;
    }
    const pem = readInputFile(k.key_path, 'The pending ACME account key');
    const client = new acme.Client({ directoryUrl: opts.directoryUrl, accountKey: pem, accountUrl, backoffAttempts: 1 });
    const api = internalsOf(client);
    api.useNoncesFrom(() => takeNonce(opts.directoryUrl));
    let works: boolean;
    try {
      await call('account', () => api.postAsGet(accountUrl));
      works = true;
    } catch (err) {
      // Only the CA refusing the key itself (a 4xx: unauthorized, malformed, accountDoesNotExist…) says the
      // change never happened. No answer, a 5xx or a 429 says nothing about the key: the CA may hold the new
      // one already, and throwing it away would lose the account (the old key is no longer its key). Pending.
      if (!(err instanceof AcmeError) || !refusesKey(err)) {
        opts.log?.(`The account key change of ${accountUrl} is not settled yet (the CA did not say whether it has the new key ${k.thumbprint}): the new key stays pending; the next command tries again.`);
        throw err;
      }
      works = false;
    }
    if (works) {
      commitKeyFile(k.key_path, keyPath);
      ledger.commitAccountKey(accountId, k.id, keyPath, now());
      opts.log?.(`Finished the account key change of ${accountUrl} (the CA has the new key ${k.thumbprint}).`);
      changed = true;
    } else {
      fs.rmSync(k.key_path, { force: true });
      ledger.setAccountKeyState(k.id, 'abandoned', now());
      opts.log?.(`The account key change of ${accountUrl} did not reach the CA; the account keeps its key.`);
    }
  }
  return changed;
}

/** A problem that is the CA's verdict on the request's key (a 4xx), not a failing or busy CA (5xx, 429 rateLimited). */
function refusesKey(err: AcmeError): boolean {
  const status = err.problem.status ?? 0;
  return status >= 400 && status < 500 && status !== 429 && !/:(rateLimited|serverInternal|badNonce)$/.test(err.problem.type ?? '');
}

/** The confirmed new key replaces the old one: one atomic rename in the same directory, made durable. */
function commitKeyFile(pendingPath: string, keyPath: string): void {
  fs.renameSync(pendingPath, keyPath);
  fsyncDir(path.dirname(keyPath));
}

/**
 * RFC 8555 §7.3.5 account key rollover, crash-safe: (1) the new key is written (0600) and journalled
 * 'pending' in the ledger BEFORE (2) the keyChange POST; (3) once the CA confirmed it, the new key
 * replaces the old file and the ledger marks it current (the old one retired). A lost answer to the
 * POST, or a process killed anywhere in between, is settled by the next session (settleKeyChange).
 */
export async function rolloverAccountKey(session: Session, opts: SessionOptions): Promise<{ oldThumbprint: string; newThumbprint: string }> {
  const { ledger, now } = opts;
  const keyPath = accountKeyPath(opts.paths, session.directoryUrl);
  const oldPem = readInputFile(keyPath, 'The ACME account key');
  const oldThumbprint = keyThumbprint(oldPem);
  if (!ledger.accountKeys(session.accountId).some((k) => k.state === 'current')) {
    ledger.addAccountKey({ account_id: session.accountId, key_path: keyPath, thumbprint: oldThumbprint, state: 'current', now: now() });
  }
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const next = pendingKeyPath(keyPath);
  writeFileAtomic(next, privateKey, 0o600);
  const newThumbprint = keyThumbprint(privateKey);
  const pendingId = ledger.addAccountKey({ account_id: session.accountId, key_path: next, thumbprint: newThumbprint, state: 'pending', now: now() });
  try {
    await session.call('keyChange', () => session.client.updateAccountKey(privateKey));
  } catch (err) {
    // The CA may have acted before its answer was lost (a resent keyChange is then refused: the old key is no longer the account's).
    if (!(await session.settle())) throw err;
    return { oldThumbprint, newThumbprint };
  }
  commitKeyFile(next, keyPath);
  ledger.commitAccountKey(session.accountId, pendingId, keyPath, now());
  // acme-client swapped the Client's AcmeApi for the new key (adapter.ts B): pooled nonces again.
  internalsOf(session.client).useNoncesFrom(() => takeNonce(session.directoryUrl));
  return { oldThumbprint, newThumbprint };
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
