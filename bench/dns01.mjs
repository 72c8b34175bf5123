#!/usr/bin/env node
/**
 * Bench (issue 14): the same DNS-01 certificate, `example.test` +
 * `*.example.test` (ECDSA P-256), from the same Pebble validating through the
 * same real BIND 9 — certctl (`--dns rfc2136`) vs lego (`--dns rfc2136`) vs
 * certbot (`--dns-rfc2136`), each peer at its default propagation settings
 * and at the tightest ones its docs allow.
 *
 * Set-up: one DNS world (testkit/bind.ts: BIND authoritative for example.test
 * on 127.53.X.1:53, TSIG key `certctl`, hmac-sha256) and one Pebble with
 * `-dnsserver 127.53.X.1:53`, PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0
 * (bench/lib.mjs). Every run starts from an empty state directory (a new ACME
 * account each time, for every client alike). Legs take turns within each
 * round so machine noise spreads evenly; one warm-up round is not counted.
 *
 * Every client runs in its own mount namespace whose /etc/hosts also says
 * `127.53.X.1 ns1.example.test` (unshare -m + a bind mount, nothing outside
 * is touched): lego looks the zone's NS name up through the system resolver
 * before asking it directly. All three get the same wrapper, so it costs
 * each the same few ms (measured and printed).
 *
 * Per run: wall time; the client's exit code; what Pebble logged for it
 * ("authz … set VALID/INVALID by completed challenge"); the certificate's
 * names (openssl); and that no TXT record is left at
 * _acme-challenge.example.test afterwards (dig on the nameserver).
 *
 * Goal (issue 14): certctl ≥ 10× faster than the fastest peer at their
 * defaults, never slower than a peer at its tightest settings (medians), 0
 * failed validations across the runs. Exit 1 if missed or not measured.
 *
 *   node bench/dns01.mjs [--runs 20] [--slow-runs 2] [--only certctl,lego-tight,…] [--verbose] [--no-write]
 *
 * --slow-runs: runs of the settings that wait about 60 s per certificate by
 * design (certbot's and lego's defaults); 20 of each would take 45 minutes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as L from './lib.mjs';

const RUNS = Number(L.arg('runs', 20));
const SLOW_RUNS = Number(L.arg('slow-runs', 2));
const ONLY = new Set((L.arg('only', '') ?? '').split(',').filter(Boolean));
const NAMES = ['example.test', '*.example.test'];
const CHALLENGE = '_acme-challenge.example.test';
const UNSHARE = '/usr/bin/unshare';
const TIMEOUT = '/usr/bin/timeout';
const RUN_LIMIT_S = 240;
L.requireBins(L.CERTBOT, L.LEGO, '/usr/bin/pebble', '/usr/sbin/named', UNSHARE, TIMEOUT, '/usr/bin/dig');
if (!fs.existsSync('/usr/lib/python3/dist-packages/certbot_dns_rfc2136')) {
  console.error('certbot\'s RFC 2136 plugin is missing: apt-get install -y python3-certbot-dns-rfc2136');
  process.exit(2);
}
if (!fs.existsSync(path.join(L.ROOT, 'dist-testkit/testkit/bind.js'))) {
  console.error('dist-testkit/ is missing: run `npm run build:testkit` first (npm run bench:dns does)');
  process.exit(2);
}

/** Does this build of certctl have the DNS-01 flags (issue 14)? */
const certctlHelp = (await L.certctl(['issue', '--help'])).stdout;
const CERTCTL_HAS_DNS = certctlHelp.includes('--dns-server');

const { startDnsWorld, digTxt } = await import(path.join(L.ROOT, 'dist-testkit/testkit/bind.js'));
const world = await startDnsWorld();
const NS = world.ns1;
const pebble = await L.startBenchPebble({ dnsServer: `${NS}:53` });
const work = L.tmpDir('dns01');

// The TSIG key as tsig-keygen wrote it; the peers want its parts (lego: env, certbot: an INI file).
const keyText = fs.readFileSync(world.keyFiles.certctl, 'utf8');
const tsig = {
  name: /key "([^"]+)"/.exec(keyText)[1],
  algorithm: /algorithm ([\w-]+);/.exec(keyText)[1],
  secret: /secret "([^"]+)"/.exec(keyText)[1],
};
const hostsFile = path.join(work, 'hosts');
fs.writeFileSync(hostsFile, `${fs.readFileSync('/etc/hosts', 'utf8').trimEnd()}\n${NS} ns1.example.test\n`);

