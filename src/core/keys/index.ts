/**
 * Certificate keys and CSRs per key type. RSA and ECDSA keys come from
 * Node's own crypto (OpenSSL underneath: fast), never from a pure-JS generator;
 * SM2 keys from sm-crypto (Node cannot sign SM2 with a signer ID). CSRs are
 * built by ./csr.ts with node-forge's ASN.1 for every type. The heavy modules
 * are imported inside the functions: parsing --key-type stays cheap.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { InputError } from '../errors.js';

const genKeyPair = promisify(generateKeyPair);

export type { KeyAlgo } from './types.js';
import type { KeyAlgo } from './types.js';

/**
 * What the user asked for with --key-type. `dual` is two certificates (RSA +
 * ECDSA) in one lineage; `sm2` is the SM2 ACME Service bundle.
 */
export interface KeySpec {
  /** Canonical text, stored in the ledger: "rsa:2048", "ecdsa:p256", "dual", "sm2". */
  text: string;
  /** One entry per certificate the request produces, with its role in the lineage. */
  parts: { role: string; algo: KeyAlgo }[];
}

/** Parse --key-type. Throws InputError with the accepted forms. */
export function parseKeyType(raw: string | undefined): KeySpec {
  const s = (raw ?? 'ecdsa').trim().toLowerCase();
  const [kind, param] = s.split(':', 2) as [string, string | undefined];
  const bad = () =>
    new InputError(`Unknown key type "${raw}".`, 'Use one of: rsa, rsa:2048, rsa:3072, rsa:4096, ecdsa, ecdsa:p256, ecdsa:p384, dual, sm2.');
  switch (kind) {
    case 'rsa': {
      const bits = param === undefined ? 2048 : Number(param);
      if (bits !== 2048 && bits !== 3072 && bits !== 4096) throw bad();
      return { text: `rsa:${bits}`, parts: [{ role: 'main', algo: { kind: 'rsa', bits } }] };
    }
    case 'ecdsa':
    case 'ec': {
      const p = param ?? 'p256';
      const curve = p === 'p256' || p === 'p-256' || p === 'prime256v1' ? 'P-256' : p === 'p384' || p === 'p-384' || p === 'secp384r1' ? 'P-384' : null;
      if (!curve) throw bad();
      return { text: `ecdsa:${curve === 'P-256' ? 'p256' : 'p384'}`, parts: [{ role: 'main', algo: { kind: 'ecdsa', curve } }] };
    }
    case 'dual':
      if (param !== undefined) throw bad();
      return {
        text: 'dual',
        parts: [
          { role: 'main', algo: { kind: 'rsa', bits: 2048 } },
          { role: 'ecdsa', algo: { kind: 'ecdsa', curve: 'P-256' } },
        ],
      };
    case 'sm2':
      if (param !== undefined) throw bad();
      return {
        text: 'sm2',
        parts: [
          { role: 'main', algo: { kind: 'ecdsa', curve: 'P-256' } },
          { role: 'sm2-sign', algo: { kind: 'sm2' } },
          { role: 'sm2-enc', algo: { kind: 'sm2' } },
        ],
      };
    default:
      throw bad();
  }
}

/** Generate a private key; PKCS#8 PEM. */
export async function generateKey(algo: KeyAlgo): Promise<string> {
  switch (algo.kind) {
    case 'rsa': {
      const { privateKey } = await genKeyPair('rsa', { modulusLength: algo.bits, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      return privateKey;
    }
    case 'ecdsa': {
      const { privateKey } = await genKeyPair('ec', { namedCurve: algo.curve, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
      return privateKey;
    }
    case 'sm2': {
      // Node's crypto cannot make standard SM2 signatures (sm2.md); sm-crypto does the arithmetic.
      const { generateSm2KeyPair, sm2PrivateKeyToPem } = await import('./sm2.js');
      const { privateKeyHex, publicKeyHex } = generateSm2KeyPair();
      return sm2PrivateKeyToPem(privateKeyHex, publicKeyHex);
    }
  }
}

/**
 * The algorithm of an existing private key (PEM: PKCS#8, PKCS#1 or SEC1), so
 * --reuse-key can check the kept key still matches the lineage's key type.
 * Throws InputError for keys certctl cannot use (other curves, sizes, kinds).
 */
export async function keyAlgoOfPem(pem: string): Promise<KeyAlgo> {
  const { fromPem } = await import('./der.js');
  const { isSm2Pkcs8, readSm2PrivateKey } = await import('./sm2.js');
  const { label, der } = fromPem(pem);
  if ((label === 'PRIVATE KEY' && isSm2Pkcs8(der)) || label === 'EC PRIVATE KEY') {
    try {
      readSm2PrivateKey(pem);
      return { kind: 'sm2' };
    } catch {
      if (label === 'PRIVATE KEY') throw new InputError('The SM2 private key is damaged (its public key does not match, or its scalar is out of range).');
      /* an EC key on another curve: node:crypto below */
    }
  }
  const { createPrivateKey } = await import('node:crypto');
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new InputError(`The private key could not be read: ${(err as Error).message}.`, 'Give an unencrypted PEM private key.');
  }
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa' && (d.modulusLength === 2048 || d.modulusLength === 3072 || d.modulusLength === 4096)) {
    return { kind: 'rsa', bits: d.modulusLength };
  }
  if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'prime256v1') return { kind: 'ecdsa', curve: 'P-256' };
  if (key.asymmetricKeyType === 'ec' && d.namedCurve === 'secp384r1') return { kind: 'ecdsa', curve: 'P-384' };
  throw new InputError(
    `The private key is ${key.asymmetricKeyType ?? 'of an unknown type'}${d.modulusLength ? ` ${d.modulusLength} bits` : d.namedCurve ? ` on ${d.namedCurve}` : ''}, which certctl does not issue for.`,
    'Use an RSA 2048/3072/4096, ECDSA P-256/P-384 or SM2 key, or let certctl generate one.',
  );
}

/** The --key-type text for one algorithm ("rsa:2048", "ecdsa:p256", "sm2"). */
export function keyAlgoText(algo: KeyAlgo): string {
  return algo.kind === 'rsa' ? `rsa:${algo.bits}` : algo.kind === 'ecdsa' ? `ecdsa:${algo.curve === 'P-256' ? 'p256' : 'p384'}` : 'sm2';
}

/**
 * A PKCS#10 CSR (PEM) for these names, signed with the key. The first name is
 * the CN; every name is in the SAN. `usage` picks the SM2 key's role (the
 * signing or the encryption certificate of the dual pair); RSA and ECDSA
 * ignore it. Throws InputError if the key is not of the kind `algo` says.
 */
export async function createCsr(keyPem: string, names: string[], algo: KeyAlgo, usage: 'sign' | 'enc' = 'sign'): Promise<string> {
  const { buildCsr, nodeSigner, KEY_USAGES } = await import('./csr.js');
  if (algo.kind === 'sm2') {
    const { sm2Signer } = await import('./sm2.js');
    return buildCsr(names, KEY_USAGES[usage === 'enc' ? 'sm2-enc' : 'sm2-sign'], sm2Signer(keyPem));
  }
  return buildCsr(names, KEY_USAGES[algo.kind], nodeSigner(keyPem, algo));
}
