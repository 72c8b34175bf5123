/**
 * A host's name in a fleet: `--host NAME`, else CERTCTL_HOST, else the
 * machine's hostname. It names the host in the ledger (lineage_hosts: who
 * deploys what, which version each wrote; who renewed last), so it must be
 * stable and unique per host: a DNS-style label sequence, nothing a terminal
 * or a metrics label could misread.
 */
import os from 'node:os';
import { InputError } from '../errors.js';

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62})$/;

export function assertHostName(name: string, where = '--host'): string {
  if (!HOST_NAME.test(name)) {
    throw new InputError(`${where} ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not a host name certctl accepts: 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit.`, 'Give each host of the fleet a short stable name, e.g. --host web1 (or CERTCTL_HOST=web1).');
  }
  return name;
}

/** --host wins, then CERTCTL_HOST, then os.hostname() (its first label when the full name is not acceptable). */
export function resolveHostName(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined) return assertHostName(flag);
  if (env.CERTCTL_HOST) return assertHostName(env.CERTCTL_HOST, 'CERTCTL_HOST');
  const h = os.hostname();
  return HOST_NAME.test(h) ? h : assertHostName(h.split('.')[0] ?? h, 'The hostname');
}
