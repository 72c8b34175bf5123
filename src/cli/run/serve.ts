/** `certctl serve`: the fleet's HTTP-01 responder on this host, until a signal. */
import path from 'node:path';
import { assertFleetKeyGiven, type Context } from '../context.js';
import { InputError, ExitCode } from '../../core/errors.js';
import { parseListen } from '../../core/http01.js';
import * as v from '../validate.js';
import type { Ledger } from '../../core/ledger/ledger.js';

export interface ServeOptions {
  listen?: string;
  webroot?: string;
}

/** The listen address and webroot, checked before the ledger is opened (exit 2). */
export function serveSettings(o: ServeOptions, flag = '--listen'): { host: string; port: number; webroot?: string } {
  let where;
  try {
    where = parseListen(o.listen === undefined ? undefined : v.plain(o.listen, flag));
  } catch {
    throw new InputError(`${flag} ${JSON.stringify(o.listen)} is not a listen address.`, `Use ${flag} PORT or ${flag} ADDR:PORT, e.g. ${flag} 0.0.0.0:80.`);
  }
  if (o.webroot !== undefined && o.webroot.trim() === '') throw new InputError('--webroot is empty.', 'Give --webroot the directory your web server serves, or leave it out.');
  return { ...where, ...(o.webroot !== undefined ? { webroot: path.resolve(v.plain(o.webroot, '--webroot')!) } : {}) };
}

/** Only a shared ledger holds the fleet's challenges (a SQLite ledger is one host's: it answers its own). */
export function assertServable(ledger: Ledger): void {
  if (ledger.backend !== 'postgres') {
    throw new InputError(`certctl serve answers HTTP-01 from a fleet's shared PostgreSQL ledger, and ${ledger.file} is a SQLite file.`, 'Give --ledger postgres://… (or CERTCTL_LEDGER) as every host of the fleet does; a single host uses --webroot or --standalone.');
  }
}

export async function runServe(ctx: Context, o: ServeOptions): Promise<number> {
  const where = serveSettings(o);
  if (where.webroot) {
    const { assertDocumentRoot, assertWebrootWritable } = await import('../../core/http01.js');
    assertDocumentRoot(where.webroot, ctx.paths.root, false, '--webroot');
    assertWebrootWritable(where.webroot);
  }
  const ledger = await ctx.ledger();
  assertServable(ledger);
  // A host of the fleet without its key is refused as renew and the daemon are (one sentence, exit 2):
  // with --webroot it would write, and the daemon's --serve needs the key anyway.
  assertFleetKeyGiven(ledger);
  const { startChallengeResponder } = await import('../../core/fleet/serve.js');
  const responder = await startChallengeResponder(ledger, { ...where, log: (l) => ctx.out.info(l) });
  ctx.out.info(`certctl serve (pid ${process.pid}, host ${ledger.host}): answering /.well-known/acme-challenge/ on ${responder.address} from the ledger${where.webroot ? `, and writing them under ${where.webroot}` : ''}`);
  const sig = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await responder.close();
  ctx.out.info(`certctl serve stopped (${sig})`);
  return ExitCode.OK;
}
