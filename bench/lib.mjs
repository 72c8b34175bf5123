/**
 * Shared helpers for the side-by-side benchmarks (cold-start, renew-nothing-due,
 * issue-one, bulk): running a command and timing it, medians, tables, the
 * machine description, a Pebble for certctl and the peers (certbot, lego), and
 * rewriting one section of BENCHMARKS.md.
 *
 * Everything is spawned with argument arrays (never a shell), each run in its
 * own state directory. Needs `npm run build` (imports dist/).
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CERTCTL = path.join(ROOT, 'bin/certctl.js');
export const NODE = process.execPath;
export const CERTBOT = '/usr/bin/certbot';
export const LEGO = '/usr/bin/lego';
export const TIME = '/usr/bin/time';
/** Load average when this bench started (before its own Pebble and clients ran). */
const LOAD_AT_START = os.loadavg();

export function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
export const flag = (name) => process.argv.includes(`--${name}`);

/** Fail early with the install command when a peer is missing. */
export function requireBins(...bins) {
  const missing = bins.filter((b) => !fs.existsSync(b));
  if (missing.length) {
    console.error(`missing: ${missing.join(', ')} — install with: apt-get install -y certbot lego pebble time`);
    process.exit(2);
  }
  if (!fs.existsSync(path.join(ROOT, 'dist/cli/main.js'))) {
    console.error('dist/ is missing: run `npm run build` first');
    process.exit(2);
  }
}

/**
 * Run a program (argument array, no shell); resolves with exit code, output and
 * wall time in ms. With `rss: true` it runs under GNU time -v and reports the
 * peak RSS in MB of the measured program.
 */
export function run(cmd, args, { env, cwd, rss = false, input } = {}) {
  return new Promise((resolve, reject) => {
    const [file, argv] = rss ? [TIME, ['-v', cmd, ...args]] : [cmd, args];
    const t0 = performance.now();
    const child = spawn(file, argv, { env: env ?? process.env, cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (input !== undefined) child.stdin.end(input);
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      let rssMb = null;
      let cpuMs = null;
      if (rss) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
        if (m) rssMb = Number(m[1]) / 1024;
        const u = /User time \(seconds\): ([\d.]+)/.exec(stderr);
        const k = /System time \(seconds\): ([\d.]+)/.exec(stderr);
        if (u && k) cpuMs = (Number(u[1]) + Number(k[1])) * 1000;
      }
      resolve({ code, stdout, stderr, ms, rssMb, cpuMs });
    });
  });
}

/** Run and insist on exit code `want` (default 0); the error shows the command and its output. */
export async function runOk(cmd, args, opts = {}, want = 0) {
  const r = await run(cmd, args, opts);
  if (r.code !== want) {
    throw new Error(`${path.basename(cmd)} ${args.join(' ')}\nexited ${r.code} (wanted ${want})\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`);
  }
  return r;
}

export const certctl = (args, opts) => run(NODE, [CERTCTL, ...args], opts);
export const certctlOk = (args, opts, want) => runOk(NODE, [CERTCTL, ...args], opts, want);

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
export const minOf = (xs) => Math.min(...xs);
export const maxOf = (xs) => Math.max(...xs);

export function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}
/** "median (min–max)" of a list of ms. */
export function fmtRange(xs) {
  return `${fmtMs(median(xs))} (${fmtMs(minOf(xs))}–${fmtMs(maxOf(xs))})`;
}

