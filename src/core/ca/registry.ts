import { InputError } from '../errors.js';

/**
 * CAs are data. Adding a CA is adding an entry here (or in the config file),
 * never an if-branch elsewhere. The rate-limit policy of each CA lives in
 * src/core/limits/policies.ts under the same `policyId`.
 */
export interface CaProfile {
  /** Short id used on the command line (`--ca letsencrypt`) and in the ledger. */
  id: string;
  /** Human name. */
  name: string;
  /** ACME directory URL. Absent for CAs that are only defined by `--server`. */
  directoryUrl?: string;
  /** Id of the staging CA of the same family, used by `--staging` and `renew --dry-run`. */
  stagingId?: string;
  /** Id of the rate-limit policy in src/core/limits/policies.ts. */
  policyId: string;
  /** Domains this CA recognises in CAA `issue` / `issuewild` records (RFC 8659). */
  caaIdentities: string[];
  /** Certificate key types this CA issues for. */
  keyTypes: string[];
  /** Issues for IP address identifiers (RFC 8738). */
  ipIdentifiers: boolean;
  /** Most identifiers in one certificate. */
  maxNames: number;
  /** True for staging/test CAs whose certificates browsers do not trust. */
  test: boolean;
}

export const CAS: readonly CaProfile[] = [
  {
    id: 'letsencrypt',
    name: "Let's Encrypt",
    directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
    stagingId: 'letsencrypt-staging',
    policyId: 'letsencrypt',
    caaIdentities: ['letsencrypt.org'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: false,
  },
  {
    id: 'letsencrypt-staging',
    name: "Let's Encrypt (staging)",
    directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
    stagingId: 'letsencrypt-staging',
    policyId: 'letsencrypt-staging',
    caaIdentities: ['letsencrypt.org'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: true,
  },
  {
    id: 'sm2acme',
    name: 'SM2 ACME Service',
    // The service has not published its API (seed 004); the URL is set with --server or the config file.
    policyId: 'sm2acme',
    caaIdentities: [],
    keyTypes: ['sm2'],
    ipIdentifiers: false,
    maxNames: 20,
    test: false,
  },
  {
    id: 'pebble',
    name: 'Pebble (local test CA)',
    directoryUrl: 'https://127.0.0.1:14000/dir',
    stagingId: 'pebble',
    policyId: 'default',
    caaIdentities: [],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: true,
  },
];

/** The profile used for a `--server URL` that matches no known CA. */
export function unknownCa(directoryUrl: string): CaProfile {
  return {
    id: 'custom',
    name: `ACME CA at ${directoryUrl}`,
    directoryUrl,
    policyId: 'default',
    caaIdentities: [],
    keyTypes: ['rsa', 'ecdsa', 'dual', 'sm2'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
  };
}

export function findCa(id: string): CaProfile | undefined {
  return CAS.find((c) => c.id === id);
}

/** Known CA whose directory URL is exactly this one, if any. */
export function caForDirectory(url: string): CaProfile | undefined {
  return CAS.find((c) => c.directoryUrl === url);
}

/**
 * The CA a command talks to: `--server URL` (a known URL maps to its CA,
 * another URL is an unknown CA with the conservative policy), else `--ca ID`
 * (default letsencrypt); `--staging` switches to the CA's staging twin.
 */
export function resolveCa(opts: { ca?: string; server?: string; staging?: boolean }): { ca: CaProfile; directoryUrl: string } {
  let ca: CaProfile | undefined;
  if (opts.server) {
    let url: URL;
    try {
      url = new URL(opts.server);
    } catch {
      throw new InputError(`"${opts.server}" is not a URL.`, 'Give --server the ACME directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError(`--server must be an https URL, not ${url.protocol}`);
    ca = caForDirectory(opts.server);
    if (ca && opts.ca && ca.id !== opts.ca) ca = undefined;
    if (!ca && opts.ca) {
      const base = findCa(opts.ca);
      if (!base) throw unknownCaError(opts.ca);
      ca = { ...base, directoryUrl: opts.server };
    }
    ca ??= unknownCa(opts.server);
  } else {
    ca = findCa(opts.ca ?? 'letsencrypt');
    if (!ca) throw unknownCaError(opts.ca!);
  }
  if (opts.staging) {
    const st = ca.stagingId ? findCa(ca.stagingId) : undefined;
    if (!st) throw new InputError(`${ca.name} has no staging CA known to certctl.`, 'Drop --staging, or give the staging directory with --server.');
    ca = st;
  }
  if (!ca.directoryUrl) {
    throw new InputError(`${ca.name} has no directory URL configured.`, `Give it with --server URL (e.g. --ca ${ca.id} --server https://…/directory).`);
  }
  return { ca, directoryUrl: opts.server ?? ca.directoryUrl };
}

function unknownCaError(id: string): InputError {
  return new InputError(`Unknown CA "${id}".`, `Known CAs: ${CAS.map((c) => c.id).join(', ')}; or give any ACME directory with --server URL.`);
}

/**
 * The CA a stored lineage talks to: its CA by id, at the lineage's own
 * directory URL (a `--ca sm2acme --server URL` lineage has no URL in the
 * registry); else the known CA of that URL; else an unknown CA.
 */
export function caForLineage(l: { ca_id: string; directory_url: string }): CaProfile {
  const known = findCa(l.ca_id);
  return known ? { ...known, directoryUrl: l.directory_url } : (caForDirectory(l.directory_url) ?? unknownCa(l.directory_url));
}
