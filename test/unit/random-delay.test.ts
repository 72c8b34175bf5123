/** renew's random delay: 1 to max seconds, only off a terminal, never for --dry-run or with --no-random-sleep. */
import { describe, it, expect } from 'vitest';
import { randomDelaySeconds, RANDOM_SLEEP_MAX_S } from '../../src/cli/run/renew.js';

describe('randomDelaySeconds', () => {
  const on = { randomSleep: true };
  it('off a terminal: from 1 to the maximum, whole seconds (480 by default)', () => {
    expect(RANDOM_SLEEP_MAX_S).toBe(480);
    expect(randomDelaySeconds(on, false, () => 0)).toBe(1);
    expect(randomDelaySeconds(on, false, () => 0.999999)).toBe(480);
    expect(randomDelaySeconds({ ...on, randomSleepMax: 30 }, false, () => 0.5)).toBe(16);
    expect(randomDelaySeconds({ ...on, randomSleepMax: 1 }, false, () => 0.999999)).toBe(1);
  });
  it('none on a terminal, with --no-random-sleep, --random-sleep-max 0 or --dry-run', () => {
    expect(randomDelaySeconds(on, true, () => 0.5)).toBe(0);
    expect(randomDelaySeconds({ randomSleep: false }, false, () => 0.5)).toBe(0);
    expect(randomDelaySeconds({ ...on, randomSleepMax: 0 }, false, () => 0.5)).toBe(0);
    expect(randomDelaySeconds({ ...on, dryRun: true }, false, () => 0.5)).toBe(0);
  });
});
