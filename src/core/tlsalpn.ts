/**
 * TLS-ALPN-01 building blocks (RFC 8737) shared by the challenge solver
 * (challenge/tlsalpn01.ts) and the readiness check (precheck/tlsalpn01.ts):
 * the challenge certificate, the one responder (TlsAlpnServer), the client
 * probe that looks at it the way the CA's validator will, and
 * --standalone-tls's address.
 *
 * The certificate is built here as DER (the small vocabulary of keys/der.ts
 * over node-forge's asn1) and signed with an ECDSA P-256 key from
 * node:crypto: forge's own certificate code signs with RSA only (an RSA key
 * per challenge costs ~100 ms, a P-256 key well under 1 ms), and no other
 * dependency is needed. Its only parts are what RFC 8737 §3 asks for: one
 * dNSName subjectAltName, the critical id-pe-acmeIdentifier extension
 * holding SHA-256(keyAuthorization) as a DER OCTET STRING.
 */
import crypto, { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { seq, oid, octets, bool, bitString, tagged, uint, smallInt, toDer, toPem, fromDer, children, oidOf, prim, create, forge, CLASS, TYPE, type Asn1 } from './keys/der.js';
import { ListenError, isToken } from './http01.js';
import { CertctlError, ExitCode } from './errors.js';
import { registerSecret } from './redact.js';

/** RFC 8737 §6.2: the ALPN protocol name of the challenge. */
export const ACME_TLS_ALPN = 'acme-tls/1';
/** RFC 8737 §6.1: id-pe-acmeIdentifier. */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';
/** The CA connects to port 443 (RFC 8737 §3); configurable (--tls-port) for test set-ups and port forwards. */
export const DEFAULT_TLS_PORT = 443;

// node-forge (its date encodings, its parser) loads when a challenge certificate is made or read, not with this module.
const U = CLASS.UNIVERSAL;
const T = TYPE;
const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const SUBJECT_ALT_NAME = '2.5.29.17';
const COMMON_NAME = '2.5.4.3';
/** How long a challenge certificate claims to be valid; validators do not check it (they skip chain and time checks), clients do not keep it. */
const VALIDITY_MS = 7 * 24 * 3600 * 1000;

/** SHA-256 of the key authorization: what the acmeIdentifier extension carries. */
export function acmeIdentifierDigest(keyAuthorization: string): Buffer {
  return crypto.createHash('sha256').update(keyAuthorization, 'utf8').digest();
}

function time(d: Date): Asn1 {
  // RFC 5280 §4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050.
  return d.getUTCFullYear() < 2050 ? create(U, T.UTCTIME, false, forge().asn1.dateToUtcTime(d)) : create(U, T.GENERALIZEDTIME, false, forge().asn1.dateToGeneralizedTime(d));
}

function ia5(s: string): string {
  if (!/^[\x21-\x7e]+$/.test(s)) throw new Error('refusing a dNSName that is not printable ASCII');
  return s;
}

/** A self-signed certificate and its key, as PEM (what node:tls takes). */
export interface ChallengeCert {
  cert: string;
  key: string;
  der: Buffer;
}

/**
 * The RFC 8737 §3 certificate for `name`: self-signed (ECDSA P-256), one
 * dNSName SAN, the critical acmeIdentifier extension with `digest`
 * (SHA-256 of the key authorization). `name` must be a normalised DNS
 * name (names.ts): it is checked again here to be printable ASCII.
 */
export function challengeCertificate(name: string, digest: Buffer, now = Date.now()): ChallengeCert {
  if (digest.length !== 32) throw new Error('the acmeIdentifier digest is 32 bytes (SHA-256)');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sigAlg = seq(oid(ECDSA_SHA256));
  const rdn = create(U, T.SET, true, [seq(oid(COMMON_NAME), create(U, T.UTF8, false, 'ACME TLS-ALPN-01 challenge'))]);
  const dn = seq(rdn);
  const serial = crypto.randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // a positive INTEGER
  const san = seq(tagged(2, false, Buffer.from(ia5(name), 'ascii')));
  const extensions = seq(
    seq(oid(SUBJECT_ALT_NAME), octets(toDer(san))),
    // extnValue: the DER of Authorization ::= OCTET STRING (SIZE (32)), marked critical (RFC 8737 §3).
    seq(oid(ACME_IDENTIFIER_OID), bool(true), octets(toDer(octets(digest)))),
  );
  const tbs = seq(
    tagged(0, true, [smallInt(2)]),
    uint(serial),
    sigAlg,
    dn,
    seq(time(new Date(now - 24 * 3600 * 1000)), time(new Date(now + VALIDITY_MS))),
    dn,
    fromDer(spki),
    tagged(3, true, [extensions]),
  );
  const tbsDer = toDer(tbs);
  const signature = crypto.sign('sha256', tbsDer, privateKey);
  const der = toDer(seq(tbs, sigAlg, bitString(signature)));
  return { cert: toPem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, der };
}

/** What a certificate says about TLS-ALPN-01: its acmeIdentifier (and whether it is critical) and its SANs. */
export interface AlpnCertFacts {
  acmeIdentifier?: { critical: boolean; digest?: Buffer; malformed?: boolean };
  /** SAN entries as node:crypto prints them: "DNS:name", "IP Address:…". */
  sans: string[];
  subject: string;
}

/** Read the acmeIdentifier extension and the SANs of a DER certificate; never throws for a strange certificate (a hostile server's). */
export function alpnCertFacts(der: Buffer): AlpnCertFacts {
  let sans: string[] = [];
  let subject = '';
  try {
    const x = new X509Certificate(der);
    sans = (x.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
    subject = (x.subject ?? '').replace(/\n/g, ', ');
  } catch {
    /* not parseable by OpenSSL: no SANs */
  }
  const facts: AlpnCertFacts = { sans, subject };
  try {
    const tbs = children(children(fromDer(der), 'certificate')[0], 'tbsCertificate');
    const ext = tbs.find((n) => n.tagClass === CLASS.CONTEXT_SPECIFIC && n.type === 3);
    if (!ext) return facts;
    for (const e of children((ext.value as Asn1[])[0], 'extensions')) {
      const parts = children(e, 'extension');
      if (oidOf(parts[0], 'extnID') !== ACME_IDENTIFIER_OID) continue;
      const critical = parts.length === 3 && prim(parts[1], T.BOOLEAN, 'critical')[0] === 0xff;
      try {
        const inner = prim(fromDer(prim(parts[parts.length - 1], T.OCTETSTRING, 'extnValue')), T.OCTETSTRING, 'Authorization');
        facts.acmeIdentifier = inner.length === 32 ? { critical, digest: inner } : { critical, malformed: true };
      } catch {
        facts.acmeIdentifier = { critical, malformed: true };
      }
    }
  } catch {
    /* not a certificate we can read: no extension found */
  }
  return facts;
}

/**
 * A challenge the CA sent, checked before it is used: the identifier must
 * be one of the names certctl asked for (normalised, not a wildcard), the
 * token base64url and the key authorization token + "." + a base64url
 * thumbprint. Neither is echoed (tokens are never shown).
 */
export function checkTlsAlpnChallenge(ch: { identifier: string; wildcard: boolean; token: string; keyAuthorization: string }, names: readonly string[]): string {
  const bad = (what: string) =>
    new CertctlError(
      `The CA sent a TLS-ALPN-01 challenge whose ${what}; refusing to serve a certificate for it, and nothing was answered.`,
      ExitCode.CA_ERROR,
      'This is a CA fault. The order is left as it is; run again once the CA is fixed, or report it to the CA.',
    );
  const name = typeof ch.identifier === 'string' ? ch.identifier.toLowerCase() : '';
  if (ch.wildcard || name.startsWith('*.')) throw bad('identifier is a wildcard (TLS-ALPN-01 cannot validate wildcards, RFC 8737 §3)');
  if (!names.includes(name)) throw bad('identifier is not one of the names certctl ordered');
  if (!isToken(ch.token)) throw bad('token is not 22-256 base64url characters');
  const ka = ch.keyAuthorization;
  if (typeof ka !== 'string' || !ka.startsWith(ch.token + '.') || !/^[A-Za-z0-9_-]{16,128}$/.test(ka.slice(ch.token.length + 1))) throw bad('key authorization is not "token.thumbprint"');
  registerSecret(ch.token);
  registerSecret(ka);
  return name;
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): ListenError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (err.code === 'EADDRINUSE') return new ListenError(`cannot listen on ${where} for TLS-ALPN-01: something else (a web server?) already uses it`, 'Stop that server while issuing, or use --webroot with the document root it serves (HTTP-01).', err.code);
  if (err.code === 'EACCES') return new ListenError(`no permission to listen on ${where} for TLS-ALPN-01`, 'Ports below 1024 need root or CAP_NET_BIND_SERVICE; run certctl as root, or listen on another port with --standalone-tls ADDR:PORT and forward 443 to it (--tls-port 443).', err.code);
  if (err.code === 'EADDRNOTAVAIL') return new ListenError(`cannot listen on ${where} for TLS-ALPN-01: no interface of this machine has that address`, 'Give --standalone-tls an address of this machine, or leave the address out (0.0.0.0).', err.code);
  return new ListenError(`cannot listen on ${where} for TLS-ALPN-01: ${err.code ?? err.message}`, 'Check the --standalone-tls address.', err.code);
}

/** One name served: its certificate's TLS context, the key authorization it stands for, and who waits for it. */
interface Served {
  keyAuthorization: string;
  context: tls.SecureContext;
  refs: number;
  released: Promise<void>;
  release: () => void;
}

/**
 * The one TLS-ALPN-01 responder: a TLS server that completes a handshake
 * only for ALPN `acme-tls/1` and an SNI name set on it, presenting that
 * name's challenge certificate; anything else (another ALPN protocol, no
 * or an unknown SNI) is refused during the handshake, and a client that
 * offers no ALPN at all is disconnected. Used by the solver (the CA's
 * validator connects to it) and by the readiness check (which connects to
 * its probe certificate before any order exists).
 *
 * One certificate per name at a time: a second key authorization for a
 * name (a dual lineage's two orders with separate authorizations) waits in
 * `set` until the first is deleted, so the validator never sees the wrong one.
 */
export class TlsAlpnServer {
  private readonly names = new Map<string, Served>();
  private readonly sockets = new Set<net.Socket>();
  private closed = false;

  private constructor(
    private readonly server: tls.Server,
    /** "host:port" it listens on. */
    readonly address: string,
  ) {}

  static async listen(host: string, port: number): Promise<TlsAlpnServer> {
    let self: TlsAlpnServer | undefined;
    const server = tls.createServer({
      minVersion: 'TLSv1.2',
      ALPNCallback: ({ servername, protocols }) => (protocols.includes(ACME_TLS_ALPN) && servername && self?.has(servername) ? ACME_TLS_ALPN : undefined),
      SNICallback: (servername, cb) => {
        const s = self?.names.get(String(servername).toLowerCase());
        if (s) cb(null, s.context);
        else cb(new Error('unknown server name'), null as unknown as tls.SecureContext);
      },
      handshakeTimeout: 10_000,
    });
    server.on('secureConnection', (socket) => {
      // A client that offered no ALPN never reached ALPNCallback: it is not the validator.
      if (socket.alpnProtocol !== ACME_TLS_ALPN) return socket.destroy();
      socket.setTimeout(10_000, () => socket.destroy());
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
    });
    server.on('connection', (socket: net.Socket) => {
      self?.sockets.add(socket);
      socket.on('close', () => self?.sockets.delete(socket));
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(err, host, port)));
      server.listen(port, host, () => resolve());
    });
    self = new TlsAlpnServer(server, `${host.includes(':') ? `[${host}]` : host}:${port}`);
    return self;
  }

  /** Whether a certificate is served for `name`. */
  has(name: string): boolean {
    return this.names.has(name.toLowerCase());
  }

  /**
   * Serve the challenge certificate of `keyAuthorization` for `name` (a
   * normalised DNS name). The same key authorization set twice is counted
   * (and needs two deletes); a different one waits until the first is deleted.
   */
  async set(name: string, keyAuthorization: string): Promise<void> {
    const key = name.toLowerCase();
    for (;;) {
      if (this.closed) throw new Error('the TLS-ALPN-01 server is closed');
      const cur = this.names.get(key);
      if (!cur) break;
      if (cur.keyAuthorization === keyAuthorization) {
        cur.refs++;
        return;
      }
      await cur.released;
    }
    const { cert, key: pem } = challengeCertificate(key, acmeIdentifierDigest(keyAuthorization));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    this.names.set(key, { keyAuthorization, context: tls.createSecureContext({ cert, key: pem }), refs: 1, released, release });
  }

  /** Stop serving `name`'s certificate for `keyAuthorization` (once per set); anything else is left alone. */
  delete(name: string, keyAuthorization: string): void {
    const key = name.toLowerCase();
    const cur = this.names.get(key);
    if (!cur || cur.keyAuthorization !== keyAuthorization) return;
    if (--cur.refs > 0) return;
    this.names.delete(key);
    cur.release();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.names.values()) s.release();
    this.names.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

