/**
 * Crash injection from the test side (certctl ships no crash hook): the
 * ACME test proxy calls back at an exact request (testkit/acme-proxy.ts
 * `interrupt`), and the callback SIGKILLs the certctl process and waits until
 * it has ended before the proxy drops the connection. So "killed right after
 * the CA performed step X" is `killedAt(proxy, X, 'after', …)`, and "killed
 * after certctl journalled X's answer, before it sent the next request" is
 * `killedAt(proxy, <next request>, 'before', …)` — by construction, not by timing.
 */
import type { AcmeTestProxy, EndpointName, InterruptWhen } from '../../testkit/acme-proxy.js';
import { spawn } from 'node:child_process';
import { startCli, BIN, type CliResult } from './cli.js';

export interface KilledRun extends CliResult {
  /** True when the interrupt fired (the process was killed there, not somewhere else). */
  fired: boolean;
}

/** Run the built CLI through `proxy`; SIGKILL it at the next POST to `endpoint` (`when`: see InterruptWhen). */
export async function killedAt(proxy: AcmeTestProxy, endpoint: EndpointName, when: InterruptWhen, args: string[], env: Record<string, string | undefined> = {}): Promise<KilledRun> {
  let run: ReturnType<typeof startCli> | undefined;
  let fired = false;
  // Armed before the process starts, so no request can slip past it.
  const it = proxy.interrupt(endpoint, when, async () => {
    fired = true;
    run!.child.kill('SIGKILL');
    await run!.exited;
  });
  try {
    run = startCli(args, env);
    const r = await run.result;
    return { ...r, fired };
  } finally {
    it.cancel();
  }
}

/**
 * Run the built CLI under strace and SIGKILL it on entering its `n`th `syscall` (main thread; e.g.
 * `symlink`, 3: the third live/ link of a switch — the first two are switched, the rest are not).
 * strace's `inject=…:signal=KILL` stops the process before the call runs: by construction, not by timing.
 */
export function killedAtSyscall(args: string[], env: Record<string, string | undefined>, syscall: string, n: number): Promise<CliResult> {
  const strace = '/usr/bin/strace';
  return new Promise((resolve, reject) => {
    const child = spawn(strace, ['-f', '-qq', '-o', '/dev/null', '-e', `trace=${syscall}`, '-e', 'signal=none', '-e', `inject=${syscall}:signal=KILL:when=${n}`, process.execPath, BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal: signal ?? (code === 137 ? 'SIGKILL' : null), stdout, stderr }));
  });
}
