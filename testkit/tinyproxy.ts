/**
 * Debian's tinyproxy on a loopback port, as the HTTP(S) proxy between
 * certctl and a CA in tests: its own config in a temp dir, its own port,
 * its log in a file (each CONNECT it opened is a line "Established
 * connection to host …" after "CONNECT host:port"), foreground, run as the
 * current user. `connectPorts` are the ports CONNECT may reach (tinyproxy
 * refuses others with 403); `auth` makes it ask for Basic credentials (407).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { requireBinary } from './challtestsrv.js';

export const TINYPROXY_BIN = '/usr/bin/tinyproxy';

export interface TinyProxy {
  port: number;
  /** http://127.0.0.1:<port> (no credentials). */
  url: string;
  logFile: string;
  /** What tinyproxy logged so far. */
  log(): string;
  /** The "host:port" of every CONNECT it was asked for, in order. */
  connects(): string[];
  stop(): Promise<void>;
}

export async function startTinyproxy(opts: { connectPorts: number[]; auth?: { user: string; password: string } }): Promise<TinyProxy> {
  requireBinary(TINYPROXY_BIN);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-tinyproxy-'));
  const port = await freePort();
  const logFile = path.join(dir, 'tinyproxy.log');
  const conf = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 30',
    `LogFile "${logFile}"`,
    'LogLevel Info',
    `PidFile "${path.join(dir, 'tinyproxy.pid')}"`,
    'MaxClients 20',
    'Allow 127.0.0.1',
    ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
    ...(opts.auth ? [`BasicAuth ${opts.auth.user} ${opts.auth.password}`] : []),
  ];
  // tinyproxy drops privileges to User/Group only when started as root; keep the current ones.
  if (process.getuid?.() === 0) conf.push('User root', 'Group root');
  const confFile = path.join(dir, 'tinyproxy.conf');
  fs.writeFileSync(confFile, conf.join('\n') + '\n');
  fs.writeFileSync(logFile, '');
  const child: ChildProcess = spawn(TINYPROXY_BIN, ['-d', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`tinyproxy did not start on ${port}: ${stderr} ${fs.readFileSync(logFile, 'utf8')} (${(err as Error).message})`);
  }
  const log = () => fs.readFileSync(logFile, 'utf8');
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    logFile,
    log,
    connects: () => [...log().matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]!),
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
