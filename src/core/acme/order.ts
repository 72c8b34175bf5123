/**
 * The journalled order lifecycle. Every step is written to the ledger BEFORE
 * the request that performs it is sent, so a crash at any point leaves a
 * journal that says which order was in flight and how far it got; `drive`
 * picks an order up from whatever its journal and the CA say, so the same
 * code serves a fresh order and the recovery of an interrupted one — an
 * already-issued certificate is downloaded, never ordered again.
 *
 * Polling honours the server's Retry-After and otherwise starts fast (no
 * fixed multi-second sleeps): POLL_* constants below.
 */
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import type { Ledger, OrderRow } from '../ledger/ledger.js';
import type { StatePaths } from '../paths.js';
import type { Session } from './session.js';
import type { Challenge, ChallengeSolver } from '../challenge/solver.js';
import { CertctlError, ExitCode, ValidationError } from '../errors.js';
import { writeFileAtomic } from '../store/atomic.js';
import { generateKey, createCsr, parseKeyType, keyAlgoOfPem, type KeyAlgo } from '../keys/index.js';
import { certFacts, splitPemChain, type CertFacts } from '../x509.js';
import { parseRetryAfter, safeUrl } from './transport.js';
import { internalsOf, pemBodyB64u } from './adapter.js';
import { fetchEnvelopedKey, isSm2Role } from '../ca/sm2acme.js';
import { InterruptedError, interruption } from '../interrupt.js';
import { mark, span } from '../timeline.js';

/** First wait when polling an authorization or order without Retry-After. */
export const POLL_FIRST_MS = 150;
/**
 * Wait before the first poll of an authorization whose challenge was just answered: the CA is
 * fetching the response then, and a poll at once meets it still pending (each time, with Pebble;
 * Let's Encrypt validates from several places, which takes longer). The polls that follow keep
 * their times, 50 ms later: this never adds a poll, and saves one whenever the validation is done
 * within 50 ms.
 */
export const POLL_START_MS = 50;
/** Each further wait grows by this factor… */
export const POLL_GROWTH = 1.6;
/** …up to this. A Retry-After from the server is clamped into [POLL_FIRST_MS, POLL_MAX_MS]. */
export const POLL_MAX_MS = 5_000;
/** Give up polling one object after this long (the order stays journalled and resumable). */
export const POLL_DEADLINE_MS = 180_000;

export interface PartResult {
  orderId: number;
  role: string;
  keyPem: string;
  /** Leaf first, then the chain, as the CA sent it. */
  chainPem: string;
  facts: CertFacts;
  issuedAt: number;
  /** SM2EnvelopedKey (DER) when the CA made this part's key itself (ca/sm2acme.ts). */
  envelopedKey?: Buffer;
}

interface AcmeOrder {
  url: string;
  status: string;
  finalize: string;
  authorizations: string[];
  certificate?: string;
  error?: { type: string; detail: string };
  /** Set when the CA no longer has the order and only its journalled certificate URL is left. */
  gone?: boolean;
}
interface AcmeAuthz {
  url: string;
  status: string;
  identifier: { type: string; value: string };
  wildcard?: boolean;
  challenges: { type: string; url: string; token: string; status: string; error?: { type: string; detail: string } }[];
}

export interface DriverOptions {
  session: Session;
  ledger: Ledger;
  paths: StatePaths;
  /** Proves control of each name: the CA's challenge of the solver's type is the one answered. */
  solver: ChallengeSolver;
  now: () => number;
  log: (line: string) => void;
  /** Use this private key (PEM) for the CSR instead of a new one (--reuse-key). */
  reuseKey?: (role: string) => string | undefined;
  /** --preferred-chain: write the chain whose topmost certificate is issued by this CN, when the CA offers it (chain.ts). */
  preferredChain?: string;
  /** Warnings the user must see (default: log). */
  warn?: (line: string) => void;
}

export class OrderDriver {
  constructor(private readonly o: DriverOptions) {}

  private journal(id: number, patch: Parameters<Ledger['updateOrder']>[1], detail?: string): void {
    span(`ledger write: order ${id} ${patch.step ?? patch.status ?? ''}`.trimEnd(), () => this.o.ledger.updateOrder(id, patch, this.o.now(), detail));
  }

