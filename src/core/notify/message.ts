/**
 * An event as each target receives it: certctl's JSON document (schema
 * `certctl.notify/1`, docs/notify.md), one text for people (e-mail body,
 * Slack, ntfy), and environment variables for a command target. Pure.
 */
import { utc } from '../clock.js';
import type { AnyKind, NotifyEvent } from './types.js';

export const NOTIFY_SCHEMA = 'certctl.notify/1';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The JSON document: every field always present (null when it does not apply). `id` is the ledger row (null for a test). */
export function notifyDocument(e: NotifyEvent, id: number | null, host: string): Record<string, unknown> {
  return {
    schema: NOTIFY_SCHEMA,
    id,
    event: e.kind,
    host,
    at: iso(e.at),
    subject: e.subject,
    lineage: e.lineage,
    names: e.names,
    summary: e.summary,
    reason: e.reason,
    next: e.next,
    retryAt: iso(e.retryAt),
    expiresAt: iso(e.expiresAt),
    exitCode: e.exitCode,
    limit: e.limit ? { name: e.limit.name, scope: e.limit.scope, freesAt: iso(e.limit.freesAt) } : null,
    ca: e.ca,
    serial: e.serial,
    headroom: e.headroom ? { ...e.headroom, nextFreeAt: iso(e.headroom.nextFreeAt) } : null,
  };
}

/** An event read back from its ledger row (the document stored), for delivery on a later run. */
export function eventFromDocument(doc: Record<string, unknown>): NotifyEvent {
  const ms = (v: unknown): number | null => (typeof v === 'string' ? Date.parse(v) : null);
  const limit = doc.limit as { name: string; scope: string; freesAt: string | null } | null;
  const headroom = doc.headroom as (Omit<NonNullable<NotifyEvent['headroom']>, 'nextFreeAt'> & { nextFreeAt: string | null }) | null;
  return {
    kind: doc.event as AnyKind,
    subject: String(doc.subject),
    lineage: (doc.lineage as string | null) ?? null,
    names: (doc.names as string[]) ?? [],
    at: ms(doc.at) ?? 0,
    summary: String(doc.summary ?? ''),
    reason: String(doc.reason ?? ''),
    next: String(doc.next ?? ''),
    retryAt: ms(doc.retryAt),
    expiresAt: ms(doc.expiresAt),
    exitCode: (doc.exitCode as number | null) ?? null,
    limit: limit ? { name: limit.name, scope: limit.scope, freesAt: ms(limit.freesAt) } : null,
    ca: (doc.ca as NotifyEvent['ca']) ?? null,
    serial: (doc.serial as string | null) ?? null,
    headroom: headroom ? { ...headroom, nextFreeAt: ms(headroom.nextFreeAt) } : null,
  };
}

const TITLES: Record<AnyKind, string> = {
  'renewal-failed': 'renewal failed',
  'predicted-block': 'will expire before it can be renewed',
  'headroom-low': 'rate-limit headroom low',
  renewed: 'renewed',
  revoked: 'revoked',
  'ca-failover': 'renewed at another CA (fail-over)',
  'ledger-unreachable': 'the shared ledger cannot be reached',
  test: 'test message',
};

/** "certctl: renewal failed: example.org" (e-mail subject, ntfy title). */
export function notifyTitle(e: NotifyEvent): string {
  return `certctl: ${TITLES[e.kind]}: ${e.subject}`;
}

