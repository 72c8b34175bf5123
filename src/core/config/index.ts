/**
 * The config file: defaults for `issue`/`renew`/`plan`, policy overrides (a
 * CA granted this account more), and the certificates to keep (`certctl
 * apply`). Where it lives: `--config FILE`, else `/etc/certctl/config.yaml`
 * for root, else `$XDG_CONFIG_HOME/certctl/config.yaml` (`~/.config/…`); a
 * missing default file is an empty config, a missing `--config` file an error.
 *
 * Every problem is reported with the file, the line and the field
 * (`config.yaml:12: certificates[1].domains: expected a list of names`) as an
 * InputError (exit 2), all of them at once, before anything is sent.
 */
import { parseProxyUrl } from '../net/proxy.js';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { LIMIT_NAMES, POLICIES, applyOverrides, findPolicy, policyFor, type PolicyOverride } from '../limits/policies.js';
import { parseConfigText, formatPath, type ConfigSource, type FieldPath } from './source.js';
import { MAX_CA_BUNDLE_BYTES } from '../store/read.js';
import { CAS, MAX_CA_LIST, registerCustomCas, type CaProfile } from '../ca/registry.js';
import { defaultConfigPath } from '../paths.js';
import { DEFAULT_HEADROOM_BELOW, DEFAULT_MAX_AGE_MS, DEFAULT_PERIOD_MS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, NOTIFY_KINDS, isLoopbackHost, type NotifyKind, type NotifySettings, type NotifyTarget, type SecretSource } from '../notify/types.js';

export interface HookSet {
  preHook?: string;
  postHook?: string;
  deployHook?: string;
}

/**
 * `dns:` (in defaults or per certificate): DNS-01 as `issue --dns` takes it —
 * method and the same options by their long names; files relative to the
 * config file. Checked like the command line's (cli/dns-options.ts) when used.
 */
export interface ConfigDns {
  method: string;
  server?: string;
  tsigKey?: string;
  tsigKeyName?: string;
  zone?: string;
  propagationTimeout?: number;
  hook?: string;
  cleanupHook?: string;
  acmeDnsCredentials?: string;
  acmeDnsApi?: string;
}

/** Used when the command line does not say. */
export interface ConfigDefaults {
  /** DNS-01 for every certificate that names no webroot / standalone of its own. */
  dns?: ConfigDns;
  /** A CA id, or an ordered list of them joined by commas (fail-over, docs/cas.md). */
  ca?: string;
  /** After a fail-over, keep renewing at the CA that issued instead of returning to the first of the list. */
  caStick?: boolean;
  /** When an unreachable first CA of a list is given up for the next one (docs/cas.md "Unreachable across runs"). */
  caUnreachable?: CaUnreachableSettings;
  /** The issuer CN of the topmost certificate of the chain to write, when the CA offers alternates (--preferred-chain). */
  preferredChain?: string;
  server?: string;
  email?: string;
  keyType?: string;
  webroot?: string;
  /** Accept a webroot that looks like a system directory (issue --force-webroot). */
  forceWebroot?: boolean;
  caBundle?: string;
  resolver?: string;
  httpPort?: number;
  hooks?: HookSet;
  /** External Account Binding: key id, and the HMAC key (prefer a file, mode 0600, to the key in clear here). */
  eabKid?: string;
  eabHmacKey?: string;
  eabHmacKeyFile?: string;
  /** Renew when fewer than this many days are left (renew --days). */
  renewDays?: number;
  /** Lineages worked on at the same time (renew, apply). */
  concurrency?: number;
}

/** `defaults.caUnreachable`: each field optional (failover.ts UNREACHABLE_DEFAULTS). */
export interface CaUnreachableSettings {
  /** Consecutive runs that could not reach the CA. */
  runs?: number;
  /** …spread over at least this long (first to last failure), in ms. */
  periodMs?: number;
  /** The renewal deadline: this long before expiry (at most a third of the lifetime), in ms. */
  marginMs?: number;
}

/** One certificate to keep (`certctl apply`). */
export interface DeclaredCertificate {
  /** Lineage name; default: the first name. */
  name?: string;
  domains: string[];
  webroot?: string;
  forceWebroot?: boolean;
  /** `true` (0.0.0.0:80) or "addr:port". */
  standalone?: string | true;
  /** HTTP-01 through the fleet: `certctl serve` on every host answers from the shared ledger (issue --serve; challenge `fleet`). */
  serve?: boolean;
  /** TLS-ALPN-01 from certctl's own responder: `true` (0.0.0.0:443) or "addr:port". */
  standaloneTls?: string | true;
  /** Port the CA connects to for TLS-ALPN-01 (default 443). */
  tlsPort?: number;
  /** DNS-01 (wildcards): instead of webroot / standalone. */
  dns?: ConfigDns;
  keyType?: string;
  /** A CA id, or an ordered list joined by commas (fail-over). */
  ca?: string;
  caStick?: boolean;
  preferredChain?: string;
  server?: string;
  staging?: boolean;
  email?: string;
  caBundle?: string;
  hooks?: HookSet;
  renewDays?: number;
  /** Fleet hosts (--host names) that deploy this lineage from a shared ledger (docs/fleet.md); `apply` records them. */
  hosts?: string[];
  /** Where it is declared, for messages. */
  line: number;
}

export interface Config {
  /** The file read, or null when there was none (all defaults). */
  file: string | null;
  /** The fleet key file (absolute; relative to the config file), for a shared PostgreSQL ledger (docs/fleet.md). */
  fleetKey?: string;
  /** The HTTP(S) proxy for requests to the CA side (docs/proxy.md); may carry credentials: never printed. */
  proxy?: string;
  defaults: ConfigDefaults;
  policies: Record<string, PolicyOverride>;
  certificates: DeclaredCertificate[];
  /** CAs declared under `cas:` (custom CAs: a private Boulder, step-ca …), usable as --ca NAME everywhere. */
  cas: CaProfile[];
  /** `notify:` — who is told about failures, predicted blocks, renewals … (docs/notify.md); absent: nobody. */
  notify?: NotifySettings;
}

export const EMPTY_CONFIG: Config = Object.freeze({ file: null, defaults: {}, policies: {}, certificates: [], cas: [] }) as Config;

export { defaultConfigPath };

const cache = new Map<string, Promise<Config>>();

/**
 * Read and validate the config: `file` when given (must exist), else the
 * default location (config.yaml, or config.json beside it; absent = empty).
 * Cached per path for the life of the process: issue, renew and the gate
 * share one reading.
 */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): Promise<Config> {
  const where = defaultConfigPath(env, uid);
  const key = file ? path.resolve(file) : `default:${where}`;
  let p = cache.get(key);
  if (!p) {
    p = readConfig(file, where);
    cache.set(key, p);
  }
  // The config's CAs become known to every CA lookup (--ca NAME, lineages at them).
  return p.then((c) => {
    registerCustomCas(c.cas);
    return c;
  });
}

