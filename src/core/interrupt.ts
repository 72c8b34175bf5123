/**
 * Stopping a run on request (the CLI's SIGINT/SIGTERM, or a library caller):
 * nothing more is sent to the CA, the request in flight is abandoned (the
 * order journal already holds every step before its request, so the next run
 * resumes), and the run unwinds through its own `finally`s, so what a solver
 * set up is cleaned up as on any error (webroot file, standalone port, DNS
 * record) — then the caller reports where each order stopped.
 *
 * One exception: between answering a challenge and the CA's verdict on it,
 * the challenge must stay served — removed early, the CA fails the
 * authorization (a failed validation counts against the account). A stop
 * asked for then waits for the verdict (`protect`); a second request stops at
 * once.
 *
 * One per process (as the run lock's holds and obtain's journalling mutex):
 * a signal stops the whole process, every lineage of it.
 */
import { CertctlError, ExitCode } from './errors.js';

/** Where one order of a lineage stood when the run stopped (its journal step). */
export interface StoppedOrder {
  lineage: string;
  orderId: number;
  step: string;
}

/** The run was stopped on request (a signal); `stopped` says where each order was. */
export class InterruptedError extends CertctlError {
  readonly signal: string;
  readonly stopped: StoppedOrder[];
  /** True when a request was in flight and abandoned (the CA may have acted on it). */
  abandonedRequest = false;
  constructor(signal: string, stopped: StoppedOrder[] = []) {
    const code = signal === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED;
    const where = stopped.map((s) => `${s.lineage} (order ${s.orderId}) at step ${s.step}`);
    super(
      stopped.length
        ? `Stopped by ${signal}: the order of ${where.join(', ')}; nothing more was sent to the CA.`
        : `Stopped by ${signal} before an order was sent to the CA.`,
      code,
      stopped.length
        ? 'Run the same command again (or certctl renew): it resumes the order from that step instead of ordering again. What the challenge had set up was removed.'
        : 'Nothing is left to resume; run the command again when you are ready.',
    );
    this.signal = signal;
    this.stopped = stopped;
  }
  /** The same stop, with the orders it left (deduplicated). */
  at(orders: StoppedOrder[]): InterruptedError {
    const all = [...this.stopped];
    for (const o of orders) if (!all.some((x) => x.orderId === o.orderId)) all.push(o);
    return new InterruptedError(this.signal, all);
  }
}

type Listener = () => void;

class Interruption {
  private sig: string | undefined;
  private hard = false;
  private depth = 0;
  private listeners = new Set<Listener>();

  /** The signal a stop was asked with, if any. */
  get requested(): string | undefined {
    return this.sig;
  }

  /** True when work must end now (no section is waiting for the CA's verdict, or a second request came). */
  get stopping(): boolean {
    return this.sig !== undefined && (this.hard || this.depth === 0);
  }

  /**
   * Ask the run to stop. Returns 'stopping' (the run unwinds now), 'waiting' (a challenge answered
   * is being validated: the run stops after the verdict) or 'again' (asked before: stop now).
   */
  request(signal: string): 'stopping' | 'waiting' | 'again' {
    const again = this.sig !== undefined;
    this.sig ??= signal;
    if (again) this.hard = true;
    const state = again ? 'again' : this.depth > 0 ? 'waiting' : 'stopping';
    if (this.stopping) for (const l of [...this.listeners]) l();
    return state;
  }

  /** Throw the InterruptedError when a stop is due (before each request to the CA). */
  check(): void {
    if (this.stopping) throw new InterruptedError(this.sig!);
  }

  /** `p`, or the InterruptedError as soon as a stop is due (the request in flight is abandoned). */
  async abandonable<T>(p: Promise<T>): Promise<T> {
    this.check();
    let off: Listener | undefined;
    const stopped = new Promise<never>((_, reject) => {
      off = () => reject(Object.assign(new InterruptedError(this.sig!), { abandonedRequest: true }));
      this.listeners.add(off);
    });
    p.catch(() => {}); // an abandoned request's late failure is nobody's
    try {
      return await Promise.race([p, stopped]);
    } finally {
      this.listeners.delete(off!);
    }
  }

  /** Run `fn` as a section a first stop request waits for (a challenge answered, until the CA's verdict). */
  async protect<T>(fn: () => Promise<T>): Promise<T> {
    this.depth++;
    try {
      return await fn();
    } finally {
      this.depth--;
      if (this.stopping) for (const l of [...this.listeners]) l();
    }
  }

  /** A promise that rejects with the InterruptedError once a stop is due (for waits: the random delay, the lock). */
  sleep(ms: number): Promise<void> {
    return this.abandonable(new Promise<void>((r) => setTimeout(r, ms)));
  }

  /** Forget a stop (tests, and a library caller starting a new run in the same process). */
  reset(): void {
    this.sig = undefined;
    this.hard = false;
  }
}

/** The process's one interruption state (see the file comment). */
export const interruption = new Interruption();
