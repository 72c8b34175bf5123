#!/usr/bin/env node
/**
 * Bench (issue 16): a fleet renewing on one PostgreSQL ledger — 10 hosts at once vs one host.
 *
 * Debian's PostgreSQL and Pebble (testkit starters), Pebble behind the ACME test proxy
 * (testkit/acme-proxy.ts), which counts every certificate the CA issued and serves the ARI
 * windows that make lineages due. One fleet key; "hosts" are state directories and --host names
 * on this machine. Setup: `--lineages` single-name certificates (each under its own registered
 * domain, so the default policy's per-domain limit is not what is measured), deployed one host
 * each (`hosts: [hN]`), issued by host h0 with `apply --concurrency 8`. Then two rounds, each
 * starting with every lineage due (the proxy answers ARI with a window in the past for the
 * certificates current at that moment, a future one for any newer):
 * Before each round every host runs `renew` once with nothing due (untimed), so all start with their
 * live/ up to date from the ledger.
 *   1. one host (h0) runs `certctl renew` and renews them all;
 *   2. `--hosts` hosts run `certctl renew` at the same moment; leases share the lineages out.
 * Asserted after each round: the CA issued exactly `--lineages` certificates (proxy count),
 * every lineage gained exactly one version in the ledger (no lineage renewed twice, none left),
 * every renew exited 0. Reported: wall time, throughput ratio (goal ≥ 5×), which host renewed
 * how many, and where the CPU went (certctl processes, Pebble, PostgreSQL, this process = the
 * proxy), and PostgreSQL statements per renewed lineage (pg_stat_statements, round 1).
 *
 *   node bench/fleet-hosts.mjs [--lineages 50] [--hosts 10] [--full (1,000 lineages)] [--no-write] [--cpu-prof DIR]
 * --cpu-prof DIR: the timed renew processes write V8 CPU profiles (node --cpu-prof) into DIR.
 * Needs `npm run build && npm run build:testkit`, `apt-get install -y pebble postgresql`.
 * Exit 1 when an assertion fails or the ratio misses 5×.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import * as L from './lib.mjs';

const N = L.flag('full') ? 1000 : Number(L.arg('lineages', 50));
const H = Number(L.arg('hosts', 10));
const PROF = L.arg('cpu-prof', '');
const profArgs = PROF ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(PROF)] : [];
const HOUR = 3_600_000;
L.requireBins('/usr/bin/pebble');
const tk = (p) => import(path.join(L.ROOT, 'dist-testkit/testkit', p));
const { startPostgres } = await tk('postgres.js');
const { startAcmeTestProxy } = await tk('acme-proxy.js');
const { Ledger } = await import(path.join(L.ROOT, 'dist/core/ledger/ledger.js'));

const work = L.tmpDir('fleet-hosts');
const server = await startPostgres();
const pebble = await L.startBenchPebble();
const proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle });
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

/** CPU seconds (user+system) of processes whose command line matches, from /proc (Pebble, PostgreSQL). */
function cpuOf(match) {
  const hz = 100;
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!match(cmd)) continue;
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* gone */
    }
  }
  return ticks / hz;
}
const pebbleCpu = () => cpuOf((c) => c.startsWith('/usr/bin/pebble') && c.includes(pebble.dir));
let pgDir = null;
const pgCpu = () => (pgDir ? cpuOf((c) => c.includes('postgres') && c.includes(pgDir)) : 0);

