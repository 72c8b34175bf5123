/** `certctl revoke`: check options → lock → core's revokeCertificates (and deleteLineage with --delete-after) → render. */
import path from 'node:path';
import { runEnv, type Context } from '../context.js';
import { resolveCa } from '../../core/ca/registry.js';
import { assertLineageName } from '../../core/names.js';
import { ExitCode, InputError } from '../../core/errors.js';
import * as v from '../validate.js';
import { acquireRunLock } from '../../core/store/lock.js';
import { utc } from '../../core/clock.js';
import { REVOCATION_REASONS, notifyRevocation, revokeCertificates, type RevocationReason, type RevokeOutcome } from '../../core/revoke.js';
import type { DeleteOutcome } from '../../core/retire.js';
import { lockWaitNotice, serialText } from '../output.js';

export interface RevokeCliOptions {
  certName?: string;
  certPath?: string;
  keyPath?: string;
  reason: RevocationReason;
  deleteAfter?: boolean;
  server?: string;
  ca?: string;
  caBundle?: string;
  lockWait: number;
}

export async function runRevoke(ctx: Context, o: RevokeCliOptions): Promise<number> {
  // Every value is checked before the ledger is opened or anything is sent (exit 2).
  if (!o.certName === !o.certPath) throw new InputError('Say which certificate to revoke: --cert-name NAME or --cert-path FILE (one of them).', 'certctl status lists the lineages.');
  if (o.certName !== undefined) assertLineageName(o.certName);
  if (o.certPath !== undefined) v.plain(o.certPath, '--cert-path');
  if (o.keyPath !== undefined) v.plain(o.keyPath, '--key-path');
  if (o.deleteAfter && !o.certName) throw new InputError('--delete-after goes with --cert-name: it deletes the lineage whose certificate is revoked.');
  if (!(o.reason in REVOCATION_REASONS)) throw new InputError(`--reason must be one of: ${Object.keys(REVOCATION_REASONS).join(', ')}.`);
  v.url(o.server, '--server');
  v.caBundleFile(o.caBundle);
  o.lockWait = v.seconds(o.lockWait, '--lock-wait')!;
  const target = o.server || o.ca ? resolveCa({ ca: o.ca, server: o.server }) : undefined;

  const ledger = await ctx.ledger();
  const lock = await acquireRunLock(ledger, o.lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  let r: RevokeOutcome;
  let deleted: DeleteOutcome | undefined;
  try {
    const env = runEnv(ctx);
    if (o.deleteAfter) {
      // Refused before the revocation is sent, not after it (a migrated lineage certbot's links point at).
      const blocked = (await import('../../core/retire.js')).deletionBlocker(env, o.certName!);
      if (blocked) throw blocked;
    }
    r = await revokeCertificates(env, ledger, {
      certName: o.certName,
      certPath: o.certPath,
      keyPath: o.keyPath,
      reason: o.reason,
      ca: target?.ca,
      directoryUrl: target?.directoryUrl,
      caBundle: o.caBundle ? path.resolve(o.caBundle) : undefined,
    });
    if (o.deleteAfter) deleted = (await import('../../core/retire.js')).deleteLineage(env, ledger, o.certName!);
    await notifyRevocation(runEnv(ctx), ledger, r, Boolean(deleted));
  } finally {
    lock.release();
  }
  if (ctx.out.json) {
    ctx.out.document('certctl.revoke/1', {
      certificates: r.certificates.map((c) => ({ ...c, at: new Date(c.at).toISOString() })),
      lineage: r.lineage,
      renewalDue: Boolean(r.lineage) && !deleted,
      deleted: deleted ? { lineage: deleted.lineage, certificatesKept: deleted.certificatesKept, removed: deleted.removed } : null,
    });
    return ExitCode.OK;
  }
  for (const c of r.certificates) {
    const how = c.by === 'account' ? "through certctl's account" : "signed with the certificate's own key";
    ctx.out.attention(
      c.result === 'revoked'
        ? `Revoked ${serialText(c.serial)} (${c.names.join(', ')}) ${how}, reason ${c.reason}, at ${utc(c.at)}.`
        : `${serialText(c.serial)} (${c.names.join(', ')}) is revoked: the CA says it already was; recorded.`,
    );
  }
  if (deleted) ctx.out.attention(`Deleted the lineage ${deleted.lineage}: live/ and archive/ removed; the ledger keeps its ${deleted.certificatesKept} certificate(s) for the rate limits.`);
  else if (r.lineage) ctx.out.info(`The lineage ${r.lineage} is due for renewal now (certctl renew --cert-name ${r.lineage}), or retire it: certctl delete --cert-name ${r.lineage}.`);
  ctx.out.info('Revocation gives no rate-limit capacity back: the certificate still counts against the CA’s limits (certctl plan).');
  return ExitCode.OK;
}
