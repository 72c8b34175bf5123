/** Reading certificates: just the facts the ledger keeps, through node:crypto. */
import { X509Certificate } from 'node:crypto';

export interface CertFacts {
  /** Lower-case hex, no colons, no leading zeros beyond the CA's own. */
  serial: string;
  issuer: string;
  subject: string;
  names: string[];
  notBefore: number;
  notAfter: number;
  fingerprint: string;
  keyType: string;
  /** DER of the certificate, for ARI's certID (issuer key id + serial). */
  raw: Buffer;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Split a PEM chain into its certificates, leaf first. */
export function splitPemChain(pem: string): string[] {
  return (pem.match(PEM_CERT) ?? []).map((c) => c.trim() + '\n');
}

export function certFacts(pem: string): CertFacts {
  const x = new X509Certificate(pem);
  const names = (x.subjectAltName ?? '')
    .split(/,\s*/)
    .filter(Boolean)
    .map((entry) => {
      const i = entry.indexOf(':');
      return entry.slice(i + 1).toLowerCase();
    });
  const kt = x.publicKey.asymmetricKeyType ?? 'unknown';
  const details = x.publicKey.asymmetricKeyDetails ?? {};
  const keyType = kt === 'rsa' ? `rsa:${details.modulusLength}` : kt === 'ec' ? `ecdsa:${String(details.namedCurve)}` : kt;
  return {
    serial: x.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
    // A certificate with an empty subject (first name over 64 characters: no CN) has subject undefined.
    issuer: (x.issuer ?? '').replace(/\n/g, ', '),
    subject: (x.subject ?? '').replace(/\n/g, ', '),
    names,
    notBefore: Date.parse(x.validFrom),
    notAfter: Date.parse(x.validTo),
    fingerprint: x.fingerprint256,
    keyType,
    raw: x.raw,
  };
}
