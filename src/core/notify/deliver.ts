/**
 * Sending one event to one target: a webhook (HTTP POST, retried with
 * backoff), e-mail (SMTP through nodemailer: STARTTLS or TLS, AUTH), or a
 * command (execFile: no shell, the event in its environment). Each returns a
 * DeliveryResult and never throws: a target that is down costs this run a
 * line and the next run a retry, never the renewal.
 *
 * Secrets are read here, when a message is sent, and registered with
 * redact.ts before anything could print them; what a result says about a
 * target is its origin (scheme, host, port), never its path or query.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { spawn, type ChildProcess } from 'node:child_process';
import { childEnv, registerSecret, redact } from '../redact.js';
import { parseRetryAfter, utc } from '../clock.js';
import { isLoopbackHost, type CommandTarget, type DeliveryResult, type EmailTarget, type NotifyEvent, type NotifyTarget, type SecretSource, type WebhookTarget } from './types.js';
import { notifyDocument, notifyEnv, notifyText, notifyTitle } from './message.js';

/** Largest secret file read (a token or password is a line). */
const MAX_SECRET_BYTES = 64 * 1024;
/** First pause between webhook attempts; doubled after each. */
export const RETRY_BASE_MS = 1000;

/** What a webhook's pauses between its `retries` attempts add up to (1 s + 2 s + 4 s …): one delivery's budget for waiting. */
export function retryPausesMs(retries: number): number {
  return RETRY_BASE_MS * (2 ** retries - 1);
}
/** Most of a webhook's answer kept for the result. */
const ANSWER_LIMIT = 300;

/** A secret from its file or environment variable; a missing one is an Error whose message names the source (never a value). */
export function readSecret(src: SecretSource, what: string, env: NodeJS.ProcessEnv = process.env): string {
  let v: string | undefined;
  if (src.file) {
    let text: string;
    try {
      const st = fs.statSync(src.file);
      if (!st.isFile() || st.size > MAX_SECRET_BYTES) throw new Error('not a small regular file');
      text = fs.readFileSync(src.file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the ${what} file ${src.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    v = text.split(/\r?\n/)[0]!.trim();
  } else if (src.env) {
    v = env[src.env]?.trim();
    if (!v) throw new Error(`the environment variable ${src.env} (the ${what}) is not set`);
  }
  if (!v) throw new Error(`the ${what} is empty`);
  registerSecret(v);
  return v;
}

/** A target's extra CA certificates (PEM), read when sending; a missing or wrong file is an Error naming it. */
function readCaBundle(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the CA bundle ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`the CA bundle ${file} holds no PEM certificate`);
  return text;
}

/** "https://hooks.example:8443" — what messages say about a URL (its path and query may be a credential). */
export function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(a URL that does not parse)';
  }
}

/** What a target answered, as one printable line: control characters (escape sequences from a hostile receiver) become spaces. */
function printable(text: string, max: number): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/ {2,}/g, ' ').trim().slice(0, max);
}

export async function deliver(t: NotifyTarget, e: NotifyEvent, id: number | null, host: string): Promise<DeliveryResult> {
  try {
    if (t.type === 'webhook') return await webhook(t, e, id, host);
    if (t.type === 'email') return await email(t, e, id, host);
    return await command(t, e, id, host);
  } catch (err) {
    return { target: t.id, type: t.type, ok: false, detail: redact((err as Error).message), attempts: 1 };
  }
}

// ------------------------------------------------------------------ webhook

interface Answer {
  status: number;
  body: string;
  /** The answer's Retry-After header, as sent. */
  retryAfter?: string;
}

