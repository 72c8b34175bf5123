/**
 * Sliding-window math, for CAs that count "N in the last W" (the SM2 ACME
 * Service, seed 004; Let's Encrypt before Nov 2024). An event leaves the
 * window exactly one window length after it happened: at t + W it no longer
 * counts. Pure functions, times in ms.
 */

export interface WindowState {
  count: number;
  windowMs: number;
  /** Event times still inside the window at `now`, oldest first. */
  inWindow: number[];
  /** Events counted at `now`. */
  used: number;
  /** When the oldest counted event leaves, or null when the window is empty. */
  oldestLeavesAt: number | null;
}

/** The window at `now`: events in (now - W, now]. Events after `now` are ignored. */
export function windowState(times: readonly number[], count: number, windowMs: number, now: number): WindowState {
  const inWindow = times.filter((t) => t > now - windowMs && t <= now).sort((a, b) => a - b);
  return { count, windowMs, inWindow, used: inWindow.length, oldestLeavesAt: inWindow.length ? inWindow[0]! + windowMs : null };
}

/**
 * The earliest moment ≥ now at which `cost` more events fit, or null when
 * the cost exceeds the window's count. Only the events already recorded
 * leave; nothing is assumed about future ones.
 */
export function windowAllowedAt(state: WindowState, cost: number, now: number): number | null {
  if (cost > state.count) return null;
  const excess = state.used + cost - state.count;
  if (excess <= 0) return now;
  return Math.max(now, state.inWindow[excess - 1]! + state.windowMs);
}

/** When each counted event leaves the window, soonest first (at most `max`). */
export function windowFreeTimes(state: WindowState, max = Infinity): number[] {
  return state.inWindow.slice(0, Math.min(state.inWindow.length, max === Infinity ? state.inWindow.length : max)).map((t) => t + state.windowMs);
}
