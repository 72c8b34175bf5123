/**
 * Certificate keys and CSRs per key type. RSA and ECDSA keys come from
 * Node's own crypto (OpenSSL underneath: fast), never from a pure-JS generator.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { InputError } from '../errors.js';

const genKeyPair = promisify(generateKeyPair);

/** A concrete key algorithm for one certificate. */
export type KeyAlgo = { kind: 'rsa'; bits: 2048 | 3072 | 4096 } | { kind: 'ecdsa'; curve: 'P-256' | 'P-384' } | { kind: 'sm2' };

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
    case 'sm2':
      throw new InputError('SM2 keys are not supported yet.');
  }
}

/** A PKCS#10 CSR (PEM) for these names, signed with the key. The first name is the CN. */
export async function createCsr(keyPem: string, names: string[], _algo: KeyAlgo): Promise<string> {
  const acme = (await import('acme-client')).default;
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, keyPem);
  return csr.toString();
}
