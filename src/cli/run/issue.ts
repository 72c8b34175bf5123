/**
 * `certctl issue`: parse → validate → lineage → obtain → render. Every
 * validation happens before the ledger is written or anything is sent.
 */
import path from 'node:path';
import { runEnv, type Context } from '../context.js';
import { resolveCa } from '../../core/ca/registry.js';
import { normalizeNames, setKey, assertLineageName, defaultLineageName } from '../../core/names.js';
import { parseKeyType } from '../../core/keys/index.js';
import { InputError, ExitCode } from '../../core/errors.js';
import { parseListen, assertWebrootWritable, assertDocumentRoot } from '../../core/http01.js';
import { parseResolver } from '../../core/precheck/dns.js';
import * as v from '../validate.js';
import type { Ledger, LineageRow } from '../../core/ledger/ledger.js';
import { acquireRunLock } from '../../core/store/lock.js';
import { isDue, soonestExpiring } from '../../core/renew/due.js';
import { utc, humanRelative } from '../../core/clock.js';
import { withConfigDefaults, loadConfig } from '../../core/config/index.js';
import { optionGiven } from '../action.js';

export interface IssueOptions {
  domain: string[];
  webroot?: string;
  standalone?: string | true;
  server?: string;
  ca?: string;
  staging?: boolean;
  caBundle?: string;
  email?: string;
  eabKid?: string;
  eabHmacKey?: string;
  eabHmacKeyFile?: string;
  forceWebroot?: boolean;
  keyType: string;
  certName?: string;
  profile?: string;
  reuseKey?: boolean;
  forceRenewal?: boolean;
  force?: boolean;
  precheck: boolean;
  resolver?: string;
  /** A string from the command line, a number from the config file: run/issue.ts checks and converts both. */
  httpPort?: number;
  lockWait: number;
}

