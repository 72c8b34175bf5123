import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

// Every Node process a test starts (the certctl CLI above all) preloads the test-side clock:
// CERTCTL_TEST_NOW in that process's environment moves its Date.now() (test/helpers/fake-clock.cjs).
const fakeClock = fileURLToPath(new URL('./test/helpers/fake-clock.cjs', import.meta.url));

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores here: E2E files each start their own Pebble; keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
    env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${fakeClock}`.trim() },
  },
});
