/**
 * SM2 keys, signatures and CSR verification (GB/T 32918, GM/T 0009).
 *
 * The arithmetic is sm-crypto's; the encodings are ours, checked against
 * OpenSSL 3 by the tests. Two rules from ../shared/reference/sm2.md shape
 * every function here: sm-crypto gets bytes, never strings (a string is read
 * as UTF-8 text), and signatures carry the GM/T 0009 signer ID
 * 1234567812345678 (OpenSSL 3 defaults to an empty ID; Node cannot set one).
 *
 * Randomness: sm-crypto's own generator is RC4 seeded once with 32 bytes.
 * Private keys and signature nonces here come from node:crypto instead
 * (fed through sm-crypto's own key derivation), so a biased keystream can
 * never leak a key through many signatures.
 */
import { randomBytes } from 'node:crypto';
import smCrypto from 'sm-crypto';
import { InputError } from '../errors.js';
import type { CsrSigner } from './types.js';
import { bitBytes, bitString, children, firstElementBytes, fromDer, fromPem, octets, oid, oidOf, prim, seq, smallInt, tagged, toDer, toPem, type Asn1 } from './der.js';
import forge from 'node-forge';

const { sm2 } = smCrypto;
const T = forge.asn1.Type;

export const SM2_OID = {
  /** sm2p256v1, the curve (OpenSSL name "SM2"). */
  curve: '1.2.156.10197.1.301',
  /** SM3withSM2 signatures; the AlgorithmIdentifier has no parameters. */
  sm3WithSm2: '1.2.156.10197.1.501',
  ecPublicKey: '1.2.840.10045.2.1',
} as const;

/** GM/T 0009 default distinguishing ID, used unless a CA says otherwise. */
export const SM2_DEFAULT_ID = '1234567812345678';

/** Curve order n. */
const N = BigInt('0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123');

export interface Sm2KeyPair {
  /** d, 64 hex digits. */
  privateKeyHex: string;
  /** 04 || X || Y, 130 hex digits. */
  publicKeyHex: string;
}

/** A fresh key pair, d uniform in [1, n-1] from node:crypto (320 random bits reduced mod n-1: bias < 2^-64). */
export function generateSm2KeyPair(): Sm2KeyPair {
  const { privateKey, publicKey } = sm2.generateKeyPairHex(randomBytes(40).toString('hex'), 16);
  return { privateKeyHex: privateKey, publicKeyHex: publicKey };
}

/** The public key of d (04||X||Y hex). Throws if d is out of range. */
export function sm2PublicKeyOf(privateKeyHex: string): string {
  const d = BigInt('0x' + privateKeyHex);
  if (d < 1n || d >= N) throw new InputError('The SM2 private key is out of range (0 or ≥ the curve order).');
  return sm2.getPublicKeyFromPrivateKey(privateKeyHex.toLowerCase().padStart(64, '0')).toLowerCase();
}

/**
 * PKCS#8 PEM of an SM2 key, laid out as OpenSSL writes it: PrivateKeyInfo
 * with AlgorithmIdentifier { id-ecPublicKey, SM2 curve } around an RFC 5915
 * ECPrivateKey { 1, d (32 bytes), [1] public key }. `openssl pkey -check` accepts it.
 */
export function sm2PrivateKeyToPem(privateKeyHex: string, publicKeyHex = sm2PublicKeyOf(privateKeyHex)): string {
  const d = Buffer.from(privateKeyHex.padStart(64, '0'), 'hex');
  const ecPrivateKey = seq(smallInt(1), octets(d), tagged(1, true, [bitString(Buffer.from(publicKeyHex, 'hex'))]));
  const info = seq(smallInt(0), seq(oid(SM2_OID.ecPublicKey), oid(SM2_OID.curve)), octets(toDer(ecPrivateKey)));
  return toPem('PRIVATE KEY', toDer(info));
}

