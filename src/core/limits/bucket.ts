/**
 * Token-bucket math, as Let's Encrypt's Boulder does it since Nov 2024
 * (ratelimits/gcra.go): a Generic Cell Rate Algorithm. Nothing "resets";
 * every spend pushes a theoretical arrival time (TAT) forward by
 * cost × emission interval, and the bucket refills continuously.
 *
 * Pure functions: times are integers in ms since the epoch, `now` is a
 * parameter. With integer spend times and an integer refill interval every
 * result is an exact millisecond, so a test can assert it to the second.
 */

/** One recorded spend (an issued certificate, a created order, a failed validation). */
export interface Spend {
  at: number;
  /** Tokens taken; 1 unless one row stands for several. */
  cost?: number;
}

export interface BucketState {
  capacity: number;
  /** One token comes back every `refillMs` (the CA's period / capacity). */
  refillMs: number;
  /** Theoretical arrival time after the last spend; -Infinity when never spent. */
  tat: number;
  /** Whole tokens available at `now` (0..capacity). */
  available: number;
  /** Tokens in use at `now` (capacity - available). */
  used: number;
  /** When the next whole token comes back, or null when the bucket is full. */
  nextTokenAt: number | null;
  /** When the bucket is full again (now when already full). */
  fullAt: number;
}

/**
 * The bucket at `now`, replaying the spends in time order. Spends after
 * `now` are ignored (a clock put back in a test must not see the future).
 * A spend beyond the capacity (recorded facts: an override, another client
 * sharing the domain) is still applied: the ledger says it happened.
 */
export function bucketState(spends: readonly Spend[], capacity: number, refillMs: number, now: number): BucketState {
  let tat = -Infinity;
  const sorted = [...spends].filter((s) => s.at <= now).sort((a, b) => a.at - b.at);
  for (const s of sorted) tat = Math.max(tat, s.at) + (s.cost ?? 1) * refillMs;
  const deficit = Math.max(0, tat - now);
  const available = Math.max(0, Math.min(capacity, Math.floor((capacity * refillMs - deficit) / refillMs)));
  const used = capacity - available;
  // The (available+1)-th token is back when the deficit has shrunk to (capacity - available - 1) intervals.
  const nextTokenAt = available >= capacity ? null : tat - (capacity - available - 1) * refillMs;
  return { capacity, refillMs, tat, available, used, nextTokenAt, fullAt: Math.max(now, tat) };
}

/**
 * The earliest moment ≥ now at which `cost` tokens can be taken at once,
 * or null when the cost exceeds the capacity (never, as asked).
 */
export function bucketAllowedAt(state: BucketState, cost: number, now: number): number | null {
  if (cost > state.capacity) return null;
  if (cost <= 0) return now;
  return Math.max(now, state.tat - (state.capacity - cost) * state.refillMs);
}

/**
 * When each token in use comes back, soonest first (at most `max` entries):
 * the k-th is back when the deficit shrinks to (used - k) intervals.
 */
export function bucketFreeTimes(state: BucketState, max = Infinity): number[] {
  const out: number[] = [];
  // Token (available + k) is back at tat - (capacity - available - k) * refill = tat - (used - k) * refill.
  for (let k = 1; k <= state.used && out.length < max; k++) out.push(state.tat - (state.used - k) * state.refillMs);
  return out;
}
