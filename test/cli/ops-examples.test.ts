/**
 * examples/: the CI script against the built CLI (blocked plan → the
 * pipeline fails with 4 and nothing is ordered; already held → passes
 * without ordering), and the scheduling files say what the README promises.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../helpers/cli.js';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { registeredDomains, setKey } from '../../src/core/names.js';
import { existingTime } from '../../src/core/schedule/cron.js';
import { cronSchedule } from '../../src/core/schedule/cron.js';

const ROOT = path.resolve(__dirname, '../..');
const STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';
const NOW = Date.parse('2026-03-02T10:00:00Z');
const HOUR = 3_600_000;
let dir: string;

beforeEach(() => {
  dir = tempDir('certctl-examples-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function ci(domains: string): { code: number | null; out: string; err: string } {
  const r = spawnSync('sh', [path.join(ROOT, 'examples/ci/plan-then-issue.sh')], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', CERTCTL_TEST_NOW: String(NOW), XDG_CONFIG_HOME: '/nonexistent', CERTCTL: `${process.execPath} ${BIN} --state-dir ${dir}/state`, DOMAINS: domains, WEBROOT: dir },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('examples/ci/plan-then-issue.sh', () => {
  it('a blocked plan fails the pipeline with exit 4 and orders nothing', () => {
    const l = Ledger.open(path.join(dir, 'state/ledger.sqlite'));
    l.recordProblem({ at: NOW - HOUR, ca_id: 'letsencrypt-staging', directory_url: STAGING, account_id: null, order_id: null, lineage: null, endpoint: 'finalize', http_status: 429, type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates already issued for "example.com"', retry_after: NOW + 3 * HOUR, limit_name: 'certificates-per-domain', scope: 'example.com' });
    l.close();
    const r = ci('example.com www.example.com');
    expect(r.code).toBe(4);
    expect(r.out).toContain('Verdict: BLOCKED');
    expect(r.err).toContain('plan: BLOCKED by a predicted rate limit; failing the pipeline');
    const after = Ledger.open(path.join(dir, 'state/ledger.sqlite'));
    expect(after.orders()).toEqual([]);
    expect(after.lineages()).toEqual([]);
    after.close();
  });

  it('a set already held at staging: plan says duplicate, the pipeline passes without ordering', () => {
    const names = ['example.com'];
    const l = Ledger.open(path.join(dir, 'state/ledger.sqlite'));
    l.saveLineage({ name: 'example.com', names, set_key: setKey(names), ca_id: 'letsencrypt-staging', directory_url: STAGING, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: dir, standalone_addr: null, settings: {}, now: NOW - HOUR });
    l.insertCertificate({ lineage: 'example.com', version: 1, order_id: null, bundle_id: null, role: 'main', source: 'certctl', ca_id: 'letsencrypt-staging', directory_url: STAGING, issuer: 'CN=(STAGING) Test', serial: 'abc', names, set_key: setKey(names), key_type: 'ecdsa:p256', not_before: NOW - 2 * HOUR, not_after: NOW + 80 * 24 * HOUR, issued_at: NOW - HOUR, replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null, registered_domains: registeredDomains(names), now: NOW - HOUR });
    l.setLineageVersion('example.com', 1, NOW - HOUR);
    l.close();
    const r = ci('example.com');
    expect(r.code).toBe(0);
    expect(r.out).toContain('plan: already held (duplicate); nothing to issue');
  });

  it('refuses to run without DOMAINS', () => {
    const r = spawnSync('sh', [path.join(ROOT, 'examples/ci/plan-then-issue.sh')], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/DOMAINS/);
  });
});

describe('scheduling examples', () => {
  it('systemd timer: twice daily, RandomizedDelaySec=1h, Persistent=true; the service runs renew --quiet', () => {
    const timer = fs.readFileSync(path.join(ROOT, 'examples/systemd/certctl.timer'), 'utf8');
    expect(timer).toMatch(/^OnCalendar=\*-\*-\* 00,12:00:00$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=1h$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    const service = fs.readFileSync(path.join(ROOT, 'examples/systemd/certctl.service'), 'utf8');
    expect(service).toMatch(/^ExecStart=.*certctl renew --quiet/m);
    expect(service).toMatch(/^Type=oneshot$/m);
    expect(fs.readFileSync(path.join(ROOT, 'examples/systemd/certctl-daemon.service'), 'utf8')).toMatch(/^ExecStart=.*certctl daemon$/m);
  });

  it('the cron example is a valid cron.d line that certctl cron install would recognise', () => {
    const text = fs.readFileSync(path.join(ROOT, 'examples/cron/certctl'), 'utf8');
    const t = existingTime(text);
    expect(t).toEqual({ minute: 17, hours: [3, 15] });
    expect(() => cronSchedule(`${t!.minute} ${t!.hours.join(',')} * * *`)).not.toThrow();
  });

  it('nginx examples point at the files certctl writes', () => {
    const single = fs.readFileSync(path.join(ROOT, 'examples/nginx/single.conf'), 'utf8');
    expect(single).toContain('ssl_certificate     /var/lib/certctl/live/example.com/fullchain.pem;');
    const dual = fs.readFileSync(path.join(ROOT, 'examples/nginx/dual.conf'), 'utf8');
    expect(dual).toContain('fullchain-ecdsa.pem;');
    const sm2 = fs.readFileSync(path.join(ROOT, 'examples/nginx/tengine-sm2.conf'), 'utf8');
    for (const f of ['sign.pem', 'sign.key', 'enc.pem', 'enc.key']) expect(sm2).toContain(`/var/lib/certctl/live/example.cn/${f};`);
    expect(sm2).toContain('enable_ntls on;');
  });
});
