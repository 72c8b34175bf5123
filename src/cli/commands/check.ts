/**
 * `certctl check`: the readiness checks `issue` and `renew` run before
 * new-order, on their own, with the evidence for each. Nothing is sent to the
 * CA; the results are stored in the ledger (shown by `plan`).
 */
import type { Command } from 'commander';
import { action } from '../action.js';
import type { CheckOptions } from '../run/check.js';
import { addDnsOptions } from '../dns-options.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function register(program: Command): void {
  const cmd = program
    .command('check')
    .description('readiness checks before ordering: DNS, HTTP-01 (or TLS-ALPN-01) reachability, CAA, recent failed validations (nothing is sent to the CA)')
    .requiredOption('-d, --domain <name>', 'a name to check; repeat for more', collect)
    .option('-w, --webroot <dir>', 'document root served for these names; a probe file goes under .well-known/acme-challenge/ and is removed afterwards')
    .option('--force-webroot', 'accept a webroot that looks like a system directory (/, /etc, /usr, $HOME, the state directory…)')
    .option('--standalone [addr:port]', 'serve the probe from a temporary server, as `issue --standalone` will (default 0.0.0.0:80)')
    .option('--standalone-tls [addr:port]', 'check TLS-ALPN-01 instead: serve a probe certificate on ALPN acme-tls/1 from a temporary responder, as `issue --standalone-tls` will (default 0.0.0.0:443)')
    .option('--tls-port <port>', 'port the CA connects to for TLS-ALPN-01 (default 443; for port forwards and test setups)')
    .option('--resolver <host:port>', 'DNS server to ask (default: the system resolver)')
    .option('--http-port <port>', 'port the CA fetches http:// from (default 80; for test setups)')
    .option('--https-port <port>', 'port the CA follows https:// redirects to (default 443; for test setups)')
    .option('--ca <id>', 'CA by id, for its CAA identity (certctl ca list, or a custom CA of the config file; default letsencrypt), or a fail-over list --ca letsencrypt,zerossl: CAA is checked for each CA of it')
    .option('--server <url>', 'ACME directory URL instead of --ca')
    .option('--caa-identity <domain>', "the CA's CAA issuer domain, when the CA profile has none (repeatable)", collect)
    .option('--timeout <seconds>', 'limit for each DNS question and HTTP request (default 5)');
  addDnsOptions(cmd)
    .addHelpText(
      'after',
      `
Checks, per name:
  dns       the name has A/AAAA records (time-out, SERVFAIL, NXDOMAIN and "no record" told apart)
  http01    a random probe file is fetched at http://NAME/.well-known/acme-challenge/… through the
            name's DNS answer, following redirects as the CA does (http/https, ports 80/443, ≤ 10)
  tlsalpn01 (with --standalone-tls, instead of http01) a probe certificate is served on ALPN acme-tls/1
            and certctl connects to NAME's address on port 443 (--tls-port) with SNI NAME: it must
            get that certificate (critical acmeIdentifier extension, the right SHA-256 digest)
  caa       CAA records (RFC 8659) from the name up to its registered domain allow the CA
  dns01     (with --dns) _acme-challenge's zone and every authoritative nameserver found, a probe TXT
            record written through the method, answered by every nameserver address, and removed
  failures  the ledger shows fewer failed validations in the last hour than the CA allows (5)
With --dns, dns and http01 are skipped (the CA looks up TXT _acme-challenge) and wildcards are allowed;
CAA uses issuewild for a wildcard.
Examples:
  certctl check -d mail.example.com --standalone-tls
  certctl check -d example.com -d '*.example.com' --dns rfc2136 --dns-server ns1.example.com --tsig-key /etc/bind/certctl.key
Exit code 0 when every check passes, 6 when one fails, 2 for bad input.`,
    )
    .action(
      action(async (ctx, opts: CheckOptions) => {
        const { runCheck } = await import('../run/check.js');
        return runCheck(ctx, opts);
      }),
    );
}
