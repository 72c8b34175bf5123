/**
 * Lost answers after the CA acted (issue #12, seed 001): for every
 * state-changing request — newAccount, newOrder, challenge, finalize,
 * certificate download — certctl's ACME test proxy lets Pebble act and then
 * loses the answer (connection cut; never answered, so the client times out;
 * 500 instead of the answer), once or on every attempt. After that `issue`,
 * the user's next commands (`issue` again with the same arguments, then
 * `renew`) must end with:
 *  - exactly one certificate issued by the CA for the lineage (finalizes the CA
 *    accepted, counted at the proxy — not in the ledger),
 *  - at most one extra order created at the CA,
 *  - a consistent live/ (the private key belongs to the certificate) and the
 *    ledger's current version = the files.
 * The matrix (fault × step → certificates issued, orders created, exit codes)
 * is printed at the end of the file's run.
 *
 * One Pebble; the cases run side by side on LANES proxies in front of it
 * (faults and counts are per proxy, and each proxy serves one case at a time).
 */
import { describe, it, beforeAll, afterAll, type ExpectStatic } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { startPebble, type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy, type EndpointName, type LostAnswerMode } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';

const LANES = 3;
let pebble: Pebble;
const proxies: AcmeTestProxy[] = [];
const free: AcmeTestProxy[] = [];
const waiting: ((p: AcmeTestProxy) => void)[] = [];
beforeAll(async () => {
  // No random nonce rejections: the counts below are then the CA's own doing and the faults'.
  pebble = await startPebble({ nonceReject: 0 });
  for (let i = 0; i < LANES; i++) proxies.push(await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle }));
  free.push(...proxies);
});

/** Run `fn` with a proxy of its own (waits for a free lane). */
async function withLane<T>(fn: (proxy: AcmeTestProxy) => Promise<T>): Promise<T> {
  const proxy = free.pop() ?? (await new Promise<AcmeTestProxy>((resolve) => waiting.push(resolve)));
  try {
    return await fn(proxy);
  } finally {
    const next = waiting.shift();
    if (next) next(proxy);
    else free.push(proxy);
  }
}

interface MatrixRow {
  order: number;
  fault: string;
  step: string;
  issued: number;
  orders: number;
  codes: string;
}
const matrix: MatrixRow[] = [];

afterAll(async () => {
  for (const p of proxies) await p.stop();
  await pebble?.stop();
  if (matrix.length) {
    matrix.sort((a, b) => a.order - b.order);
    const lines = [
      '| fault | step | certificates issued | orders created | exit codes (issue → next → renew) |',
      '|---|---|---|---|---|',
      ...matrix.map((r) => `| ${r.fault} | ${r.step} | ${r.issued} | ${r.orders} | ${r.codes} |`),
    ];
    console.log(`\nLost answers after the CA acted:\n${lines.join('\n')}\n`);
  }
});

/** Short ACME time-out so a never-answered request costs 1 s per attempt (documented env, README). */
const ENV = { CERTCTL_ACME_TIMEOUT: '1' };

function issueArgs(proxy: AcmeTestProxy, state: string, name: string): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), '-d', name];
}
function renewArgs(state: string): string[] {
  return ['--state-dir', state, 'renew', '--no-random-sleep', '--json', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)];
}

/** live/ holds a certificate for `name` whose public key is the private key's; the ledger's version is the files'. */
function assertConsistent(expect: ExpectStatic, state: string, name: string): void {
  const live = path.join(state, 'live', name);
  const cert = new X509Certificate(fs.readFileSync(path.join(live, 'cert.pem')));
  expect(cert.subjectAltName).toContain(`DNS:${name}`);
  const certKey = cert.publicKey.export({ type: 'spki', format: 'der' });
  const privKey = createPublicKey(fs.readFileSync(path.join(live, 'privkey.pem'), 'utf8')).export({ type: 'spki', format: 'der' });
  expect(Buffer.compare(certKey, privKey)).toBe(0);
  const lineage = q<{ current_version: number }>(state, `SELECT current_version FROM lineages WHERE name = '${name}'`)[0]!;
  expect(fs.readlinkSync(path.join(live, 'cert.pem'))).toBe(path.join('..', '..', 'archive', name, `cert${lineage.current_version}.pem`));
  const rows = q<{ serial: string; version: number }>(state, `SELECT serial, version FROM certificates WHERE lineage = '${name}'`);
  expect(rows).toHaveLength(1);
  expect(rows[0]!.version).toBe(lineage.current_version);
  expect(BigInt(`0x${rows[0]!.serial}`)).toBe(BigInt(`0x${cert.serialNumber}`));
  expect(q(state, "SELECT id FROM orders WHERE state = 'open'")).toHaveLength(0);
  expect(fs.readdirSync(path.join(state, 'pending')).filter((f) => f.endsWith('.key'))).toEqual([]);
}

const STEPS: EndpointName[] = ['newAccount', 'newOrder', 'challenge', 'finalize', 'certificate'];
const MODES: LostAnswerMode[] = ['cut', 'hold', '500'];
/** The transport tries a request 4 times (1 + 3 retries): 4 lost answers lose every attempt of one request. */
const EVERY_ATTEMPT = 4;

