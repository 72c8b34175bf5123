/**
 * Hooks, as certbot runs them, so existing scripts keep working:
 *   --pre-hook   once, before the first renewal attempt of a run
 *   --post-hook  once, after the attempts, if the pre-hook ran
 *   --deploy-hook per renewed lineage, with RENEWED_LINEAGE (the live/
 *                directory) and RENEWED_DOMAINS (space-separated names)
 * The hook text is the administrator's own command line and runs under
 * /bin/sh; domain names never enter that text — they reach the hook only
 * through the environment, so a name can never be interpreted by a shell.
 *
 * Hook files (settings.hookFiles, carried over from certbot's
 * renewal-hooks/pre|deploy|post/ by `certctl migrate certbot`) are
 * executables run directly, without a shell, each before the lineage's
 * command hook of the same kind and in name order — the order certbot runs
 * its directory hooks in.
 */
import { spawn } from 'node:child_process';
import { childEnv } from '../redact.js';

/** A hook that has not finished after this long is killed and reported. */
export const HOOK_TIMEOUT_MS = 10 * 60_000;
/** Hook output kept for the report (tail). */
const OUTPUT_LIMIT = 4096;

export interface HookResult {
  hook: string;
  ok: boolean;
  code: number | null;
  output: string;
  /** The hook file that ran (hook files only). */
  file?: string;
}

/** One hook to run: a command line (under /bin/sh) or an executable file (run as it is, no shell). */
export type HookSpec = { command: string; file?: undefined } | { file: string; command?: undefined };

/** The hooks of one kind for a lineage, in the order they run: hook files (name order), then the command. */
export function hookSpecs(files: readonly string[] | undefined, command: string | undefined): HookSpec[] {
  return [...(files ?? []).map((file) => ({ file })), ...(command ? [{ command }] : [])];
}

/** A key that is the same for the same hook (a hook shared by lineages runs once per run). */
export function hookKey(h: HookSpec): string {
  return h.file !== undefined ? `file:${h.file}` : `sh:${h.command}`;
}

export function runHookSpec(kind: string, h: HookSpec, env: Record<string, string> = {}): Promise<HookResult> {
  return h.file !== undefined ? spawnHook(kind, h.file, h.file, [], env) : runHook(kind, h.command, env);
}

export function runHook(kind: string, command: string, env: Record<string, string> = {}): Promise<HookResult> {
  return spawnHook(kind, undefined, '/bin/sh', ['-c', command], env);
}

function spawnHook(kind: string, hookFile: string | undefined, file: string, args: string[], env: Record<string, string>): Promise<HookResult> {
  const named = hookFile !== undefined ? { file: hookFile } : {};
  return new Promise((resolve) => {
    const child = spawn(file, args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), HOOK_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ hook: kind, ok: false, code: null, output: err.message, ...named });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ hook: kind, ok: code === 0, code, output: output.trim(), ...named });
    });
  });
}
