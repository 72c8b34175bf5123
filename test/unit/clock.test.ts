import { describe, expect, it } from 'vitest';
import { isoTime, utc } from '../../src/core/clock.js';

describe('isoTime', () => {
  it('is exactly toISOString for random moments across the years certificates live in', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const from = Date.UTC(1999, 0, 1), to = Date.UTC(2100, 0, 1);
    const wrong: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const ms = from + Math.floor(rand() * (to - from));
      if (isoTime(ms) !== new Date(ms).toISOString()) wrong.push(`${ms}: ${isoTime(ms)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('is exactly toISOString at the edges of days, years and its own range', () => {
    const edges = [0, 1, 999, 1000, 59_999, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2025, 11, 31, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
    for (const ms of edges) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('hands what it does not format itself to toISOString (before 1970, after 9999, fractions), which throws for NaN as before', () => {
    for (const ms of [-1, -86_400_001, Date.UTC(10000, 0, 1), 1.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });

  it('keeps giving right answers after its per-day cache is emptied (more than 4096 days)', () => {
    for (let day = 0; day < 5000; day++) {
      const ms = Date.UTC(2000, 0, 1) + day * 86_400_000 + 12_345_678;
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('utc() still reads as before', () => {
    expect(utc(Date.UTC(2026, 0, 24, 4, 12))).toBe('2026-01-24 04:12:00 UTC');
    // The cut of isoTime's text is the old search-and-replace for every moment, extended years too.
    const before = (at: number) => new Date(at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, ' UTC');
    const moments = [0, -1, 8.64e15, -8.64e15, Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(-1, 0, 1)];
    for (let i = 0; i < 2000; i++) moments.push(Math.floor((Math.random() * 2 - 1) * 8.64e15), Date.UTC(1970, 0, 1) + Math.floor(Math.random() * 5e12));
    for (const at of moments) expect(utc(at)).toBe(before(at));
  });
});
