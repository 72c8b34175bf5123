/**
 * Distinguished names as crt.sh, node:crypto and certbot spell them: split,
 * compared order-insensitively, written as the ledger writes them. Pure; used
 * by CT sync (ct/) and the ledger's CT matching (ledger/ct.ts).
 */

/**
 * Split a distinguished name ("C=US, O=Let's Encrypt, CN=R11", RFC 4514 or
 * OpenSSL one-line style; quoted values and backslash escapes allowed) into
 * [type, value] pairs in the given order. A piece without "=" belongs to the
 * previous value (an unescaped comma inside it, as Node prints "O=DigiCert, Inc.").
 */
export function splitDn(dn: string): [string, string][] {
  const pieces: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < dn.length; i++) {
    const ch = dn[i]!;
    if (ch === '\\' && i + 1 < dn.length) {
      cur += dn[++i];
      continue;
    }
    if (ch === '"') {
      quoted = !quoted;
      continue;
    }
    if ((ch === ',' || ch === '\n' || ch === '/' || ch === ';') && !quoted) {
      // "/" separates only in OpenSSL's "/C=US/O=…" style: a "/" followed by TYPE=.
      if (ch === '/' && !/^[A-Za-z][A-Za-z0-9.]*\s*=/.test(dn.slice(i + 1))) {
        cur += ch;
        continue;
      }
      pieces.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  pieces.push(cur);
  const out: [string, string][] = [];
  for (const raw of pieces) {
    const p = raw.trim();
    if (!p) continue;
    const m = /^([A-Za-z][A-Za-z0-9.]*)\s*=\s*(.*)$/s.exec(p);
    if (m) out.push([m[1]!, m[2]!.trim()]);
    else if (out.length) out[out.length - 1]![1] += ', ' + p;
  }
  return out;
}

const TYPE_ALIASES: Record<string, string> = {
  COUNTRYNAME: 'C',
  ORGANIZATIONNAME: 'O',
  ORGANIZATIONALUNITNAME: 'OU',
  COMMONNAME: 'CN',
  LOCALITYNAME: 'L',
  STATEORPROVINCENAME: 'ST',
  S: 'ST',
  EMAILADDRESS: 'E',
  EMAIL: 'E',
  '2.5.4.6': 'C',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.3': 'CN',
};

/**
 * The issuer as an order-insensitive attribute set: types upper-cased and
 * aliased, values unquoted, whitespace collapsed, lower-cased, sorted. Equal
 * keys mean the same issuer however crt.sh or node:crypto spelled it.
 */
export function issuerKey(dn: string): string {
  return splitDn(dn)
    .map(([t, v]) => {
      const T = t.toUpperCase();
      return `${TYPE_ALIASES[T] ?? T}=${v.replace(/\s+/g, ' ').toLowerCase()}`;
    })
    .sort()
    .join('\n');
}

/** The issuer in the spelling certFacts (node:crypto) gives the ledger: "TYPE=value, TYPE=value" in DN order, unquoted. */
export function ledgerIssuer(dn: string): string {
  return splitDn(dn)
    .map(([t, v]) => `${t}=${v}`)
    .join(', ');
}
