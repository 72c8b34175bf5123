/**
 * The fleet key: 32 random bytes in a file on each host (mode 0600), never in
 * the database. Every private key the shared ledger holds (certificate keys,
 * the ACME account key) is sealed with it: AES-256-GCM from node:crypto, a
 * fresh 96-bit IV per seal, and additional authenticated data naming the row
 * the ciphertext belongs to, so a ciphertext copied into another row (another
 * lineage, version, file or account) fails to open. Each sealed value carries
 * the key's id (a hash of the key, not the key), so a host holding another
 * key says so in one sentence instead of failing to decrypt.
 *
 * File format, one line: `certctl-fleet-key-v1:<base64url of 32 bytes>`.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { InputError, StateError } from '../errors.js';

const PREFIX = 'certctl-fleet-key-v1:';
const SEALED = 'certctl-sealed-v1';
/** 256-bit key (AES-256-GCM), 96-bit IV (GCM's natural size), 128-bit tag. */
const KEY_BYTES = 32;
const IV_BYTES = 12;

/** What the ledger needs of a fleet key (ledger.ts declares the same shape as `Sealer`). */
export interface FleetKey {
  /** sha256 of the key (domain-separated), 16 hex digits: names the key, reveals nothing of it. */
  readonly keyId: string;
  readonly file: string;
  /** Seal `plain` for the row named by `aad`: `certctl-sealed-v1:<keyId>:<iv>:<ciphertext>:<tag>` (base64url). */
  seal(plain: string, aad: string): string;
  /** Open a sealed value of the row `aad`; `what` names it in errors. Wrong key: InputError (exit 2); damaged or moved: StateError (exit 10). */
  open(sealed: string, aad: string, what: string): string;
}

export function fleetKeyId(key: Buffer): string {
  return crypto.createHash('sha256').update('certctl fleet key id\0').update(key).digest('hex').slice(0, 16);
}

/** The key id a sealed value names, or null when it is not one. */
export function sealedKeyId(sealed: string): string | null {
  const parts = sealed.split(':');
  return parts.length === 5 && parts[0] === SEALED ? parts[1]! : null;
}

export function wrongFleetKey(file: string, mine: string, theirs: string): InputError {
  return new InputError(
    `The fleet key ${file} (id ${mine}) is not the key this ledger's secrets are sealed with (id ${theirs}): certctl changed nothing.`,
    "Give this host the fleet's key file (--fleet-key FILE, CERTCTL_FLEET_KEY_FILE or fleetKey: in the config), copied from a host that works; after `certctl fleet key rotate`, the new one.",
  );
}

function fromBytes(key: Buffer, file: string): FleetKey {
  const keyId = fleetKeyId(key);
  const aadOf = (aad: string) => Buffer.from(`certctl:${aad}`, 'utf8');
  return {
    keyId,
    file,
    seal(plain, aad) {
      const iv = crypto.randomBytes(IV_BYTES);
      const c = crypto.createCipheriv('aes-256-gcm', key, iv);
      c.setAAD(aadOf(aad));
      const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return [SEALED, keyId, iv.toString('base64url'), ct.toString('base64url'), c.getAuthTag().toString('base64url')].join(':');
    },
    open(sealed, aad, what) {
      const parts = sealed.split(':');
      if (parts.length !== 5 || parts[0] !== SEALED) {
        throw new StateError(`The ledger's ${what} is not a sealed value certctl wrote: certctl will not use it.`, 'Restore the ledger from a backup, or renew the certificate (certctl renew --force-renewal --cert-name NAME).');
      }
      if (parts[1] !== keyId) throw wrongFleetKey(file, keyId, parts[1]!);
      try {
        const d = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(parts[2]!, 'base64url'));
        d.setAAD(aadOf(aad));
        d.setAuthTag(Buffer.from(parts[4]!, 'base64url'));
        return Buffer.concat([d.update(Buffer.from(parts[3]!, 'base64url')), d.final()]).toString('utf8');
      } catch {
        throw new StateError(
          `The ledger's ${what} does not open with the fleet key (id ${keyId}): it was changed, damaged, or copied from another row.`,
          'Restore the ledger from a backup, or renew the certificate (certctl renew --force-renewal --cert-name NAME); certctl wrote nothing.',
        );
      }
    },
  };
}

/**
 * Read a fleet key file: a regular file, readable by its owner only (no group or other bits: a
 * key another user can read is refused, exit 2), holding one `certctl-fleet-key-v1:` line.
 */
export function loadFleetKey(file: string): FleetKey {
  const abs = path.resolve(file);
  let fd: number;
  try {
    fd = fs.openSync(abs, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      `The fleet key file ${abs} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}.`,
      'Copy the fleet key file from another host of the fleet (mode 0600), or make the first one with `certctl fleet key init FILE` (docs/fleet.md).',
    );
  }
  let text: string;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(`The fleet key file ${abs} is not a regular file.`, 'Give the path of the key file `certctl fleet key init` wrote.');
    if ((st.mode & 0o077) !== 0) {
      throw new InputError(
        `The fleet key file ${abs} can be read by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); certctl uses a fleet key only when its owner alone can read it.`,
        `Run: chmod 600 ${abs}`,
      );
    }
    if (st.size > 4096) throw new InputError(`The fleet key file ${abs} is ${st.size} bytes: not a fleet key.`, 'Give the path of the key file `certctl fleet key init` wrote.');
    text = fs.readFileSync(fd, 'utf8').trim();
  } finally {
    fs.closeSync(fd);
  }
  const key = text.startsWith(PREFIX) ? Buffer.from(text.slice(PREFIX.length), 'base64url') : Buffer.alloc(0);
  if (key.length !== KEY_BYTES || key.toString('base64url') !== text.slice(PREFIX.length)) {
    throw new InputError(`The fleet key file ${abs} does not hold a fleet key (one line "${PREFIX}…" of 32 bytes).`, 'Give the path of the key file `certctl fleet key init` wrote; certctl changed nothing.');
  }
  return fromBytes(key, abs);
}

/** A new fleet key's file text (32 bytes from the system's CSPRNG). */
export function newFleetKeyText(): string {
  return `${PREFIX}${crypto.randomBytes(KEY_BYTES).toString('base64url')}\n`;
}
