/**
 * Ledger.renewalScan (the batched read `renew` walks with) gives exactly what
 * the per-lineage reads give: lineages() order, currentCertificates() of the
 * current version in id order, renewalInfo() per certificate — whole, in
 * pages, and for a list of names.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/core/ledger/ledger.js';

const DIR = 'https://acme.example/dir';
const DAY = 86_400_000;
let dir: string;
let ledger: Ledger;
let serial = 1;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-scan-'));
  ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
});
afterEach(() => {
  ledger.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function lineage(name: string, settings: Record<string, unknown> = {}): void {
  ledger.saveLineage({ name, names: [name, `www.${name}`], set_key: `${name},www.${name}`, ca_id: 'custom', directory_url: DIR, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: '/w', standalone_addr: null, settings, now: 1 });
}

function cert(name: string, version: number, notAfter: number, role = 'main'): number {
  return ledger.insertCertificate({
    lineage: name, version, order_id: null, bundle_id: null, role, source: 'certctl', ca_id: 'custom', directory_url: DIR, issuer: 'CN=test',
    serial: `s${serial++}`, names: [name], set_key: name, key_type: 'ecdsa:p256', not_before: notAfter - 90 * DAY, not_after: notAfter, issued_at: notAfter - 90 * DAY,
    replaces: null, ari_cert_id: role === 'main' ? `ari.${serial}` : null, seen_in_ct: 0, fingerprint: null, registered_domains: [], now: 1,
  }).id;
}

/** What renew read before: one lineage at a time. */
function perLineage() {
  return ledger.lineages().map((l) => ({
    lineage: { name: l.name, names: l.names, ca_id: l.ca_id, directory_url: l.directory_url, settings: l.settings },
    current: ledger.currentCertificates(l.name).map((c) => ({
      id: c.id, version: c.version, role: c.role, serial: c.serial, not_before: c.not_before, not_after: c.not_after, ari_cert_id: c.ari_cert_id, revoked_at: c.revoked_at ?? null,
      renewal_info: ledger.renewalInfo(c.id),
    })),
  }));
}

describe('Ledger.renewalScan', () => {
  beforeEach(() => {
    lineage('c.test', { renewDays: 20, caBundle: '/ca.pem' });
    lineage('a.test');
    lineage('b.test', { deployHook: 'true' });
    lineage('d.test'); // no certificate yet
    cert('a.test', 1, 100 * DAY);
    const a2 = cert('a.test', 2, 190 * DAY);
    ledger.setLineageVersion('a.test', 2, 2);
    // An ARI row for the certificate's own ARI id, and (c.test below) one for another id.
    ledger.saveRenewalInfo({ cert_id: a2, ari_cert_id: ledger.certificate(a2)!.ari_cert_id!, window_start: 150 * DAY, window_end: 152 * DAY, chosen_at: 151 * DAY, next_check: 11 * DAY, explanation_url: 'https://ca/why', fetched_at: 6 * DAY });
    const b1 = cert('b.test', 1, 150 * DAY, 'ecdsa');
    cert('b.test', 1, 140 * DAY, 'rsa'); // dual: two current certificates
    ledger.setLineageVersion('b.test', 1, 2);
    const c1 = cert('c.test', 1, 120 * DAY);
    ledger.setLineageVersion('c.test', 1, 2);
    ledger.saveRenewalInfo({ cert_id: c1, ari_cert_id: 'ari.x', window_start: 80 * DAY, window_end: 82 * DAY, chosen_at: 81 * DAY, next_check: 10 * DAY, explanation_url: null, fetched_at: 5 * DAY });
    expect(b1).toBeGreaterThan(0);
  });

  it('matches the per-lineage reads', () => {
    expect(ledger.renewalScan()).toEqual(perLineage());
    expect(ledger.renewalScan()[0]!.current[0]!.renewal_info?.explanation_url).toBe('https://ca/why');
    expect(ledger.lineageCount()).toBe(4);
  });

  it('pages by name and filters by names', () => {
    const all = perLineage();
    expect(ledger.renewalScan({ limit: 2 })).toEqual(all.slice(0, 2));
    expect(ledger.renewalScan({ after: 'b.test', limit: 2 })).toEqual(all.slice(2, 4));
    expect(ledger.renewalScan({ after: 'd.test', limit: 2 })).toEqual([]);
    expect(ledger.renewalScan({ names: ['d.test', 'b.test', 'nope.test'] })).toEqual([all[1], all[3]]);
    expect(ledger.renewalScan({ names: ['d.test', 'b.test'], after: 'b.test', limit: 1 })).toEqual([all[3]]);
  });
});