function webhookBody(t: WebhookTarget, e: NotifyEvent, id: number | null, host: string): { body: string; headers: Record<string, string> } {
  if (t.format === 'slack') {
    // Slack reads <!channel>, <@U…> and <url|label> in `text` as markup: a CA's problem detail (or any
    // text of an event) must arrive as text, so &, < and > are escaped as Slack asks.
    const esc = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return { body: JSON.stringify({ text: `*${esc(notifyTitle(e))}*\n${esc(notifyText(e, host))}` }), headers: { 'content-type': 'application/json' } };
  }
  if (t.format === 'ntfy') {
    // ntfy's publish-as-body: headers carry title, priority and tags (headers are ASCII).
    const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
    const urgent = e.kind === 'renewal-failed' || e.kind === 'predicted-block';
    return {
      body: notifyText(e, host),
      headers: { 'content-type': 'text/plain; charset=utf-8', title: ascii(notifyTitle(e)), priority: urgent ? '4' : '3', tags: ascii(`certctl,${e.kind}`) },
    };
  }
  return { body: JSON.stringify(notifyDocument(e, id, host)), headers: { 'content-type': 'application/json' } };
}

async function post(url: URL, body: string, headers: Record<string, string>, timeoutMs: number, ca: string | undefined): Promise<Answer> {
  // Through the HTTP(S) proxy when one applies to this URL (docs/proxy.md), as ACME traffic goes.
  const { proxyFor } = await import('../net/proxy.js');
  const choice = await proxyFor(url);
  const agent = choice ? await (await import('../net/proxy-agent.js')).proxyAgent(choice, url, ca ? { ca: [ca] } : {}) : undefined;
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    // `timeout` alone is an idle time-out: a receiver that trickles a byte a second would hold the run
    // for ever. The whole attempt (connect, send, answer) has `timeoutMs`, and no more of the answer
    // than ANSWER_LIMIT is read (a gigabyte answer costs nothing).
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    const done = <T>(f: (v: T) => void) => (v: T) => {
      clearTimeout(deadline);
      f(v);
    };
    const req = mod.request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'certctl-notify' }, timeout: timeoutMs, ...(ca ? { ca } : {}), ...(agent ? { agent } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        const ra = res.headers['retry-after'];
        const finish = () => done(resolve)({ status: res.statusCode ?? 0, body: text.slice(0, ANSWER_LIMIT), ...(typeof ra === 'string' ? { retryAfter: ra } : {}) });
        res.on('data', (d: string) => {
          text += d;
          if (text.length >= ANSWER_LIMIT) {
            finish();
            req.destroy();
          }
        });
        res.on('end', finish);
        res.on('error', done(reject));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', done(reject));
    req.end(body);
  });
}