/** A markdown table (also printed as is: readable in a terminal). */
export function table(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map(String));
  const w = headers.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r) => `| ${r.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  return [line(all[0]), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

function version(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0];
  } catch {
    return 'not installed';
  }
}

/** Machine, versions, load and date, for the BENCHMARKS.md section. */
export function machine() {
  const cpus = os.cpus();
  const load = os.loadavg();
  let sqlite = '';
  try {
    sqlite = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  } catch {
    /* not installed */
  }
  const legoV = version('/usr/bin/dpkg-query', ['-W', '-f=${Version}', 'lego']);
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model?.trim() ?? '?',
    node: process.version,
    certbot: version(CERTBOT, ['--version']).replace(/^certbot /, ''),
    lego: legoV,
    pebble: version('/usr/bin/dpkg-query', ['-W', '-f=${Version}', 'pebble']),
    sqlite,
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    load: load.map((x) => x.toFixed(2)).join(' '),
    loadStart: LOAD_AT_START.map((x) => x.toFixed(2)).join(' '),
    loaded: LOAD_AT_START[0] >= 1.0 || load[0] >= 1.0,
  };
}

export function machineLine(m) {
  return (
    `Machine: ${m.cores} cores (${m.cpu}), Node ${m.node}, better-sqlite3 ${m.sqlite}, certbot ${m.certbot}, lego ${m.lego}, ` +
    `Pebble ${m.pebble}. Run ${m.date}; load average (1, 5, 15 min) at the start ${m.loadStart}, at the end ${m.load}` +
    (m.loaded
      ? ' — **the machine was loaded** (other engineers running tests on the same 2 cores, and the benchmark\'s own Pebble and clients): read the ratios and medians, not single times.'
      : '.')
  );
}

/**
 * Replace the `## <title>` section of BENCHMARKS.md (up to the next `## ` or
 * the end) with `body`, or append it. Other sections are left as they are.
 */
export function updateSection(title, body) {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const head = `## ${title}\n`;
  const section = `${head}\n${body.trim()}\n`;
  const start = text.indexOf(head);
  if (start < 0) {
    text = text.replace(/\n*$/, '\n\n') + section;
  } else {
    const next = text.indexOf('\n## ', start + head.length);
    text = text.slice(0, start) + section + (next < 0 ? '' : text.slice(next));
  }
  fs.writeFileSync(file, text);
  console.log(`\nBENCHMARKS.md: section "${title}" updated`);
}

export function verdict(ok) {
  return ok ? 'ok' : '**MISSED**';
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `certctl-bench-${prefix}-`));
}

// ------------------------------------------------------------------- Pebble

/**
 * Pebble + challtestsrv + a webroot server (testkit/pebble.ts), with no
 * validation sleeps (PEBBLE_VA_NOSLEEP=1) and no random badNonce rejections
 * (PEBBLE_WFE_NONCEREJECT=0): certbot 2.1 retries a badNonce only once, and
 * two in a row (Pebble's default 5 % makes that happen every few hundred
 * requests) end the run with a crash, which would spoil a 50-run bench.
 * Let's Encrypt does not reject good nonces at random either.
 */
export async function startBenchPebble(opts = {}) {
  if (!fs.existsSync(path.join(ROOT, 'dist-testkit/testkit/pebble.js'))) {
    console.error('dist-testkit/ is missing: run `npm run build:testkit` first (the npm run bench:* scripts do)');
    process.exit(2);
  }
  const { startPebble } = await import(path.join(ROOT, 'dist-testkit/testkit/pebble.js'));
  return startPebble({ nonceReject: 0, ...opts });
}

export const PEBBLE_NOTE = 'Pebble runs with `PEBBLE_VA_NOSLEEP=1` and `PEBBLE_WFE_NONCEREJECT=0` (certbot 2.1 crashes on two badNonce answers in a row, which Pebble\'s default 5 % rejection produces every few hundred requests; Let\'s Encrypt does not reject good nonces at random).';

/** certctl issue against this Pebble, HTTP-01 through its webroot, readiness checks through its DNS. */
export function certctlIssueArgs(pebble, state, names, extra = []) {
  return [
    '--state-dir', state, '--config', path.join(state, 'no-config.json'),
    'issue', '--server', pebble.directoryUrl, '--ca-bundle', pebble.caBundle,
    '--webroot', pebble.webroot, '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort),
    '--email', 'ops@example.test', ...names.flatMap((n) => ['-d', n]), ...extra,
  ];
}

/** An empty JSON config in the state dir, so /etc/certctl/config.yaml (we run as root) never leaks into a bench. */
export function emptyConfig(state) {
  fs.mkdirSync(state, { recursive: true });
  fs.writeFileSync(path.join(state, 'no-config.json'), '{}\n');
  return path.join(state, 'no-config.json');
}

