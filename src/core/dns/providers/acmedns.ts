/**
 * The acme-dns provider (joohoi/acme-dns): `_acme-challenge.<name>` is a
 * CNAME to `<subdomain>.<acme-dns zone>`, and the value is set through the
 * acme-dns HTTP API, `POST <api>/update` with the account's X-Api-User and
 * X-Api-Key headers and `{"subdomain": …, "txt": …}`.
 *
 * Credentials: the JSON file lego (ACME_DNS_STORAGE_PATH) and certbot's
 * acme-dns plugin keep — one account per domain:
 *
 *     { "example.com": { "username": "…", "password": "…",
 *                        "fulldomain": "<uuid>.auth.example.org",
 *                        "subdomain": "<uuid>", "allowfrom": [],
 *                        "server_url": "https://auth.example.org" } }
 *
 * (server_url optional — lego writes it; otherwise the API URL is given.)
 * The password never appears in a message. acme-dns keeps the two most
 * recent values of a subdomain, which is exactly a wildcard plus its base
 * name; it has no delete, so clean-up does nothing (the values are
 * replaced by the next update).
 */
import { readSecretFile } from '../keyfile.js';
import { InputError } from '../../errors.js';
import { DnsError } from '../errors.js';
import type { DnsProvider, DnsRecord } from './types.js';

export interface AcmeDnsAccount {
  username: string;
  password: string;
  fulldomain: string;
  subdomain: string;
  serverUrl?: string;
}

export interface AcmeDnsOptions {
  /** domain (base name, no "*.") → account */
  accounts: Map<string, AcmeDnsAccount>;
  /** The acme-dns API base URL, for accounts without server_url. */
  apiUrl?: string;
  timeoutMs?: number;
}

function checkUrl(u: string, where: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new InputError(`${where}: "${u.slice(0, 100)}" is not a URL.`, 'Give the acme-dns API base URL, e.g. https://auth.example.org');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(`${where}: the acme-dns API URL must be http(s).`);
  if (url.username || url.password) throw new InputError(`${where}: the acme-dns API URL must not hold credentials.`);
  return u.replace(/\/+$/, '');
}

/** Parse the credentials JSON (strict: every problem listed, the password never shown). */
export function parseAcmeDnsCredentials(text: string, file = 'acme-dns credentials'): Map<string, AcmeDnsAccount> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message.replace(/ in JSON.*$/, '')}).`, 'It is the JSON file lego or certbot\'s acme-dns plugin wrote: {"example.com": {"username": …, "password": …, "fulldomain": …, "subdomain": …}}');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InputError(`${file}: expected a JSON object of domain → acme-dns account.`);
  const errors: string[] = [];
  const out = new Map<string, AcmeDnsAccount>();
  for (const [domain, acc] of Object.entries(doc as Record<string, unknown>)) {
    const d = domain.toLowerCase().replace(/\.$/, '').replace(/^\*\./, '');
    if (!acc || typeof acc !== 'object' || Array.isArray(acc)) {
      errors.push(`${file}: "${domain}": expected an object with username, password, fulldomain and subdomain.`);
      continue;
    }
    const a = acc as Record<string, unknown>;
    const str = (k: string): string | undefined => {
      const v = a[k];
      if (typeof v !== 'string' || v === '') {
        errors.push(`${file}: "${domain}".${k}: missing or not a string.`);
        return undefined;
      }
      return v;
    };
    const username = str('username');
    const password = str('password');
    const fulldomain = str('fulldomain');
    const subdomain = str('subdomain');
    let serverUrl: string | undefined;
    if (a.server_url !== undefined) {
      if (typeof a.server_url !== 'string') errors.push(`${file}: "${domain}".server_url: not a string.`);
      else serverUrl = a.server_url;
    }
    if (fulldomain && subdomain && !fulldomain.toLowerCase().startsWith(`${subdomain.toLowerCase()}.`)) {
      errors.push(`${file}: "${domain}": fulldomain does not start with subdomain (they come from the same /register answer).`);
    }
    if (username && password && fulldomain && subdomain) out.set(d, { username, password, fulldomain: fulldomain.toLowerCase().replace(/\.$/, ''), subdomain, serverUrl });
  }
  if (errors.length) throw new InputError(errors.join('\n'));
  if (out.size === 0) throw new InputError(`${file}: holds no account.`, 'Register with acme-dns (POST /register) and store its answer under the domain name.');
  return out;
}

export function loadAcmeDnsCredentials(file: string): Map<string, AcmeDnsAccount> {
  let text: string;
  try {
    text = readSecretFile(file, 'The acme-dns credentials file');
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.message, "Give --acme-dns-credentials the JSON file lego or certbot's acme-dns plugin keeps.");
    throw new InputError(`Cannot read the acme-dns credentials file ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
  return parseAcmeDnsCredentials(text, file);
}

export class AcmeDnsProvider implements DnsProvider {
  readonly kind = 'acme-dns';
  constructor(private readonly opts: AcmeDnsOptions) {
    if (opts.apiUrl) checkUrl(opts.apiUrl, 'acme-dns API URL');
  }

  /** The account for a domain (wildcard or not); InputError naming the domain when there is none. */
  account(domain: string): AcmeDnsAccount {
    const d = domain.toLowerCase().replace(/\.$/, '').replace(/^\*\./, '');
    const a = this.opts.accounts.get(d);
    if (!a) {
      throw new InputError(`The acme-dns credentials have no account for ${d} (they have: ${[...this.opts.accounts.keys()].join(', ')}).`, 'Register it with acme-dns and add its answer to the credentials file under that name.');
    }
    return a;
  }

  async present(r: DnsRecord): Promise<void> {
    const a = this.account(r.domain);
    const base = checkUrl(a.serverUrl ?? this.opts.apiUrl ?? '', `acme-dns account for ${r.domain}`);
    if (r.target !== a.fulldomain) {
      throw new DnsError('zone', `${r.fqdn} points to ${r.target}, not to the acme-dns name ${a.fulldomain}.`, {
        hint: `Add the record: ${r.fqdn}. CNAME ${a.fulldomain}.`,
      });
    }
    let res: Response;
    try {
      res = await fetch(`${base}/update`, {
        method: 'POST',
        headers: { 'X-Api-User': a.username, 'X-Api-Key': a.password, 'Content-Type': 'application/json' },
        body: JSON.stringify({ subdomain: a.subdomain, txt: r.value }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new DnsError('provider', `The acme-dns API ${base} could not be reached (${e.cause?.code ?? e.name}).`, { hint: 'Check the API URL and that acme-dns is running.' });
    }
    const body = (await res.text().catch(() => '')).slice(0, 300);
    if (res.status !== 200) {
      const hint = res.status === 401 || res.status === 403 ? 'The username / password (X-Api-User / X-Api-Key) were refused, or this host is not in the account\'s allowfrom list.' : undefined;
      throw new DnsError('provider', `The acme-dns API ${base} refused the update for ${r.domain} (HTTP ${res.status}${body ? `: ${body.replace(/\s+/g, ' ').trim()}` : ''}).`, { hint });
    }
  }

  /** acme-dns has no delete: a later update replaces the value. */
  async cleanup(): Promise<void> {}
}