async function webhook(t: WebhookTarget, e: NotifyEvent, id: number | null, host: string): Promise<DeliveryResult> {
  const raw = t.url ?? readSecret(t.urlSecret!, 'webhook URL');
  if (t.urlSecret) {
    // The URL is a credential (a Slack webhook's path): every part after the origin is kept out of output.
    const u = new URL(raw);
    registerSecret(u.pathname.length >= 8 ? u.pathname : null);
    registerSecret(u.search);
  }
  const url = new URL(raw);
  // The config checks this for `url`; a URL read from urlFile / urlEnv is checked here, before the
  // token is read or anything is sent.
  if (t.token && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    const from = t.urlSecret?.file ?? t.urlSecret?.env;
    throw new Error(`the webhook URL${from ? ` (from ${from})` : ''} is http:// to ${origin(raw)}, another machine: a bearer token is sent only over https://; give an https:// URL (http:// only for a receiver on this machine)`);
  }
  const { body, headers } = webhookBody(t, e, id, host);
  if (t.token) headers.authorization = `Bearer ${readSecret(t.token, 'webhook token')}`;
  const ca = t.caBundle ? readCaBundle(t.caBundle) : undefined;
  const where = origin(raw);
  let last = '';
  let attempt = 0;
  // The pauses this run may spend on this target: the backoff's (1 s, 2 s, 4 s …), which is what the
  // notification's claim allows for (index.ts claimMs). A receiver's Retry-After (429, 503) is
  // honoured: the next attempt waits at least that long, if it fits in what is left of the budget;
  // if it does not, this run stops asking and the next run sends it (the row stays pending).
  let budget = retryPausesMs(t.retries);
  let wait = 0;
  for (; attempt <= t.retries; attempt++) {
    if (attempt > 0) {
      await new Promise((r) => setTimeout(r, wait));
      budget -= wait;
    }
    // The pause before the next attempt: the backoff's, within what is left of the budget (raised below to a Retry-After that fits).
    wait = Math.min(RETRY_BASE_MS * 2 ** attempt, budget);
    try {
      const a = await post(url, body, headers, t.timeoutMs, ca);
      if (a.status >= 200 && a.status < 300) return { target: t.id, type: 'webhook', ok: true, detail: `${where} answered ${a.status}`, attempts: attempt + 1 };
      const said = printable(a.body, 120);
      last = `${where} answered ${a.status}${said ? `: ${said}` : ''}`;
      // A 4xx other than 429 will not change by sending the same again.
      if (a.status < 500 && a.status !== 429) return { target: t.id, type: 'webhook', ok: false, detail: redact(last), attempts: attempt + 1 };
      const now = Date.now();
      const until = parseRetryAfter(a.retryAfter, now);
      if (until !== undefined && until > now) {
        const asked = until - now;
        if (attempt === t.retries || asked > budget) {
          last += ` (it asked to be sent again after ${utc(until)}; the next run sends it)`;
          return { target: t.id, type: 'webhook', ok: false, detail: redact(last), attempts: attempt + 1 };
        }
        wait = Math.max(wait, asked);
      }
    } catch (err) {
      const { proxyFailureOf, proxyError } = await import('../net/proxy.js');
      const viaProxy = proxyFailureOf(err);
      const code = (err as NodeJS.ErrnoException).code;
      last = viaProxy ? proxyError(viaProxy, where).message : `${where}: ${code ?? (err as Error).message}`;
    }
  }
  return { target: t.id, type: 'webhook', ok: false, detail: redact(last), attempts: attempt };
}

// ------------------------------------------------------------------ e-mail