/** Forget cached readings (tests, the daemon re-reading the file before each run). */
export function clearConfigCache(): void {
  cache.clear();
}

async function readConfig(file: string | undefined, defaultPath: string): Promise<Config> {
  let target: string;
  if (file) {
    target = path.resolve(file);
    if (!fs.existsSync(target)) throw new InputError(`The config file ${file} does not exist.`, 'Check the --config path.');
  } else {
    const yaml = defaultPath;
    const json = yaml.replace(/\.yaml$/, '.json');
    if (fs.existsSync(yaml)) target = yaml;
    else if (fs.existsSync(json)) target = json;
    else return EMPTY_CONFIG;
  }
  const text = readConfigText(target, file ?? target);
  return parseConfig(text, file ?? target);
}

/** Largest config file certctl reads: a config of even a thousand certificates is far smaller. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * The file's text: at most MAX_CONFIG_BYTES read (a 10 MB file, /dev/zero or
 * a FIFO is refused without being read whole), and it must be UTF-8 text
 * without NUL bytes — a binary file gets one short sentence with its line,
 * never an echo of its bytes.
 */
function readConfigText(target: string, shown: string): string {
  let fd: number;
  try {
    fd = fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    throw new InputError(`Cannot read the config file ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'Check its path and permissions.');
  }
  let buf: Buffer;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new InputError(`The config file ${shown} is not a regular file.`, 'Give --config a YAML or JSON file.');
    if (st.size > MAX_CONFIG_BYTES) throw new InputError(`The config file ${shown} is ${st.size} bytes; certctl reads config files of at most ${MAX_CONFIG_BYTES} bytes.`, 'Is this the right file? A config file is a short YAML or JSON text.');
    buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = fs.readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_CONFIG_BYTES) throw new InputError(`The config file ${shown} is larger than ${MAX_CONFIG_BYTES} bytes.`, 'Is this the right file? A config file is a short YAML or JSON text.');
    }
    buf = buf.subarray(0, n);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`Cannot read the config file ${shown}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, 'Check its permissions.');
  } finally {
    fs.closeSync(fd);
  }
  const lineAt = (i: number) => buf.subarray(0, i).toString('latin1').split('\n').length;
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new InputError(`${shown}:${lineAt(nul)}: not a text file (it contains a NUL byte); a config file is YAML or JSON text.`, 'Is this the right file? Nothing was sent.');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf).replace(/^\ufeff/, '');
  } catch {
    const bad = firstNonUtf8(buf);
    throw new InputError(`${shown}:${lineAt(bad)}: not UTF-8 text; a config file is YAML or JSON text.`, 'Save it as UTF-8 (or check that this is the right file). Nothing was sent.');
  }
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence (for the line number only). */
function firstNonUtf8(b: Buffer): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k]! & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return 0;
}

/** Parse and validate config text; `file` names it in messages (and anchors relative paths). */
export async function parseConfig(text: string, file: string): Promise<Config> {
  const src = await parseConfigText(text, file);
  return validate(src, path.dirname(path.resolve(file)));
}

// ------------------------------------------------------------------ validation

class Problems {
  private readonly items: { line: number; text: string }[] = [];
  constructor(private readonly src: ConfigSource) {}
  add(p: FieldPath, msg: string): void {
    const line = this.src.lineOf(p);
    this.items.push({ line, text: `${this.src.file}:${line}: ${formatPath(p)}: ${msg}` });
  }
  /** In file order (a stable sort keeps the order of problems on one line). */
  get list(): string[] {
    return [...this.items].sort((a, b) => a.line - b.line).map((x) => x.text);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => {
  if (v === null) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  const j = JSON.stringify(v) ?? String(v);
  return `${typeof v} ${j.length > 80 ? `${j.slice(0, 80)}…" (${String(v).length} characters)` : j}`;
};

/** C0/C1 control characters (NUL, escape sequences); hooks may hold tabs and line breaks. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_IN_HOOK = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function knownKeys(pr: Problems, o: Obj, at: FieldPath, keys: readonly string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) pr.add([...at, k], `unknown field; expected one of: ${keys.join(', ')}`);
}

function str(pr: Problems, o: Obj, k: string, at: FieldPath, control = CONTROL): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') {
    pr.add([...at, k], `expected a non-empty string, got ${describe(v)}`);
    return undefined;
  }
  if (control.test(v)) {
    pr.add([...at, k], `contains a control character (such as NUL or an escape sequence): ${describe(v)}`);
    return undefined;
  }
  return v;
}

/** proxy: an http(s):// proxy URL ("" = direct, ignoring the environment); its message never repeats credentials. */
function proxyField(pr: Problems, o: Obj): string | undefined {
  const v = o.proxy;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    pr.add(['proxy'], 'expected a proxy URL such as http://proxy.example:3128');
    return undefined;
  }
  if (v.trim() === '') return '';
  if (CONTROL.test(v)) {
    pr.add(['proxy'], 'contains a control character; expected a proxy URL such as http://proxy.example:3128');
    return undefined;
  }
  try {
    parseProxyUrl(v, 'proxy:');
  } catch (err) {
    pr.add(['proxy'], (err as Error).message);
    return undefined;
  }
  return v;
}

/** An e-mail address for the ACME account contact. */
function emailField(pr: Problems, o: Obj, k: string, at: FieldPath): string | undefined {
  const s = str(pr, o, k, at);
  if (s === undefined) return undefined;
  if (!/^[^\s@,;:<>()[\]"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(s) || s.length > 254) {
    pr.add([...at, k], `expected one e-mail address such as ops@example.com, got ${describe(s)}`);
    return undefined;
  }
  return s;
}

/** A file that must exist now (caBundle, eabHmacKeyFile): checked here so the message carries file:line. */
function filePath(pr: Problems, o: Obj, k: string, at: FieldPath, base: string, what: string): string | undefined {
  const p = dirPath(pr, o, k, at, base);
  if (p === undefined) return undefined;
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    pr.add([...at, k], `${what} ${p} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as NodeJS.ErrnoException).code})`}`);
    return undefined;
  }
  if (!st.isFile()) {
    pr.add([...at, k], `${what} ${p} is not a file`);
    return undefined;
  }
  if (k === 'caBundle') {
    let ok = false;
    try {
      ok = st.size <= MAX_CA_BUNDLE_BYTES && fs.readFileSync(p, 'latin1').includes('-----BEGIN CERTIFICATE-----');
    } catch {
      ok = false;
    }
    if (!ok) {
      pr.add([...at, k], `${what} ${p} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
      return undefined;
    }
  }
  return p;
}

