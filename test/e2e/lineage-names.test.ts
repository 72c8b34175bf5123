/**
 * Changing a lineage's names, explicitly (issue 15; seed 000: a user added
 * names to a certificate and silently spent the domain's slots), on Pebble:
 * `issue --cert-name NAME` with another set replaces NAME's names (same
 * lineage, version N+1) after saying what it spends; `plan --cert-name`
 * shows the same before anything is sent; names overlapping a lineage without
 * --cert-name are refused with one sentence and nothing sent (no quiet
 * NAME-0001); `--new-lineage` makes the second lineage on purpose; `--expand`
 * refuses a set that drops a name; a change the CA refused keeps the old
 * names; a change killed after the CA issued is recovered, not ordered again.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { type Pebble, pebbleIssueFlags } from '../helpers/pebble.js';
import { type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { killedAt } from '../helpers/crash.js';
import { startOneCa, stopOneCa } from '../helpers/one-ca.js';

let pebble: Pebble;
let proxy: AcmeTestProxy;

beforeAll(async () => ({ pebble, proxy } = await startOneCa({ nonceReject: 0 })));
afterAll(() => stopOneCa({ pebble, proxy }));

const ENV = { CERTCTL_ACME_TIMEOUT: '2' };

function issueArgs(state: string, names: string[], ...extra: string[]): string[] {
  return ['--state-dir', state, 'issue', ...pebbleIssueFlags(pebble, proxy.directoryUrl), ...names.flatMap((n) => ['-d', n]), ...extra];
}
function planArgs(state: string, names: string[], ...extra: string[]): string[] {
  return ['--state-dir', state, 'plan', '--server', proxy.directoryUrl, ...names.flatMap((n) => ['-d', n]), ...extra];
}

function sans(file: string): string[] {
  const alt = new X509Certificate(fs.readFileSync(file)).subjectAltName ?? '';
  return alt.split(', ').map((s) => s.replace(/^DNS:/, '')).sort();
}

type LRow = { name: string; names_json: string; current_version: number };
function lineages(state: string): { name: string; names: string[]; version: number }[] {
  return q<LRow>(state, 'SELECT name, names_json, current_version FROM lineages ORDER BY name').map((r) => ({ name: r.name, names: JSON.parse(r.names_json), version: r.current_version }));
}

/** One sentence on stderr (and its hint), no stack, no "internal error". */
function oneSentence(stderr: string): void {
  expect(stderr).not.toMatch(/internal error|at .*\.js:\d+/);
  expect(stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}

async function issued(state: string, names: string[], ...extra: string[]) {
  const r = await runCli([...issueArgs(state, names, ...extra), '--json'], ENV);
  expect(r.code, r.stderr).toBe(0);
  return { doc: JSON.parse(r.stdout), stderr: r.stderr };
}

describe('changing a lineage’s names', () => {
  it('--cert-name with another set: plan shows the cost first (nothing sent), issue replaces the names in the same lineage, version 2', async () => {
    const state = tempDir();
    const a = 'names-a.example.test';
    const b = 'names-b.example.test';
    await issued(state, [a]);
    expect(lineages(state)).toEqual([{ name: a, names: [a], version: 1 }]);

    proxy.resetObservations();
    const plan = await runCli(planArgs(state, [a, b], '--cert-name', a), ENV);
    expect(plan.code, plan.stderr).toBe(0);
    const text = plan.stdout + plan.stderr;
    expect(text).toMatch(new RegExp(`Plan \\(change of ${a}\\)`));
    expect(text).toMatch(new RegExp(`Changing the names of ${a}: ${a} → ${a}, ${b} \\(adds ${b}\\)`));
    expect(text).toMatch(/not a renewal .*no renewal exemption/);
    expect(text).toMatch(/certificates-per-domain example\.test: spends 1 \(used 1\//);
    const pj = await runCli([...planArgs(state, [a, b], '--cert-name', a), '--json'], ENV);
    const p0 = JSON.parse(pj.stdout).plans[0];
    expect(p0).toMatchObject({ lineage: a, change: { lineage: a, from: [a], to: [a, b], added: [b], removed: [], renewal: false } });
    expect(p0.change.spends).toEqual(expect.arrayContaining([expect.objectContaining({ limit: 'certificates-per-domain', scope: 'example.test', used: 1, spend: 1, exempt: false })]));
    expect(proxy.total()).toBe(0);

    proxy.resetObservations();
    const r = await runCli(issueArgs(state, [a, b], '--cert-name', a), ENV);
    expect(r.code, r.stderr).toBe(0);
    // Said before anything was sent: the change and its cost come before the readiness checks and the order.
    const said = r.stdout.indexOf(`Changing the names of ${a}: ${a} → ${a}, ${b} (adds ${b}).`);
    expect(said).toBeGreaterThanOrEqual(0);
    expect(said).toBeLessThan(r.stdout.indexOf('Issued'));
    expect(r.stdout).toMatch(/no renewal exemption applies/);
    expect(r.stdout).toMatch(/certificates-per-domain example\.test: spends 1/);
    expect(r.stdout).toMatch(new RegExp(`Names of ${a} changed: ${a} → ${a}, ${b} \\(version 2`));
    expect(proxy.orders).toHaveLength(1);
    expect(proxy.orders[0]!.payload).toMatchObject({ identifiers: expect.arrayContaining([{ type: 'dns', value: b }]) });
    expect(lineages(state)).toEqual([{ name: a, names: [a, b], version: 2 }]);
    expect(sans(path.join(state, 'live', a, 'cert.pem'))).toEqual([a, b]);
    expect(fs.existsSync(path.join(state, 'live', `${a}-0001`))).toBe(false);

    // Held now under its new set: nothing more is ordered; removing a name is a change too (no --expand).
    proxy.resetObservations();
    const again = await runCli(issueArgs(state, [a, b], '--cert-name', a), ENV);
    expect(again.code).toBe(3);
    expect(proxy.orders).toHaveLength(0);
  });

  it('names overlapping a lineage without --cert-name: refused with one sentence naming it, nothing sent or written; plan says so', async () => {
    const state = tempDir();
    const a = 'ovl-a.example.test';
    const c = 'ovl-c.example.test';
    await issued(state, [a]);
    const before = lineages(state);
    proxy.resetObservations();
    const r = await runCli(issueArgs(state, [a, c]), ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`overlap the lineage ${a} \\(${a}; shared: ${a}\\).*nothing was sent`));
    expect(r.stderr).toMatch(new RegExp(`--cert-name ${a}.*--new-lineage`));
    oneSentence(r.stderr);
    expect(proxy.total()).toBe(0);
    expect(lineages(state)).toEqual(before);
    expect(fs.readdirSync(path.join(state, 'live')).sort()).toEqual([a]);

    const plan = await runCli(planArgs(state, [a, c]), ENV);
    expect(plan.stdout + plan.stderr).toMatch(new RegExp(`certctl issue refuses this as asked: These names overlap the lineage ${a}`));

    // Hostile or incomplete asks: one sentence, exit 2, nothing sent or written.
    for (const args of [planArgs(state, [c], '--cert-name', '../etc'), ['--state-dir', state, 'plan', '--cert-name', a], issueArgs(state, [c], '--cert-name', 'a/../../x'), issueArgs(state, [c], '--expand', '--new-lineage')]) {
      const bad = await runCli(args, ENV);
      expect(bad.code, args.join(' ')).toBe(2);
      oneSentence(bad.stderr);
    }
    expect(proxy.total()).toBe(0);
    expect(lineages(state)).toEqual(before);
    expect(fs.readdirSync(path.join(state, 'live')).sort()).toEqual([a]);

    // --help says how, with an example.
    const help = await runCli(['issue', '--help']);
    expect(help.stdout).toMatch(/--new-lineage/);
    expect(help.stdout).toMatch(/certctl issue --cert-name example\.com -d example\.com/);
    expect((await runCli(['plan', '--help'])).stdout).toMatch(/certctl plan --cert-name example\.com -d/);
  });

  it('--new-lineage: a second lineage on purpose, the first one untouched', async () => {
    const state = tempDir();
    const a = 'newl-a.example.test';
    const c = 'newl-c.example.test';
    await issued(state, [a]);
    const r = await issued(state, [a, c], '--new-lineage');
    expect(r.doc).toMatchObject({ result: 'issued', lineage: `${a}-0001`, version: 1, change: null });
    expect(lineages(state)).toEqual([
      { name: a, names: [a], version: 1 },
      { name: `${a}-0001`, names: [a, c], version: 1 },
    ]);
    expect(sans(path.join(state, 'live', `${a}-0001`, 'cert.pem'))).toEqual([a, c]);
    expect(sans(path.join(state, 'live', a, 'cert.pem'))).toEqual([a]);
    // Named: --new-lineage --cert-name NEW. A name already taken, or the exact set held, is refused.
    proxy.resetObservations();
    const taken = await runCli(issueArgs(state, [c], '--new-lineage', '--cert-name', a), ENV);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(new RegExp(`--new-lineage makes a new lineage, but ${a} already exists`));
    const dup = await runCli(issueArgs(state, [a], '--new-lineage'), ENV);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(new RegExp(`The lineage ${a} already holds exactly ${a} at this CA: a second lineage would order a duplicate`));
    oneSentence(dup.stderr);
    expect(proxy.total()).toBe(0);
  });

  it('--expand: a set that leaves out a name is refused; one that contains the old set changes the only overlapping lineage', async () => {
    const state = tempDir();
    const a = 'exp-a.example.test';
    const b = 'exp-b.example.test';
    const d = 'exp-d.example.test';
    await issued(state, [a, b]);
    proxy.resetObservations();
    const subset = await runCli(issueArgs(state, [a], '--cert-name', a, '--expand'), ENV);
    expect(subset.code).toBe(2);
    expect(subset.stderr).toMatch(new RegExp(`--expand keeps every name of the lineage ${a}, but this request leaves out ${b}\\.`));
    oneSentence(subset.stderr);
    const other = await runCli(issueArgs(state, [a, d], '--expand'), ENV);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(new RegExp(`leaves out ${b}`));
    const planned = await runCli(planArgs(state, [a], '--cert-name', a, '--expand'), ENV);
    expect(planned.code).toBe(2);
    expect(proxy.total()).toBe(0);
    expect(lineages(state)).toEqual([{ name: a, names: [a, b], version: 1 }]);

    const r = await issued(state, [a, b, d], '--expand');
    expect(r.doc).toMatchObject({ schema: 'certctl.issue/1', result: 'issued', lineage: a, version: 2, change: { lineage: a, from: [a, b], to: [a, b, d], added: [d], removed: [], renewal: false } });
    expect(r.doc.change.spends).toEqual(expect.arrayContaining([expect.objectContaining({ limit: 'certificates-per-domain', scope: 'example.test', spend: 1 })]));
    expect(lineages(state)).toEqual([{ name: a, names: [a, b, d], version: 2 }]);
  });

  it('a change the CA refuses keeps the old names (renew keeps renewing what is held)', async () => {
    const state = tempDir();
    const a = 'refused-a.example.test';
    const b = 'refused-b.example.test';
    await issued(state, [a]);
    proxy.clearFaults();
    proxy.rateLimit('newOrder', { seconds: 3600, detail: 'too many certificates already issued for example.test', times: 5 });
    const r = await runCli(issueArgs(state, [a, b], '--cert-name', a), ENV);
    proxy.clearFaults();
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/Changing the names of/);
    expect(lineages(state)).toEqual([{ name: a, names: [a], version: 1 }]);
    expect(sans(path.join(state, 'live', a, 'cert.pem'))).toEqual([a]);
  });

  it('a change killed right after the CA issued: the same command recovers it, no second certificate', async () => {
    const state = tempDir();
    const a = 'killed-a.example.test';
    const b = 'killed-b.example.test';
    await issued(state, [a]);
    proxy.clearFaults();
    proxy.resetObservations();
    const k = await killedAt(proxy, 'finalize', 'after', issueArgs(state, [a, b], '--cert-name', a), ENV);
    expect(k.fired).toBe(true);
    expect(k.signal).toBe('SIGKILL');
    expect(proxy.issued).toBe(1);
    const r = await issued(state, [a, b], '--cert-name', a);
    expect(r.doc).toMatchObject({ result: 'recovered', lineage: a, version: 2 });
    expect(proxy.issued).toBe(1);
    expect(proxy.orders).toHaveLength(1);
    expect(lineages(state)).toEqual([{ name: a, names: [a, b], version: 2 }]);
    expect(sans(path.join(state, 'live', a, 'cert.pem'))).toEqual([a, b]);
  });
});
