/**
 * CERTCTL_TIMELINE=1: a timeline of one run on stderr, for finding where the
 * wall time goes (docs/architecture.md "Timeline of one issuance"). Each line is
 * `[timeline] <ms since the process started> <what> (<ms it took>)`, the clock
 * being performance.now() (0 = the process start), so Node's own start-up shows
 * as the first mark's offset. Off, every call is one boolean test.
 *
 * Nothing secret is printed: labels name steps, request kinds and file names.
 */
import { performance } from 'node:perf_hooks';

const on = process.env.CERTCTL_TIMELINE === '1';

export const timelineOn = (): boolean => on;

/** One mark: `label` at now; with `startedAt` (a performance.now()) the span's length too. */
export function mark(label: string, startedAt?: number): void {
  if (!on) return;
  const now = performance.now();
  const took = startedAt === undefined ? '' : ` (${(now - startedAt).toFixed(1)} ms)`;
  process.stderr.write(`[timeline] ${now.toFixed(1).padStart(8)} ms  ${label}${took}\n`);
}

/** The span of a synchronous or asynchronous step, marked when it ends. */
export function span<T>(label: string, fn: () => T): T {
  if (!on) return fn();
  const t0 = performance.now();
  const r = fn();
  if (r instanceof Promise) return r.finally(() => mark(label, t0)) as T;
  mark(label, t0);
  return r;
}

/** Node's own start-up (process start → bootstrap complete), marked once by the CLI's entry. */
export function markStartup(): void {
  if (!on) return;
  const t = performance.nodeTiming;
  mark(`node bootstrap done (V8 start ${t.v8Start.toFixed(1)} ms, environment ${t.environment.toFixed(1)} ms, bootstrap ${t.bootstrapComplete.toFixed(1)} ms); certctl modules loaded`);
  process.on('exit', (code) => mark(`exit ${code}`));
}

/** ACME request kind from its URL path's first segment, ids dropped (tokens never printed). */
export function urlKind(url: string): string {
  try {
    const seg = new URL(url).pathname.split('/').filter(Boolean);
    return seg.length ? seg[0]! : '/';
  } catch {
    return '?';
  }
}