/** cmd args… in a private mount namespace with our /etc/hosts (no shell interpolation: "$0"/"$@"). */
function wrapped(cmd, args) {
  // A run that hangs is killed after RUN_LIMIT_S and counts as failed, instead of stalling the bench.
  return [TIMEOUT, ['--kill-after=5', String(RUN_LIMIT_S), UNSHARE, '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, cmd, ...args]];
}

// ------------------------------------------------------------------ legs

const legoEnv = (extra) => ({
  ...process.env,
  LEGO_CA_CERTIFICATES: pebble.caBundle,
  RFC2136_NAMESERVER: `${NS}:53`,
  RFC2136_TSIG_KEY: `${tsig.name}.`,
  RFC2136_TSIG_ALGORITHM: `${tsig.algorithm}.`,
  RFC2136_TSIG_SECRET: tsig.secret,
  ...extra,
});
/**
 * lego 4.9.1's tightest: its rfc2136 provider reads these as whole seconds
 * (`lego dnshelp -c rfc2136`; no lower bound is documented). Defaults: 60 s
 * propagation timeout, 2 s polling interval (lego also sleeps one interval
 * before its first check), 60 s between the two authorizations (the provider
 * is sequential: one TXT at a time), TTL 120. 0 is accepted for the intervals
 * (lego logs `interval: 0s`, `sequence: wait for 0s`); a 0 s timeout races
 * lego's first look (seen here: some runs end "time limit exceeded" with the
 * record in place), so 1 s, the smallest whole second that works every time.
 */
const LEGO_TIGHT = { RFC2136_PROPAGATION_TIMEOUT: '1', RFC2136_POLLING_INTERVAL: '0', RFC2136_SEQUENCE_INTERVAL: '0', RFC2136_TTL: '0' };
const legoArgs = (dir, extra = []) => [
  '--server', pebble.directoryUrl, '--email', 'ops@example.test', ...NAMES.flatMap((n) => ['--domains', n]),
  '--key-type', 'ec256', '--dns', 'rfc2136', '--dns.resolvers', `${NS}:53`, ...extra, '--path', dir, '--accept-tos', 'run',
];

function certbotRun(dir, extra) {
  fs.mkdirSync(dir, { recursive: true });
  const ini = path.join(dir, 'rfc2136.ini');
  fs.writeFileSync(
    ini,
    `dns_rfc2136_server = ${NS}\ndns_rfc2136_port = 53\ndns_rfc2136_name = ${tsig.name}.\ndns_rfc2136_secret = ${tsig.secret}\ndns_rfc2136_algorithm = ${tsig.algorithm.toUpperCase()}\n`,
    { mode: 0o600 },
  );
  return [
    L.CERTBOT,
    [
      'certonly', '--server', pebble.directoryUrl, '--dns-rfc2136', '--dns-rfc2136-credentials', ini, ...extra,
      ...NAMES.flatMap((n) => ['-d', n]), '--agree-tos', '-m', 'ops@example.test', '--non-interactive',
      '--key-type', 'ecdsa', '--elliptic-curve', 'secp256r1', ...L.certbotDirs(dir),
    ],
    { ...process.env, REQUESTS_CA_BUNDLE: pebble.caBundle },
    path.join(dir, 'conf/live/example.test/cert.pem'),
  ];
}

function certctlArgs(dir) {
  L.emptyConfig(dir);
  return [
    '--state-dir', dir, '--config', path.join(dir, 'no-config.json'),
    'issue', '--server', pebble.directoryUrl, '--ca-bundle', pebble.caBundle, '--email', 'ops@example.test',
    ...NAMES.flatMap((n) => ['-d', n]), '--key-type', 'ecdsa:p256',
    '--dns', 'rfc2136', '--dns-server', `${NS}:53`, '--tsig-key', world.keyFiles.certctl,
    // The recursive look-ups (zone, NS, CAA) through the nameserver, as lego's --dns.resolvers.
    '--resolver', `${NS}:53`,
  ];
}

/** Each leg: [program, args, env, certificate file] for a fresh dir. */
const LEGS = [
  {
    id: 'certctl', client: 'certctl', setting: 'default', runs: RUNS,
    how: 'certctl defaults (asks every authoritative nameserver until each has both values; --dns-propagation-timeout 120 s)',
    // -v (as bench/issue-one.mjs): each ACME request and its time on stderr, for "where the time goes".
    cmd: (dir) => [L.NODE, [L.CERTCTL, '-v', ...certctlArgs(dir)], process.env, path.join(dir, 'live/example.test/cert.pem')],
  },
  {
    id: 'lego-default', client: 'lego', setting: 'default', runs: SLOW_RUNS,
    how: 'no propagation settings (60 s timeout, 2 s polling, 60 s between the two authorizations)',
    cmd: (dir) => [L.LEGO, legoArgs(dir), legoEnv({}), path.join(dir, 'certificates/example.test.crt')],
  },
  {
    id: 'lego-tight', client: 'lego', setting: 'tightest', runs: RUNS,
    how: Object.entries(LEGO_TIGHT).map(([k, v]) => `${k}=${v}`).join(' '),
    cmd: (dir) => [L.LEGO, legoArgs(dir), legoEnv(LEGO_TIGHT), path.join(dir, 'certificates/example.test.crt')],
  },
  {
    id: 'lego-tight-nocp', client: 'lego', setting: 'tightest + --dns.disable-cp', runs: RUNS,
    how: 'the same and --dns.disable-cp (no authoritative nameserver check: one query to the resolver)',
    cmd: (dir) => [L.LEGO, legoArgs(dir, ['--dns.disable-cp']), legoEnv(LEGO_TIGHT), path.join(dir, 'certificates/example.test.crt')],
  },
  {
    id: 'certbot-default', client: 'certbot', setting: 'default', runs: SLOW_RUNS,
    how: '--dns-rfc2136-propagation-seconds not given (60 s sleep)',
    cmd: (dir) => certbotRun(dir, []),
  },
  {
    id: 'certbot-tight', client: 'certbot', setting: 'tightest', runs: RUNS,
    how: '--dns-rfc2136-propagation-seconds 0 (an int, no lower bound documented)',
    cmd: (dir) => certbotRun(dir, ['--dns-rfc2136-propagation-seconds', '0']),
  },
].filter((l) => !ONLY.size || ONLY.has(l.id));

const certctlLeg = LEGS.find((l) => l.id === 'certctl');
if (certctlLeg && !CERTCTL_HAS_DNS) {
  console.error('certctl leg NOT RUN: this build of certctl has no `issue --dns-server` (issue 14\'s DNS-01 is not in it yet)');
  LEGS.splice(LEGS.indexOf(certctlLeg), 1);
}

// ------------------------------------------------------------------ runs

const count = (text, re) => (text.match(re) ?? []).length;

function sans(certFile) {
  try {
    const out = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return [...out.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]).sort();
  } catch {
    return [];
  }
}

async function removeLeftovers() {
  await world.update(NS, world.keyFiles.admin, 'example.test', [`update delete ${CHALLENGE}. TXT`]);
}

/** One issuance; everything it tells about the run. */
async function runOnce(leg, dir) {
  const [cmd, args, env, certFile] = leg.cmd(dir);
  const [wcmd, wargs] = wrapped(cmd, args);
  const logFrom = pebble.log().length;
  const r = await L.run(wcmd, wargs, { env });
  const log = pebble.log().slice(logFrom);
  const left = await digTxt(NS, CHALLENGE);
  if (left.length) await removeLeftovers();
  const names = sans(certFile);
  const certOk = names.join(',') === [...NAMES].sort().join(',');
  return {
    ms: r.ms, code: r.code, valid: count(log, /authz \S+ set VALID by completed challenge/g),
    invalid: count(log, /authz \S+ set INVALID by completed challenge/g), left: left.length, certOk, stderr: r.stderr,
    tail: r.code === 0 && certOk && !L.flag('verbose') ? '' : `${r.stdout.slice(-1500)}\n${r.stderr.slice(-2500)}`,
  };
}

const results = Object.fromEntries(LEGS.map((l) => [l.id, []]));
const wrapperMs = [];
const versionMs = [];
const acmeClientMs = [];
const t0 = performance.now();
try {
  // What the namespace wrapper itself costs (paid by every leg alike).
  for (let i = 0; i < 5; i++) wrapperMs.push((await L.run(...wrapped('/bin/true', []))).ms);
  for (let i = 0; i < 5; i++) versionMs.push((await L.certctl(['--version'])).ms);
  for (let i = 0; i < 5; i++) acmeClientMs.push((await L.run(L.NODE, ['--input-type=module', '-e', "await import('acme-client')"], { cwd: L.ROOT })).ms);
  const rounds = Math.max(0, ...LEGS.map((l) => l.runs));
  for (let round = -1; round < rounds; round++) {
    for (const leg of LEGS) {
      if (round >= leg.runs) continue;
      // Warm-up round: only the fast legs (a 60 s warm-up of a 60 s setting would tell nothing).
      if (round < 0 && leg.runs !== RUNS) continue;
      const tag = round < 0 ? `warm-${leg.id}` : `r${round}-${leg.id}`;
      const res = await runOnce(leg, path.join(work, tag));
      const bad = res.code !== 0 || !res.certOk || res.invalid || res.left;
      process.stderr.write(
        `${tag}: ${L.fmtMs(res.ms)} exit ${res.code}, Pebble valid ${res.valid} invalid ${res.invalid}, TXT left ${res.left}, cert ${res.certOk ? 'ok' : 'MISSING/WRONG'}\n` +
          (bad || L.flag('verbose') ? `${res.tail}\n` : ''),
      );
      if (round >= 0) results[leg.id].push(res);
    }
  }
} finally {
  await pebble.stop();
  await world.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
const totalS = (performance.now() - t0) / 1000;

// ------------------------------------------------------------------ report

function p90(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)];
}
const ms = (id) => results[id]?.map((r) => r.ms) ?? [];
const med = (id) => L.median(ms(id));
const certctlMed = CERTCTL_HAS_DNS && results.certctl?.length ? med('certctl') : NaN;

