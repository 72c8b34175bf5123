/**
 * A generated ledger for `status` and `metrics` at any size: the equivalence
 * test (test/e2e/status-paging.test.ts, a few hundred lineages) and the
 * benchmark (bench/status-scale.mjs, 10,000 and 100,000) fill it with the
 * same code. Lineages vary by their index: single-key, dual and SM2 bundles,
 * no certificate yet, two versions, expired, ties in expiry (broken by name),
 * revoked, open and failed orders, Retry-Afters in force (per lineage and
 * account-wide), ARI windows, renewDays, a CA list with and without a choice
 * (failed over, a reason with quotes), fleet hosts up to date / behind /
 * writing, renewed_by — every column status and metrics read.
 *
 * Rows are written with raw SQL in ONE transaction (prepared statements),
 * on whatever backend the Ledger is; copyLedger copies a filled SQLite
 * ledger into another (PostgreSQL) with multi-row INSERTs, because one
 * statement per row through the PostgreSQL bridge costs ~0.17 ms.
 */
import type { Ledger } from '../src/core/ledger/ledger.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
export const DIR_A = 'https://acme-v02.api.letsencrypt.org/directory';
export const DIR_B = 'https://acme.zerossl.com/v2/DV90';

/** The lineage name of index i (sorted by name, they are not in expiry order). */
export function statusLineageName(i: number): string {
  return `s${((i * 7919) % 1_000_003).toString(36)}-${i}.dom${i % 997}.com`;
}

export interface FillOptions {
  count: number;
  /** The generator's clock (certificates issued relative to it). */
  now: number;
  /** First lineage index (to add more later); default 0. */
  from?: number;
  /**
   * Nothing due and nothing to resume (for `renew` with nothing due on the same data): every
   * lineage has a certificate issued 0–49 days ago with 90 days of life, none revoked, no open
   * order, no Retry-After in force. The rest varies as without it.
   */
  quiet?: boolean;
}

