/**
 * certctl's SM2 ACME test server — a TEST SERVER, not a CA.
 *
 * Pebble cannot parse SM2 keys, and the SM2 ACME Service has not published
 * its API (seed 004), so the SM2 bundle is tested against this: a minimal
 * RFC 8555 server speaking exactly the dialect docs/sm2.md defines.
 *
 *  - HTTPS on a free loopback port with a TLS certificate made by openssl
 *    for this run (trust it with --ca-bundle `tlsCert`).
 *  - directory, newNonce (HEAD/GET; Replay-Nonce on every response),
 *    newAccount, newOrder, authorizations, challenges, finalize, order
 *    polling, certificate download. Every POST is a flattened JWS verified
 *    with node:crypto (ES256/ES384/RS256, `jwk` for newAccount and `kid`
 *    afterwards), with single-use nonces and the `url` header checked.
 *  - REAL http-01 validation: the name is resolved through the given DNS
 *    server (pebble-challtestsrv in the tests) and
 *    http://<name>:<httpPort>/.well-known/acme-challenge/<token> must answer
 *    token.thumbprint.
 *  - finalize parses the CSR with node-forge's asn1, checks its names equal
 *    the order's and verifies its signature (SM2 with certctl's
 *    verifySm2Csr; RSA/ECDSA with node:crypto), picks the role from the
 *    CSR (SM2 + digitalSignature → signing, SM2 + keyEncipherment →
 *    encryption, else the RSA/ECC certificate) and issues with the OpenSSL 3
 *    CLI: SM2 leaves from an SM2 root (SM3withSM2, ID 1234567812345678;
 *    the root is the chain), RSA/ECDSA leaves from an ECDSA root → intermediate.
 *  - `envelopedKey: true`: for the encryption certificate the server makes
 *    the SM2 key pair itself (openssl genpkey), issues the certificate for
 *    it, and offers the private key as an SM2EnvelopedKey encrypted to the
 *    subscriber's SIGNING public key, taken from the signing order's CSR of
 *    the same account and identifiers. The order object then carries
 *    `"envelopedKey": "<url>"`; POST-as-GET of that URL answers
 *    `application/x-pem-file` with a `-----BEGIN SM2 ENVELOPED KEY-----`
 *    block (DER inside). If the signing CSR has not arrived yet, the
 *    encryption order stays `processing` until it does.
 *
 * Counters (`stats`) let tests assert how many finalize calls, orders and
 * certificates reached it.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { freePort } from './ports.js';
import { children, fromDer, firstElementBytes, oidOf, prim, bitBytes, toDer, toPem, type Asn1 } from '../src/core/keys/der.js';
import { verifySm2Csr, readSm2PrivateKey, SM2_OID, SM2_DEFAULT_ID } from '../src/core/keys/sm2.js';
import { makeEnvelopedKey } from '../src/core/keys/envelope.js';
import { ENVELOPED_KEY_FIELD, ENVELOPED_KEY_PEM_LABEL } from '../src/core/ca/sm2acme.js';

const run = promisify(execFile);
const T = forge.asn1.Type;


export interface Sm2AcmeServerOptions {
  /** DNS server ("host:port") the server resolves names through for http-01. */
  resolver: string;
  /** Port http-01 is fetched on (the webroot server's). */
  httpPort: number;
  /** Deliver the encryption key as an SM2EnvelopedKey instead of certifying the client's CSR key. */
  envelopedKey?: boolean;
}

export type IssuedRole = 'main' | 'sm2-sign' | 'sm2-enc';

export interface Sm2AcmeServer {
  directoryUrl: string;
  /** PEM file of the HTTPS certificate (pass as --ca-bundle). */
  tlsCert: string;
  /** PEM file: the SM2 root; it signs the SM2 leaves and is their chain (verify with -vfyopt distid:…). */
  sm2Root: string;
  /** PEM file: the ECDSA root for the RSA/ECC certificate (issued by an intermediate). */
  ecRoot: string;
  stats: {
    accounts: number;
    orders: number;
    finalize: number;
    /** POST-as-GET reads of an order (a client polling it). This server issues during finalize and answers it valid, so a client needs none. */
    orderReads: number;
    validations: number;
    issued: { role: IssuedRole; serial: string; names: string[]; enveloped: boolean }[];
    envelopesServed: number;
  };
  stop(): Promise<void>;
}