export async function runIssue(ctx: Context, o: IssueOptions): Promise<number> {
  // Everything below up to ctx.ledger() only reads: a bad value anywhere stops here, before the
  // ledger is opened, a file or directory is written, or a request is sent (exit 2).
  // Config file defaults (README "Config file"); a flag given on the command line wins.
  const config = await loadConfig(ctx.opts.config);
  const keyTypeGiven = (optionGiven(o, 'keyType') ?? true) || config.defaults.keyType !== undefined;
  const webrootGiven = optionGiven(o, 'webroot') ?? o.webroot !== undefined;
  o = await withConfigDefaults(ctx.opts.config, o, 'issue', (k) => optionGiven(o, k));
  v.url(o.server, '--server');
  const { ca, directoryUrl } = resolveCa({ ca: o.ca, server: o.server, staging: o.staging });
  const names = normalizeNames(o.domain, { allowIp: ca.ipIdentifiers, allowWildcard: false, maxNames: ca.maxNames });
  // A CA that issues one key type only (the SM2 ACME Service: its sm2 bundle) needs no --key-type.
  const spec = parseKeyType(!keyTypeGiven && ca.keyTypes.length === 1 ? ca.keyTypes[0] : o.keyType);
  if (!ca.keyTypes.includes(spec.text.split(':')[0]!)) {
    throw new InputError(`${ca.name} does not issue ${spec.text} certificates.`, `Use one of: ${ca.keyTypes.join(', ')}.`);
  }
  // --cert-name '' is a bad name, not "no name" (it used to slip through as the lineage "").
  if (o.certName !== undefined) assertLineageName(o.certName);
  if (o.webroot !== undefined && o.webroot.trim() === '') throw new InputError('--webroot is empty.', 'Give --webroot the directory your web server serves for these names.');
  if (Boolean(o.webroot) === Boolean(o.standalone)) {
    throw new InputError(o.webroot ? 'Give either --webroot or --standalone, not both.' : 'Say how to answer the HTTP-01 challenge.', 'Use --webroot DIR (your web server serves DIR) or --standalone [ADDR:PORT].');
  }
  v.email(o.email, optionGiven(o, 'email') === false && config.file ? `${config.file}: defaults.email` : '--email');
  v.profile(o.profile);
  if (o.resolver !== undefined) parseResolver(v.plain(o.resolver, '--resolver')!);
  o.httpPort = v.wholeNumber(o.httpPort, '--http-port', 1, 65535);
  o.lockWait = v.seconds(o.lockWait, '--lock-wait')!;
  // The CA bundle named by the config file was checked (with its file:line) when the file was read.
  if (optionGiven(o, 'caBundle') !== false || !config.file) v.caBundleFile(o.caBundle);
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

  const ledger = await ctx.ledger();
  const lock = await acquireRunLock(ledger, o.lockWait * 1000, ctx.now);
  try {
    const now = ctx.now();
    const key = setKey(names);
    const existing = pickLineage(ledger, key, directoryUrl, o.certName);

    // Keep until expiring: the exact set already held and not due → nothing to order.
    // (Unless a crash interrupted its live/ switch: obtain finishes that from the journal first.)
    if (existing && existing.set_key === key && !o.forceRenewal && !ledger.openOrders(existing.name).some((x) => x.step === 'storing')) {
      const certs = ledger.currentCertificates(existing.name);
      const soonest = soonestExpiring(certs);
      if (soonest && soonest.not_after > now) {
        if (!isDue(soonest, now, existing.settings.renewDays)) {
          const doc = { result: 'held', lineage: existing.name, names: existing.names, notAfter: new Date(soonest.not_after).toISOString(), serial: soonest.serial };
          if (ctx.out.json) ctx.out.document('certctl.issue/1', doc);
          else {
            ctx.out.attention(`Already held: ${existing.name} covers exactly ${names.join(', ')} and is valid until ${utc(soonest.not_after)} (${humanRelative(soonest.not_after, now)}).`);
            ctx.out.info(`Nothing ordered: another certificate for the same names would spend one of the CA's duplicate slots. Renewal happens on its own when due (certctl renew); to order anyway: --force-renewal.`);
          }
          return ExitCode.NOTHING_TO_DO;
        }
      }
    }

    const lineageName = existing?.name ?? freeLineageName(ledger, o.certName ?? defaultLineageName(names));
    const settings = {
      ...(existing?.settings ?? {}),
      ...(o.reuseKey !== undefined ? { reuseKey: o.reuseKey } : {}),
      ...(o.profile ? { profile: o.profile } : {}),
      ...(o.caBundle ? { caBundle: path.resolve(o.caBundle) } : {}),
      ...(o.email ? { email: o.email } : {}),
      ...(o.httpPort ? { httpPort: o.httpPort } : {}),
      ...(o.resolver ? { resolver: o.resolver } : {}),
    };
    const isNew = !existing;
    ledger.saveLineage({
      name: lineageName,
      names,
      set_key: key,
      ca_id: ca.id,
      directory_url: directoryUrl,
      key_type: spec.text,
      challenge: webroot ? 'webroot' : 'standalone',
      webroot,
      standalone_addr: listen ? `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}` : null,
      settings,
      now,
    });
    const lineage = ledger.lineage(lineageName)!;

    const { obtain } = await import('../../core/obtain.js');
    const { gateFor } = await import('../../core/gate.js');
    let result;
    try {
      result = await obtain(
        {
          lineage,
          ca,
          email: o.email,
          eab: eabKid !== undefined ? { kid: eabKid, hmacKey: eabHmacKey! } : undefined,
          caBundle: o.caBundle ? path.resolve(o.caBundle) : undefined,
          forced: Boolean(o.force || o.forceRenewal),
          precheckSkipped: !o.precheck,
        },
        {
          ledger,
          paths: ctx.paths,
          now: ctx.now,
          log: (l) => ctx.out.info(l),
          verbose: ctx.opts.verbose ? (l) => ctx.out.verbose(l) : undefined,
          gate: gateFor(runEnv(ctx), ledger, lineage, ca, { force: o.force, forceRenewal: o.forceRenewal, precheck: o.precheck, resolver: o.resolver, httpPort: o.httpPort }),
        },
      );
    } catch (err) {
      dropIfEmpty(ledger, lineageName, isNew);
      throw err;
    }

    const doc = { result: result.resumed ? 'recovered' : 'issued', lineage: result.lineage, version: result.version, certificates: result.certificates.map((c) => ({ ...c, notAfter: new Date(c.notAfter).toISOString() })), files: result.files };
    if (ctx.out.json) ctx.out.document('certctl.issue/1', doc);
    else {
      const p = ctx.out.palette;
      for (const c of result.certificates) {
        ctx.out.attention(`${p.ok(result.resumed ? 'Recovered' : 'Issued')} ${result.lineage}${c.role === 'main' ? '' : ` (${c.role})`}: serial ${c.serial}, valid until ${utc(c.notAfter)}.`);
      }
      const live = result.files.filter((f) => f.startsWith(path.join(ctx.paths.live, result.lineage) + path.sep)).map((f) => path.basename(f));
      ctx.out.info(`Files: ${path.join(ctx.paths.live, result.lineage)}/{${live.join(',')}}`);
    }
    return ExitCode.OK;
  } finally {
    lock.release();
  }
}

/** The lineage this request belongs to: by --cert-name, else the one holding the same exact set at this CA. */
function pickLineage(ledger: Ledger, key: string, directoryUrl: string, certName?: string): LineageRow | undefined {
  if (certName) {
    const l = ledger.lineage(certName);
    if (l && l.directory_url !== directoryUrl) {
      throw new InputError(`The lineage ${certName} belongs to another CA (${l.directory_url}).`, 'Choose another --cert-name.');
    }
    return l;
  }
  return ledger.lineagesBySet(key, directoryUrl)[0];
}

/** `name`, or `name-0001`, `name-0002`… if taken by a different set (as certbot does). */
function freeLineageName(ledger: Ledger, name: string): string {
  if (!ledger.lineage(name)) return assertLineageName(name);
  for (let i = 1; i < 10_000; i++) {
    const n = `${name}-${String(i).padStart(4, '0')}`;
    if (!ledger.lineage(n)) return assertLineageName(n);
  }
  throw new InputError(`Too many lineages named ${name}-NNNN.`);
}

/** A lineage created by this run that never got a certificate and has no order to resume is removed again. */
function dropIfEmpty(ledger: Ledger, name: string, isNew: boolean): void {
  if (!isNew) return;
  const l = ledger.lineage(name);
  if (l && l.current_version === 0 && ledger.openOrders(name).length === 0 && ledger.certificatesForLineage(name).length === 0) {
    ledger.deleteLineage(name);
  }
}