/** certbot certonly against this Pebble (test-harness.md), trusting its API cert through REQUESTS_CA_BUNDLE. */
export function certbotIssue(pebble, dir, names, extra = []) {
  return {
    args: [
      'certonly', '--server', pebble.directoryUrl, '--webroot', '-w', pebble.webroot, ...names.flatMap((n) => ['-d', n]),
      '--agree-tos', '-m', 'ops@example.test', '--non-interactive', '--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1',
      ...certbotDirs(dir), ...extra,
    ],
    env: { ...process.env, REQUESTS_CA_BUNDLE: pebble.caBundle },
  };
}

export function certbotDirs(dir) {
  return ['--config-dir', path.join(dir, 'conf'), '--work-dir', path.join(dir, 'work'), '--logs-dir', path.join(dir, 'logs')];
}

/** lego run against this Pebble (test-harness.md), trusting its API cert through LEGO_CA_CERTIFICATES. */
export function legoIssue(pebble, dir, names) {
  return {
    args: ['--server', pebble.directoryUrl, '--email', 'ops@example.test', ...names.flatMap((n) => ['--domains', n]), '--key-type', 'ec256', '--http', '--http.webroot', pebble.webroot, '--path', dir, '--accept-tos', 'run'],
    env: { ...process.env, LEGO_CA_CERTIFICATES: pebble.caBundle },
  };
}

// ------------------------------------------------------------- 200 lineages

/**
 * certctl's lineages, issued for real: a config declaring `count` single-name
 * certificates (under `count` different registered domains, so the default
 * policy's per-domain limit is not what is measured): the first with `certctl
 * issue`, the rest with `certctl apply --concurrency 8`. Returns the wall time.
 */
export async function certctlLineages(pebble, state, count, prefix = 'r') {
  emptyConfig(state);
  const config = path.join(state, 'apply.json');
  const certificates = Array.from({ length: count }, (_, i) => ({ domains: [`${prefix}${i}.${prefix}-dom${i}.test`] }));
  fs.writeFileSync(
    config,
    JSON.stringify({ defaults: { server: pebble.directoryUrl, caBundle: pebble.caBundle, webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@example.test', concurrency: 8 }, certificates }, null, 2),
  );
  // The first one alone creates the ACME account: `apply --concurrency 8` on a state dir without
  // one races 8 account creations (see BENCHMARKS.md, bulk); apply then leaves it as held.
  const first = await certctlOk(certctlIssueArgs(pebble, state, certificates[0].domains));
  const r = await certctlOk(['--state-dir', state, '--config', config, '--quiet', 'apply', '--concurrency', '8']);
  return first.ms + r.ms;
}

/**
 * certbot's lineages: ONE real certificate issued by certbot against this
 * Pebble, then its lineage (live/, archive/, renewal/*.conf) copied under
 * `count` names, with the paths in each renewal conf and the live/ symlinks
 * rewritten — what `certbot renew` and `certbot certificates` read is then
 * exactly what `count` issued lineages would give them (each conf parsed,
 * each certificate loaded and checked), without 10 minutes of issuing.
 */
export async function certbotLineages(pebble, dir, count, prefix = 'cb') {
  const first = `${prefix}0.${prefix}-dom0.test`;
  const { args, env } = certbotIssue(pebble, dir, [first]);
  const t = await runOk(CERTBOT, args, { env });
  const conf = path.join(dir, 'conf');
  const confText = fs.readFileSync(path.join(conf, 'renewal', `${first}.conf`), 'utf8');
  const archiveFiles = fs.readdirSync(path.join(conf, 'archive', first));
  for (let i = 1; i < count; i++) {
    const name = `${prefix}${i}.${prefix}-dom${i}.test`;
    const arch = path.join(conf, 'archive', name);
    const live = path.join(conf, 'live', name);
    fs.mkdirSync(arch, { recursive: true });
    fs.mkdirSync(live, { recursive: true });
    for (const f of archiveFiles) fs.copyFileSync(path.join(conf, 'archive', first, f), path.join(arch, f));
    for (const f of fs.readdirSync(path.join(conf, 'live', first))) {
      const src = path.join(conf, 'live', first, f);
      if (fs.lstatSync(src).isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src).replaceAll(first, name), path.join(live, f));
      else fs.copyFileSync(src, path.join(live, f));
    }
    fs.writeFileSync(path.join(conf, 'renewal', `${name}.conf`), confText.replaceAll(first, name));
  }
  return t.ms;
}
