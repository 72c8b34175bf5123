/**
 * `certctl import certbot [dir]` and `certctl import pem <files…>`:
 * certificates certctl did not issue, into the ledger (counted by the
 * planner) and, for certbot lineages certctl can renew, into certctl's own
 * live/ and archive/. Reads only; never changes the source files. Idempotent.
 * `certctl import state`: the state directory's own archive/ lineages back
 * into a ledger that lost or never had them (src/core/import/state.ts).
 */
import { Option, type Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const imp = program.command('import').description("bring certificates certctl did not issue into the ledger (and certbot's lineages into certctl's)");
  imp
    .command('certbot')
    .description("import certbot's lineages (renewal/*.conf, live/, archive/): every archived certificate counted, current version adopted as a certctl lineage")
    .argument('[dir]', "certbot's config directory", '/etc/letsencrypt')
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for the lineages’ ACME server when certctl renews them (private CAs: Pebble, step-ca)')
    .option('-w, --webroot <dir>', 'renew every imported lineage with this webroot (also adopts lineages whose certbot authenticator was nginx/apache/manual)')
    .option('--force-webroot', 'accept a --webroot that looks like a system directory (/, /etc, /usr, $HOME, the state directory…)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120))
    .addHelpText(
      'after',
      `
certbot's files are only read. Afterwards certctl renews the adopted lineages
(certctl renew): disable certbot's timer (systemctl disable --now certbot.timer)
so both do not renew the same certificate. Running the import again adds only
what is new. To switch completely — certbot's live/ paths following certctl's
certificate, certbot no longer renewing them, reversible: certctl migrate certbot.`,
    )
    .action(
      action(async (ctx, dir: string, opts: { caBundle?: string; webroot?: string; forceWebroot?: boolean; lockWait: number }) => (await import('../run/import.js')).runImportCertbot(ctx, dir, opts)),
    );

  imp
    .command('state')
    .description("re-adopt the state directory's own lineages (archive/, live/) into a ledger that lost them: every archived version counted, the version live/ points at current")
    .option('--server <url>', 'the ACME directory the lineages renew at (default: recognised from the issuer, e.g. Let’s Encrypt)')
    .option('--ca <id>', 'the CA they renew at, by name')
    .option('-w, --webroot <dir>', 'how certctl answers their HTTP-01 challenge when renewing: this webroot')
    .option('--standalone [addr:port]', 'or: certctl serves the challenge itself (default 0.0.0.0:80)')
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for that ACME server when renewing (private CAs: Pebble, step-ca)')
    .addOption(new Option('--lock-wait <seconds>', 'wait this long for another certctl run to finish').default(120).argParser(Number))
    .addHelpText(
      'after',
      `
For a ledger that was lost (deleted, emptied by a full disk, moved away as
damaged) or replaced by an older copy: certctl refuses to order names it
finds certificates for on disk until they are back in the ledger. Only the
ledger is written; archive/ and live/ are read. The CA, webroot or
standalone address, and --ca-bundle are not in the files: give them (the CA
is recognised from the issuer for public CAs). A lineage the ledger still
knows keeps its settings and gains only the certificates it lacked.
Running it again changes nothing.`,
    )
    .action(
      action(async (ctx, opts: { server?: string; ca?: string; webroot?: string; standalone?: string | true; caBundle?: string; lockWait: number }) => (await import('../run/import.js')).runImportState(ctx, opts)),
    );

  imp
    .command('pem')
    .description('import certificates from PEM files (any client, any host) into the ledger so the limits count them')
    .argument('<files...>', 'PEM files (a chain file is fine: CA certificates in it are taken as the chain)')
    .option('--cert-name <name>', 'also adopt the (single) certificate as a certctl lineage with this name (needs --key and --webroot or --standalone)')
    .option('--key <file>', "the certificate's private key (with --cert-name)")
    .option('-w, --webroot <dir>', 'how certctl will renew the adopted lineage')
    .option('--standalone [addr:port]', 'renew the adopted lineage with certctl serving the challenge (default 0.0.0.0:80)')
    .option('--server <url>', 'the ACME directory that issued it (default: recognised from the issuer, e.g. Let’s Encrypt)')
    .option('--ca <id>', 'the CA that issued it, by name')
    .option('--ca-bundle <file>', 'PEM file of extra CA certificates to trust for that ACME server when renewing')
    .option('--force-webroot', 'accept a --webroot that looks like a system directory (/, /etc, /usr, $HOME, the state directory…)')
    .action(
      action(async (ctx, files: string[], opts: { certName?: string; key?: string; webroot?: string; forceWebroot?: boolean; standalone?: string | true; server?: string; ca?: string; caBundle?: string }) => (await import('../run/import.js')).runImportPem(ctx, files, opts)),
    );
}
