/**
 * Echoing what a user typed, safely. Apart from names.ts (which pulls in the
 * public suffix list, node:crypto and node:url) so that the check every
 * command makes of its global options costs no module loads.
 */

/**
 * A value typed by a user (or read from a file), fit to be echoed in one
 * error line: control characters (NUL, escape sequences, newlines) escaped,
 * and at most `max` characters shown. Always returned in double quotes.
 */
export function quote(raw: string, max = 80): string {
  const s = String(raw);
  const cut = s.length > max ? s.slice(0, max) : s;
  const body = JSON.stringify(cut).slice(1, -1).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `"${body}${s.length > max ? `…" (${s.length} characters)` : '"'}`;
}

/** NUL, other C0/C1 control characters and DEL: never part of a name, a path or a URL certctl accepts. */
export const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
