/** The types shared by keys/index.ts, csr.ts and sm2.ts (kept apart so none of them imports another's module for a type). */
import type { Asn1 } from './der.js';

/** A concrete key algorithm for one certificate. */
export type KeyAlgo = { kind: 'rsa'; bits: 2048 | 3072 | 4096 } | { kind: 'ecdsa'; curve: 'P-256' | 'P-384' } | { kind: 'sm2' };

/** What a key contributes to a CSR: its public key and a way to sign. */
export interface CsrSigner {
  /** SubjectPublicKeyInfo, DER. */
  spki: Buffer;
  /** The signatureAlgorithm AlgorithmIdentifier. */
  algorithm: Asn1;
  /** Sign the DER CertificationRequestInfo; returns the signature value bytes. */
  sign(tbs: Buffer): Buffer;
}