  /** Take an order from wherever its journal says it is, to a downloaded certificate. */
  async drive(row: OrderRow): Promise<PartResult> {
    const { session } = this.o;
    const where = { orderId: row.id, lineage: row.lineage ?? undefined, scope: row.set_key };
    try {
      let order: AcmeOrder;
      if (!row.order_url) {
        // Journal says "creating": the request may never have reached the CA. If it did (its answer
        // was lost), that order stays pending at the CA and expires; nothing was issued, so a new
        // one is safe — at most one extra order, never an extra certificate.
        if (row.step !== 'creating') throw new CertctlError(`Order ${row.id} has no URL at step ${row.step}.`, ExitCode.INTERNAL);
        const payload: Record<string, unknown> = { identifiers: row.names.map((n) => ({ type: /^[\d.]+$|:/.test(n) ? 'ip' : 'dns', value: n })) };
        if (row.replaces) payload.replaces = row.replaces;
        if (row.profile) payload.profile = row.profile;
        // A newOrder answered 5xx, or not at all, may still have created an order at the CA (the
        // transport's retry, or the next run, then creates another): each such attempt is journalled
        // as a possible order, so the planner counts it against new-orders and pending-orders instead
        // of under-counting the account's headroom.
        const newOrderUrl = String(session.directory.newOrder ?? '');
        const uncertainBefore = session.uncertainPosts(newOrderUrl);
        let abandoned = false;
        try {
          order = (await session.call('newOrder', () => session.client.createOrder(payload as never), where)) as unknown as AcmeOrder;
        } catch (err) {
          // Stopped (a signal) with newOrder in flight: the CA may have created the order all the same.
          abandoned = err instanceof InterruptedError && err.abandonedRequest;
          throw err;
        } finally {
          const n = session.uncertainPosts(newOrderUrl) - uncertainBefore + (abandoned ? 1 : 0);
          if (n > 0) this.o.ledger.recordPossibleOrders(row.id, n, this.o.now());
        }
        this.journal(row.id, { order_url: order.url, finalize_url: order.finalize, status: order.status, step: 'created' }, `order ${order.url}`);
      } else {
        order = await this.resumeOrder(row);
        this.journal(row.id, { status: order.status }, `resumed at step ${row.step}; CA says ${order.status}`);
      }

      // An answer to finalize or to the certificate download can be lost after the CA acted (a cut
      // connection, a time-out, a 5xx), and the transport's replay of the request then meets the
      // order's new state ("orderNotReady: status valid"). Such an answer is never taken as a
      // refusal: the order is read again (POST-as-GET) and driven on from what the CA says.
      for (let round = 0; ; round++) {
        const sent: Sent = { step: '', status: order.status };
        try {
          return await this.advance(row, order, sent, where);
        } catch (err) {
          if (!sent.step || !mayHideProgress(err) || round >= MAX_RECONCILE) throw err;
          let now: AcmeOrder;
          try {
            now = await this.fetchOrder(row);
          } catch {
            throw err; // the CA cannot say either: the journal keeps the order for the next run
          }
          this.journal(row.id, { status: now.status, certificate_url: now.certificate ?? undefined }, `${sent.step} answered "${(err as Error).message}"; CA says the order is ${now.status}`);
          // finalize refused with the order still ready: a true refusal (bad CSR, rate limit) — or a 5xx/network
          // failure before the CA acted, which leaves the order open for the next run (classification below).
          if (sent.step === 'finalize' && now.status === 'ready') throw err;
          this.o.log(`The CA's answer to ${sent.step} of order ${row.id} was lost (${(err as Error).message}); the order is ${now.status} at the CA: continuing from there.`);
          order = now;
        }
      }
    } catch (err) {
      const e = err as CertctlError;
      // A refusal (4xx problem, failed validation) ends this order; an interruption (network,
      // a CA answering 5xx after our retries, a poll deadline) leaves it open for the next run to resume.
      const status = (e as { problem?: { status?: number } }).problem?.status;
      let final = e instanceof CertctlError && (status !== undefined ? status < 500 : e.exitCode !== ExitCode.CA_ERROR);
      // An order the CA has issued (or is issuing) is never given up on a failed request: the next run
      // downloads its certificate instead of ordering another — unless the CA says the order is gone.
      const j = this.o.ledger.order(row.id);
      const issued = j !== undefined && (j.status === 'valid' || j.status === 'processing' || j.step === 'downloading' || j.step === 'downloaded');
      if (final && issued && !(e instanceof OrderClosedError)) final = false;
      // The solver's readiness failed before any challenge was answered: nothing was spent, resume later.
      if (e instanceof NotReadyError) final = false;
      // Stopped on request (a signal): the order is left where its journal says, for the next run.
      if (e instanceof InterruptedError) final = false;
      if (final) {
        this.journal(row.id, { state: 'failed', step: 'failed', error_json: JSON.stringify({ kind: e.name, message: e.message, problem: (e as { problem?: unknown }).problem ?? null }) }, e.message);
        if (this.o.ledger.fleetMode) this.o.ledger.clearOrderKey(row.id);
      } else {
        this.journal(row.id, {}, `interrupted: ${e.message}`);
      }
      throw err;
    }
  }