interface Account {
  id: number;
  url: string;
  key: crypto.KeyObject;
  thumbprint: string;
  contact: string[];
}
interface Challenge {
  id: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  validated?: string;
  error?: Problem;
}
interface Authz {
  id: string;
  accountId: number;
  identifier: { type: 'dns'; value: string };
  status: 'pending' | 'valid' | 'invalid';
  expires: string;
  challenge: Challenge;
}
interface Order {
  id: string;
  accountId: number;
  identifiers: { type: 'dns'; value: string }[];
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  expires: string;
  authzIds: string[];
  certId?: string;
  envelopeId?: string;
  /** The key management centre is making this order's key and certificate. */
  issuing?: boolean;
  error?: Problem;
  /** Set at finalize. */
  role?: IssuedRole;
  csrDer?: Buffer;
  /** SM2 signing public key of a finalized signing order (04||X||Y hex). */
  signPubHex?: string;
}
interface Problem {
  type: string;
  detail: string;
  status?: number;
}

class AcmeFail extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    detail: string,
  ) {
    super(detail);
  }
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  rsaSha256: '1.2.840.113549.1.1.11',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
};

const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** RFC 7638 thumbprint of a public JWK. */
function jwkThumbprint(jwk: Record<string, string>): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return b64u(crypto.createHash('sha256').update(JSON.stringify(members)).digest());
}

async function openssl(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('openssl', args, { cwd, encoding: 'utf8' });
  return stdout;
}

const DISTID = `distid:${SM2_DEFAULT_ID}`;

/**
 * A CA of one kind, made with the OpenSSL 3 CLI: the file names of its root,
 * of the issuing certificate and key, and of what is sent as the chain.
 * ECDSA: root → intermediate → leaves; the chain is the intermediate.
 * SM2: the root signs the leaves and is sent as the chain ("sign cert, enc
 * cert, CA" in double_certs.pem), because `openssl verify -vfyopt distid:…`
 * of OpenSSL 3.0 applies the ID to the target certificate only and cannot
 * verify an SM2 intermediate's signature (seen here: error 7 at depth 1).
 */
async function makeCa(dir: string, kind: 'sm2' | 'ec'): Promise<{ rootPem: string; issuerKey: string; issuerPem: string; chainPem: string }> {
  const gen = kind === 'sm2' ? ['genpkey', '-algorithm', 'SM2'] : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const sig = kind === 'sm2' ? ['-sm3', '-sigopt', DISTID] : ['-sha256'];
  const name = kind === 'sm2' ? 'SM2' : 'ECDSA';
  const f = (n: string) => path.join(dir, `${kind}-${n}`);
  await openssl([...gen, '-out', f('root.key')], dir);
  await openssl(
    ['req', '-new', '-x509', '-key', f('root.key'), ...sig, '-days', '30', '-subj', `/CN=certctl test ${name} root`, '-addext', 'basicConstraints=critical,CA:true', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', f('root.pem')],
    dir,
  );
  if (kind === 'sm2') return { rootPem: f('root.pem'), issuerKey: f('root.key'), issuerPem: f('root.pem'), chainPem: f('root.pem') };
  await openssl([...gen, '-out', f('int.key')], dir);
  await openssl(['req', '-new', '-key', f('int.key'), ...sig, '-subj', `/CN=certctl test ${name} intermediate`, '-out', f('int.csr')], dir);
  fs.writeFileSync(f('int.ext'), 'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await openssl(
    ['x509', '-req', '-in', f('int.csr'), '-CA', f('root.pem'), '-CAkey', f('root.key'), '-CAcreateserial', ...sig, '-days', '30', '-extfile', f('int.ext'), '-out', f('int.pem')],
    dir,
  );
  return { rootPem: f('root.pem'), issuerKey: f('int.key'), issuerPem: f('int.pem'), chainPem: f('int.pem') };
}

/** What finalize needs to know about a CSR. */
interface CsrInfo {
  kind: 'sm2' | 'other';
  names: string[];
  usages: Set<string>;
  /** SM2 public key, 04||X||Y hex. */
  sm2PubHex?: string;
}

const KU_BITS = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];

