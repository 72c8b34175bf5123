/**
 * The ONE place certctl reaches into acme-client beyond its documented API
 * (acme-client 5.4.0, pinned in package.json). Everything else in certctl
 * uses acme-client's public Client methods (createOrder, getAuthorizations,
 * completeChallenge, getCertificate, getAccountUrl,
 * getChallengeKeyAuthorization) and `acme.setLogger`.
 *
 * What this file relies on, and why:
 *
 *  A. `acme.axios`, the axios instance every acme-client request goes through
 *     (a documented customisation point; certctl sets its agent, time-out and
 *     User-Agent there — plain axios `defaults`):
 *   1. its `interceptors.request` / `interceptors.response` are where
 *      acme-client's own retry lives (429 and 5xx slept for Retry-After, up
 *      to 5 times: a week-long sleep inside cron, and with retries off it
 *      hides network errors behind a TypeError); they can be `clear()`ed and
 *      replaced by certctl's (transport.ts) — `replaceInterceptors`;
 *   2. `defaults.acmeSettings.retryMaxAttempts` bounds that retry loop; it is
 *      set to 0 as well, so a version that kept a retry outside the cleared
 *      interceptors would still not sleep — `disableBuiltInRetries`;
 *   3. acme-client's HttpClient sends every request with `validateStatus:
 *      null`, so (its interceptors gone) every HTTP status, 4xx and 5xx
 *      included, reaches the response interceptor's success path: certctl's
 *      bounded 5xx retry and its problem capture depend on that.
 *
 *  B. `client.api`, the private AcmeApi of a Client (read afresh on each use:
 *     acme-client swaps it on an account key change) — `internalsOf`:
 *   4. `api.http.getNonce()` is what `signedRequest` calls for every JWS that
 *      has no nonce yet; it is replaced so a pooled Replay-Nonce is used
 *      first (transport.ts `takeNonce`), which halves the requests;
 *   5. `api.http.getDirectory()` returns the directory document (cached by
 *      acme-client for a day): its `meta` (EAB, profiles), `renewalInfo`;
 *   6. `api.createAccount(payload)` sends newAccount alone and keeps the
 *      Location as the account URL (201 new, 200 the CA already has one for
 *      the key) — Client.createAccount follows a 200 with an account update
 *      that some CAs refuse as empty;
 *   7. `api.apiRequest(url, null, [200])` is a signed POST-as-GET of any
 *      object (order, authorization), throwing on another status;
 *   8. `api.accountUrl` is read and written: null makes the next newAccount
 *      go out with the JWK (registering again after the CA lost the
 *      account); a URL adopts an account another session registered.
 *   9. `api.apiResourceRequest('revokeCert', payload, [200], { includeJwsKid:
 *      false })` signs revokeCert with the client's key as a JWK instead of
 *      an account's kid: RFC 8555 §7.6 revocation signed by the
 *      certificate's own key (Client.revokeCertificate always sends a kid,
 *      and a Client built with the certificate key has no account).
 *  11. `api.apiRequest(order.finalize, { csr }, [200])` is finalize, as
 *      Client.finalizeOrder sends it, without its PEM parsing: that goes
 *      through @peculiar/x509, the largest module acme-client loads (~0.17 s
 *      of CPU on the loaded 2-core machine), which the CLI's vendored
 *      acme-client (scripts/bundle.mjs) loads only when first used — certctl
 *      has the CSR's DER itself (`finalizeWith`).
 *  10. the public `client.updateAccountKey(newKey)` (RFC 8555 §7.3.5, certctl
 *      account rollover) sends the nested keyChange JWS and then REPLACES
 *      `client.api` (and its http) with ones signed by the new key, same
 *      account URL: everything above is read afresh by `internalsOf`, and the
 *      nonce hook (4) must be installed again on the new api (session.ts
 *      rolloverAccountKey does).
 *
 * test/unit/acme-client-contract.test.ts checks each of these against the
 * installed acme-client and fails naming the assumption that broke: run it
 * after every acme-client upgrade. At run time `internalsOf` and
 * `acmeAxios` refuse loudly (exit 1, "internal error") rather than let a
 * changed acme-client silently bypass the nonce pool or sleep on a 429.
 */
