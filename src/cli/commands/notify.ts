/**
 * `certctl notify test [--target NAME]`: one test message to each target of
 * the config's `notify:` (docs/notify.md), each target's result. Nothing is
 * recorded in the ledger and nothing is sent to a CA.
 */
import type { Command } from 'commander';
import { action } from '../action.js';

export function register(program: Command): void {
  const notify = program.command('notify').description("notifications (config notify:): webhook, e-mail and command targets told when a renewal fails or will be blocked (docs/notify.md)");
  notify
    .command('test')
    .description('send a test message to each notification target of the config file and report what each answered')
    .option('--target <name...>', 'only these targets (their config `name`, or webhook-1, email-1, command-1 …)')
    .addHelpText(
      'after',
      `
Example:
  certctl --config /etc/certctl/config.yaml notify test
Exit 0 every target took the message; 1 at least one did not (each result
says what it answered: HTTP status, SMTP reply, exit code); 2 no notify:
targets in the config (or no target of that name), nothing sent.
JSON: --json prints certctl.notify-test/1 (docs/json.md).`,
    )
    .action(action(async (ctx, opts: { target?: string[] }) => (await import('../run/notify.js')).runNotifyTest(ctx, opts)));
}