/** SubjectPublicKeyInfo DER for an SM2 public key. */
export function sm2Spki(publicKeyHex: string): Buffer {
  return toDer(seq(seq(oid(SM2_OID.ecPublicKey), oid(SM2_OID.curve)), bitString(Buffer.from(publicKeyHex, 'hex'))));
}

/** True if this DER is a PKCS#8 PrivateKeyInfo for an SM2-curve key. Never throws. */
export function isSm2Pkcs8(der: Buffer): boolean {
  try {
    const [, alg] = children(fromDer(der), 'PrivateKeyInfo');
    const [kind, curve] = children(alg, 'AlgorithmIdentifier');
    return oidOf(kind, 'algorithm') === SM2_OID.ecPublicKey && oidOf(curve, 'curve') === SM2_OID.curve;
  } catch {
    return false;
  }
}

/**
 * Read an SM2 private key: PKCS#8 ("PRIVATE KEY", as certctl and
 * `openssl genpkey -algorithm SM2` write) or SEC1 ("EC PRIVATE KEY" with the
 * SM2 curve). Checks d is in range and that an embedded public key is d·G.
 */
export function readSm2PrivateKey(pem: string): Sm2KeyPair {
  const { label, der } = fromPem(pem);
  const bad = (why: string) => new InputError(`This is not an SM2 private key certctl can use: ${why}.`, 'Give a PKCS#8 PEM SM2 key (certctl csr --key-type sm2, or openssl genpkey -algorithm SM2).');
  let ecPrivateKey: Asn1;
  try {
    if (label === 'PRIVATE KEY') {
      if (!isSm2Pkcs8(der)) throw bad('its algorithm is not id-ecPublicKey on the SM2 curve');
      ecPrivateKey = fromDer(prim(children(fromDer(der), 'PrivateKeyInfo')[2], T.OCTETSTRING, 'privateKey'));
    } else if (label === 'EC PRIVATE KEY') {
      ecPrivateKey = fromDer(der);
      const params = children(ecPrivateKey, 'ECPrivateKey').find((c) => c.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && c.type === 0);
      const curve = params && Array.isArray(params.value) ? oidOf(params.value[0], 'curve') : undefined;
      if (curve !== SM2_OID.curve) throw bad('its curve is not SM2');
    } else {
      throw bad(`a "${label}" PEM block`);
    }
    const fields = children(ecPrivateKey, 'ECPrivateKey');
    const d = prim(fields[1], T.OCTETSTRING, 'privateKey');
    if (d.length === 0 || d.length > 32) throw bad('the private scalar is not 32 bytes');
    const privateKeyHex = d.toString('hex').padStart(64, '0');
    const publicKeyHex = sm2PublicKeyOf(privateKeyHex);
    const embedded = fields.find((c) => c.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && c.type === 1);
    if (embedded && Array.isArray(embedded.value)) {
      const pub = bitBytes(embedded.value[0], 'publicKey').toString('hex');
      if (pub !== publicKeyHex) throw bad('the embedded public key does not belong to the private key');
    }
    return { privateKeyHex, publicKeyHex };
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw bad((err as Error).message);
  }
}

// sm-crypto takes precomputed (k, x1) pairs as jsbn BigIntegers; borrow the class from one of its own points.
type BigIntCtor = new (hex: string, radix: number) => { toString(radix?: number): string };
const BigInteger = (sm2.getPoint().k as object).constructor as BigIntCtor;

/** A signature nonce k and x1 = (k·G).x, with k from node:crypto. */
function freshPoint() {
  const { privateKey, publicKey } = sm2.generateKeyPairHex(randomBytes(40).toString('hex'), 16);
  return { k: new BigInteger(privateKey, 16), x1: new BigInteger(publicKey.slice(2, 66), 16) };
}

