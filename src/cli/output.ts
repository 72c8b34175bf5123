/**
 * Everything certctl prints goes through here: text for people (colour only
 * on a TTY and never with NO_COLOR), or one JSON document for machines.
 * JSON documents carry `schema` ("certctl.<command>/<version>") so scripts can
 * check what they parse; docs/json.md describes each one.
 */
import type { CertctlError } from '../core/errors.js';

export interface GlobalOptions {
  stateDir?: string;
  ledger?: string;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  color?: boolean;
  config?: string;
}

type Paint = (s: string) => string;
export interface Palette {
  ok: Paint;
  warn: Paint;
  bad: Paint;
  dim: Paint;
  bold: Paint;
}

const plain: Palette = { ok: (s) => s, warn: (s) => s, bad: (s) => s, dim: (s) => s, bold: (s) => s };

export function useColor(stream: NodeJS.WriteStream, opts: GlobalOptions): boolean {
  if (opts.color === false) return false;
  if ('NO_COLOR' in process.env && process.env.NO_COLOR !== '') return false;
  return Boolean(stream.isTTY);
}

export class Output {
  readonly opts: GlobalOptions;
  palette: Palette = plain;

  constructor(opts: GlobalOptions) {
    this.opts = opts;
  }

  /** Load chalk only when colour will be used (keeps `--version` and pipes fast). */
  async init(): Promise<this> {
    if (!this.opts.json && useColor(process.stdout, this.opts)) {
      const { Chalk } = await import('chalk');
      const c = new Chalk({ level: 1 });
      this.palette = { ok: c.green, warn: c.yellow, bad: c.red, dim: c.dim, bold: c.bold };
    }
    return this;
  }

  get json(): boolean {
    return Boolean(this.opts.json);
  }

  /** A normal line: suppressed by --quiet and --json. */
  info(line: string): void {
    if (!this.opts.quiet && !this.opts.json) process.stdout.write(line + '\n');
  }

  /** Something the user must see even with --quiet (not with --json: it goes in the document). */
  attention(line: string): void {
    if (!this.opts.json) process.stdout.write(line + '\n');
  }

  /** Only with --verbose; goes to stderr so it never mixes with JSON on stdout. */
  verbose(line: string): void {
    if (this.opts.verbose) process.stderr.write(this.palette.dim(line) + '\n');
  }

  /** Progress on a TTY only ("3/40 renewed"), rewritten in place; never in a pipe or with --json/--quiet. */
  progress(line: string): void {
    if (this.opts.json || this.opts.quiet || !process.stderr.isTTY) return;
    process.stderr.write('\r\x1b[K' + line);
  }

  progressDone(): void {
    if (this.opts.json || this.opts.quiet || !process.stderr.isTTY) return;
    process.stderr.write('\r\x1b[K');
  }

  /** The one JSON document of this command. */
  document(schema: string, body: Record<string, unknown>): void {
    process.stdout.write(JSON.stringify({ schema, ...body }, null, 2) + '\n');
  }

  error(err: CertctlError): void {
    if (this.opts.json) {
      process.stdout.write(
        JSON.stringify({ schema: 'certctl.error/1', error: { kind: err.name, message: err.message, hint: err.hint ?? null, exitCode: err.exitCode, ...extra(err) } }, null, 2) + '\n',
      );
      return;
    }
    process.stderr.write(this.palette.bad('error: ') + err.message + '\n');
    if (err.hint) process.stderr.write(this.palette.dim('  ' + err.hint) + '\n');
  }
}

function extra(err: CertctlError): Record<string, unknown> {
  const p = (err as unknown as { problem?: unknown }).problem;
  return p ? { problem: p } : {};
}