/** The text a person reads: what, which lineage, why, what next, when. */
export function notifyText(e: NotifyEvent, host: string): string {
  const lines = [`${e.summary}`, ''];
  if (e.lineage) lines.push(`Lineage:  ${e.lineage}${e.names.length ? ` (${e.names.join(', ')})` : ''}`);
  lines.push(`Why:      ${e.reason}`);
  lines.push(`Next:     ${e.next}`);
  if (e.retryAt !== null) lines.push(`Retry at: ${utc(e.retryAt)}`);
  if (e.expiresAt !== null) lines.push(`Expires:  ${utc(e.expiresAt)}`);
  if (e.limit) lines.push(`Limit:    ${e.limit.name} (${e.limit.scope}), ${e.limit.freesAt === null ? 'does not free as asked' : `frees ${utc(e.limit.freesAt)}`}`);
  if (e.headroom) lines.push(`Headroom: ${e.headroom.available} of ${e.headroom.capacity} ${e.headroom.limit} left for ${e.headroom.domain}${e.headroom.nextFreeAt === null ? '' : `, next frees ${utc(e.headroom.nextFreeAt)}`}`);
  if (e.ca) lines.push(`CA:       ${e.ca.ca}${e.ca.ca !== e.ca.first ? ` instead of ${e.ca.first}` : ''}: ${e.ca.reason}`);
  if (e.serial) lines.push(`Serial:   ${e.serial}`);
  lines.push('', `— certctl on ${host}, ${utc(e.at)}`);
  return lines.join('\n');
}

/**
 * Longest value of one CERTCTL_EVENT_* variable, in UTF-8 bytes (certbot limits its hook variables to
 * 16,000 characters too). Bytes, not characters: Linux refuses to start a program with one
 * environment string over 128 KiB (E2BIG), and a CA's detail in CJK is three bytes a character.
 */
const ENV_MAX = 16_000;
/** Longest CERTCTL_EVENT_JSON, in bytes: the document's long texts are shortened to fit, so it stays whole JSON. */
const ENV_JSON_MAX = 64_000;

/** `s` cut to at most `bytes` UTF-8 bytes on a character boundary, with "…" when cut. */
function cutBytes(s: string, bytes: number): string {
  if (Buffer.byteLength(s) <= bytes) return s;
  let out = '';
  let n = 0;
  for (const ch of s) {
    const b = Buffer.byteLength(ch);
    if (n + b > bytes - 3) break;
    out += ch;
    n += b;
  }
  return `${out}…`;
}

/** The document as CERTCTL_EVENT_JSON: whole JSON within ENV_JSON_MAX bytes (long texts and name lists shortened). */
function envJson(doc: Record<string, unknown>): string {
  let text = JSON.stringify(doc);
  for (let limit = ENV_MAX; Buffer.byteLength(text) > ENV_JSON_MAX && limit >= 16; limit = Math.floor(limit / 2)) {
    const names: string[] = [];
    let used = 0;
    for (const n of (doc.names as string[]) ?? []) {
      used += Buffer.byteLength(n) + 4;
      if (used > limit) break;
      names.push(n);
    }
    const short = { ...doc, names, summary: cutBytes(String(doc.summary ?? ''), limit), reason: cutBytes(String(doc.reason ?? ''), limit), next: cutBytes(String(doc.next ?? ''), limit) };
    text = JSON.stringify(short);
  }
  return text;
}

/**
 * A command target's environment: each field as CERTCTL_EVENT_*, plus the whole document as
 * CERTCTL_EVENT_JSON. Names reach the command only here — never in its argv, never through a shell.
 */
export function notifyEnv(e: NotifyEvent, id: number | null, host: string): Record<string, string> {
  const doc = notifyDocument(e, id, host);
  const s = (v: unknown) => cutBytes(v === null || v === undefined ? '' : String(v), ENV_MAX);
  return {
    CERTCTL_EVENT: e.kind,
    CERTCTL_EVENT_ID: s(id),
    CERTCTL_EVENT_SUBJECT: s(e.subject),
    CERTCTL_EVENT_LINEAGE: s(e.lineage),
    CERTCTL_EVENT_NAMES: s(e.names.join(' ')),
    CERTCTL_EVENT_SUMMARY: s(e.summary),
    CERTCTL_EVENT_REASON: s(e.reason),
    CERTCTL_EVENT_NEXT: s(e.next),
    CERTCTL_EVENT_RETRY_AT: s(doc.retryAt),
    CERTCTL_EVENT_EXPIRES_AT: s(doc.expiresAt),
    CERTCTL_EVENT_JSON: envJson(doc),
  };
}
