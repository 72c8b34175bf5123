/**
 * What a sysadmin's tooling relies on, through the BUILT CLI (npm run build
 * first): config file errors (file, line, field) and exit codes, `apply`,
 * `--json` documents and their schemas, `--quiet` silence, NO_COLOR, the
 * Prometheus metrics file (parsed back), `cron print`, the daemon's SIGTERM,
 * and renew's progress on a terminal (through `script`'s pseudo-terminal)
 * but never in a pipe. No CA is needed: lineages are written to the ledger
 * directly, with certificates that are not due.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, runCli, tempDir } from '../helpers/cli.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { registeredDomains, setKey } from '../../src/core/names.js';

const ROOT = path.resolve(__dirname, '../..');
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
const NOW = Date.parse('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let dir: string;
let state: string;
/** The webroot: beside the state directory, not containing it (a webroot containing the state directory is refused). */
let www: string;
let serial = 100;

beforeAll(() => {
  for (const f of ['apply', 'cron', 'daemon', 'metrics']) {
    if (!fs.existsSync(path.join(ROOT, `dist/cli/commands/${f}.js`))) throw new Error(`dist/ is missing ${f}.js: run \`npm run build\` before the CLI tests`);
  }
});
beforeEach(() => {
  dir = tempDir('certctl-ops-');
  state = path.join(dir, 'state');
  www = path.join(dir, 'www');
  fs.mkdirSync(www);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Lineages with a certificate issued `ageDays` ago, valid 90 days: not due for 50+ days. */
function seed(lineages: { name: string; names: string[]; ageDays?: number }[], extra?: (l: Ledger) => void): void {
  const l = Ledger.open(path.join(state, 'ledger.sqlite'));
  try {
    for (const x of lineages) {
      const issued = NOW - (x.ageDays ?? 10) * DAY;
      l.saveLineage({ name: x.name, names: x.names, set_key: setKey(x.names), ca_id: 'letsencrypt', directory_url: LE_DIR, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: dir, standalone_addr: null, settings: {}, now: issued });
      l.insertCertificate({
        lineage: x.name, version: 1, order_id: null, bundle_id: null, role: 'main', source: 'certctl', ca_id: 'letsencrypt', directory_url: LE_DIR,
        issuer: 'CN=Test CA', serial: (serial++).toString(16), names: x.names, set_key: setKey(x.names), key_type: 'ecdsa:p256',
        not_before: issued - HOUR, not_after: issued - HOUR + 90 * DAY, issued_at: issued, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null,
        registered_domains: registeredDomains(x.names), now: issued,
      });
      l.setLineageVersion(x.name, 1, issued);
    }
    extra?.(l);
  } finally {
    l.close();
  }
}

const env = { CERTCTL_TEST_NOW: String(NOW), TZ: 'UTC', XDG_CONFIG_HOME: '/nonexistent' };
const cli = (args: string[], more: Record<string, string | undefined> = {}) => runCli(['--state-dir', state, ...args], { ...env, ...more });
const writeConfig = (text: string, name = 'config.yaml') => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

/** Run a command line under a pseudo-terminal (util-linux `script`); returns everything the terminal showed. */
function onTty(args: string[], more: Record<string, string> = {}): { code: number | null; out: string } {
  const cmd = [process.execPath, BIN, '--state-dir', state, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, ...env, ...more }, timeout: 30_000 });
  return { code: r.status, out: r.stdout };
}

