/** The body of `certctl check` (wiring: commands/check.ts). */
import { ExitCode, InputError } from '../../core/errors.js';
import type { Context } from '../context.js';
import type { PrecheckResult } from '../../core/precheck/types.js';

import { dnsSettingsFrom, type DnsOptions } from '../dns-options.js';

export interface CheckOptions extends DnsOptions {
  domain: string[];
  webroot?: string;
  forceWebroot?: boolean;
  standalone?: string | true;
  standaloneTls?: string | true;
  tlsPort?: string;
  resolver?: string;
  httpPort?: string;
  httpsPort?: string;
  ca?: string;
  server?: string;
  caaIdentity?: string[];
  timeout?: string;
}


function port(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InputError(`${flag} "${raw}" is not a port number (1-65535).`);
  return n;
}

export async function runCheck(ctx: Context, o: CheckOptions): Promise<number> {
  const v0 = await import('../validate.js');
  const { findCa, caForDirectory, unknownCa, allCas } = await import('../../core/ca/registry.js');
  const { normalizeNames } = await import('../../core/names.js');

  if (o.ca && o.server) throw new InputError('Give --ca or --server, not both.');
  const methods = [o.webroot !== undefined && '--webroot', o.standalone !== undefined && '--standalone', o.standaloneTls !== undefined && '--standalone-tls', o.dns !== undefined && '--dns'].filter(Boolean);
  if (methods.length > 1) throw new InputError(`Give one of ${methods.join(' and ')}, not both.`, 'Check the way `issue` will answer the challenge: --webroot DIR or --standalone (HTTP-01), --standalone-tls (TLS-ALPN-01), or --dns METHOD (DNS-01).');
  if (o.tlsPort !== undefined && o.standaloneTls === undefined) throw new InputError('--tls-port is the port the CA connects to for TLS-ALPN-01; it goes with --standalone-tls.', 'Add --standalone-tls [ADDR:PORT], or leave --tls-port out.');
  let ca;
  const list: import('../../core/ca/registry.js').CaProfile[] = [];
  if (o.server) {
    let url: URL;
    try {
      url = new URL(o.server);
    } catch {
      throw new InputError(`--server "${o.server}" is not a URL.`, 'Give the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(`--server "${o.server}" is not an http(s) URL.`);
    ca = caForDirectory(o.server) ?? unknownCa(o.server);
  } else {
    // --ca a,b (a fail-over list): every check for the first, and CAA for each CA of the list.
    const { caListIds } = await import('../../core/ca/registry.js');
    const ids = o.ca === undefined ? ['letsencrypt'] : caListIds(o.ca);
    for (const id of ids) {
      const c = findCa(id);
      if (!c) throw new InputError(`Unknown CA "${id}".`, `Known CAs: ${allCas().map((x) => x.id).join(', ')}; or give --server URL.`);
      list.push(c);
    }
    ca = list[0]!;
    if (list.length > 1 && o.caaIdentity?.length) throw new InputError('--caa-identity names one CA\'s CAA domain; it cannot go with a list of CAs in --ca.', 'Give one CA with --caa-identity, or the list without it (each CA\'s own CAA domains are checked).');
  }
  const names = normalizeNames(o.domain, { allowIp: ca.ipIdentifiers, allowWildcard: o.dns !== undefined, dns01: o.dns !== undefined, maxNames: ca.maxNames });
  const httpPort = port(o.httpPort, '--http-port');
  const httpsPort = port(o.httpsPort, '--https-port');
  const tlsPort = port(o.tlsPort, '--tls-port');
  let timeoutMs: number | undefined;
  if (o.timeout !== undefined) {
    const s = Number(o.timeout);
    if (!(s > 0 && s <= 300)) throw new InputError(`--timeout "${o.timeout}" must be a number of seconds between 0 and 300.`);
    timeoutMs = Math.round(s * 1000);
  }
  let standalone: { host: string; port: number } | undefined;
  if (o.standalone !== undefined) {
    const { parseListen } = await import('../../core/http01.js');
    standalone = parseListen(o.standalone);
  }
  let standaloneTls: { host: string; port: number } | undefined;
  if (o.standaloneTls !== undefined) {
    const { parseListen } = await import('../../core/http01.js');
    const { isIP } = await import('../../core/names.js');
    standaloneTls = parseListen(v0.plain(o.standaloneTls === true ? '' : o.standaloneTls, '--standalone-tls'), 'tls');
    const ip = names.find((n) => isIP(n));
    if (ip) throw new InputError(`certctl's TLS-ALPN-01 responder does not answer for IP addresses such as ${ip}.`, 'Check with --webroot or --standalone (HTTP-01) for IP addresses.');
  }
  const caaIdentities = o.caaIdentity?.length ? o.caaIdentity.map((d) => d.trim().toLowerCase()) : ca.caaIdentities;
  // Checked before the ledger is opened or a probe file is written.
  const v = await import('../validate.js');
  for (const d of caaIdentities) {
    v.plain(d, '--caa-identity');
    if (!/^[a-z0-9.-]{1,253}$/.test(d)) throw new InputError(`--caa-identity ${JSON.stringify(d.slice(0, 80))} is not a domain name.`, 'Give the CA\'s CAA issuer domain, e.g. letsencrypt.org.');
  }
  if (o.resolver !== undefined) {
    const { parseResolver } = await import('../../core/precheck/dns.js');
    parseResolver(v.plain(o.resolver, '--resolver')!);
  }
  if (o.webroot !== undefined) {
    const path = await import('node:path');
    if (v.plain(o.webroot, '--webroot')!.trim() === '') throw new InputError('--webroot is empty.', 'Give --webroot the directory your web server serves for these names.');
    const { assertDocumentRoot } = await import('../../core/http01.js');
    assertDocumentRoot(path.resolve(o.webroot), ctx.paths.root, Boolean(o.forceWebroot));
  }

  const dns = dnsSettingsFrom(o);

  const { runPrechecks } = await import('../../core/precheck/index.js');
  const { recordPrechecks } = await import('../../core/ledger/prechecks.js');
  const ledger = await ctx.ledger();
  const now = ctx.now();
  const common = { names, resolver: o.resolver, httpPort, httpsPort, caaIdentities, caName: ca.name, timeoutMs, ledger, directoryUrl: ca.directoryUrl, now };
  const { Dns01ChallengeSolver } = await import('../../core/challenge/dns01.js');
  // With --dns: the DNS-01 solver's own readiness check (the probe record), as issue's gate runs it.
  const report = standaloneTls
    ? await (await import('../../core/precheck/tlsalpn01.js')).runTlsAlpnPrechecks({ ...common, listen: standaloneTls, tlsPort })
    : dns
      ? await new Dns01ChallengeSolver(dns, names, { ledger, lineage: '', now: ctx.now, log: (l) => ctx.out.verbose(l), resolver: o.resolver }).precheck(common)
      : await runPrechecks({ ...common, webroot: o.webroot, standalone });
  recordPrechecks(ledger, report.results, now);
  // A CA list: CAA for each CA of it (as issue/renew check before choosing). Ready when every other
  // check passed and CAA permits at least one CA of the list; a CA it forbids is one fail-over cannot use.
  let caList: { ca: string; caaIdentities: string[]; ok: boolean; results: { name: string; ok: boolean; summary: string }[] }[] | null = null;
  if (list.length > 1) {
    const [{ DnsClient }, { checkCaa }] = await Promise.all([import('../../core/precheck/dns.js'), import('../../core/precheck/caa.js')]);
    const client = new DnsClient({ resolver: o.resolver });
    caList = [];
    for (const c of list) {
      const rs = await Promise.all(names.map((n) => checkCaa(client, n, { identities: c.caaIdentities }, c.name)));
      caList.push({ ca: c.id, caaIdentities: c.caaIdentities, ok: rs.every((r) => r.ok), results: rs.map((r) => ({ name: r.name, ok: r.ok, summary: r.summary })) });
    }
  }
  const ready = caList ? !report.results.some((r) => !r.ok && r.check !== 'caa') && caList.some((c) => c.ok) : report.ok;
  const code = ready ? ExitCode.OK : ExitCode.PRECHECK_FAILED;
  const failed = report.results.filter((r) => !r.ok && !(caList && r.check === 'caa'));

  if (ctx.out.json) {
    ctx.out.document('certctl.check/1', {
      ok: ready,
      exitCode: code,
      checkedAt: new Date(now).toISOString(),
      ca: { id: ca.id, name: ca.name, directoryUrl: ca.directoryUrl ?? null, caaIdentities },
      resolver: o.resolver ?? 'system',
      httpPort: httpPort ?? 80,
      httpsPort: httpsPort ?? 443,
      tlsPort: standaloneTls ? (tlsPort ?? 443) : null,
      method: o.webroot ? 'webroot' : standalone ? 'standalone' : standaloneTls ? 'standalone-tls' : dns ? `dns-${dns.method}` : null,
      names,
      results: report.results.map((r) => ({ name: r.name, check: r.check, ok: r.ok, summary: r.summary, evidence: r.evidence, advice: r.advice ?? null })),
      skipped: report.skipped,
      warnings: report.warnings,
      caList,
    });
    return code;
  }

  const p = ctx.out.palette;
  for (const name of names) {
    const mine = report.results.filter((r) => r.name === name);
    const anyFailed = mine.some((r) => !r.ok);
    const line = (s: string) => (anyFailed ? ctx.out.attention(s) : ctx.out.info(s));
    line(p.bold(name));
    for (const r of mine) {
      if (r.ok) {
        line(`  ${p.ok('passed')}  ${r.check.padEnd(8)}  ${r.summary}`);
        if (r.advice) line(`          ${p.warn('note')}      ${r.advice}`);
        continue;
      }
      line(`  ${p.bad('FAILED')}  ${r.check.padEnd(8)}  ${r.summary}`);
      for (const ev of evidenceLines(r)) line(`          ${p.dim(ev)}`);
      if (r.advice) line(`          ${p.bold('to do')}     ${r.advice}`);
    }
    for (const s of report.skipped.filter((x) => x.name === name)) line(`  ${p.dim('skipped')} ${s.check.padEnd(8)}  ${s.reason}`);
  }
  for (const w of report.warnings) ctx.out.attention(p.warn('warning: ') + w);
  if (caList) {
    const { wrap } = await import('../layout.js');
    for (const c of caList) {
      const why = c.ok ? 'CAA permits it for every name' : c.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.summary}`).join('; ');
      (c.ok ? ctx.out.info : ctx.out.attention).call(ctx.out, wrap(`CA ${c.ca} (CAA ${c.caaIdentities.join(', ') || 'none known'}): ${c.ok ? p.ok('permitted') : p.bad('forbidden')} — ${why}`, 4));
    }
    const usable = caList.filter((c) => c.ok).map((c) => c.ca);
    if (usable.length === 0) ctx.out.attention(p.bad(`CAA forbids every CA of the list (${caList.map((c) => c.ca).join(', ')}).`));
    else if (usable.length < caList.length) ctx.out.attention(wrap(p.warn(`Fail-over can use only ${usable.join(', ')}: CAA forbids the others.`), 4));
  }
  if (ready && caList) {
    ctx.out.info(p.ok(`Ready: the readiness checks passed for ${names.length} name${names.length > 1 ? 's' : ''}, and CAA permits ${caList.filter((c) => c.ok).map((c) => c.ca).join(', ')} of the list.`));
  } else if (report.ok || ready) {
    ctx.out.info(p.ok(`Ready: all ${report.results.length} checks passed for ${names.length} name${names.length > 1 ? 's' : ''}.`));
  } else {
    ctx.out.attention(p.bad(`Not ready: ${failed.length} of ${report.results.length} checks failed. An order now would fail validation and count against the CA's limits.`));
  }
  return code;
}

/** The evidence of a failed check, as short "label  value" lines. */
function evidenceLines(r: PrecheckResult): string[] {
  const e = r.evidence as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const out: string[] = [];
  switch (r.check) {
    case 'dns':
      out.push(`asked     ${e.resolver}`);
      for (const t of ['A', 'AAAA']) if (e[t]) out.push(`${t.padEnd(9)} ${e[t].outcome === 'ok' ? e[t].records.join(', ') : `${e[t].outcome} (${e[t].code})`}`);
      break;
    case 'http01':
      for (const h of (e.hops ?? []) as { url: string; address?: string; status?: number; location?: string; error?: string }[]) {
        const got = h.error ? h.error : `${h.status}${h.location ? ` → ${h.location}` : ''}`;
        out.push(`fetched   ${h.url}${h.address ? ` (${h.address})` : ''}: ${got}`);
      }
      if (e.received !== undefined) out.push(`got       ${JSON.stringify(e.received)}`);
      if (e.expected !== undefined && e.failure === 'body-mismatch') out.push(`expected  ${JSON.stringify(e.expected)}`);
      break;
    case 'tlsalpn01':
      for (const t of (e.tried ?? []) as { address: string; detail: string; alpn?: string | null; sans?: string[] | null }[]) {
        out.push(`connected ${t.address} port ${e.port}: ${t.detail}`);
        if (t.sans?.length) out.push(`got       ALPN ${t.alpn ?? 'none'}, certificate for ${t.sans.join(', ')}`);
      }
      if (e.expectedDigest && e.failure === 'digest-mismatch') out.push(`expected  acmeIdentifier ${e.expectedDigest}`);
      break;
    case 'caa':
      for (const a of (e.asked ?? []) as { name: string; outcome: string; records?: string[] }[]) {
        out.push(`CAA       ${a.name}: ${a.records?.length ? a.records.join('; ') : a.outcome}`);
      }
      if (e.decidingRecord) out.push(`deciding  ${e.decidingRecord}`);
      break;
    case 'dns01':
      if (e.rcode) out.push(`answer    ${e.rcode}${e.server ? ` from ${e.server}` : ''}`);
      break;
    case 'failures':
      if (Array.isArray(e.failures)) out.push(`failed    ${e.failures.join(', ')}`);
      if (e.lastError?.detail) out.push(`last      ${e.lastError.detail}`);
      break;
  }
  return out;
}