/** Fill `ledger` with `count` varied lineages (see the file's comment). Returns the account id. */
export function fillStatusLedger(ledger: Ledger, o: FillOptions): void {
  const db = ledger.db;
  const now = o.now;
  const accountA = ledger.saveAccount({ directory_url: DIR_A, ca_id: 'letsencrypt', account_url: 'https://acme-v02.api.letsencrypt.org/acme/acct/1', key_path: '/nonexistent/a.key', key_type: 'ecdsa', email: 'ops@example.com', eab_kid: null, now: now - 365 * DAY });
  const accountB = ledger.saveAccount({ directory_url: DIR_B, ca_id: 'zerossl', account_url: 'https://acme.zerossl.com/v2/DV90/account/2', key_path: '/nonexistent/b.key', key_type: 'ecdsa', email: 'ops@example.com', eab_kid: 'kid-1', now: now - 365 * DAY });
  const insLineage = db.prepare(
    `INSERT INTO lineages (name, names_json, set_key, ca_id, directory_url, key_type, challenge, webroot, standalone_addr, settings_json, current_version, created_at, updated_at, renewed_by, renewed_at)
     VALUES (?, ?, ?, ?, ?, ?, 'webroot', '/var/www/html', NULL, ?, ?, ?, ?, ?, ?)`,
  );
  const insOrder = db.prepare(
    `INSERT INTO orders (lineage, account_id, ca_id, directory_url, names_json, set_key, key_type, order_url, finalize_url, certificate_url, status, step, state, error_json, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  );
  const insCert = db.prepare(
    `INSERT INTO certificates (lineage, version, order_id, bundle_id, role, source, ca_id, directory_url, issuer, serial, names_json, set_key, key_type, not_before, not_after, issued_at, ari_cert_id, created_at, revoked_at, revoked_reason, revoked_by)
     VALUES (?, ?, ?, ?, ?, 'certctl', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  );
  const insDom = db.prepare('INSERT OR IGNORE INTO certificate_domains (registered_domain, issued_at, cert_id) VALUES (?, ?, ?)');
  const insAri = db.prepare('INSERT INTO renewal_info (cert_id, ari_cert_id, window_start, window_end, chosen_at, next_check, explanation_url, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const insChoice = db.prepare('INSERT INTO ca_choices (lineage, at, ca_id, directory_url, first_ca_id, failed_over, reason) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const insProblem = db.prepare(
    `INSERT INTO problems (at, ca_id, directory_url, account_id, order_id, lineage, endpoint, http_status, type, detail, retry_after, limit_name, scope)
     VALUES (?, ?, ?, ?, ?, ?, 'newOrder', ?, ?, ?, ?, ?, ?)`,
  );
  const insHost = db.prepare('INSERT INTO lineage_hosts (lineage, host, deployed_version, deployed_at, pending_version, added_at) VALUES (?, ?, ?, ?, ?, ?)');
  const id = (r: unknown): number => Number((r as { id: number }).id);
  db.transaction(() => {
    // Account-wide: a Retry-After on new-order at CA B holds every lineage there.
    if (!o.quiet) insProblem.run(now - HOUR, 'zerossl', DIR_B, accountB, null, null, 429, 'urn:ietf:params:acme:error:rateLimited', 'too many new orders recently', now + 2 * HOUR, 'new-orders', `account ${accountB}`);
    const from = o.from ?? 0;
    for (let i = from; i < from + o.count; i++) {
      const name = statusLineageName(i);
      const reg = name.slice(name.indexOf('.') + 1);
      const names = [name, ...(i % 3 === 0 ? [`www.${name}`] : []), ...(i % 10 === 4 ? [`*.w${i}.${reg}`] : []), ...(i % 50 === 7 ? [`xn--bcher-kva.${reg}`] : [])];
      const namesJson = JSON.stringify(names);
      const setKey = [...names].sort().join(',');
      const keyType = ['ecdsa:p256', 'rsa:2048', 'dual', 'sm2'][i % 4]!;
      const roles = keyType === 'dual' ? ['rsa', 'ecdsa'] : keyType === 'sm2' ? ['sign', 'enc', 'rsa'] : ['main'];
      const atB = i % 6 === 0;
      const [caId, dir, account] = atB ? ['zerossl', DIR_B, accountB] : ['letsencrypt', DIR_A, accountA];
      const quiet = o.quiet === true;
      const versions = i % 9 === 0 && !quiet ? 0 : i % 5 === 0 ? 2 : 1;
      const lifetime = i % 12 === 5 && !quiet ? 45 * DAY : 90 * DAY;
      // Issued 0–79 days ago (some expired at 100), to the hour; every 11th at one shared moment: ties, broken by name.
      const issued = i % 11 === 0 ? now - 20 * DAY : i % 13 === 0 && !quiet ? now - 100 * DAY : now - ((i * 7) % (quiet ? 50 : 80)) * DAY - (i % 3) * HOUR;
      const settings: Record<string, unknown> = { email: 'ops@example.com' };
      if (i % 29 === 0) settings.renewDays = 30;
      if (i % 8 === 0) settings.cas = atB ? ['zerossl', 'letsencrypt'] : ['letsencrypt', 'zerossl'];
      const fleet = i % 4 === 1;
      insLineage.run(name, namesJson, setKey, caId, dir, keyType, JSON.stringify(settings), versions, issued - 60 * DAY, issued, fleet && versions ? 'web1' : null, fleet && versions ? issued : null);
      for (let v = 1; v <= versions; v++) {
        const at = issued - 60 * DAY * (versions - v);
        const orderId = id(insOrder.get(name, account, caId, dir, namesJson, setKey, keyType, `https://acme.test/order/${i}-${v}`, `https://acme.test/finalize/${i}-${v}`, `https://acme.test/cert/${i}-${v}`, 'valid', 'stored', 'done', null, at, at));
        const certIds: number[] = [];
        roles.forEach((role, r) => {
          const serial = `${(i * 8 + v * 3 + r).toString(16)}5e1a1`;
          const notAfter = at + lifetime - (roles.length > 1 && (i + r) % 2 === 0 ? HOUR : 0);
          const revoked = v === versions && r === 0 && i % 17 === 0 && !quiet;
          const certId = id(
            insCert.get(name, v, orderId, roles.length > 1 ? `b${i}-${v}` : null, role, caId, dir, atB ? 'CN=ZeroSSL ECC DV,O=ZeroSSL,C=AT' : "CN=E6,O=Let's Encrypt,C=US", serial, namesJson, setKey, keyType, at - HOUR, notAfter, at, `aki${i}.${serial}`, at, revoked ? now - 3 * DAY : null, revoked ? 'keyCompromise' : null, revoked ? 'account' : null),
          );
          certIds.push(certId);
          insDom.run(reg, at, certId);
        });
        if (v === versions && i % 3 === 0) {
          const ws = at + lifetime - 30 * DAY;
          insAri.run(certIds[0], `aki${i}.x`, ws, ws + 2 * DAY, i % 2 ? ws + DAY : null, now + DAY, i % 27 === 0 ? 'https://example.com/why' : null, now - HOUR);
        }
      }
      if (i % 19 === 0 && !quiet) insOrder.get(name, account, caId, dir, namesJson, setKey, keyType, `https://acme.test/order/${i}-open`, null, null, 'pending', 'authorizing', 'open', null, now - 2 * HOUR, now - 2 * HOUR);
      if (i % 7 === 0) {
        const failed = id(insOrder.get(name, account, caId, dir, namesJson, setKey, keyType, `https://acme.test/order/${i}-failed`, null, null, 'invalid', 'authorizing', 'failed', JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized' }), now - 5 * DAY, now - 5 * DAY));
        insProblem.run(now - 5 * DAY, caId, dir, account, failed, name, 403, 'urn:ietf:params:acme:error:unauthorized', 'Invalid response from http://x/.well-known/acme-challenge/abc: 404', null, null, null);
      }
      if (i % 23 === 0 && !quiet) insProblem.run(now - HOUR, caId, dir, account, null, name, 429, 'urn:ietf:params:acme:error:rateLimited', 'too many certificates for exactly this set', now + 5 * HOUR + i * 1000, 'duplicate-certificates', `set ${setKey}`);
      if (i % 8 === 0 && i % 5 !== 0) {
        insChoice.run(name, issued - DAY, settings.cas && (settings.cas as string[])[0]!, dir, (settings.cas as string[])[0]!, 0, 'first choice');
        if (i % 16 === 0) insChoice.run(name, issued, caId === 'zerossl' ? 'letsencrypt' : 'zerossl', caId === 'zerossl' ? DIR_A : DIR_B, caId, 1, `"${caId}" refused: rateLimited — «new-orders» until ${new Date(now).toISOString()}`);
      }
      if (fleet) {
        insHost.run(name, 'web1', versions, versions ? issued : null, null, issued - 60 * DAY);
        insHost.run(name, 'web2', Math.max(0, versions - 1), versions > 1 ? issued - 60 * DAY : null, i % 8 === 1 ? versions : null, issued - 60 * DAY);
        if (i % 12 === 1) insHost.run(name, 'db-1', 0, null, null, issued);
      }
    }
  }).immediate();
}

/** Tables copyLedger copies, parents first. */
const TABLES = ['accounts', 'lineages', 'orders', 'certificates', 'certificate_domains', 'renewal_info', 'ca_choices', 'problems', 'lineage_hosts', 'directories'];

/**
 * Copy every row of the generated tables from `from` (SQLite) into `to` (an empty ledger of the
 * same schema, typically PostgreSQL), 500 rows per INSERT, then move the identity columns past
 * the copied ids so later inserts do not collide.
 */
export function copyLedger(from: Ledger, to: Ledger): void {
  const ROWS = 500;
  to.db.transaction(() => {
    for (const table of TABLES) {
      const cols = (from.db.prepare(`SELECT * FROM ${table} LIMIT 1`).raw().all() as unknown[][]).length
        ? Object.keys(from.db.prepare(`SELECT * FROM ${table} LIMIT 1`).get() as object)
        : [];
      if (!cols.length) continue;
      let batch: unknown[] = [];
      let n = 0;
      const flush = () => {
        if (!n) return;
        const one = `(${cols.map(() => '?').join(', ')})`;
        to.db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES ${Array.from({ length: n }, () => one).join(', ')}`).run(...batch);
        batch = [];
        n = 0;
      };
      for (const row of from.db.prepare(`SELECT ${cols.join(', ')} FROM ${table}`).raw().iterate() as IterableIterator<unknown[]>) {
        batch.push(...row);
        if (++n === ROWS) flush();
      }
      flush();
      if (to.backend === 'postgres' && cols.includes('id')) {
        to.db.prepare(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`).get();
      }
    }
  }).immediate();
}
