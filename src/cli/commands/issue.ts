import { Option, type Command } from 'commander';
import { action } from '../action.js';
import type { IssueOptions } from '../run/issue.js';
import { addDnsOptions } from '../dns-options.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function register(program: Command): void {
  const cmd = program
    .command('issue')
    .description('get a certificate for a set of names (HTTP-01, TLS-ALPN-01, or DNS-01 with --dns: wildcards), planned and checked before anything is sent')
    .requiredOption('-d, --domain <name>', 'a name for the certificate; repeat for more (the first names the lineage)', collect)
    .option('-w, --webroot <dir>', 'document root served for these names; the challenge file goes under .well-known/acme-challenge/ (directories certctl creates there are removed afterwards)')
    .option('--force-webroot', 'accept a webroot that looks like a system directory (/, /etc, /usr, /var/lib, $HOME, the state directory…), which is refused otherwise')
    .option('--standalone [addr:port]', 'serve the challenge from certctl itself (default 0.0.0.0:80)')
    .option('--standalone-tls [addr:port]', 'TLS-ALPN-01 instead of HTTP-01, for hosts whose port 80 is closed: certctl answers ALPN acme-tls/1 itself on ADDR:PORT (default 0.0.0.0:443)')
    .option('--serve', "fleet (shared PostgreSQL ledger with a fleet key): HTTP-01 answered by `certctl serve` on every host, from the ledger (the name's DNS or load balancer may point at any host)")
    .option('--tls-port <port>', 'port the CA connects to for TLS-ALPN-01, where the readiness probe looks (default 443; for port forwards and test setups)')
    .option('--server <url>', 'ACME directory URL (default: the CA given by --ca)')
    .option('--ca <id>', 'CA by id (certctl ca list; a custom CA of the config file), or an ordered list to fail over: --ca letsencrypt,zerossl (default letsencrypt)')
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
    .option('--preferred-chain <issuer-cn>', 'when the CA offers alternate chains, write the one whose topmost certificate is issued by this Common Name (certbot\'s rule; none matching: the default chain, with a warning); kept by renew; config preferredChain:')
    .option('--reuse-key', 'keep the private key across renewals')
    .option('--force-renewal', 'order even if a valid certificate for this exact set is held (spends a duplicate slot)')
    .option('--force', 'order even if the planner predicts a rate-limit refusal (recorded, and warned against)')
    .option('--no-precheck', 'skip the readiness checks (DNS, HTTP-01 or TLS-ALPN-01, CAA) before ordering, and TLS-ALPN-01\'s own check before answering (recorded)')
    .option('--resolver <host:port>', 'DNS server for the readiness checks (default: the system resolver)')
    .option('--http-port <port>', 'port the readiness check fetches HTTP-01 on (default 80)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120));
  addDnsOptions(cmd)
    .addHelpText(
      'after',
      `
Examples:
  certctl issue -d example.com -d www.example.com --webroot /var/www/html
  certctl issue -d mail.example.com --standalone-tls          # port 80 closed: TLS-ALPN-01 on 0.0.0.0:443
  certctl issue -d app.example.com --standalone-tls 127.0.0.1:8443 --tls-port 443   # 443 forwarded to 8443
  certctl issue -d example.com -d '*.example.com' --dns rfc2136 --dns-server ns1.example.com --tsig-key /etc/bind/certctl.key
  certctl issue -d example.com -d '*.example.com' --dns hook --dns-hook /usr/local/bin/auth.sh --dns-cleanup-hook /usr/local/bin/cleanup.sh
  certctl issue -d example.com -d '*.example.com' --dns acme-dns --acme-dns-credentials /etc/certctl/acme-dns.json

The challenge and its settings are remembered: \`certctl renew\` answers the same way.
DNS-01 waits until every authoritative nameserver (IPv4 and IPv6) has every TXT value before the CA is told
to look; if one lags past --dns-propagation-timeout, nothing is answered (no failed validation) and the
records are removed. What is remembered for renew: the method, server, zone, key file path and key name,
hook command lines, credentials file path — never a secret.

Changing a lineage's names (it gets version N+1; the CA counts a new exact set, no renewal exemption):
  certctl plan  --cert-name example.com -d example.com -d www.example.com -d shop.example.com
  certctl issue --cert-name example.com -d example.com -d www.example.com -d shop.example.com --webroot /var/www/html
  certctl issue --expand -d example.com -d www.example.com -d shop.example.com --webroot /var/www/html
Names that overlap an existing lineage without --cert-name or --new-lineage are refused (exit 2), nothing sent.
JSON: --json prints certctl.issue/1 (docs/json.md).
Ctrl-C / SIGTERM stops cleanly: nothing more is sent, the challenge is removed, the step of the order
is named, exit 130 / 143; the next run resumes that order (a challenge being validated is waited for).`,
    )
    .action(
      action(async (ctx, opts: IssueOptions) => {
        const { runIssue } = await import('../run/issue.js');
        return runIssue(ctx, opts);
      }),
    );
}

