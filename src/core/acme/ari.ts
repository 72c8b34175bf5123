/**
 * ACME Renewal Information (RFC 9773): the certificate identifier.
 *
 * certID = base64url(keyIdentifier of the certificate's Authority Key
 * Identifier extension) "." base64url(the serial number's DER content bytes —
 * no tag, no length, a leading 0x00 kept when the high bit is set), both
 * without "=" padding. It names the certificate in `GET <renewalInfo>/<certID>`
 * and in newOrder's `replaces`.
 *
 * The DER is walked with node-forge's ASN.1 parser rather than read through
 * node:crypto's X509Certificate, because the serial must keep its exact DER
 * bytes (X509Certificate.serialNumber is hex with the sign byte dropped).
 */
import forge from 'node-forge';

const { asn1 } = forge;
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';

function b64url(binary: string): string {
  return Buffer.from(binary, 'binary').toString('base64url');
}

function derOf(cert: string | Buffer): Buffer {
  if (Buffer.isBuffer(cert)) return cert;
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(cert);
  if (!m) throw new Error('ariCertId: no PEM certificate ("-----BEGIN CERTIFICATE-----") in the input');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

function isUniversal(node: forge.asn1.Asn1, type: number): boolean {
  return node.tagClass === asn1.Class.UNIVERSAL && node.type === type;
}

function isContext(node: forge.asn1.Asn1, tag: number): boolean {
  return node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === tag;
}

function children(node: forge.asn1.Asn1 | undefined, what: string): forge.asn1.Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new Error(`ariCertId: malformed certificate (${what} is not a constructed value)`);
  return node.value;
}

/**
 * RFC 9773 certID of a certificate (PEM text, the first certificate is used;
 * or DER bytes). Throws when the certificate has no Authority Key Identifier
 * with a keyIdentifier: such a certificate has no ARI identity.
 */
export function ariCertId(cert: string | Buffer): string {
  const der = derOf(cert);
  let root: forge.asn1.Asn1;
  try {
    // Only the first certificate of a chain; trailing bytes are not ours to judge.
    root = asn1.fromDer(forge.util.createBuffer(der.toString('binary')), { parseAllBytes: false, decodeBitStrings: false } as never);
  } catch (err) {
    throw new Error(`ariCertId: cannot parse the certificate DER: ${(err as Error).message}`);
  }
  const tbs = children(children(root, 'Certificate')[0], 'tbsCertificate');
  let i = 0;
  // version [0] EXPLICIT is optional (absent means v1, which has no extensions).
  if (tbs[i] && isContext(tbs[i]!, 0)) i++;
  const serial = tbs[i];
  if (!serial || !isUniversal(serial, asn1.Type.INTEGER) || typeof serial.value !== 'string' || serial.value.length === 0) {
    throw new Error('ariCertId: malformed certificate (no serial number)');
  }
  const extensions = tbs.find((n) => isContext(n, 3));
  if (!extensions) throw new Error('ariCertId: the certificate has no extensions, so no Authority Key Identifier');
  let keyIdentifier: string | undefined;
  for (const ext of children(children(extensions, 'extensions')[0], 'Extensions')) {
    const parts = children(ext, 'Extension');
    const oid = parts[0];
    if (!oid || !isUniversal(oid, asn1.Type.OID) || asn1.derToOid(oid.value as string) !== OID_AUTHORITY_KEY_IDENTIFIER) continue;
    const value = parts[parts.length - 1]!; // extnValue OCTET STRING (critical BOOLEAN may sit between)
    if (!isUniversal(value, asn1.Type.OCTETSTRING)) throw new Error('ariCertId: malformed Authority Key Identifier extension');
    // forge may already have decoded the OCTET STRING's content; otherwise parse it.
    const inner = Array.isArray(value.value) ? value.value[0]! : asn1.fromDer(value.value as string);
    const kid = children(inner, 'AuthorityKeyIdentifier').find((n) => isContext(n, 0));
    if (kid) keyIdentifier = kid.constructed && Array.isArray(kid.value) ? String((kid.value[0]?.value as string) ?? '') : (kid.value as string);
    break;
  }
  if (!keyIdentifier) throw new Error('ariCertId: the certificate has no Authority Key Identifier with a keyIdentifier, so it has no ARI certID');
  return `${b64url(keyIdentifier)}.${b64url(serial.value)}`;
}
