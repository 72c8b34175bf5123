/**
 * Debian's certbot against a test Pebble, with its own --config-dir (never
 * /etc/letsencrypt), trusting Pebble through REQUESTS_CA_BUNDLE (verification
 * stays on); and a hash of a directory tree, to assert certctl changed
 * nothing of certbot's (or put it back byte for byte).
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Pebble } from '../../testkit/pebble.js';

export const CERTBOT = '/usr/bin/certbot';

export function requireCertbot(): void {
  if (!fs.existsSync(CERTBOT)) throw new Error('certbot is not installed: apt-get install -y certbot');
}

/** Run certbot with `configDir` (its work and logs directories beside it). ACME verbs get --server etc. */
export function certbot(pebble: Pebble, configDir: string, args: string[], acme = true): Promise<{ code: number; out: string }> {
  const base = path.dirname(configDir);
  const acmeArgs = acme ? ['--server', pebble.directoryUrl, '--agree-tos', '-m', 'ops@example.test'] : [];
  return new Promise((resolve) => {
    execFile(
      CERTBOT,
      [...args, ...acmeArgs, '--non-interactive', '--config-dir', configDir, '--work-dir', path.join(base, 'work'), '--logs-dir', path.join(base, 'logs')],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: pebble.caBundle }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/** Every path under dir, one line each: path, mode, mtime and the sha256 of its content (or its link target). */
export function treeListing(dir: string): string[] {
  const lines: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d).sort()) {
      const p = path.join(d, e);
      const st = fs.lstatSync(p);
      let what = '';
      if (st.isSymbolicLink()) what = '->' + fs.readlinkSync(p);
      else if (!st.isDirectory()) what = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      lines.push(`${path.relative(dir, p)}|${st.mode.toString(8)}|${st.mtimeMs}|${what}`);
      if (st.isDirectory() && !st.isSymbolicLink()) walk(p);
    }
  };
  walk(dir);
  return lines;
}

/** treeListing as one hash. */
export function hashTree(dir: string): string {
  return crypto.createHash('sha256').update(treeListing(dir).join('\n')).digest('hex');
}