/** `next`: the command run after the faulty issue — `issue` again (a user), or `renew` (cron). */
const cases: { step: EndpointName; mode: LostAnswerMode; times: number; next: 'issue' | 'renew' }[] = [];
for (const step of STEPS) for (const mode of MODES) cases.push({ step, mode, times: 1, next: 'issue' });
// Every attempt of one request lost (the transport's retries cannot help; the order is read again, or
// left journalled for the next run). Each costs the full retry schedule, so one fault per step, all
// three for finalize (seed 001).
const everyAttempt: [EndpointName, LostAnswerMode][] = [
  ['newAccount', 'cut'],
  ['newOrder', 'cut'],
  ['newOrder', '500'],
  ['challenge', '500'],
  ['finalize', 'cut'],
  ['finalize', 'hold'],
  ['finalize', '500'],
  ['certificate', 'cut'],
];
for (const [step, mode] of everyAttempt) cases.push({ step, mode, times: EVERY_ATTEMPT, next: 'issue' });
// The run fails (exit 8) with its order journalled, and cron's renew is the next command, not the
// user's issue. (A failed newAccount leaves no order and no lineage: there is nothing for renew to
// finish, and the user's next issue is the case above.)
cases.push({ step: 'newOrder', mode: '500', times: EVERY_ATTEMPT, next: 'renew' });

describe('a lost answer after the CA acted, then issue again (or renew) and renew: one certificate', () => {
  cases.forEach(({ step, mode, times, next }, order) => {
    const label = `${mode === '500' ? '500 after acting' : mode === 'cut' ? 'connection cut' : 'never answered'}${times > 1 ? ' (every attempt)' : ''}${next === 'renew' ? ', then renew' : ''}`;
    it.concurrent(`${step}: ${label}`, async ({ expect }) => withLane(async (proxy) => {
      const state = tempDir();
      const name = `lost-${step.toLowerCase()}-${mode}-${times}-${next}.example.test`;
      proxy.clearFaults();
      proxy.resetObservations();
      proxy.loseAnswer(step, mode, times);

      const first = await runCli(issueArgs(proxy, state, name), ENV);
      const lostSeen = proxy.requests.filter((r) => r.lost).length;
      proxy.clearFaults();
      // The fault really hit a request the CA acted on (it is not a test of nothing).
      expect(lostSeen).toBe(times);
      expect(proxy.requests.find((r) => r.lost)!.lost!.upstreamStatus).toBeGreaterThan(0);
      // A lost answer is never a refusal: exit 0 (recovered in the run) or 8 (left for the next run).
      expect([0, 8], first.stderr).toContain(first.code);
      if (first.code !== 0) expect(first.stderr).not.toMatch(/internal error/);
      // Seed 001: the re-sent finalize meets "orderNotReady: status valid"; certctl reads the order and goes on.
      if (step === 'finalize') expect(first.stdout + first.stderr).toMatch(/The CA's answer to finalize of order \d+ was lost .*the order is (valid|processing) at the CA: continuing from there/);

      const again = await runCli(next === 'issue' ? issueArgs(proxy, state, name) : renewArgs(state), ENV);
      if (next === 'issue') {
        // Recovered by the first run → already held (3); otherwise this run finishes the order (0).
        expect(again.code, again.stderr).toBe(first.code === 0 ? 3 : 0);
      } else {
        expect(first.code).toBe(8);
        expect(again.code, again.stderr).toBe(0);
        expect(JSON.parse(again.stdout).lineages[0].action, again.stdout).toMatch(/^(recovered|renewed|issued)$/);
      }

      const renew = await runCli(renewArgs(state), ENV);
      expect(renew.code, renew.stderr).toBe(0);
      expect(JSON.parse(renew.stdout).lineages[0]).toMatchObject({ lineage: name, action: 'kept' });

      const created = proxy.orders.filter((o) => o.caStatus === 201).length;
      matrix.push({ order, fault: label, step, issued: proxy.issued, orders: created, codes: `${first.code} → ${again.code} → ${renew.code}` });
      // Counted at the CA's door: one certificate, at most one extra order.
      expect(proxy.issued).toBe(1);
      expect(created).toBeGreaterThanOrEqual(1);
      expect(created).toBeLessThanOrEqual(2);
      // The ledger counts every order the CA created, also one whose newOrder answer was lost (journalled
      // as a 'possible' order): the planner's new-orders and pending-orders counts are never low.
      const counted = q<{ n: number }>(state, "SELECT COUNT(*) AS n FROM orders WHERE NOT (state = 'failed' AND order_url IS NULL)")[0]!.n;
      // Never fewer than the CA created; more by at most one per lost answer (a replayed request the CA
      // refused cannot be told from one it acted on when its answer is lost: counted, to be safe).
      expect(counted, 'orders the planner counts vs orders the CA created').toBeGreaterThanOrEqual(created);
      expect(counted - created).toBeLessThanOrEqual(lostSeen);
      assertConsistent(expect, state, name);
      // One account at the CA for this state dir, kept in one ledger row.
      expect(q(state, 'SELECT id FROM accounts')).toHaveLength(1);
    }));
  });
});
