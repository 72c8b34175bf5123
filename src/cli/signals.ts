/**
 * SIGINT (Ctrl-C) and SIGTERM during `issue` and `renew`: the run is asked to
 * stop (core/interrupt.ts) instead of dying where it stands, so it sends
 * nothing more, removes what its challenge set up (webroot file, standalone
 * port, DNS record) through its own clean-up, says where each order stopped
 * in its journal and exits 130 (SIGINT) or 143 (SIGTERM); the next run
 * resumes from that step.
 *
 * While the CA validates a challenge already answered, the first signal
 * waits for its verdict (the response removed now would fail the
 * authorization); a second one stops at once; a third ends the process on
 * the spot (something that does not listen for the stop, e.g. a DNS lookup,
 * is taking long).
 */
import { interruption } from '../core/interrupt.js';
import { ExitCode } from '../core/errors.js';
import type { Output } from './output.js';

/** Handle SIGINT/SIGTERM for the rest of this process (one command per process). */
export function stopOnSignals(out: Output): void {
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    const code = sig === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED;
    const wasStopping = interruption.stopping;
    if (count >= 3 || (count === 2 && wasStopping)) {
      out.attention(`${sig} again: stopping now, without waiting. The next run resumes from the order journal.`);
      process.exit(code);
    }
    const state = interruption.request(sig);
    if (state === 'waiting') {
      out.attention(`${sig}: stopping once the CA has judged the challenge answered (removed now, the authorization would fail); ${sig === 'SIGINT' ? 'press Ctrl-C' : 'send SIGTERM'} again to stop at once.`);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
