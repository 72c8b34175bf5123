/**
 * Twice-daily schedules as the well-known clients install them: a random
 * minute and a random hour, the second run 12 hours after the first, so a
 * fleet does not reach the CA at the same moment (acme.sh --install-cronjob,
 * certbot's distro timers). Also the /etc/cron.d file and the `cron`
 * package's parser behind `certctl daemon --schedule`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CronTime } from 'cron';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import type { Schedule } from './wake.js';

export interface TwiceDaily {
  minute: number;
  hours: [number, number];
}

/** A random minute (0-59) and two hours 12 apart. `rand(n)` gives an integer in [0, n). */
export function randomTwiceDaily(rand: (n: number) => number = (n) => crypto.randomInt(n)): TwiceDaily {
  const h = rand(12);
  return { minute: rand(60), hours: [h, h + 12] };
}

/** "17 3,15 * * *" */
export function cronExpression(t: TwiceDaily): string {
  return `${t.minute} ${t.hours[0]},${t.hours[1]} * * *`;
}

/** Quote a word for /bin/sh only when it needs it. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Directories cron's default PATH has: a node there is found through the script's #! line. */
const CRON_PATH = ['/usr/bin', '/bin', '/usr/local/bin'];

/**
 * The command cron runs: the certctl script by its absolute path (with the
 * node binary in front when node is not on cron's short PATH, or the script
 * is not executable), then `args`.
 */
export function certctlCommand(args: string[], bin: { node: string; script: string } = { node: process.execPath, script: process.argv[1] ?? 'certctl' }): string {
  const script = path.resolve(bin.script);
  let executable = true;
  try {
    fs.accessSync(script, fs.constants.X_OK);
  } catch {
    executable = false;
  }
  const viaPath = executable && CRON_PATH.includes(path.dirname(bin.node));
  return [...(viaPath ? [] : [bin.node]), script, ...args].map(shellWord).join(' ');
}

/**
 * One crontab line; with `user`, the /etc/cron.d form (a user field after the five time fields).
 * cron turns every unescaped "%" of a command into a line break (even inside quotes), so a hook
 * such as `date +%s` would be cut: each "%" is written as "\%", which cron gives the shell as "%".
 */
export function cronLine(t: TwiceDaily, command: string, user?: string): string {
  return `${cronExpression(t)} ${user ? `${user} ` : ''}${command.replace(/%/g, '\\%')}`;
}

/** The whole /etc/cron.d/certctl file. */
export function cronFile(t: TwiceDaily, command: string): string {
  return [
    '# certctl: renew what is due, twice a day at a random minute (written by `certctl cron install`).',
    '# certctl also waits a random 1-480 s first when not on a terminal, so hosts do not reach the CA together.',
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '',
    cronLine(t, command, 'root'),
    '',
  ].join('\n');
}

/** The time of an existing certctl line in a cron file, so installing again keeps it. */
export function existingTime(text: string): TwiceDaily | null {
  for (const line of text.split('\n')) {
    const m = /^(\d{1,2}) (\d{1,2}),(\d{1,2}) \* \* \* .*certctl.* renew\b/.exec(line);
    if (m) {
      const [minute, a, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (minute < 60 && a < 24 && b < 24) return { minute, hours: [a, b] };
    }
  }
  return null;
}

/** Write the cron file atomically, mode 0644 (cron ignores group/world-writable files). Returns the time used. */
export function installCronFile(file: string, command: string, t?: TwiceDaily): { time: TwiceDaily; kept: boolean } {
  let time = t;
  let kept = false;
  if (!time && fs.existsSync(file)) {
    const old = existingTime(fs.readFileSync(file, 'utf8'));
    if (old) {
      time = old;
      kept = true;
    }
  }
  time ??= randomTwiceDaily();
  writeFileAtomic(file, cronFile(time, command), 0o644);
  return { time, kept };
}

/** A cron expression (5 fields, or 6 with seconds) as a Schedule; an InputError names what is wrong. */
export function cronSchedule(expr: string, timeZone?: string): Schedule & { expr: string } {
  const v = CronTime.validateCronExpression(expr);
  if (!v.valid) throw new InputError(`"${expr}" is not a cron expression: ${v.error?.message ?? 'invalid'}.`, 'Use five fields: minute hour day-of-month month day-of-week, e.g. "17 3,15 * * *".');
  const ct = new CronTime(expr, timeZone ?? null);
  return {
    expr,
    next(after: number): number {
      return ct.getNextDateFrom(new Date(after)).toMillis();
    },
  };
}
