/**
 * One real Pebble behind the project's ACME test proxy: what most end-to-end files start before
 * all their tests (beside two-cas.ts for the fail-over tests' two CAs). A file keeps its own
 * `pebble` and `proxy` bindings:
 *
 *   beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
 *   afterAll(() => stopOneCa({ pebble, proxy }));
 */
import { startPebble, type Pebble, type PebbleOptions } from '../../testkit/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy, type AcmeTestProxyOptions } from '../../testkit/acme-proxy.js';

export interface OneCa {
  pebble: Pebble;
  proxy: AcmeTestProxy;
}

/** Pebble (`options`), then the proxy in front of it (`proxyOptions`: the proxy's own settings). */
export async function startOneCa(options: PebbleOptions = {}, proxyOptions: Omit<AcmeTestProxyOptions, 'upstream' | 'caBundle'> = {}): Promise<OneCa> {
  const pebble = await startPebble(options);
  try {
    const proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ...proxyOptions });
    return { pebble, proxy };
  } catch (err) {
    await pebble.stop();
    throw err;
  }
}

/** Stops what started (either may be missing after a failed start): the proxy, then Pebble. */
export async function stopOneCa(c: Partial<OneCa>): Promise<void> {
  await c.proxy?.stop();
  await c.pebble?.stop();
}
