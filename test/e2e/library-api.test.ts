/**
 * certctl as a library, used ONLY through its package entry point
 * (`import … from 'certctl'`: Node's self-reference through package.json
 * "exports", i.e. the BUILT dist/index.js, not src/) against a real Pebble.
 * Every request goes through certctl's ACME test proxy, so "nothing sent"
 * and "one certificate" are counted at the server, not in the ledger.
 */
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openLedger, plan, issue, renew, CertctlError, InputError, ExitCode, type Sink } from 'certctl';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { startAcmeTestProxy, type AcmeTestProxy } from '../../testkit/acme-proxy.js';
import { tempDir, q } from '../helpers/cli.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let pebble: Pebble;
let proxy: AcmeTestProxy;
beforeAll(async () => {
  pebble = await startPebble();
  proxy = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ari: false });
});
afterAll(async () => {
  await proxy?.stop();
  await pebble?.stop();
});
beforeEach(() => proxy.resetObservations());

const accepted = (endpoint: string) => proxy.requests.filter((x) => x.endpoint === endpoint && x.status >= 200 && x.status < 300).length;

describe("certctl as a library (import from 'certctl')", () => {
  it("resolves to the built package (dist/), not the sources", async () => {
    const dist = await import(pathToFileURL(path.join(ROOT, 'dist', 'core', 'errors.js')).href);
    expect(dist.CertctlError).toBe(CertctlError);
    expect(fs.existsSync(path.join(ROOT, 'dist', 'index.d.ts'))).toBe(true);
  });

  it('openLedger → plan (allowed, nothing sent) → issue (files, key matches) → plan (duplicate) → issue (held) → renew (nothing due, nothing sent)', async () => {
    const state = tempDir();
    const handle = openLedger(path.join(state, 'ledger.sqlite'));
    const lines: string[] = [];
    const sink: Sink = { info: (l) => lines.push(l), attention: (l) => lines.push(l), verbose: () => {} };
    const opts = { stateDir: state, ledger: handle, sink };
    const customer = { domains: ['shop.customer1.example.test', 'www.shop.customer1.example.test'], server: proxy.directoryUrl };
    try {
      const first = await plan(customer, opts);
      expect(first.verdict).toBe('allowed');
      expect(first.held).toEqual([]);
      expect(proxy.total()).toBe(0);

      const req = { ...customer, webroot: pebble.webroot, caBundle: pebble.caBundle, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, email: 'ops@customer1.example.test' };
      const out = await issue(req, opts);
      expect(out.result).toBe('issued');
      if (out.result === 'held') throw new Error('unreachable');
      expect(out.lineage).toBe('shop.customer1.example.test');
      expect(out.version).toBe(1);
      expect(proxy.issued).toBe(1);
      expect(lines.length).toBeGreaterThan(0); // the sink got the progress lines
      const live = path.join(state, 'live', out.lineage);
      for (const f of ['cert', 'chain', 'fullchain', 'privkey']) expect(fs.existsSync(path.join(live, `${f}.pem`))).toBe(true);
      expect(fs.statSync(path.join(state, 'archive', out.lineage, 'privkey1.pem')).mode & 0o777).toBe(0o600);
      const pubCert = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-pubkey'], { encoding: 'utf8' });
      const pubKey = execFileSync('openssl', ['pkey', '-in', path.join(live, 'privkey.pem'), '-pubout'], { encoding: 'utf8' });
      expect(pubKey).toBe(pubCert);
      const serial = execFileSync('openssl', ['x509', '-in', path.join(live, 'cert.pem'), '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1]!.toLowerCase();
      expect(out.certificates[0]!.serial.replace(/^0+/, '')).toBe(serial.replace(/^0+/, ''));
      expect(q(state, 'SELECT lineage, version FROM certificates')).toEqual([{ lineage: out.lineage, version: 1 }]);

      // The same set again: the planner sees it held (a duplicate), issue keeps it; nothing is sent.
      proxy.resetObservations();
      const again = await plan(customer, opts);
      expect(again.verdict).toBe('duplicate');
      expect(again.held.length).toBe(1);
      const held = await issue(req, opts);
      expect(held).toMatchObject({ result: 'held', lineage: out.lineage });
      expect(proxy.total()).toBe(0);

      // renew from the service: nothing is due. The first run after issue may read the directory
      // once (is renewalInfo offered? cached a day); nothing else, and the next run sends nothing.
      const r1 = await renew({ resolver: pebble.dns.resolver, httpPort: pebble.httpPort }, opts);
      expect(r1.exitCode).toBe(ExitCode.OK);
      expect(r1.outcomes.map((o) => [o.lineage, o.action])).toEqual([[out.lineage, 'kept']]);
      expect(proxy.requests.filter((x) => x.endpoint !== 'directory')).toEqual([]);
      proxy.resetObservations();
      const r2 = await renew({}, opts);
      expect(r2.outcomes.map((o) => o.action)).toEqual(['kept']);
      expect(proxy.total()).toBe(0);
      expect(accepted('finalize')).toBe(0);
    } finally {
      handle.close();
    }
    // A closed handle is refused, not reopened behind the caller's back.
    await expect(plan(customer, { stateDir: state, ledger: handle })).rejects.toThrow(/closed/);
  });

  it('two issue() calls for the same set at once in one process: one certificate, the other call finds it held', async () => {
    const state = tempDir();
    const req = { domains: ['twice.example.test'], server: proxy.directoryUrl, webroot: pebble.webroot, caBundle: pebble.caBundle, resolver: pebble.dns.resolver, httpPort: pebble.httpPort };
    const results = await Promise.all([issue(req, { stateDir: state }), issue(req, { stateDir: state })]);
    expect(results.map((r) => r.result).sort()).toEqual(['held', 'issued']);
    expect(proxy.issued).toBe(1);
    expect(accepted('newOrder')).toBe(1);
  });

  it('a CA list: plan, issue and renew take it and return the CA chosen and why (counted at each CA)', async () => {
    const state = tempDir();
    // Two CAs: two test proxies (two directory URLs) in front of the Pebble; ca-a allows one certificate per set per 2000 days (Pebble's certificates here live 5 years).
    const second = await startAcmeTestProxy({ upstream: pebble.directoryUrl, caBundle: pebble.caBundle, ari: false });
    try {
      const configFile = path.join(state, 'config.json');
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          cas: {
            'ca-a': { directory: proxy.directoryUrl, caBundle: pebble.caBundle, caa: ['ca-a.test'], policy: { 'duplicate-certificates': { kind: 'window', count: 1, window: '2000d' } } },
            'ca-b': { directory: second.directoryUrl, caBundle: pebble.caBundle, caa: ['ca-b.test'] },
          },
        }),
      );
      const opts = { stateDir: state, configFile };
      const req = { domains: ['list.example.test'], ca: ['ca-a', 'ca-b'], webroot: pebble.webroot, resolver: pebble.dns.resolver, httpPort: pebble.httpPort, precheck: false };
      const before = await plan(req, opts);
      expect(before.caChoice).toMatchObject({ chosen: 'ca-a', first: 'ca-a', failedOver: false });
      expect(before.caChoice!.verdicts.map((x) => [x.caId, x.verdict])).toEqual([
        ['ca-a', 'last-slot'],
        ['ca-b', 'allowed'],
      ]);
      const first = await issue(req, opts);
      expect(first.result).toBe('issued');
      if (first.result !== 'issued') return;
      expect(first.caChoice).toMatchObject({ ca: 'ca-a', first: 'ca-a', failedOver: false });
      expect(proxy.issued).toBe(1);
      expect(second.total()).toBe(0);

      // ca-a's set is spent for 2000 days, past the expiry: plan says ca-b, issue goes there (nothing sent to ca-a).
      proxy.resetObservations();
      const forced = { ...req, ca: 'ca-a,ca-b', forceRenewal: true };
      const p2 = await plan(forced, opts);
      expect(p2.caChoice).toMatchObject({ chosen: 'ca-b', failedOver: true });
      expect(p2.caChoice!.reason).toMatch(/^ca-a would refuse until .*; ca-b allows it now$/);
      expect(p2.verdict).toBe('allowed');
      const again = await issue(forced, opts);
      expect(again.result).toBe('issued');
      if (again.result !== 'issued') return;
      expect(again.caChoice).toMatchObject({ ca: 'ca-b', first: 'ca-a', failedOver: true });
      expect(proxy.total()).toBe(0);
      expect(second.issued).toBe(1);

      // renew({ ca }) for this run: forced, at ca-b again; the outcome says which CA and why, with every CA's verdict.
      second.resetObservations();
      const r = await renew({ ca: ['ca-a', 'ca-b'], forceRenewal: true, precheck: false, resolver: pebble.dns.resolver, httpPort: pebble.httpPort }, opts);
      expect(r.exitCode).toBe(0);
      expect(r.outcomes[0]).toMatchObject({ action: 'renewed', ca: { ca: 'ca-b', first: 'ca-a', failedOver: true } });
      expect(r.outcomes[0]!.ca!.verdicts!.map((x) => x.caId)).toEqual(['ca-a', 'ca-b']);
      expect(proxy.requests.filter((x) => x.method === 'POST')).toEqual([]);
      expect(second.issued).toBe(1);
      // A bad list is an InputError before anything is sent.
      await expect(plan({ ...req, ca: ['ca-a', ''] }, opts)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/empty element/) });
      await expect(renew({ ca: ['ca-a', 'nope'] }, opts)).rejects.toMatchObject({ exitCode: 2, message: 'Unknown CA "nope".' });
    } finally {
      await second.stop();
    }
  });

  it('a bad request is an InputError with exit code 2, before anything is written or sent', async () => {
    const state = tempDir();
    const base = { server: proxy.directoryUrl, webroot: pebble.webroot, caBundle: pebble.caBundle, resolver: pebble.dns.resolver, httpPort: pebble.httpPort };
    const bad = [
      { ...base, domains: ['bad..name.example.test'] },
      { ...base, domains: [] },
      { ...base, domains: ['ok.example.test'], standalone: '127.0.0.1:5002' },
      { ...base, domains: ['ok.example.test'], email: 'not an address' },
      { ...base, domains: ['ok.example.test'], keyType: 'rsa:123' },
      { ...base, domains: ['ok.example.test'], webroot: state },
    ];
    for (const request of bad) {
      const err = await issue(request, { stateDir: state }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect(err).toBeInstanceOf(CertctlError);
      expect((err as CertctlError).exitCode).toBe(ExitCode.CONFIG);
      expect((err as Error).message).toMatch(/\S/);
    }
    await expect(plan({ domains: ['-x.example.test'] }, { stateDir: state })).rejects.toMatchObject({ exitCode: 2 });
    expect(proxy.total()).toBe(0);
    // Not even the ledger was created: every check ran before it is opened.
    expect(fs.readdirSync(state)).toEqual([]);
    // A damaged ledger is a StateError (exit 10) and is left as it was.
    const damaged = path.join(state, 'damaged.sqlite');
    fs.writeFileSync(damaged, 'not a database at all, but some bytes');
    expect(() => openLedger(damaged)).toThrow(expect.objectContaining({ exitCode: ExitCode.STATE }));
    expect(fs.readFileSync(damaged, 'utf8')).toBe('not a database at all, but some bytes');
  });

  it('the .d.ts types a program using certctl: a correct file type-checks, a wrong one does not', () => {
    const dir = tempDir('certctl-types-');
    // The program's own package, with certctl installed (a link to this checkout, as npm would).
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'certctl'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'integrator', type: 'module', private: true }));
    const tsconfig = {
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules', '@types')] },
      files: ['good.ts'],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    fs.writeFileSync(
      path.join(dir, 'good.ts'),
      [
        "import { openLedger, plan, issue, renew, CertctlError, ExitCode, type Decision, type IssueOutcome, type RenewReport, type IssueRequest } from 'certctl';",
        "const ledger = openLedger('/tmp/x/ledger.sqlite');",
        "const req: IssueRequest = { domains: ['a.example.com'], webroot: '/var/www/html', email: 'ops@example.com' };",
        'export async function f(): Promise<void> {',
        "  const d: Decision = await plan(req, { stateDir: '/tmp/x', ledger, now: () => Date.now() });",
        "  if (d.verdict === 'blocked') return;",
        '  try {',
        '    const o: IssueOutcome = await issue(req, { stateDir: "/tmp/x", ledger });',
        "    if (o.result === 'issued' || o.result === 'recovered') console.log(o.version, o.files.length, o.certificates[0]?.notAfter);",
        '  } catch (e) {',
        '    if (e instanceof CertctlError && e.exitCode === ExitCode.BLOCKED) console.log(e.hint);',
        '  }',
        '  const r: RenewReport = await renew({ concurrency: 2 }, { ledger });',
        "  for (const x of r.outcomes) if (x.action === 'renewed') console.log(x.lineage);",
        '  ledger.close();',
        '}',
        '',
      ].join('\n'),
    );
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const good = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    expect(good.stdout + good.stderr).toBe('');
    expect(good.status).toBe(0);
    // Wrong types are caught: the declarations are real, not `any`.
    fs.writeFileSync(path.join(dir, 'good.ts'), "import { issue } from 'certctl';\nexport const p = issue({ domains: 'a.example.com', webroot: 7 });\n");
    const bad = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/good\.ts\(2,/);
  });
});
