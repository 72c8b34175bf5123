/**
 * Revoking certificates (RFC 8555 §7.6): a lineage's current certificates or
 * one certificate file, through the account that issued it, or signed with
 * the certificate's own key when certctl has no account for it (another
 * client's certificate, a stolen key). Everything is checked before anything
 * is sent; the revocation is recorded on the certificate's ledger row (when,
 * why, by whom), which stays: a revoked certificate still counts against the
 * CA's limits (revocation gives no capacity back), and a lineage whose
 * current certificate is revoked is due for renewal at once (renew/due.ts).
 *
 * A lost answer is reconciled by asking again: a CA that had acted answers
 * `alreadyRevoked`, which is taken as done. The caller holds the run lock.
 */
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { RunEnv } from './env.js';
import type { Ledger, CertificateRow, LineageRow } from './ledger/ledger.js';
import type { CaProfile } from './ca/registry.js';
import { caForLineage } from './ca/registry.js';
import { AcmeError, CertctlError, ExitCode, InputError } from './errors.js';
import { certFacts, splitPemChain, type CertFacts } from './x509.js';
import { readInputFile } from './store/read.js';
import { LineageStore, keyMatchesCert } from './store/lineage.js';
import { accountKeyPath } from './acme/session.js';
import { quote, registeredDomains, setKey } from './names.js';
import { utc } from './clock.js';

/** RFC 5280 §5.3.1 reason codes ACME CAs accept from a subscriber (Let's Encrypt's list). */
export const REVOCATION_REASONS = { unspecified: 0, keyCompromise: 1, affiliationChanged: 3, superseded: 4, cessationOfOperation: 5 } as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

/** RFC 8555 §6.7: the certificate was revoked before this request. */
export const ALREADY_REVOKED = 'urn:ietf:params:acme:error:alreadyRevoked';

export interface RevokeRequest {
  /** A lineage: its current certificates (one, two for dual). */
  certName?: string;
  /** A certificate file (PEM; the first certificate is the one revoked). */
  certPath?: string;
  /** The certificate's private key, to sign with it when certctl has no account for the certificate. */
  keyPath?: string;
  reason: RevocationReason;
  /** The CA, for a certificate the ledger does not know (--server / --ca). */
  ca?: CaProfile;
  directoryUrl?: string;
  caBundle?: string;
}

export interface RevokedCertificate {
  serial: string;
  names: string[];
  lineage: string | null;
  /** revoked: the CA accepted this run's request; already-revoked: the CA said so (a lost answer of this run, or someone else). */
  result: 'revoked' | 'already-revoked';
  /** How the request was signed. */
  by: 'account' | 'certificate-key';
  reason: RevocationReason;
  at: number;
}

export interface RevokeOutcome {
  certificates: RevokedCertificate[];
  /** The lineage whose current certificates these were: due for renewal now (unless deleted). */
  lineage: string | null;
}

/** One certificate to revoke, with what the checks found. */
interface Target {
  pem: string;
  facts: CertFacts;
  row: CertificateRow | undefined;
  lineage: LineageRow | undefined;
  /** The private key (PEM), when certctl has it or --key-path gave it. */
  keyPem: string | undefined;
  keyFile: string | undefined;
}

function leafOf(file: string): { pem: string; facts: CertFacts } {
  let text: string;
  try {
    text = readInputFile(file, 'The certificate file');
  } catch (err) {
    if (err instanceof CertctlError) throw err;
    throw new InputError(`Cannot read ${file}: ${(err as Error).message}.`, 'Give --cert-path the PEM file of the certificate (cert.pem).');
  }
  const pem = splitPemChain(text)[0];
  let facts: CertFacts | undefined;
  try {
    if (pem && !new X509Certificate(pem).ca) facts = certFacts(pem);
  } catch {
    facts = undefined;
  }
  if (!pem || !facts) throw new InputError(`${file} is not a PEM certificate (no end-entity "BEGIN CERTIFICATE" block certctl can read): nothing was sent.`, 'Give --cert-path the certificate itself (live/NAME/cert.pem), not a key, a chain or a CSR.');
  return { pem, facts };
}

