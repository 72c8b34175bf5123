/**
 * The solver a lineage's settings name — the one place that maps a
 * lineage's `challenge` to a ChallengeSolver (obtain runs it for the order,
 * the gate for the readiness check).
 */
import type { Ledger, LineageRow } from '../ledger/ledger.js';
import { InputError } from '../errors.js';
import type { ChallengeSolver } from './solver.js';
import { solverFor as http01SolverFor } from './http01.js';
import { Dns01ChallengeSolver } from './dns01.js';

export interface SolverDeps {
  ledger: Ledger;
  now: () => number;
  log: (line: string) => void;
  /** host:port of the resolver (--resolver) for DNS-01 zone discovery. */
  resolver?: string;
}

export function solverFor(l: LineageRow, deps: SolverDeps): ChallengeSolver {
  if (l.challenge === 'dns') {
    if (!l.settings.dns) throw new InputError(`The lineage ${l.name} is set to DNS-01 but its settings name no DNS method.`, 'Run certctl issue for it again with --dns METHOD and its options.');
    return new Dns01ChallengeSolver(l.settings.dns, l.names, { ledger: deps.ledger, lineage: l.name, now: deps.now, log: deps.log, resolver: deps.resolver ?? l.settings.resolver });
  }
  return http01SolverFor(l);
}
