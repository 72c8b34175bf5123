#!/usr/bin/env node
/**
 * Measurement for docs/scale.md: how many bytes a fleet ledger takes on PostgreSQL, per table.
 *
 * Starts Debian's PostgreSQL (testkit/postgres.ts), lets certctl create its schema (Ledger.open on a
 * postgres:// URL runs the real migrations), then fills it with generate_series in SQL: N lineages
 * of two names each (apex + www), one certificate version each (10 % hold two, as in
 * bench/renew-nothing-due.mjs), one order + order events + two authorizations per version,
 * certificate_domains, renewal_info, and per version the files the fleet stores (cert, chain,
 * fullchain in clear, privkey sealed: random base64 of the sizes of an ECDSA P-256 certificate
 * from Let's Encrypt, so TOAST compression does not flatter it), two deploying hosts per lineage
 * (lineage_hosts). Then ANALYZE and pg_total_relation_size (heap + TOAST + indexes) per table.
 *
 *   node bench/ledger-size.mjs [--lineages 100000]
 * Needs `npm run build && npm run build:testkit`.
 */
import path from 'node:path';
import pg from 'pg';
import { ROOT, arg } from './lib.mjs';

const N = Number(arg('lineages', 100_000));
const { Ledger } = await import(path.join(ROOT, 'dist/core/ledger/ledger.js'));
const { startPostgres } = await import(path.join(ROOT, 'dist-testkit/testkit/postgres.js'));

