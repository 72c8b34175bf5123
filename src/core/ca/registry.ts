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