describe('config file errors', () => {
  it('name the file, line and field; exit 2; nothing else happens', async () => {
    const f = writeConfig('defaults:\n  email: ops@example.com\ncertificates:\n  - domains: [a.example.com]\n    webroot: /srv\n  - domains: b.example.com\n');
    for (const cmd of [['apply'], ['renew', '--no-random-sleep'], ['issue', '-d', 'x.example.com', '--webroot', www], ['metrics'], ['daemon']]) {
      const r = await cli(['--config', f, ...cmd]);
      expect(r.code, cmd.join(' ')).toBe(2);
      expect(r.stderr).toContain(`${f}:6: certificates[1].domains: expected a list of names`);
    }
    const j = await cli(['--json', '--config', f, 'apply']);
    expect(j.code).toBe(2);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.error/1', error: { kind: 'InputError', exitCode: 2 } });
    expect(doc.error.message).toContain(':6: certificates[1].domains');
    expect(fs.existsSync(path.join(state, 'ledger.sqlite'))).toBe(false);
  });

  it('a --config that does not exist is exit 2; apply without any config file is exit 2', async () => {
    const r = await cli(['--config', path.join(dir, 'nope.yaml'), 'renew']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.yaml does not exist/);
    const a = await cli(['apply']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/No config file/);
  });

  it('defaults apply to issue when the flag is not given (a held set answers exit 3 without any CA)', async () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'] }]);
    const f = writeConfig(`defaults:\n  webroot: ${JSON.stringify(www)}\n`);
    // Without --webroot and without a config: refused. With the config's webroot: the held check answers.
    expect((await cli(['issue', '-d', 'a.example.com'])).code).toBe(2);
    const r = await cli(['--json', '--config', f, 'issue', '-d', 'a.example.com']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ schema: 'certctl.issue/1', result: 'held', lineage: 'a.example.com' });
    // A config key type is used when --key-type is not given: sm2 is refused by Let's Encrypt before anything else.
    const g = writeConfig(`defaults:\n  webroot: ${JSON.stringify(www)}\n  keyType: sm2\n`, 'sm2.yaml');
    const s = await cli(['--config', g, 'issue', '-d', 'a.example.com']);
    expect(s.code).toBe(2);
    expect(s.stderr).toMatch(/does not issue sm2/);
    // ...and the command line wins over it.
    expect((await cli(['--config', g, 'issue', '-d', 'a.example.com', '--key-type', 'ecdsa'])).code).toBe(3);
  });

  it('policy overrides from the config change the plan: a tighter per-domain limit blocks apply (exit 4)', async () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'], ageDays: 1 }]);
    const f = writeConfig(`policies:\n  letsencrypt:\n    certificates-per-domain: { capacity: 1, period: 7d }\ncertificates:\n  - domains: [b.example.com]\n    webroot: ${JSON.stringify(www)}\n`);
    const r = await cli(['--json', '--config', f, 'apply', '--dry-run']);
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout);
    expect(doc.certificates[0]).toMatchObject({ name: 'b.example.com', action: 'blocked', verdict: 'blocked', exitCode: 4 });
    expect(doc.certificates[0].allowedAt).toMatch(/^2026-03-0\dT/);
    const free = writeConfig(`certificates:\n  - domains: [b.example.com]\n    webroot: ${JSON.stringify(www)}\n`, 'free.yaml');
    expect((await cli(['--config', free, 'apply', '--dry-run'])).code).toBe(0);
  });
});

describe('apply', () => {
  it('held sets are left alone, missing ones planned; --dry-run sends nothing; undeclared lineages reported', async () => {
    seed([
      { name: 'a.example.com', names: ['a.example.com', 'www.a.example.com'] },
      { name: 'old.example.com', names: ['old.example.com'] },
    ]);
    const f = writeConfig(
      `defaults:\n  webroot: ${JSON.stringify(www)}\ncertificates:\n  - domains: [www.a.example.com, a.example.com]\n  - name: api\n    domains: [api.example.com]\n`,
    );
    const t = await cli(['--config', f, 'apply', '--dry-run']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^held\s+a\.example\.com \(www\.a\.example\.com, a\.example\.com\): held by lineage a\.example\.com, valid until 2026-05-21 09:00:00 UTC/m);
    expect(t.stdout).toMatch(/^would issue api \(api\.example\.com\): not held; plan says allowed/m);
    expect(t.stdout).toContain('Not in config.yaml (left alone): old.example.com');
    expect(t.stdout).toContain('2 declared: 1 held, 1 would be issued (dry run: nothing sent).');
    const j = await cli(['--json', '--config', f, 'apply', '--dry-run', '--concurrency', '2']);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.apply/1', dryRun: true, exitCode: 0, undeclared: ['old.example.com'] });
    expect(doc.certificates.map((c: { name: string; action: string; line: number }) => [c.name, c.action, c.line])).toEqual([
      ['a.example.com', 'held', 4],
      ['api', 'would-issue', 5],
    ]);
    // Nothing was written: no lineage "api".
    const l = Ledger.open(path.join(state, 'ledger.sqlite'));
    expect(l.lineage('api')).toBeUndefined();
    l.close();
  });

  it('a declared certificate with no challenge is reported with its line (exit 2), the others still planned', async () => {
    const f = writeConfig(`certificates:\n  - domains: [a.example.com]\n  - domains: [b.example.com]\n    webroot: ${JSON.stringify(www)}\n`);
    const r = await cli(['--json', '--config', f, 'apply', '--dry-run']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.certificates[0]).toMatchObject({ action: 'failed', exitCode: 2 });
    expect(doc.certificates[0].reason).toContain(`${f}:2: certificates[0]: no challenge`);
    expect(doc.certificates[1]).toMatchObject({ action: 'would-issue' });
  });
});

