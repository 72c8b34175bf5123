/**
 * Every command's action goes through `action`: it builds the context, runs
 * the command and maps what it throws to an exit code (README "Exit codes").
 * Kept apart from main.ts, which loads the commands, so no command imports
 * the file that imports it.
 */
import type { Command } from 'commander';
import { ExitCode } from '../core/errors.js';
import { CONTROL } from '../core/text.js';
import { existsSync } from 'node:fs';
import { defaultConfigPath } from '../core/paths.js';
import { makeContext, type Context } from './context.js';
import { write, Output, type GlobalOptions } from './output.js';

/** The command each parsed options object came from, so config defaults can tell a given flag from a default. */
const OPTION_SOURCES = new WeakMap<object, Command>();

/** True when option `key` of this options object was given on the command line (not a default); undefined when unknown. */
export function optionGiven(opts: object, key: string): boolean | undefined {
  const cmd = OPTION_SOURCES.get(opts);
  if (!cmd) return undefined;
  const src = cmd.getOptionValueSource(key);
  return src === 'cli' || src === 'env';
}

/** Wrap a command action: build the context, run, map errors to exit codes. */
export function action<A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    OPTION_SOURCES.set(cmd.opts(), cmd);
    let ctx: Context | undefined;
    let code: number = ExitCode.OK;
    try {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      // Paths with a NUL or a line break would reach the file system (or a message) as garbage
      // (validate.js, loaded only then: it pulls in the name rules, which `status` does not need).
      if ([g.stateDir, g.ledger, g.config].some((x) => x !== undefined && CONTROL.test(x))) {
        const { plain } = await import('./validate.js');
        plain(g.stateDir, '--state-dir');
        plain(g.ledger, '--ledger');
        plain(g.config, '--config');
      }
      if (g.stateDir !== undefined && g.stateDir.trim() === '') throw new (await import('../core/errors.js')).InputError('--state-dir is empty.', 'Give --state-dir a directory, or leave it out.');
      if (g.proxy !== undefined && g.proxy.trim() !== '') {
        const { parseProxyUrl } = await import('../core/net/proxy.js');
        const { InputError } = await import('../core/errors.js');
        if (CONTROL.test(g.proxy)) throw new InputError('--proxy contains a control character.', 'Give --proxy a proxy URL such as http://proxy.example:3128.');
        if (parseProxyUrl(g.proxy, '--proxy').password) {
          throw new InputError(
            '--proxy carries a password, and every user of this machine can read a command line: certctl sent nothing.',
            'Put the proxy URL with its credentials in HTTPS_PROXY or the config file\'s proxy: (mode 0600) instead of --proxy.',
          );
        }
      }
      ctx = await makeContext(cmd);
      // The config file's CAs (cas:) are known to every command (--ca NAME, lineages at them). A config
      // that cannot be read is reported by the commands that use it, not here.
      // (Without a config file anywhere there is nothing to register: the config module is not even loaded.)
      const where = ctx.opts.config ?? defaultConfigPath();
      const hasConfig = ctx.opts.config !== undefined || existsSync(where) || existsSync(where.replace(/\.yaml$/, '.json'));
      if (hasConfig) {
        await (await import('../core/config/index.js')).loadConfig(ctx.opts.config).catch(() => undefined);
      }
      // The proxy for the CA side: --proxy, else the config's proxy: (read when a request is first made), else the environment.
      const configFile = ctx.opts.config;
      const { setProxyOverride } = await import('../core/net/proxy.js');
      setProxyOverride({
        flag: g.proxy,
        config: hasConfig ? async () => {
          const c = await (await import('../core/config/index.js')).loadConfig(configFile);
          return { value: c.proxy, file: c.file };
        } : undefined,
      });
      code = (await fn(ctx, ...(args.slice(0, -1) as A))) ?? ExitCode.OK;
    } catch (caught) {
      const { CertctlError, faultError } = await import('../core/errors.js');
      const out = ctx?.out ?? new Output(cmd.optsWithGlobals() as GlobalOptions);
      // Disk full, read-only, a damaged ledger, a write lock held too long: a fault to fix, not a bug.
      const ledgerFile = ctx && !ctx.paths.ledger.includes('://') ? ctx.paths.ledger : undefined;
      const err = caught instanceof CertctlError ? caught : (faultError(caught, ledgerFile) ?? caught);
      if (err instanceof CertctlError) {
        out.error(err);
        code = err.exitCode;
      } else {
        const e = err as Error;
        out.error(Object.assign(new CertctlError(`internal error: ${e?.message ?? String(err)}`, ExitCode.INTERNAL, 'This is a bug in certctl; run with --verbose and report it.'), {}));
        if (out.opts.verbose && e?.stack) write(process.stderr, e.stack + '\n');
        code = ExitCode.INTERNAL;
      }
    } finally {
      ctx?.close();
    }
    process.exitCode = code;
    // Stopped by a signal (signals.ts): a request abandoned in flight would keep the process waiting for its socket.
    // (Only a command that listens for signals can have been stopped: status and plan never load interrupt.js.)
    if (process.listenerCount('SIGINT') > 0 && (await import('../core/interrupt.js')).interruption.requested) process.exit(code);
  };
}