function int(pr: Problems, o: Obj, k: string, at: FieldPath, min: number, max: number): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    pr.add([...at, k], `expected a whole number from ${min} to ${max}, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function num(pr: Problems, o: Obj, k: string, at: FieldPath): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) {
    pr.add([...at, k], `expected a positive number, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function bool(pr: Problems, o: Obj, k: string, at: FieldPath): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') {
    pr.add([...at, k], `expected true or false, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

const DNS_KEYS = ['method', 'server', 'tsigKey', 'tsigKeyName', 'zone', 'propagationTimeout', 'hook', 'cleanupHook', 'acmeDnsCredentials', 'acmeDnsApi'] as const;

function dnsField(pr: Problems, o: Obj, at: FieldPath, base: string): ConfigDns | undefined {
  const v = o.dns;
  if (v === undefined || v === null) return undefined;
  const here = [...at, 'dns'];
  if (!isObj(v)) {
    pr.add(here, `expected a mapping with "method" (rfc2136, hook or acme-dns), got ${describe(v)}`);
    return undefined;
  }
  knownKeys(pr, v, here, DNS_KEYS);
  const method = str(pr, v, 'method', here);
  if (method === undefined) {
    pr.add([...here, 'method'], 'missing: rfc2136, hook or acme-dns');
    return undefined;
  }
  if (!['rfc2136', 'hook', 'acme-dns'].includes(method)) pr.add([...here, 'method'], `expected rfc2136, hook or acme-dns, got ${describe(method)}`);
  return unset({
    method,
    server: str(pr, v, 'server', here),
    tsigKey: filePath(pr, v, 'tsigKey', here, base, 'the TSIG key file'),
    tsigKeyName: str(pr, v, 'tsigKeyName', here),
    zone: str(pr, v, 'zone', here),
    propagationTimeout: int(pr, v, 'propagationTimeout', here, 1, 3600),
    hook: str(pr, v, 'hook', here),
    cleanupHook: str(pr, v, 'cleanupHook', here),
    acmeDnsCredentials: filePath(pr, v, 'acmeDnsCredentials', here, base, 'the acme-dns credentials file'),
    acmeDnsApi: str(pr, v, 'acmeDnsApi', here),
  });
}

function dirPath(pr: Problems, o: Obj, k: string, at: FieldPath, base: string): string | undefined {
  const s = str(pr, o, k, at);
  return s === undefined ? undefined : path.resolve(base, s);
}

async function keyType(pr: Problems, o: Obj, at: FieldPath): Promise<string | undefined> {
  const s = str(pr, o, 'keyType', at);
  if (s === undefined) return undefined;
  const { parseKeyType } = await import('../keys/index.js');
  try {
    return parseKeyType(s).text;
  } catch (err) {
    pr.add([...at, 'keyType'], (err as Error).message);
    return undefined;
  }
}

function hooks(pr: Problems, o: Obj, at: FieldPath): HookSet | undefined {
  const v = o.hooks;
  if (v === undefined || v === null) return undefined;
  const here = [...at, 'hooks'];
  if (!isObj(v)) {
    pr.add(here, `expected a mapping with preHook, postHook, deployHook, got ${describe(v)}`);
    return undefined;
  }
  knownKeys(pr, v, here, ['preHook', 'postHook', 'deployHook']);
  const h: HookSet = {};
  for (const k of ['preHook', 'postHook', 'deployHook'] as const) {
    const s = str(pr, v, k, here, CONTROL_IN_HOOK);
    if (s !== undefined) h[k] = s;
  }
  return h;
}

function server(pr: Problems, o: Obj, at: FieldPath): string | undefined {
  const s = str(pr, o, 'server', at);
  if (s === undefined) return undefined;
  try {
    const u = new URL(s);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
  } catch {
    pr.add([...at, 'server'], `expected an ACME directory URL (https://…), got ${JSON.stringify(s)}`);
    return undefined;
  }
  return s;
}

const DEFAULT_KEYS = ['ca', 'server', 'email', 'keyType', 'webroot', 'forceWebroot', 'dns', 'caBundle', 'resolver', 'httpPort', 'hooks', 'renewDays', 'concurrency', 'eabKid', 'eabHmacKey', 'eabHmacKeyFile', 'caStick', 'caUnreachable', 'preferredChain'] as const;
const CERT_KEYS = ['name', 'domains', 'webroot', 'forceWebroot', 'standalone', 'serve', 'standaloneTls', 'tlsPort', 'dns', 'keyType', 'ca', 'caStick', 'preferredChain', 'server', 'staging', 'email', 'caBundle', 'hooks', 'renewDays', 'hosts'] as const;

function unset<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

async function validate(src: ConfigSource, base: string): Promise<Config> {
  const pr = new Problems(src);
  const root = src.value ?? {};
  if (!isObj(root)) {
    pr.add([], `expected a mapping with defaults, policies, certificates; got ${describe(root)}`);
    throw new InputError(pr.list.join('\n'), 'Fix the config file; nothing was sent.');
  }
  knownKeys(pr, root, [], ['defaults', 'policies', 'certificates', 'fleetKey', 'cas', 'notify', 'proxy']);
  const proxy = proxyField(pr, root);
  const notify = notifyField(pr, root.notify, base);
  const fleetKey = dirPath(pr, root, 'fleetKey', [], base);
  const policies: Record<string, PolicyOverride> = {};
  const cas = customCas(pr, root.cas, base, src.file ?? 'the config file', policies);

  // defaults
  const defaults: ConfigDefaults = {};
  if (root.defaults !== undefined && root.defaults !== null) {
    const d = root.defaults;
    const at = ['defaults'];
    if (!isObj(d)) pr.add(at, `expected a mapping, got ${describe(d)}`);
    else {
      knownKeys(pr, d, at, DEFAULT_KEYS);
      Object.assign(
        defaults,
        unset({
          ca: caList(pr, d, at),
          caStick: bool(pr, d, 'caStick', at),
          caUnreachable: caUnreachable(pr, d, at),
          preferredChain: str(pr, d, 'preferredChain', at),
          server: server(pr, d, at),
          email: emailField(pr, d, 'email', at),
          keyType: await keyType(pr, d, at),
          webroot: dirPath(pr, d, 'webroot', at, base),
          forceWebroot: bool(pr, d, 'forceWebroot', at),
          dns: dnsField(pr, d, at, base),
          caBundle: filePath(pr, d, 'caBundle', at, base, 'the CA bundle'),
          eabKid: str(pr, d, 'eabKid', at),
          eabHmacKey: str(pr, d, 'eabHmacKey', at),
          eabHmacKeyFile: filePath(pr, d, 'eabHmacKeyFile', at, base, 'the EAB HMAC key file'),
          resolver: str(pr, d, 'resolver', at),
          httpPort: int(pr, d, 'httpPort', at, 1, 65535),
          hooks: hooks(pr, d, at),
          renewDays: num(pr, d, 'renewDays', at),
          concurrency: int(pr, d, 'concurrency', at, 1, 64),
        }),
      );
    }
  }

  // policies
  if (root.policies !== undefined && root.policies !== null) {
    if (!isObj(root.policies)) pr.add(['policies'], `expected a mapping of policy id → overrides, got ${describe(root.policies)}`);
    else for (const [id, v] of Object.entries(root.policies)) {
      if (policies[id]) {
        pr.add(['policies', id], `the custom CA "${id}" already gives its policy as a table (cas.${id}.policy): give it in one place`);
        continue;
      }
      const o = policyOverride(pr, v, ['policies', id]);
      if (o) policies[id] = o;
    }
  }

  // certificates
  const certificates: DeclaredCertificate[] = [];
  if (root.certificates !== undefined && root.certificates !== null) {
    if (!Array.isArray(root.certificates)) pr.add(['certificates'], `expected a list of certificates, got ${describe(root.certificates)}`);
    else {
      const seen = new Map<string, number>();
      for (let i = 0; i < root.certificates.length; i++) {
        const c = await certificate(pr, root.certificates[i], ['certificates', i], base, src.lineOf(['certificates', i]));
        if (!c) continue;
        const { setKey, defaultLineageName } = await import('../names.js');
        const name = c.name ?? safe(() => defaultLineageName(c.domains));
        for (const k of [name ? `name:${name}` : null, `set:${setKey(c.domains)}|${c.server ?? c.ca ?? defaults.server ?? defaults.ca ?? ''}`]) {
          if (!k) continue;
          if (seen.has(k)) pr.add(['certificates', i], `declares the same ${k.startsWith('name:') ? `lineage name "${name}"` : 'set of names at the same CA'} as certificates[${seen.get(k)}]`);
          else seen.set(k, i);
        }
        certificates.push(c);
      }
    }
  }

  if (pr.list.length) throw new InputError(pr.list.join('\n'), `Fix the config file (${pr.list.length} problem${pr.list.length > 1 ? 's' : ''}); nothing was sent.`);
  return { file: src.file, ...(fleetKey ? { fleetKey } : {}), ...(proxy !== undefined ? { proxy } : {}), ...(notify ? { notify } : {}), defaults, policies, certificates, cas };
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

async function certificate(pr: Problems, v: unknown, at: FieldPath, base: string, line: number): Promise<DeclaredCertificate | undefined> {
  if (!isObj(v)) {
    pr.add(at, `expected a mapping with at least "domains", got ${describe(v)}`);
    return undefined;
  }
  const before = pr.list.length;
  knownKeys(pr, v, at, CERT_KEYS);
  let domains: string[] = [];
  const d = v.domains;
  if (!Array.isArray(d) || d.length === 0 || d.some((x) => typeof x !== 'string' || x.trim() === '')) {
    pr.add([...at, 'domains'], d === undefined ? 'missing: expected a list of names' : 'expected a list of names');
  } else {
    const { normalizeNames } = await import('../names.js');
    try {
      // The CA's own rules (IP identifiers, max names) and wildcards (DNS-01 only) are checked again by issue.
      domains = normalizeNames(d as string[], { allowIp: true, allowWildcard: true });
    } catch (err) {
      pr.add([...at, 'domains'], (err as Error).message);
    }
  }
  const name = str(pr, v, 'name', at);
  if (name !== undefined) {
    const { assertLineageName } = await import('../names.js');
    try {
      assertLineageName(name);
    } catch (err) {
      pr.add([...at, 'name'], (err as Error).message);
    }
  }
  const webroot = dirPath(pr, v, 'webroot', at, base);
  let standalone: string | true | undefined;
  if (v.standalone !== undefined && v.standalone !== null && v.standalone !== false) {
    if (v.standalone === true) standalone = true;
    else if (typeof v.standalone === 'string' && /^(\[[0-9a-fA-F:.]+\]|[^:\s]+)?:?\d{1,5}$|^[^:\s]+$/.test(v.standalone)) standalone = v.standalone;
    else pr.add([...at, 'standalone'], `expected true or "address:port", got ${describe(v.standalone)}`);
  }
  if (webroot && standalone) pr.add([...at, 'standalone'], 'give either webroot or standalone, not both');
  let standaloneTls: string | true | undefined;
  if (v.standaloneTls !== undefined && v.standaloneTls !== null && v.standaloneTls !== false) {
    if (v.standaloneTls === true) standaloneTls = true;
    else if (typeof v.standaloneTls === 'string' && /^(\[[0-9a-fA-F:.]+\]|[^:\s]+)?:?\d{1,5}$|^[^:\s]+$/.test(v.standaloneTls)) standaloneTls = v.standaloneTls;
    else pr.add([...at, 'standaloneTls'], `expected true or "address:port", got ${describe(v.standaloneTls)}`);
  }
  if (standaloneTls && (webroot || standalone)) pr.add([...at, 'standaloneTls'], `give one of webroot, standalone and standaloneTls, not ${webroot ? 'webroot' : 'standalone'} as well`);
  const tlsPort = int(pr, v, 'tlsPort', at, 1, 65535);
  if (tlsPort !== undefined && !standaloneTls) pr.add([...at, 'tlsPort'], 'tlsPort is the port the CA connects to for TLS-ALPN-01: it goes with standaloneTls');
  const dns = dnsField(pr, v, at, base);
  if (dns && (webroot || standalone || standaloneTls)) pr.add([...at, 'dns'], `give either dns or ${webroot ? 'webroot' : standalone ? 'standalone' : 'standaloneTls'}, not both`);
  const serve = bool(pr, v, 'serve', at) || undefined;
  const other = webroot ? 'webroot' : standalone ? 'standalone' : standaloneTls ? 'standaloneTls' : dns ? 'dns' : undefined;
  if (serve && other) pr.add([...at, 'serve'], `give either serve (HTTP-01 through certctl serve on the fleet's hosts) or ${other}, not both`);
  const c: DeclaredCertificate = unset({
    name,
    domains,
    webroot,
    standalone,
    serve,
    standaloneTls,
    tlsPort,
    dns,
    keyType: await keyType(pr, v, at),
    ca: caList(pr, v, at),
    caStick: bool(pr, v, 'caStick', at),
    preferredChain: str(pr, v, 'preferredChain', at),
    server: server(pr, v, at),
    staging: bool(pr, v, 'staging', at),
    email: emailField(pr, v, 'email', at),
    caBundle: filePath(pr, v, 'caBundle', at, base, 'the CA bundle'),
    forceWebroot: bool(pr, v, 'forceWebroot', at),
    hooks: hooks(pr, v, at),
    renewDays: num(pr, v, 'renewDays', at),
    hosts: await hostList(pr, v, at),
    line,
  });
  return pr.list.length === before ? c : undefined;
}

const CA_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** `ca:` — one CA id, or an ordered list (`[letsencrypt, zerossl]` or "letsencrypt,zerossl"): kept as the ids joined by commas. */
/** `caUnreachable: { runs: 3, period: 6h, margin: 7d }` (each optional). */
function caUnreachable(pr: Problems, o: Obj, at: FieldPath): CaUnreachableSettings | undefined {
  const v = o.caUnreachable;
  if (v === undefined || v === null) return undefined;
  const here = [...at, 'caUnreachable'];
  if (!isObj(v)) {
    pr.add(here, `expected a mapping { runs, period, margin }, got ${describe(v)}`);
    return undefined;
  }
  knownKeys(pr, v, here, ['runs', 'period', 'margin']);
  const dur = (k: 'period' | 'margin'): number | undefined => {
    if (v[k] === undefined || v[k] === null) return undefined;
    const ms = parseDuration(v[k]);
    if (ms === undefined || ms > 365 * 86_400_000) {
      pr.add([...here, k], `expected a duration such as "6h" or "7d" (at most a year), got ${describe(v[k])}`);
      return undefined;
    }
    return ms;
  };
  return unset({ runs: int(pr, v, 'runs', here, 1, 100), periodMs: dur('period'), marginMs: dur('margin') });
}

function caList(pr: Problems, o: Obj, at: FieldPath): string | undefined {
  const v = o.ca;
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',').map((x) => x.trim()) : null;
  if (!list || list.length === 0 || list.some((x) => typeof x !== 'string' || !CA_ID.test(x))) {
    pr.add([...at, 'ca'], `expected a CA id or an ordered list of CA ids (certctl ca list), got ${describe(v)}`);
    return undefined;
  }
  if (new Set(list).size !== list.length) {
    pr.add([...at, 'ca'], 'names a CA twice');
    return undefined;
  }
  if (list.length > MAX_CA_LIST) {
    pr.add([...at, 'ca'], `names ${list.length} CAs; a fail-over list holds at most ${MAX_CA_LIST}`);
    return undefined;
  }
  return (list as string[]).join(',');
}

const CUSTOM_CA_KEYS = ['name', 'directory', 'caBundle', 'eabKid', 'eabHmacKeyFile', 'eabHmacKeyEnv', 'policy', 'caa', 'keyTypes', 'ipIdentifiers', 'maxNames'] as const;

/**
 * `cas:` — custom CAs by id: `{ directory, caBundle?, eabKid?, eabHmacKeyFile? | eabHmacKeyEnv?, policy?, caa?, keyTypes?, ipIdentifiers?, maxNames?, name? }`.
 * The EAB HMAC key is never held here: only where to read it (a file or an environment variable), read when an account is registered.
 * A `policy` table is a policy override over certctl's conservative default, put under the CA's id in `policies`.
 */
function customCas(pr: Problems, v: unknown, base: string, file: string, policies: Record<string, PolicyOverride>): CaProfile[] {
  if (v === undefined || v === null) return [];
  if (!isObj(v)) {
    pr.add(['cas'], `expected a mapping of CA id → { directory, … }, got ${describe(v)}`);
    return [];
  }
  const out: CaProfile[] = [];
  for (const [id, e] of Object.entries(v)) {
    const at = ['cas', id];
    if (!CA_ID.test(id)) {
      pr.add(at, 'a CA id is lower-case letters, digits and "-" (at most 40), such as my-step-ca');
      continue;
    }
    if (CAS.some((c) => c.id === id) || id === 'custom') {
      pr.add(at, `"${id}" is a CA of certctl's catalogue (certctl ca list): give your CA another id`);
      continue;
    }
    if (!isObj(e)) {
      pr.add(at, `expected a mapping with at least "directory", got ${describe(e)}`);
      continue;
    }
    const before = pr.list.length;
    knownKeys(pr, e, at, CUSTOM_CA_KEYS);
    const directory = str(pr, e, 'directory', at);
    if (directory === undefined) pr.add([...at, 'directory'], 'missing: the ACME directory URL (https://…/directory)');
    else {
      try {
        if (new URL(directory).protocol !== 'https:') pr.add([...at, 'directory'], `expected an https URL, got ${describe(directory)}`);
      } catch {
        pr.add([...at, 'directory'], `expected an ACME directory URL (https://…), got ${describe(directory)}`);
      }
    }
    const caBundle = filePath(pr, e, 'caBundle', at, base, 'the CA bundle');
    const eabKid = str(pr, e, 'eabKid', at);
    const hmacKeyFile = filePath(pr, e, 'eabHmacKeyFile', at, base, 'the EAB HMAC key file');
    const hmacKeyEnv = str(pr, e, 'eabHmacKeyEnv', at);
    if (hmacKeyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(hmacKeyEnv)) pr.add([...at, 'eabHmacKeyEnv'], `expected the name of an environment variable, got ${describe(hmacKeyEnv)}`);
    if (hmacKeyFile && hmacKeyEnv) pr.add([...at, 'eabHmacKeyEnv'], 'give the EAB HMAC key in one place: eabHmacKeyFile or eabHmacKeyEnv');
    if ((eabKid === undefined) !== (hmacKeyFile === undefined && hmacKeyEnv === undefined)) {
      pr.add(at, eabKid === undefined ? 'an EAB HMAC key without its key id: add eabKid' : 'eabKid needs the HMAC key: eabHmacKeyFile FILE (mode 0600) or eabHmacKeyEnv VARIABLE');
    }
    const strings = (k: 'caa' | 'keyTypes'): string[] | undefined => {
      const x = e[k];
      if (x === undefined || x === null) return undefined;
      if (!Array.isArray(x) || x.some((y) => typeof y !== 'string' || y.trim() === '' || CONTROL.test(y))) {
        pr.add([...at, k], `expected a list of strings, got ${describe(x)}`);
        return undefined;
      }
      return (x as string[]).map((y) => y.trim().toLowerCase());
    };
    const caa = strings('caa');
    const keyTypes = strings('keyTypes');
    if (keyTypes) for (const k of keyTypes) if (!['rsa', 'ecdsa', 'dual', 'sm2'].includes(k)) pr.add([...at, 'keyTypes'], `expected rsa, ecdsa, dual or sm2, got ${describe(k)}`);
    let policyId = 'default';
    const pv = e.policy;
    if (typeof pv === 'string') {
      if (!findPolicy(pv)) pr.add([...at, 'policy'], `unknown policy "${pv}"; expected one of: ${POLICIES.map((x) => x.id).join(', ')}, or a table of limits`);
      else policyId = pv;
    } else if (pv !== undefined && pv !== null) {
      const o = policyOverride(pr, pv, [...at, 'policy']);
      if (o) {
        policies[id] = { source: `${file}: cas.${id}.policy`, ...o };
        policyId = id;
      }
    }
    if (pr.list.length !== before) continue;
    out.push({
      id,
      name: str(pr, e, 'name', at) ?? `${id} (${directory})`,
      directoryUrl: directory,
      policyId,
      limitsPublished: policyId !== 'default',
      caaIdentities: caa ?? [],
      keyTypes: keyTypes ?? ['rsa', 'ecdsa', 'dual'],
      ipIdentifiers: bool(pr, e, 'ipIdentifiers', at) ?? false,
      maxNames: int(pr, e, 'maxNames', at, 1, 1000) ?? 100,
      test: false,
      eab: eabKid ? 'required' : 'no',
      profiles: [],
      source: `${file}: cas.${id}`,
      date: '',
      custom: { file, ...(caBundle ? { caBundle } : {}), ...(eabKid ? { eab: unset({ kid: eabKid, hmacKeyFile, hmacKeyEnv }) } : {}) },
    });
  }
  return out;
}

/** `hosts:` of a certificate: a list of fleet host names (--host NAME of each host). */
async function hostList(pr: Problems, o: Obj, at: FieldPath): Promise<string[] | undefined> {
  const v = o.hosts;
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    pr.add([...at, 'hosts'], `expected a list of host names (each host's --host NAME), got ${describe(v)}`);
    return undefined;
  }
  const { assertHostName } = await import('../fleet/host.js');
  const out: string[] = [];
  for (const h of v as string[]) {
    try {
      out.push(assertHostName(h, 'host'));
    } catch (err) {
      pr.add([...at, 'hosts'], (err as Error).message);
      return undefined;
    }
  }
  return [...new Set(out)];
}

