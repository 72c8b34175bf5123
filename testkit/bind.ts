/**
 * A real BIND 9 (Debian `bind9`, /usr/sbin/named) for the DNS-01 tests:
 * authoritative only, accepting TSIG-signed dynamic updates, started per
 * test file in a temporary directory and stopped after.
 *
 * Nameservers listen on port 53 of their own loopback address, because an
 * NS record carries no port: the code under test finds the zone's servers
 * from NS + A/AAAA and must reach them where real ones are. BIND only
 * listens on addresses that exist on an interface, so each address is
 * added to `lo` (`ip addr add 127.53.X.N/32 dev lo`, root — as the tests
 * and CI run) and removed by stop(). X is random so parallel test files do
 * not meet. An IPv6 address of its own (fd53:0:0:X::1, added to lo the same way)
 * can be given to one server for the IPv6 path — not ::1, which every world
 * running at the same time would share.
 *
 * `startDnsWorld()` builds the set-up the tests share (see its comment):
 * a primary ns1, and ns2 — a second primary with its own copy of one zone
 * that the test updates late or never: the lagging nameserver.
 *
 * CI needs: apt-get install -y bind9 bind9-utils bind9-dnsutils (named,
 * tsig-keygen, nsupdate, dig).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const NAMED_BIN = '/usr/sbin/named';
export const TSIG_KEYGEN_BIN = '/usr/sbin/tsig-keygen';
export const NSUPDATE_BIN = '/usr/bin/nsupdate';

function requireBind(): void {
  for (const bin of [NAMED_BIN, TSIG_KEYGEN_BIN, NSUPDATE_BIN]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is not installed. Install it with: sudo apt-get install -y bind9 bind9-utils bind9-dnsutils`);
  }
  if (process.getuid?.() !== 0) throw new Error('The BIND tests run nameservers on port 53 of their own loopback addresses, which needs root (as in CI).');
}

/** Add an address to lo; returns the function that removes it. */
export async function addLoopbackAddress(ip: string): Promise<() => Promise<void>> {
  const v6 = ip.includes(':');
  // nodad: usable at once (no duplicate address detection before named scans the interfaces).
  await execFileP('ip', [...(v6 ? ['-6'] : []), 'addr', 'add', `${ip}/${v6 ? 128 : 32}`, 'dev', 'lo', ...(v6 ? ['nodad'] : [])]);
  return async () => {
    await execFileP('ip', [...(v6 ? ['-6'] : []), 'addr', 'del', `${ip}/${v6 ? 128 : 32}`, 'dev', 'lo']).catch(() => undefined);
  };
}

/** `tsig-keygen -a ALG NAME > DIR/NAME.key`; returns the file's path. */
export async function makeTsigKeyFile(dir: string, name: string, algorithm: 'hmac-sha256' | 'hmac-sha512' = 'hmac-sha256'): Promise<string> {
  const { stdout } = await execFileP(TSIG_KEYGEN_BIN, ['-a', algorithm, name]);
  const file = path.join(dir, `${name}.key`);
  fs.writeFileSync(file, stdout, { mode: 0o600 });
  return file;
}

export interface BindZone {
  name: string;
  /** Zone-file lines after the SOA (NS, A, …), relative names allowed. */
  records: string[];
  /** Key names allowed to update the zone; none = no updates. */
  updateKeys?: string[];
}

export interface BindOptions {
  /** IPv4 loopback address (already on lo) to listen on, port 53. */
  address: string;
  /** Also listen on [::1]:53 (shared by every server that asks for it: prefer address6). */
  ipv6Loopback?: boolean;
  /** Also listen on port 53 of this IPv6 address (already on lo). */
  address6?: string;
  zones: BindZone[];
  /** Key files (tsig-keygen output) to include. */
  keyFiles: string[];
  /** Directory to create the server's files in (default: a new temporary one). */
  dir?: string;
}

