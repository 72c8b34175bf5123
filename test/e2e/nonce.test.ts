/**
 * Nonces: certctl reuses the Replay-Nonce of each successful POST instead of
 * asking newNonce before every request, and never uses a nonce twice. With
 * Pebble rejecting no good nonce, an issuance must see no badNonce at all
 * and ask newNonce about once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { type Pebble, pebbleIssueFlags } from '../../testkit/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

describe('nonce reuse', () => {
  it('a 2-name issuance: no badNonce, newNonce asked at most once per parallel branch', async () => {
    for (let i = 0; i < 3; i++) {
      proxy.resetObservations();
      const r = await runCli(['--state-dir', tempDir(), 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', `n${i}.nonce.example.test`, '-d', `m${i}.nonce.example.test`]);
      expect(r.code).toBe(0);
      expect(proxy.requests.filter((x) => x.status === 400)).toEqual([]);
      // One HEAD to start; parallel authorizations may each need one more when the pool is empty.
      expect(proxy.counts.nonce).toBeGreaterThanOrEqual(1);
      expect(proxy.counts.nonce).toBeLessThanOrEqual(3);
      expect(proxy.requests.filter((x) => x.method === 'POST').length).toBeGreaterThan(8);
    }
  });
});