describe('--json on every command carries its schema', () => {
  it('status, renew, plan, limits, metrics, cron, apply, issue, error', async () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'] }]);
    const f = writeConfig(`certificates:\n  - domains: [a.example.com]\n    webroot: ${JSON.stringify(www)}\n`);
    const cases: [string[], string, number][] = [
      [['status'], 'certctl.status/1', 0],
      [['renew', '--days', '10', '--no-random-sleep'], 'certctl.renew/1', 0],
      [['plan', '-d', 'b.example.com'], 'certctl.plan/1', 0],
      [['limits'], 'certctl.limits/1', 0],
      [['metrics'], 'certctl.metrics/1', 0],
      [['cron', 'print'], 'certctl.cron/1', 0],
      [['--config', f, 'apply'], 'certctl.apply/1', 0],
      [['issue', '-d', 'a.example.com', '--webroot', www], 'certctl.issue/1', 3],
      [['issue', '-d', 'bad name'], 'certctl.error/1', 2],
    ];
    for (const [args, schema, code] of cases) {
      const r = await cli(['--json', ...args]);
      expect(r.code, args.join(' ')).toBe(code);
      const doc = JSON.parse(r.stdout);
      expect(doc.schema, args.join(' ')).toBe(schema);
      expect(r.stderr, args.join(' ')).toBe('');
    }
  });
});

describe('--quiet', () => {
  it('prints nothing when nothing needs attention', async () => {
    seed([
      { name: 'a.example.com', names: ['a.example.com'] },
      { name: 'b.example.com', names: ['b.example.com'] },
    ]);
    for (const args of [['renew', '--days', '10', '--no-random-sleep'], ['status'], ['limits'], ['metrics', '--textfile', dir]]) {
      const r = await cli(['--quiet', ...args]);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout + r.stderr, args.join(' ')).toBe('');
    }
    // Without --quiet the same renew says what it kept: the silence above is --quiet's doing.
    expect((await cli(['renew', '--days', '10', '--no-random-sleep'])).stdout).toMatch(/kept\s+a\.example\.com/);
  });

  it('still shows what needs attention (a blocked plan)', async () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'], ageDays: 1 }]);
    const f = writeConfig(`policies:\n  letsencrypt:\n    certificates-per-domain: { capacity: 1, period: 7d }\ncertificates:\n  - domains: [b.example.com]\n    webroot: ${JSON.stringify(www)}\n`);
    const r = await cli(['--quiet', '--config', f, 'apply', '--dry-run']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^blocked\s+b\.example\.com/m);
  });
});