export interface BindServer {
  address: string;
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

export async function startBind(opts: BindOptions): Promise<BindServer> {
  requireBind();
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-bind-'));
  fs.mkdirSync(dir, { recursive: true });
  const conf: string[] = [];
  for (const k of opts.keyFiles) conf.push(`include "${k}";`);
  conf.push(`options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port 53 { ${opts.address}; };
  listen-on-v6 port 53 { ${opts.address6 ? `${opts.address6};` : opts.ipv6Loopback ? '::1;' : 'none;'} };
  recursion no;
  dnssec-validation no;
  allow-query { any; };
  allow-transfer { none; };
  notify no;
};
controls { };`);
  for (const z of opts.zones) {
    const file = path.join(dir, `${z.name}.zone`);
    fs.writeFileSync(file, [`$ORIGIN ${z.name}.`, '$TTL 60', `@ IN SOA ns1.example.test. admin.example.test. ( 1 60 60 600 60 )`, ...z.records, ''].join('\n'));
    const allow = z.updateKeys?.length ? z.updateKeys.map((k) => `key "${k}";`).join(' ') : 'none;';
    conf.push(`zone "${z.name}" { type primary; file "${file}"; journal "${file}.jnl"; allow-update { ${allow} }; };`);
  }
  const confFile = path.join(dir, 'named.conf');
  fs.writeFileSync(confFile, conf.join('\n') + '\n');
  const child: ChildProcess = spawn(NAMED_BIN, ['-c', confFile, '-g', '-u', 'root', '-n', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`named did not start within 15 s:\n${log}`)), 15_000);
    const onData = () => {
      if (/\brunning\b/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`named exited with status ${code}:\n${log}`));
    });
  });
  return {
    address: opts.address,
    dir,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 3000).unref();
        });
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Run nsupdate with a key file and a script (server/zone/update/send lines). */
export async function nsupdate(keyFile: string, script: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(NSUPDATE_BIN, ['-k', keyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nsupdate exited ${code}: ${out}`))));
    child.stdin.end(script);
  });
}

/** TXT values at `name` as `dig` sees them on one server (an independent reader for the assertions). */
export async function digTxt(server: string, name: string): Promise<string[]> {
  const { stdout } = await execFileP('dig', [`@${server}`, '-p', '53', '+short', '+norecurse', '+time=2', '+tries=1', 'TXT', name]);
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^"|"$/g, '').replace(/" "/g, ''))
    .sort();
}

/**
 * The tests' DNS world, on 127.53.X.0/24 (X random):
 *
 * - ns1 (127.53.X.1 and [fd53:0:0:X::1], port 53): primary for
 *     example.test      NS ns1 only; ns1 has an A and an AAAA, so it is asked on IPv4 and IPv6;
 *                       `_acme-challenge.cname` is a CNAME to `x1.auth.example.org` (acme-dns style),
 *                       `_acme-challenge.loop` a CNAME loop; `big` holds TXT records too large for UDP
 *     lag.test          NS ns1 AND ns2
 *     dead.test         NS ns1 and ns3 (127.53.X.3: an address where nothing listens)
 *     auth.example.org  the acme-dns zone, NS ns1
 *     locked.test       NS ns1; only the `admin` key may update it (certctl's key is REFUSED)
 *   updates (but locked.test) allowed with keys `certctl` (hmac-sha256), `certctl512` (hmac-sha512) and `admin`.
 * - ns2 (127.53.X.2): its own copy of lag.test, updated only with the `admin` key — by the test,
 *   late or never: the lagging nameserver.
 */
export interface DnsWorld {
  dir: string;
  ns1: string;
  /** ns1's IPv6 address (its AAAA). */
  ns1v6: string;
  ns2: string;
  ns3: string;
  keyFiles: { certctl: string; certctl512: string; admin: string };
  servers: BindServer[];
  /** Add/delete on a server with nsupdate and a key (the test's own writes). */
  update(server: string, keyFile: string, zone: string, lines: string[]): Promise<void>;
  stop(): Promise<void>;
}

const WORLD_PREFIX = 'certctl-dnsworld-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A test run killed before its afterAll (SIGKILL, a crashed worker) leaves
 * named processes and lo addresses behind. Each world records its owner pid,
 * addresses and server directories in owner.json; a world whose owner is
 * dead is taken down here before a new one starts.
 */
async function reapStaleWorlds(): Promise<void> {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    if (!entry.startsWith(WORLD_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    let owner: { pid: number; addresses: string[]; servers: string[] };
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8'));
    } catch {
      continue; // being created right now, or not ours
    }
    if (alive(owner.pid)) continue;
    for (const sdir of owner.servers) {
      try {
        const pid = Number(fs.readFileSync(path.join(sdir, 'named.pid'), 'utf8').trim());
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmd.includes(path.join(sdir, 'named.conf'))) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ip of owner.addresses) {
      const v6 = ip.includes(':');
      await execFileP('ip', [...(v6 ? ['-6'] : []), 'addr', 'del', `${ip}/${v6 ? 128 : 32}`, 'dev', 'lo']).catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startDnsWorld(): Promise<DnsWorld> {
  requireBind();
  await reapStaleWorlds();
  const x = 1 + Math.floor(Math.random() * 254);
  const net = `127.53.${x}`;
  const ns1v6 = `fd53:0:0:${x.toString(16)}::1`;
  const ns1 = `${net}.1`;
  const ns2 = `${net}.2`;
  const ns3 = `${net}.3`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), WORLD_PREFIX));
  const serverDirs = [path.join(dir, 'ns1'), path.join(dir, 'ns2')];
  fs.writeFileSync(path.join(dir, 'owner.json'), JSON.stringify({ pid: process.pid, addresses: [ns1, ns2, ns1v6], servers: serverDirs }));
  const removers: (() => Promise<void>)[] = [];
  const servers: BindServer[] = [];
  const stop = async () => {
    for (const s of servers.splice(0)) await s.stop();
    for (const r of removers.splice(0)) await r();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    removers.push(await addLoopbackAddress(ns1));
    removers.push(await addLoopbackAddress(ns2));
    removers.push(await addLoopbackAddress(ns1v6));
    const keyFiles = {
      certctl: await makeTsigKeyFile(dir, 'certctl', 'hmac-sha256'),
      certctl512: await makeTsigKeyFile(dir, 'certctl512', 'hmac-sha512'),
      admin: await makeTsigKeyFile(dir, 'admin', 'hmac-sha256'),
    };
    const all = ['certctl', 'certctl512', 'admin'];
    const big = Array.from({ length: 12 }, (_, i) => `big IN TXT "${String(i).padStart(2, '0')}-${'x'.repeat(60)}"`);
    const lagRecords = ['@ IN NS ns1.example.test.', '@ IN NS ns2.example.test.'];
    servers.push(
      await startBind({
        dir: serverDirs[0],
        address: ns1,
        address6: ns1v6,
        keyFiles: Object.values(keyFiles),
        zones: [
          {
            name: 'example.test',
            updateKeys: all,
            records: [
              '@ IN NS ns1.example.test.',
              `ns1 IN A ${ns1}`,
              `ns1 IN AAAA ${ns1v6}`,
              `ns2 IN A ${ns2}`,
              `ns3 IN A ${ns3}`,
              '@ IN A 127.0.0.1',
              '_acme-challenge.cname IN CNAME x1.auth.example.org.',
              '_acme-challenge.loop IN CNAME _acme-challenge.loop2.example.test.',
              '_acme-challenge.loop2 IN CNAME _acme-challenge.loop.example.test.',
              ...big,
            ],
          },
          { name: 'lag.test', updateKeys: all, records: lagRecords },
          { name: 'dead.test', updateKeys: all, records: ['@ IN NS ns1.example.test.', '@ IN NS ns3.example.test.'] },
          { name: 'auth.example.org', updateKeys: all, records: ['@ IN NS ns1.example.test.'] },
          { name: 'locked.test', updateKeys: ['admin'], records: ['@ IN NS ns1.example.test.'] },
        ],
      }),
    );
    servers.push(await startBind({ dir: serverDirs[1], address: ns2, keyFiles: [keyFiles.admin], zones: [{ name: 'lag.test', updateKeys: ['admin'], records: lagRecords }] }));
    return {
      dir,
      ns1,
      ns1v6,
      ns2,
      ns3,
      keyFiles,
      servers,
      async update(server, keyFile, zone, lines) {
        await nsupdate(keyFile, [`server ${server} 53`, `zone ${zone}`, ...lines, 'send', ''].join('\n'));
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
