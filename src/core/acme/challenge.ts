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
import { InputError, CertctlError, ExitCode } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';

export interface ChallengeResponder {
  readonly kind: 'webroot' | 'standalone';
  present(token: string, keyAuthorization: string): Promise<void>;
  cleanup(token: string): Promise<void>;
  close(): Promise<void>;
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

function checkToken(token: string): string {
  if (!TOKEN.test(token)) throw new CertctlError(`The CA sent a challenge token that is not base64url (${JSON.stringify(token.slice(0, 40))}); refusing to use it as a file name.`, ExitCode.CA_ERROR);
  return token;
}

export const CHALLENGE_DIR = path.join('.well-known', 'acme-challenge');

/** Check a webroot before anything is sent: it must exist, be a directory, and accept a file. */
export function assertWebrootWritable(webroot: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(webroot);
  } catch {
    throw new InputError(`The webroot ${webroot} does not exist.`, 'Give --webroot the directory your web server serves for this name (its document root).');
  }
  if (!st.isDirectory()) throw new InputError(`The webroot ${webroot} is not a directory.`);
  const dir = path.join(webroot, CHALLENGE_DIR);
  const probe = path.join(dir, `.certctl-write-test-${process.pid}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (err) {
    throw new InputError(`Cannot write into ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'Run certctl as a user that may write into the webroot, or fix its permissions.');
  }
}

export class WebrootResponder implements ChallengeResponder {
  readonly kind = 'webroot' as const;
  constructor(private readonly webroot: string) {}

  private file(token: string): string {
    return path.join(this.webroot, CHALLENGE_DIR, checkToken(token));
  }

  async present(token: string, keyAuthorization: string): Promise<void> {
    writeFileAtomic(this.file(token), keyAuthorization, 0o644);
  }

  async cleanup(token: string): Promise<void> {
    fs.rmSync(this.file(token), { force: true });
  }

  async close(): Promise<void> {}
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