async function email(t: EmailTarget, e: NotifyEvent, id: number | null, host: string): Promise<DeliveryResult> {
  const nodemailer = (await import('nodemailer')).default;
  const pass = t.user ? readSecret(t.password!, 'SMTP password') : undefined;
  const transport = nodemailer.createTransport({
    host: t.host,
    port: t.port,
    secure: t.security === 'tls',
    requireTLS: t.security === 'starttls',
    ignoreTLS: t.security === 'none',
    ...(t.user ? { auth: { user: t.user, pass: pass! } } : {}),
    tls: { ...(t.caBundle ? { ca: readCaBundle(t.caBundle) } : {}) },
    connectionTimeout: t.timeoutMs,
    greetingTimeout: t.timeoutMs,
    socketTimeout: t.timeoutMs,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  try {
    // nodemailer's time-outs are idle ones: a server that sends a continued line a second would hold
    // the run for ever. The whole conversation has `timeoutMs` (closing the transport ends it).
    let deadline: NodeJS.Timeout | undefined;
    const info = await Promise.race([
      transport.sendMail({
        from: t.from,
        to: t.to,
        subject: notifyTitle(e),
        text: notifyText(e, host),
        headers: { 'X-Certctl-Event': e.kind, ...(id !== null ? { 'X-Certctl-Event-Id': String(id) } : {}) },
      }),
      new Promise<never>((_, reject) => {
        deadline = setTimeout(() => reject(new Error(`no answer within ${Math.round(t.timeoutMs / 1000)} s`)), t.timeoutMs);
      }),
    ]).finally(() => clearTimeout(deadline));
    return { target: t.id, type: 'email', ok: true, detail: `${t.host}:${t.port} accepted it (${printable(String(info.response ?? ''), 120)})`, attempts: 1 };
  } catch (err) {
    const x = err as Error & { code?: string; response?: string };
    return { target: t.id, type: 'email', ok: false, detail: redact(`${t.host}:${t.port}: ${x.code ? `${x.code}: ` : ''}${printable(x.response ?? x.message, 200)}`), attempts: 1 };
  } finally {
    transport.close();
  }
}

// ------------------------------------------------------------------ command

/** Signals that stop certctl: a command target's process group is ended with it. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Most of a command's output kept (its last lines are the result's detail). */
const OUTPUT_LIMIT = 64 * 1024;

/**
 * The command runs in its own process group: at its time-out the whole group is killed with SIGKILL
 * (a program that ignores SIGTERM, or a child it left holding our pipes, would otherwise hold the run
 * for ever). One that exits before the time-out is judged by its exit code; what it left running in
 * its group is killed then, so nothing of a notification outlives the run.
 */
function command(t: CommandTarget, e: NotifyEvent, id: number | null, host: string): Promise<DeliveryResult> {
  const [file, ...args] = t.command;
  return new Promise((resolve) => {
    let out = '';
    let settled = false;
    let killed = false;
    const keep = (d: Buffer) => {
      out = (out + d.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    let child: ChildProcess | undefined;
    let timer: NodeJS.Timeout | undefined;
    const killGroup = () => {
      try {
        if (child?.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const finish = (r: Omit<DeliveryResult, 'target' | 'type' | 'attempts'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.off('exit', killGroup);
      for (const sig of STOP_SIGNALS) process.off(sig, onSignal);
      killGroup();
      child?.stdout?.destroy();
      child?.stderr?.destroy();
      resolve({ target: t.id, type: 'command', attempts: 1, ...r });
    };
    const said = () => printable(out.trim().split('\n').slice(-3).join(' | '), 300);
    // Its own group does not get the terminal's Ctrl-C or a service manager's SIGTERM: if certctl is
    // stopped or ends first, the group ends with it. With no other handler of that signal (notify
    // test), the signal is raised again once ours is removed: certctl ends as it would have.
    const onSignal = (sig: NodeJS.Signals) => {
      killGroup();
      if (process.listenerCount(sig) === 1) {
        for (const s2 of STOP_SIGNALS) process.off(s2, onSignal);
        process.kill(process.pid, sig);
      }
    };
    // The handlers are in place before the command starts: a signal that came between its start and
    // them would end certctl by default and leave the command's group running (seen under load).
    for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
    process.once('exit', killGroup);
    let proc: ChildProcess;
    try {
      proc = spawn(file!, args, { env: childEnv(notifyEnv(e, id, host)), stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
    } catch (err) {
      // Node throws some refusals at once instead of emitting 'error' (a NUL byte in an argument or
      // the environment, E2BIG): the handlers above must go with it, or the ones left over swallow
      // the next Ctrl-C (each sees another listener and does not raise the signal again).
      finish({ ok: false, detail: redact(`${file} could not run (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`) });
      return;
    }
    child = proc;
    timer = setTimeout(() => {
      killed = true;
      killGroup();
      // A child that left the group (setsid) may still hold the pipes: do not wait for them.
      setImmediate(() => finish({ ok: false, detail: redact(`${file} killed after ${Math.round(t.timeoutMs / 1000)} s${said() ? `: ${said()}` : ''}`) }));
    }, t.timeoutMs);
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    proc.on('error', (err) => finish({ ok: false, detail: redact(`${file} could not run (${(err as NodeJS.ErrnoException).code ?? err.message})`) }));
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    proc.on('exit', (code, signal) => {
      if (killed) return;
      exit = { code, signal };
      // What it left running in its group dies now, so the pipes close and 'close' has all it wrote
      // (one that left the group and holds them is cut at the time-out).
      killGroup();
    });
    proc.on('close', () => {
      if (killed || !exit) return;
      if (exit.code === 0) return finish({ ok: true, detail: `${file} exited 0` });
      const why = exit.code !== null ? `exited ${exit.code}` : `was killed by ${exit.signal}`;
      finish({ ok: false, detail: redact(`${file} ${why}${said() ? `: ${said()}` : ''}`) });
    });
  });
}