  /** From the order's current state to a downloaded certificate. `sent` names the state-changing request in flight. */
  private async advance(row: OrderRow, order: AcmeOrder, sent: Sent, where: { orderId: number; lineage?: string; scope?: string }): Promise<PartResult> {
    const { session } = this.o;
    // Every authorization valid (authorize throws otherwise) is what makes an order ready (RFC 8555
    // §7.1.6; Boulder and Pebble compute the order's status from its authorizations): finalize straight
    // away instead of reading the order first — one request fewer per order, at every CA. A CA that
    // still answers orderNotReady gets that read (polled until ready) and the finalize once more.
    let unread = false;
    if (order.status === 'pending') {
      await this.authorize(row, order);
      // A stop asked for while the CA judged the challenges ends here, at "authorizing" (the order
      // read that used to follow was where it took effect): nothing journalled as finalizing unsent.
      interruption.check();
      order = { ...order, status: 'ready' };
      unread = true;
    }
    if (order.status === 'invalid') throw this.invalid(order);

    let keyPem: string;
    if (order.status === 'ready') {
      keyPem = await this.keyFor(this.o.ledger.order(row.id)!, false);
      const csr = this.o.ledger.order(row.id)!.csr_pem!;
      this.journal(row.id, { step: 'finalizing' }, 'sending CSR');
      Object.assign(sent, { step: 'finalize', status: 'ready' });
      // Client.finalizeOrder's request, with the CSR's DER taken here (adapter.ts B.11: its PEM parsing loads @peculiar/x509).
      const csrB64u = pemBodyB64u(csr);
      const finalize = () => session.call('finalize', () => internalsOf(session.client).finalizeWith(order, csrB64u), where) as unknown as Promise<AcmeOrder>;
      let answered: AcmeOrder;
      try {
        answered = await finalize();
      } catch (err) {
        if (!unread || !isOrderNotReady(err)) throw err;
        sent.step = '';
        this.journal(row.id, {}, `finalize answered "${(err as Error).message}": reading the order`);
        order = await this.pollOrder(row, ['ready', 'valid', 'processing']);
        if (order.status !== 'ready') {
          // The CA had acted on a finalize whose answer was lost (the transport's replay met the new
          // state): as the reconciliation in drive() says it.
          this.o.log(`The CA's answer to finalize of order ${row.id} was lost (${(err as Error).message}); the order is ${order.status} at the CA: continuing from there.`);
          return await this.advance(row, order, sent, where);
        }
        Object.assign(sent, { step: 'finalize', status: 'ready' });
        answered = await finalize();
      }
      sent.step = '';
      // A CA that issues before it answers (RFC 8555 §7.4 allows it) says valid and where the
      // certificate is: nothing to poll. Otherwise (processing, or an answer without the URL) the order is polled.
      const issued = answered?.status === 'valid' && typeof answered.certificate === 'string' && answered.certificate ? answered.certificate : undefined;
      if (answered?.status) this.journal(row.id, { status: answered.status, certificate_url: issued }, `finalize answered ${answered.status}`);
      order = issued ? { ...answered, url: this.o.ledger.order(row.id)!.order_url! } : await this.pollOrder(row, ['valid']);
    } else {
      // processing or valid: the CSR went out before (this run or an earlier one); its key must still be there.
      keyPem = await this.keyFor(this.o.ledger.order(row.id)!, true);
    }
    if (order.status === 'processing') order = await this.pollOrder(row, ['valid']);
    if (order.status !== 'valid' || !order.certificate) throw this.invalid(order);
    const issuedAt = this.o.now();
    this.journal(row.id, { status: 'valid', step: 'downloading', certificate_url: order.certificate }, 'certificate issued');

    // The download changes nothing at the CA: a failure after the transport's retries is not a lost
    // answer to reconcile (reading the order again would only repeat the same download), so it ends
    // this run with the order journalled at 'downloading' for the next run.
    let chainPem: string;
    try {
      chainPem = this.o.preferredChain
        ? await this.downloadPreferred(order.certificate, this.o.preferredChain, where)
        : ((await session.call('certificate', () => session.client.getCertificate(order as never), where)) as unknown as string);
    } catch (err) {
      if (order.gone && (err as { problem?: { status?: number } }).problem?.status === 404) {
        throw new OrderClosedError(`The CA no longer has order ${row.id} nor its certificate (${(err as Error).message}); the order is closed.`, 'Run the command again: certctl plans and orders anew.');
      }
      throw err;
    }
    const facts = certFacts(chainPem);
    const envelopedKey = await fetchEnvelopedKey(session, row.role, order, where);
    if (!isSm2Role(row.role)) assertKeyMatches(keyPem, chainPem, row.id);
    this.journal(row.id, { step: 'downloaded' }, `serial ${facts.serial}`);
    return { orderId: row.id, role: row.role, keyPem, chainPem, facts, issuedAt: this.issuedAtOf(row.id, issuedAt), ...(envelopedKey ? { envelopedKey } : {}) };
  }

