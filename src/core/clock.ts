/**
 * The one source of "now". Decisions take `now` as a parameter; only the
 * command layer reads the clock, through this function. (Tests move it from
 * the outside: test/helpers/fake-clock.mjs, preloaded into the processes
 * they start; certctl itself has no clock override.)
 */
export function now(): number {
  return Date.now();
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
];

/** "3 d 4 h" style, two most significant units; for human output only. */
export function humanDuration(ms: number): string {
  if (ms <= 0) return 'now';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0 || (unit === 's' && parts.length === 0)) {
      parts.push(`${n} ${unit}`);
      rest -= n * size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** "in 3 d 4 h" or "now". */
export function humanRelative(at: number, from: number): string {
  return at <= from ? 'now' : `in ${humanDuration(at - from)}`;
}

/** 2026-01-24 04:12:00 UTC */
export function utc(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
}

/** The same moment in the machine's local time zone, e.g. "2026-01-24 05:12 CET". */
export function local(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, '0');
  const tz = Intl.DateTimeFormat(undefined, { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName')?.value;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}${tz ? ' ' + tz : ''}`;
}

/** An HTTP Retry-After header (delay in seconds, or an HTTP date) as an absolute time in ms; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return now + Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
