/**
 * `certctl sync ct <registered-domain>…`: import what Certificate
 * Transparency (crt.sh) knows about each domain into the ledger, so the
 * planner counts certificates issued by other hosts and other clients.
 * Exit: 0 every domain complete; 8 crt.sh failed or answered partially for
 * at least one (what did arrive is kept, and `plan` says "incomplete").
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';

export interface SyncCtOptions {
  ctUrl: string;
  requestTimeout: number;
  totalTimeout: number;
  retries: number;
  backoff: number;
}

export function register(program: Command): void {
  const sync = program.command('sync').description('bring outside knowledge into the ledger (sync ct: certificates from Certificate Transparency)');
  sync
    .command('ct')
    .description('import every unexpired certificate crt.sh lists for each registered domain (other hosts, other clients), so the rate-limit planner counts them')
    .argument('<domain...>', 'registered domain(s), e.g. example.com (a longer name is reduced to its registered domain)')
    .addOption(new Option('--ct-url <url>', 'crt.sh base URL').default('https://crt.sh'))
    .addOption(new Option('--request-timeout <seconds>', 'time-out of one crt.sh request').default(60).argParser(Number))
    .addOption(new Option('--total-timeout <seconds>', 'time budget per domain, retries included').default(180).argParser(Number))
    .addOption(new Option('--retries <n>', 'retries after a 502/503/429, a time-out or a non-JSON answer').default(3).argParser(Number))
    .addOption(new Option('--backoff <seconds>', 'first retry delay (doubles each time, jittered)').default(2).argParser(Number))
    .addHelpText(
      'after',
      `
crt.sh answers at most 10,000 rows; a domain with more (or a failed query) is
recorded as an incomplete sync, and \`certctl plan\` says so. Certificates the
ledger already has (issued by certctl, imported from certbot) are matched by
serial + issuer and marked seen-in-CT, never counted twice.
Exit codes: 0 complete, 8 crt.sh failed or answered partially (kept what came).`,
    )
    .action(
      action(async (ctx, domains: string[], opts: SyncCtOptions) => {
        const { InputError, ExitCode } = await import('../../core/errors.js');
        const { normalizeName, registeredDomain } = await import('../../core/names.js');
        const { syncCtDomain } = await import('../../core/ct/index.js');
        let url: URL;
        try {
          url = new URL(opts.ctUrl);
        } catch {
          throw new InputError(`--ct-url "${opts.ctUrl}" is not a URL.`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InputError('--ct-url must be an http(s) URL.');
        for (const [k, v] of [['--request-timeout', opts.requestTimeout], ['--total-timeout', opts.totalTimeout], ['--backoff', opts.backoff]] as const) {
          if (!(v >= 0) || !Number.isFinite(v)) throw new InputError(`${k} must be a number of seconds.`);
        }
        if (!(Number.isInteger(opts.retries) && opts.retries >= 0 && opts.retries <= 10)) throw new InputError('--retries must be a whole number from 0 to 10.');
        const regs: string[] = [];
        for (const d of domains) {
          const n = normalizeName(d, { allowWildcard: true });
          const r = registeredDomain(n);
          if (!r) throw new InputError(`"${d}" has no registered domain.`);
          if (r !== n.replace(/^\*\./, '')) ctx.out.info(`${d}: syncing its registered domain ${r} (the limits count per registered domain).`);
          if (!regs.includes(r)) regs.push(r);
        }
        const ledger = await ctx.ledger();
        const crtsh = {
          baseUrl: opts.ctUrl,
          requestTimeoutMs: opts.requestTimeout * 1000,
          totalTimeoutMs: opts.totalTimeout * 1000,
          retries: opts.retries,
          backoffMs: opts.backoff * 1000,
          onAttempt: (l: string) => ctx.out.verbose(l),
        };
        const results = [];
        for (const d of regs) {
          ctx.out.progress(`crt.sh: ${d}…`);
          const r = await syncCtDomain(ledger, d, crtsh, ctx.now);
          ctx.out.progressDone();
          results.push(r);
          if (ctx.out.json) continue;
          const p = ctx.out.palette;
          const head = r.complete ? p.ok('complete') : p.warn(r.rows ? 'incomplete' : 'failed');
          ctx.out.attention(
            `${d}: ${head} — ${r.rows} crt.sh rows, ${r.certificates} certificate(s): ${r.inserted} new, ${r.already} already known, ${r.matched} certctl/imported certificate(s) marked seen in CT`,
          );
          if (r.skipped) ctx.out.info(`  ${r.skipped} row(s) could not be read and were skipped`);
          if (r.error) ctx.out.attention(p.warn(`  ${r.error}`));
        }
        const ok = results.every((r) => r.complete);
        if (ctx.out.json) ctx.out.document('certctl.sync-ct/1', { complete: ok, domains: results });
        return ok ? ExitCode.OK : ExitCode.CA_ERROR;
      }),
    );
}