  /**
   * The journalled order as the CA has it now. An order the CA no longer has (404: expired, or a
   * CA that lost its state) whose certificate URL was journalled is downloaded from that URL; without
   * one it is closed — nothing can come of it.
   */
  private async resumeOrder(row: OrderRow): Promise<AcmeOrder> {
    try {
      return await this.fetchOrder(row);
    } catch (err) {
      const status = (err as { problem?: { status?: number } }).problem?.status;
      if (status !== 404) throw err;
      if (row.certificate_url) {
        this.o.log(`The CA no longer has order ${row.id}; downloading its certificate from the journalled URL.`);
        return { url: row.order_url!, status: 'valid', finalize: row.finalize_url ?? '', authorizations: [], certificate: row.certificate_url, gone: true };
      }
      throw new OrderClosedError(
        `The CA no longer has order ${row.id} (${(err as Error).message}); it issued nothing certctl can fetch, so the order is closed.`,
        'Run the command again: certctl plans and orders anew.',
      );
    }
  }

  /** When the CA issued (first journal entry at 'downloading'), so a resumed order keeps its true issuance time. */
  private issuedAtOf(orderId: number, fallback: number): number {
    const ev = this.o.ledger.orderEvents(orderId).find((e) => e.step === 'downloading');
    return ev?.at ?? fallback;
  }

  private invalid(order: AcmeOrder): CertctlError {
    return new ValidationError(`The order ended ${order.status}${order.error ? `: ${order.error.detail}` : ''}.`, 'See `certctl status --orders` and the authorization errors above; fix the cause before ordering again.');
  }

