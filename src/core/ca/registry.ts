import { InputError } from '../errors.js';

/**
 * CAs are data. Adding a CA is adding an entry here (or in the config file,
 * `cas:`), never an if-branch elsewhere. The rate-limit policy of each CA
 * lives in src/core/limits/policies.ts under the same `policyId`; a CA that
 * publishes no limits says so (`limitsPublished: false`) and is planned with
 * certctl's conservative default, which is labelled as certctl's own guess.
 *
 * Facts: each CA's own documentation, read 2026-12-01 (the `source` of each
 * entry); Let's Encrypt's from ../shared/reference/rate-limits.md.
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
  /** Whether the CA publishes its rate limits (false: planned with the conservative default, and said so). */
  limitsPublished: boolean;
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
  /** External Account Binding: required by the CA to register an account, or not. */
  eab: 'required' | 'no';
  /** ACME profiles (draft-ietf-acme-profiles) the CA documents; [] when it documents none. */
  profiles: string[];
  /** Where these facts come from, and when they were read (ISO date). */
  source: string;
  date: string;
  /** Set for a CA from the config file (`cas:`): where it was declared. */
  custom?: { file: string; caBundle?: string; eab?: { kid: string; hmacKeyFile?: string; hmacKeyEnv?: string } };
}

const LE_SRC = 'https://letsencrypt.org/docs/ (rate-limits, staging-environment, profiles, caa): ../shared/reference/rate-limits.md, ari-and-profiles.md';
const READ = '2026-12-01';

