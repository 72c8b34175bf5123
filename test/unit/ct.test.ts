/**
 * CT sync against a local crt.sh stand-in (test/unit/ct-server.ts) replaying
 * fixtures built from crt.sh's documented fields: collapsing, names, issuer
 * matching, retries, time-outs, the row cap, ct_sync, and what the planner
 * counts afterwards.
 */
import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/core/ledger/ledger.js';
import { BACKENDS, openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { ctStatus, ctSyncRow } from '../../src/core/ledger/ct.js';
import { syncCtDomain, autoSyncCt, needsCtSync } from '../../src/core/ct/index.js';
import { queryCrtSh, crtShUrl, type CrtShOptions } from '../../src/core/ct/crtsh.js';
import { collapseRows, issuerKey, ledgerIssuer, splitDn, parseCtTime, caIdForIssuer, normalizeSerial } from '../../src/core/ct/parse.js';
import { planFromLedger } from '../../src/core/plan.js';
import { domainFacts, setFacts } from '../../src/core/ledger/snapshot.js';
import { registeredDomains, setKey } from '../../src/core/names.js';
import { startCtServer, fixture, manyRows, type CtServer } from './ct-server.js';

const NOW = Date.parse('2026-02-25T12:00:00Z');
const HOUR = 3_600_000;
const LE_DIR = 'https://acme-v02.api.letsencrypt.org/directory';
let srv: CtServer;
let dir: string;
let ledger: Ledger;

beforeAll(async () => {
  srv = await startCtServer();
});
afterAll(async () => {
  await srv.stop();
});
beforeEach(() => {
  srv.hits.length = 0;
  srv.script('%.example.com', [{ body: fixture('example.com-wildcard.json') }]);
  srv.script('example.com', [{ body: fixture('example.com-apex.json') }]);
});

const opts = (o: Partial<CrtShOptions> = {}): CrtShOptions => ({ baseUrl: srv.url, requestTimeoutMs: 2000, totalTimeoutMs: 10_000, retries: 3, backoffMs: 20, ...o });
const clock = () => NOW;

/** What the planner reads for the per-domain limit at Let's Encrypt (its snapshot): certificates in the last 7 days. */
function perDomainUsed(names: string[]): number {
  const domain = registeredDomains(names)[0]!;
  return domainFacts(ledger, domain, { caId: 'letsencrypt', directoryUrl: LE_DIR }, NOW - 7 * 86_400_000, NOW).length;
}
/** The planner's bucket for that limit (Let's Encrypt refills one slot per 202 min, so spread-out certificates are back already). */
function perDomainBucketUsed(names: string[]): number {
  const d = planFromLedger(ledger, { names, caId: 'letsencrypt', directoryUrl: LE_DIR, policyId: 'letsencrypt', accountId: null, parts: 1 }, NOW);
  return d.limits.find((l) => l.name === 'certificates-per-domain')!.used;
}

function own(issuer: string, serial: string, names: string[], issuedAt: number, source: 'certctl' | 'certbot' = 'certctl') {
  return ledger.insertCertificate({
    lineage: null,
    version: null,
    order_id: null,
    bundle_id: null,
    role: null,
    source,
    ca_id: 'letsencrypt',
    directory_url: LE_DIR,
    issuer,
    serial,
    names,
    set_key: setKey(names),
    key_type: 'ecdsa:p256',
    not_before: issuedAt - HOUR,
    not_after: issuedAt + 90 * 86_400_000,
    issued_at: issuedAt,
    replaces: null,
    ari_cert_id: null,
    seen_in_ct: 0,
    fingerprint: null,
    registered_domains: registeredDomains(names),
    now: issuedAt,
  }).id;
}

describe('parsing crt.sh rows', () => {
  it('collapses precertificate + certificate, splits and lower-cases names, keeps the earliest entry timestamp, skips unreadable rows', () => {
    const rows = [...(fixture('example.com-wildcard.json') as object[]), ...(fixture('example.com-apex.json') as object[])];
    const r = collapseRows(rows, NOW);
    expect(r.skipped).toBe(1);
    expect(r.certificates).toHaveLength(5);
    const a = r.certificates.find((c) => c.serial === '4a1b2c3d4e5f60718293a4b5c6d7e8f9a0b')!;
    expect(a).toMatchObject({ names: ['example.com', 'www.example.com'], issuer: "C=US, O=Let's Encrypt, CN=R11", crtshIds: [101, 101, 102, 102], fromEntryTimestamp: true });
    expect(a.issuedAt).toBe(Date.parse('2026-02-20T10:00:05.123Z'));
    expect(a.notBefore).toBe(Date.parse('2026-02-20T09:00:06Z'));
    const b = r.certificates.find((c) => c.names[0] === 'api.example.com')!;
    expect(b.fromEntryTimestamp).toBe(false);
    // No entry timestamp: notBefore + 1 h (Boulder backdates notBefore by an hour).
    expect(b.issuedAt).toBe(Date.parse('2026-02-22T09:30:00Z'));
    const e = r.certificates.find((c) => c.names.includes('mail.example.net'))!;
    expect(e.registeredDomains).toEqual(['example.com', 'example.net']);
    expect(r.certificates.find((c) => c.names[0] === '*.example.com')!.setKey).toBe('*.example.com,example.com');
  });

  it('a missing entry timestamp on a fresh certificate never puts the spend moment in the future', () => {
    const r = collapseRows([{ issuer_name: 'CN=X', serial_number: 'ab', name_value: 'a.example.com', not_before: '2026-02-25T11:30:00', not_after: '2026-05-25T11:30:00', entry_timestamp: null }], NOW);
    expect(r.certificates[0]!.issuedAt).toBe(NOW);
  });

  it('issuer keys are order-, case-, quoting- and spacing-insensitive', () => {
    const node = "C=US, O=Let's Encrypt, CN=R11";
    expect(issuerKey(node)).toBe(issuerKey("CN=R11, O=Let's Encrypt, C=US"));
    expect(issuerKey(node)).toBe(issuerKey('C=US,O="Let\'s Encrypt",CN=R11'));
    expect(issuerKey(node)).toBe(issuerKey("/C=US/O=Let's Encrypt/CN=R11"));
    expect(issuerKey(node)).toBe(issuerKey("countryName=US, organizationName=Let's  Encrypt, commonName=r11"));
    expect(issuerKey(node)).not.toBe(issuerKey("C=US, O=Let's Encrypt, CN=R10"));
    // Node prints "O=DigiCert, Inc." unescaped; crt.sh quotes it: the same issuer.
    expect(issuerKey('C=US, O=DigiCert, Inc., CN=DigiCert TLS RSA SHA256 2020 CA1')).toBe(issuerKey('C=US, O="DigiCert, Inc.", CN=DigiCert TLS RSA SHA256 2020 CA1'));
    expect(splitDn('C=US, O="DigiCert, Inc.", CN=X')).toEqual([['C', 'US'], ['O', 'DigiCert, Inc.'], ['CN', 'X']]);
    expect(ledgerIssuer('C=US, O="DigiCert, Inc.", CN=X')).toBe('C=US, O=DigiCert, Inc., CN=X');
  });

  it('times, serials and CAs', () => {
    expect(parseCtTime('2026-02-20T09:00:06')).toBe(Date.parse('2026-02-20T09:00:06Z'));
    expect(parseCtTime('2026-02-20 09:00:06.5')).toBe(Date.parse('2026-02-20T09:00:06.500Z'));
    expect(parseCtTime(null)).toBeNull();
    expect(normalizeSerial('00:AB:0c')).toBe('ab0c');
    expect(caIdForIssuer("C=US, O=Let's Encrypt, CN=E6")).toBe('letsencrypt');
    expect(caIdForIssuer("C=US, O=(STAGING) Let's Encrypt, CN=(STAGING) Ersatz Edamame E1")).toBe('letsencrypt-staging');
    expect(caIdForIssuer('C=US, O=Google Trust Services, CN=WR1')).toBeNull();
    expect(crtShUrl('https://crt.sh/', '%.example.com')).toBe('https://crt.sh/?q=%25.example.com&output=json&exclude=expired');
  });
});

describe('crt.sh client', () => {
  it('asks for JSON without expired certificates', async () => {
    const r = await queryCrtSh('%.example.com', opts());
    expect(r.ok).toBe(true);
    expect(r.rows).toHaveLength(7);
    expect(srv.hits[0]).toEqual({ q: '%.example.com', output: 'json', exclude: 'expired' });
  });

  it('retries a 502, a 503 and a non-JSON body, then succeeds', async () => {
    srv.script('%.retry.example', [{ status: 502, body: '<html>Bad Gateway</html>' }, { status: 503, body: '' }, { status: 200, body: '<html>crt.sh is busy</html>' }, { body: [] }]);
    const lines: string[] = [];
    const r = await queryCrtSh('%.retry.example', opts({ onAttempt: (l) => lines.push(l) }));
    expect(r).toMatchObject({ ok: true, attempts: 4, error: null });
    expect(lines.join('\n')).toMatch(/HTTP 502[\s\S]*HTTP 503[\s\S]*not JSON \("<html>crt\.sh is busy<\/html>"\)/);
  });

  it('times out a slow answer and retries', async () => {
    srv.script('%.slow.example', [{ delayMs: 3000, body: [] }, { body: [] }]);
    const t0 = Date.now();
    const r = await queryCrtSh('%.slow.example', opts({ requestTimeoutMs: 300 }));
    expect(r).toMatchObject({ ok: true, attempts: 2 });
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('gives up after the retries, with the reason; never beyond the total budget', async () => {
    srv.script('%.down.example', [{ status: 502, body: 'bad gateway' }]);
    const r = await queryCrtSh('%.down.example', opts({ retries: 2 }));
    expect(r).toMatchObject({ ok: false, attempts: 3 });
    expect(r.error).toMatch(/HTTP 502 \(after 3 attempts\)/);
    srv.script('%.slow2.example', [{ delayMs: 5000, body: [] }]);
    const t0 = Date.now();
    const s = await queryCrtSh('%.slow2.example', opts({ requestTimeoutMs: 400, totalTimeoutMs: 1000, retries: 10, backoffMs: 10 }));
    expect(s.ok).toBe(false);
    expect(s.error).toMatch(/no complete answer within/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('does not retry a 404', async () => {
    srv.script('%.gone.example', [{ status: 404, body: 'no' }, { body: [] }]);
    const r = await queryCrtSh('%.gone.example', opts());
    expect(r).toMatchObject({ ok: false, attempts: 1 });
  });
});

describe.each(BACKENDS)('sync into the %s ledger', (backend) => {
  afterAll(stopTestPostgres);
  beforeEach(async () => {
    ({ ledger, dir } = await openTestLedger(backend, 'certctl-ct-'));
  });
  afterEach(() => {
    ledger.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('inserts CT certificates as source ct, seen_in_ct, records a complete sync; the planner counts them', async () => {
    expect(perDomainUsed(['x.example.com'])).toBe(0);
    const r = await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(r).toMatchObject({ domain: 'example.com', complete: true, rows: 10, certificates: 5, skipped: 1, inserted: 5, already: 0, matched: 0, error: null });
    const rows = ledger.allCertificates();
    expect(rows.every((c) => c.source === 'ct' && c.seen_in_ct === 1 && c.lineage === null)).toBe(true);
    expect(rows.map((c) => String(c.ca_id)).sort()).toEqual(['letsencrypt', 'letsencrypt', 'letsencrypt', 'letsencrypt', 'null']);
    expect(ctSyncRow(ledger, 'example.com')).toEqual({ registered_domain: 'example.com', synced_at: NOW, complete: 1, rows: 10, error: null });
    // Four Let's Encrypt certificates count against example.com; Google's does not count at Let's Encrypt.
    expect(perDomainUsed(['x.example.com'])).toBe(4);
    expect(perDomainUsed(['x.example.net'])).toBe(1);
    expect(setFacts(ledger, 'example.com,www.example.com', { caId: 'letsencrypt', directoryUrl: LE_DIR }, NOW - 7 * 86_400_000, NOW)).toHaveLength(1);

    // Idempotent: a second sync adds nothing.
    const again = await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(again).toMatchObject({ inserted: 0, already: 5, matched: 0 });
    expect(ledger.allCertificates()).toHaveLength(5);
    expect(perDomainUsed(['x.example.com'])).toBe(4);
  });

  it('a certificate certctl issued is matched by serial + issuer (spelled the same) and counted once', async () => {
    const id = own("C=US, O=Let's Encrypt, CN=R11", '4a1b2c3d4e5f60718293a4b5c6d7e8f9a0b', ['example.com', 'www.example.com'], Date.parse('2026-02-20T10:00:03Z'));
    const r = await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(r).toMatchObject({ inserted: 4, matched: 1, matchedByIssuer: 1 });
    expect(ledger.certificate(id)).toMatchObject({ source: 'certctl', seen_in_ct: 1 });
    expect(ledger.allCertificates()).toHaveLength(5);
    expect(perDomainUsed(['x.example.com'])).toBe(4);
  });

  it('matched by the normalised issuer when the spelling differs (order, quoting)', async () => {
    const id = own('CN=R11,O="Let\'s Encrypt",C=US', '4a1b2c3d4e5f60718293a4b5c6d7e8f9a0b', ['example.com', 'www.example.com'], Date.parse('2026-02-20T10:00:03Z'), 'certbot');
    const r = await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(r).toMatchObject({ inserted: 4, matched: 1, matchedByIssuer: 1, matchedBySerialAndDomain: 0 });
    expect(ledger.certificate(id)!.seen_in_ct).toBe(1);
    expect(perDomainUsed(['x.example.com'])).toBe(4);
  });

  it('matched by serial + registered domain when the issuer strings cannot be reconciled', async () => {
    // The ledger's issuer lacks the C attribute: a different attribute set, same serial, same domain.
    const id = own("O=Let's Encrypt, CN=R11", '4a1b2c3d4e5f60718293a4b5c6d7e8f9a0b', ['example.com', 'www.example.com'], Date.parse('2026-02-20T10:00:03Z'));
    const r = await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(r).toMatchObject({ inserted: 4, matched: 1, matchedByIssuer: 0, matchedBySerialAndDomain: 1 });
    expect(ledger.certificate(id)!.seen_in_ct).toBe(1);
    expect(perDomainUsed(['x.example.com'])).toBe(4);
    // The same serial under another registered domain is not the same certificate.
    const other = own('CN=Someone Else', '7f00aa11bb22cc33dd44ee55ff66', ['shop.example.org'], Date.parse('2026-02-24T00:00:00Z'));
    await syncCtDomain(ledger, 'example.com', opts(), clock);
    expect(ledger.certificate(other)!.seen_in_ct).toBe(0);
  });

  it('a failed query records a failed sync, keeps what arrived and says so', async () => {
    srv.script('example.com', [{ status: 503, body: 'busy' }]);
    const r = await syncCtDomain(ledger, 'example.com', opts({ retries: 1 }), clock);
    expect(r.complete).toBe(false);
    expect(r.inserted).toBe(5); // the %.example.com answer still counts
    expect(r.error).toMatch(/^example\.com: crt\.sh gave HTTP 503 \(after 2 attempts\)/);
    expect(ctSyncRow(ledger, 'example.com')).toMatchObject({ complete: 0, rows: 7 });
    expect(ctStatus(ledger, ['example.com'], NOW + 3 * 86_400_000)[0]).toMatchObject({ state: 'incomplete', text: expect.stringMatching(/^CT sync for example\.com is 3 days old and incomplete/) });

    srv.script('%.dead.example', [{ status: 502, body: 'x' }]);
    srv.script('dead.example', [{ status: 502, body: 'x' }]);
    const d = await syncCtDomain(ledger, 'dead.example', opts({ retries: 0 }), clock);
    expect(d).toMatchObject({ complete: false, rows: 0, inserted: 0 });
    expect(ctStatus(ledger, ['dead.example'], NOW + 2 * HOUR)[0]).toMatchObject({ state: 'failed', text: expect.stringMatching(/^CT sync for dead\.example failed 2 h ago: %\.dead\.example: crt\.sh gave HTTP 502/) });
  });

  it('10,000 rows is crt.sh cap: imported, but marked partial', async () => {
    srv.script('%.big.example', [{ body: manyRows('big.example', 10_000) }]);
    const r = await syncCtDomain(ledger, 'big.example', opts(), clock);
    expect(r).toMatchObject({ complete: false, rows: 10_000, inserted: 10_000 });
    expect(r.error).toMatch(/10000 rows, crt\.sh's cap of 10000/);
    expect(ctStatus(ledger, ['big.example'], NOW)[0]!.state).toBe('incomplete');
    expect(perDomainUsed(['x.big.example'])).toBe(10_000);
    // 10,000 spent at one moment 36 h ago: the bucket is still empty, and the plan says blocked.
    expect(perDomainBucketUsed(['x.big.example'])).toBe(50);
    expect(planFromLedger(ledger, { names: ['x.big.example'], caId: 'letsencrypt', directoryUrl: LE_DIR, policyId: 'letsencrypt', accountId: null, parts: 1 }, NOW).verdict).toBe('blocked');
  });

  it('status: never, fresh, stale; auto sync only when needed and never for test TLDs', async () => {
    expect(ctStatus(ledger, ['example.com'], NOW)[0]).toMatchObject({ state: 'never', text: expect.stringMatching(/^CT sync for example\.com: never/) });
    expect(needsCtSync(ledger, 'example.com', NOW, 24 * HOUR)).toBe(true);
    const synced = await autoSyncCt(ledger, ['example.com', 'host.test'], clock, { mode: 'auto', maxAgeMs: 24 * HOUR, crtsh: { baseUrl: srv.url } });
    expect(synced.map((s) => s.domain)).toEqual(['example.com']);
    expect(srv.hits.some((h) => h.q.includes('host.test'))).toBe(false);
    expect(ctStatus(ledger, ['example.com'], NOW + HOUR)[0]).toMatchObject({ state: 'fresh', text: 'CT sync for example.com is 1 h old, complete (10 rows)' });
    expect(ctStatus(ledger, ['example.com'], NOW + 3 * 86_400_000)[0]).toMatchObject({ state: 'stale', text: expect.stringMatching(/is 3 days old/) });
    const hits = srv.hits.length;
    expect(await autoSyncCt(ledger, ['example.com'], () => NOW + HOUR, { mode: 'auto', maxAgeMs: 24 * HOUR, crtsh: { baseUrl: srv.url } })).toEqual([]);
    expect(await autoSyncCt(ledger, ['example.com'], () => NOW + 25 * HOUR, { mode: 'never', maxAgeMs: 24 * HOUR, crtsh: { baseUrl: srv.url } })).toEqual([]);
    expect(srv.hits.length).toBe(hits);
    expect(await autoSyncCt(ledger, ['example.com'], () => NOW + 25 * HOUR, { mode: 'auto', maxAgeMs: 24 * HOUR, crtsh: { baseUrl: srv.url } })).toHaveLength(1);
  });
});