try {
  // pg_stat_statements needs a restart with shared_preload_libraries (pause/resume keep the data).
  const admin = new pg.Client({ connectionString: server.url('postgres') });
  await admin.connect();
  pgDir = (await admin.query('SHOW data_directory')).rows[0].data_directory.replace(/\/data$/, '');
  await admin.query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
  await admin.end();
  await server.pause();
  await server.resume();
  const url = await server.createDatabase('fleet_hosts');

  const keyFile = path.join(work, 'fleet.key');
  await L.certctlOk(['fleet', 'key', 'init', keyFile]);
  const hosts = Array.from({ length: H }, (_, i) => `h${i}`);
  const state = Object.fromEntries(hosts.map((h) => [h, path.join(work, h)]));
  const env = (h) => ({ ...process.env, CERTCTL_LEDGER: url, CERTCTL_FLEET_KEY_FILE: keyFile, CERTCTL_HOST: h });
  for (const h of hosts) L.emptyConfig(state[h]);

  // ------------------------------------------------------------------ setup
  const defaults = { server: proxy.directoryUrl, caBundle: pebble.caBundle, webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@example.test' };
  const certificates = Array.from({ length: N }, (_, i) => ({ domains: [`f${i}.fleet-dom${i}.test`], hosts: [hosts[i % H]] }));
  // Pebble is an unknown CA to certctl: its default policy stops an account at 300 new orders per 3 h and
  // 10 pending orders, which --full's 1,000 lineages (and their renewals) exceed, so every run here
  // gets a policy that allows them, as a platform's config would (docs/scale.md).
  const policies = {
    default: {
      'certificates-per-domain': { kind: 'window', count: 1000, window: '7d' },
      'new-orders': { kind: 'window', count: 100000, window: '3h' },
      'pending-orders': { kind: 'concurrent', count: 64, lifetime: '7d' },
    },
  };
  const config = path.join(work, 'fleet.json');
  fs.writeFileSync(config, JSON.stringify({ defaults, policies, certificates }, null, 2));
  const policyConfig = path.join(work, 'policy.json');
  fs.writeFileSync(policyConfig, JSON.stringify({ policies }, null, 2));
  const t0 = performance.now();
  // The account first (apply --concurrency 8 on a ledger without one races 8 account creations; BENCHMARKS.md, bulk).
  const first = path.join(work, 'first.json');
  fs.writeFileSync(first, JSON.stringify({ defaults, policies, certificates: certificates.slice(0, 1) }, null, 2));
  await L.certctlOk(['--state-dir', state.h0, '--config', first, '--quiet', 'apply'], { env: env('h0') });
  await L.certctlOk(['--state-dir', state.h0, '--config', config, '--quiet', 'apply', '--concurrency', '8'], { env: env('h0') });
  const setupS = (performance.now() - t0) / 1000;
  const rows = (sql) => {
    const l = Ledger.open(url);
    try {
      return l.db.prepare(sql).all();
    } finally {
      l.close();
    }
  };
  check(rows('SELECT name FROM lineages WHERE current_version = 1').length === N, `setup: ${N} lineages issued (${setupS.toFixed(0)} s)`);

  /**
   * Every lineage due now: the proxy answers ARI with a window in the past for every certificate it has
   * delivered so far, a future one for any newer; the ledger's cached ARI answers are made stale
   * (next_check = 0, as if their Retry-After had passed) so each renew asks again.
   */
  const allDue = () => {
    const due = new Set(proxy.certificates.keys());
    const now = Date.now();
    proxy.setRenewalWindow((certId) => (due.has(certId) ? { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) } : { start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) }), 60);
    const l = Ledger.open(url);
    try {
      l.db.prepare('UPDATE renewal_info SET next_check = 0').run();
    } finally {
      l.close();
    }
    return due.size;
  };
  const renewArgs = (h) => ['--state-dir', state[h], '--config', policyConfig, 'renew', '--json', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];

  const issuedNone = (r) => {
    try {
      return JSON.parse(r.stdout).lineages.every((x) => x.action !== 'renewed');
    } catch {
      return true;
    }
  };
  async function round(label, runners) {
    const dueCount = allDue();
    const before = new Map(rows('SELECT name, current_version AS v FROM lineages').map((r) => [r.name, r.v]));
    const issued0 = proxy.issued;
    const ari0 = proxy.ariRequests.length;
    const stmt = new pg.Client({ connectionString: url });
    await stmt.connect();
    await stmt.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await stmt.query('SELECT pg_stat_statements_reset()');
    const cpu0 = { pebble: pebbleCpu(), pg: pgCpu(), self: process.cpuUsage() };
    const t = performance.now();
    const res = await Promise.all(runners.map((h) => L.run(L.TIME, ['-v', L.NODE, ...profArgs, L.CERTCTL, ...renewArgs(h)], { env: env(h) })));
    const wallS = (performance.now() - t) / 1000;
    const self = process.cpuUsage(cpu0.self);
    const cpu = {
      certctl: res.reduce((s, r) => {
        const u = /User time \(seconds\): ([\d.]+)/.exec(r.stderr);
        const k = /System time \(seconds\): ([\d.]+)/.exec(r.stderr);
        return s + (u && k ? Number(u[1]) + Number(k[1]) : 0);
      }, 0),
      pebble: pebbleCpu() - cpu0.pebble,
      pg: pgCpu() - cpu0.pg,
      proxy: (self.user + self.system) / 1e6,
    };
    const st = (await stmt.query("SELECT coalesce(sum(calls), 0)::bigint AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")).rows[0].n;
    const top = (await stmt.query(`SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS q FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC LIMIT ${Number(L.arg('top', 8))}`)).rows;
    await stmt.end();
    const after = rows('SELECT name, current_version AS v, renewed_by AS host FROM lineages');
    const bumped = after.filter((r) => r.v === before.get(r.name) + 1).length;
    const twice = after.filter((r) => r.v > before.get(r.name) + 1).length;
    const byHost = {};
    for (const r of after) byHost[r.host] = (byHost[r.host] ?? 0) + 1;
    const issued = proxy.issued - issued0;
    const ariAsked = proxy.ariRequests.length - ari0;
    const codes = res.map((r) => r.code);
    console.log(`\n${label}: ${runners.length} renew process(es), ${dueCount} certificates with an ARI window in the past, wall ${wallS.toFixed(1)} s`);
    for (const [i, r] of res.entries()) {
      if (r.code !== 0 || issuedNone(r)) console.log(`  ${runners[i]} exit ${r.code}: ${r.stdout.slice(0, 1500)} ${r.stderr.slice(-800)}`);
    }
    check(codes.every((c) => c === 0), `${label}: every renew exited 0 (${[...new Set(codes)].join(',')})`);
    check(issued === N, `${label}: the CA issued ${issued} certificates for ${N} due lineages`);
    check(bumped === N && twice === 0, `${label}: ledger: ${bumped} lineages renewed once, ${twice} more than once, ${N - bumped - twice} not at all`);
    return { label, procs: runners.length, ariAsked, wallS, perS: N / wallS, cpu, statements: Number(st), top, byHost, loadAfter: (await import('node:os')).loadavg()[0] };
  }

  /**
   * Before each round, untimed: nothing due (every ARI window in the future), and every host runs `renew`
   * once, which writes live/ for its lineages from the ledger. So both rounds start with every host up to
   * date and measure the same thing: renewing N lineages (plus, in the many-host round, each host
   * writing what the others renewed meanwhile, which is part of a fleet's renewal).
   */
  const settle = async () => {
    const now = Date.now();
    proxy.setRenewalWindow(() => ({ start: new Date(now + 30 * 24 * HOUR), end: new Date(now + 32 * 24 * HOUR) }), 60);
    const l = Ledger.open(url);
    try {
      l.db.prepare('UPDATE renewal_info SET next_check = 0').run();
    } finally {
      l.close();
    }
    for (const h of hosts) await L.certctlOk(renewArgs(h), { env: env(h) });
  };
  await settle();
  const one = await round('one host', ['h0']);
  await settle();
  const many = await round(`${H} hosts`, hosts);
  // What one renew process costs with nothing to renew (start-up, ledger open, the walk, its ARI questions): paid by every host.
  const idleRuns = [];
  for (let i = 0; i < 3; i++) idleRuns.push(await L.run(L.TIME, ['-v', L.NODE, L.CERTCTL, ...renewArgs('h1')], { env: env('h1') }));
  const idleCpu = idleRuns.map((r) => {
    const u = /User time \(seconds\): ([\d.]+)/.exec(r.stderr);
    const k = /System time \(seconds\): ([\d.]+)/.exec(r.stderr);
    return u && k ? Number(u[1]) + Number(k[1]) : NaN;
  });
  const idle = { wallS: L.median(idleRuns.map((r) => r.ms)) / 1000, cpuS: L.median(idleCpu) };
  check(idleRuns.every((r) => r.code === 0), `nothing due: renew exits 0 (${idleRuns.map((r) => r.code).join(',')})`);
  const ratio = one.wallS / many.wallS;
  const wrong = [...failures];
  check(ratio >= 5, `throughput ${H} hosts / one host = ${ratio.toFixed(2)}× (goal ≥ 5×)`);

  const cpuSum = (r) => r.cpu.certctl + r.cpu.pebble + r.cpu.pg + r.cpu.proxy;
  const fmtCpu = (r) => `certctl ${r.cpu.certctl.toFixed(1)} s, Pebble ${r.cpu.pebble.toFixed(1)} s, PostgreSQL ${r.cpu.pg.toFixed(1)} s, proxy ${r.cpu.proxy.toFixed(1)} s`;
  const m = L.machine();
  const body = [
    `${L.machineLine(m)}`,
    '',
    `\`node bench/fleet-hosts.mjs --lineages ${N} --hosts ${H}\`: Debian PostgreSQL + Pebble behind the ACME test proxy, one fleet key, ${N} single-name lineages (one registered domain each, each deployed by one of ${H} hosts), all made due by ARI (window in the past) before each round. Setup (issuing them, \`apply --concurrency 8\` on h0): ${setupS.toFixed(0)} s. ${L.PEBBLE_NOTE}`,
    '',
    L.table(
      ['round', 'wall', 'lineages / s', 'CPU used (certctl processes, Pebble, PostgreSQL, proxy)', 'PG statements / renewed lineage', 'ARI requests', 'renewed by'],
      [one, many].map((r) => [r.label, `${r.wallS.toFixed(1)} s`, r.perS.toFixed(2), fmtCpu(r), (r.statements / N).toFixed(1), String(r.ariAsked), Object.entries(r.byHost).sort().map(([h, n]) => `${h} ${n}`).join(', ')]),
    ),
    '',
    L.table(['target', 'result', ''], [
      [`${H} hosts ≥ 5× the throughput of one host`, `${ratio.toFixed(2)}×`, L.verdict(ratio >= 5)],
      ['no lineage renewed twice (ledger versions; certificates counted at the proxy)', wrong.length ? wrong.join('; ') : `${N} + ${N} certificates for ${N} + ${N} due lineages, each renewed once per round`, L.verdict(wrong.length === 0)],
    ]),
    '',
    `Where the time goes: one host used ${cpuSum(one).toFixed(1)} s of CPU (all processes) in ${one.wallS.toFixed(1)} s — ${((100 * cpuSum(one)) / one.wallS).toFixed(0)} % of one core: it waits (on the CA's validation and its own polling), it does not compute, so ${H} hosts can overlap those waits. The ${H}-host round used ${cpuSum(many).toFixed(1)} s of CPU; on 2 cores it cannot take less than ${(cpuSum(many) / 2).toFixed(1)} s even on an idle machine, so the ratio here is bounded by ${one.wallS.toFixed(1)} / ${(cpuSum(many) / 2).toFixed(1)} = ${(one.wallS / (cpuSum(many) / 2)).toFixed(1)}× before any other load (load average after the rounds ${one.loadAfter.toFixed(1)}, ${many.loadAfter.toFixed(1)}: other engineers' work shared the same cores). Per renewed lineage: ${(cpuSum(one) / N).toFixed(2)} s CPU with one host, ${(cpuSum(many) / N).toFixed(2)} s with ${H}. One \`renew\` with nothing due on this ledger (start-up, ledger open, the walk of ${N} lineages) takes ${idle.wallS.toFixed(2)} s and ${idle.cpuS.toFixed(2)} s of certctl CPU (median of 3): ${H} hosts pay that ${H} times, ${(H * idle.cpuS).toFixed(1)} s, before renewing anything.`,
    '',
    'Most frequent statements in the one-host round (pg_stat_statements):',
    '',
    L.table(['calls', 'statement'], one.top.map((t) => [String(t.calls), '`' + t.q.replace(/\|/g, '\\|') + '`'])),
  ].join('\n');
  console.log('\n' + body);
  if (!L.flag('no-write')) L.updateSection('fleet', body);
} finally {
  await proxy.stop();
  await pebble.stop();
  await server.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failures.length ? 1 : 0);