import { CertctlError, ExitCode } from '../errors.js';

// acme-client is CommonJS with its own types; loaded lazily (it pulls axios and X.509 parsers).
export type AcmeModule = typeof import('acme-client');
export type AcmeClient = InstanceType<AcmeModule['Client']>;

/** acme-client's axios instance, as far as certctl uses it. */
export interface AcmeAxios {
  defaults: { httpsAgent?: unknown; proxy?: false; timeout?: number; acmeSettings?: Record<string, unknown>; headers: { common: Record<string, string> } };
  interceptors: {
    request: { clear(): void; use(ok: (c: AxiosConfig) => AxiosConfig | Promise<AxiosConfig>): void };
    response: { clear(): void; use(ok: (r: AxiosResponse) => unknown, bad: (e: AxiosFailure) => unknown): void };
  };
  request(cfg: AxiosConfig): Promise<AxiosResponse>;
  get(url: string, cfg?: object): Promise<AxiosResponse>;
}
export interface AxiosConfig {
  url?: string;
  method?: string;
  __certctlAttempt?: number;
  __certctlStart?: number;
  [k: string]: unknown;
}
export interface AxiosResponse {
  status: number;
  headers: Record<string, string | undefined>;
  data: unknown;
  config: AxiosConfig;
}
export interface AxiosFailure {
  code?: string;
  message: string;
  config?: AxiosConfig;
  response?: AxiosResponse;
}

/** A broken assumption about acme-client: a certctl bug to fix here, said plainly. */
export class AcmeClientContractError extends CertctlError {
  constructor(assumption: string) {
    super(
      `The installed acme-client no longer offers what certctl relies on: ${assumption}.`,
      ExitCode.INTERNAL,
      'Install the acme-client version pinned in certctl’s package.json (npm ci), or update src/core/acme/adapter.ts and run test/unit/acme-client-contract.test.ts.',
    );
    this.name = 'AcmeClientContractError';
  }
}

function need(ok: boolean, assumption: string): void {
  if (!ok) throw new AcmeClientContractError(assumption);
}
const isFn = (v: unknown): boolean => typeof v === 'function';

/** acme-client itself (lazy: keeps `certctl --version` and planning fast). */
export async function loadAcme(): Promise<AcmeModule> {
  return (await import('acme-client')).default as unknown as AcmeModule;
}

/** `acme.axios`, checked to be what A.1–A.2 above rely on. */
export function acmeAxios(acme: AcmeModule): AcmeAxios {
  const ax = (acme as unknown as { axios?: Partial<AcmeAxios> }).axios;
  need(!!ax && isFn(ax.request) && !!ax.defaults, 'acme.axios (the axios instance acme-client sends through) is missing');
  need(isFn(ax!.interceptors?.request?.clear) && isFn(ax!.interceptors?.response?.clear), 'acme.axios.interceptors.request/response.clear() are missing');
  return ax as AcmeAxios;
}

/** A.1: remove acme-client's interceptors (its sleeping retry) and install certctl's instead. */
export function replaceInterceptors(
  axios: AcmeAxios,
  request: (c: AxiosConfig) => AxiosConfig | Promise<AxiosConfig>,
  response: { ok: (r: AxiosResponse) => unknown; bad: (e: AxiosFailure) => unknown },
): void {
  axios.interceptors.request.clear();
  axios.interceptors.response.clear();
  axios.interceptors.request.use(request);
  axios.interceptors.response.use(response.ok, response.bad);
}

/** A.2: acme-client's own retry loop, bounded to no retries. */
export function disableBuiltInRetries(axios: AcmeAxios): void {
  if (axios.defaults.acmeSettings) axios.defaults.acmeSettings.retryMaxAttempts = 0;
}

