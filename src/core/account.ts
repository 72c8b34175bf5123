/**
 * The ACME account's life for one CA (certctl account): show (the CA's view by
 * POST-as-GET of the account URL, and the ledger's), update the contacts
 * (RFC 8555 §7.3.2), deactivate (§7.3.6; certctl then refuses to use it),
 * roll the key over (§7.3.5, crash-safe: acme/session.ts rolloverAccountKey),
 * forget (so the next run registers a new account). The caller validated
 * the options, confirmed what needs confirming and holds the run lock;
 * nothing here prints. Account keys are never read into a result.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunEnv } from './env.js';
import type { Ledger, AccountRow } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import { AcmeError, InputError } from './errors.js';

export interface AccountTarget {
  ca: CaProfile;
  directoryUrl: string;
  caBundle?: string;
}

export interface AccountView {
  id: number;
  caId: string;
  directoryUrl: string;
  accountUrl: string | null;
  email: string | null;
  /** valid (usable), deactivated (certctl account deactivate), forgotten (certctl account forget), unregistered (a registration that never got an answer). */
  status: 'valid' | 'deactivated' | 'forgotten' | 'unregistered';
  createdAt: number;
  deactivatedAt: number | null;
  keyPath: string;
  keyThumbprint: string | null;
  keys: { state: string; thumbprint: string; createdAt: number; updatedAt: number }[];
  /** What the CA says (show, update, rollover): null when not asked. */
  ca: { status: string | null; contact: string[]; orders: string | null } | null;
}

const FORGOTTEN = /#forgotten-\d+$/;

export function accountView(ledger: Ledger, row: AccountRow, ca: AccountView['ca'] = null): AccountView {
  const keys = ledger.accountKeys(row.id);
  const current = keys.find((k) => k.state === 'current');
  let thumbprint = current?.thumbprint ?? null;
  if (!thumbprint && fs.existsSync(row.key_path)) {
    try {
      thumbprint = keyThumbprintOf(fs.readFileSync(row.key_path, 'utf8'));
    } catch {
      thumbprint = null; // a damaged key: the session says so when it is used
    }
  }
  const forgotten = FORGOTTEN.test(row.directory_url);
  return {
    id: row.id,
    caId: row.ca_id,
    directoryUrl: row.directory_url.replace(FORGOTTEN, ''),
    accountUrl: row.account_url,
    email: row.email,
    status: forgotten ? 'forgotten' : row.deactivated_at ? 'deactivated' : row.account_url ? 'valid' : 'unregistered',
    createdAt: row.created_at,
    deactivatedAt: row.deactivated_at ?? null,
    keyPath: row.key_path,
    keyThumbprint: thumbprint,
    keys: keys.map((k) => ({ state: k.state, thumbprint: k.thumbprint, createdAt: k.created_at, updatedAt: k.updated_at })),
    ca,
  };
}

let keyThumbprintOf: (pem: string) => string = () => '';

/** The ledger's account for this CA, registered and usable; else one sentence (nothing sent). */
function usableAccount(ledger: Ledger, t: AccountTarget, what: string): AccountRow {
  const row = ledger.account(t.directoryUrl);
  if (!row || !row.account_url) {
    throw new InputError(`certctl has no account at ${t.directoryUrl} in this ledger, so there is nothing to ${what}; nothing was sent.`, 'certctl account list shows the accounts this ledger knows; certctl issue registers one with its first order.');
  }
  return row;
}

async function session(env: RunEnv, ledger: Ledger, t: AccountTarget) {
  const { openSession, keyThumbprint } = await import('./acme/session.js');
  keyThumbprintOf = keyThumbprint;
  const opts = { ledger, paths: env.paths, ca: t.ca, directoryUrl: t.directoryUrl, caBundle: t.caBundle, now: env.now, log: (l: string) => env.sink.info(l), verbose: env.verbose ? (l: string) => env.sink.verbose(l) : undefined };
  return { s: await openSession(opts), opts };
}

function caView(data: Record<string, unknown>): NonNullable<AccountView['ca']> {
  return {
    status: typeof data.status === 'string' ? data.status : null,
    contact: Array.isArray(data.contact) ? data.contact.filter((c): c is string => typeof c === 'string') : [],
    orders: typeof data.orders === 'string' ? data.orders : null,
  };
}

export async function listAccounts(ledger: Ledger): Promise<AccountView[]> {
  keyThumbprintOf = (await import('./acme/session.js')).keyThumbprint;
  return ledger.accounts().map((r) => accountView(ledger, r));
}

