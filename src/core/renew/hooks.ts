/**
 * Hooks, as certbot runs them, so existing scripts keep working:
 *   --pre-hook   once, before the first renewal attempt of a run
 *   --post-hook  once, after the attempts, if the pre-hook ran
 *   --deploy-hook per renewed lineage, with RENEWED_LINEAGE (the live/
 *                directory) and RENEWED_DOMAINS (space-separated names)
 * The hook text is the administrator's own command line and runs under
 * /bin/sh; domain names never enter that text — they reach the hook only
 * through the environment, so a name can never be interpreted by a shell.
 */
import { spawn } from 'node:child_process';

/** A hook that has not finished after this long is killed and reported. */
export const HOOK_TIMEOUT_MS = 10 * 60_000;
/** Hook output kept for the report (tail). */
const OUTPUT_LIMIT = 4096;

export interface HookResult {
  hook: string;
  ok: boolean;
  code: number | null;
  output: string;
}

export function runHook(kind: string, command: string, env: Record<string, string> = {}): Promise<HookResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), HOOK_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ hook: kind, ok: false, code: null, output: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ hook: kind, ok: code === 0, code, output: output.trim() });
    });
  });
}
