/**
 * The hook provider: the user's own scripts put and remove the TXT record,
 * with certbot's manual-hook environment, so scripts written for
 * `certbot --manual-auth-hook/--manual-cleanup-hook` work unchanged:
 *
 *   CERTBOT_DOMAIN                 the name being validated, without "*." (as certbot: the
 *                                  authorization's identifier)
 *   CERTBOT_VALIDATION             the TXT value
 *   CERTBOT_REMAINING_CHALLENGES   how many records remain after this one
 *   CERTBOT_ALL_DOMAINS            every name of the order, comma-separated
 *   CERTBOT_AUTH_OUTPUT            (clean-up only) what the auth hook printed
 *
 * CERTBOT_TOKEN is left unset, as certbot leaves it for DNS-01 (it is the
 * HTTP-01 file name; scripts that serve both challenges test for it), and
 * any CERTBOT_* inherited from our own environment is removed.
 *
 * The command is an argv list run with spawn(), never a shell: a name with
 * shell metacharacters reaches the script only as an environment value. A
 * hook that exits non-zero, is killed, or outlives its time-out is a
 * DnsError quoting the tail of its stderr.
 */
import { spawn } from 'node:child_process';
import { InputError } from '../../errors.js';
import { DnsError } from '../errors.js';
import type { DnsProvider, DnsRecord, PresentContext } from './types.js';
import { childEnv } from '../../redact.js';

export interface HookOptions {
  /** argv of the auth hook (`--dns-hook`). */
  authHook: string[];
  /** argv of the clean-up hook (`--dns-cleanup-hook`); without it, clean-up does nothing. */
  cleanupHook?: string[];
  /** Per run of a hook. Default 120 000 ms. */
  timeoutMs?: number;
  /** Base environment; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const TAIL_BYTES = 2000;

/** After a hook exits, how long its output pipes are still read (a helper it left running may hold them open). */
const EXIT_GRACE_MS = 500;

/**
 * Split a hook command line into argv like a shell would split words — with
 * '…', "…" and backslash quoting — but with no expansion of any kind ($,
 * `…`, globs, ~, redirections are plain characters). For a config file or
 * option that holds "/usr/local/bin/dns-hook --zone example.com".
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && (cmd[i + 1] === '"' || cmd[i + 1] === '\\')) cur += cmd[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < cmd.length) {
      cur += cmd[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new InputError(`The hook command ${JSON.stringify(cmd)} has an unclosed ${quote} quote.`);
  if (inWord) out.push(cur);
  if (out.length === 0) throw new InputError('The hook command is empty.', 'Give the path of the program to run, e.g. --dns-hook /usr/local/bin/dns-auth.sh');
  return out;
}

function tail(s: string): string {
  const t = s.trim();
  return t.length > TAIL_BYTES ? `…${t.slice(-TAIL_BYTES)}` : t;
}

interface RunResult {
  stdout: string;
}

function run(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number, what: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    // Its own process group, so a time-out kills what the hook started too (nsupdate, curl), not only the script.
    const child = spawn(argv[0]!, argv.slice(1), { env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout = (stdout + d).slice(-64_000);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr = (stderr + d).slice(-8_000);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      const code = (err as NodeJS.ErrnoException).code;
      reject(
        new DnsError('provider', `The ${what} ${argv[0]} could not be started (${code ?? err.message}).`, {
          hint: code === 'ENOENT' ? 'Give the full path of an existing program.' : code === 'EACCES' ? 'Make the hook executable (chmod +x) and check its #! line.' : undefined,
        }),
      );
    });
    // Done when the hook exits. A helper it left running (`cmd &`) keeps its stdout/stderr open, and
    // 'close' would wait for that helper (until the time-out killed it, 120 s per record): after the
    // exit, what is still buffered is read for a moment, then the pipes are let go (the helper is
    // the hook's business and is not killed).
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    child.on('exit', (status, signal) => {
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish(status, signal);
      }, EXIT_GRACE_MS);
    });
    child.on('close', (status, signal) => finish(status, signal));
    function finish(status: number | null, signal: NodeJS.Signals | null): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      if (status === 0) return resolve({ stdout });
      const why = timedOut ? `did not finish within ${timeoutMs / 1000} s and was killed with the processes it started` : signal ? `was killed by ${signal}` : `exited with status ${status}`;
      const err = tail(stderr);
      reject(new DnsError('provider', `The ${what} ${argv[0]} ${why}${err ? `; it said: ${err}` : ' (it wrote nothing on stderr)'}.`, { hint: 'Run the hook by hand with the same CERTBOT_* environment to see what fails.' }));
    }
  });
}

export class HookProvider implements DnsProvider {
  readonly kind = 'hook';
  constructor(private readonly opts: HookOptions) {
    if (opts.authHook.length === 0) throw new InputError('The DNS auth hook command is empty.');
  }

  private env(r: DnsRecord, ctx: PresentContext, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(childEnv({}, this.opts.env ?? process.env))) if (!k.startsWith('CERTBOT_')) env[k] = v;
    return {
      ...env,
      CERTBOT_DOMAIN: r.domain.replace(/^\*\./, ''),
      CERTBOT_VALIDATION: r.value,
      CERTBOT_REMAINING_CHALLENGES: String(ctx.remaining),
      CERTBOT_ALL_DOMAINS: ctx.allDomains.join(','),
      ...extra,
    };
  }

  async present(r: DnsRecord, ctx: PresentContext): Promise<void> {
    const res = await run(this.opts.authHook, this.env(r, ctx), this.opts.timeoutMs ?? 120_000, `DNS auth hook for ${r.domain}:`);
    r.authOutput = res.stdout.trim();
  }

  async cleanup(r: DnsRecord, ctx: PresentContext): Promise<void> {
    if (!this.opts.cleanupHook) return;
    await run(this.opts.cleanupHook, this.env(r, ctx, { CERTBOT_AUTH_OUTPUT: r.authOutput ?? '' }), this.opts.timeoutMs ?? 120_000, `DNS clean-up hook for ${r.domain}:`);
  }
}
