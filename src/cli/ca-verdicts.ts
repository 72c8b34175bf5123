/** A CA list's verdicts (core/failover.ts) as --json writes them: times in ISO 8601 (plan's caList, renew's lineages[].ca). */
import type { CandidateVerdict } from '../core/failover.js';
import { isoTime } from '../core/clock.js';

const iso = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));

export function verdictJson(v: CandidateVerdict) {
  const u = v.unreachable;
  return {
    ca: v.caId,
    directoryUrl: v.directoryUrl,
    verdict: v.verdict,
    allowedAt: iso(v.allowedAt),
    why: v.why,
    caa: v.caa,
    unreachable: u ? { runs: u.runs, since: iso(u.since), last: iso(u.last), kind: u.kind, detail: u.detail, givenUp: u.givenUp, deadline: iso(u.deadline) } : null,
  };
}