/** Parse (and verify) a PKCS#10 CSR with node-forge's asn1; throws AcmeFail badCSR. */
function readCsr(der: Buffer): CsrInfo {
  const bad = (why: string) => new AcmeFail(400, 'urn:ietf:params:acme:error:badCSR', `CSR rejected: ${why}`);
  let info: Asn1, alg: Asn1, sig: Asn1;
  try {
    [info, alg, sig] = children(fromDer(der), 'CertificationRequest') as [Asn1, Asn1, Asn1];
  } catch (err) {
    throw bad(`not a DER CertificationRequest (${(err as Error).message})`);
  }
  const fields = children(info, 'CertificationRequestInfo');
  const spki = fields[2]!;
  const [spkiAlg, spkiKey] = children(spki, 'SubjectPublicKeyInfo');
  const algParts = children(spkiAlg, 'AlgorithmIdentifier');
  const isSm2 = oidOf(algParts[0], 'algorithm') === SM2_OID.ecPublicKey && algParts[1]?.type === T.OID && oidOf(algParts[1], 'curve') === SM2_OID.curve;
  const sigAlg = oidOf(children(alg, 'signatureAlgorithm')[0], 'signatureAlgorithm');
  let sm2PubHex: string | undefined;
  if (isSm2) {
    if (sigAlg !== SM2_OID.sm3WithSm2) throw bad(`an SM2 key must sign with SM3withSM2, not ${sigAlg}`);
    if (!verifySm2Csr(toPem('CERTIFICATE REQUEST', der))) throw bad('the SM2 signature does not verify (ID 1234567812345678)');
    sm2PubHex = bitBytes(spkiKey, 'subjectPublicKey').toString('hex');
  } else {
    const hash = sigAlg === OID.ecdsaSha256 || sigAlg === OID.rsaSha256 ? 'sha256' : sigAlg === OID.ecdsaSha384 ? 'sha384' : null;
    if (!hash) throw bad(`unsupported signature algorithm ${sigAlg}`);
    const pub = crypto.createPublicKey({ key: toDer(spki), format: 'der', type: 'spki' });
    const ok = crypto.verify(hash, firstElementBytes(der), pub, bitBytes(sig, 'signature'));
    if (!ok) throw bad('the signature does not verify');
  }
  // Attributes [0]: extensionRequest → subjectAltName dNSNames, keyUsage bits.
  const names: string[] = [];
  const usages = new Set<string>();
  const attrs = fields[3];
  if (attrs && attrs.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && Array.isArray(attrs.value)) {
    for (const attr of attrs.value as Asn1[]) {
      const [type, values] = children(attr, 'Attribute');
      if (oidOf(type, 'attribute type') !== OID.extensionRequest) continue;
      const exts = children(children(values, 'attribute values', T.SET)[0], 'Extensions');
      for (const ext of exts) {
        const parts = children(ext, 'Extension');
        const id = oidOf(parts[0], 'extnID');
        const value = fromDer(prim(parts[parts.length - 1], T.OCTETSTRING, 'extnValue'));
        if (id === OID.subjectAltName) {
          for (const gn of value.value as Asn1[]) {
            if (gn.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && gn.type === 2) names.push(String(gn.value).toLowerCase());
          }
        } else if (id === OID.keyUsage) {
          const bits = prim(value, T.BITSTRING, 'keyUsage');
          for (let i = 0; i < KU_BITS.length; i++) {
            const byte = bits[1 + (i >> 3)] ?? 0;
            if (byte & (0x80 >> (i & 7))) usages.add(KU_BITS[i]!);
          }
        }
      }
    }
  }
  return { kind: isSm2 ? 'sm2' : 'other', names, usages, sm2PubHex };
}

