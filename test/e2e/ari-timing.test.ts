/**
 * ARI timing end to end (issue 17, RFC 9773 §4.2, acme.sh#7024): the CA's suggested window is
 * shorter than the cron interval. certctl picks its moment in the whole window and, because cron
 * will not start it again before the window closes, renews at the first run before (or inside)
 * the window instead of missing it. The window is served by certctl's ACME test proxy in front of
 * Pebble; requests are counted there.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { ariCertId } from '../../src/core/acme/ari.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => ({ pebble, proxy } = await startOneCa()));
afterAll(() => stopOneCa({ pebble, proxy }));

const accepted = (endpoint: string) => proxy.requests.filter((x) => x.endpoint === endpoint && x.status >= 200 && x.status < 300).length;
const issueArgs = (state: string, name: string) => ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name];
const renewArgs = (state: string, extra: string[]) => ['--state-dir', state, '--json', 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort), ...extra];

describe('a narrow ARI window between two cron runs', () => {
  it('renewed at the first run before the window (cron next runs ~11 h later); a run every minute waits for the moment', async () => {
    const state = tempDir();
    const name = 'narrow.ari.test';
    expect((await runCli(issueArgs(state, name))).code).toBe(0);
    const first = ariCertId(fs.readFileSync(path.join(state, 'live', name, 'cert.pem'), 'utf8'));
    // The CA's window: 10 minutes, opening in 3 minutes (Let's Encrypt's is about ±1 % of the lifetime).
    const start = Date.now() + 3 * MIN;
    const end = start + 10 * MIN;
    proxy.setRenewalWindow((id) => (id === first ? { start: new Date(start), end: new Date(end) } : { start: new Date(Date.now() + 400 * 24 * HOUR), end: new Date(Date.now() + 402 * 24 * HOUR) }));
    try {
      // A schedule that runs again within a minute: the chosen moment (inside the window) is waited for.
      const everyMinute = path.join(tempDir(), 'every-minute');
      fs.writeFileSync(everyMinute, '* * * * * root certctl renew --quiet\n');
      proxy.resetObservations();
      const waiting = await runCli(renewArgs(state, ['--schedule-file', everyMinute]));
      expect(waiting.stderr).toBe('');
      expect(waiting.code).toBe(0);
      const kept = JSON.parse(waiting.stdout).lineages[0];
      expect(kept.action).toBe('kept');
      const chosen = Date.parse(kept.ari.chosenAt);
      expect(chosen).toBeGreaterThanOrEqual(start);
      expect(chosen).toBeLessThan(end);
      expect(accepted('newOrder')).toBe(0);

      // The twice-daily schedule `certctl cron install --file` keeps (its time an hour ago: next run in about 11 h).
      const file = path.join(tempDir(), 'certctl');
      const ago = new Date(Date.now() - HOUR);
      fs.writeFileSync(file, `${ago.getMinutes()} ${ago.getHours()},${(ago.getHours() + 12) % 24} * * * root certctl renew --quiet\n`);
      const inst = await runCli(['--state-dir', state, 'cron', 'install', '--file', file]);
      expect(inst.code).toBe(0);
      expect(inst.stdout).toContain('(kept its time)');
      const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => /^\d/.test(l))!;
      expect(line).toContain(`--schedule-file ${file}`);

      proxy.resetObservations();
      const r = await runCli(renewArgs(state, ['--schedule-file', file]));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout).lineages[0];
      expect(out.action).toBe('renewed');
      expect(out.reason).toMatch(new RegExp(`before the next run \\([^)]*by the schedule in ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\): renewing now so the window is not missed`));
      // Counted at the CA: one order (carrying replaces: the certificate it replaces), one certificate.
      expect(accepted('newOrder')).toBe(1);
      expect(proxy.orders[0]!.payload).toMatchObject({ replaces: first });
      expect(proxy.issued).toBe(1);
      expect(q(state, 'SELECT version FROM certificates ORDER BY version')).toEqual([{ version: 1 }, { version: 2 }]);

      // The next run: the new certificate's window is far off; nothing is ordered.
      proxy.resetObservations();
      const after = await runCli(renewArgs(state, ['--schedule-file', file]));
      expect(JSON.parse(after.stdout).lineages[0].action).toBe('kept');
      expect(accepted('newOrder')).toBe(0);
    } finally {
      proxy.setRenewalWindow(null);
    }
  });
});
