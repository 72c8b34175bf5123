/**
 * What certctl must never print: HTTP-01 challenge tokens and key
 * authorizations (they let anyone who reads a log answer the challenge
 * while it is pending), the EAB HMAC key, private keys. Every line certctl
 * writes — text, JSON, --verbose, errors — passes through `redact` (see
 * src/cli/output.ts), so a CA's problem detail that quotes
 * `…/.well-known/acme-challenge/<token>` or `"<token>.<thumbprint>"` is
 * shown with the secret replaced.
 *
 * Two layers: the exact secrets this process learned (`registerSecret`:
 * each token when it is presented, the EAB HMAC when it is read), and
 * patterns for anything shaped like one (a path under acme-challenge/, a
 * key authorization, a PEM private key block).
 */

const secrets = new Set<string>();

/** Remember a secret so that no output line ever shows it (tokens, EAB HMAC). Values shorter than 8 characters are not registered (too likely to hit ordinary text). */
export function registerSecret(value: string | undefined | null): void {
  if (typeof value === 'string' && value.length >= 8) secrets.add(value);
}

/**
 * The environment for a program certctl starts (hooks, notification commands, DNS hook providers): its
 * own, without the secrets of certctl's own configuration it was given through it — the PostgreSQL
 * password (`PGPASSWORD`, `PGSSLPASSWORD`), a `CERTCTL_LEDGER` that carries a password
 * (user:password@ or ?password=) and the EAB HMAC key (`CERTCTL_EAB_HMAC_KEY`). A hook needs none of
 * them; a hook that logs its environment would put them in a log. Everything else stays — a
 * proxy's URL with its credentials, a DNS API token — as a hook may need it to do its job.
 */
export function childEnv(extra: Record<string, string> = {}, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || k === 'PGPASSWORD' || k === 'PGSSLPASSWORD' || k === 'CERTCTL_EAB_HMAC_KEY') continue;
    if (k === 'CERTCTL_LEDGER' && /^[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:[^\s@/]+@|[?&](ssl)?password=/i.test(v)) continue;
    out[k] = v;
  }
  return { ...out, ...extra };
}

/** Forget registered secrets (tests). */
export function clearSecrets(): void {
  secrets.clear();
}

export const REDACTED = '[redacted]';

/**
 * Each pattern with a piece of text every match contains: text without it cannot match, and is not
 * searched (a 50 MB `status --json` of 100,000 lineages holds a URL on every item but no "@": the
 * URL pattern, which starts at every word, cost ~0.3 s of CPU there).
 */
const PATTERNS: [RegExp, string, string][] = [
  // The path a CA fetches: /.well-known/acme-challenge/<token> (any token-ish text after it).
  [/(\.well-known\/acme-challenge\/)(?!\[redacted\])[^\s"'<>()[\]{},;\\]+/g, `$1${REDACTED}`, '.well-known/acme-challenge/'],
  // The password of a URL's user:password@ (a proxy's, a ledger's): any length, so a short one too.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*:)(?!\[redacted\]@)[^\s@/"'<>]+@/gi, `$1${REDACTED}@`, '@'],
  // A connection URL's ?password=… / &sslpassword=… (libpq's URI parameters), in any case: the piece
  // looked for is the "=" (a case-sensitive "password=" would let ?PASSWORD=… through unsearched).
  [/([?&](?:ssl)?password=)(?!\[redacted\])[^&#\s"'<>]+/gi, `$1${REDACTED}`, '='],
  // A PEM private key block (RSA/EC/PKCS#8/encrypted), whole.
  [/-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g, `[private key ${REDACTED}]`, 'PRIVATE KEY-----'],
];

/** base64url characters (a token's and a thumbprint's alphabet), by char code. */
const B64URL = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') B64URL[c.charCodeAt(0)] = 1;
const isB64url = (s: string, i: number): boolean => {
  const c = s.charCodeAt(i);
  return c < 128 && B64URL[c] === 1;
};
/** The thumbprint half of a key authorization: "." and 43 base64url characters (a SHA-256), nothing more. */
const THUMBPRINT_LEN = 43;
/** A key authorization's token half is at least this long (RFC 8555 tokens carry ≥ 128 bits: 22 characters; 16 to be safe). */
const MIN_TOKEN = 16;

/**
 * Key authorizations (<token>.<thumbprint>) replaced. Found from each "." (by
 * indexOf) forward over the thumbprint and back to the start of the token, not
 * by a pattern that starts at every letter: a 50 MB `--json` document of
 * 100,000 lineages took 1.5 s with /[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}/,
 * 0.14 s with a pattern starting at the ".", and about half that so.
 */
function redactKeyAuthorizations(s: string): string {
  let out = '';
  let last = 0;
  for (let dot = s.indexOf('.'); dot !== -1; dot = s.indexOf('.', dot + 1)) {
    const end = dot + 1 + THUMBPRINT_LEN;
    if (end > s.length) break;
    let j = dot + 1;
    while (j < end && isB64url(s, j)) j++;
    if (j < end || (end < s.length && isB64url(s, end))) continue;
    let start = dot;
    while (start > last && isB64url(s, start - 1)) start--;
    if (dot - start < MIN_TOKEN) continue;
    out += s.slice(last, start) + REDACTED;
    last = end;
    dot = end - 1;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** `text` with every registered secret and every token-, key-authorization- or private-key-shaped part replaced. */
export function redact(text: string): string {
  let s = text;
  for (const v of secrets) if (s.includes(v)) s = s.split(v).join(REDACTED);
  s = redactKeyAuthorizations(s);
  for (const [re, by, needle] of PATTERNS) if (s.includes(needle)) s = s.replace(re, by);
  return s;
}