/** Durations in policy overrides: a number of milliseconds, or "90s", "36min", "3h", "7d", "1w". */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return v > 0 && Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)\s*$/.exec(v);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, min: 60_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 'ms'];
  const ms = Number(m[1]) * unit;
  return ms > 0 ? ms : undefined;
}

/** Friendly duration fields and the Rule field each one sets. */
const DURATIONS: Record<string, string> = { period: 'periodMs', refill: 'refillMs', window: 'windowMs', lifetime: 'lifetimeMs', periodMs: 'periodMs', refillMs: 'refillMs', windowMs: 'windowMs', lifetimeMs: 'lifetimeMs' };
const RULE_KEYS = ['kind', 'capacity', 'count', 'why', 'resetOnSuccess', ...Object.keys(DURATIONS)];

/**
 * A policy override: limit names straight under the policy id
 * (`letsencrypt: { certificates-per-domain: { capacity: 300 } }`) or under
 * `limits:`, plus `name`, `source`, `date`, `renewal`. `null` removes a limit.
 */
function policyOverride(pr: Problems, v: unknown, at: FieldPath): PolicyOverride | undefined {
  if (!isObj(v)) {
    pr.add(at, `expected a mapping of limit name → { capacity, period, … }, got ${describe(v)}`);
    return undefined;
  }
  const before = pr.list.length;
  const out: PolicyOverride = {};
  const limits: NonNullable<PolicyOverride['limits']> = {};
  const entries: [string, unknown, FieldPath][] = [];
  for (const [k, val] of Object.entries(v)) {
    if (k === 'name' || k === 'source' || k === 'date') {
      const s = str(pr, v, k, at);
      if (s !== undefined) out[k] = s;
    } else if (k === 'renewal') {
      if (!isObj(val)) pr.add([...at, k], `expected a mapping, got ${describe(val)}`);
      else {
        knownKeys(pr, val, [...at, k], ['sameSetWithin', 'sameSetWithinMs', 'sameSetExempt', 'ariExemptAll']);
        const r: NonNullable<PolicyOverride['renewal']> = {};
        const w = val.sameSetWithin ?? val.sameSetWithinMs;
        if (w !== undefined) {
          const ms = parseDuration(w);
          if (ms === undefined) pr.add([...at, k, val.sameSetWithin !== undefined ? 'sameSetWithin' : 'sameSetWithinMs'], `expected a duration such as "120d", got ${describe(w)}`);
          else r.sameSetWithinMs = ms;
        }
        if (val.sameSetExempt !== undefined) {
          const l = val.sameSetExempt;
          if (!Array.isArray(l) || l.some((x) => !(LIMIT_NAMES as readonly unknown[]).includes(x))) pr.add([...at, k, 'sameSetExempt'], `expected a list of limit names (${LIMIT_NAMES.join(', ')})`);
          else r.sameSetExempt = l as never;
        }
        const a = bool(pr, val, 'ariExemptAll', [...at, k]);
        if (a !== undefined) r.ariExemptAll = a;
        out.renewal = r;
      }
    } else if (k === 'limits') {
      if (!isObj(val)) pr.add([...at, k], `expected a mapping of limit name → rule, got ${describe(val)}`);
      else for (const [n, rv] of Object.entries(val)) entries.push([n, rv, [...at, k, n]]);
    } else entries.push([k, val, [...at, k]]);
  }
  for (const [n, rv, here] of entries) {
    if (!(LIMIT_NAMES as readonly string[]).includes(n)) {
      pr.add(here, `unknown rate limit; expected one of: ${LIMIT_NAMES.join(', ')} (or name, source, date, renewal, limits)`);
      continue;
    }
    if (rv === null) {
      limits[n as keyof typeof limits] = null;
      continue;
    }
    if (!isObj(rv)) {
      pr.add(here, `expected a mapping such as { capacity: 300 }, got ${describe(rv)}`);
      continue;
    }
    knownKeys(pr, rv, here, RULE_KEYS);
    const rule: Record<string, unknown> = {};
    for (const [rk, x] of Object.entries(rv)) {
      if (rk in DURATIONS) {
        const ms = parseDuration(x);
        if (ms === undefined) pr.add([...here, rk], `expected a duration such as "7d", "3h", "36s" or milliseconds, got ${describe(x)}`);
        else rule[DURATIONS[rk]!] = ms;
      } else if (rk === 'kind') {
        if (!['bucket', 'window', 'concurrent', 'max'].includes(x as string)) pr.add([...here, rk], `expected bucket, window, concurrent or max, got ${describe(x)}`);
        else rule.kind = x;
      } else if (rk === 'capacity' || rk === 'count') {
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) pr.add([...here, rk], `expected a whole number ≥ 1, got ${describe(x)}`);
        else rule[rk] = x;
      } else if (rk === 'why') {
        if (typeof x !== 'string') pr.add([...here, rk], `expected a string, got ${describe(x)}`);
        else rule.why = x;
      } else if (rk === 'resetOnSuccess') {
        if (typeof x !== 'boolean') pr.add([...here, rk], `expected true or false, got ${describe(x)}`);
        else rule.resetOnSuccess = x;
      }
    }
    limits[n as keyof typeof limits] = rule as never;
  }
  if (Object.keys(limits).length) out.limits = limits;
  if (pr.list.length !== before) return undefined;
  // The policies module has the last word (a new limit needs a kind and its numbers).
  const id = at[at.length - 1] as string;
  try {
    applyOverrides(policyFor(id), out);
  } catch (err) {
    pr.add(at, (err as Error).message);
    return undefined;
  }
  return out;
}

