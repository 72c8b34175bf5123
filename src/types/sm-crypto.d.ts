// sm-crypto ships no types; this declares the part certctl uses (src/core/keys/).
// Binary inputs must be byte arrays (Buffer / Uint8Array / number[]): a string
// is read as UTF-8 text, never as hex (see docs in /shared/reference/sm2.md).
declare module 'sm-crypto' {
  type Bytes = Uint8Array | number[];
  /** jsbn BigInteger, opaque to certctl except for construction from hex. */
  interface BigIntegerLike {
    toString(radix?: number): string;
  }
  interface SignOptions {
    /** Hash with SM3(Z || msg) before signing (Z from userId and the public key). */
    hash?: boolean;
    /** DER `SEQUENCE { r, s }` instead of r || s. */
    der?: boolean;
    publicKey?: string;
    userId?: string;
    /** Pre-computed (k, x1 = (k·G).x) pairs, consumed from the end. */
    pointPool?: { k: BigIntegerLike; x1: BigIntegerLike }[];
  }
  interface Sm2 {
    /** With (hex, 16): d = (hex mod (n-1)) + 1, so the caller supplies the randomness. */
    generateKeyPairHex(a?: string, b?: number): { privateKey: string; publicKey: string };
    getPublicKeyFromPrivateKey(privateKey: string): string;
    getPoint(): { privateKey: string; publicKey: string; k: BigIntegerLike; x1: BigIntegerLike };
    verifyPublicKey(publicKey: string): boolean;
    doSignature(msg: Bytes, privateKey: string, options?: SignOptions): string;
    doVerifySignature(msg: Bytes, signHex: string, publicKey: string, options?: { hash?: boolean; der?: boolean; userId?: string }): boolean;
    /** cipherMode 1 = C1C3C2 (hex, C1 without the 04 prefix), 0 = C1C2C3. */
    doEncrypt(msg: Bytes, publicKey: string, cipherMode?: 0 | 1): string;
    doDecrypt(encryptData: string, privateKey: string, cipherMode: 0 | 1, options: { output: 'array' }): number[];
  }
  interface Sm4Options {
    padding?: 'pkcs#7' | 'pkcs#5' | 'none';
    mode?: 'ecb' | 'cbc';
    iv?: string | Bytes;
    output: 'array';
  }
  interface Sm4 {
    encrypt(input: Bytes, key: string | Bytes, options: Sm4Options): number[];
    decrypt(input: Bytes, key: string | Bytes, options: Sm4Options): number[];
  }
  const smCrypto: { sm2: Sm2; sm3: (input: Bytes) => string; sm4: Sm4 };
  export default smCrypto;
}