function extFile(role: IssuedRole, names: string[]): string {
  const ku =
    role === 'sm2-sign' ? 'critical,digitalSignature,nonRepudiation' : role === 'sm2-enc' ? 'keyEncipherment,dataEncipherment,keyAgreement' : 'critical,digitalSignature';
  return [
    'basicConstraints=critical,CA:false',
    `keyUsage=${ku}`,
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectKeyIdentifier=hash',
    'authorityKeyIdentifier=keyid',
    `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    '',
  ].join('\n');
}

export async function startSm2AcmeServer(opts: Sm2AcmeServerOptions): Promise<Sm2AcmeServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-sm2acme-'));
  const tlsCert = path.join(dir, 'api-cert.pem');
  const tlsKey = path.join(dir, 'api-key.pem');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', tlsKey, '-out', tlsCert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  const [sm2Ca, ecCa] = await Promise.all([makeCa(dir, 'sm2'), makeCa(dir, 'ec')]);

  const port = await freePort();
  const base = `https://127.0.0.1:${port}`;
  const resolver = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([opts.resolver]);

  const nonces = new Set<string>();
  const accounts = new Map<number, Account>();
  const orders = new Map<string, Order>();
  const authzs = new Map<string, Authz>();
  const certs = new Map<string, string>();
  const envelopes = new Map<string, Buffer>();
  const stats: Sm2AcmeServer['stats'] = { accounts: 0, orders: 0, finalize: 0, orderReads: 0, validations: 0, issued: [], envelopesServed: 0 };
  let seq = 0;
  const id = () => `${++seq}${crypto.randomBytes(6).toString('hex')}`;
  const newNonce = () => {
    const n = b64u(crypto.randomBytes(16));
    nonces.add(n);
    return n;
  };
  const dirDoc = {
    newNonce: `${base}/nonce`,
    newAccount: `${base}/new-account`,
    newOrder: `${base}/new-order`,
    revokeCert: `${base}/revoke`,
    keyChange: `${base}/key-change`,
    meta: { website: 'https://github.com/certctl (test server)', termsOfService: `${base}/terms` },
  };

  const orderJson = (o: Order) => ({
    status: o.status,
    expires: o.expires,
    identifiers: o.identifiers,
    authorizations: o.authzIds.map((a) => `${base}/authz/${a}`),
    finalize: `${base}/order/${o.id}/finalize`,
    ...(o.certId ? { certificate: `${base}/cert/${o.certId}` } : {}),
    ...(o.envelopeId ? { [ENVELOPED_KEY_FIELD]: `${base}/enveloped-key/${o.envelopeId}` } : {}),
    ...(o.error ? { error: o.error } : {}),
  });
  const authzJson = (a: Authz) => ({
    status: a.status,
    expires: a.expires,
    identifier: a.identifier,
    challenges: [
      {
        type: 'http-01',
        url: `${base}/chall/${a.id}`,
        token: a.challenge.token,
        status: a.challenge.status,
        ...(a.challenge.validated ? { validated: a.challenge.validated } : {}),
        ...(a.challenge.error ? { error: a.challenge.error } : {}),
      },
    ],
  });

  /** Verify a flattened JWS; returns the payload (null for POST-as-GET) and the account or the new key. */
  function verifyJws(body: string, url: string, newAccount: boolean): { payload: Record<string, unknown> | null; account?: Account; jwk?: Record<string, string> } {
    const malformed = (d: string) => new AcmeFail(400, 'urn:ietf:params:acme:error:malformed', d);
    let jws: { protected?: string; payload?: string; signature?: string };
    try {
      jws = JSON.parse(body);
    } catch {
      throw malformed('the body is not JSON');
    }
    if (typeof jws.protected !== 'string' || typeof jws.payload !== 'string' || typeof jws.signature !== 'string') throw malformed('not a flattened JWS');
    let header: { alg?: string; nonce?: string; url?: string; jwk?: Record<string, string>; kid?: string };
    try {
      header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
    } catch {
      throw malformed('the protected header is not JSON');
    }
    if (header.url !== url) throw new AcmeFail(401, 'urn:ietf:params:acme:error:unauthorized', `JWS url ${header.url} is not the request URL ${url}`);
    if (!header.nonce || !nonces.delete(header.nonce)) throw new AcmeFail(400, 'urn:ietf:params:acme:error:badNonce', 'unknown or used nonce');
    if (Boolean(header.jwk) === Boolean(header.kid)) throw malformed('exactly one of jwk and kid is required');
    if (newAccount !== Boolean(header.jwk)) throw malformed(newAccount ? 'newAccount needs jwk' : 'use kid, not jwk');
    let key: crypto.KeyObject;
    let account: Account | undefined;
    if (header.jwk) {
      key = crypto.createPublicKey({ key: header.jwk as crypto.JsonWebKey, format: 'jwk' });
    } else {
      account = [...accounts.values()].find((a) => a.url === header.kid);
      if (!account) throw new AcmeFail(400, 'urn:ietf:params:acme:error:accountDoesNotExist', `no account ${header.kid}`);
      key = account.key;
    }
    const data = Buffer.from(`${jws.protected}.${jws.payload}`);
    const sig = Buffer.from(jws.signature, 'base64url');
    let ok: boolean;
    switch (header.alg) {
      case 'ES256':
        ok = crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
        break;
      case 'ES384':
        ok = crypto.verify('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
        break;
      case 'RS256':
        ok = crypto.verify('sha256', data, key, sig);
        break;
      default:
        throw new AcmeFail(400, 'urn:ietf:params:acme:error:badSignatureAlgorithm', `alg ${header.alg} is not supported`);
    }
    if (!ok) throw malformed('the JWS signature does not verify');
    let payload: Record<string, unknown> | null = null;
    if (jws.payload !== '') {
      try {
        payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
      } catch {
        throw malformed('the payload is not JSON');
      }
    }
    return { payload, account, jwk: header.jwk };
  }

  const owned = <X extends { accountId: number }>(x: X | undefined, acct: Account | undefined, what: string): X => {
    if (!x) throw new AcmeFail(404, 'urn:ietf:params:acme:error:malformed', `no such ${what}`);
    if (!acct || x.accountId !== acct.id) throw new AcmeFail(403, 'urn:ietf:params:acme:error:unauthorized', `this ${what} belongs to another account`);
    return x;
  };

  async function validate(a: Authz, acct: Account): Promise<void> {
    stats.validations++;
    const fail = (detail: string, type = 'urn:ietf:params:acme:error:connection') => {
      a.challenge.status = 'invalid';
      a.challenge.error = { type, detail, status: 400 };
      a.status = 'invalid';
    };
    try {
      const ips = await resolver.resolve4(a.identifier.value);
      const ip = ips[0]!;
      const expected = `${a.challenge.token}.${acct.thumbprint}`;
      const body = await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: ip, port: opts.httpPort, path: `/.well-known/acme-challenge/${a.challenge.token}`, headers: { host: a.identifier.value }, timeout: 5000 }, (res) => {
          let b = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (b += d));
          res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`HTTP ${res.statusCode} from ${ip}:${opts.httpPort}`))));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
      if (body.trim() !== expected) return fail(`the key authorization at ${a.identifier.value} is ${JSON.stringify(body.slice(0, 100))}, not the expected one`, 'urn:ietf:params:acme:error:incorrectResponse');
      a.challenge.status = 'valid';
      a.challenge.validated = new Date().toISOString();
      a.status = 'valid';
    } catch (err) {
      fail(`fetching http://${a.identifier.value}:${opts.httpPort}/.well-known/acme-challenge/… failed: ${(err as Error).message}`);
    } finally {
      for (const o of orders.values()) {
        if (o.status !== 'pending' || !o.authzIds.includes(a.id)) continue;
        const all = o.authzIds.map((x) => authzs.get(x)!);
        if (all.some((x) => x.status === 'invalid')) {
          o.status = 'invalid';
          o.error = { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'an authorization failed' };
        } else if (all.every((x) => x.status === 'valid')) o.status = 'ready';
      }
    }
  }

  /** Sign a leaf with the right CA via the OpenSSL CLI; returns leaf + chain PEM. */
  async function sign(role: IssuedRole, csrPem: string, names: string[]): Promise<string> {
    const work = fs.mkdtempSync(path.join(dir, 'leaf-'));
    const csrFile = path.join(work, 'leaf.csr');
    const extFileName = path.join(work, 'ext.cnf');
    fs.writeFileSync(csrFile, csrPem);
    fs.writeFileSync(extFileName, extFile(role, names));
    const ca = role === 'main' ? ecCa : sm2Ca;
    const sig = role === 'main' ? ['-sha256'] : ['-sm3', '-sigopt', DISTID, '-vfyopt', DISTID];
    const serial = '0x' + crypto.randomBytes(12).toString('hex').replace(/^0/, '1');
    await openssl(['x509', '-req', '-in', csrFile, '-CA', ca.issuerPem, '-CAkey', ca.issuerKey, '-set_serial', serial, ...sig, '-days', '90', '-extfile', extFileName, '-out', path.join(work, 'leaf.pem')], work);
    const leaf = fs.readFileSync(path.join(work, 'leaf.pem'), 'utf8');
    fs.rmSync(work, { recursive: true, force: true });
    return leaf + fs.readFileSync(ca.chainPem, 'utf8');
  }

  function record(o: Order, role: IssuedRole, chain: string, enveloped: boolean): void {
    const x = new crypto.X509Certificate(chain);
    o.certId = id();
    certs.set(o.certId, chain);
    o.status = 'valid';
    stats.issued.push({ role, serial: x.serialNumber.toLowerCase(), names: o.identifiers.map((i) => i.value), enveloped });
  }

  /** Encryption orders waiting for their signing CSR (envelope variant): issue those that can be. */
  async function issueWaitingEnc(): Promise<void> {
    if (!opts.envelopedKey) return;
    for (const o of orders.values()) {
      if (o.status !== 'processing' || o.role !== 'sm2-enc' || o.certId || o.issuing) continue;
      const key = setOf(o);
      const signOrder = [...orders.values()].reverse().find((s) => s.accountId === o.accountId && s.role === 'sm2-sign' && s.signPubHex && setOf(s) === key);
      if (!signOrder) continue;
      o.issuing = true;
      try {
        const work = fs.mkdtempSync(path.join(dir, 'kmc-'));
        const keyFile = path.join(work, 'enc.key');
        await openssl(['genpkey', '-algorithm', 'SM2', '-out', keyFile], work);
        await openssl(['req', '-new', '-key', keyFile, '-sm3', '-sigopt', DISTID, '-subj', `/CN=${o.identifiers[0]!.value}`, '-out', path.join(work, 'enc.csr')], work);
        const chain = await sign('sm2-enc', fs.readFileSync(path.join(work, 'enc.csr'), 'utf8'), o.identifiers.map((i) => i.value));
        const { privateKeyHex, publicKeyHex } = readSm2PrivateKey(fs.readFileSync(keyFile, 'utf8'));
        fs.rmSync(work, { recursive: true, force: true });
        o.envelopeId = id();
        envelopes.set(o.envelopeId, makeEnvelopedKey(privateKeyHex, publicKeyHex, signOrder.signPubHex!));
        record(o, 'sm2-enc', chain, true);
      } catch (err) {
        o.status = 'invalid';
        o.error = { type: 'urn:ietf:params:acme:error:serverInternal', detail: `issuing the encryption certificate failed: ${(err as Error).message}` };
      } finally {
        o.issuing = false;
      }
    }
  }

  const setOf = (o: Order) =>
    o.identifiers
      .map((i) => i.value)
      .sort()
      .join(',');

  async function finalize(o: Order, payload: Record<string, unknown> | null): Promise<void> {
    stats.finalize++;
    if (o.status !== 'ready') throw new AcmeFail(403, 'urn:ietf:params:acme:error:orderNotReady', `the order is ${o.status}`);
    if (!payload || typeof payload.csr !== 'string') throw new AcmeFail(400, 'urn:ietf:params:acme:error:malformed', 'finalize needs {"csr": …}');
    const der = Buffer.from(payload.csr, 'base64url');
    const csr = readCsr(der);
    const want = setOf(o);
    const got = [...new Set(csr.names)].sort().join(',');
    if (got !== want) throw new AcmeFail(400, 'urn:ietf:params:acme:error:badCSR', `the CSR names (${got}) are not the order's (${want})`);
    let role: IssuedRole;
    if (csr.kind === 'sm2') {
      if (csr.usages.has('digitalSignature') && !csr.usages.has('keyEncipherment')) role = 'sm2-sign';
      else if (csr.usages.has('keyEncipherment')) role = 'sm2-enc';
      else throw new AcmeFail(400, 'urn:ietf:params:acme:error:badCSR', 'an SM2 CSR must ask for keyUsage digitalSignature (signing) or keyEncipherment (encryption)');
    } else role = 'main';
    o.role = role;
    o.csrDer = der;
    o.status = 'processing';
    if (role === 'sm2-sign') o.signPubHex = csr.sm2PubHex;
    if (role === 'sm2-enc' && opts.envelopedKey) {
      // The key management centre makes the key; issue once the signing public key is known.
      await issueWaitingEnc();
      return;
    }
    o.issuing = true;
    try {
      record(o, role, await sign(role, toPem('CERTIFICATE REQUEST', der), o.identifiers.map((i) => i.value)), false);
    } catch (err) {
      o.status = 'invalid';
      o.error = { type: 'urn:ietf:params:acme:error:badCSR', detail: `openssl refused the CSR: ${(err as Error).message}` };
    } finally {
      o.issuing = false;
    }
    if (role === 'sm2-sign') await issueWaitingEnc();
  }

  async function handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): Promise<void> {
    const p = (req.url ?? '/').split('?')[0]!;
    const url = base + p;
    const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      const text = typeof data === 'string' ? data : JSON.stringify(data);
      res.writeHead(status, { 'replay-nonce': newNonce(), 'cache-control': 'no-store', 'content-type': typeof data === 'string' ? 'text/plain' : 'application/json', link: `<${base}/dir>;rel="index"`, ...headers });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (p === '/dir' && req.method === 'GET') return send(200, dirDoc);
    if (p === '/nonce' && (req.method === 'HEAD' || req.method === 'GET')) return send(req.method === 'HEAD' ? 200 : 204, '');
    if (req.method !== 'POST') throw new AcmeFail(405, 'urn:ietf:params:acme:error:malformed', `${req.method} ${p} is not supported`);
    if ((req.headers['content-type'] ?? '') !== 'application/jose+json') throw new AcmeFail(415, 'urn:ietf:params:acme:error:malformed', 'Content-Type must be application/jose+json');

    if (p === '/new-account') {
      const { payload, jwk } = verifyJws(body, url, true);
      const thumbprint = jwkThumbprint(jwk!);
      const existing = [...accounts.values()].find((a) => a.thumbprint === thumbprint);
      const acctJson = (a: Account) => ({ status: 'valid', contact: a.contact, orders: `${a.url}/orders` });
      if (existing) return send(200, acctJson(existing), { location: existing.url });
      if (payload?.onlyReturnExisting) throw new AcmeFail(400, 'urn:ietf:params:acme:error:accountDoesNotExist', 'no account for this key');
      if (payload?.termsOfServiceAgreed !== true) throw new AcmeFail(403, 'urn:ietf:params:acme:error:userActionRequired', 'agree to the terms of service');
      const n = accounts.size + 1;
      const acct: Account = { id: n, url: `${base}/acct/${n}`, key: crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' }), thumbprint, contact: Array.isArray(payload.contact) ? (payload.contact as string[]) : [] };
      accounts.set(n, acct);
      stats.accounts++;
      return send(201, acctJson(acct), { location: acct.url });
    }

    const { payload, account } = verifyJws(body, url, false);
    if (p.startsWith('/acct/')) {
      if (account!.url !== url) throw new AcmeFail(403, 'urn:ietf:params:acme:error:unauthorized', 'not your account');
      return send(200, { status: 'valid', contact: account!.contact, orders: `${account!.url}/orders` }, { location: account!.url });
    }
    if (p === '/new-order') {
      const ids = (payload?.identifiers ?? []) as { type: string; value: string }[];
      if (!Array.isArray(ids) || ids.length === 0 || ids.some((i) => i.type !== 'dns' || typeof i.value !== 'string')) {
        throw new AcmeFail(400, 'urn:ietf:params:acme:error:rejectedIdentifier', 'only dns identifiers are supported');
      }
      if (ids.length > 20) throw new AcmeFail(400, 'urn:ietf:params:acme:error:rejectedIdentifier', 'too many domains in one certificate');
      const expires = new Date(Date.now() + 7 * 86_400_000).toISOString();
      const o: Order = { id: id(), accountId: account!.id, identifiers: ids.map((i) => ({ type: 'dns', value: i.value.toLowerCase() })), status: 'pending', expires, authzIds: [] };
      for (const ident of o.identifiers) {
        const a: Authz = { id: id(), accountId: account!.id, identifier: ident, status: 'pending', expires, challenge: { id: id(), token: b64u(crypto.randomBytes(32)), status: 'pending' } };
        authzs.set(a.id, a);
        o.authzIds.push(a.id);
      }
      orders.set(o.id, o);
      stats.orders++;
      return send(201, orderJson(o), { location: `${base}/order/${o.id}` });
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/order\/([^/]+)\/finalize$/.exec(p))) {
      const o = owned(orders.get(m[1]!), account, 'order');
      await finalize(o, payload);
      return send(200, orderJson(o), { location: `${base}/order/${o.id}` });
    }
    if ((m = /^\/order\/([^/]+)$/.exec(p))) {
      const o = owned(orders.get(m[1]!), account, 'order');
      stats.orderReads++;
      await issueWaitingEnc();
      return send(200, orderJson(o), o.status === 'processing' ? { 'retry-after': '1' } : {});
    }
    if ((m = /^\/authz\/([^/]+)$/.exec(p))) {
      const a = owned(authzs.get(m[1]!), account, 'authorization');
      return send(200, authzJson(a));
    }
    if ((m = /^\/chall\/([^/]+)$/.exec(p))) {
      const a = owned(authzs.get(m[1]!), account, 'challenge');
      if (payload !== null && a.challenge.status === 'pending') {
        a.challenge.status = 'processing';
        void validate(a, account!);
      }
      return send(200, authzJson(a).challenges[0], { link: `<${base}/authz/${a.id}>;rel="up"` });
    }
    if ((m = /^\/cert\/([^/]+)$/.exec(p))) {
      const o = [...orders.values()].find((x) => x.certId === m![1]);
      owned(o, account, 'certificate');
      return send(200, certs.get(m[1]!)!, { 'content-type': 'application/pem-certificate-chain' });
    }
    if ((m = /^\/enveloped-key\/([^/]+)$/.exec(p))) {
      const o = [...orders.values()].find((x) => x.envelopeId === m![1]);
      owned(o, account, 'enveloped key');
      stats.envelopesServed++;
      return send(200, toPem(ENVELOPED_KEY_PEM_LABEL, envelopes.get(m[1]!)!), { 'content-type': 'application/x-pem-file' });
    }
    throw new AcmeFail(404, 'urn:ietf:params:acme:error:malformed', `no resource ${p}`);
  }

  const server = https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      handle(req, body, res).catch((err) => {
        const e = err instanceof AcmeFail ? err : new AcmeFail(500, 'urn:ietf:params:acme:error:serverInternal', (err as Error).message);
        if (res.headersSent) return res.end();
        res.writeHead(e.status, { 'content-type': 'application/problem+json', 'replay-nonce': newNonce(), link: `<${base}/dir>;rel="index"` });
        res.end(JSON.stringify({ type: e.type, detail: e.message, status: e.status }));
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    directoryUrl: `${base}/dir`,
    tlsCert,
    sm2Root: sm2Ca.rootPem,
    ecRoot: ecCa.rootPem,
    stats,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
