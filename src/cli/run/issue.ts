/**
 * `certctl issue`: parse → validate (issueRequestFrom) → lock → core's
 * issueLineage (lineage, gate, obtain) → render. Every validation happens
 * before the ledger is written or anything is sent.
 */
import path from 'node:path';
import { runEnv, type Context, assertFleetKeyGiven } from '../context.js';
import { resolveCaList } from '../../core/ca/registry.js';
import { normalizeNames, assertLineageName, isIP } from '../../core/names.js';
import { parseKeyType } from '../../core/keys/index.js';
import { InputError, ExitCode } from '../../core/errors.js';
import { parseListen, assertWebrootWritable, assertDocumentRoot } from '../../core/http01.js';
import { parseResolver } from '../../core/precheck/dns.js';
import * as v from '../validate.js';
import { issueLineage, type IssueOutcome, type IssueRequest } from '../../core/issue.js';
import { acquireRunLock } from '../../core/store/lock.js';
import { utc, humanRelative } from '../../core/clock.js';
import { withConfigDefaults, loadConfig } from '../../core/config/index.js';
import { optionGiven } from '../action.js';
import { lockWaitNotice, serialText } from '../output.js';
import { dnsSettingsFrom, type DnsOptions } from '../dns-options.js';
import { stopOnSignals } from '../signals.js';

export interface IssueOptions extends DnsOptions {
  domain: string[];
  webroot?: string;
  standalone?: string | true;
  /** TLS-ALPN-01 from certctl's own responder on ADDR:PORT (default 0.0.0.0:443). */
  standaloneTls?: string | true;
  /** Port the CA connects to for TLS-ALPN-01 (default 443); a string from the command line. */
  tlsPort?: number;
  server?: string;
  /** A CA id, or an ordered list joined by commas (fail-over). */
  ca?: string;
  /** Keep renewing at the CA a fail-over chose (apply: certificates[].caStick). */
  caStick?: boolean;
  staging?: boolean;
  caBundle?: string;
  email?: string;
  eabKid?: string;
  eabHmacKey?: string;
  eabHmacKeyFile?: string;
  forceWebroot?: boolean;
  keyType: string;
  certName?: string;
  expand?: boolean;
  newLineage?: boolean;
  profile?: string;
  /** --preferred-chain "ISSUER CN" (or the config's preferredChain:). */
  preferredChain?: string;
  reuseKey?: boolean;
  forceRenewal?: boolean;
  force?: boolean;
  precheck: boolean;
  resolver?: string;
  /** A string from the command line, a number from the config file: run/issue.ts checks and converts both. */
  httpPort?: number;
  /** --serve: HTTP-01 through `certctl serve` on the fleet's hosts (challenge `fleet`). */
  serve?: boolean;
  lockWait: number;
}

/**
 * The command's options, checked and resolved into core's IssueRequest
 * (config file defaults applied, names under the CA's rules, webroot and
 * EAB checked). Only reads: a bad value anywhere stops here (exit 2), before
 * the ledger is opened, a file is written or a request is sent. `apply`
 * uses it for each declared certificate.
 */
