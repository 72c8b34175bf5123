/**
 * The unreachable-across-runs rule (docs/cas.md) on a real ledger of each backend, with a fixed
 * clock: ca_outages counts distinct runs (a run failing twice counts once), an answer clears it,
 * and chooseCa passes the first CA over only with enough runs, over long enough, when the next run
 * would pass the renewal deadline. plan's view (probe: false) sends nothing. Plus the list checks.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { chooseCa, unreachableDeadline, unreachablePolicy, UNREACHABLE_DEFAULTS, type ChooseInput } from '../../src/core/failover.js';
import { caListIds, findCa, MAX_CA_LIST } from '../../src/core/ca/registry.js';
import { parseConfig } from '../../src/core/config/index.js';
import { NetworkError } from '../../src/core/errors.js';

const H = 3_600_000;
const D = 24 * H;
const NOW = Date.parse('2026-06-01T00:00:00Z');

afterAll(() => stopTestPostgres());

describe.each(BACKENDS)('ca_outages and the rule (%s)', (backend) => {
  const le = findCa('letsencrypt')!;
  const bp = findCa('buypass')!;
  const candidates = [
    { ca: le, directoryUrl: le.directoryUrl! },
    { ca: bp, directoryUrl: bp.directoryUrl! },
  ];
  const input = (over: Partial<ChooseInput> & { nextRun?: number | null; validity?: { notBefore: number; notAfter: number } | null } = {}): ChooseInput => ({
    names: ['shop.example.com'],
    keyType: 'ecdsa',
    candidates,
    waitUntil: NOW + 20 * D,
    caa: false,
    now: NOW,
    unreachable: { policy: UNREACHABLE_DEFAULTS, validity: over.validity === undefined ? { notBefore: NOW - 69 * D, notAfter: NOW + 21 * D } : over.validity, nextRun: over.nextRun ?? null, probe: false },
  });
  const fail = (ledger: import('../../src/core/ledger/ledger.js').Ledger, at: number, run: string) => {
    ledger.runKey = run;
    return ledger.recordCaUnreachable({ directory_url: le.directoryUrl!, ca_id: le.id, at, kind: 'refused', endpoint: 'directory', detail: 'connect ECONNREFUSED' });
  };

  it('counts distinct runs, keeps the first failure, and an answer ends the outage', async () => {
    const { ledger } = await openTestLedger(backend);
    try {
      expect(fail(ledger, NOW - 12 * H, 'run:1')).toMatchObject({ runs: 1, first_at: NOW - 12 * H, last_at: NOW - 12 * H });
      expect(fail(ledger, NOW - 11 * H, 'run:1').runs).toBe(1); // the same run again
      expect(fail(ledger, NOW - 6 * H, 'run:2')).toMatchObject({ runs: 2, first_at: NOW - 12 * H, last_at: NOW - 6 * H });
      expect(ledger.caOutages()).toHaveLength(1);
      ledger.noteCaReached(le.directoryUrl!);
      expect(ledger.caOutage(le.directoryUrl!)).toBeUndefined();
    } finally {
      ledger.close();
    }
  });

  it('one blip, or runs too close together, or time left before the deadline: the first CA stays', async () => {
    const { ledger } = await openTestLedger(backend);
    try {
      fail(ledger, NOW - H, 'run:1');
      const one = await chooseCa(ledger, input());
      expect(one).toMatchObject({ failedOver: false, ca: { id: 'letsencrypt' } });
      expect(one.reason).toMatch(/it was unreachable on 1 consecutive run since .*; certctl tries it again/);
      expect(one.verdicts[0]!.unreachable).toMatchObject({ runs: 1, givenUp: false, probed: false });
      // Three runs within two minutes: not over 6 h.
      fail(ledger, NOW - 1 * 60_000, 'run:2');
      fail(ledger, NOW, 'run:3');
      expect((await chooseCa(ledger, input({ validity: null }))).failedOver).toBe(false);
    } finally {
      ledger.close();
    }
    const { ledger: l2 } = await openTestLedger(backend);
    try {
      for (const [i, at] of [NOW - 14 * H, NOW - 7 * H, NOW].entries()) fail(l2, at, `run:${i}`);
      // Deadline: expiry (day 21) less 7 d = day 14; the next run in 12 h is well before it.
      expect((await chooseCa(l2, input({ nextRun: NOW + 12 * H }))).failedOver).toBe(false);
      // The next run after the deadline: passed over for the next CA, with the reason.
      const late = await chooseCa(l2, input({ nextRun: NOW + 12 * H, validity: { notBefore: NOW - 80 * D, notAfter: NOW + 7 * D + 6 * H } }));
      expect(late).toMatchObject({ failedOver: true, ca: { id: 'buypass' }, firstId: 'letsencrypt' });
      expect(late.reason).toMatch(/^letsencrypt has been unreachable on 3 consecutive runs since 2026-05-31 10:00:00 UTC \(refused: connect ECONNREFUSED\), and waiting for the next run \(2026-06-01 12:00:00 UTC\) would pass the renewal deadline \(2026-06-01 06:00:00 UTC\); buypass allows it now$/);
      // A new lineage (no certificate to wait on): passed over as soon as the runs and the period are met.
      expect((await chooseCa(l2, input({ validity: null }))).failedOver).toBe(true);
    } finally {
      l2.close();
    }
  });

  it('a probe that fails again before the rule is met is a NetworkError (exit 8) saying what it waits for', async () => {
    const { ledger } = await openTestLedger(backend);
    try {
      // A directory nothing listens on (port 9 on loopback): the probe fails, this run counts.
      const dead = { ca: { ...le, id: 'dead', directoryUrl: 'https://127.0.0.1:9/dir' }, directoryUrl: 'https://127.0.0.1:9/dir' };
      ledger.runKey = 'run:1';
      ledger.recordCaUnreachable({ directory_url: dead.directoryUrl, ca_id: 'dead', at: NOW - 8 * H, kind: 'refused', endpoint: 'directory', detail: 'x' });
      ledger.runKey = 'run:2';
      const err = await chooseCa(ledger, { ...input(), candidates: [dead, candidates[1]!], unreachable: { ...input().unreachable!, probe: true } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).exitCode).toBe(8);
      expect((err as Error).message).toMatch(/^dead could not be reached: unreachable on 2 consecutive runs since .*; not failing over to buypass yet: certctl fails over once dead has been unreachable on 3 runs over at least 6 h/);
      expect(ledger.caOutage(dead.directoryUrl)).toMatchObject({ runs: 2, kind: 'refused' });
    } finally {
      ledger.close();
    }
  });
});

describe('the rule and list checks (pure)', () => {
  it('the deadline is expiry less the margin, at most a third of the lifetime', () => {
    expect(unreachableDeadline({ notBefore: 0, notAfter: 90 * D }, 7 * D)).toBe(83 * D);
    expect(unreachableDeadline({ notBefore: 0, notAfter: 6 * D }, 7 * D)).toBe(4 * D);
    expect(unreachableDeadline(null, 7 * D)).toBeNull();
    expect(unreachablePolicy(undefined)).toEqual({ runs: 3, periodMs: 6 * H, marginMs: 7 * D });
    expect(unreachablePolicy({ runs: 5 })).toEqual({ runs: 5, periodMs: 6 * H, marginMs: 7 * D });
  });

  it('caListIds: order kept; an empty element, a CA twice and more than 8 refused', () => {
    expect(caListIds('letsencrypt, zerossl')).toEqual(['letsencrypt', 'zerossl']);
    expect(caListIds(undefined)).toEqual([]);
    expect(() => caListIds('letsencrypt,,zerossl')).toThrow(/has an empty element/);
    expect(() => caListIds('')).toThrow(/has an empty element/);
    expect(() => caListIds('a,b,a')).toThrow(/names the CA a twice/);
    expect(() => caListIds(Array.from({ length: MAX_CA_LIST + 1 }, (_, i) => `c${i}`).join(','))).toThrow(/holds at most 8/);
  });

  it('config defaults.caUnreachable: parsed, and a bad value is one problem with file:line', async () => {
    const c = await parseConfig('defaults:\n  caUnreachable:\n    runs: 4\n    period: 12h\n    margin: 10d\n', '/tmp/c.yaml');
    expect(c.defaults.caUnreachable).toEqual({ runs: 4, periodMs: 12 * H, marginMs: 10 * D });
    await expect(parseConfig('defaults:\n  caUnreachable:\n    runs: 0\n    period: soon\n    often: 1\n', '/tmp/c.yaml')).rejects.toThrow(
      /c\.yaml:3: defaults\.caUnreachable\.runs: expected a whole number from 1 to 100[\s\S]*c\.yaml:4: defaults\.caUnreachable\.period: expected a duration[\s\S]*c\.yaml:5: defaults\.caUnreachable\.often: unknown field/,
    );
  });
});
