/**
 * Programs certctl starts (hooks, notification commands, DNS hooks) do not inherit the secrets
 * certctl was given through its environment: a hook that logs `env` must not log them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, clearSecrets, registerSecret } from '../../src/core/redact.js';
import { runHook } from '../../src/core/renew/hooks.js';
import { deliver } from '../../src/core/notify/deliver.js';
import { event } from '../../src/core/notify/index.js';

afterEach(() => clearSecrets());

describe('childEnv', () => {
  it('drops PGPASSWORD, a URL with a password, and any variable holding a registered secret; keeps the rest and adds the extras', () => {
    registerSecret('webhook-token-0123456789');
    const env = childEnv(
      { RENEWED_LINEAGE: '/x/live/a' },
      { PATH: '/usr/bin', HOME: '/root', PGPASSWORD: 'hunter2', CERTCTL_LEDGER: 'postgres://certctl:s3cret@db/certctl', PLAIN_LEDGER: 'postgres://db/certctl', HOOK_TOKEN: 'webhook-token-0123456789', OTHER: 'prefix webhook-token-0123456789' },
    );
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/root', PLAIN_LEDGER: 'postgres://db/certctl', RENEWED_LINEAGE: '/x/live/a' });
  });

  it('a deploy hook run with PGPASSWORD and a token in the environment sees neither', async () => {
    const saved = { ...process.env };
    try {
      process.env.PGPASSWORD = 'pg-password-xyz';
      process.env.MY_HOOK_TOKEN = 'token-abcdefghijkl';
      registerSecret('token-abcdefghijkl');
      const r = await runHook('deploy', 'env', { RENEWED_DOMAINS: 'a.example' });
      expect(r.ok).toBe(true);
      expect(r.output).toContain('RENEWED_DOMAINS=a.example');
      expect(r.output).toContain('PATH=');
      expect(r.output).not.toContain('pg-password-xyz');
      expect(r.output).not.toContain('token-abcdefghijkl');
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