export async function issueRequestFrom(ctx: Context, o: IssueOptions): Promise<{ request: IssueRequest; lockWait: number }> {
  // Everything below up to ctx.ledger() only reads: a bad value anywhere stops here, before the
  // ledger is opened, a file or directory is written, or a request is sent (exit 2).
  // Config file defaults (README "Config file"); a flag given on the command line wins.
  const config = await loadConfig(ctx.opts.config);
  const keyTypeGiven = (optionGiven(o, 'keyType') ?? true) || config.defaults.keyType !== undefined;
  const webrootGiven = optionGiven(o, 'webroot') ?? o.webroot !== undefined;
  o = await withConfigDefaults(ctx.opts.config, o, 'issue', (k) => optionGiven(o, k));
  v.url(o.server, '--server');
  // One CA, or an ordered list of them (--ca a,b; config ca: [a, b]): the names must suit every one.
  const cas = resolveCaList({ ca: o.ca, server: o.server, staging: o.staging });
  const { ca, directoryUrl } = cas[0]!;
  const names = normalizeNames(o.domain, {
    allowIp: cas.every((c) => c.ca.ipIdentifiers),
    allowWildcard: o.dns !== undefined,
    dns01: o.dns !== undefined,
    maxNames: Math.min(...cas.map((c) => c.ca.maxNames)),
  });
  // A CA that issues one key type only (the SM2 ACME Service: its sm2 bundle) needs no --key-type.
  const spec = parseKeyType(!keyTypeGiven && ca.keyTypes.length === 1 ? ca.keyTypes[0] : o.keyType);
  for (const { ca: c } of cas) {
    if (!c.keyTypes.includes(spec.text.split(':')[0]!)) {
      throw new InputError(`${c.name} does not issue ${spec.text} certificates.`, `Use one of: ${c.keyTypes.join(', ')}${cas.length > 1 ? ', or leave that CA out of the list' : ''}.`);
    }
  }
  // --cert-name '' is a bad name, not "no name" (it used to slip through as the lineage "").
  if (o.certName !== undefined) assertLineageName(o.certName);
  if (o.webroot !== undefined && o.webroot.trim() === '') throw new InputError('--webroot is empty.', 'Give --webroot the directory your web server serves for these names.');
  const methods = [o.webroot && '--webroot', o.serve && '--serve', o.standalone && '--standalone', o.standaloneTls && '--standalone-tls', o.dns !== undefined && '--dns'].filter(Boolean);
  if (methods.length !== 1) {
    throw new InputError(
      methods.length ? `Give one of ${methods.join(' and ')}, not both.` : 'Say how to answer the challenge.',
      'Use --webroot DIR (your web server serves DIR), --serve (a fleet: certctl serve answers on every host), --standalone [ADDR:PORT] (HTTP-01 on port 80), --standalone-tls [ADDR:PORT] (TLS-ALPN-01 on port 443) or --dns METHOD (DNS-01; wildcards).',
    );
  }
  if (o.standaloneTls) {
    const ip = names.find((n) => isIP(n));
    if (ip) throw new InputError(`certctl's TLS-ALPN-01 responder does not answer for IP addresses such as ${ip}.`, 'Use --webroot or --standalone (HTTP-01) for a certificate with IP addresses.');
  }
  if (!o.standaloneTls && o.tlsPort !== undefined) throw new InputError('--tls-port is the port the CA connects to for TLS-ALPN-01; it goes with --standalone-tls.', 'Add --standalone-tls [ADDR:PORT], or leave --tls-port out.');
  const dns = dnsSettingsFrom(o);
  v.email(o.email, optionGiven(o, 'email') === false && config.file ? `${config.file}: defaults.email` : '--email');
  v.profile(o.profile);
  // The profile's own rules (LE tlsserver/shortlived: 25 names; IP addresses only under shortlived), before anything is opened or sent.
  const { assertProfileFits } = await import('../../core/plan.js');
  const { policyFor } = await import('../../core/limits/policies.js');
  assertProfileFits(policyFor(ca.policyId, config.policies), ca.name, o.profile, names);
  if (o.resolver !== undefined) parseResolver(v.plain(o.resolver, '--resolver')!);
  o.httpPort = v.wholeNumber(o.httpPort, '--http-port', 1, 65535);
  o.tlsPort = v.wholeNumber(o.tlsPort, '--tls-port', 1, 65535);
  o.lockWait = v.seconds(o.lockWait, '--lock-wait')!;
  // The CA bundle named by the config file was checked (with its file:line) when the file was read.
  if (optionGiven(o, 'caBundle') !== false || !config.file) v.caBundleFile(o.caBundle);
  const preferredChain = v.nonEmpty(o.preferredChain ?? config.defaults.preferredChain, '--preferred-chain', 'the Common Name of the issuer of the chain\'s topmost certificate, e.g. "ISRG Root X1"');
  const eabKid = v.nonEmpty(o.eabKid ?? config.defaults.eabKid, '--eab-kid', 'the key id the CA gave you');
  const eabHmacKey = v.readEabHmac(o, process.env, { eabHmacKey: config.defaults.eabHmacKey, eabHmacKeyFile: config.defaults.eabHmacKeyFile, where: config.file ? `${config.file}: defaults.eabHmacKey${config.defaults.eabHmacKeyFile ? 'File' : ''}` : undefined });
  if ((eabKid === undefined) !== (eabHmacKey === undefined)) {
    throw new InputError(
      eabKid === undefined ? 'An EAB HMAC key was given without its key id (--eab-kid).' : 'External Account Binding needs the HMAC key as well as --eab-kid.',
      `Give both: --eab-kid KID and the HMAC key, preferably with --eab-hmac-key-file FILE or $${v.EAB_ENV} (not --eab-hmac-key: other users see the command line).`,
    );
  }
  const webroot = o.webroot ? path.resolve(v.plain(o.webroot, '--webroot')!) : null;
  if (webroot) {
    assertDocumentRoot(webroot, ctx.paths.root, Boolean(o.forceWebroot), webrootGiven ? '--webroot' : `${config.file ?? 'the config file'}: defaults.webroot`);
    assertWebrootWritable(webroot);
  }
  const listen = o.standalone ? parseListen(o.standalone) : null;
  const listenTls = o.standaloneTls ? parseListen(v.plain(o.standaloneTls === true ? '' : o.standaloneTls, '--standalone-tls'), 'tls') : null;

  return {
    request: {
      names,
      ca,
      directoryUrl,
      ...(cas.length > 1 ? { cas } : {}),
      ...(o.caStick ?? config.defaults.caStick) !== undefined ? { caStick: o.caStick ?? config.defaults.caStick } : {},
      keyType: spec.text,
      certName: o.certName,
      expand: o.expand,
      newLineage: o.newLineage,
      webroot,
      standalone: listen,
      serve: Boolean(o.serve),
      standaloneTls: listenTls,
      tlsPort: o.tlsPort,
      dns,
      email: o.email,
      eab: eabKid !== undefined ? { kid: eabKid, hmacKey: eabHmacKey! } : undefined,
      caBundle: o.caBundle ? path.resolve(o.caBundle) : undefined,
      reuseKey: o.reuseKey,
      profile: o.profile,
      preferredChain: preferredChain,
      resolver: o.resolver,
      httpPort: o.httpPort,
      force: o.force,
      forceRenewal: o.forceRenewal,
      precheck: o.precheck,
    },
    lockWait: o.lockWait,
  };
}