  /** POST-as-GET of the order at its journalled URL (the journal's, not `row`'s: a row read before newOrder has none). */
  /**
   * Download the certificate and the alternate chains the CA links to it; keep the one whose topmost
   * certificate is issued by `cn` (certbot's rule), else the default chain with a warning.
   */
  private async downloadPreferred(url: string, cn: string, where: { orderId?: number; lineage?: string }): Promise<string> {
    const { alternateLinks, choosePreferredChain, topIssuerCn } = await import('./chain.js');
    const first = await this.o.session.postAsGet('certificate', url, where);
    const chains = [String(first.data)];
    for (const alt of alternateLinks(first.headers.link)) {
      // A signed POST-as-GET goes only to the CA that issued: an alternate elsewhere is not fetched.
      let same = false;
      try {
        same = new URL(alt, url).origin === new URL(url).origin;
      } catch {
        /* not a URL */
      }
      if (!same) {
        (this.o.warn ?? this.o.log)(`warning: the CA linked an alternate chain outside its own origin (${safeUrl(alt).slice(0, 120)}); not fetched.`);
        continue;
      }
      chains.push(String((await this.o.session.postAsGet('certificate', new URL(alt, url).href, where)).data));
    }
    const i = choosePreferredChain(chains, cn);
    if (i >= 0) {
      if (i > 0) this.o.log(`Preferred chain "${cn}": writing alternate chain ${i} of ${chains.length - 1} the CA offered.`);
      return chains[i]!;
    }
    const offered = chains.map((c) => topIssuerCn(c) ?? '?').join('", "');
    (this.o.warn ?? this.o.log)(`warning: no chain the CA offered has its topmost certificate issued by "${cn}" (offered: "${offered}"); the default chain was written.`);
    return chains[0]!;
  }

  private async fetchOrder(row: OrderRow): Promise<AcmeOrder> {
    const { session } = this.o;
    const url = this.o.ledger.order(row.id)?.order_url ?? row.order_url;
    if (!url) throw new CertctlError(`Order ${row.id} has no URL to read it at.`, ExitCode.INTERNAL);
    const resp = await session.postAsGet('order', url, { orderId: row.id });
    return { ...(resp.data as unknown as AcmeOrder), url };
  }

  /** The order's private key + CSR: created once, journalled (key 0600 under pending/) before finalize. */
  private async keyFor(row: OrderRow, sentAlready: boolean): Promise<string> {
    // A key file that is there but cannot be read as a private key (cut short, overwritten) is as
    // good as gone: its certificate could never be stored (the key would not match), so an order
    // kept open on it would fail the same way on every run. The damaged file is left where it is.
    let damaged: string | null = null;
    // A fleet's ledger keeps the pending key sealed (the host that journalled the order may be gone):
    // it is the order's key wherever the order is resumed, copied to this host's pending/ (0600).
    const sealed = this.o.ledger.fleetMode && row.csr_pem ? this.o.ledger.orderKey(row.id, row.role) : undefined;
    if (sealed !== undefined) {
      await keyAlgoOfPem(sealed);
      const own = path.join(this.o.paths.pending, `order-${row.id}-${row.role}.key`);
      if (!(fs.existsSync(own) && fs.readFileSync(own, 'utf8') === sealed)) writeFileAtomic(own, sealed, 0o600);
      if (row.key_path !== own) this.journal(row.id, { key_path: own }, `pending key taken from the ledger (host ${this.o.ledger.host})`);
      return sealed;
    }
    if (row.key_path && fs.existsSync(row.key_path) && row.csr_pem) {
      const pem = fs.readFileSync(row.key_path, 'utf8');
      try {
        await keyAlgoOfPem(pem);
        return pem;
      } catch (err) {
        damaged = (err as Error).message.replace(/\.$/, '');
      }
    }
    if (sentAlready) {
      // A new key now would not match the certificate the CA issued for the old CSR.
      throw new OrderClosedError(
        damaged
          ? `The private key of order ${row.id} (${row.key_path}) is damaged (${damaged}), but the CA has already been sent its CSR: the certificate cannot be used.`
          : `The private key of order ${row.id} (${row.key_path ?? 'never journalled'}) is gone, but the CA has already been sent its CSR: the certificate cannot be used.`,
        damaged
          ? 'Nothing was stored. The order is closed; run the command again to order a certificate with a new key — and find out what changed files under pending/.'
          : 'Nothing was stored. The order is closed; run the command again to order a certificate with a new key — and find out what removed files under pending/.',
      );
    }
    const algo = algoForRole(row.key_type, row.role);
    const keyPem = this.o.reuseKey?.(row.role) ?? (await span(`key generation ${row.key_type} (${row.role})`, () => generateKey(algo)));
    const csr = await span('CSR', () => createCsr(keyPem, row.names, algo, row.role === 'sm2-enc' ? 'enc' : 'sign'));
    const keyPath = path.join(this.o.paths.pending, `order-${row.id}-${row.role}.key`);
    writeFileAtomic(keyPath, keyPem, 0o600);
    // Fleet: sealed into the ledger before the CSR is journalled, so no host ever has the CSR without its key.
    if (this.o.ledger.fleetMode) this.o.ledger.saveOrderKey(row.id, row.role, keyPem);
    this.journal(row.id, { key_path: keyPath, csr_pem: csr }, 'key and CSR ready');
    return keyPem;
  }

