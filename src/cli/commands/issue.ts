import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { IssueOptions } from '../run/issue.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function register(program: Command): void {
  program
    .command('issue')
    .description('get a certificate for a set of names (HTTP-01), planned and checked before anything is sent')
    .requiredOption('-d, --domain <name>', 'a name for the certificate; repeat for more (the first names the lineage)', collect)
    .option('-w, --webroot <dir>', 'document root served for these names; the challenge file goes under .well-known/acme-challenge/ (directories certctl creates there are removed afterwards)')
    .option('--force-webroot', 'accept a webroot that looks like a system directory (/, /etc, /usr, /var/lib, $HOME, the state directory…), which is refused otherwise')
    .option('--standalone [addr:port]', 'serve the challenge from certctl itself (default 0.0.0.0:80)')
    .option('--server <url>', 'ACME directory URL (default: the CA given by --ca)')
    .option('--ca <id>', 'CA by name: letsencrypt, letsencrypt-staging, sm2acme, pebble (default letsencrypt)')
    .option('--staging', "use the CA's staging environment")
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the ACME server (private CAs: Pebble, step-ca)')
    .option('-m, --email <address>', 'contact e-mail for the ACME account')
    .option('--eab-kid <kid>', 'External Account Binding key id (ZeroSSL, Google Trust Services, …)')
    .option('--eab-hmac-key-file <file>', 'External Account Binding HMAC key (base64url), read from the first line of FILE (preferred; or $CERTCTL_EAB_HMAC_KEY, or the config file)')
    .option('--eab-hmac-key <key>', 'the EAB HMAC key itself: visible to other users in the process list while certctl runs; prefer --eab-hmac-key-file or $CERTCTL_EAB_HMAC_KEY')
    .option('--key-type <type>', 'rsa[:2048|3072|4096], ecdsa[:p256|p384], dual (RSA + ECDSA), sm2 (SM2 ACME bundle: ECDSA + SM2 sign + SM2 enc)', 'ecdsa')
    .option('--cert-name <name>', "lineage name (default: the lineage holding exactly these names, else the first name); an existing lineage with other names gets exactly these (a new certificate for the CA: see certctl plan --cert-name)")
    .option('--expand', "with the names of an existing lineage plus more: the lineage's new set must contain its old one (refused otherwise)")
    .option('--new-lineage', 'a second lineage beside the one these names overlap (without it, or --cert-name, an overlap is refused)')
    .option('--profile <name>', 'ACME profile to request (if the CA lists it)')
    .option('--reuse-key', 'keep the private key across renewals')
    .option('--force-renewal', 'order even if a valid certificate for this exact set is held (spends a duplicate slot)')
    .option('--force', 'order even if the planner predicts a rate-limit refusal (recorded, and warned against)')
    .option('--no-precheck', 'skip the readiness checks (DNS, HTTP-01, CAA) before ordering (recorded)')
    .option('--resolver <host:port>', 'DNS server for the readiness checks (default: the system resolver)')
    .option('--http-port <port>', 'port the readiness check fetches HTTP-01 on (default 80)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
Changing a lineage's names (it gets version N+1; the CA counts a new exact set, no renewal exemption):
  certctl plan  --cert-name example.com -d example.com -d www.example.com -d shop.example.com
  certctl issue --cert-name example.com -d example.com -d www.example.com -d shop.example.com --webroot /var/www/html
  certctl issue --expand -d example.com -d www.example.com -d shop.example.com --webroot /var/www/html
Names that overlap an existing lineage without --cert-name or --new-lineage are refused (exit 2), nothing sent.
JSON: --json prints certctl.issue/1 (docs/json.md).`,
    )
    .action(
      action(async (ctx, opts: IssueOptions) => {
        const { runIssue } = await import('../run/issue.js');
        return runIssue(ctx, opts);
      }),
    );
}