const rows = LEGS.map((l) => {
  const rs = results[l.id];
  const xs = ms(l.id);
  const failed = rs.filter((r) => r.code !== 0 || !r.certOk).length;
  return [
    l.client, l.setting, String(rs.length), L.fmtMs(L.median(xs)), L.fmtMs(xs.reduce((a, x) => a + x, 0) / xs.length), L.fmtMs(p90(xs)), L.fmtMs(L.minOf(xs)), L.fmtMs(L.maxOf(xs)),
    String(failed), String(rs.reduce((a, r) => a + r.invalid, 0)), String(rs.reduce((a, r) => a + r.left, 0)),
    Number.isNaN(certctlMed) ? '—' : l.id === 'certctl' ? '1.00' : `${(L.median(xs) / certctlMed).toFixed(2)}×`,
  ];
});
if (!CERTCTL_HAS_DNS) rows.unshift(['certctl', 'default', '0', 'not run', '', '', '', '', '', '', '', '—']);
const result = L.table(
  ['client', 'setting', 'runs', 'median', 'mean', 'p90', 'min', 'max', 'failed runs', 'invalid authz (Pebble)', 'TXT left', 'median vs certctl'],
  rows,
);

// Goals, on medians; each "peer" side takes the fastest peer leg of that kind.
const peerLegs = LEGS.filter((l) => l.client !== 'certctl' && results[l.id].length);
const fastest = (pred) => peerLegs.filter(pred).sort((a, b) => med(a.id) - med(b.id))[0];
const fastDefault = fastest((l) => l.setting === 'default');
const fastTight = fastest((l) => l.setting !== 'default');
const cc = results.certctl ?? [];
const ccFailed = cc.filter((r) => r.code !== 0 || !r.certOk || r.invalid || r.left).length;
const goals = [];
const measured = !Number.isNaN(certctlMed);
if (fastDefault) {
  const x = med(fastDefault.id) / certctlMed;
  goals.push([`≥ 10× faster than the fastest peer at its defaults (${fastDefault.client})`, measured ? `${x.toFixed(1)}×` : 'certctl not run', measured && x >= 10]);
}
if (fastTight) {
  const x = med(fastTight.id) / certctlMed;
  goals.push([`never slower than the fastest peer at its tightest (${fastTight.client}, ${fastTight.setting})`, measured ? `${x.toFixed(2)}× (peer median / certctl median)` : 'certctl not run', measured && x >= 1]);
}
goals.push([`0 failed validations in ${RUNS} certctl runs (exit, certificate, Pebble, TXT removed)`, measured ? `${ccFailed} failed of ${cc.length}` : 'certctl not run', measured && cc.length === RUNS && ccFailed === 0]);
const target = L.table(['goal (issue 14)', 'result', ''], goals.map(([a, b, ok]) => [a, b, L.verdict(ok)]));
const ok = goals.every((g) => g[2]);

