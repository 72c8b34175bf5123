/**
 * BIND's key file format, as `tsig-keygen` (and `ddns-confgen`) write it:
 *
 *     key "certctl" {
 *         algorithm hmac-sha256;
 *         secret "base64…";
 *     };
 *
 * Why read BIND's format: it is what the DNS administrator already has (the
 * same file is `include`d in named.conf), so nobody copies a secret into a
 * command line, an environment variable or a config file that gets logged.
 *
 * The parser is strict — every problem is `FILE:LINE: what is wrong`, all at
 * once — and never repeats the secret, nor any unexpected word (which could
 * be a secret written without its quotes). Comments (#, //, C-style) are
 * allowed as in named.conf. A file with several keys needs the key name.
 */
import { readInputFile } from '../store/read.js';
import { InputError } from '../errors.js';
import { TSIG_ALGORITHMS, TsigKey, isTsigAlgorithm } from './tsig.js';

interface Token {
  kind: 'word' | 'string' | '{' | '}' | ';';
  text: string;
  line: number;
}

function tokenize(src: string, errors: string[], file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const start = line;
      const end = src.indexOf('*/', i + 2);
      if (end < 0) {
        errors.push(`${file}:${start}: a /* comment is never closed.`);
        return out;
      }
      for (let j = i; j < end; j++) if (src[j] === '\n') line++;
      i = end + 2;
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      const nl = src.indexOf('\n', i + 1);
      if (end < 0 || (nl >= 0 && nl < end)) {
        errors.push(`${file}:${line}: a quoted string is not closed on its line.`);
        return out;
      }
      out.push({ kind: 'string', text: src.slice(i + 1, end), line });
      i = end + 1;
    } else if (c === '{' || c === '}' || c === ';') {
      out.push({ kind: c, text: c, line });
      i++;
    } else {
      let j = i;
      while (j < src.length && !/[\s{};"#]/.test(src[j]!)) j++;
      out.push({ kind: 'word', text: src.slice(i, j), line });
      i = j;
    }
  }
  return out;
}

