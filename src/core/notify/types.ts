/**
 * Notifications (docs/notify.md): what the config's `notify:` says, and the
 * events certctl tells a person about. Plain data: the config module parses
 * into these types, the renew runner and revoke make events, and
 * notify/index.ts records them in the ledger and delivers them.
 *
 * Secrets (a bearer token, an SMTP password, a webhook URL that is itself a
 * credential) are never in this data: the config names the file or the
 * environment variable they are read from, at delivery time.
 */

/** Every event kind, in the order docs/notify.md lists them. */
export const NOTIFY_KINDS = ['renewal-failed', 'predicted-block', 'headroom-low', 'renewed', 'revoked', 'ca-failover', 'ledger-unreachable'] as const;
export type NotifyKind = (typeof NOTIFY_KINDS)[number];
/** `certctl notify test` sends this kind; it is never recorded in the ledger. */
export type AnyKind = NotifyKind | 'test';

/** A secret read when it is needed: from a file (first line, trailing white space cut) or an environment variable. */
export interface SecretSource {
  file?: string;
  env?: string;
}

interface TargetBase {
  /** The target's name in messages and in the ledger's delivery record (config `name`, default `webhook-1` …). */
  id: string;
  /** Only these kinds go to this target (default: every kind). */
  events?: NotifyKind[];
  /** Time-out of one attempt, ms. */
  timeoutMs: number;
}

export interface WebhookTarget extends TargetBase {
  type: 'webhook';
  /** The URL, given in the config; or read from `urlSecret` (a Slack webhook URL is a credential). */
  url?: string;
  urlSecret?: SecretSource;
  /** json: certctl's document (docs/notify.md); slack: {"text": …}; ntfy: the text as body with Title/Priority/Tags headers. */
  format: 'json' | 'slack' | 'ntfy';
  /** Sent as `Authorization: Bearer …`. */
  token?: SecretSource;
  /** Attempts after the first (network error, time-out, 429 or 5xx), each after a doubled pause from 1 s. */
  retries: number;
  /** Extra CA certificates (PEM file) for an https URL. */
  caBundle?: string;
}

export interface EmailTarget extends TargetBase {
  type: 'email';
  host: string;
  port: number;
  /** starttls: plain connection upgraded, refused without STARTTLS; tls: TLS from the first byte (465); none: no TLS (loopback relays only). */
  security: 'starttls' | 'tls' | 'none';
  user?: string;
  password?: SecretSource;
  from: string;
  to: string[];
  /** Extra CA certificates (PEM file) for the server's certificate. */
  caBundle?: string;
}

export interface CommandTarget extends TargetBase {
  type: 'command';
  /** The program and its arguments, run with execFile (never a shell); the event is in the environment. */
  command: string[];
}

export type NotifyTarget = WebhookTarget | EmailTarget | CommandTarget;

export interface NotifySettings {
  targets: NotifyTarget[];
  /** One event per kind and subject per this period (default a day). */
  periodMs: number;
  /** headroom-low when a registered domain has this many certificate slots left or fewer. */
  headroomBelow: number;
  /** A notification not delivered for this long is given up (default 7 days). */
  maxAgeMs: number;
}

export const DEFAULT_PERIOD_MS = 86_400_000;
export const DEFAULT_HEADROOM_BELOW = 2;
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;

/** One thing to tell a person. Times are ms since the epoch (UTC). */
export interface NotifyEvent {
  kind: AnyKind;
  /** What "once per period" counts by: the lineage, or the registered domain (headroom-low). */
  subject: string;
  lineage: string | null;
  names: string[];
  at: number;
  /** One line: what happened. */
  summary: string;
  /** Why (the error, the limit, the CA's answer). */
  reason: string;
  /** What certctl will do next (or what the person should do). */
  next: string;
  /** When certctl will try again (null: not applicable or unknown). */
  retryAt: number | null;
  /** When the lineage's current certificate expires (null: none). */
  expiresAt: number | null;
  /** The exit code of the lineage's attempt (renewal-failed, predicted-block). */
  exitCode: number | null;
  /** The limit that blocks it and when it frees (null: never as asked). */
  limit: { name: string; scope: string; freesAt: number | null } | null;
  ca: { ca: string; first: string; reason: string } | null;
  serial: string | null;
  headroom: { domain: string; limit: string; available: number; capacity: number; nextFreeAt: number | null } | null;
}

/** An event with every optional field empty (callers fill what applies). */
export function event(e: Pick<NotifyEvent, 'kind' | 'subject' | 'at' | 'summary' | 'reason' | 'next'> & Partial<NotifyEvent>): NotifyEvent {
  return { lineage: null, names: [], retryAt: null, expiresAt: null, exitCode: null, limit: null, ca: null, serial: null, headroom: null, ...e };
}

/** A host name that is this machine (a secret may go to it without TLS): localhost, 127.x.x.x, ::1. */
export const isLoopbackHost = (h: string): boolean => /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$/i.test(h);

/** What one delivery attempt to one target gave. */
export interface DeliveryResult {
  target: string;
  type: NotifyTarget['type'];
  ok: boolean;
  /** What the target answered (HTTP status, SMTP response, exit code) or why it failed; never a secret. */
  detail: string;
  attempts: number;
}
