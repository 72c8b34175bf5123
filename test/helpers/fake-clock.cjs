/**
 * The test-side clock (certctl ships no clock hook). Preloaded into every Node
 * process the tests start (vitest.config.ts puts `--require` of this file in
 * NODE_OPTIONS); a no-op unless CERTCTL_TEST_NOW is set in that process's
 * environment. Then Date.now() starts at that moment (an ISO-8601 time or epoch
 * milliseconds) and runs on from there (time-outs and lock waits still pass), so
 * an end-to-end test can stand on any day of a week-long
 * window or move forward to a renewal date. It changes nothing the CA sees:
 * TLS certificate checks use OpenSSL's clock, not JavaScript's.
 */
const fake = process.env.CERTCTL_TEST_NOW;
if (fake) {
  const at = /^\d+$/.test(fake) ? Number(fake) : Date.parse(fake);
  if (Number.isNaN(at)) throw new Error(`CERTCTL_TEST_NOW=${fake} is neither an ISO-8601 time nor epoch milliseconds`);
  const realNow = Date.now.bind(Date);
  const offset = at - realNow();
  Date.now = () => realNow() + offset;
}