describe('colour and progress on a terminal', () => {
  it('`script` is there (util-linux), so these tests can run', () => {
    expect(spawnSync('script', ['--version'], { encoding: 'utf8' }).status).toBe(0);
  });

  it('NO_COLOR: no escape codes on a terminal, even with FORCE_COLOR; without it, colour', () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'] }]);
    const coloured = onTty(['status'], { NO_COLOR: '', FORCE_COLOR: '1' });
    expect(coloured.code).toBe(0);
    expect(coloured.out).toMatch(/\x1b\[\d+m/);
    const plain = onTty(['status'], { NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('a.example.com');
    expect(plain.out).not.toMatch(/\x1b/);
    const flag = onTty(['--no-color', 'status'], { NO_COLOR: '', FORCE_COLOR: '3' });
    expect(flag.out).not.toMatch(/\x1b/);
  });

  it('renew shows "n/total" progress on a terminal, and not in a pipe', async () => {
    seed([
      { name: 'a.example.com', names: ['a.example.com'] },
      { name: 'b.example.com', names: ['b.example.com'] },
      { name: 'c.example.com', names: ['c.example.com'] },
    ]);
    const tty = onTty(['renew', '--days', '10', '--no-random-sleep']);
    expect(tty.code).toBe(0);
    expect(tty.out).toContain('1/3 lineages checked');
    expect(tty.out).toContain('3/3 lineages checked');
    const pipe = await cli(['renew', '--days', '10', '--no-random-sleep']);
    expect(pipe.code).toBe(0);
    expect(pipe.stdout).toMatch(/kept\s+c\.example\.com/);
    expect(pipe.stdout + pipe.stderr).not.toContain('lineages checked');
    expect(pipe.stdout + pipe.stderr).not.toMatch(/\x1b/);
    // --quiet on a terminal: no progress either.
    expect(onTty(['--quiet', 'renew', '--days', '10', '--no-random-sleep']).out).toBe('');
  });
});

/** Prometheus text exposition format, line by line. */
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\["\\\\n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})(?:,[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})*)\\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$`);

function parseProm(text: string): { families: Map<string, { help: string; type: string }>; samples: { name: string; labels: Record<string, string>; value: number }[] } {
  const families = new Map<string, { help: string; type: string }>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# HELP (${NAME}) (.+)$`).exec(line))) families.set(m[1]!, { help: m[2]!, type: '' });
    else if ((m = new RegExp(`^# TYPE (${NAME}) (gauge|counter)$`).exec(line))) {
      expect(families.get(m[1]!), `TYPE after HELP for ${m[1]}`).toBeDefined();
      families.get(m[1]!)!.type = m[2]!;
    } else {
      m = SAMPLE.exec(line);
      expect(m, `not a sample line: ${line}`).not.toBeNull();
      const name = m![1]!;
      expect(families.get(name)?.type, `sample before its TYPE: ${line}`).toBe('gauge');
      const labels: Record<string, string> = {};
      for (const lm of (m![2] ?? '').matchAll(new RegExp(`([a-zA-Z_][a-zA-Z0-9_]*)=(${LABEL_VALUE})`, 'g'))) labels[lm[1]!] = JSON.parse(lm[2]!);
      samples.push({ name, labels, value: Number(m![3]) });
    }
  }
  return { families, samples };
}

describe('metrics', () => {
  it('--textfile writes DIR/certctl.prom (0644, atomic) that parses back with sane values', async () => {
    seed([
      { name: 'a.example.com', names: ['a.example.com', 'www.a.example.com'], ageDays: 10 },
      { name: 'b.example.org', names: ['b.example.org'], ageDays: 80 },
    ], (l) => {
      const run = l.startRun('renew', NOW - 2 * HOUR);
      l.finishRun(run, 5, { renewed: 0 }, NOW - 2 * HOUR + 5000);
      l.recordProblem({ at: NOW - HOUR, ca_id: 'letsencrypt', directory_url: LE_DIR, account_id: null, order_id: null, lineage: 'b.example.org', endpoint: 'newOrder', http_status: 429, type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many', retry_after: NOW + 3 * HOUR, limit_name: 'duplicate-certificates', scope: 'b.example.org' });
    });
    const out = path.join(dir, 'textfile');
    fs.mkdirSync(out);
    const r = await cli(['metrics', '--textfile', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Wrote .*certctl\.prom \(\d+ samples\)\.$/m);
    const file = path.join(out, 'certctl.prom');
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(out)).toEqual(['certctl.prom']);
    const { families, samples } = parseProm(fs.readFileSync(file, 'utf8'));
    for (const n of ['certctl_certificate_expiry_timestamp_seconds', 'certctl_certificate_remaining_seconds', 'certctl_ratelimit_headroom', 'certctl_last_renew_timestamp_seconds', 'certctl_last_renew_exit_code', 'certctl_next_action_timestamp_seconds']) {
      expect(families.get(n)?.type, n).toBe('gauge');
    }
    const get = (name: string, labels: Record<string, string> = {}) => samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    const notAfterA = (NOW - 10 * DAY - HOUR + 90 * DAY) / 1000;
    expect(get('certctl_certificate_expiry_timestamp_seconds', { lineage: 'a.example.com' })[0]!.value).toBe(notAfterA);
    expect(get('certctl_certificate_remaining_seconds', { lineage: 'a.example.com' })[0]!.value / 86_400).toBeCloseTo(80 - 1 / 24, 2);
    expect(families.has('certctl_certificate_days_left')).toBe(false);
    expect(get('certctl_certificate_remaining_seconds', { lineage: 'b.example.org' })[0]!.value / 86_400).toBeCloseTo(10 - 1 / 24, 2);
    const head = get('certctl_ratelimit_headroom');
    expect(head.length).toBeGreaterThan(0);
    for (const s of head) {
      expect(Object.keys(s.labels).sort()).toEqual(['ca', 'limit', 'scope']);
      const cap = get('certctl_ratelimit_capacity', s.labels)[0]!.value;
      expect(s.value).toBeGreaterThanOrEqual(0);
      expect(s.value).toBeLessThanOrEqual(cap);
    }
    expect(get('certctl_ratelimit_headroom', { ca: 'letsencrypt', limit: 'certificates-per-domain', scope: 'example.com' })[0]!.value).toBe(50);
    expect(get('certctl_ratelimit_capacity', { ca: 'letsencrypt', limit: 'certificates-per-domain', scope: 'example.com' })[0]!.value).toBe(50);
    expect(get('certctl_last_renew_timestamp_seconds')[0]!.value).toBe((NOW - 2 * HOUR + 5000) / 1000);
    expect(get('certctl_last_renew_exit_code')[0]!.value).toBe(5);
    // a: due by the lifetime rule (a third left); b: held by a Retry-After until NOW+3h.
    expect(get('certctl_next_action_timestamp_seconds', { lineage: 'a.example.com', kind: 'due' })[0]!.value).toBe((NOW - 10 * DAY - HOUR + 60 * DAY) / 1000);
    expect(get('certctl_next_action_timestamp_seconds', { lineage: 'b.example.org', kind: 'retry-after' })[0]!.value).toBe((NOW + 3 * HOUR) / 1000);

    // Without --textfile: the same text on stdout.
    const s = await cli(['metrics']);
    expect(s.stdout).toBe(fs.readFileSync(file, 'utf8'));
    const j = JSON.parse((await cli(['--json', 'metrics'])).stdout);
    expect(j).toMatchObject({ schema: 'certctl.metrics/1', file: null });
    expect(j.metrics.map((f: { name: string }) => f.name)).toContain('certctl_ratelimit_headroom');
  });

  it('a --textfile directory that does not exist: exit 2', async () => {
    const r = await cli(['metrics', '--textfile', path.join(dir, 'missing')]);
    expect(r.code).toBe(2);
  });

  it('label values are escaped (backslash, quote, newline)', async () => {
    const { escapeLabel, renderProm } = await import('../../src/cli/run/metrics.js');
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const text = renderProm([{ name: 'x_total', help: 'h', type: 'gauge', samples: [{ labels: { scope: 'we"ird\\\n' }, value: 1 }] }]);
    const { samples } = parseProm(text);
    expect(samples[0]!.labels.scope).toBe('we"ird\\\n');
  });
});

describe('--json and usage errors', () => {
  it('an unknown option, a missing required option or an unknown command: one certctl.error/1 document on stdout, nothing on stderr, exit 2', async () => {
    for (const [args, message] of [
      [['--json', 'issue', '--bogus', '-d', 'a.example.test'], "Unknown option '--bogus'."],
      [['issue', '--json', '--webroot', '/tmp'], "Required option '-d, --domain <name>' not specified."],
      [['--json', 'nosuchcommand'], "Unknown command 'nosuchcommand'."],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ schema: 'certctl.error/1', error: { kind: 'UsageError', message, hint: 'Run the command with --help for its usage.', exitCode: 2 } });
    }
    // Without --json: commander's text on stderr, as before.
    const plain = await cli(['issue', '--bogus', '-d', 'a.example.test']);
    expect(plain.code).toBe(2);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toMatch(/unknown option '--bogus'/);
  });
});

describe('cron print', () => {
  it('five time fields (minute 0-59, two hours 12 apart), then certctl renew --quiet by absolute path', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await cli(['cron', 'print']);
      expect(r.code).toBe(0);
      const line = r.stdout.trim();
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
      const f = line.split(' ');
      const [min, hours, dom, mon, dow] = f;
      expect(Number(min)).toBeGreaterThanOrEqual(0);
      expect(Number(min)).toBeLessThanOrEqual(59);
      expect(String(Number(min))).toBe(min);
      const [h1, h2] = hours!.split(',').map(Number);
      expect(h2! - h1!).toBe(12);
      expect([dom, mon, dow]).toEqual(['*', '*', '*']);
      const cmd = f.slice(5);
      const script = cmd.find((w) => w.endsWith('certctl.js'))!;
      expect(path.isAbsolute(script)).toBe(true);
      expect(fs.realpathSync(script)).toBe(fs.realpathSync(BIN));
      expect(cmd.slice(-4)).toEqual(['--state-dir', state, 'renew', '--quiet']);
      seen.add(`${min} ${hours}`);
    }
    expect(seen.size).toBeGreaterThan(1);
    const sys = await cli(['cron', 'print', '--system']);
    expect(sys.stdout.split(' ')[5]).toBe('root');
  });

  it('cron install --file writes the cron.d file with mode 0644', async () => {
    const file = path.join(dir, 'cron.d', 'certctl');
    const r = await cli(['--json', 'cron', 'install', '--file', file]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.cron/1', file, kept: false });
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readFileSync(file, 'utf8')).toContain(`${doc.expression} root `);
  });

  it('cron install --deploy-hook: the hook reaches renew as one word, a "%" in it survives cron', async () => {
    const file = path.join(dir, 'cron.d', 'hooked');
    const hook = "systemctl reload nginx; logger \"renewed at $(date +%s)\" 'it''s'";
    const r = await cli(['cron', 'install', '--file', file, '--deploy-hook', hook]);
    expect(r.code, r.stderr).toBe(0);
    const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => / root .*renew/.test(l))!;
    // What cron hands /bin/sh: the text after the five time fields and the user, each "\%" as "%".
    const command = line.split(' ').slice(6).join(' ').replace(/\\%/g, '%');
    const words = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${command.slice(command.indexOf(' renew') + 1)}`]).toString().split('\0').slice(0, -1);
    // --file names itself to renew (--schedule-file): renew reads the schedule to know its next run (ARI timing).
    expect(words).toEqual(['renew', '--quiet', '--schedule-file', file, '--deploy-hook', hook]);
    // An unescaped "%" would have cut the line for cron:
    expect(line.split(' ').slice(6).join(' ')).not.toMatch(/[^\\]%/);
    const empty = await cli(['cron', 'install', '--file', file, '--deploy-hook', ' ']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/--deploy-hook is empty/);
  });
});

describe('daemon', () => {
  function startDaemon(args: string[] = []) {
    const child = spawn(process.execPath, [BIN, '--state-dir', state, ...args, 'daemon'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const waitFor = async (re: RegExp, ms = 15_000) => {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`no ${re} in daemon output: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    return { child, exited, waitFor, output: () => ({ out, err }) };
  }

  it('starts, runs a catch-up renew, sleeps until the schedule, and exits 0 on SIGTERM', async () => {
    seed([{ name: 'a.example.com', names: ['a.example.com'] }]);
    const f = writeConfig('defaults:\n  renewDays: 10\n');
    const d = startDaemon(['--config', f]);
    await d.waitFor(/certctl daemon started \(pid \d+\): schedule "\d+ \d+,\d+ \* \* \*"/);
    await d.waitFor(/next run /);
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    const r = await d.exited;
    expect(r).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5000);
    const { out } = d.output();
    expect(out).toMatch(/renew \(catch-up\) exit 0: 1 kept/);
    expect(out).toMatch(/certctl daemon stopped \(SIGTERM\)/);
    // One line per event: started, run, next, stopped.
    expect(out.trim().split('\n')).toHaveLength(4);
  });

  it('--json: one certctl.daemon/1 object per line; --schedule is used; SIGINT works too', async () => {
    const d = startDaemon(['--json']);
    await d.waitFor(/"event":"next"/);
    d.child.kill('SIGINT');
    expect(await d.exited).toEqual({ code: 0, signal: null });
    const events = d.output().out.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['started', 'run', 'next', 'stopped']);
    for (const e of events) expect(e.schema).toBe('certctl.daemon/1');
    const s = spawn(process.execPath, [BIN, '--state-dir', state, '--json', 'daemon', '--schedule', '*/5 * * * *'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    s.stdout.on('data', (x) => (out += x));
    while (!/"event":"next"/.test(out)) await new Promise((r) => setTimeout(r, 50));
    s.kill('SIGTERM');
    await new Promise((r) => s.on('exit', r));
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ event: 'started', schedule: '*/5 * * * *' });
    expect(lines.find((e) => e.event === 'next')).toMatchObject({ reason: 'schedule', nextAt: '2026-03-02T10:05:00.000Z' });
  });

  it('a bad --schedule: exit 2 before starting', async () => {
    const r = await cli(['daemon', '--schedule', 'every day']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a cron expression/);
  });
});

describe('exit codes are documented', () => {
  it('README table, --help and ExitCode agree', async () => {
    const { ExitCode } = await import('../../src/core/errors.js');
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Exit codes'), readme.indexOf('\n## ', readme.indexOf('## Exit codes') + 5));
    const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => Number(m[1]));
    const codes = Object.values(ExitCode).sort((a, b) => a - b);
    expect(rows).toEqual(codes);
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const c of codes) expect(help.stdout).toMatch(new RegExp(`(^|\\s)${c}  \\S`, 'm'));
  });
});