// -------------------------------------------------------------- applying it

/** Which command's options are being filled, and the config fields each one takes. */
export type DefaultsTarget = 'issue' | 'renew' | 'plan';

const TAKES: Record<DefaultsTarget, readonly string[]> = {
  issue: ['ca', 'server', 'email', 'keyType', 'webroot', 'forceWebroot', 'caBundle', 'resolver', 'httpPort'],
  plan: ['ca', 'server', 'keyType'],
  renew: ['resolver', 'httpPort', 'preHook', 'postHook', 'deployHook', 'days', 'concurrency'],
};

/**
 * Fill the options a user did not give from the config's defaults. `given(k)`
 * says whether option `k` came from the command line (commander's value
 * source); without it, an option counts as given when it is set. Returns a
 * new object; the command line always wins.
 */
export function applyDefaults<T extends object>(options: T, config: Config, target: DefaultsTarget, given?: (key: string) => boolean): T {
  const d = config.defaults;
  const flat: Record<string, unknown> = {
    ca: d.ca,
    server: d.server,
    email: d.email,
    keyType: d.keyType,
    webroot: d.webroot,
    forceWebroot: d.forceWebroot,
    caBundle: d.caBundle,
    resolver: d.resolver,
    httpPort: d.httpPort,
    preHook: d.hooks?.preHook,
    postHook: d.hooks?.postHook,
    deployHook: d.hooks?.deployHook,
    days: d.renewDays,
    concurrency: d.concurrency,
  };
  const o = { ...options } as Record<string, unknown>;
  const isGiven = (k: string) => (given ? given(k) : o[k] !== undefined);
  for (const k of TAKES[target]) {
    if (flat[k] === undefined || isGiven(k)) continue;
    // A --server given on the command line makes the config's --ca meaningless, and the other way round.
    if ((k === 'ca' && isGiven('server')) || (k === 'server' && isGiven('ca'))) continue;
    // The challenge: the default webroot only when neither --webroot nor --standalone was given.
    if (k === 'webroot' && (isGiven('standalone') || o.standalone !== undefined || isGiven('standaloneTls') || o.standaloneTls !== undefined || o.dns !== undefined)) continue;
    o[k] = flat[k];
  }
  return o as T;
}

