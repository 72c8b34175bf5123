/**
 * The solver a lineage's settings name (lineages.challenge): HTTP-01 by its
 * webroot or standalone on its address, or TLS-ALPN-01 on its address
 * (--standalone-tls). One place, so obtain (which presents) and the gate
 * (which runs the readiness check) always pick the same one.
 */
import type { ChallengeSolver } from './solver.js';
import type { LineageRow } from '../ledger/ledger.js';
import { parseListen } from '../http01.js';
import { Http01StandaloneSolver, Http01WebrootSolver } from './http01.js';
import { TlsAlpn01Solver } from './tlsalpn01.js';

/** `readiness: false` (--no-precheck): the solver's own probe before answering is skipped too (recorded on the order). */
export function solverFor(l: Pick<LineageRow, 'challenge' | 'webroot' | 'standalone_addr' | 'names' | 'settings'>, o: { readiness?: boolean } = {}): ChallengeSolver {
  if (l.challenge === 'webroot') return new Http01WebrootSolver(l.webroot!);
  if (l.challenge === 'standalone-tls') {
    const { host, port } = parseListen(l.standalone_addr ?? undefined, 'tls');
    return new TlsAlpn01Solver({ host, port, names: l.names, tlsPort: l.settings.tlsPort, resolver: l.settings.resolver, readiness: o.readiness });
  }
  const { host, port } = parseListen(l.standalone_addr ?? undefined);
  return new Http01StandaloneSolver(host, port);
}
