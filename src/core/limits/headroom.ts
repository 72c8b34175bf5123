/**
 * Headroom of one limit instance: how full it is and when each used slot
 * frees, whatever the rule's kind. What `certctl limits` prints. Pure.
 */
import { bucketFreeTimes, bucketState } from './bucket.js';
import { windowFreeTimes, windowState } from './window.js';
import { ruleCapacity, type Rule } from './policies.js';

export interface Headroom {
  used: number;
  capacity: number;
  available: number;
  /** When the next used slot frees (null: nothing used). */
  nextFreeAt: number | null;
  /** When each used slot frees, soonest first (capped). */
  freesAt: number[];
}

/** `times` are the spends (bucket), events (window) or open things' start times (concurrent). */
export function headroom(rule: Rule, times: readonly number[], now: number, maxFrees = 10): Headroom {
  const capacity = ruleCapacity(rule);
  switch (rule.kind) {
    case 'bucket': {
      const s = bucketState(times.map((at) => ({ at })), rule.capacity, rule.refillMs, now);
      return { used: s.used, capacity, available: s.available, nextFreeAt: s.nextTokenAt, freesAt: bucketFreeTimes(s, maxFrees) };
    }
    case 'window':
    case 'concurrent': {
      const s = windowState(times, rule.count, rule.kind === 'window' ? rule.windowMs : rule.lifetimeMs, now);
      return { used: s.used, capacity, available: Math.max(0, capacity - s.used), nextFreeAt: s.oldestLeavesAt, freesAt: windowFreeTimes(s, maxFrees) };
    }
    case 'max':
      return { used: 0, capacity, available: capacity, nextFreeAt: null, freesAt: [] };
  }
}