// A median says little about a bimodal leg (lego at its tightest: fast, or 5 s more per authorization):
// how many of each peer's runs beat certctl's fastest run and its median.
const ccMin = cc.length ? L.minOf(ms('certctl')) : NaN;
const beats = measured
  ? L.table(
      ['peer, setting', `runs faster than certctl's fastest (${L.fmtMs(ccMin)})`, `runs faster than certctl's median (${L.fmtMs(certctlMed)})`],
      peerLegs.map((l) => [`${l.client}, ${l.setting}`, `${ms(l.id).filter((x) => x < ccMin).length} of ${ms(l.id).length}`, `${ms(l.id).filter((x) => x < certctlMed).length} of ${ms(l.id).length}`]),
    )
  : '';

// Where certctl's time goes: the ACME requests of its last run (certctl -v), and its start-up.
const lastCc = cc.at(-1);
const requests = (lastCc?.stderr ?? '').split('\n').filter((l) => /→ \d{3} \(\d+ ms\)/.test(l));
const reqMs = requests.reduce((a, l) => a + Number(/\((\d+) ms\)/.exec(l)[1]), 0);
const whereCertctl = lastCc
  ? `In certctl's last run (${L.fmtMs(lastCc.ms)}), its ${requests.length} ACME requests took ${reqMs} ms together (\`certctl -v\`); ` +
    `\`certctl --version\` (Node start-up and the CLI) took ${L.fmtMs(L.median(versionMs))} and a Node process that only imports acme-client ${L.fmtMs(L.median(acmeClientMs))} ` +
    '(medians of 5, during this bench; certctl imports acme-client in every issuing run). ' +
    `The other ${L.fmtMs(lastCc.ms - reqMs)} of that run are start-up and module loading, key generation, the DNS-01 precheck (a probe record written, read back and deleted; the zone, its nameservers, CAA), ` +
    'the two TXT updates, asking each nameserver address (IPv4 and IPv6) until both values are there, the clean-up, the ledger and writing the lineage.'
  : '';