  private async authorize(row: OrderRow, order: AcmeOrder): Promise<void> {
    const { session, solver, ledger } = this.o;
    const type = solver.type;
    const where = { orderId: row.id, lineage: row.lineage ?? undefined };
    const authzs = (await session.call('authorizations', () => session.client.getAuthorizations(order as never), where)) as unknown as AcmeAuthz[];
    this.journal(row.id, { step: 'authorizing' }, `${authzs.length} authorizations`);
    const record = (a: AcmeAuthz, status: string, err?: { type: string; detail: string }) =>
      ledger.recordAuthorization({
        order_id: row.id,
        account_id: session.accountId,
        directory_url: session.directoryUrl,
        identifier: a.identifier.value,
        authz_url: a.url,
        status,
        challenge_type: type,
        error_type: err?.type ?? null,
        error_detail: err?.detail ?? null,
        at: this.o.now(),
      });

    // Phases, for every solver: present all → every solver readiness check → only when ALL are ready,
    // answer the challenges → poll → clean up all (always). A readiness check that fails answers
    // nothing: no failed authorization is spent, and the order stays journalled for the next run.
    // (A wildcard and its base name put two values on one DNS name at once: both are present before
    // either is checked or answered.)
    const failures: string[] = [];
    const todo: { a: AcmeAuthz; ch: AcmeAuthz['challenges'][number]; challenge: Challenge }[] = [];
    for (const a of authzs) {
      if (a.status === 'valid') {
        record(a, 'valid');
        continue;
      }
      if (a.status !== 'pending') {
        record(a, a.status);
        failures.push(`${shownName(a)}: authorization is ${a.status}`);
        continue;
      }
      const ch = a.challenges.find((c) => c.type === type);
      if (!ch) {
        record(a, 'unsupported');
        failures.push(`${shownName(a)}: the CA offers no ${type} challenge (${a.challenges.map((c) => c.type).join(', ')})`);
        continue;
      }
      // The key authorization itself (token "." thumbprint) for every type: acme-client answers dns-01 with its
      // digest already, and the DNS-01 solver makes the TXT value itself (one rule, dns/solver.ts dns01Value).
      const keyAuth = await session.client.getChallengeKeyAuthorization({ ...ch, type: 'http-01' } as never);
      todo.push({ a, ch, challenge: { identifier: a.identifier.value, wildcard: Boolean(a.wildcard), token: ch.token, keyAuthorization: keyAuth } });
    }
    // An authorization that cannot be validated fails the order anyway: answer nothing else.
    if (failures.length) throw this.validationFailed(failures);
    // One order for every order: a dual lineage's two orders present the same names, and a solver that
    // serves one response per name at a time (TLS-ALPN-01) must not see them taken in opposite orders.
    todo.sort((x, y) => (x.challenge.identifier < y.challenge.identifier ? -1 : x.challenge.identifier > y.challenge.identifier ? 1 : Number(x.challenge.wildcard) - Number(y.challenge.wildcard)));
    const presented: Challenge[] = [];
    try {
      await solver.begin?.(todo.map((t) => t.challenge));
      // One at a time: a hook-based solver counts the challenges that remain (CERTBOT_REMAINING_CHALLENGES).
      for (const t of todo) {
        presented.push(t.challenge);
        await solver.present(t.challenge);
      }
      try {
        // The solver's own readiness (DNS-01: every authoritative nameserver) before the CA is told to look.
        for (const t of todo) await solver.waitReady(t.challenge);
      } catch (err) {
        throw new NotReadyError(err as Error);
      }
      // From the first challenge answered to the CA's verdict, a stop asked for waits (core/interrupt.ts):
      // a challenge removed while the CA validates it fails the authorization.
      await interruption.protect(async () => {
      await Promise.all(
        todo.map(async ({ a, ch }) => {
          if (ch.status !== 'pending') return;
          try {
            await session.call('challenge', () => session.client.completeChallenge(ch as never), where);
          } catch (err) {
            // The CA may have started validating before its answer was lost (or the replayed POST met a
            // challenge already processing): the authorization says. Untouched → the error stands.
            if (!mayHideProgress(err)) throw err;
            let now: AcmeAuthz;
            try {
              now = (await session.postAsGet('authz', a.url, { orderId: row.id })).data as unknown as AcmeAuthz;
            } catch {
              throw err;
            }
            const nowCh = now.challenges?.find((c) => c.type === type);
            if (now.status === 'pending' && (!nowCh || nowCh.status === 'pending')) throw err;
            this.o.log(`The CA's answer to the challenge for ${shownName(a)} was lost (${(err as Error).message}); the authorization is ${now.status}: continuing.`);
          }
        }),
      );
      await Promise.all(
        todo.map(async ({ a, ch }) => {
          // A challenge answered just now (pending before) waits POLL_START_MS before its first poll.
          const done = await this.poll(a.url, row.id, ['valid', 'invalid', 'deactivated', 'expired', 'revoked'], ch.status === 'pending' ? POLL_START_MS : 0);
          const data = done as unknown as AcmeAuthz;
          const err = data.challenges?.find((c) => c.type === type)?.error;
          record(a, data.status, err);
          if (data.status !== 'valid') failures.push(`${shownName(a)}: ${err ? `${err.detail} (${err.type})` : data.status}`);
        }),
      );
      });
    } finally {
      // Every challenge presented (or half-presented) is removed, whatever happened; one failed
      // clean-up does not stop the others (the solver journals what it could not remove).
      const errors: string[] = [];
      for (const c of presented) {
        try {
          await solver.cleanup(c);
        } catch (err) {
          errors.push(`${c.wildcard ? '*.' : ''}${c.identifier}: ${(err as Error).message}`);
        }
      }
      if (errors.length) this.o.log(`Could not clean up ${errors.length} challenge(s) (the next run tries again): ${errors.join('; ')}`);
    }
    if (failures.length) throw this.validationFailed(failures);
  }

