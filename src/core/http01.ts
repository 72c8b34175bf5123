/**
 * HTTP-01 building blocks shared by the challenge solvers (challenge/http01.ts)
 * and the readiness check (precheck/http01.ts): the one token rule, the one
 * standalone server, the webroot checks and --standalone's address.
 *
 * Tokens come from the CA; they are checked to be base64url before they
 * become part of a path, so a hostile or broken server cannot make certctl
 * write outside <webroot>/.well-known/acme-challenge/.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import os from 'node:os';
import { InputError, CertctlError, ExitCode } from './errors.js';
import { registerSecret } from './redact.js';

/** RFC 8555 §8.3: a token is base64url, at least 128 bits of entropy (22 characters); no CA sends more than a few dozen. The readiness probe's own tokens (43 characters) follow it too. */
const TOKEN = /^[A-Za-z0-9_-]{22,256}$/;

/** Whether `token` may be a file name under .well-known/acme-challenge/ and a URL path. */
export function isToken(token: unknown): token is string {
  return typeof token === 'string' && TOKEN.test(token);
}

/**
 * A token from the CA, checked before it is used as a file name or URL path:
 * never "..", a slash, empty, very long or anything but base64url. The token
 * itself is not echoed (README: tokens are never shown).
 */
export function checkToken(token: unknown): string {
  if (typeof token !== 'string' || !TOKEN.test(token)) {
    const what =
      typeof token !== 'string'
        ? `not a string (${typeof token})`
        : token === ''
          ? 'empty'
          : /[^A-Za-z0-9_-]/.test(token)
            ? 'not base64url (it contains characters such as "/", "." or "%")'
            : token.length > 256
              ? `${token.length} characters long`
              : `only ${token.length} characters long`;
    throw new CertctlError(
      `The CA sent an HTTP-01 challenge token that is ${what}; refusing to use it as a file name, and nothing was answered.`,
      ExitCode.CA_ERROR,
      'This is a CA fault (RFC 8555 tokens are 22+ base64url characters). The order is left as it is; run again once the CA is fixed, or report it to the CA.',
    );
  }
  registerSecret(token);
  return token;
}

export const CHALLENGE_DIR = path.join('.well-known', 'acme-challenge');
export const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/**
 * Directories that are never a web server's document root: a webroot there
 * (a typo, or a config file's `webroot: /etc`) would make certctl create
 * `.well-known/acme-challenge/` in a system directory. Refused unless the
 * user says --force-webroot.
 */
const SYSTEM_DIRS = ['/', '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/root', '/run', '/sbin', '/sys', '/usr', '/usr/bin', '/usr/lib', '/usr/sbin', '/usr/local', '/usr/local/bin', '/var', '/var/lib', '/var/log', '/var/cache', '/var/spool', '/var/run', '/tmp', '/home'];
const SYSTEM_TREES = ['/proc', '/sys', '/dev', '/boot', '/etc', '/bin', '/sbin', '/lib', '/lib64', '/usr/bin', '/usr/sbin', '/usr/lib'];

/**
 * Refuse a webroot that is obviously not a document root: a system directory
 * (or one inside /etc, /proc, /sys, /dev, /boot, /bin, /usr/lib …), the home
 * directory itself, or certctl's own state directory (or a directory inside
 * it or containing it). Symlinks are resolved first. `force`
 * (--force-webroot, config `forceWebroot: true`) skips this check.
 */
export function assertDocumentRoot(webroot: string, stateDir: string | undefined, force = false, flag = '--webroot'): void {
  if (force) return;
  let real = path.resolve(webroot);
  try {
    real = fs.realpathSync(real);
  } catch {
    /* does not exist: assertWebrootWritable says so */
  }
  const hint = `Give ${flag} the document root your web server serves for these names (e.g. /var/www/html); if this really is one, add --force-webroot (config: forceWebroot: true).`;
  const inTree = SYSTEM_TREES.find((t) => real.startsWith(t + path.sep));
  if (SYSTEM_DIRS.includes(real) || inTree || real === path.resolve(os.homedir())) {
    throw new InputError(`The webroot ${real} is a system directory, not a web server's document root; certctl will not create .well-known/acme-challenge/ there.`, hint);
  }
  if (stateDir) {
    let state = path.resolve(stateDir);
    try {
      state = fs.realpathSync(state);
    } catch {
      /* not created yet */
    }
    if (real === state || real.startsWith(state + path.sep) || state.startsWith(real + path.sep)) {
      throw new InputError(`The webroot ${real} ${real === state ? 'is' : real.startsWith(state + path.sep) ? 'is inside' : 'contains'} certctl's state directory ${state}: a web server serving it would publish private keys.`, hint);
    }
  }
}

/**
 * Check a webroot before anything is sent, WITHOUT writing to it: it must
 * exist and be a directory; `.well-known` and `.well-known/acme-challenge`
 * must be directories where they exist (not files, not symlinks elsewhere);
 * the deepest existing one must be writable. Nothing is created here — the
 * responder creates what is missing when the challenge is presented, and
 * removes exactly that again afterwards.
 */