const server = await startPostgres();
try {
  const url = await server.createDatabase('size');
  const ledger = Ledger.open(url);
  ledger.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  c.on('error', () => {});
  const t0 = performance.now();
  const LE = 'https://acme-v02.api.letsencrypt.org/directory';
  // b64(n): n characters of base64 from random bytes (PEM bodies do not compress)
  await c.query(`CREATE FUNCTION b64(n int) RETURNS text LANGUAGE sql AS $$ SELECT left(encode(decode(string_agg(lpad(to_hex((random()*4294967295)::bigint), 8, '0'), ''), 'hex'), 'base64'), n) FROM generate_series(1, n/6 + 1) $$`);
  await c.query(`INSERT INTO accounts (id, directory_url, ca_id, account_url, key_path, key_type, email, created_at, updated_at) VALUES (1, '${LE}', 'letsencrypt', 'https://acme-v02.api.letsencrypt.org/acme/acct/1', '', 'ecdsa', 'ops@example.com', 0, 0)`);
  const q = async (sql) => c.query(sql);
  await q(`CREATE TEMP TABLE v AS SELECT i, ver, 'site' || i || '.example.com' AS d, 1780000000000::bigint + i * 1000 + ver * 5184000000 AS at
           FROM generate_series(1, ${N}) i CROSS JOIN LATERAL generate_series(1, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END) ver`);
  await q(`INSERT INTO lineages (name, names_json, set_key, ca_id, directory_url, key_type, challenge, webroot, settings_json, current_version, created_at, updated_at, renewed_by, renewed_at)
           SELECT d, '["' || d || '","www.' || d || '"]', d || ',www.' || d, 'letsencrypt', '${LE}', 'ecdsa:p256', 'http-01', '/var/www/html', '{"email":"ops@example.com","hosts":["web1","web2"]}', max(ver), min(at), max(at), 'web' || (i % 1000), max(at)
           FROM v GROUP BY i, d`);
  await q(`INSERT INTO orders (id, lineage, account_id, ca_id, directory_url, names_json, set_key, key_type, order_url, finalize_url, certificate_url, replaces, profile, status, step, state, created_at, updated_at)
           SELECT i * 10 + ver, d, 1, 'letsencrypt', '${LE}', '["' || d || '","www.' || d || '"]', d || ',www.' || d, 'ecdsa:p256',
                  'https://acme-v02.api.letsencrypt.org/acme/order/1/' || (i*10+ver) || '0123456', 'https://acme-v02.api.letsencrypt.org/acme/finalize/1/' || (i*10+ver) || '0123456',
                  'https://acme-v02.api.letsencrypt.org/acme/cert/' || md5(d || ver), CASE WHEN ver > 1 THEN b64(22) || '.' || b64(24) END, 'classic', 'valid', 'done', 'done', at, at FROM v`);
  await q(`INSERT INTO order_events (order_id, at, step, status, detail)
           SELECT i * 10 + ver, at, s, 'ok', NULL FROM v CROSS JOIN unnest(ARRAY['created','authorized','finalized','downloaded','stored']) s`);
  await q(`INSERT INTO authorizations (order_id, account_id, directory_url, identifier, authz_url, status, challenge_type, at)
           SELECT i * 10 + ver, 1, '${LE}', n, 'https://acme-v02.api.letsencrypt.org/acme/authz/1/' || (i*10+ver) || '98765', 'valid', 'http-01', at
           FROM v CROSS JOIN LATERAL unnest(ARRAY[d, 'www.' || d]) n`);
  await q(`INSERT INTO certificates (id, lineage, version, order_id, role, source, ca_id, directory_url, issuer, serial, names_json, set_key, key_type, not_before, not_after, issued_at, ari_cert_id, fingerprint, created_at)
           SELECT i * 10 + ver, d, ver, i * 10 + ver, 'main', 'certctl', 'letsencrypt', '${LE}', 'CN=E6,O=Let''s Encrypt,C=US', md5(d || ver) || 'ab', '["' || d || '","www.' || d || '"]', d || ',www.' || d, 'ecdsa:p256',
                  at - 3600000, at + 7772400000, at, b64(27) || '.' || b64(24), encode(sha256((d || ver)::bytea), 'hex'), at FROM v`);
  await q(`INSERT INTO certificate_domains (registered_domain, issued_at, cert_id) SELECT 'example.com', at, i * 10 + ver FROM v`);
  await q(`INSERT INTO renewal_info (cert_id, ari_cert_id, window_start, window_end, chosen_at, next_check, explanation_url, fetched_at)
           SELECT i * 10 + ver, b64(27) || '.' || b64(24), at + 5184000000, at + 5356800000, at + 5270400000, at + 21600000, NULL, at FROM v
           WHERE ver = CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END`);
  // cert 1 ECDSA leaf ≈ 1,300 chars of PEM, chain (E6 + ISRG X2) ≈ 1,900, fullchain both, sealed P-256 key ≈ 400
  await q(`INSERT INTO version_files (lineage, version, file, secret, data, key_id, created_at)
           SELECT d, ver, f.name, f.secret, b64(f.len), CASE WHEN f.secret = 1 THEN 'k1' END, at FROM v
           CROSS JOIN (VALUES ('cert', 0, 1300), ('chain', 0, 1900), ('fullchain', 0, 3200), ('privkey', 1, 400)) f(name, secret, len)`);
  await q(`INSERT INTO lineage_hosts (lineage, host, deployed_version, deployed_at, added_at)
           SELECT d, 'web' || ((i + h) % 1000), max(ver), max(at), min(at) FROM v CROSS JOIN generate_series(0, 1) h GROUP BY i, d, h`);
  await q('ANALYZE');
  const genS = (performance.now() - t0) / 1000;
  const r = await c.query(`SELECT c.relname AS t, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS total, pg_relation_size(c.oid) AS heap, pg_indexes_size(c.oid) AS idx
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 3 DESC`);
  const db = await c.query('SELECT pg_database_size(current_database()) AS s');
  const v = (await c.query('SHOW server_version')).rows[0].server_version;
  await c.end();
  console.log(`PostgreSQL ${v}, ${N.toLocaleString('en')} lineages, generated in ${genS.toFixed(0)} s; database ${(db.rows[0].s / 1e6).toFixed(1)} MB`);
  console.log('| table | rows | total bytes (heap+toast+indexes) | bytes/row | indexes |');
  console.log('|---|---:|---:|---:|---:|');
  for (const x of r.rows) {
    if (Number(x.rows) <= 0 && Number(x.total) < 100_000) continue;
    console.log(`| ${x.t} | ${Number(x.rows).toLocaleString('en')} | ${Number(x.total).toLocaleString('en')} | ${x.rows > 0 ? Math.round(x.total / x.rows) : '-'} | ${Number(x.idx).toLocaleString('en')} |`);
  }
} finally {
  await server.stop();
}
