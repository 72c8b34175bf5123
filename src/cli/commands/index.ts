/** One line per command; each file owns its options and help. */
import type { Command } from 'commander';
import { register as issue } from './issue.js';
import { register as check } from './check.js';
import { register as csr } from './csr.js';
import { register as status } from './status.js';
import { register as plan } from './plan.js';
import { register as limits } from './limits.js';
import { register as renew } from './renew.js';
import { register as apply } from './apply.js';
import { register as cron } from './cron.js';
import { register as daemon } from './daemon.js';
import { register as metrics } from './metrics.js';
import { register as sync } from './sync.js';
import { register as importCmd } from './import.js';

export function registerAll(program: Command): void {
  issue(program);
  check(program);
  csr(program);
  status(program);
  plan(program);
  limits(program);
  renew(program);
  apply(program);
  cron(program);
  daemon(program);
  metrics(program);
  sync(program);
  importCmd(program);
}