export interface ParsedKey {
  name: string;
  algorithm: keyof typeof TSIG_ALGORITHMS;
  /** Never printed; becomes a TsigKey's private field. */
  secret: Buffer;
  line: number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parse the text of a key file. Throws one InputError listing every problem. */
export function parseKeyFile(src: string, file = 'key file'): ParsedKey[] {
  const errors: string[] = [];
  const toks = tokenize(src, errors, file);
  const keys: ParsedKey[] = [];
  let i = 0;
  const lastLine = () => toks[toks.length - 1]?.line ?? 1;
  const expect = (kind: Token['kind'], what: string): Token | undefined => {
    const t = toks[i];
    if (!t || t.kind !== kind) {
      errors.push(`${file}:${t?.line ?? lastLine()}: expected ${what}${t ? '' : ' before the end of the file'}.`);
      return undefined;
    }
    i++;
    return t;
  };
  outer: while (i < toks.length && errors.length === 0) {
    const kw = toks[i]!;
    if (kw.kind !== 'word' || kw.text !== 'key') {
      errors.push(`${file}:${kw.line}: expected a "key" statement (only key statements may be in a TSIG key file).`);
      break;
    }
    i++;
    const nameTok = toks[i];
    if (!nameTok || (nameTok.kind !== 'string' && nameTok.kind !== 'word')) {
      errors.push(`${file}:${nameTok?.line ?? kw.line}: expected the key's name after "key".`);
      break;
    }
    i++;
    const name = nameTok.text.replace(/\.$/, '');
    if (!/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(name) || name.includes('..')) {
      errors.push(`${file}:${nameTok.line}: the key name must be a domain name (letters, digits, "-", "_", ".").`);
    }
    if (!expect('{', `"{" after key "${name}"`)) break;
    let algorithm: string | undefined;
    let secret: Buffer | undefined;
    const line = kw.line;
    for (;;) {
      const t = toks[i];
      if (!t) {
        errors.push(`${file}:${lastLine()}: key "${name}" is not closed with "};".`);
        break outer;
      }
      if (t.kind === '}') {
        i++;
        if (!expect(';', `";" after the "}" closing key "${name}"`)) break outer;
        break;
      }
      if (t.kind !== 'word') {
        errors.push(`${file}:${t.line}: expected "algorithm" or "secret" inside key "${name}".`);
        break outer;
      }
      i++;
      const v = toks[i];
      if (t.text === 'algorithm') {
        if (!v || (v.kind !== 'word' && v.kind !== 'string')) {
          errors.push(`${file}:${t.line}: "algorithm" needs a value (hmac-sha256 or hmac-sha512).`);
          break outer;
        }
        i++;
        const alg = v.text.toLowerCase().replace(/\.$/, '');
        if (algorithm !== undefined) errors.push(`${file}:${t.line}: key "${name}" gives its algorithm twice.`);
        if (alg === 'hmac-md5' || alg === 'hmac-md5.sig-alg.reg.int') {
          errors.push(`${file}:${v.line}: key "${name}" uses HMAC-MD5, which certctl does not accept; make a new key with: tsig-keygen -a hmac-sha256 ${name}`);
        } else if (!isTsigAlgorithm(alg)) {
          errors.push(`${file}:${v.line}: key "${name}" has an unknown algorithm "${alg.slice(0, 40)}"; use one of ${Object.keys(TSIG_ALGORITHMS).join(', ')}.`);
        }
        algorithm = alg;
      } else if (t.text === 'secret') {
        if (!v || v.kind !== 'string') {
          errors.push(`${file}:${t.line}: the secret of key "${name}" must be a quoted base64 string.`);
          break outer;
        }
        i++;
        if (secret !== undefined) errors.push(`${file}:${t.line}: key "${name}" gives its secret twice.`);
        const b64 = v.text;
        if (!BASE64.test(b64) || b64.length % 4 !== 0) {
          errors.push(`${file}:${v.line}: the secret of key "${name}" is not valid base64 (the secret itself is not shown).`);
          secret = Buffer.alloc(0);
        } else {
          secret = Buffer.from(b64, 'base64');
          if (secret.length < 16) errors.push(`${file}:${v.line}: the secret of key "${name}" is only ${secret.length} bytes; use at least 16 (tsig-keygen makes 32 or 64).`);
        }
      } else {
        errors.push(`${file}:${t.line}: unknown statement inside key "${name}"; only "algorithm" and "secret" are allowed.`);
        break outer;
      }
      if (!expect(';', `";" after the ${t.text} of key "${name}"`)) break outer;
    }
    if (algorithm === undefined) errors.push(`${file}:${line}: key "${name}" has no algorithm.`);
    if (secret === undefined) errors.push(`${file}:${line}: key "${name}" has no secret.`);
    if (keys.some((k) => k.name.toLowerCase() === name.toLowerCase())) errors.push(`${file}:${line}: key "${name}" is defined twice.`);
    if (algorithm && isTsigAlgorithm(algorithm) && secret) keys.push({ name, algorithm, secret, line });
  }
  if (errors.length === 0 && keys.length === 0) errors.push(`${file}:1: the file holds no key statement.`);
  if (errors.length) {
    throw new InputError(errors.join('\n'), 'A TSIG key file is what tsig-keygen writes, e.g.: tsig-keygen -a hmac-sha256 certctl > certctl.key');
  }
  return keys;
}

/** A key or credentials file holds a few hundred bytes; a bound keeps /dev/zero or a huge file from filling the memory. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** A key / credentials file's text: a regular file (links followed) of at most 64 KiB — a FIFO, device or directory is an InputError (a FIFO would block the run for ever). */
export function readSecretFile(file: string, what: string): string {
  return readInputFile(file, what, MAX_SECRET_FILE_BYTES);
}

/** Read a key file and return its key (by name when the file has several). */
export function loadTsigKey(file: string, keyName?: string): TsigKey {
  let src: string;
  try {
    src = readSecretFile(file, 'The TSIG key file');
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.message, 'Give --tsig-key the file tsig-keygen wrote (readable by the user running certctl).');
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT' ? `The TSIG key file ${file} does not exist.` : `Cannot read the TSIG key file ${file} (${code ?? (err as Error).message}).`,
      'Give --tsig-key the file tsig-keygen wrote (readable by the user running certctl).',
    );
  }
  const keys = parseKeyFile(src, file);
  let k: ParsedKey | undefined;
  if (keyName !== undefined) {
    const want = keyName.replace(/\.$/, '').toLowerCase();
    k = keys.find((x) => x.name.toLowerCase() === want);
    if (!k) throw new InputError(`The TSIG key file ${file} has no key named "${keyName}" (it has: ${keys.map((x) => x.name).join(', ')}).`);
  } else if (keys.length > 1) {
    throw new InputError(`The TSIG key file ${file} holds ${keys.length} keys (${keys.map((x) => x.name).join(', ')}); say which one to use.`);
  } else {
    k = keys[0]!;
  }
  return new TsigKey(k.name, k.algorithm, k.secret);
}
