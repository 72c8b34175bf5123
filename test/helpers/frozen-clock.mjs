/**
 * A clock that does not move (CERTCTL_TEST_FROZEN_NOW, epoch ms), for tests that compare the
 * output of two runs byte for byte (`status` prints "now" for a lineage to resume). Preloaded
 * with `--import` by the test that sets it; a no-op otherwise.
 */
const frozen = process.env.CERTCTL_TEST_FROZEN_NOW;
if (frozen) {
  const at = Number(frozen);
  if (!Number.isSafeInteger(at)) throw new Error(`CERTCTL_TEST_FROZEN_NOW=${frozen} is not epoch milliseconds`);
  Date.now = () => at;
}