function describe(t: Pick<Target, 'facts' | 'lineage'>): string {
  return `the certificate ${t.facts.serial} (${t.facts.names.join(', ')}${t.lineage ? `, lineage ${t.lineage.name}` : ''})`;
}

/** The lineage's current certificates and keys, read from archive/ and checked against the ledger. */
function lineageTargets(env: RunEnv, ledger: Ledger, name: string): Target[] {
  const lineage = ledger.lineage(name);
  if (!lineage) throw new InputError(`There is no lineage named ${quote(name)} in this ledger: nothing was sent.`, 'certctl status lists the lineages; or give the certificate file with --cert-path FILE.');
  const rows = ledger.currentCertificates(name);
  if (rows.length === 0) throw new InputError(`The lineage ${name} has no certificate yet: there is nothing to revoke.`);
  const store = new LineageStore(env.paths);
  return rows.map((row) => {
    const suffix = !row.role || row.role === 'main' ? '' : `-${row.role}`;
    const certFile = store.archiveFile(name, lineage.current_version, { base: `cert${suffix}` });
    const keyFile = store.archiveFile(name, lineage.current_version, { base: `privkey${suffix}` });
    const { pem, facts } = leafOf(certFile);
    if (facts.serial !== row.serial) throw new CertctlError(`${certFile} holds the certificate ${facts.serial}, but the ledger records ${row.serial} for lineage ${name}: nothing was sent.`, ExitCode.STATE, `Revoke the file you mean with --cert-path FILE, or repair the lineage (certctl import state).`);
    const keyPem = fs.existsSync(keyFile) ? readInputFile(keyFile, 'The private key file') : undefined;
    return { pem, facts, row, lineage, keyPem, keyFile };
  });
}

function fileTarget(ledger: Ledger, certPath: string, keyPath: string | undefined): Target {
  const { pem, facts } = leafOf(certPath);
  const row = ledger.certificatesBySerial(facts.serial).find((r) => r.issuer === facts.issuer);
  const lineage = row?.lineage ? ledger.lineage(row.lineage) : undefined;
  let keyPem: string | undefined;
  if (keyPath) {
    try {
      keyPem = readInputFile(keyPath, 'The private key file');
    } catch (err) {
      if (err instanceof CertctlError) throw err;
      throw new InputError(`Cannot read ${keyPath}: ${(err as Error).message}.`);
    }
  }
  return { pem, facts, row, lineage, keyPem, keyFile: keyPath };
}