/** The account as the ledger and the CA know it. A deactivated account is shown from the ledger alone (the CA refuses it). */
export async function showAccount(env: RunEnv, ledger: Ledger, t: AccountTarget): Promise<AccountView> {
  const row = usableAccount(ledger, t, 'show');
  keyThumbprintOf = (await import('./acme/session.js')).keyThumbprint;
  if (row.deactivated_at) return accountView(ledger, row);
  const { s } = await session(env, ledger, t);
  const { data } = await s.postAsGet('account', s.accountUrl);
  return accountView(ledger, ledger.accountById(row.id)!, caView(data));
}

/** RFC 8555 §7.3.2: the account's contact becomes exactly this e-mail address. */
export async function updateAccountEmail(env: RunEnv, ledger: Ledger, t: AccountTarget, email: string): Promise<AccountView> {
  const row = usableAccount(ledger, t, 'update');
  const { s } = await session(env, ledger, t);
  const data = (await s.call('account', () => s.client.updateAccount({ contact: [`mailto:${email}`] }))) as unknown as Record<string, unknown>;
  ledger.setAccountEmail(row.id, email, env.now());
  return accountView(ledger, ledger.accountById(row.id)!, caView(data ?? {}));
}

/** RFC 8555 §7.3.6. Recorded at once: from now on certctl refuses to use the account (session.ts deactivatedError). */
export async function deactivateAccount(env: RunEnv, ledger: Ledger, t: AccountTarget): Promise<AccountView> {
  const row = usableAccount(ledger, t, 'deactivate');
  const { s } = await session(env, ledger, t);
  let data: Record<string, unknown>;
  try {
    data = (await s.call('account', () => s.client.updateAccount({ status: 'deactivated' }))) as unknown as Record<string, unknown>;
  } catch (err) {
    // A lost answer after the CA acted: the resent request is refused because the account is deactivated already — done.
    const p = err instanceof AcmeError ? err.problem : undefined;
    if (!(p && p.type === 'urn:ietf:params:acme:error:unauthorized' && /deactivated/i.test(p.detail ?? ''))) throw err;
    data = { status: 'deactivated' };
  }
  ledger.setAccountDeactivated(row.id, env.now());
  return accountView(ledger, ledger.accountById(row.id)!, caView(data ?? { status: 'deactivated' }));
}

/** RFC 8555 §7.3.5, crash-safe (session.ts rolloverAccountKey). */
export async function rolloverAccount(env: RunEnv, ledger: Ledger, t: AccountTarget): Promise<AccountView & { oldThumbprint: string; newThumbprint: string }> {
  const row = usableAccount(ledger, t, 'roll over');
  const { rolloverAccountKey } = await import('./acme/session.js');
  const { s, opts } = await session(env, ledger, t);
  const r = await rolloverAccountKey(s, opts);
  return { ...accountView(ledger, ledger.accountById(row.id)!), ...r };
}

/**
 * The ledger stops using this CA's account (deactivated, or given up on purpose): its row stays,
 * so its orders keep counting where they counted; its key file is set aside (0600, renamed);
 * the next issue registers a new account with a new key.
 */
export async function forgetAccount(env: RunEnv, ledger: Ledger, t: AccountTarget): Promise<AccountView> {
  const row = ledger.account(t.directoryUrl);
  if (!row) throw new InputError(`certctl has no account at ${t.directoryUrl} in this ledger, so there is nothing to forget; nothing was changed.`, 'certctl account list shows the accounts this ledger knows.');
  keyThumbprintOf = (await import('./acme/session.js')).keyThumbprint;
  const aside = path.join(path.dirname(row.key_path), `forgotten-${row.id}.key`);
  if (fs.existsSync(row.key_path)) {
    fs.renameSync(row.key_path, aside);
    (await import('./store/atomic.js')).fsyncDir(path.dirname(aside));
  }
  // A rollover left pending (killed, or its answer lost): that new key may be the one the CA holds for
  // the account — set aside beside the old one (0600, renamed), never deleted.
  if (fs.existsSync(`${row.key_path}.next`)) {
    fs.renameSync(`${row.key_path}.next`, path.join(path.dirname(row.key_path), `forgotten-${row.id}.next.key`));
    (await import('./store/atomic.js')).fsyncDir(path.dirname(aside));
  }
  ledger.forgetAccount(row.id, aside, env.now());
  return accountView(ledger, ledger.accountById(row.id)!);
}
