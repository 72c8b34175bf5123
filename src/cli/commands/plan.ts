/**
 * `certctl plan`: what the CA would say to a request before anything is
 * sent — every limit that applies, what this request spends, what is left,
 * the earliest moment it fits. Without -d: what `certctl renew` would do now.
 * Exit: 0 allowed (or last slot, warned), 3 duplicate, 4 blocked.
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { PlanOptions } from '../run/plan.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function register(program: Command): void {
  program
    .command('plan')
    .description('predict, from the ledger, whether the CA would accept a request now, and when it would (nothing is sent); without -d: every due renewal')
    .option('-d, --domain <name>', 'a name of the certificate; repeat for more', collect)
    .option('--key-type <type>', 'rsa[:bits], ecdsa[:curve], dual (2 certificates), sm2 (3-certificate bundle); default ecdsa (sm2 at the SM2 ACME Service)')
    .option('--ca <id>', 'CA by id (certctl ca list; a custom CA of the config file), or an ordered list to fail over: --ca letsencrypt,zerossl, planned against each CA in order (its verdict, allowed-at, whether it was unreachable) and the one issue would use (default: the CA of the lineage holding the names, and its list, else letsencrypt)')
    .option('--server <url>', 'ACME directory URL (a known one maps to its CA; others get the conservative policy)')
    .option('--staging', "the CA's staging environment")
    .option('--cert-name <name>', "with -d: plan as `issue --cert-name NAME` would: an existing lineage with other names shows what changing them spends (a new exact set, each domain's slots, no renewal exemption)")
    .option('--expand', 'with -d: as issue --expand (the new set must contain the lineage\'s names)')
    .option('--new-lineage', 'with -d: as issue --new-lineage (a second lineage beside an overlapping one)')
    .option('--profile <name>', "ACME profile to plan for (Let's Encrypt: classic 100 names; tlsserver 25; shortlived 25, also IP addresses); default: the lineage's, else the CA's default")
    .option('--force-renewal', 'plan an order even though a valid certificate for this exact set is held')
    .addOption(new Option('--ct-sync <mode>', 'auto: first sync Certificate Transparency (crt.sh) for domains whose last sync is older than --ct-max-age').choices(['auto', 'never']).default('never'))
    .addOption(new Option('--ct-max-age <hours>', 'with --ct-sync auto: sync when the last CT sync is older than this').default(24))
    .option('--ct-url <url>', 'crt.sh base URL (default https://crt.sh)')
    .addHelpText('after', '\nExample (what adding shop.example.com to the lineage example.com spends):\n  certctl plan --cert-name example.com -d example.com -d www.example.com -d shop.example.com\n\nExit codes: 0 allowed (also the last free slot: warned), 2 bad input (e.g. --expand dropping a name), 3 duplicate (already held), 4 blocked.\nJSON: --json prints certctl.plan/1 (docs/json.md).')
    .action(
      action(async (ctx, opts: PlanOptions) => {
        const { runPlan } = await import('../run/plan.js');
        return runPlan(ctx, opts);
      }),
    );
}
