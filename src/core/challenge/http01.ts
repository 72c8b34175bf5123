/**
 * HTTP-01 solvers: put the key authorization where the CA will fetch it
 * (a webroot served by the site's web server, or certctl's own standalone
 * server), and take it away afterwards. Their readiness check is the
 * precheck's HTTP-01 probe (precheck/http01.ts), fetched the way the CA's
 * validator will, before any order exists; presenting is synchronous (a file
 * written, a token set), so waitReady has nothing left to wait for.
 */
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../store/atomic.js';
import { CHALLENGE_DIR, checkToken, assertWebrootWritable, Http01Server } from '../http01.js';
import type { Challenge, ChallengeSolver, SolverPrecheckInput } from './solver.js';
import type { PrecheckRun } from '../precheck/index.js';

async function precheckWith(input: SolverPrecheckInput, where: { webroot?: string; standalone?: { host: string; port: number } }): Promise<PrecheckRun> {
  const { runPrechecks } = await import('../precheck/index.js');
  return runPrechecks({ ...input, ...where });
}

/**
 * Writes <webroot>/.well-known/acme-challenge/<token>. The directories it
 * had to create are removed again when the last token is cleaned up (and on
 * close, whatever happened) — only those, and only if empty — so a webroot
 * given by mistake is left as it was found.
 */
export class Http01WebrootSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  private readonly created: string[] = [];
  private readonly present_ = new Set<string>();
  constructor(private readonly webroot: string) {}

  precheck(input: SolverPrecheckInput): Promise<PrecheckRun> {
    return precheckWith(input, { webroot: this.webroot });
  }

  async prepare(): Promise<void> {
    assertWebrootWritable(this.webroot);
  }

  private file(token: string): string {
    return path.join(this.webroot, CHALLENGE_DIR, checkToken(token));
  }

  async present(ch: Challenge): Promise<void> {
    const file = this.file(ch.token);
    for (const d of [path.join(this.webroot, '.well-known'), path.join(this.webroot, CHALLENGE_DIR)]) {
      try {
        fs.mkdirSync(d, { mode: 0o755 });
        this.created.push(d);
        fs.chmodSync(d, 0o755);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    this.present_.add(ch.token);
    // Whole while it is served, never needed after a power cut (the next run writes it again): no fsyncs.
    writeFileAtomic(file, ch.keyAuthorization, 0o644, { durable: false });
  }

  async waitReady(): Promise<void> {}

  async cleanup(ch: Challenge): Promise<void> {
    fs.rmSync(this.file(ch.token), { force: true });
    this.present_.delete(ch.token);
    if (this.present_.size === 0) this.removeCreated();
  }

  async close(): Promise<void> {
    for (const t of [...this.present_]) fs.rmSync(this.file(t), { force: true });
    this.present_.clear();
    this.removeCreated();
  }

  private removeCreated(): void {
    while (this.created.length) {
      const d = this.created.pop()!;
      try {
        fs.rmdirSync(d);
      } catch {
        /* not empty (someone else's file) or gone: leave it */
      }
    }
  }
}

/** Serves /.well-known/acme-challenge/<token> itself on host:port (the one Http01Server, listening from prepare() to close()). */
export class Http01StandaloneSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  private server?: Http01Server;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  precheck(input: SolverPrecheckInput): Promise<PrecheckRun> {
    return precheckWith(input, { standalone: { host: this.host, port: this.port } });
  }

  async prepare(): Promise<void> {
    this.server ??= await Http01Server.listen(this.host, this.port);
  }

  async present(ch: Challenge): Promise<void> {
    await this.prepare();
    this.server!.set(checkToken(ch.token), ch.keyAuthorization);
  }

  async waitReady(): Promise<void> {}

  async cleanup(ch: Challenge): Promise<void> {
    this.server?.delete(ch.token);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.close();
  }
}
