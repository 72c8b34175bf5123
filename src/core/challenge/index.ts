/**
 * The solver a lineage's settings name (lineages.challenge) — the one place
 * that maps it to a ChallengeSolver: HTTP-01 by its webroot, standalone on
 * its address or through the fleet's `certctl serve` (`fleet`), TLS-ALPN-01 on its address (--standalone-tls), or DNS-01 by
 * the method in its settings. obtain (which presents) and the gate (which
 * runs the readiness check) always pick the same one.
 */
import type { Ledger, LineageRow } from '../ledger/ledger.js';
import { InputError } from '../errors.js';
import type { ChallengeSolver } from './solver.js';
import { parseListen } from '../http01.js';
import { Http01StandaloneSolver, Http01WebrootSolver } from './http01.js';
import { TlsAlpn01Solver } from './tlsalpn01.js';
import { Dns01ChallengeSolver } from './dns01.js';
import { FleetHttp01Solver } from './fleet.js';

export interface SolverDeps {
  ledger: Ledger;
  now: () => number;
  log: (line: string) => void;
  /** host:port of the resolver (--resolver) for DNS-01 zone discovery. */
  resolver?: string;
  /** false (--no-precheck): TLS-ALPN-01's own probe before answering is skipped too (recorded on the order). */
  readiness?: boolean;
}

export function solverFor(l: LineageRow, deps: SolverDeps): ChallengeSolver {
  if (l.challenge === 'webroot') return new Http01WebrootSolver(l.webroot!);
  // HTTP-01 answered by `certctl serve` on every fleet host, from the ledger (challenge/fleet.ts).
  if (l.challenge === 'fleet') return new FleetHttp01Solver({ ledger: deps.ledger, lineage: l.name, now: deps.now, log: deps.log, resolver: deps.resolver ?? l.settings.resolver, httpPort: l.settings.httpPort });
  if (l.challenge === 'dns') {
    if (!l.settings.dns) throw new InputError(`The lineage ${l.name} is set to DNS-01 but its settings name no DNS method.`, 'Run certctl issue for it again with --dns METHOD and its options.');
    return new Dns01ChallengeSolver(l.settings.dns, l.names, { ledger: deps.ledger, lineage: l.name, now: deps.now, log: deps.log, resolver: deps.resolver ?? l.settings.resolver });
  }
  if (l.challenge === 'standalone-tls') {
    const { host, port } = parseListen(l.standalone_addr ?? undefined, 'tls');
    return new TlsAlpn01Solver({ host, port, names: l.names, tlsPort: l.settings.tlsPort, resolver: l.settings.resolver, readiness: deps.readiness });
  }
  const { host, port } = parseListen(l.standalone_addr ?? undefined);
  return new Http01StandaloneSolver(host, port);
}
