/** `certctl account …` (wiring: commands/account.ts): check → confirm (terminal) or --yes → lock → core's account.ts → render. */
import path from 'node:path';
import { runEnv, type Context } from '../context.js';
import { ExitCode, InputError } from '../../core/errors.js';
import * as v from '../validate.js';
import { utc } from '../../core/clock.js';
import type { AccountView } from '../../core/account.js';
import { confirm } from '../output.js';

export interface AccountCliOptions {
  action: 'list' | 'show' | 'update' | 'deactivate' | 'rollover' | 'forget';
  server?: string;
  ca?: string;
  staging?: boolean;
  caBundle?: string;
  email?: string;
  yes?: boolean;
  lockWait?: number;
}

function json(a: AccountView & { oldThumbprint?: string; newThumbprint?: string }) {
  const iso = (n: number | null) => (n === null ? null : new Date(n).toISOString());
  return {
    id: a.id,
    caId: a.caId,
    directoryUrl: a.directoryUrl,
    accountUrl: a.accountUrl,
    email: a.email,
    status: a.status,
    createdAt: iso(a.createdAt),
    deactivatedAt: iso(a.deactivatedAt),
    keyPath: a.keyPath,
    keyThumbprint: a.keyThumbprint,
    keys: a.keys.map((k) => ({ state: k.state, thumbprint: k.thumbprint, createdAt: iso(k.createdAt), updatedAt: iso(k.updatedAt) })),
    ca: a.ca,
    ...(a.newThumbprint ? { previousKeyThumbprint: a.oldThumbprint } : {}),
  };
}

function lines(ctx: Context, a: AccountView): void {
  ctx.out.info(`Account ${a.id} at ${a.directoryUrl} (${a.caId}): ${a.status}${a.deactivatedAt ? ` on ${utc(a.deactivatedAt)}` : ''}`);
  ctx.out.info(`  URL      ${a.accountUrl ?? '(never registered)'}`);
  ctx.out.info(`  e-mail   ${a.email ?? '(none)'}${a.ca ? `; the CA has: ${a.ca.contact.join(', ') || '(no contact)'}, status ${a.ca.status ?? '?'}` : ''}`);
  ctx.out.info(`  key      ${a.keyPath} (0600), thumbprint ${a.keyThumbprint ?? '(missing)'}`);
  for (const k of a.keys.filter((k) => k.state !== 'current')) ctx.out.info(`  key history: ${k.state} ${k.thumbprint} (${utc(k.updatedAt)})`);
}

export async function runAccount(ctx: Context, o: AccountCliOptions): Promise<number> {
  const core = await import('../../core/account.js');
  if (o.action === 'list') {
    const ledger = await ctx.ledger();
    const all = await core.listAccounts(ledger);
    if (ctx.out.json) ctx.out.document('certctl.accounts/1', { accounts: all.map(json) });
    else if (all.length === 0) ctx.out.info('No ACME account in this ledger yet (certctl issue registers one with its first order).');
    else for (const a of all) lines(ctx, a);
    return ExitCode.OK;
  }
  // Everything checked before the ledger is opened or anything is sent.
  v.url(o.server, '--server');
  const { resolveCa } = await import('../../core/ca/registry.js');
  const { ca, directoryUrl } = resolveCa({ ca: o.ca, server: o.server, staging: o.staging });
  v.caBundleFile(o.caBundle);
  if (o.action === 'update') {
    if (o.email === undefined || o.email.trim() === '') throw new InputError('--email is empty.', 'Give the new contact address: certctl account update --email ops@example.com');
    v.email(o.email);
  }
  const lockWait = v.seconds(o.lockWait ?? 120, '--lock-wait')!;
  const ledger = await ctx.ledger();
  const row = ledger.account(directoryUrl);
  if ((o.action === 'deactivate' || o.action === 'forget') && !o.yes) {
    const what = o.action === 'deactivate' ? `Deactivate the ACME account ${row?.account_url ?? ''} at ${directoryUrl}? The CA refuses it from then on (irreversible).` : `Forget the ACME account ${row?.account_url ?? ''} at ${directoryUrl}? The next issue registers a new account.`;
    if (!row) throw new InputError(`certctl has no account at ${directoryUrl} in this ledger, so there is nothing to ${o.action}; nothing was sent.`, 'certctl account list shows the accounts this ledger knows.');
    if (!process.stdin.isTTY) throw new InputError(`Refusing to ${o.action} the account at ${directoryUrl} without confirmation: stdin is not a terminal; nothing was sent.`, `Run it on a terminal, or add --yes: certctl account ${o.action} --server ${directoryUrl} --yes`);
    if (!(await confirm(`${what} [y/N] `))) throw new InputError(`Not confirmed: the account at ${directoryUrl} was not changed.`);
  }
  const { acquireRunLock } = await import('../../core/store/lock.js');
  const lock = await acquireRunLock(ledger, lockWait * 1000, ctx.now);
  const env = runEnv(ctx);
  const t = { ca, directoryUrl, caBundle: o.caBundle ? path.resolve(o.caBundle) : undefined };
  let r: AccountView & { oldThumbprint?: string; newThumbprint?: string };
  try {
    r =
      o.action === 'show'
        ? await core.showAccount(env, ledger, t)
        : o.action === 'update'
          ? await core.updateAccountEmail(env, ledger, t, o.email!)
          : o.action === 'deactivate'
            ? await core.deactivateAccount(env, ledger, t)
            : o.action === 'rollover'
              ? await core.rolloverAccount(env, ledger, t)
              : await core.forgetAccount(env, ledger, t);
  } finally {
    lock.release();
  }
  if (ctx.out.json) {
    ctx.out.document('certctl.account/1', { action: o.action, account: json(r) });
    return ExitCode.OK;
  }
  if (o.action === 'update') ctx.out.attention(`Updated: the account's contact at the CA is now ${r.ca?.contact.join(', ') || `mailto:${o.email}`}.`);
  if (o.action === 'deactivate') ctx.out.attention(`Deactivated the account ${r.accountUrl} at the CA; certctl will not use it again (certctl account forget --yes, then issue, registers a new one).`);
  if (o.action === 'rollover') ctx.out.attention(`Rolled over the account key: the CA now knows the account by key ${r.newThumbprint} (was ${r.oldThumbprint}).`);
  if (o.action === 'forget') ctx.out.attention(`Forgot the account ${r.accountUrl ?? ''} at ${directoryUrl}: the next issue registers a new account; the ledger keeps the old one's history.`);
  lines(ctx, r);
  return ExitCode.OK;
}