  private validationFailed(failures: string[]): ValidationError {
    return new ValidationError(
      `The CA could not validate ${failures.length === 1 ? 'a name' : `${failures.length} names`}:\n  ${failures.join('\n  ')}`,
      this.o.solver.checkHint ?? 'Check that http://<name>/.well-known/acme-challenge/ is served from the webroot (certctl check -d NAME --webroot DIR), then try again.',
    );
  }

  private async pollOrder(row: OrderRow, want: string[]): Promise<AcmeOrder> {
    const data = (await this.poll(row.order_url ?? this.o.ledger.order(row.id)!.order_url!, row.id, [...want, 'invalid'])) as unknown as AcmeOrder;
    const url = this.o.ledger.order(row.id)!.order_url!;
    const order = { ...data, url };
    this.journal(row.id, { status: order.status, certificate_url: order.certificate ?? undefined });
    return order;
  }

  /** POST-as-GET `url` until its status is one of `done`, honouring Retry-After. */
  private async poll(url: string, orderId: number, done: string[], firstDelayMs = 0): Promise<Record<string, unknown>> {
    const { session } = this.o;
    const deadline = Date.now() + POLL_DEADLINE_MS;
    let wait = POLL_FIRST_MS;
    if (firstDelayMs > 0) {
      mark(`poll wait ${firstDelayMs} ms (challenge just answered)`);
      await new Promise((r) => setTimeout(r, firstDelayMs));
    }
    for (;;) {
      const resp = await session.postAsGet('poll', url, { orderId });
      const data = resp.data as { status: string };
      if (done.includes(data.status)) return data as unknown as Record<string, unknown>;
      if (Date.now() > deadline) {
        throw new CertctlError(`Gave up waiting for ${url} (still ${data.status} after ${POLL_DEADLINE_MS / 1000} s).`, ExitCode.CA_ERROR, 'The order stays journalled: the next run resumes it instead of ordering again.');
      }
      const ra = parseRetryAfter(resp.headers['retry-after'], Date.now());
      const ms = ra !== undefined ? Math.min(POLL_MAX_MS, Math.max(POLL_FIRST_MS, ra - Date.now())) : wait;
      mark(`poll wait ${Math.round(ms)} ms (${ra !== undefined ? 'Retry-After' : 'no Retry-After'}; ${data.status})`);
      await new Promise((r) => setTimeout(r, ms));
      wait = Math.min(POLL_MAX_MS, wait * POLL_GROWTH);
    }
  }
}

