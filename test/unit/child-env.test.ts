/**
 * Programs certctl starts (hooks, notification commands, DNS hooks) do not inherit the secrets
 * certctl was given through its environment: a hook that logs `env` must not log them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, clearSecrets } from '../../src/core/redact.js';
import { runHook } from '../../src/core/renew/hooks.js';
import { deliver } from '../../src/core/notify/deliver.js';
import { event } from '../../src/core/notify/index.js';

afterEach(() => clearSecrets());

describe('childEnv', () => {
  it('drops PGPASSWORD, PGSSLPASSWORD, the EAB key and a CERTCTL_LEDGER with a password; keeps the rest (a proxy with credentials, a DNS API token) and adds the extras', () => {
    const base = { PATH: '/usr/bin', HOME: '/root', HTTPS_PROXY: 'http://u:p@proxy:3128', DNS_API_TOKEN: 'tok-0123456789' };
    expect(childEnv({ RENEWED_LINEAGE: '/x/live/a' }, { ...base, PGPASSWORD: 'hunter2', PGSSLPASSWORD: 'x', CERTCTL_EAB_HMAC_KEY: 'k', CERTCTL_LEDGER: 'postgres://certctl:s3cret@db/certctl' })).toEqual({ ...base, RENEWED_LINEAGE: '/x/live/a' });
    expect(childEnv({}, { ...base, CERTCTL_LEDGER: 'postgres://certctl@db/certctl?sslmode=require&password=s3cret' })).toEqual(base);
    expect(childEnv({}, { ...base, CERTCTL_LEDGER: 'postgres://certctl@db/certctl?sslmode=require' })).toEqual({ ...base, CERTCTL_LEDGER: 'postgres://certctl@db/certctl?sslmode=require' });
  });

  it('a ledger URL\'s ?password= is redacted wherever it is printed or sent', async () => {
    const { redactUrl } = await import('../../src/core/ledger/db.js');
    const { redact } = await import('../../src/core/redact.js');
    expect(redactUrl('postgres://certctl@db:5432/fleet?password=SuperSecret123&sslmode=require')).toBe('postgres://certctl@db:5432/fleet?password=***&sslmode=require');
    expect(redactUrl('postgres://certctl@db/fleet?sslpassword=abc')).toBe('postgres://certctl@db/fleet?sslpassword=***');
    expect(redact('The ledger postgres://certctl@db/fleet?password=SuperSecret123 cannot be reached')).toBe('The ledger postgres://certctl@db/fleet?password=[redacted] cannot be reached');
    expect(redact('postgres://certctl@db/fleet?sslmode=require&PASSWORD=SuperSecret123')).toBe('postgres://certctl@db/fleet?sslmode=require&PASSWORD=[redacted]');
  });

  it('a deploy hook run with PGPASSWORD and the EAB key in the environment sees neither', async () => {
    const saved = { ...process.env };
    try {
      process.env.PGPASSWORD = 'pg-password-xyz';
      process.env.CERTCTL_EAB_HMAC_KEY = 'eab-abcdefghijkl';
      const r = await runHook('deploy', 'env', { RENEWED_DOMAINS: 'a.example' });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('RENEWED_DOMAINS=a.example');
      expect(r.output).toContain('PATH=');
      expect(r.output).not.toContain('pg-password-xyz');
      expect(r.output).not.toContain('eab-abcdefghijkl');
    } finally {
      process.env = saved;
    }
  });

  it('a notification command target does not see PGPASSWORD', async () => {
    const saved = { ...process.env };
    try {
      process.env.PGPASSWORD = 'pg-password-xyz';
      const fs = await import('node:fs');
      const os = await import('node:os');
      const path = await import('node:path');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-env-'));
      const out = path.join(dir, 'env.txt');
      const e = event({ kind: 'renewed', subject: 'a.example', lineage: 'a.example', at: Date.now(), summary: 's', reason: 'r', next: 'n' });
      const r = await deliver({ type: 'command', id: 'cmd', command: ['/bin/sh', '-c', `env > "${out}"`], timeoutMs: 5000 }, e, 1, 'h');
      expect(r.ok).toBe(true);
      const text = fs.readFileSync(out, 'utf8');
      expect(text).toContain('CERTCTL_EVENT=renewed');
      expect(text).not.toContain('pg-password-xyz');
    } finally {
      process.env = saved;
    }
  });
});
