/**
 * SM2EnvelopedKey (GM/T 0009 §7.4, GB/T 35276): how an SM2 CA's key
 * management centre delivers the encryption key pair it generated for a
 * subscriber. The SM4 key that encrypts the private key is itself
 * SM2-encrypted to the subscriber's *signing* public key, so only the holder
 * of the signing private key can open it.
 *
 *   SM2EnvelopedKey ::= SEQUENCE {
 *     symAlgID               AlgorithmIdentifier,   -- SM4-ECB 1.2.156.10197.1.104.1
 *     symEncryptedKey        SM2Cipher,             -- the 16-byte SM4 key
 *     sm2PublicKey           BIT STRING,            -- 04 || X || Y of the encryption key
 *     sm2EncryptedPrivateKey BIT STRING }           -- SM4-ECB(d), no padding
 *   SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (32), ciphertext OCTET STRING }
 *
 * sm-crypto speaks SM2 ciphertexts as hex C1 || C3 || C2 (mode 1), i.e.
 * x || y || hash || ciphertext with x and y 32 bytes each.
 */
import { randomBytes } from 'node:crypto';
import smCrypto from 'sm-crypto';
import forge from 'node-forge';
import { CertctlError, ExitCode } from '../errors.js';
import { bitBytes, bitString, children, fromDer, octets, oid, oidOf, prim, seq, toDer, uint, uintBytes } from './der.js';
import { readSm2PrivateKey, sm2PrivateKeyToPem, sm2PublicKeyOf } from './sm2.js';

const { sm2, sm4 } = smCrypto;
const T = forge.asn1.Type;

export const SM4_ECB_OID = '1.2.156.10197.1.104.1';

/** The CA sent an enveloped key certctl cannot open or that does not hold together. */
export class EnvelopedKeyError extends CertctlError {
  constructor(why: string) {
    super(
      `The SM2 encryption key sent by the CA could not be opened: ${why}.`,
      ExitCode.CA_ERROR,
      'The key must be an SM2EnvelopedKey (GM/T 0009) encrypted to this lineage\'s SM2 signing key; report this to the CA with the order URL.',
    );
  }
}

export interface OpenedKey {
  /** The encryption private key, PKCS#8 PEM (as generateKey writes SM2 keys). */
  privateKeyPem: string;
  /** 04 || X || Y hex, checked against the private key. */
  publicKeyHex: string;
}

/**
 * Open an SM2EnvelopedKey with the subscriber's signing private key (hex d,
 * or its PEM). Verifies the decrypted private key belongs to sm2PublicKey.
 */
export function openEnvelopedKey(der: Buffer, signKey: string): OpenedKey {
  const signPrivHex = signKey.includes('-----BEGIN') ? readSm2PrivateKey(signKey).privateKeyHex : signKey.toLowerCase();
  let fields;
  try {
    fields = children(fromDer(der), 'SM2EnvelopedKey');
  } catch (err) {
    throw new EnvelopedKeyError(`it is not DER (${(err as Error).message})`);
  }
  if (fields.length !== 4) throw new EnvelopedKeyError(`it has ${fields.length} fields, not 4`);
  const [symAlg, cipher, pubNode, encPriv] = fields;
  let symKey: number[];
  let publicKeyHex: string;
  let sealed: Buffer;
  try {
    const algFields = children(symAlg, 'symAlgID');
    const algOid = oidOf(algFields[0], 'symAlgID');
    if (algOid !== SM4_ECB_OID) throw new EnvelopedKeyError(`its symmetric algorithm is ${algOid}, not SM4-ECB (${SM4_ECB_OID})`);
    const [x, y, hash, ct] = children(cipher, 'SM2Cipher');
    const hashBytes = prim(hash, T.OCTETSTRING, 'SM2Cipher.hash');
    if (hashBytes.length !== 32) throw new Error('SM2Cipher.hash is not 32 bytes');
    const c1c3c2 = Buffer.concat([uintBytes(x, 32, 'SM2Cipher.x'), uintBytes(y, 32, 'SM2Cipher.y'), hashBytes, prim(ct, T.OCTETSTRING, 'SM2Cipher.ciphertext')]);
    symKey = sm2.doDecrypt(c1c3c2.toString('hex'), signPrivHex, 1, { output: 'array' });
    publicKeyHex = bitBytes(pubNode, 'sm2PublicKey').toString('hex');
    sealed = bitBytes(encPriv, 'sm2EncryptedPrivateKey');
  } catch (err) {
    if (err instanceof EnvelopedKeyError) throw err;
    throw new EnvelopedKeyError(`its structure is wrong (${(err as Error).message})`);
  }
  // sm-crypto returns [] when C3 (the SM3 check value) does not match: wrong key or damaged ciphertext.
  if (symKey.length !== 16) throw new EnvelopedKeyError('the SM4 key does not decrypt with this signing key (wrong key, or damaged)');
  if (sealed.length === 0 || sealed.length % 16 !== 0) throw new EnvelopedKeyError(`the encrypted private key is ${sealed.length} bytes, not whole SM4 blocks`);
  const plain = Buffer.from(sm4.decrypt(sealed, symKey, { padding: 'none', output: 'array' }));
  const d = scalarOf(plain);
  if (!d) throw new EnvelopedKeyError(`the decrypted private key is ${plain.length} bytes and not a 32-byte scalar`);
  let derived: string;
  try {
    derived = sm2PublicKeyOf(d);
  } catch {
    throw new EnvelopedKeyError('the decrypted private key is out of range');
  }
  if (derived !== publicKeyHex.toLowerCase()) throw new EnvelopedKeyError('the decrypted private key does not match sm2PublicKey');
  return { privateKeyPem: sm2PrivateKeyToPem(d, derived), publicKeyHex: derived };
}

/**
 * The 32-byte scalar inside the SM4 plaintext. GM/T 0009 encrypts the bare
 * 32 bytes; some implementations left-pad to 64 (SKF ENVELOPEDKEYBLOB) or
 * add PKCS#7 padding (48). Anything else is refused.
 */
function scalarOf(plain: Buffer): string | null {
  if (plain.length === 32) return plain.toString('hex');
  if (plain.length === 64 && plain.subarray(0, 32).every((b) => b === 0)) return plain.subarray(32).toString('hex');
  if (plain.length === 48 && plain.subarray(32).every((b) => b === 16)) return plain.subarray(0, 32).toString('hex');
  return null;
}

/**
 * Seal an encryption key pair for a subscriber, as a CA's key management
 * centre would. certctl itself never needs this; the project's SM2 test
 * server and the tests do.
 */
export function makeEnvelopedKey(encPrivHex: string, encPubHex: string, recipientSignPubHex: string): Buffer {
  if (sm2PublicKeyOf(encPrivHex) !== encPubHex.toLowerCase()) throw new Error('makeEnvelopedKey: encPubHex is not the public key of encPrivHex');
  const symKey = randomBytes(16);
  const c1c3c2 = Buffer.from(sm2.doEncrypt(symKey, recipientSignPubHex, 1), 'hex');
  const sealed = Buffer.from(sm4.encrypt(Buffer.from(encPrivHex.padStart(64, '0'), 'hex'), symKey, { padding: 'none', output: 'array' }));
  return toDer(
    seq(
      seq(oid(SM4_ECB_OID)),
      seq(uint(c1c3c2.subarray(0, 32)), uint(c1c3c2.subarray(32, 64)), octets(c1c3c2.subarray(64, 96)), octets(c1c3c2.subarray(96))),
      bitString(Buffer.from(encPubHex, 'hex')),
      bitString(sealed),
    ),
  );
}
