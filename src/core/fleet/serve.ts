/**
 * `certctl serve` (and `certctl daemon --serve`): every host of a fleet answers
 * GET /.well-known/acme-challenge/TOKEN from the shared ledger
 * (http_challenges, written by the ordering host's fleet solver,
 * challenge/fleet.ts), so a load balancer may send the CA's validator to any
 * host. Each request reads the ledger (one indexed row); nothing is cached, so
 * a challenge is answered the moment it is presented and not a moment after
 * its clean-up. With a webroot, the pending key authorizations are also
 * written there (for a web server that serves the challenge directory
 * itself) and removed once their row is gone. The responses are never logged.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Ledger } from '../ledger/ledger.js';
import { CHALLENGE_DIR, Http01Server, isToken } from '../http01.js';
import { writeFileAtomic } from '../store/atomic.js';
import { registerSecret } from '../redact.js';

/** How often the webroot copy follows the ledger. */
export const WEBROOT_SYNC_MS = 1000;

export interface ChallengeResponder {
  /** "host:port" it listens on. */
  readonly address: string;
  close(): Promise<void>;
}

export async function startChallengeResponder(ledger: Ledger, o: { host: string; port: number; webroot?: string; log?: (line: string) => void }): Promise<ChallengeResponder> {
  const server = await Http01Server.listen(o.host, o.port, (token) => {
    const answer = ledger.httpChallengeAnswer(token);
    registerSecret(answer);
    return answer;
  });
  let timer: NodeJS.Timeout | undefined;
  const written = new Set<string>();
  const dir = o.webroot ? path.join(o.webroot, CHALLENGE_DIR) : undefined;
  const sync = () => {
    if (!dir) return;
    let rows: ReturnType<Ledger['httpChallenges']>;
    try {
      rows = ledger.httpChallenges();
    } catch (err) {
      o.log?.(`cannot read the ledger's challenges now (${(err as Error).message}); trying again`);
      return;
    }
    const now = new Set<string>();
    for (const r of rows) {
      if (!isToken(r.token)) continue;
      registerSecret(r.key_authorization);
      now.add(r.token);
      if (written.has(r.token)) continue;
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
      writeFileAtomic(path.join(dir, r.token), r.key_authorization, 0o644);
      written.add(r.token);
    }
    for (const t of [...written]) {
      if (now.has(t)) continue;
      fs.rmSync(path.join(dir, t), { force: true });
      written.delete(t);
    }
  };
  if (dir) {
    sync();
    timer = setInterval(sync, WEBROOT_SYNC_MS);
  }
  return {
    address: server.address,
    async close() {
      if (timer) clearInterval(timer);
      if (dir) for (const t of written) fs.rmSync(path.join(dir, t), { force: true });
      written.clear();
      await server.close();
    },
  };
}
