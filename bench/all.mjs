#!/usr/bin/env node
/**
 * Every benchmark, one after the other (they must not overlap: 2 cores), each
 * printing its own table and updating its section of BENCHMARKS.md; a summary
 * at the end; exit 1 if any missed a target. Needs `npm run build`.
 *
 *   node bench/all.mjs [--skip plan-scale,bulk,bulk-1000,status-scale,dns01] [--full]
 *
 * bulk-1000 runs at its default size (100); run it alone with --full for 1,000.
 * fleet-year simulates a year of a 1,000,000-lineage fleet through the planner (default: a 1/200
 * slice, about 3 min; --full: all of it). fleet-hosts needs PostgreSQL and Pebble (default 50
 * lineages on 10 hosts; --full: 1,000).
 *
 * dns01 needs root (BIND on port 53 of its own loopback address) and about 10 minutes
 * (571–633 s here with the 2 cores loaded by other work, load average 6–9).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT, arg } from './lib.mjs';

const BENCHES = ['cold-start', 'renew-nothing-due', 'status-scale', 'issue-one', 'bulk', 'bulk-1000', 'plan-scale', 'dns01', 'fleet-year', 'fleet-hosts'];
// --full: the fleet benches at full size (fleet-year: all 1,000,000 lineages, hours; fleet-hosts: 1,000 lineages)
const FULL = process.argv.includes('--full');
const skip = new Set((arg('skip', '') ?? '').split(',').filter(Boolean));
const results = [];
for (const b of BENCHES.filter((x) => !skip.has(x))) {
  console.log(`\n=== bench/${b}.mjs`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', `${b}.mjs`), ...(FULL && b.startsWith('fleet-') ? ['--full'] : [])], { stdio: 'inherit' });
  results.push({ b, code: r.status, s: (performance.now() - t0) / 1000 });
}
console.log('\n=== summary');
for (const r of results) console.log(`${r.code === 0 ? 'ok    ' : 'MISSED'}  bench/${r.b}.mjs  (exit ${r.code}, ${r.s.toFixed(0)} s)`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
