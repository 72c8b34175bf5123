/**
 * Checks of command-line values that commander does not do, shared by the
 * commands. Each one runs before the ledger is opened, a file is written or
 * a request is sent, and throws an InputError (exit 2) that names the option
 * and says what to give instead. Values are echoed escaped and capped
 * (`quote`), never raw.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { CONTROL, quote } from '../core/names.js';
import { registerSecret } from '../core/redact.js';
import { MAX_CA_BUNDLE_BYTES } from '../core/store/read.js';

/** A whole number in [min, max] (ports, concurrency, retries). */
export function wholeNumber(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`${flag} ${quote(String(value))} must be a whole number from ${min} to ${max}.`);
  return n;
}

/** A number of seconds ≥ 0 (and ≤ max): --lock-wait, time-outs. */
export function seconds(value: unknown, flag: string, max = 86_400 * 7): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new InputError(`${flag} ${quote(String(value))} must be a number of seconds from 0 to ${max}.`);
  return n;
}

/** No control characters (NUL, line breaks, escape sequences) in a value that becomes a path, a URL, a header or a ledger field. */
export function plain(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (CONTROL.test(value)) throw new InputError(`${flag} ${quote(value)} contains a control character (such as NUL or a line break).`, `Give ${flag} a plain value.`);
  return value;
}

/** A hook's shell command: not empty, no control character but a tab or a line break inside a script (NUL, escapes). */
export function hookCommand(value: string | undefined, flag: string): string | undefined {
  if (value !== undefined && (value.trim() === '' || /[\u0000-\u0008\u000b-\u001f\u007f]/.test(value))) {
    throw new InputError(`${flag} is empty or contains a control character (such as NUL).`, `Give ${flag} a shell command, e.g. ${flag} 'systemctl reload nginx'.`);
  }
  return value;
}

/** A non-empty value without control characters. */
export function nonEmpty(value: string | undefined, flag: string, what: string): string | undefined {
  if (value === undefined) return undefined;
  plain(value, flag);
  if (value.trim() === '') throw new InputError(`${flag} is empty.`, `Give ${flag} ${what}, or leave it out.`);
  return value;
}

/** An ACME account contact: a bare e-mail address (the CA refuses anything else, after the account request was sent). */
export function email(value: string | undefined, flag = '--email'): string | undefined {
  if (value === undefined) return undefined;
  nonEmpty(value, flag, 'an e-mail address such as ops@example.com');
  if (!/^[^\s@,;:<>()[\]"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(value) || value.length > 254) {
    throw new InputError(`${flag} ${quote(value)} is not an e-mail address.`, `Give ${flag} one address such as ops@example.com (no "mailto:", no name, no list).`);
  }
  return value;
}

/** An ACME profile name: a short token the CA lists in its directory. */
export function profile(value: string | undefined, flag = '--profile'): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) throw new InputError(`${flag} ${quote(value)} is not a profile name.`, 'Profile names are short words such as "classic" or "tlsserver" (see the CA\'s directory, meta.profiles).');
  return value;
}

