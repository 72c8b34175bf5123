/** The bodies of `certctl fleet key init|rotate` (wiring: commands/fleet.ts). */
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from '../context.js';
import { InputError, ExitCode } from '../../core/errors.js';
import { loadFleetKey, newFleetKeyText } from '../../core/fleet/key.js';

/** Write a new key file, 0600 from its first byte, never over an existing file (O_EXCL: a key lost is every stored key lost). */
export async function runFleetKeyInit(ctx: Context, file: string): Promise<number> {
  const abs = path.resolve(file);
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0), 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new InputError(`${abs} exists already: certctl never overwrites a fleet key (the ledger's keys may be sealed with it).`, 'Choose another file; to replace the fleet key, write the new one elsewhere and run certctl fleet key rotate --new FILE.');
    throw new InputError(`Cannot create ${abs}: ${code ?? (err as Error).message}.`, 'Check that its directory exists and is writable.');
  }
  try {
    fs.writeFileSync(fd, newFleetKeyText());
    fs.fchmodSync(fd, 0o600);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const key = loadFleetKey(abs);
  if (ctx.out.json) ctx.out.document('certctl.fleet-key/1', { action: 'init', file: abs, keyId: key.keyId });
  else {
    ctx.out.attention(`Wrote a new fleet key to ${abs} (id ${key.keyId}, mode 0600).`);
    ctx.out.info('Copy it (mode 0600) to every host of the fleet and give it with --fleet-key, CERTCTL_FLEET_KEY_FILE or fleetKey: in the config. Keep a backup: without it the ledger\'s keys cannot be read.');
  }
  return ExitCode.OK;
}

export async function runFleetKeyRotate(ctx: Context, o: { new: string }): Promise<number> {
  const next = loadFleetKey(o.new);
  const ledger = await ctx.ledger();
  if (ledger.backend !== 'postgres') throw new InputError(`The ledger ${ledger.file} is a SQLite file: it keeps no keys (they are files in the state directory), so there is nothing to rotate.`);
  if (!ledger.sealer) throw new InputError('certctl fleet key rotate needs the current fleet key: give it with --fleet-key FILE (or CERTCTL_FLEET_KEY_FILE).', 'The new key goes in --new FILE.');
  if (ledger.sealer.keyId === next.keyId) throw new InputError(`${next.file} is the current fleet key (id ${next.keyId}): nothing to rotate.`, 'Write a new key with certctl fleet key init FILE and give it with --new FILE.');
  const { acquireRunLock } = await import('../../core/store/lock.js');
  const { lockWaitNotice } = await import('../output.js');
  // issue/apply/import wait (the fleet's run lock). renew on PostgreSQL takes no fleet-wide lock: every
  // seal checks the fleet's key id under the ledger's write lock, which the rotation's transaction holds,
  // so a renewal storing meanwhile is re-sealed here (it committed first) or refused (it comes after).
  const lock = await acquireRunLock(ledger, 600_000, ctx.now, lockWaitNotice(ctx));
  let n: { files: number; accounts: number; orders: number };
  try {
    n = ledger.rotateFleetKey(next);
  } finally {
    lock.release();
  }
  if (ctx.out.json) ctx.out.document('certctl.fleet-key/1', { action: 'rotate', file: next.file, keyId: next.keyId, previousKeyId: ledger.sealer.keyId, resealed: n });
  else {
    ctx.out.attention(`Re-sealed ${n.files} certificate key(s), ${n.accounts} account key(s) and ${n.orders} pending order key(s) with the fleet key ${next.file} (id ${next.keyId}), in one transaction.`);
    ctx.out.info(`Now give every host the new key file: a host with the old key (id ${ledger.sealer.keyId}) is refused and changes nothing until it has it (a renewal it was storing is stored by its next run with the new key; nothing is ordered twice).`);
  }
  return ExitCode.OK;
}
