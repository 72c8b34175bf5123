/**
 * `certctl fleet key init FILE` and `certctl fleet key rotate --new FILE`: the fleet key that seals
 * every private key a shared PostgreSQL ledger keeps (docs/fleet.md). The key lives in a file on
 * each host (0600), never in the database.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const fleet = program.command('fleet').description('a fleet of hosts on one PostgreSQL ledger: the fleet key (docs/fleet.md)');
  const key = fleet.command('key').description('the fleet key sealing the certificate and account keys the shared ledger keeps');
  key
    .command('init')
    .description('write a new fleet key (32 random bytes, mode 0600) to FILE; refuses to overwrite one')
    .argument('<file>', 'where to write it, e.g. /etc/certctl/fleet.key')
    .addHelpText(
      'after',
      `
Then copy FILE (mode 0600, e.g. with scp) to every host of the fleet and point certctl at it:
  certctl fleet key init /etc/certctl/fleet.key
  export CERTCTL_FLEET_KEY_FILE=/etc/certctl/fleet.key   # or --fleet-key, or fleetKey: in the config
  export CERTCTL_LEDGER=postgres://certctl@db.internal/certctl
  certctl --host web1 issue -d example.com --webroot /var/www/html
The key never enters the database; without it the ledger's keys cannot be read.`,
    )
    .action(action(async (ctx, file: string) => (await import('../run/fleet.js')).runFleetKeyInit(ctx, file)));
  key
    .command('rotate')
    .description("re-seal every key the ledger keeps with a new fleet key, in one transaction (needs the current key: --fleet-key)")
    .requiredOption('--new <file>', 'the new fleet key (written by certctl fleet key init)')
    .addHelpText(
      'after',
      `
  certctl fleet key init /etc/certctl/fleet.key.new
  certctl --fleet-key /etc/certctl/fleet.key fleet key rotate --new /etc/certctl/fleet.key.new
Then give every host the new file (mv fleet.key.new fleet.key): a host still holding the old key is
refused (exit 2) and changes nothing until it has the new one.`,
    )
    .action(action(async (ctx, opts: { new: string }) => (await import('../run/fleet.js')).runFleetKeyRotate(ctx, opts)));
}
