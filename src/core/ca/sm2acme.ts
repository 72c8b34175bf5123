/**
 * The SM2 ACME Service profile (`--ca sm2acme`): everything certctl does
 * differently for the SM2 three-certificate bundle lives here, so adapting to
 * the service's real API once it is published (seed 004) touches this module.
 * The dialect is described in docs/sm2.md; the project's test server
 * (testkit/sm2-acme-server.ts) implements it.
 *
 * What certctl assumes (RFC 8555 plus one order field):
 *  - The bundle is three ordinary orders for the same names (obtain.ts):
 *    role `main` (ECDSA P-256 CSR), `sm2-sign` (SM2 CSR, keyUsage
 *    digitalSignature + nonRepudiation), `sm2-enc` (SM2 CSR, keyUsage
 *    keyEncipherment + dataEncipherment + keyAgreement). The CA tells the
 *    certificates apart by the CSR's key and key usage.
 *  - Encryption key, either way:
 *    a) the CA certifies the key of the client's encryption CSR; or
 *    b) the CA's key management centre makes the pair (GM/T 0009): the valid
 *       encryption order then carries `"envelopedKey": "<url>"`; a POST-as-GET
 *       of that URL returns a PEM block `SM2 ENVELOPED KEY` holding the DER
 *       SM2EnvelopedKey, encrypted to the public key of the SIGNING CSR.
 *    certctl always sends an encryption CSR (a CA of kind a needs it; one of
 *    kind b ignores its key) and looks for `envelopedKey` on the valid order,
 *    so one client serves both. With an envelope the key is opened with the
 *    signing private key and checked against the encryption certificate.
 *
 * Files in the lineage (besides the ECDSA cert/chain/fullchain/privkey.pem):
 *  sign.pem (signing leaf + chain), sign.key, enc.pem (encryption leaf),
 *  enc.key, sm2-chain.pem (the SM2 chain alone; no digit may end a base name: the store reads trailing digits as the version), double_certs.pem (signing
 *  leaf, encryption leaf, then the chain: GmSSL `tlcp_server -cert`).
 *  Keys are written 0600 by the store (`secret`).
 *
 * Heavy modules (sm-crypto, node-forge) are imported inside the functions:
 * obtain.ts imports this module for every key type.
 */
import type { VersionFile } from '../store/lineage.js';
import { splitPemChain } from '../x509.js';
import { CertctlError, ExitCode } from '../errors.js';

/** The order field naming the enveloped-key resource (variant b). */
export const ENVELOPED_KEY_FIELD = 'envelopedKey';
/** PEM label of the enveloped-key resource's body. */
export const ENVELOPED_KEY_PEM_LABEL = 'SM2 ENVELOPED KEY';

export type Sm2Role = 'sm2-sign' | 'sm2-enc';

export function isSm2Role(role: string): role is Sm2Role {
  return role === 'sm2-sign' || role === 'sm2-enc';
}

/** Files of one SM2 part of a version (filesForPart delegates here for sm2-sign / sm2-enc). */
export function sm2PartFiles(role: Sm2Role, keyPem: string, chainPem: string): VersionFile[] {
  const certs = splitPemChain(chainPem);
  const leaf = certs[0] ?? '';
  const chain = certs.slice(1).join('');
  if (role === 'sm2-sign') {
    return [
      { base: 'sign', ext: '.pem', data: leaf + chain },
      { base: 'sign', ext: '.key', data: keyPem, secret: true },
      { base: 'sm2-chain', ext: '.pem', data: chain },
    ];
  }
  return [
    { base: 'enc', ext: '.pem', data: leaf },
    { base: 'enc', ext: '.key', data: keyPem, secret: true },
  ];
}

interface OrderWhere {
  orderId?: number;
  lineage?: string;
}

/**
 * The download-step hook (order.ts): for an encryption part whose valid
 * order names an enveloped key, fetch it (POST-as-GET) and return the DER.
 * Nothing for other parts or CAs that certify the client's CSR key.
 */
/** What fetchEnvelopedKey needs of an ACME session (acme/session.ts Session has it): one POST-as-GET. */
export interface PostAsGetter {
  postAsGet(endpoint: string, url: string, where?: OrderWhere): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }>;
}