/** Check everything and decide how each certificate is revoked; throws (nothing sent) on the first problem. */
async function plan(env: RunEnv, ledger: Ledger, req: RevokeRequest): Promise<{ targets: (Target & { by: 'account' | 'certificate-key' })[]; ca: CaProfile; directoryUrl: string; caBundle?: string }> {
  if (!req.certName === !req.certPath) throw new InputError('Say which certificate to revoke: --cert-name NAME or --cert-path FILE (one of them).');
  let targets = req.certName ? lineageTargets(env, ledger, req.certName) : [fileTarget(ledger, path.resolve(req.certPath!), req.keyPath && path.resolve(req.keyPath))];
  if (req.certName && req.keyPath) throw new InputError('--key-path goes with --cert-path: a lineage’s own keys are in its archive.');
  // A dual lineage whose earlier run revoked one certificate and failed on the other: the same command
  // finishes it (the revoked one is not sent again). Only when every one is revoked is there nothing to do.
  const left = targets.filter((t) => !t.row?.revoked_at);
  if (left.length && left.length < targets.length) {
    for (const t of targets) if (t.row?.revoked_at) env.sink.info(`${describe(t)[0]!.toUpperCase()}${describe(t).slice(1)} was already revoked on ${utc(t.row.revoked_at)}; revoking the rest.`);
    targets = left;
  }
  const now = env.now();
  for (const t of targets) {
    if (t.row?.revoked_at) {
      throw new CertctlError(
        `${describe(t)[0]!.toUpperCase()}${describe(t).slice(1)} was already revoked on ${utc(t.row.revoked_at)}${t.row.revoked_reason ? ` (${t.row.revoked_reason})` : ''}: nothing was sent.`,
        ExitCode.NOTHING_TO_DO,
        t.lineage ? `certctl renew --cert-name ${t.lineage.name} replaces it.` : undefined,
      );
    }
    if (t.facts.notAfter <= now) throw new InputError(`${describe(t)[0]!.toUpperCase()}${describe(t).slice(1)} expired on ${utc(t.facts.notAfter)}: a CA does not revoke an expired certificate; nothing was sent.`);
  }
  // The CA: the one the ledger recorded, else --server/--ca.
  const first = targets[0]!;
  const known = first.row?.directory_url ?? first.lineage?.directory_url ?? null;
  if (known && req.directoryUrl && req.directoryUrl !== known) {
    throw new InputError(`${describe(first)[0]!.toUpperCase()}${describe(first).slice(1)} was issued through ${known}, not ${req.directoryUrl}: nothing was sent.`, 'Leave out --server/--ca: certctl revokes at the CA that issued it.');
  }
  const directoryUrl = known ?? req.directoryUrl;
  if (!directoryUrl) {
    throw new InputError(`The ledger does not know which CA issued ${req.certPath}: nothing was sent.`, 'Give the CA with --server URL (its ACME directory) or --ca ID, and the certificate’s key with --key-path FILE.');
  }
  const ca = known ? (first.lineage ? caForLineage(first.lineage) : caForLineage({ ca_id: first.row?.ca_id ?? req.ca?.id ?? '', directory_url: directoryUrl })) : req.ca!;
  const account = ledger.account(directoryUrl);
  // A deactivated account signs nothing the CA accepts: the certificate's own key does it then.
  const accountUsable = Boolean(account?.account_url) && !account?.deactivated_at && fs.existsSync(accountKeyPath(env.paths, directoryUrl));
  const out: (Target & { by: 'account' | 'certificate-key' })[] = [];
  for (const t of targets) {
    // Through the account when it issued the certificate (certctl's own order at this CA).
    const ours = t.row?.source === 'certctl' && t.row.directory_url === directoryUrl && accountUsable;
    if (ours) {
      out.push({ ...t, by: 'account' });
      continue;
    }
    if (!t.keyPem) {
      throw new InputError(
        `certctl has no account that issued ${describe(t)}${req.certPath ? '' : ', and its private key is missing from the archive'}: nothing was sent.`,
        'Sign the revocation with the certificate’s own key: --key-path FILE (its privkey.pem).',
      );
    }
    if (!(await keyMatchesCert(t.keyPem, t.pem))) throw new InputError(`${t.keyFile} is not the private key of ${describe(t)}: nothing was sent.`, 'Give --key-path the key the certificate was issued for.');
    out.push({ ...t, by: 'certificate-key' });
  }
  return { targets: out, ca, directoryUrl, caBundle: req.caBundle ?? first.lineage?.settings.caBundle };
}

