/**
 * Two real Pebbles as two CAs (different roots), each behind the project's ACME test proxy: what
 * the fail-over tests need. The second validates through the first's HTTP port and challenge DNS
 * server, so one webroot and one resolver serve both.
 */
import { startPebble, type Pebble } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';

export interface TwoCas {
  a: Pebble;
  b: Pebble;
  pa: AcmeTestProxy;
  pb: AcmeTestProxy;
}

export async function startTwoCas(validityDays = 30): Promise<TwoCas> {
  const a = await startPebble({ validitySeconds: validityDays * 86_400, nonceReject: 0 });
  const b = await startPebble({ validitySeconds: validityDays * 86_400, nonceReject: 0, noWeb: true, httpPort: a.httpPort, dnsServer: a.dns.resolver });
  const pa = await startAcmeTestProxy({ upstream: a.directoryUrl, caBundle: a.caBundle });
  const pb = await startAcmeTestProxy({ upstream: b.directoryUrl, caBundle: b.caBundle });
  return { a, b, pa, pb };
}

/** Stops what started (any of them may be missing after a failed start). */
export async function stopTwoCas(c: Partial<TwoCas>): Promise<void> {
  await c.pa?.stop();
  await c.pb?.stop();
  await c.b?.stop();
  await c.a?.stop();
}

/** Each test starts with no injected fault and nothing observed at either proxy. */
export function resetProxies(...ps: AcmeTestProxy[]): void {
  for (const p of ps) {
    p.clearFaults();
    p.resetObservations();
  }
}
