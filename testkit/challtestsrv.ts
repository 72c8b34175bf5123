/**
 * pebble-challtestsrv as the test DNS server: every A query answers
 * 127.0.0.1 unless told otherwise; CAA records and SERVFAIL on request
 * through its management API (plain HTTP, POST JSON).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { freePort, waitForPort } from './ports.js';

export const CHALLTESTSRV_BIN = '/usr/bin/pebble-challtestsrv';

export interface ChallTestSrv {
  dnsPort: number;
  mgmtPort: number;
  /** "127.0.0.1:<dnsPort>" for --resolver / pebble -dnsserver */
  resolver: string;
  post(path: string, body: unknown): Promise<void>;
  stop(): Promise<void>;
}

/** Fail loudly (in CI, or always when CERTCTL_REQUIRE_PEBBLE is set) if the binary is missing. */
export function requireBinary(bin: string): void {
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} is not installed. Install it with: sudo apt-get install -y pebble`);
  }
}

export async function startChallTestSrv(): Promise<ChallTestSrv> {
  // A port found free can be taken by a parallel test file before the server binds it: retry on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startChallTestSrvOnce();
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
}

async function startChallTestSrvOnce(): Promise<ChallTestSrv> {
  requireBinary(CHALLTESTSRV_BIN);
  const dnsPort = await freePort();
  const mgmtPort = await freePort();
  const child: ChildProcess = spawn(
    CHALLTESTSRV_BIN,
    ['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${mgmtPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv6', '', '-defaultIPv4', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  try {
    await waitForPort(mgmtPort);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`pebble-challtestsrv did not start: ${(err as Error).message}\n${log}`);
  }
  return {
    dnsPort,
    mgmtPort,
    resolver: `127.0.0.1:${dnsPort}`,
    async post(path, body) {
      const res = await fetch(`http://127.0.0.1:${mgmtPort}${path}`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`challtestsrv ${path}: HTTP ${res.status} ${await res.text()}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      });
    },
  };
}