export async function revokeCertificates(env: RunEnv, ledger: Ledger, req: RevokeRequest): Promise<RevokeOutcome> {
  const { targets, ca, directoryUrl, caBundle } = await plan(env, ledger, req);
  const reasonCode = REVOCATION_REASONS[req.reason];
  // RFC 5280: "unspecified" is sent as no reason at all.
  const reasonField = reasonCode === 0 ? {} : { reason: reasonCode };
  const { openSession, openKeySession } = await import('./acme/session.js');
  const sessionOpts = { ledger, paths: env.paths, ca, directoryUrl, caBundle, now: env.now, verbose: env.verbose ? (l: string) => env.sink.verbose(l) : undefined, log: (l: string) => env.sink.info(l) };
  const session = targets.some((t) => t.by === 'account') ? await openSession(sessionOpts) : undefined;
  const results: RevokedCertificate[] = [];
  for (const t of targets) {
    const der = new X509Certificate(t.pem).raw.toString('base64url');
    const where = { lineage: t.lineage?.name };
    let revokeUrl = '';
    let uncertain = () => 0;
    let send: () => Promise<unknown>;
    let by: string;
    if (t.by === 'account') {
      revokeUrl = String(session!.directory.revokeCert ?? '');
      uncertain = () => session!.uncertainPosts(revokeUrl);
      send = () => session!.call('revokeCert', () => session!.client.revokeCertificate(t.pem, { ...reasonField }), where);
      by = `account ${session!.accountUrl}`;
    } else {
      const ks = await openKeySession(sessionOpts, t.keyPem!);
      revokeUrl = String(ks.directory.revokeCert ?? '');
      uncertain = () => ks.uncertainPosts(revokeUrl);
      send = () => ks.call('revokeCert', () => ks.revoke({ certificate: der, ...reasonField }), where);
      by = 'certificate key';
    }
    env.sink.info(`Revoking ${describe(t)} at ${ca.name} (${req.reason}), signed by the ${t.by === 'account' ? 'account' : 'certificate’s own key'}…`);
    let result: RevokedCertificate['result'] = 'revoked';
    try {
      await send();
    } catch (err) {
      if (!(err instanceof AcmeError && err.problem.type === ALREADY_REVOKED)) throw err;
      result = 'already-revoked';
      // Ours when this run's earlier attempt went unanswered (the CA acted, the answer was lost).
      if (uncertain() === 0) by = 'unknown: the CA had it revoked before this request';
    }
    const at = env.now();
    const byOurs = !by.startsWith('unknown');
    ledger.tx(() => {
      let id = t.row?.id;
      if (id === undefined) {
        // A certificate the ledger did not know (another client's): recorded, so it counts for the limits.
        const names = [...new Set(t.facts.names)];
        id = ledger.insertCertificate({
          lineage: null, version: null, order_id: null, bundle_id: null, role: null, source: 'pem', ca_id: ca.id, directory_url: directoryUrl,
          issuer: t.facts.issuer, serial: t.facts.serial, names, set_key: setKey(names), key_type: t.facts.keyType, not_before: t.facts.notBefore,
          not_after: t.facts.notAfter, issued_at: t.facts.notBefore, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: t.facts.fingerprint,
          registered_domains: registeredDomains(names), now: at,
        }).id;
      }
      ledger.markRevoked(id, { at, reason: byOurs ? req.reason : null, by });
    });
    results.push({ serial: t.facts.serial, names: t.facts.names, lineage: t.lineage?.name ?? null, result, by: t.by, reason: req.reason, at });
  }
  const lineage = targets[0]!.lineage && targets.every((t) => t.row && t.lineage && t.row.version === t.lineage.current_version) ? targets[0]!.lineage!.name : null;
  return { certificates: results, lineage };
}

/**
 * The config's `notify:` targets are told about each certificate revoked (event `revoked`,
 * docs/notify.md; subject: its lineage, else its serial). Never throws: the revocation is done and
 * recorded whatever the delivery gives; a failed one is sent again by the next run of renew.
 */
export async function notifyRevocation(env: RunEnv, ledger: Ledger, r: RevokeOutcome, deleted: boolean): Promise<import('./notify/index.js').NotifyReport | undefined> {
  try {
    const config = await (await import('./config/index.js')).loadConfig(env.configFile);
    if (!config.notify?.targets.length) return undefined;
    const { notify, event } = await import('./notify/index.js');
    const now = env.now();
    const events = r.certificates.map((c) =>
      event({
        kind: 'revoked',
        subject: c.lineage ?? `serial ${c.serial}`,
        lineage: c.lineage,
        names: c.names,
        at: c.at,
        serial: c.serial,
        summary: `The certificate ${c.serial} (${c.names.join(', ')}) was revoked${c.result === 'already-revoked' ? ' (the CA says it already was)' : ''}, reason ${c.reason}.`,
        reason: `certctl revoke --reason ${c.reason}, ${c.by === 'account' ? "through certctl's account" : "signed with the certificate's own key"}`,
        next: deleted
          ? 'nothing: the lineage was deleted with it (--delete-after).'
          : c.lineage && c.lineage === r.lineage
            ? `the lineage ${c.lineage} is due for renewal now: the next certctl renew replaces it (run it now so that no client meets a revoked certificate).`
            : 'nothing more from certctl: replace this certificate wherever it is served.',
      }),
    );
    return await notify(ledger, config.notify, events, now, env.sink);
  } catch (err) {
    env.sink.attention(`notify: the revocation notice could not be recorded or sent (${(err as Error).message}); the revocation itself is done and recorded.`);
    return undefined;
  }
}