/** loadConfig + applyDefaults, for the top of a command: `given(k)` true/false when known, undefined to fall back on "is it set". */
export async function withConfigDefaults<T extends object>(file: string | undefined, options: T, target: DefaultsTarget, given: (key: string) => boolean | undefined): Promise<T> {
  const config = await loadConfig(file);
  return applyDefaults(options, config, target, (k) => given(k) ?? (options as Record<string, unknown>)[k] !== undefined);
}

// ------------------------------------------------------------------ notify (docs/notify.md)

const NOTIFY_KEYS = ['targets', 'period', 'headroomBelow', 'maxAge'] as const;
const TARGET_KEYS = {
  webhook: ['type', 'name', 'events', 'timeout', 'url', 'urlFile', 'urlEnv', 'format', 'tokenFile', 'tokenEnv', 'retries', 'caBundle'],
  email: ['type', 'name', 'events', 'timeout', 'host', 'port', 'security', 'user', 'passwordFile', 'passwordEnv', 'from', 'to', 'caBundle'],
  command: ['type', 'name', 'events', 'timeout', 'command'],
} as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** `notify:`: a list of targets, or a mapping with `targets` and the period / threshold settings. */
function notifyField(pr: Problems, v: unknown, base: string): NotifySettings | undefined {
  if (v === undefined || v === null) return undefined;
  const at: FieldPath = ['notify'];
  let o: Obj;
  if (Array.isArray(v)) o = { targets: v };
  else if (isObj(v)) o = v;
  else {
    pr.add(at, `expected a list of targets (webhook, email, command) or a mapping with "targets", got ${describe(v)}`);
    return undefined;
  }
  const listed = Array.isArray(v);
  const tAt: FieldPath = listed ? at : [...at, 'targets'];
  if (!listed) knownKeys(pr, o, at, NOTIFY_KEYS);
  const duration = (k: string, dflt: number): number => {
    if (o[k] === undefined || o[k] === null) return dflt;
    const ms = parseDuration(o[k]);
    if (ms === undefined) pr.add([...at, k], `expected a duration such as "1d", "12h" or "30min", got ${describe(o[k])}`);
    return ms ?? dflt;
  };
  const settings: NotifySettings = {
    targets: [],
    periodMs: duration('period', DEFAULT_PERIOD_MS),
    maxAgeMs: duration('maxAge', DEFAULT_MAX_AGE_MS),
    headroomBelow: int(pr, o, 'headroomBelow', at, 0, 1000) ?? DEFAULT_HEADROOM_BELOW,
  };
  if (!Array.isArray(o.targets)) {
    pr.add(tAt, `expected a list of targets, each with type webhook, email or command, got ${describe(o.targets)}`);
    return settings;
  }
  const ids = new Set<string>();
  const count: Record<string, number> = {};
  o.targets.forEach((t: unknown, i: number) => {
    const here: FieldPath = [...tAt, i];
    if (!isObj(t)) return pr.add(here, `expected a mapping with type (webhook, email or command), got ${describe(t)}`);
    const type = t.type;
    if (type !== 'webhook' && type !== 'email' && type !== 'command') return pr.add([...here, 'type'], `expected webhook, email or command, got ${describe(type)}`);
    knownKeys(pr, t, here, TARGET_KEYS[type]);
    count[type] = (count[type] ?? 0) + 1;
    const id = str(pr, t, 'name', here) ?? `${type}-${count[type]}`;
    if (ids.has(id)) pr.add([...here, 'name'], `another target is named "${id}": give each a different name`);
    ids.add(id);
    let events: NotifyKind[] | undefined;
    if (t.events !== undefined && t.events !== null) {
      if (!Array.isArray(t.events) || t.events.some((x) => !(NOTIFY_KINDS as readonly unknown[]).includes(x))) pr.add([...here, 'events'], `expected a list of: ${NOTIFY_KINDS.join(', ')}; got ${describe(t.events)}`);
      else events = t.events as NotifyKind[];
    }
    const timeoutS = int(pr, t, 'timeout', here, 1, 600);
    const common = { id, ...(events ? { events } : {}), timeoutMs: timeoutS === undefined ? (type === 'command' ? 60_000 : DEFAULT_TIMEOUT_MS) : timeoutS * 1000 };
    // Files named here are read when a message is sent, not now: a token file being replaced must never
    // make renew refuse its config (a missing one is a failed delivery, which certctl notify test shows).
    const secret = (fileKey: string, envKey: string, what: string, required: boolean): SecretSource | undefined => {
      const file = dirPath(pr, t, fileKey, here, base);
      const env = str(pr, t, envKey, here);
      if (env !== undefined && !ENV_NAME.test(env)) pr.add([...here, envKey], `expected an environment variable name such as CERTCTL_TOKEN, got ${describe(env)}`);
      if (file !== undefined && env !== undefined) pr.add([...here, envKey], `give ${fileKey} or ${envKey}, not both`);
      if (required && file === undefined && env === undefined && t[fileKey] === undefined) pr.add(here, `${what}: give ${fileKey} (a file, mode 0600) or ${envKey} (an environment variable); it is never written in the config`);
      return file !== undefined ? { file } : env !== undefined ? { env } : undefined;
    };
    const caBundle = dirPath(pr, t, 'caBundle', here, base);
    if (type === 'webhook') {
      const url = str(pr, t, 'url', here);
      const urlSecret = secret('urlFile', 'urlEnv', 'the webhook URL', false);
      if (url === undefined && urlSecret === undefined && t.urlFile === undefined) pr.add(here, 'give the webhook url (or urlFile / urlEnv when the URL itself is a credential, as a Slack webhook is)');
      if (url !== undefined && urlSecret) pr.add([...here, 'url'], 'give url or urlFile / urlEnv, not both');
      if (url !== undefined) {
        let u: URL | undefined;
        try {
          u = new URL(url);
        } catch {
          u = undefined;
        }
        // A URL with a password is never echoed (the message would print the credential).
        if (u && (u.username || u.password)) pr.add([...here, 'url'], 'expected an http:// or https:// URL without user:password (use tokenFile for a credential)');
        else if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) pr.add([...here, 'url'], `expected an http:// or https:// URL, got ${describe(url)}`);
      }
      const format = t.format ?? 'json';
      if (format !== 'json' && format !== 'slack' && format !== 'ntfy') pr.add([...here, 'format'], `expected json, slack or ntfy, got ${describe(format)}`);
      const token = secret('tokenFile', 'tokenEnv', 'the bearer token', false);
      // A bearer token is never sent in clear text over a network: http:// only to this machine.
      if (token && url !== undefined && /^http:/i.test(url) && !isLoopbackUrl(url)) pr.add([...here, 'url'], 'a bearer token is sent only over https:// (http:// is accepted for a receiver on this machine: 127.0.0.1, ::1, localhost)');
      const retries = int(pr, t, 'retries', here, 0, 10) ?? DEFAULT_RETRIES;
      settings.targets.push(unset({ type, ...common, url, urlSecret, format: format as 'json', token, retries, caBundle }) as NotifyTarget);
    } else if (type === 'email') {
      const host = str(pr, t, 'host', here);
      if (host === undefined) pr.add([...here, 'host'], 'missing: the SMTP server (host name or address)');
      const security = t.security ?? 'starttls';
      if (security !== 'starttls' && security !== 'tls' && security !== 'none') pr.add([...here, 'security'], `expected starttls, tls or none, got ${describe(security)}`);
      const port = int(pr, t, 'port', here, 1, 65535) ?? (security === 'tls' ? 465 : 587);
      const user = str(pr, t, 'user', here);
      const password = user === undefined ? undefined : secret('passwordFile', 'passwordEnv', 'the SMTP password', true);
      if (user === undefined && (t.passwordFile !== undefined || t.passwordEnv !== undefined)) pr.add([...here, 'user'], 'a password is given without the user it belongs to');
      if (user !== undefined && security === 'none' && host !== undefined && !isLoopbackHost(host)) pr.add([...here, 'security'], 'a password is never sent without TLS: use starttls or tls (security: none is for a relay on this machine)');
      const from = emailField(pr, t, 'from', here);
      if (t.from === undefined) pr.add([...here, 'from'], 'missing: the sender address');
      const toRaw = typeof t.to === 'string' ? [t.to] : t.to;
      const to: string[] = [];
      if (!Array.isArray(toRaw) || toRaw.length === 0) pr.add([...here, 'to'], `expected one address or a list of them, got ${describe(t.to)}`);
      else toRaw.forEach((x, k) => {
        const a = emailField(pr, { [k]: x }, k as unknown as string, [...here, 'to']); // problems name to[k]
        if (a) to.push(a);
      });
      settings.targets.push(unset({ type, ...common, host: host ?? '', port, security: security as 'starttls', user, password, from: from ?? '', to, caBundle }) as NotifyTarget);
    } else {
      const cmd = t.command;
      if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((x) => typeof x !== 'string' || x === '' || CONTROL.test(x))) {
        pr.add([...here, 'command'], `expected the program and its arguments as a list of strings, e.g. ["/usr/local/bin/page-me", "--urgent"] (run without a shell), got ${describe(cmd)}`);
      } else if (!path.isAbsolute(cmd[0] as string) && !(cmd[0] as string).includes('/')) {
        pr.add([...here, 'command', 0], `expected a path to the program (absolute, or relative to the config file), got ${describe(cmd[0])}`);
      } else {
        settings.targets.push({ type, ...common, command: [path.resolve(base, cmd[0] as string), ...(cmd.slice(1) as string[])] });
      }
    }
  });
  return settings;
}
