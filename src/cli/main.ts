/**
 * The command line: commander wiring only. Each command lives in
 * src/cli/commands/<name>.ts and exports `register(program)`; heavy modules
 * (acme-client, SQLite, crypto) are imported inside actions so `--version`
 * and `--help` start fast.
 */
import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { ExitCode } from '../core/errors.js';
import { installPipeGuards, write } from './output.js';
import { markStartup } from '../core/timeline.js';

const require = createRequire(import.meta.url);
/** Set by the bundler (scripts/bundle.mjs `define`): the bundled CLI reads no package.json at start-up. */
declare const CERTCTL_VERSION: string | undefined;
const version: string = typeof CERTCTL_VERSION === 'string' ? CERTCTL_VERSION : (require('../../package.json') as { version: string }).version;

export const EXIT_CODES_HELP = `
Coming from certbot? certctl migrate certbot --dry-run lists the switch (certbot's
live/ paths keep working, certbot stops renewing them; --revert undoes it).

Exit codes:
  0  success (or: plan says allowed)          5  refused by the CA: rate limited (429)
  1  internal error                           6  readiness check failed, nothing ordered
  2  bad input or configuration               7  the CA could not validate a challenge
  3  nothing to do (already held / duplicate) 8  other CA error, or CA unreachable
  4  blocked: a rate limit is predicted       9  another certctl run holds the lock
 10  the state dir or ledger cannot be used (damaged, not certctl's, read-only, disk full,
     or a shared PostgreSQL ledger unreachable: live/ files left as they are)
 130  stopped by SIGINT (Ctrl-C)     143  stopped by SIGTERM   (issue, renew: the next run resumes the order)
`;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('certctl')
    .description('ACME client with a ledger: predicts rate limits before asking, never orders what it already holds.')
    .version(version, '-V, --version')
    .option('--state-dir <dir>', 'state directory (ledger, accounts, live/, archive/); default /var/lib/certctl for root, $XDG_STATE_HOME/certctl otherwise; env CERTCTL_HOME')
    .option('--ledger <file|url>', 'the ledger: a SQLite file (default <state-dir>/ledger.sqlite) or postgres://user@host/db, one ledger shared by a fleet (docs/fleet.md); env CERTCTL_LEDGER')
    .option('--host <name>', 'this host\'s name in a fleet sharing a PostgreSQL ledger (default: the hostname); env CERTCTL_HOST')
    .option('--fleet-key <file>', 'the fleet key (mode 0600) sealing the keys a shared PostgreSQL ledger keeps; env CERTCTL_FLEET_KEY_FILE, or fleetKey: in the config (docs/fleet.md)')
    .option('--config <file>', 'config file (YAML or JSON); default /etc/certctl/config.yaml for root, $XDG_CONFIG_HOME/certctl/config.yaml otherwise')
    .option('--proxy <url>', 'HTTP(S) proxy for requests to the CA side (ACME, ARI, CT): http://host:port ("" = direct); default the config\'s proxy:, else HTTPS_PROXY/https_proxy, ALL_PROXY; NO_PROXY honoured; readiness checks always go direct (docs/proxy.md)')
    .option('--json', 'print one JSON document (schemas in docs/json.md)')
    .option('-q, --quiet', 'print nothing unless something needs attention')
    .option('-v, --verbose', 'show each ACME request (never keys or tokens) on stderr')
    .addOption(new Option('--no-color', 'never colour the output (also NO_COLOR)'))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES_HELP);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  markStartup();
  installPipeGuards();
  // `certctl --version` alone: answered before commander and the ten command modules load
  // (a third of certctl's start-up; BENCHMARKS.md "cold start"). Same output as commander's.
  if (argv.length === 3 && (argv[2] === '--version' || argv[2] === '-V')) {
    write(process.stdout, version + '\n');
    return;
  }
  const program = buildProgram();
  // With --json a usage error is a certctl.error/1 document on stdout like every other error, not
  // commander's text on stderr: scripts parse one thing. (Help asked for is still help.)
  const json = argv.slice(2).includes('--json');
  let usageError = '';
  if (json) {
    program.configureOutput({
      outputError: (text) => (usageError ||= text),
      writeErr: (text) => {
        if (!usageError) usageError = text;
      },
    });
  }
  // Set before the commands are added: subcommands inherit it (and the output above), so a usage error anywhere exits 2.
  program.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
      if (usageError) write(process.stderr, usageError); // help commander sent to stderr (no command given): not an error
      process.exit(ExitCode.OK);
    }
    if (json) {
      const message = (usageError || err.message).trim().split('\n')[0]!.replace(/^error: /, '');
      const doc = { schema: 'certctl.error/1', error: { kind: 'UsageError', message: `${message[0]?.toUpperCase() ?? ''}${message.slice(1)}.`.replace(/\.\.$/, '.'), hint: 'Run the command with --help for its usage.', exitCode: ExitCode.CONFIG } };
      write(process.stdout, JSON.stringify(doc, null, 2) + '\n');
    }
    process.exit(ExitCode.CONFIG);
  });
  const { registerFor } = await import('./commands/index.js');
  await registerFor(program, argv.slice(2));
  await program.parseAsync(argv);
}
