/**
 * The one source of "now". Decisions take `now` as a parameter; only the
 * command layer reads the clock, through this function. (Tests move it from
 * the outside: test/helpers/fake-clock.cjs, preloaded into the processes
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

const DAY_MS = 86_400_000;
/** The char codes of "2026-01-24T" per day number; a renew of 100,000 lineages formats a few hundred distinct days. */
const DAY_PREFIX = new Map<number, number[]>();
const DAY_PREFIX_MAX = 4096;
const ISO_MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const ZERO = 48;

/**
 * Exactly `new Date(ms).toISOString()`, about three times faster: the date
 * part is cached per day and the time of day is arithmetic. Why: a `renew
 * --json` of 100,000 lineages formats some 800,000 moments (each outcome's
 * times and the ARI reasons), and toISOString was a quarter of that run. The
 * string is made by one String.fromCharCode, so it is flat: joining pieces
 * would make rope strings, and the reasons kept for 100,000 lineages then
 * took 150 MB more. Moments before 1970, after 9999 or not whole
 * milliseconds take toISOString itself (which also throws for NaN).
 */
export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms <= ISO_MAX) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  let d = DAY_PREFIX.get(day);
  if (d === undefined) {
    if (DAY_PREFIX.size >= DAY_PREFIX_MAX) DAY_PREFIX.clear();
    const text = new Date(day * DAY_MS).toISOString();
    d = Array.from({ length: 11 }, (_, i) => text.charCodeAt(i));
    DAY_PREFIX.set(day, d);
  }
  let t = ms - day * DAY_MS;
  const milli = t % 1000;
  t = (t - milli) / 1000;
  const sec = t % 60;
  t = (t - sec) / 60;
  const min = t % 60;
  const hour = (t - min) / 60;
  // prettier-ignore
  return String.fromCharCode(
    d[0]!, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!, d[6]!, d[7]!, d[8]!, d[9]!, d[10]!,
    ZERO + Math.floor(hour / 10), ZERO + (hour % 10), 58 /* : */, ZERO + Math.floor(min / 10), ZERO + (min % 10), 58,
    ZERO + Math.floor(sec / 10), ZERO + (sec % 10), 46 /* . */,
    ZERO + Math.floor(milli / 100), ZERO + (Math.floor(milli / 10) % 10), ZERO + (milli % 10), 90 /* Z */,
  );
}

/** 2026-01-24 04:12:00 UTC */
export function utc(at: number): string {
  const iso = isoTime(at);
  // YYYY-MM-DDTHH:MM:SS.mmmZ (years 0–9999, every moment a certificate has): cut, not searched.
  if (iso.length === 24) return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  return iso.replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
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
  // A value no Date can hold (e.g. 99999999999999999999 seconds) is as good as none: not a time.
  const t = /^\d+$/.test(v) ? now + Number(v) * 1000 : Date.parse(v);
  return Number.isNaN(t) || Math.abs(t) > 8.64e15 ? undefined : t;
}
