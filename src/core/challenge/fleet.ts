/**
 * HTTP-01 for a fleet (lineage challenge `fleet`, `certctl issue --serve`): the
 * ordering host writes each pending challenge's key authorization to the
 * shared ledger (http_challenges), and `certctl serve` on every host answers
 * /.well-known/acme-challenge/TOKEN from there — so a load balancer may send
 * the CA's request to any host. Its readiness check is the HTTP-01 probe,
 * published through the ledger and fetched through the name's DNS as the
 * CA's validator will; waitReady fetches the real key authorization the same
 * way before the CA is told to look, so the challenge is never answered when
 * the host the name points at does not serve it (no failed authorization).
 *
 * A key authorization is only useful while its challenge is pending: the row
 * is deleted at clean-up, and the token and key authorization are registered
 * as secrets (redact.ts) so no log line shows them. A crash leaves rows: the
 * next run of the lineage re-presents what its resumed order needs and
 * removes the rest (close).
 */
import type { Ledger } from '../ledger/ledger.js';
import type { Challenge, ChallengeSolver, SolverPrecheckInput } from './solver.js';
import type { PrecheckRun } from '../precheck/index.js';
import { checkToken } from '../http01.js';
import { registerSecret } from '../redact.js';
import { InputError, PrecheckError } from '../errors.js';

/** How long waitReady keeps fetching before it gives up (serve answers from the ledger at once; this covers a slow load balancer). */
const READY_TIMEOUT_MS = 20_000;

export interface FleetSolverDeps {
  ledger: Ledger;
  lineage: string;
  now: () => number;
  log: (line: string) => void;
  resolver?: string;
  /** The port the CA fetches http:// from (80; the lineage's httpPort in tests). */
  httpPort?: number;
}

export class FleetHttp01Solver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  readonly checkHint = 'certctl check -d NAME --serve (is certctl serve running on the host NAME points at, on the same ledger?)';
  private readonly presented = new Set<string>();
  private leftovers: string[] = [];

  constructor(private readonly d: FleetSolverDeps) {}

  private assertFleet(): void {
    if (this.d.ledger.backend !== 'postgres') {
      throw new InputError(`The lineage ${this.d.lineage} answers HTTP-01 through certctl serve, which needs the fleet's shared PostgreSQL ledger; this ledger is ${this.d.ledger.file}.`, 'Use --ledger postgres://… (docs/fleet.md), or issue it again with --webroot or --standalone.');
    }
  }

  async precheck(input: SolverPrecheckInput): Promise<PrecheckRun> {
    this.assertFleet();
    const { runPrechecks } = await import('../precheck/index.js');
    const { ledger, lineage } = this.d;
    return runPrechecks({
      ...input,
      httpPort: input.httpPort ?? this.d.httpPort,
      fleet: {
        put: (token, content) => ledger.putHttpChallenge({ token, key_authorization: content, lineage, identifier: '(probe)', host: ledger.host, created_at: this.d.now() }),
        remove: (token) => ledger.deleteHttpChallenge(token),
      },
    });
  }

  async prepare(): Promise<void> {
    this.assertFleet();
    // Rows a killed run left (its order may be resumed now: present takes over what it needs).
    this.leftovers = this.d.ledger.httpChallenges(this.d.lineage).map((r) => r.token);
  }

  async present(ch: Challenge): Promise<void> {
    const token = checkToken(ch.token);
    registerSecret(token);
    registerSecret(ch.keyAuthorization);
    this.d.ledger.putHttpChallenge({ token, key_authorization: ch.keyAuthorization, lineage: this.d.lineage, identifier: ch.identifier, host: this.d.ledger.host, created_at: this.d.now() });
    this.presented.add(token);
  }

  /** Fetch the key authorization through the name's DNS, as the CA will, until it is served (or READY_TIMEOUT_MS). */
  async waitReady(ch: Challenge): Promise<void> {
    const [{ DnsClient, lookupAddresses }, { fetchProbe }] = await Promise.all([import('../precheck/dns.js'), import('../precheck/http01.js')]);
    const dns = new DnsClient({ resolver: this.d.resolver, timeoutMs: 5000 });
    const probe = { token: ch.token, content: ch.keyAuthorization };
    const opts = { httpPort: this.d.httpPort ?? 80, httpsPort: 443, requestTimeoutMs: 5000, totalTimeoutMs: 15_000 };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = '';
    for (let delay = 250; ; delay = Math.min(2000, delay * 2)) {
      const lookup = await lookupAddresses(dns, ch.identifier);
      const f = await fetchProbe(dns, ch.identifier, probe, lookup, opts);
      if (f.ok) return;
      last = f.detail;
      if (Date.now() + delay > deadline) break;
      await new Promise((r) => setTimeout(r, delay));
    }
    throw new PrecheckError(
      `${ch.identifier} does not serve this challenge from the ledger: ${last}.`,
      `Run certctl serve (or the daemon with --serve) on the host ${ch.identifier} points at, with the same ledger.`,
    );
  }

  async cleanup(ch: Challenge): Promise<void> {
    this.d.ledger.deleteHttpChallenge(ch.token);
    this.presented.delete(ch.token);
  }

  async close(): Promise<void> {
    for (const t of new Set([...this.presented, ...this.leftovers])) {
      try {
        this.d.ledger.deleteHttpChallenge(t);
      } catch {
        /* the ledger is gone: the next run of the lineage removes it */
      }
    }
    this.presented.clear();
    this.leftovers = [];
  }
}