/** An ACME directory URL given on the command line. */
export function url(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  nonEmpty(value, flag, 'a URL');
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InputError(`${flag} ${quote(value)} is not a URL.`, `Give ${flag} an https:// URL.`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InputError(`${flag} ${quote(value)} is not an http(s) URL.`, `Give ${flag} an https:// URL.`);
  if (u.username || u.password) throw new InputError(`${flag} must not carry a user name or password.`, 'Drop the user:password@ part.');
  return value;
}

/**
 * A PEM file of CA certificates (--ca-bundle): exists, is a readable regular
 * file of sane size holding "BEGIN CERTIFICATE". `where` names the source for
 * the message ("--ca-bundle", or "config.yaml:7: defaults.caBundle").
 */
export function caBundleFile(file: string | undefined, where = '--ca-bundle', fix = 'Give --ca-bundle the PEM file of the CA certificate(s) that signed the ACME server’s TLS certificate.'): string | undefined {
  if (file === undefined) return undefined;
  nonEmpty(file, where, 'a PEM file');
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (err) {
    throw new InputError(`${where}: the CA bundle ${abs} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as NodeJS.ErrnoException).code})`}.`, fix);
  }
  if (!st.isFile()) throw new InputError(`${where}: the CA bundle ${abs} is not a file.`, fix);
  if (st.size > MAX_CA_BUNDLE_BYTES) throw new InputError(`${where}: the CA bundle ${abs} is ${st.size} bytes, too big for a PEM file of CA certificates.`, fix);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'latin1');
  } catch (err) {
    throw new InputError(`${where}: the CA bundle ${abs} cannot be read (${(err as NodeJS.ErrnoException).code}).`, fix);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new InputError(`${where}: ${abs} holds no PEM certificate ("-----BEGIN CERTIFICATE-----").`, fix);
  return abs;
}

/** An EAB HMAC key as CAs hand it out: base64url (padding tolerated), at least 16 bytes. */
export function checkHmac(key: string, where: string): string {
  const k = key.trim().replace(/=+$/, '');
  // The key is never echoed, not even in part.
  if (!/^[A-Za-z0-9_-]+$/.test(k)) throw new InputError(`${where}: the EAB HMAC key is not base64url (it contains other characters; the key is not shown).`, 'Copy the HMAC key exactly as the CA shows it (letters, digits, "-" and "_").');
  if (Buffer.from(k, 'base64url').length < 16) throw new InputError(`${where}: the EAB HMAC key is too short (under 16 bytes; the key is not shown).`, 'Copy the whole HMAC key as the CA shows it.');
  registerSecret(key);
  registerSecret(k);
  return k;
}

export const EAB_ENV = 'CERTCTL_EAB_HMAC_KEY';

/**
 * The EAB HMAC key, from (first given wins): --eab-hmac-key-file FILE,
 * $CERTCTL_EAB_HMAC_KEY, --eab-hmac-key KEY (visible in /proc/<pid>/cmdline:
 * the least preferred), then the config file's eabHmacKeyFile / eabHmacKey.
 * Giving both the file and the flag is an error (which one was meant?).
 */
export function readEabHmac(o: { eabHmacKey?: string; eabHmacKeyFile?: string }, env: NodeJS.ProcessEnv = process.env, config: { eabHmacKey?: string; eabHmacKeyFile?: string; where?: string } = {}): string | undefined {
  if (o.eabHmacKey !== undefined) registerSecret(o.eabHmacKey);
  if (env[EAB_ENV]) registerSecret(env[EAB_ENV]);
  if (o.eabHmacKey !== undefined && o.eabHmacKeyFile !== undefined) throw new InputError('Give the EAB HMAC key once: --eab-hmac-key-file or --eab-hmac-key, not both.');
  if (o.eabHmacKeyFile !== undefined) return checkHmac(readSecretFile(o.eabHmacKeyFile, '--eab-hmac-key-file'), '--eab-hmac-key-file');
  if (env[EAB_ENV] !== undefined && env[EAB_ENV] !== '') return checkHmac(env[EAB_ENV]!, `$${EAB_ENV}`);
  if (o.eabHmacKey !== undefined) return checkHmac(o.eabHmacKey, '--eab-hmac-key');
  if (config.eabHmacKeyFile !== undefined) return checkHmac(readSecretFile(config.eabHmacKeyFile, config.where ?? 'eabHmacKeyFile'), config.where ?? 'eabHmacKeyFile');
  if (config.eabHmacKey !== undefined) return checkHmac(config.eabHmacKey, config.where ?? 'eabHmacKey');
  return undefined;
}

/** A small file holding one secret (its first line). */
export function readSecretFile(file: string, where: string): string {
  plain(file, where);
  let fd: number;
  try {
    fd = fs.openSync(path.resolve(file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${where} ${quote(file)} ${code === 'ENOENT' ? 'does not exist' : code === 'ELOOP' ? 'is a symlink (refused for a secret)' : `cannot be read (${code})`}.`, 'Give a file (mode 0600) holding the key on one line.');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(`${where} ${quote(file)} is not a regular file.`, 'Give a file (mode 0600) holding the key on one line.');
    if (st.size > 4096) throw new InputError(`${where} ${quote(file)} is ${st.size} bytes; an HMAC key file holds one short line.`, 'Give a file (mode 0600) holding the key on one line.');
    const buf = Buffer.alloc(st.size);
    fs.readSync(fd, buf, 0, st.size, 0);
    const line = buf.toString('utf8').split(/\r?\n/).find((l) => l.trim() !== '') ?? '';
    if (line.trim() === '') throw new InputError(`${where} ${quote(file)} is empty.`, 'Put the HMAC key on its first line.');
    return line.trim();
  } finally {
    fs.closeSync(fd);
  }
}