/** SM3withSM2 signature of `data` (SM3(Z ‖ data), Z from `userId` and the public key); DER SEQUENCE { r, s }. */
export function sm2Sign(data: Uint8Array, key: Sm2KeyPair, userId = SM2_DEFAULT_ID): Buffer {
  const hex = sm2.doSignature(Buffer.from(data), key.privateKeyHex, {
    hash: true,
    der: true,
    publicKey: key.publicKeyHex,
    userId,
    // One nonce; sm-crypto retries (r = 0, r + k = n, s = 0: probability ~2^-256) would fall back to its own generator.
    pointPool: [freshPoint()],
  });
  return Buffer.from(hex, 'hex');
}

/** Verify an SM3withSM2 DER signature. Non-canonical DER is rejected. Never throws. */
export function sm2Verify(data: Uint8Array, signature: Uint8Array, publicKeyHex: string, userId = SM2_DEFAULT_ID): boolean {
  try {
    return sm2.doVerifySignature(Buffer.from(data), Buffer.from(signature).toString('hex'), publicKeyHex.toLowerCase(), { hash: true, der: true, userId });
  } catch {
    return false;
  }
}

/** The CSR signer for an SM2 private key PEM. */
export function sm2Signer(keyPem: string): CsrSigner {
  const key = readSm2PrivateKey(keyPem);
  return { spki: sm2Spki(key.publicKeyHex), algorithm: seq(oid(SM2_OID.sm3WithSm2)), sign: (tbs) => sm2Sign(tbs, key) };
}

/**
 * certctl's own check of an SM2 CSR: SM2 SubjectPublicKeyInfo, SM3withSM2
 * algorithm with parameters absent, and a valid signature (with `userId`)
 * over the CertificationRequestInfo bytes exactly as they are in the file.
 */
export function verifySm2Csr(csrPem: string, userId = SM2_DEFAULT_ID): boolean {
  try {
    const { label, der } = fromPem(csrPem);
    if (label !== 'CERTIFICATE REQUEST' && label !== 'NEW CERTIFICATE REQUEST') return false;
    const [info, alg, sig] = children(fromDer(der), 'CertificationRequest');
    const algFields = children(alg, 'signatureAlgorithm');
    if (algFields.length !== 1 || oidOf(algFields[0], 'signatureAlgorithm') !== SM2_OID.sm3WithSm2) return false;
    const spki = children(info, 'CertificationRequestInfo')[2];
    const [spkiAlg, spkiKey] = children(spki, 'SubjectPublicKeyInfo');
    const [kind, curve] = children(spkiAlg, 'AlgorithmIdentifier');
    if (oidOf(kind, 'algorithm') !== SM2_OID.ecPublicKey || oidOf(curve, 'curve') !== SM2_OID.curve) return false;
    const pub = bitBytes(spkiKey, 'subjectPublicKey');
    if (pub.length !== 65 || pub[0] !== 0x04) return false;
    return sm2Verify(firstElementBytes(der), bitBytes(sig, 'signature'), pub.toString('hex'), userId);
  } catch {
    return false;
  }
}

/**
 * The SM2 public key (04||X||Y hex) of a certificate, or null if its key is
 * not on the SM2 curve. Node cannot name SM2 keys in X.509 (its
 * asymmetricKeyType is undefined), so the SPKI is read with asn1.
 */
export async function sm2PublicKeyOfCert(certPem: string): Promise<string | null> {
  try {
    const [tbs] = children(fromDer(fromPem(certPem).der), 'Certificate');
    const f = children(tbs, 'TBSCertificate');
    const off = f[0]!.tagClass === 0x80 ? 1 : 0; // [0] version present
    const [alg, key] = children(f[5 + off], 'SubjectPublicKeyInfo');
    const [kind, curve] = children(alg, 'AlgorithmIdentifier');
    if (oidOf(kind, 'algorithm') !== SM2_OID.ecPublicKey || oidOf(curve, 'curve') !== SM2_OID.curve) return null;
    return bitBytes(key, 'subjectPublicKey').toString('hex');
  } catch {
    return null;
  }
}
