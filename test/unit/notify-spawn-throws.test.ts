/**
 * A command target whose spawn() throws at once (a NUL byte in the command or an argument, E2BIG
 * from a huge environment: Node throws these synchronously instead of emitting 'error') must not
 * leave deliver()'s SIGINT/SIGTERM/SIGHUP and 'exit' handlers behind: they are installed before
 * spawn, and two or more left over swallow the signal (each sees another listener and does not
 * raise it again), so Ctrl-C no longer ended certctl.
 */
import { describe, expect, it } from 'vitest';
import { deliver } from '../../src/core/notify/deliver.js';
import { event } from '../../src/core/notify/index.js';

const e = event({ kind: 'renewal-failed', subject: 'example.org', lineage: 'example.org', at: Date.parse('2026-03-02T10:00:00Z'), summary: 's', reason: 'r', next: 'n' });
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit'] as const;
const counts = () => SIGNALS.map((s) => process.listenerCount(s));

describe('a command target spawn() refuses synchronously', () => {
  it('fails the delivery and leaves no signal or exit handler behind', async () => {
    const before = counts();
    for (let i = 0; i < 3; i++) {
      const r = await deliver({ type: 'command', id: 'cmd', command: ['/bin/echo', 'a\u0000b'], timeoutMs: 1000 }, e, 1, 'h');
      expect(r.ok).toBe(false);
      expect(r.detail).toMatch(/could not run|null bytes|invalid/i);
    }
    expect(counts()).toEqual(before);
  });
  it('ENOENT (reported asynchronously) leaves none either', async () => {
    const before = counts();
    const r = await deliver({ type: 'command', id: 'cmd', command: ['/nonexistent/certctl-notify'], timeoutMs: 1000 }, e, 1, 'h');
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/ENOENT/);
    expect(counts()).toEqual(before);
  });
});
