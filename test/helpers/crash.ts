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
import { startCli, type CliResult } from './cli.js';

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