export async function fetchEnvelopedKey(session: PostAsGetter, role: string, order: object, where: OrderWhere): Promise<Buffer | undefined> {
  if (role !== 'sm2-enc') return undefined;
  const url = (order as Record<string, unknown>)[ENVELOPED_KEY_FIELD];
  if (typeof url !== 'string' || url === '') return undefined;
  const resp = await session.postAsGet('envelopedKey', url, where);
  return envelopeDer(resp.data as unknown);
}

/** The DER inside the enveloped-key resource's body (PEM text; a Buffer of it is accepted too). */
export function envelopeDer(body: unknown): Buffer {
  const text = Buffer.isBuffer(body) ? body.toString('latin1') : typeof body === 'string' ? body : '';
  const m = new RegExp(`-----BEGIN ${ENVELOPED_KEY_PEM_LABEL}-----([\\s\\S]*?)-----END ${ENVELOPED_KEY_PEM_LABEL}-----`).exec(text);
  if (!m) {
    throw new CertctlError(
      `The CA's enveloped-key resource did not answer a "${ENVELOPED_KEY_PEM_LABEL}" PEM block.`,
      ExitCode.CA_ERROR,
      'certctl expects the format in docs/sm2.md; the order stays journalled and is resumed on the next run.',
    );
  }
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** What the bundle step needs of a part (PartResult of order.ts). */
export interface BundlePart {
  role: string;
  keyPem: string;
  chainPem: string;
  facts: { keyType: string };
  envelopedKey?: Buffer;
}

/** keys/sm2.ts sm2PublicKeyOfCert, loaded when first needed (sm-crypto and node-forge only for SM2 work). */
export async function sm2PublicKeyOfCert(certPem: string): Promise<string | null> {
  return (await import('../keys/sm2.js')).sm2PublicKeyOfCert(certPem);
}

/**
 * The bundle-level step after every part is downloaded (obtain.ts): open an
 * enveloped encryption key with the signing key, check each SM2 key belongs
 * to its certificate, name the SM2 key type for the ledger, and add the
 * files that need both parts (double_certs.pem). A no-op without SM2 parts.
 */
export async function sm2BundleStep<P extends BundlePart>(parts: P[]): Promise<{ parts: P[]; files: VersionFile[] }> {
  if (!parts.some((p) => isSm2Role(p.role))) return { parts, files: [] };
  const { readSm2PrivateKey } = await import('../keys/sm2.js');
  const sign = parts.find((p) => p.role === 'sm2-sign');
  const out: P[] = [];
  for (const p of parts) {
    if (!isSm2Role(p.role)) {
      out.push(p);
      continue;
    }
    let keyPem = p.keyPem;
    if (p.envelopedKey) {
      if (!sign) throw new CertctlError('The CA sent an enveloped encryption key, but this request has no SM2 signing certificate to open it with.', ExitCode.CA_ERROR);
      const { openEnvelopedKey } = await import('../keys/envelope.js');
      keyPem = openEnvelopedKey(p.envelopedKey, sign.keyPem).privateKeyPem;
    }
    const leaf = splitPemChain(p.chainPem)[0] ?? '';
    const certKey = await sm2PublicKeyOfCert(leaf);
    const what = p.role === 'sm2-sign' ? 'signing' : 'encryption';
    if (!certKey) throw new CertctlError(`The CA's SM2 ${what} certificate does not hold an SM2 public key.`, ExitCode.CA_ERROR, 'Report this to the CA with the order URL (certctl status --orders).');
    if (readSm2PrivateKey(keyPem).publicKeyHex !== certKey) {
      throw new CertctlError(
        `The CA's SM2 ${what} certificate is for another key than ${p.envelopedKey ? 'the one in its enveloped key' : 'certctl’s CSR'}.`,
        ExitCode.CA_ERROR,
        p.role === 'sm2-enc' && !p.envelopedKey ? 'The CA seems to make the encryption key itself but sent no envelopedKey (docs/sm2.md); nothing was stored.' : 'Report this to the CA with the order URL; nothing was stored.',
      );
    }
    out.push({ ...p, keyPem, facts: { ...p.facts, keyType: 'sm2' } });
  }
  const files: VersionFile[] = [];
  const s = out.find((p) => p.role === 'sm2-sign');
  const e = out.find((p) => p.role === 'sm2-enc');
  if (s && e) {
    const sc = splitPemChain(s.chainPem);
    const ec = splitPemChain(e.chainPem);
    files.push({ base: 'double_certs', ext: '.pem', data: (sc[0] ?? '') + (ec[0] ?? '') + sc.slice(1).join('') });
  }
  return { parts: out, files };
}
