/**
 * Text for a terminal: lines of `plan`, `renew` and `status` fit 80 columns
 * (or a narrower terminal; output to a pipe or file is not wrapped), wrapped at word boundaries — a space, or after
 * the comma of a name list such as an exact set "a.com,b.com" — with a
 * hanging indent; never inside a word, and nothing shortened (a word longer
 * than a line stays whole on its own line). Colour codes take no columns.
 */
import { utc } from '../core/clock.js';

/**
 * The widest line on a terminal: 80, or the terminal's width when it is narrower (never under 40).
 * Not a terminal (a pipe, a file, cron's mail): no limit — one line per item stays greppable.
 */
export function lineWidth(): number {
  if (!process.stdout.isTTY) return Infinity;
  const c = process.stdout.columns;
  return c && c >= 40 && c < 80 ? c : 80;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const columns = (s: string): number => [...s.replace(ANSI, '')].length;

/**
 * `text` as lines of at most `width` columns: its own leading spaces kept on the first line, every
 * further line indented by `indent` spaces. Returns the lines joined with '\n' (one Output call).
 */
export function wrap(text: string, indent: number, width = lineWidth()): string {
  // One line that fits (always, off a terminal) comes back as it is: `status` wraps 100,000s of them.
  if (text.length <= width && !text.includes('\n')) return text;
  // A text of several lines (a message listing failures): each line wrapped on its own, its continuation
  // lines at least as deep as the line itself.
  if (text.includes('\n')) return text.split('\n').map((t, i) => wrap(i === 0 ? t : ' '.repeat(indent) + t, Math.max(indent, /^ */.exec(t)![0].length + indent), width)).join('\n');
  const lead = /^ */.exec(text)![0];
  // Pieces with the glue before each: ' ' between words, '' after a comma inside a word (a name list).
  const pieces: { glue: string; s: string }[] = [];
  for (const word of text.slice(lead.length).split(' ')) {
    // A URL longer than a line may break after a '/' or before a '#' (all of it is kept); nothing else inside a word.
    const parts = word.split(/(?<=,)(?=[^,\s])/).flatMap((w) => (columns(w) > width - indent && /^\(?https?:\/\//.test(w) ? w.split(/(?<=\/)(?=[^/])|(?=#)/) : [w]));
    parts.forEach((s, i) => pieces.push({ glue: i === 0 ? ' ' : '', s }));
  }
  const pad = ' '.repeat(indent);
  const lines: string[] = [];
  let line = lead;
  let fresh = true; // nothing but the indent on this line yet
  for (const p of pieces) {
    const add = fresh ? p.s : p.glue + p.s;
    if (!fresh && columns(line + add) > width) {
      lines.push(line.replace(/ +$/, ''));
      line = pad + p.s;
    } else line += add;
    fresh = false;
  }
  lines.push(line);
  return lines.join('\n');
}

/** The ISO times in a core reason ("not due before 2026-04-01T09:40:00.000Z"), as the text output writes every time. */
export function utcTimes(text: string): string {
  return text.replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?Z\b/g, (m) => utc(Date.parse(m)));
}
