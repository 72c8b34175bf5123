/** `certctl delete`: check → confirm (terminal) or --yes → lock → core's deleteLineage → render. */
import path from 'node:path';
import { runEnv, type Context } from '../context.js';
import { assertLineageName } from '../../core/names.js';
import { ExitCode, InputError } from '../../core/errors.js';
import * as v from '../validate.js';
import { acquireRunLock } from '../../core/store/lock.js';
import { deleteLineage } from '../../core/retire.js';
import { lockWaitNotice, confirm } from '../output.js';

export interface DeleteCliOptions {
  certName: string;
  yes?: boolean;
  lockWait: number;
}

export async function runDelete(ctx: Context, o: DeleteCliOptions): Promise<number> {
  assertLineageName(o.certName);
  o.lockWait = v.seconds(o.lockWait, '--lock-wait')!;
  const ledger = await ctx.ledger();
  const l = ledger.lineage(o.certName);
  if (!l) throw new InputError(`There is no lineage named ${o.certName} in this ledger: nothing was deleted.`, 'certctl status lists the lineages.');
  if (!o.yes) {
    if (!process.stdin.isTTY) throw new InputError(`Refusing to delete the lineage ${o.certName} without confirmation: stdin is not a terminal; nothing was deleted.`, `Run it on a terminal, or add --yes: certctl delete --cert-name ${o.certName} --yes`);
    const ok = await confirm(`Delete the lineage ${o.certName} (${l.names.join(', ')}): ${path.join(ctx.paths.live, o.certName)} and ${path.join(ctx.paths.archive, o.certName)}, keys included? [y/N] `);
    if (!ok) throw new InputError(`Not confirmed: the lineage ${o.certName} was not deleted.`);
  }
  const lock = await acquireRunLock(ledger, o.lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  let r;
  try {
    r = deleteLineage(runEnv(ctx), ledger, o.certName);
  } finally {
    lock.release();
  }
  if (ctx.out.json) {
    ctx.out.document('certctl.delete/1', { lineage: r.lineage, names: r.names, certificatesKept: r.certificatesKept, removed: r.removed });
    return ExitCode.OK;
  }
  ctx.out.attention(`Deleted the lineage ${r.lineage} (${r.names.join(', ')}): ${r.removed.length ? r.removed.join(' and ') : 'no files were left'} removed; renew no longer renews it.`);
  ctx.out.info(`The ledger keeps its ${r.certificatesKept} certificate(s): they still count against the CA's limits (certctl plan). Nothing was revoked (certctl revoke --cert-path FILE).`);
  return ExitCode.OK;
}