export function assertWebrootWritable(webroot: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(webroot);
  } catch {
    throw new InputError(`The webroot ${webroot} does not exist.`, 'Give --webroot the directory your web server serves for this name (its document root).');
  }
  if (!st.isDirectory()) throw new InputError(`The webroot ${webroot} is not a directory.`, 'Give --webroot the directory your web server serves for this name (its document root).');
  const dir = path.join(webroot, CHALLENGE_DIR);
  let deepest = webroot;
  for (const d of [path.join(webroot, '.well-known'), dir]) {
    let ls: fs.Stats;
    try {
      ls = fs.lstatSync(d);
    } catch {
      break;
    }
    const target = ls.isSymbolicLink() ? safeStat(d) : ls;
    if (!target || !target.isDirectory()) {
      throw new InputError(`Cannot write into ${dir}: ${d} is ${ls.isSymbolicLink() ? 'a symlink that does not lead to a directory' : 'not a directory'}.`, 'Remove or fix it, so that the web server can serve the challenge files from the webroot.');
    }
    deepest = d;
  }
  try {
    fs.accessSync(deepest, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new InputError(`Cannot write into ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} on ${deepest}.`, 'Run certctl as a user that may write into the webroot, or fix its permissions.');
  }
}

function safeStat(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Why a standalone server could not listen: one sentence and one piece of
 * advice, the same for the readiness check (a failed check, exit 6) and for
 * issuing with --no-precheck (exit 2).
 */
export class ListenError extends InputError {
  constructor(
    /** Lower-case, for a readiness check's summary. */
    readonly detail: string,
    readonly advice: string,
    readonly code?: string,
  ) {
    super(`${detail[0]!.toUpperCase()}${detail.slice(1)}.`, advice);
  }
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): ListenError {
  const where = `${host}:${port}`;
  if (err.code === 'EADDRINUSE') return new ListenError(`cannot listen on ${where} for HTTP-01: something else (a web server?) already uses it`, 'Stop that server while issuing, or use --webroot with the document root it serves.', err.code);
  if (err.code === 'EACCES') return new ListenError(`no permission to listen on ${where} for HTTP-01`, 'Ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another port with --standalone ADDR:PORT, or use --webroot.', err.code);
  return new ListenError(`cannot listen on ${where} for HTTP-01: ${err.code ?? err.message}`, 'Check the --standalone address.', err.code);
}

/**
 * The one standalone HTTP-01 server: answers GET /.well-known/acme-challenge/<token>
 * for the tokens set on it, 404 for anything else; bounded request and header
 * time-outs; close() drops open connections. Used by the standalone solver
 * (the CA's validator fetches from it) and by the readiness check (which
 * fetches its probe from it before any order exists).
 */
export class Http01Server {
  private constructor(
    private readonly server: http.Server,
    private readonly tokens: Map<string, string>,
    /** "host:port" it listens on. */
    readonly address: string,
  ) {}

  /**
   * `lookup`: answer each token from somewhere else than the tokens set here (`certctl serve`: the
   * fleet's ledger). A lookup that throws (the database unreachable) is a 503, never a wrong answer.
   */
  static async listen(host: string, port: number, lookup?: (token: string) => string | undefined): Promise<Http01Server> {
    const tokens = new Map<string, string>();
    const server = http.createServer((req, res) => {
      const url = req.url ?? '';
      const token = url.startsWith(CHALLENGE_PATH) ? url.slice(CHALLENGE_PATH.length) : '';
      let body: string | undefined;
      try {
        body = (req.method === 'GET' || req.method === 'HEAD') && isToken(token) ? (tokens.get(token) ?? lookup?.(token)) : undefined;
      } catch {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('the ledger cannot be read now\n');
        return;
      }
      if (body === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
      server.listen(port, host, () => resolve());
    });
    return new Http01Server(server, tokens, `${host}:${port}`);
  }

  /** Serve `body` for `token` (checked: base64url, 22-256 characters). */
  set(token: string, body: string): void {
    if (!isToken(token)) throw new Error('refusing an HTTP-01 token that is not base64url');
    this.tokens.set(token, body);
  }

  delete(token: string): void {
    this.tokens.delete(token);
  }

  async close(): Promise<void> {
    this.tokens.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** Parse --standalone's value (or --standalone-tls's, `kind` 'tls'): "PORT", "ADDR:PORT" or "[v6]:PORT"; default 0.0.0.0:80 (0.0.0.0:443). */
export function parseListen(value: string | true | undefined, kind: 'http' | 'tls' = 'http'): { host: string; port: number } {
  const [flag, def] = kind === 'tls' ? ['--standalone-tls', 443] : ['--standalone', 80];
  if (value === undefined || value === true || value === '') return { host: '0.0.0.0', port: def };
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+))?:?(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new InputError(`"${value}" is not a listen address.`, `Use ${flag} PORT or ${flag} ADDR:PORT, e.g. ${flag} 0.0.0.0:${def}.`);
  }
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}
