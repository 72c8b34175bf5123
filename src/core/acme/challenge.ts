/**
 * HTTP-01 responders: put the key authorization where the CA will fetch it,
 * and take it away afterwards.
 *
 * Tokens come from the CA; they are checked to be base64url before they
 * become part of a path, so a hostile or broken server cannot make certctl
 * write outside <webroot>/.well-known/acme-challenge/.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import os from 'node:os';
import { InputError, CertctlError, ExitCode } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { registerSecret } from '../redact.js';

export interface ChallengeResponder {
  readonly kind: 'webroot' | 'standalone';
  present(token: string, keyAuthorization: string): Promise<void>;
  cleanup(token: string): Promise<void>;
  close(): Promise<void>;
}

/** RFC 8555 §8.3: a token is base64url, at least 128 bits of entropy (22 characters); no CA sends more than a few dozen. */
const TOKEN = /^[A-Za-z0-9_-]{22,256}$/;

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
 * Writes <webroot>/.well-known/acme-challenge/<token>. The directories it
 * had to create are removed again when the last token is cleaned up (and on
 * close, whatever happened) — only those, and only if empty — so a webroot
 * given by mistake is left as it was found.
 */
export class WebrootResponder implements ChallengeResponder {
  readonly kind = 'webroot' as const;
  private readonly created: string[] = [];
  private readonly present_ = new Set<string>();
  constructor(private readonly webroot: string) {}

  private file(token: string): string {
    return path.join(this.webroot, CHALLENGE_DIR, checkToken(token));
  }

  async present(token: string, keyAuthorization: string): Promise<void> {
    const file = this.file(token);
    for (const d of [path.join(this.webroot, '.well-known'), path.join(this.webroot, CHALLENGE_DIR)]) {
      try {
        fs.mkdirSync(d, { mode: 0o755 });
        this.created.push(d);
        fs.chmodSync(d, 0o755);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    this.present_.add(token);
    writeFileAtomic(file, keyAuthorization, 0o644);
  }

  async cleanup(token: string): Promise<void> {
    fs.rmSync(this.file(token), { force: true });
    this.present_.delete(token);
    if (this.present_.size === 0) this.removeCreated();
  }

  async close(): Promise<void> {
    for (const t of [...this.present_]) fs.rmSync(this.file(t), { force: true });
    this.present_.clear();
    this.removeCreated();
  }

  private removeCreated(): void {
    while (this.created.length) {
      const d = this.created.pop()!;
      try {
        fs.rmdirSync(d);
      } catch {
        /* not empty (someone else's file) or gone: leave it */
      }
    }
  }
}

/** Serves /.well-known/acme-challenge/<token> itself on host:port. */
export class StandaloneResponder implements ChallengeResponder {
  readonly kind = 'standalone' as const;
  private readonly tokens = new Map<string, string>();
  private server?: http.Server;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const m = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
      const body = m ? this.tokens.get(m[1]!) : undefined;
      if (body === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new InputError(
            `Cannot listen on ${this.host}:${this.port} for the HTTP-01 challenge: ${err.code ?? err.message}.`,
            err.code === 'EADDRINUSE' ? 'Another web server holds that port: use --webroot with it instead, or stop it.' : 'Run as root for port 80, or choose another port with --standalone ADDR:PORT.',
          ),
        ),
      );
      server.listen(this.port, this.host, () => resolve());
    });
    this.server = server;
  }

  async present(token: string, keyAuthorization: string): Promise<void> {
    this.tokens.set(checkToken(token), keyAuthorization);
  }

  async cleanup(token: string): Promise<void> {
    this.tokens.delete(token);
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Parse --standalone's value: "PORT", "ADDR:PORT" or "[v6]:PORT"; default 0.0.0.0:80. */
export function parseListen(value: string | true | undefined): { host: string; port: number } {
  if (value === undefined || value === true || value === '') return { host: '0.0.0.0', port: 80 };
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+))?:?(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) {
    throw new InputError(`"${value}" is not a listen address.`, 'Use --standalone PORT or --standalone ADDR:PORT, e.g. --standalone 0.0.0.0:80.');
  }
  return { host: m[1] ?? m[2] ?? '0.0.0.0', port };
}
