/**
 * Alternate certificate chains (RFC 8555 §7.4.2): the CA may offer more than
 * one chain for the same certificate, each linked from the download with
 * `Link: <url>;rel="alternate"`. `--preferred-chain "ISSUER CN"` picks one by
 * certbot's rule: the chain whose topmost certificate is issued by a
 * certificate with that Subject Common Name (compared exactly). None
 * matching: the default chain, with a warning (as certbot).
 */
import { X509Certificate } from 'node:crypto';
import { splitPemChain } from '../x509.js';

/** The rel="alternate" URLs of a Link header (one string, or several joined with ", "). */
export function alternateLinks(link: string | string[] | undefined): string[] {
  if (!link) return [];
  const text = Array.isArray(link) ? link.join(', ') : link;
  const out: string[] = [];
  for (const m of text.matchAll(/<([^>]*)>((?:\s*;\s*[^,;<]+)*)/g)) {
    if (/;\s*rel\s*=\s*"?([^";]*\s)?alternate(\s[^";]*)?"?/i.test(m[2] ?? '')) out.push(m[1]!);
  }
  return out;
}

/** The issuer Common Name of the topmost (last) certificate of a PEM chain; null when it has none. */
export function topIssuerCn(chainPem: string): string | null {
  const certs = splitPemChain(chainPem);
  const top = certs[certs.length - 1];
  if (!top) return null;
  try {
    const issuer = new X509Certificate(top).issuer;
    const cn = issuer.split('\n').find((l) => l.startsWith('CN='));
    return cn ? cn.slice(3) : null;
  } catch {
    return null;
  }
}

/** The index of the first chain whose topmost certificate is issued by `cn`, or -1. */
export function choosePreferredChain(chains: string[], cn: string): number {
  return chains.findIndex((c) => topIssuerCn(c) === cn);
}