/** What connecting to a TLS-ALPN-01 responder showed. */
export interface AlpnProbeOutcome {
  ok: boolean;
  failure?: 'connect' | 'timeout' | 'tls' | 'alpn' | 'no-extension' | 'not-critical' | 'malformed' | 'digest-mismatch' | 'san';
  /** One sentence: what was seen. */
  detail: string;
  address: string;
  port: number;
  /** ALPN protocol the server chose, if any. */
  alpn?: string | null;
  /** The server certificate's subject and SANs, when one was received. */
  subject?: string;
  sans?: string[];
}

/**
 * Connect to `address`:`port` as the CA's validator does: SNI `name`, ALPN
 * `acme-tls/1` only, no certificate verification (the certificate is
 * self-signed by design), and check the certificate: exactly one SAN
 * (dNSName `name`) and a critical acmeIdentifier extension carrying
 * `digest`. Bounded by `timeoutMs`; never throws.
 */
export function probeTlsAlpn(address: string, port: number, name: string, digest: Buffer, timeoutMs: number): Promise<AlpnProbeOutcome> {
  const where = `${net.isIP(address) === 6 ? `[${address}]` : address}:${port}`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Omit<AlpnProbeOutcome, 'address' | 'port'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ address, port, ...o });
    };
    const socket = tls.connect({ host: address, port, servername: name, ALPNProtocols: [ACME_TLS_ALPN], rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    const timer = setTimeout(() => finish({ ok: false, failure: 'timeout', detail: `no TLS handshake with ${where} within ${timeoutMs} ms` }), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const connect = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT'].includes(err.code ?? '');
      if (connect) return finish({ ok: false, failure: 'connect', detail: `cannot connect to ${where}: ${err.code}` });
      const alpn = /no_application_protocol|no application protocol/i.test(err.message);
      finish({
        ok: false,
        failure: alpn ? 'alpn' : 'tls',
        detail: alpn ? `${where} refused ALPN ${ACME_TLS_ALPN} for ${name} (no_application_protocol)` : `the TLS handshake with ${where} for ${name} failed: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim(),
      });
    });
    socket.once('secureConnect', () => {
      const alpn = socket.alpnProtocol || null;
      const peer = socket.getPeerX509Certificate();
      const facts: AlpnCertFacts = peer ? alpnCertFacts(peer.raw) : { sans: [], subject: '' };
      const base = { alpn, subject: facts.subject, sans: facts.sans };
      if (alpn !== ACME_TLS_ALPN) return finish({ ...base, ok: false, failure: 'alpn', detail: `${where} completed the handshake for ${name} without ALPN ${ACME_TLS_ALPN} (${alpn ? `chose "${alpn}"` : 'no protocol chosen'}): another TLS server answers there` });
      const id = facts.acmeIdentifier;
      const sanNote = facts.sans.length ? facts.sans.join(', ') : 'no SAN';
      if (!id) return finish({ ...base, ok: false, failure: 'no-extension', detail: `${where} answered ${ACME_TLS_ALPN} for ${name} with a certificate without the acmeIdentifier extension (${sanNote}): another server holds the port` });
      if (id.malformed) return finish({ ...base, ok: false, failure: 'malformed', detail: `${where} sent an acmeIdentifier extension that is not a 32-byte OCTET STRING` });
      if (!id.critical) return finish({ ...base, ok: false, failure: 'not-critical', detail: `${where} sent an acmeIdentifier extension that is not marked critical` });
      if (!id.digest!.equals(digest)) return finish({ ...base, ok: false, failure: 'digest-mismatch', detail: `${where} answered ${ACME_TLS_ALPN} for ${name} with an acmeIdentifier certificate for another key authorization: another certctl or ACME client is answering there` });
      if (facts.sans.length !== 1 || facts.sans[0]!.toLowerCase() !== `dns:${name}`) return finish({ ...base, ok: false, failure: 'san', detail: `${where} sent the right acmeIdentifier but its certificate names ${sanNote} instead of only DNS:${name}` });
      finish({ ...base, ok: true, detail: `${where} answered ${ACME_TLS_ALPN} for ${name} with the acmeIdentifier certificate the CA will expect` });
    });
  });
}
