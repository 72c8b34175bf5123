/**
 * The DNS-01 options, shared by `issue` and `check` (and the config file's
 * `dns:` through the same checks): one place that adds them to a command
 * and one that checks them into core's DnsSettings — before the ledger is
 * opened or anything is sent. The key / credentials files are read here, so
 * a damaged one is exit 2 with nothing written; their secrets are never kept.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { InputError } from '../core/errors.js';
import type { DnsSettings } from '../core/ledger/ledger.js';
import { DNS_METHODS, dnsProviderFor } from '../core/challenge/dns01.js';
import { parseServer } from '../core/dns/transport.js';
import { normalizeName, quote } from '../core/names.js';
import * as v from './validate.js';

export interface DnsOptions {
  dns?: string;
  dnsServer?: string;
  tsigKey?: string;
  tsigKeyName?: string;
  dnsZone?: string;
  dnsPropagationTimeout?: string | number;
  dnsHook?: string;
  dnsCleanupHook?: string;
  acmeDnsCredentials?: string;
  acmeDnsApi?: string;
}

export function addDnsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--dns <method>', 'answer DNS-01 instead of HTTP-01 (needed for wildcards): rfc2136, hook or acme-dns').choices([...DNS_METHODS]))
    .option('--dns-server <host[:port]>', 'rfc2136: the primary nameserver that accepts signed dynamic updates')
    .option('--tsig-key <file>', 'rfc2136: the TSIG key file as tsig-keygen writes it (only its path is remembered)')
    .option('--tsig-key-name <name>', 'rfc2136: which key of the file, when it holds several')
    .option('--dns-zone <zone>', 'the zone holding _acme-challenge (default: found from the SOA)')
    .option('--dns-propagation-timeout <seconds>', 'how long to wait for every authoritative nameserver to have the TXT records (default 120)')
    .option('--dns-hook <cmd>', 'hook: the command that adds the TXT record (certbot manual-hook environment; run without a shell)')
    .option('--dns-cleanup-hook <cmd>', 'hook: the command that removes it')
    .option('--acme-dns-credentials <file>', 'acme-dns: the credentials JSON (as lego / certbot-dns-acmedns keep it; only its path is remembered)')
    .option('--acme-dns-api <url>', 'acme-dns: the API URL for accounts without server_url');
}

const FOR: Record<string, (keyof DnsOptions)[]> = {
  rfc2136: ['dnsServer', 'tsigKey', 'tsigKeyName'],
  hook: ['dnsHook', 'dnsCleanupHook'],
  'acme-dns': ['acmeDnsCredentials', 'acmeDnsApi'],
};
const FLAG: Record<string, string> = {
  dnsServer: '--dns-server',
  tsigKey: '--tsig-key',
  tsigKeyName: '--tsig-key-name',
  dnsZone: '--dns-zone',
  dnsPropagationTimeout: '--dns-propagation-timeout',
  dnsHook: '--dns-hook',
  dnsCleanupHook: '--dns-cleanup-hook',
  acmeDnsCredentials: '--acme-dns-credentials',
  acmeDnsApi: '--acme-dns-api',
};

/** The DNS-01 settings the options give (undefined without --dns), checked and with every file read once. */
export function dnsSettingsFrom(o: DnsOptions, where = ''): DnsSettings | undefined {
  const at = (flag: string) => (where ? `${where}: ${flag}` : flag);
  if (o.dns === undefined) {
    const stray = Object.keys(FLAG).find((k) => o[k as keyof DnsOptions] !== undefined);
    if (stray) throw new InputError(`${at(FLAG[stray]!)} is a DNS-01 option, but no --dns method was given.`, 'Add --dns rfc2136, --dns hook or --dns acme-dns.');
    return undefined;
  }
  const method = o.dns as DnsSettings['method'];
  if (!(DNS_METHODS as readonly string[]).includes(method)) throw new InputError(`${at('--dns')} ${quote(String(o.dns))} is not a DNS-01 method.`, `Use one of: ${DNS_METHODS.join(', ')}.`);
  for (const [m, keys] of Object.entries(FOR)) {
    if (m === method) continue;
    const k = keys.find((x) => o[x] !== undefined);
    if (k) throw new InputError(`${at(FLAG[k]!)} belongs to --dns ${m}, not --dns ${method}.`, `Leave it out, or use --dns ${m}.`);
  }
  for (const k of Object.keys(FLAG)) {
    const val = o[k as keyof DnsOptions];
    if (typeof val === 'string') v.nonEmpty(val, at(FLAG[k]!), 'a value');
  }
  const s: DnsSettings = { method };
  if (o.dnsZone !== undefined) {
    try {
      s.zone = normalizeName(o.dnsZone.replace(/\.$/, ''), { allowWildcard: false });
    } catch {
      throw new InputError(`${at('--dns-zone')} ${quote(o.dnsZone)} is not a DNS zone name.`, 'Give the zone as its SOA names it, e.g. example.com.');
    }
  }
  if (o.dnsPropagationTimeout !== undefined) {
    const n = v.seconds(o.dnsPropagationTimeout, at('--dns-propagation-timeout'), 3600)!;
    if (n < 1) throw new InputError(`${at('--dns-propagation-timeout')} must be at least 1 second.`);
    s.propagationTimeout = n;
  }
  if (method === 'rfc2136') {
    if (o.dnsServer === undefined) throw new InputError(`${at('--dns rfc2136')} needs --dns-server HOST[:PORT], the primary nameserver that accepts dynamic updates.`);
    if (o.tsigKey === undefined) throw new InputError(`${at('--dns rfc2136')} needs --tsig-key FILE, the key file tsig-keygen wrote.`);
    if (!parseServer(o.dnsServer)) throw new InputError(`${at('--dns-server')} ${quote(o.dnsServer)} is not HOST or HOST:PORT.`, 'E.g. ns1.example.com, 192.0.2.1:53 or [2001:db8::1]:53.');
    s.server = o.dnsServer;
    s.tsigKeyFile = path.resolve(o.tsigKey);
    if (o.tsigKeyName !== undefined) s.tsigKeyName = o.tsigKeyName;
  } else if (method === 'hook') {
    if (o.dnsHook === undefined) throw new InputError(`${at('--dns hook')} needs --dns-hook CMD, the command that adds the TXT record.`, 'Give the scripts you use with certbot --manual-auth-hook (and --dns-cleanup-hook for --manual-cleanup-hook).');
    s.hook = o.dnsHook;
    if (o.dnsCleanupHook !== undefined) s.cleanupHook = o.dnsCleanupHook;
  } else {
    if (o.acmeDnsCredentials === undefined) throw new InputError(`${at('--dns acme-dns')} needs --acme-dns-credentials FILE.`, 'Give the JSON file lego or certbot\'s acme-dns plugin keeps.');
    s.acmeDnsCredentials = path.resolve(o.acmeDnsCredentials);
    if (o.acmeDnsApi !== undefined) s.acmeDnsApi = v.url(o.acmeDnsApi, at('--acme-dns-api'));
  }
  // Reads the key / credentials file and splits the hook command lines: anything wrong is exit 2 now.
  dnsProviderFor(s);
  return s;
}
