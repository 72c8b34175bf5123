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

/** Forget registered secrets (tests). */
export function clearSecrets(): void {
  secrets.clear();
}

export const REDACTED = '[redacted]';

const PATTERNS: [RegExp, string][] = [
  // The path a CA fetches: /.well-known/acme-challenge/<token> (any token-ish text after it).
  [/(\.well-known\/acme-challenge\/)(?!\[redacted\])[^\s"'<>()[\]{},;\\]+/g, `$1${REDACTED}`],
  // A key authorization: <token>.<base64url SHA-256 thumbprint (43 characters)>.
  [/[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/g, REDACTED],
  // A PEM private key block (RSA/EC/PKCS#8/encrypted), whole.
  [/-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g, `[private key ${REDACTED}]`],
];

/** `text` with every registered secret and every token-, key-authorization- or private-key-shaped part replaced. */
export function redact(text: string): string {
  let s = text;
  for (const v of secrets) if (s.includes(v)) s = s.split(v).join(REDACTED);
  for (const [re, by] of PATTERNS) s = s.replace(re, by);
  return s;
}