export const CAS: readonly CaProfile[] = [
  {
    id: 'letsencrypt',
    name: "Let's Encrypt",
    directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
    stagingId: 'letsencrypt-staging',
    policyId: 'letsencrypt',
    limitsPublished: true,
    caaIdentities: ['letsencrypt.org'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: false,
    eab: 'no',
    profiles: ['classic', 'tlsserver', 'shortlived'],
    source: LE_SRC,
    date: '2026-08-01',
  },
  {
    id: 'letsencrypt-staging',
    name: "Let's Encrypt (staging)",
    directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
    stagingId: 'letsencrypt-staging',
    policyId: 'letsencrypt-staging',
    limitsPublished: true,
    caaIdentities: ['letsencrypt.org'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: true,
    eab: 'no',
    profiles: ['classic', 'tlsserver', 'shortlived'],
    source: LE_SRC,
    date: '2026-08-01',
  },
  {
    id: 'zerossl',
    name: 'ZeroSSL',
    directoryUrl: 'https://acme.zerossl.com/v2/DV90',
    policyId: 'default',
    limitsPublished: false,
    // ZeroSSL issues from Sectigo's roots and checks CAA for "sectigo.com" (help.zerossl.com "Invalid CAA Records").
    caaIdentities: ['sectigo.com'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'required',
    profiles: [],
    source: 'https://project.zerossl.com/documentation/acme/ (directory https://acme.zerossl.com/v2/DV90, EAB credentials endpoint); https://help.zerossl.com/hc/en-us/articles/360060119753-Invalid-CAA-Records (CAA "sectigo.com"); no staging directory and no ACME rate limits published',
    date: READ,
  },
  {
    id: 'google',
    name: 'Google Trust Services',
    directoryUrl: 'https://dv.acme-v02.api.pki.goog/directory',
    stagingId: 'google-staging',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['pki.goog'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'required',
    profiles: [],
    source: 'https://developers.google.com/public-key-infrastructure/faq (how to get a certificate: ACME with EAB from the Cloud console, CAA "pki.goog"); directory URLs as preset by acme.sh (CA_GOOGLE / CA_GOOGLE_TEST); no ACME rate-limit numbers published',
    date: READ,
  },
  {
    id: 'google-staging',
    name: 'Google Trust Services (staging)',
    directoryUrl: 'https://dv.acme-v02.test-api.pki.goog/directory',
    stagingId: 'google-staging',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['pki.goog'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: true,
    eab: 'required',
    profiles: [],
    source: 'directory as preset by acme.sh (CA_GOOGLE_TEST); EAB from the Cloud console as for production; no rate limits published',
    date: READ,
  },
  {
    id: 'buypass',
    name: 'Buypass Go SSL',
    directoryUrl: 'https://api.buypass.com/acme/directory',
    stagingId: 'buypass-staging',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['buypass.com'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'no',
    profiles: [],
    source: 'https://www.buypass.com/products/tls-ssl-certificates/resources-tls-ssl-certificates/products/buypass-go-ssl-technical-information (directory, registration without EAB); CAA domain buypass.com from Buypass\'s CPS (not re-read 2026-12-01); no rate-limit numbers found in Buypass\'s own pages',
    date: READ,
  },
  {
    id: 'buypass-staging',
    name: 'Buypass Go SSL (test)',
    directoryUrl: 'https://api.test4.buypass.no/acme/directory',
    stagingId: 'buypass-staging',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['buypass.com'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: true,
    eab: 'no',
    profiles: [],
    source: 'directory as preset by acme.sh and dehydrated (CA_BUYPASS_TEST); no rate limits published',
    date: READ,
  },
  {
    id: 'sslcom-rsa',
    name: 'SSL.com (DV, RSA)',
    directoryUrl: 'https://acme.ssl.com/sslcom-dv-rsa',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['ssl.com'],
    keyTypes: ['rsa'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'required',
    profiles: [],
    source: 'https://www.ssl.com/how-to/configure-caa-records-to-authorize-ssl-com/ (CAA "ssl.com"); directory per key type as preset by acme.sh (CA_SSLCOM_RSA); EAB from the SSL.com account; no rate limits published',
    date: READ,
  },
  {
    id: 'sslcom-ecc',
    name: 'SSL.com (DV, ECDSA)',
    directoryUrl: 'https://acme.ssl.com/sslcom-dv-ecc',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['ssl.com'],
    keyTypes: ['ecdsa'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'required',
    profiles: [],
    source: 'https://www.ssl.com/how-to/configure-caa-records-to-authorize-ssl-com/ (CAA "ssl.com"); directory as preset by acme.sh (CA_SSLCOM_ECC); EAB from the SSL.com account; no rate limits published',
    date: READ,
  },
  {
    id: 'actalis',
    name: 'Actalis',
    directoryUrl: 'https://acme-api.actalis.com/acme/directory',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: ['actalis.it'],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: false,
    maxNames: 100,
    test: false,
    eab: 'required',
    profiles: [],
    source: 'https://guide.actalis.com/ssl-certificate/acme.aspx (ACME activated from the customer area, EAB credentials there; DV single-host and SAN certificates); CAA domain actalis.it from Actalis\'s CPS (not re-read 2026-12-01); no staging directory and no rate limits published',
    date: READ,
  },
  {
    id: 'sm2acme',
    name: 'SM2 ACME Service',
    // The service has not published its API (seed 004); the URL is set with --server or the config file.
    policyId: 'sm2acme',
    limitsPublished: true,
    caaIdentities: [],
    keyTypes: ['sm2'],
    ipIdentifiers: false,
    maxNames: 20,
    test: false,
    eab: 'no',
    profiles: [],
    source: 'SM2 ACME Service Rate Limits (seed 004_95c0d6e27a05826f); its API is not public (docs/sm2.md)',
    date: '2023-01-06',
  },
  {
    id: 'pebble',
    name: 'Pebble (local test CA)',
    directoryUrl: 'https://127.0.0.1:14000/dir',
    stagingId: 'pebble',
    policyId: 'default',
    limitsPublished: false,
    caaIdentities: [],
    keyTypes: ['rsa', 'ecdsa', 'dual'],
    ipIdentifiers: true,
    maxNames: 100,
    test: true,
    eab: 'no',
    profiles: [],
    source: 'https://github.com/letsencrypt/pebble (a test CA: no limits)',
    date: READ,
  },
];

/** CAs declared in the config file (`cas:`), set by registerCustomCas when the config is read. */
let CUSTOM: readonly CaProfile[] = [];

/**
 * Make the config file's CAs known to every lookup below (findCa, caForDirectory,
 * resolveCa, caForLineage): `--ca NAME` then works for them in every command.
 */
export function registerCustomCas(cas: readonly CaProfile[]): void {
  CUSTOM = cas;
}

/** The catalogue and the config file's CAs. */
export function allCas(): readonly CaProfile[] {
  return CUSTOM.length ? [...CAS, ...CUSTOM] : CAS;
}

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
    limitsPublished: false,
    eab: 'no',
    profiles: [],
    source: `--server ${directoryUrl}`,
    date: '',
  };
}

export function findCa(id: string): CaProfile | undefined {
  return allCas().find((c) => c.id === id);
}

/** Known CA whose directory URL is exactly this one, if any. */
export function caForDirectory(url: string): CaProfile | undefined {
  return allCas().find((c) => c.directoryUrl === url);
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
  return new InputError(`Unknown CA "${id}".`, `Known CAs: ${allCas().map((c) => c.id).join(', ')} (certctl ca list); or give any ACME directory with --server URL.`);
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

/**
 * An ordered list of CAs (`--ca letsencrypt,zerossl`, config `ca: [letsencrypt, zerossl]`): each
 * resolved as resolveCa would (`--staging` applies to each); `--server` names one CA and cannot be
 * combined with a list. A single id gives a list of one.
 */
export function resolveCaList(opts: { ca?: string; server?: string; staging?: boolean }): { ca: CaProfile; directoryUrl: string }[] {
  const ids = caListIds(opts.ca);
  if (ids.length <= 1) return [resolveCa({ ...opts, ca: ids[0] })];
  if (opts.server) throw new InputError('--server names one CA; it cannot go with a list of CAs in --ca.', 'Declare each CA of the list by id (a custom CA under cas: in the config file), or give one CA.');
  const out = ids.map((id) => resolveCa({ ca: id, staging: opts.staging }));
  const urls = new Set(out.map((c) => c.directoryUrl));
  if (urls.size !== out.length) throw new InputError(`Two CAs of --ca ${opts.ca} have the same directory URL.`, 'A fail-over list needs different CAs.');
  return out;
}

/**
 * The most CAs a fail-over list may name: each is planned (and CAA-checked) before every order,
 * and the catalogue holds seven public CAs; a longer list is a mistake, not a plan.
 */
export const MAX_CA_LIST = 8;

/**
 * The ids of `--ca a,b` in order, checked as a list before anything is resolved or sent: no empty
 * element ("letsencrypt,,zerossl" is a typo, not a list of two), no CA twice, at most MAX_CA_LIST.
 * Unknown ids are refused by resolveCa. `undefined` (no --ca) is the empty list.
 */
export function caListIds(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const ids = raw.split(',').map((x) => x.trim());
  const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 77)}...` : raw);
  if (ids.some((x) => x === '')) {
    throw new InputError(`--ca ${shown} has an empty element.`, 'Give CA ids separated by single commas, e.g. --ca letsencrypt,zerossl (certctl ca list shows the ids).');
  }
  if (ids.length > MAX_CA_LIST) throw new InputError(`--ca names ${ids.length} CAs; a fail-over list holds at most ${MAX_CA_LIST}.`, 'Keep the CAs you would really use, in the order to try them.');
  const twice = ids.find((x, i) => ids.indexOf(x) !== i);
  if (twice) throw new InputError(`--ca ${shown} names the CA ${twice} twice.`, 'Give each CA of the list once, in the order to try them.');
  return ids;
}

/** The directory URL of a CA id for a lineage's CA list (the lineage's own URL for its own CA). */
export function candidateFor(id: string, lineage: { ca_id: string; directory_url: string }): { ca: CaProfile; directoryUrl: string } | undefined {
  if (id === lineage.ca_id) {
    const ca = caForLineage(lineage);
    return { ca, directoryUrl: lineage.directory_url };
  }
  const ca = findCa(id);
  return ca?.directoryUrl ? { ca, directoryUrl: ca.directoryUrl } : undefined;
}