/** One run re-reads an order at most this many times after answers that may hide progress. */
export const MAX_RECONCILE = 3;

/** The state-changing request in flight, and the order status it was sent in. */
interface Sent {
  step: '' | 'finalize';
  status: string;
}

/**
 * A solver's readiness check failed before any challenge was answered: the
 * order is left open (journalled, resumable) and the solver's own error
 * (its message names what lagged) is what the user reads.
 */
/** An authorization's name as the user ordered it: the CA lists a wildcard's as its base name with `wildcard: true`. */
function shownName(a: { identifier: { value: string }; wildcard?: boolean }): string {
  return a.wildcard ? `*.${a.identifier.value}` : a.identifier.value;
}

export class NotReadyError extends CertctlError {
  constructor(readonly reason: Error) {
    super(
      reason.message,
      reason instanceof CertctlError ? reason.exitCode : ExitCode.PRECHECK_FAILED,
      `${reason instanceof CertctlError && reason.hint ? `${reason.hint} ` : ''}No challenge was answered (no failed authorization was spent); the order stays open and the next run resumes it.`,
    );
  }
}

/** Closes an order whatever its journal says (the CA no longer has it, or its key is gone). */
class OrderClosedError extends CertctlError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CA_ERROR, hint);
  }
  /** Treated as a refusal by drive()'s classification. */
  readonly problem = { status: 410 };
}

/**
 * An answer that may have come after the CA acted: a CA error (4xx problem on a replayed request,
 * 5xx, network failure, time-out). A failed validation, bad input or a bug says nothing of the sort.
 */
/** The CA's orderNotReady problem (RFC 8555 §7.4): the order is not ready for finalize yet. */
function isOrderNotReady(err: unknown): boolean {
  const type = (err as { problem?: { type?: unknown } } | null)?.problem?.type;
  return typeof type === 'string' && type.endsWith(':orderNotReady');
}

function mayHideProgress(err: unknown): boolean {
  return err instanceof CertctlError && !(err instanceof OrderClosedError) && (err.exitCode === ExitCode.CA_ERROR || err.exitCode === ExitCode.RATE_LIMITED);
}

/** The certificate is for the key of the order's CSR (a mismatch must never reach live/). */
function assertKeyMatches(keyPem: string, chainPem: string, orderId: number): void {
  const leaf = splitPemChain(chainPem)[0];
  let same: boolean;
  try {
    const certKey = new X509Certificate(leaf ?? '').publicKey.export({ type: 'spki', format: 'der' });
    const ourKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
    same = Buffer.compare(certKey, ourKey) === 0;
  } catch {
    return; // a key type node:crypto cannot read (SM2 parts are checked in sm2BundleStep)
  }
  if (!same) {
    throw new CertctlError(`The certificate the CA sent for order ${orderId} is for another key than the order's CSR.`, ExitCode.CA_ERROR, 'Nothing was stored. Report it to the CA with the order URL (certctl status --orders).');
  }
}

/** The key algorithm of one part (role) of a key type: dual's "ecdsa" part, sm2's parts… */
export function algoForRole(keyType: string, role: string): KeyAlgo {
  const spec = parseKeyType(keyType);
  const part = spec.parts.find((p) => p.role === role) ?? spec.parts[0]!;
  return part.algo;
}
