/**
 * Ready-to-paste web-server configuration for a lineage (`certctl status
 * --nginx NAME`). Pure: the caller passes the lineage's key type and live
 * directory; nothing is read from disk here.
 *
 * The file names are the ones obtain.ts writes (filesForPart and the SM2
 * bundle step in ca/sm2acme.ts):
 *   single: fullchain.pem + privkey.pem
 *   dual:   fullchain.pem + privkey.pem (RSA), fullchain-ecdsa.pem + privkey-ecdsa.pem (ECDSA)
 *   sm2:    sign.pem + sign.key, enc.pem + enc.key (TLCP), fullchain.pem + privkey.pem (ECDSA, TLS 1.2/1.3)
 */
import path from 'node:path';

export interface SnippetInput {
  lineage: string;
  names: string[];
  /** The lineage's --key-type text as stored: "rsa:2048", "ecdsa:p256", "dual", "sm2". */
  keyType: string;
  /** live/<lineage>, absolute. */
  liveDir: string;
}

export type SnippetKind = 'single' | 'dual' | 'sm2';

export function snippetKind(keyType: string): SnippetKind {
  const k = keyType.trim().toLowerCase();
  return k === 'dual' ? 'dual' : k === 'sm2' ? 'sm2' : 'single';
}

/** nginx needs quotes around paths with spaces, semicolons, braces, quotes or `#`. */
function q(p: string): string {
  if (!/[\s;{}"'\\#]/.test(p)) return p;
  return `"${p.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Directive lines, aligned, each ending with ";". */
function directives(rows: [string, string][], indent: string): string[] {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(w)} ${v};`);
}

/**
 * An nginx `server` block for the lineage. For `sm2` the block is for
 * Tengine built with Tongsuo (NTLS): `enable_ntls on` plus the SM2 signing and
 * encryption pairs, and the ECDSA pair for ordinary TLS clients on the same port.
 */
export function nginxSnippet(s: SnippetInput): string {
  const f = (name: string) => q(path.join(s.liveDir, name));
  const kind = snippetKind(s.keyType);
  const names = s.names.length ? s.names.join(' ') : '_';
  const lines: string[] = [];
  const ind = '    ';
  if (kind === 'sm2') {
    lines.push(`# certctl: ${s.lineage} (SM2 bundle: ECDSA + SM2 signing + SM2 encryption certificates)`);
    lines.push('# Tengine with Tongsuo (NTLS/TLCP, GB/T 38636); plain nginx has no ssl_sign_certificate.');
    lines.push('server {');
    lines.push(`${ind}listen 443 ssl;`);
    lines.push(`${ind}server_name ${names};`);
    lines.push('');
    lines.push(`${ind}enable_ntls on;`);
    lines.push(
      ...directives(
        [
          ['ssl_sign_certificate', f('sign.pem')],
          ['ssl_sign_certificate_key', f('sign.key')],
          ['ssl_enc_certificate', f('enc.pem')],
          ['ssl_enc_certificate_key', f('enc.key')],
        ],
        ind,
      ),
    );
    lines.push('');
    lines.push(`${ind}# ECDSA certificate for TLS 1.2/1.3 clients`);
    lines.push(...directives([['ssl_certificate', f('fullchain.pem')], ['ssl_certificate_key', f('privkey.pem')]], ind));
    lines.push('}');
  } else if (kind === 'dual') {
    lines.push(`# certctl: ${s.lineage} (dual: RSA + ECDSA; nginx ≥ 1.11.0 picks per client)`);
    lines.push('server {');
    lines.push(`${ind}listen 443 ssl;`);
    lines.push(`${ind}server_name ${names};`);
    lines.push('');
    lines.push(`${ind}# RSA`);
    lines.push(...directives([['ssl_certificate', f('fullchain.pem')], ['ssl_certificate_key', f('privkey.pem')]], ind));
    lines.push(`${ind}# ECDSA`);
    lines.push(...directives([['ssl_certificate', f('fullchain-ecdsa.pem')], ['ssl_certificate_key', f('privkey-ecdsa.pem')]], ind));
    lines.push('}');
  } else {
    lines.push(`# certctl: ${s.lineage} (${s.keyType})`);
    lines.push('server {');
    lines.push(`${ind}listen 443 ssl;`);
    lines.push(`${ind}server_name ${names};`);
    lines.push('');
    lines.push(...directives([['ssl_certificate', f('fullchain.pem')], ['ssl_certificate_key', f('privkey.pem')]], ind));
    lines.push('}');
  }
  return lines.join('\n') + '\n';
}

/** The live files a snippet refers to (so the caller can warn about missing ones). */
export function snippetFiles(keyType: string): string[] {
  switch (snippetKind(keyType)) {
    case 'dual':
      return ['fullchain.pem', 'privkey.pem', 'fullchain-ecdsa.pem', 'privkey-ecdsa.pem'];
    case 'sm2':
      return ['sign.pem', 'sign.key', 'enc.pem', 'enc.key', 'fullchain.pem', 'privkey.pem'];
    default:
      return ['fullchain.pem', 'privkey.pem'];
  }
}
