/**
 * PKCS#10 certification requests (RFC 2986), built with node-forge's ASN.1
 * for every key type, so RSA, ECDSA and SM2 CSRs share one layout:
 *
 *   subject         CN = the first name (omitted if longer than 64 characters)
 *   extensionRequest
 *     subjectAltName  every name: dNSName, or iPAddress for IP literals
 *     keyUsage        critical; what the key is for (see KEY_USAGES)
 *
 * Signatures come from node:crypto for RSA/ECDSA (OpenSSL underneath) and
 * from sm-crypto for SM2, because Node cannot set the SM2 signer ID.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { InputError } from '../errors.js';
import type { CsrSigner, KeyAlgo } from './types.js';
import { bitString, bool, nul, octets, oid, rawDer, seq, set, smallInt, tagged, toDer, toPem, utf8, type Asn1 } from './der.js';

/** RFC 5280 KeyUsage bit numbers. */
const KU_BIT = { digitalSignature: 0, nonRepudiation: 1, keyEncipherment: 2, dataEncipherment: 3, keyAgreement: 4 } as const;
export type KeyUsageName = keyof typeof KU_BIT;

/**
 * What each kind of key asks for. RSA keys both sign (ECDHE) and decrypt
 * (RSA key exchange); ECDSA keys only sign. SM2 follows GB/T 20518-2018
 * Annex C, which Tongsuo enforces: the signing certificate is
 * digitalSignature + nonRepudiation, the encryption certificate
 * keyEncipherment + dataEncipherment + keyAgreement.
 */
export const KEY_USAGES: Record<'rsa' | 'ecdsa' | 'sm2-sign' | 'sm2-enc', KeyUsageName[]> = {
  rsa: ['digitalSignature', 'keyEncipherment'],
  ecdsa: ['digitalSignature'],
  'sm2-sign': ['digitalSignature', 'nonRepudiation'],
  'sm2-enc': ['keyEncipherment', 'dataEncipherment', 'keyAgreement'],
};

export const OID = {
  commonName: '2.5.4.3',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA384: '1.2.840.10045.4.3.3',
} as const;

export type { CsrSigner } from './types.js';

/** Upper bound of X.520 commonName (RFC 5280 ub-common-name). */
const CN_MAX = 64;

/** Build and sign a CSR; PEM. `names` must already be normalised (src/core/names.ts). */
export function buildCsr(names: string[], usages: KeyUsageName[], signer: CsrSigner): string {
  if (names.length === 0) throw new InputError('A CSR needs at least one name.');
  const cn = names[0]!;
  const rdns = cn.length <= CN_MAX ? [set(seq(oid(OID.commonName), utf8(cn)))] : [];
  const extensions: Asn1[] = [
    // RFC 5280 §4.2.1.6: SAN is critical when the subject is empty.
    extension(OID.subjectAltName, rdns.length === 0, seq(...names.map(generalName))),
    extension(OID.keyUsage, true, keyUsageBits(usages)),
  ];
  const info = seq(
    smallInt(0),
    seq(...rdns),
    rawDer(signer.spki),
    tagged(0, true, [seq(oid(OID.extensionRequest), set(seq(...extensions)))]),
  );
  const tbs = toDer(info);
  const sig = signer.sign(tbs);
  return toPem('CERTIFICATE REQUEST', toDer(seq(info, signer.algorithm, bitString(sig))));
}

function extension(id: string, critical: boolean, value: Asn1): Asn1 {
  return critical ? seq(oid(id), bool(true), octets(toDer(value))) : seq(oid(id), octets(toDer(value)));
}

/** GeneralName: dNSName [2] IA5String, or iPAddress [7] OCTET STRING (4 or 16 bytes). */
function generalName(name: string): Asn1 {
  if (isIP(name)) {
    const bytes = ipBytes(name);
    if (!bytes) throw new InputError(`"${name}" is not an IP address certctl can encode.`);
    return tagged(7, false, bytes);
  }
  return tagged(2, false, Buffer.from(name, 'ascii'));
}

/** An IP literal's 4 or 16 bytes (network order); null if it is not one. */
export function ipBytes(ip: string): Buffer | null {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v !== 6) return null;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two groups, then '::' is expanded.
  let s = ip;
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const [a, b, c, d] = m[2]!.split('.').map(Number) as [number, number, number, number];
    s = `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** KeyUsage as a DER named BIT STRING: trailing zero bits dropped, unused-bit count set. */
export function keyUsageBits(usages: KeyUsageName[]): Asn1 {
  let mask = 0;
  for (const u of usages) mask |= 0x80 >> KU_BIT[u];
  if (mask === 0) throw new Error('keyUsage needs at least one bit');
  let unused = 0;
  while (((mask >> unused) & 1) === 0) unused++;
  return bitString(Buffer.from([mask]), unused);
}

/** A signer for an RSA or ECDSA key held by node:crypto. Checks the key is the kind `algo` says. */
export function nodeSigner(keyPem: string, algo: Extract<KeyAlgo, { kind: 'rsa' | 'ecdsa' }>): CsrSigner {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new InputError(`The private key could not be read: ${(err as Error).message}.`, 'Give a PEM private key (PKCS#8, PKCS#1 or SEC1).');
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (algo.kind === 'rsa') {
    if (key.asymmetricKeyType !== 'rsa') throw new InputError(`The key is ${describe(key)}, not RSA.`);
    return { spki, algorithm: seq(oid(OID.sha256WithRSAEncryption), nul()), sign: (tbs) => nodeSign('sha256', tbs, key) };
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const want = algo.curve === 'P-256' ? 'prime256v1' : 'secp384r1';
  if (key.asymmetricKeyType !== 'ec' || curve !== want) throw new InputError(`The key is ${describe(key)}, not ECDSA ${algo.curve}.`);
  const [hash, alg] = algo.curve === 'P-256' ? ['sha256', OID.ecdsaWithSHA256] : ['sha384', OID.ecdsaWithSHA384];
  // node:crypto's ECDSA signatures are DER SEQUENCE { r, s } already, as X.509 wants.
  return { spki, algorithm: seq(oid(alg)), sign: (tbs) => nodeSign(hash, tbs, key) };
}

function describe(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  return [key.asymmetricKeyType ?? 'an unknown key type', d?.modulusLength ? `${d.modulusLength} bits` : d?.namedCurve].filter(Boolean).join(' ');
}