/** What certctl uses of a Client's private AcmeApi (B.4–B.8 above). */
export interface ClientInternals {
  /** B.4: every signed request without a nonce takes `take()` first, else asks newNonce. */
  useNoncesFrom(take: () => string | undefined): void;
  /** B.5: the directory document. */
  directory(): Promise<Record<string, unknown>>;
  /** B.6: newAccount alone; the account URL becomes its Location. */
  newAccount(payload: object): Promise<unknown>;
  /** B.7: signed POST-as-GET, 200 expected. */
  postAsGet(url: string): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }>;
  /** B.8: the account URL the client signs with (kid); null → the next newAccount sends the JWK. */
  accountUrl: string | null;
  /** B.9: revokeCert signed with the client's own key as a JWK (no account): the certificate key's revocation. */
  revokeWithJwk(payload: { certificate: string; reason?: number }): Promise<unknown>;
  /** B.11: finalize with the CSR's DER (base64url), as Client.finalizeOrder sends it; the answer is the order (with its URL). */
  finalizeWith(order: { url?: string; finalize?: string }, csrDerB64u: string): Promise<Record<string, unknown>>;
}

interface PrivateApi {
  accountUrl: string | null;
  http: { getNonce(): Promise<string>; getDirectory(): Promise<Record<string, unknown>> };
  createAccount(payload: object): Promise<unknown>;
  apiRequest(url: string, payload: object | null, ok: number[]): Promise<{ data: Record<string, unknown>; headers: Record<string, string | undefined> }>;
  apiResourceRequest(resource: string, payload: object, ok: number[], o: { includeJwsKid: boolean }): Promise<unknown>;
}

function apiOf(client: AcmeClient): PrivateApi {
  const api = (client as unknown as { api?: Partial<PrivateApi> }).api;
  need(!!api && typeof api === 'object', 'client.api (the Client’s AcmeApi) is missing');
  need(!!api!.http && isFn(api!.http.getNonce), 'client.api.http.getNonce() is missing');
  need(isFn(api!.http!.getDirectory), 'client.api.http.getDirectory() is missing');
  need(isFn(api!.createAccount), 'client.api.createAccount() is missing');
  need(isFn(api!.apiRequest), 'client.api.apiRequest() is missing');
  need(isFn(api!.apiResourceRequest), 'client.api.apiResourceRequest() is missing');
  need('accountUrl' in api!, 'client.api.accountUrl is missing');
  return api as PrivateApi;
}

/** The private parts of `client` certctl uses, checked now (throws AcmeClientContractError). */
export function internalsOf(client: AcmeClient): ClientInternals {
  apiOf(client);
  return {
    useNoncesFrom(take) {
      const http = apiOf(client).http;
      const ask = http.getNonce.bind(http);
      http.getNonce = async () => take() ?? ask();
    },
    directory: () => apiOf(client).http.getDirectory(),
    newAccount: (payload) => apiOf(client).createAccount(payload),
    postAsGet: (url) => apiOf(client).apiRequest(url, null, [200]),
    revokeWithJwk: (payload) => apiOf(client).apiResourceRequest('revokeCert', payload, [200], { includeJwsKid: false }),
    async finalizeWith(order, csr) {
      // Client.finalizeOrder's own checks and answer: no finalize URL is its error; the order's URL is added.
      if (!order.finalize) throw new Error('Unable to finalize order, URL not found');
      const resp = await apiOf(client).apiRequest(order.finalize, { csr }, [200]);
      resp.data.url = order.url;
      return resp.data;
    },
    get accountUrl() {
      return apiOf(client).accountUrl;
    },
    set accountUrl(url: string | null) {
      apiOf(client).accountUrl = url;
    },
  };
}

/** The body of the first PEM block of `pem` as base64url (what Client.finalizeOrder sends of a CSR). */
export function pemBodyB64u(pem: string): string {
  const m = /-----BEGIN [^-\r\n]+-----\r?\n([\s\S]*?)-----END [^-\r\n]+-----/.exec(pem);
  if (!m) throw new Error('Unable to parse PEM body from string');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64').toString('base64url');
}