export async function runIssue(ctx: Context, o: IssueOptions): Promise<number> {
  const { request, lockWait } = await issueRequestFrom(ctx, o);
  stopOnSignals(ctx.out); // SIGINT/SIGTERM: stop, clean up, say where the order stopped (exit 130/143)
  const ledger = await ctx.ledger();
  assertFleetKeyGiven(ledger);
  if (request.serve && !ledger.fleetMode) {
    throw new InputError('--serve answers HTTP-01 from a fleet\'s shared ledger, and this ledger is not one (a PostgreSQL --ledger with a fleet key): nothing was sent.', 'Give --ledger postgres://… and --fleet-key FILE (docs/fleet.md), or use --webroot or --standalone.');
  }
  const lock = await acquireRunLock(ledger, lockWait * 1000, ctx.now, lockWaitNotice(ctx));
  let r: IssueOutcome;
  try {
    r = await issueLineage(runEnv(ctx), ledger, request);
  } finally {
    lock.release();
  }
  const now = ctx.now();
  if (r.result === 'held') {
    const doc = { result: 'held', lineage: r.lineage, names: r.names, change: null, notAfter: new Date(r.notAfter).toISOString(), serial: r.serial };
    if (ctx.out.json) ctx.out.document('certctl.issue/1', doc);
    else {
      ctx.out.attention(`Already held: ${r.lineage} covers exactly ${request.names.join(', ')} and is valid until ${utc(r.notAfter)} (${humanRelative(r.notAfter, now)}).`);
      ctx.out.info(`Nothing ordered: another certificate for the same names would spend one of the CA's duplicate slots. Renewal happens on its own when due (certctl renew); to order anyway: --force-renewal.`);
    }
    return ExitCode.NOTHING_TO_DO;
  }
  if (r.result === 'deployed') {
    const doc = { result: 'deployed', lineage: r.lineage, names: r.names, version: r.version, notAfter: new Date(r.notAfter).toISOString(), serial: r.serial, files: r.files };
    if (ctx.out.json) ctx.out.document('certctl.issue/1', doc);
    else {
      ctx.out.attention(`${ctx.out.palette.ok('Deployed')} ${r.lineage}: the fleet holds it (serial ${serialText(r.serial)}, valid until ${utc(r.notAfter)}); version ${r.version} written here from the ledger, nothing ordered.`);
      ctx.out.info(`Files: ${path.join(ctx.paths.live, r.lineage)}/ — this host (${ledger.host}) now deploys it on every certctl renew.`);
    }
    return ExitCode.OK;
  }
  const doc = { result: r.result, lineage: r.lineage, version: r.version, change: r.change ?? null, ca: r.caChoice ?? null, certificates: r.certificates.map((c) => ({ ...c, notAfter: new Date(c.notAfter).toISOString() })), files: r.files };
  if (ctx.out.json) ctx.out.document('certctl.issue/1', doc);
  else {
    const p = ctx.out.palette;
    for (const c of r.certificates) {
      ctx.out.attention(`${p.ok(r.result === 'recovered' ? 'Recovered' : 'Issued')} ${r.lineage}${c.role === 'main' ? '' : ` (${c.role})`}: serial ${serialText(c.serial)}, valid until ${utc(c.notAfter)}.`);
    }
    const live = r.files.filter((f) => f.startsWith(path.join(ctx.paths.live, r.lineage) + path.sep)).map((f) => path.basename(f));
    ctx.out.info(`Files: ${path.join(ctx.paths.live, r.lineage)}/{${live.join(',')}}`);
    if (r.change) ctx.out.info(`Names of ${r.lineage} changed: ${r.change.from.join(', ')} → ${r.change.to.join(', ')} (version ${r.version}; certctl renew renews the new set).`);
  }
  return ExitCode.OK;
}