console.log(`\n${result}\n\n${target}\n\n${beats}\n\n${whereCertctl}\n\nwhole bench: ${totalS.toFixed(0)} s`);

if (!L.flag('no-write') && !ONLY.size) {
  const m = L.machine();
  const bind = (() => {
    try {
      return execFileSync('/usr/sbin/named', ['-v'], { encoding: 'utf8' }).trim().replace(/ \(.*$/, '');
    } catch {
      return '?';
    }
  })();
  const certbotDns = (() => {
    try {
      return execFileSync('/usr/bin/dpkg-query', ['-W', '-f=${Version}', 'python3-certbot-dns-rfc2136'], { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  })();
  L.updateSection(
    'DNS-01: wildcard + base certificate, certctl vs lego vs certbot (issue 14)',
    `
What: one certificate for \`example.test\` + \`*.example.test\` (ECDSA P-256)
from the same Pebble, which validates DNS-01 through the same real BIND
(${bind}), authoritative for example.test on port 53 of 127.53.X.1 and
fd53:0:0:X::1 (ns1.example.test's A and AAAA) with TSIG (hmac-sha256) dynamic
updates (testkit/bind.ts). Each run starts from an empty state
directory (each client also creates its ACME account, every time); the legs
take turns in each round; one warm-up round of the ${RUNS}-run legs is not
counted. Each peer at its default propagation settings and at the tightest its
documentation allows (\`lego dnshelp -c rfc2136\`, \`lego --help\`,
\`certbot --help dns-rfc2136\`): the defaults wait about 60 s per certificate by
design, so they get ${SLOW_RUNS} runs instead of ${RUNS}. Whole bench: ${totalS.toFixed(0)} s.

${L.machineLine(m)} certbot-dns-rfc2136 ${certbotDns}. ${L.PEBBLE_NOTE}

Every client runs in its own mount namespace whose /etc/hosts adds
\`127.53.X.1 ns1.example.test\` (lego resolves the zone's NS name through the
system resolver and asks that one address; certctl asks the A and the AAAA
address, certbot only the server it is given; the wrapper, \`unshare -m\` + a bind mount,
costs each client the same ${L.fmtMs(L.median(wrapperMs))}; each run is also under \`timeout ${RUN_LIMIT_S}\`,
which no run reached unless a row says failed). A run is failed
if the client exits non-zero or its certificate does not hold both names;
"invalid authz" counts Pebble's \`authz … set INVALID\` lines during the run;
"TXT left" counts TXT values still at \`${CHALLENGE}\` on the
nameserver after the run (dig).

Settings:

${LEGS.map((l) => `- ${l.client}, ${l.setting}: ${l.how}`).join('\n')}

Reproduce (as root, after \`npm run build && npm run build:testkit\`;
\`apt-get install -y pebble certbot lego python3-certbot-dns-rfc2136 bind9 bind9-utils bind9-dnsutils\`):

\`\`\`
node bench/dns01.mjs --runs ${RUNS} --slow-runs ${SLOW_RUNS}     # or: npm run bench:dns
\`\`\`

which runs, each in a fresh directory D:

\`\`\`
certctl --state-dir D --config D/no-config.json issue --server PEBBLE/dir --ca-bundle PEBBLE_API_CERT --email ops@example.test \\
  -d example.test -d '*.example.test' --key-type ecdsa:p256 --dns rfc2136 --dns-server NS:53 --tsig-key certctl.key --resolver NS:53
LEGO_CA_CERTIFICATES=PEBBLE_API_CERT RFC2136_NAMESERVER=NS:53 RFC2136_TSIG_KEY=certctl. RFC2136_TSIG_ALGORITHM=hmac-sha256. \\
  RFC2136_TSIG_SECRET=… [tightest: ${Object.entries(LEGO_TIGHT).map(([k, v]) => `${k}=${v}`).join(' ')}] \\
  lego --server PEBBLE/dir --email ops@example.test --domains example.test --domains '*.example.test' --key-type ec256 \\
  --dns rfc2136 --dns.resolvers NS:53 [--dns.disable-cp] --path D --accept-tos run
REQUESTS_CA_BUNDLE=PEBBLE_API_CERT certbot certonly --server PEBBLE/dir --dns-rfc2136 --dns-rfc2136-credentials D/rfc2136.ini \\
  [--dns-rfc2136-propagation-seconds 0] -d example.test -d '*.example.test' --agree-tos -m ops@example.test --non-interactive \\
  --key-type ecdsa --elliptic-curve secp256r1 --config-dir D/conf --work-dir D/work --logs-dir D/logs
\`\`\`

Results (wall time per certificate):

${result}

${target}

The goals are judged on medians, as in the other sections. How often each peer
run beat certctl (the median of a leg whose runs fall into two groups can land
in either group from one bench run to the next):

${beats}

${whereCertctl}

Where the peers' time goes (from their logs and source on this machine):
lego's rfc2136 provider is sequential — one authorization at a time, the TXT
written, checked, validated and removed before the next, with
\`RFC2136_SEQUENCE_INTERVAL\` (default 60 s) in between: most of its default
time. At its tightest, a lego run is either a fraction of a second (Pebble had
validated the challenge before lego's first look at the authorization) or
about 5 s more per authorization that was not yet valid at that first look
(the gap between "Wait for propagation" and "The server validated our request"
in its log; no documented setting changes it) — so its median falls in one
group or the other from one bench run to the next, depending on how many runs
were fast. certbot sleeps \`--dns-rfc2136-propagation-seconds\`
(default 60 s) with both TXT values written, then 1 s before its first
authorization poll (certbot/_internal/auth_handler.py) and 1 s between order
polls while finalizing; its start-up is about 0.5 s.
`,
  );
}
process.exit(ok ? 0 : 1);
