/**
 * Ledger.checkLineageRows (status and metrics look before they write): on SQLite the JSON is
 * checked in SQL first and only the suspect rows go to the JavaScript checks, which must refuse
 * exactly what they refused when they read every row — the same sentence lineages() gives — and
 * nothing more.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/core/ledger/ledger.js';

const DIR = 'https://acme.example/dir';
let dir: string;
let ledger: Ledger;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-check-'));
  ledger = Ledger.open(path.join(dir, 'ledger.sqlite'));
  for (const name of ['a.example', 'b.example', 'c.example']) {
    ledger.saveLineage({ name, names: [name], set_key: name, ca_id: 'custom', directory_url: DIR, key_type: 'ecdsa:p256', challenge: 'webroot', webroot: '/w', standalone_addr: null, settings: name === 'b.example' ? { cas: ['x'] } : {}, now: 1 });
    ledger.db.prepare('UPDATE lineages SET current_version = 1 WHERE name = ?').run(name);
    ledger.insertCertificate({
      lineage: name, version: 1, order_id: null, bundle_id: null, role: 'main', source: 'certctl', ca_id: 'custom', directory_url: DIR, issuer: 'CN=test',
      serial: `s-${name}`, names: [name], set_key: name, key_type: 'ecdsa:p256', not_before: 0, not_after: 1000, issued_at: 0,
      replaces: null, ari_cert_id: null, seen_in_ct: 0, fingerprint: null, registered_domains: [], now: 1,
    });
  }
});
afterEach(() => {
  ledger.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The sentence a call throws, or null. */
function thrown(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('checkLineageRows on SQLite', () => {
  it('passes an intact ledger', () => {
    expect(thrown(() => ledger.checkLineageRows())).toBeNull();
    expect(thrown(() => ledger.checkLineageRows(['b.example']))).toBeNull();
  });

  it.each([
    ['names_json', 'not json'],
    ['names_json', '{}'],
    ['names_json', '["a", 1]'],
    ['names_json', '["a", ["b"]]'],
    ['names_json', '["a", null]'],
    ['names_json', "['a']"],
    ['names_json', '[1,]'],
    ['settings_json', '[]'],
    ['settings_json', 'null'],
    ['settings_json', '{a:1}'],
    ['settings_json', '"x"'],
    ['current_version', -1],
    ['current_version', 1.5],
    ['current_version', 'two'],
    ['current_version', 2 ** 60],
  ] as [string, unknown][])('refuses lineages.%s = %j as lineages() does', (column, value) => {
    ledger.db.prepare(`UPDATE lineages SET ${column} = ? WHERE name = 'b.example'`).run(value);
    const expected = thrown(() => ledger.lineages());
    expect(expected).toMatch(/lineage "b\.example" has a damaged/);
    expect(thrown(() => ledger.checkLineageRows())).toBe(expected);
    expect(thrown(() => ledger.checkLineageRows(['b.example']))).toBe(expected);
    expect(thrown(() => ledger.checkLineageRows(['a.example', 'c.example']))).toBeNull();
  });

  it('accepts what the JavaScript check accepts though SQLite would not (names as a BLOB of JSON text)', () => {
    ledger.db.prepare("UPDATE lineages SET names_json = ? WHERE name = 'b.example'").run(Buffer.from('["b.example"]'));
    expect(thrown(() => ledger.lineages())).toBeNull();
    expect(thrown(() => ledger.checkLineageRows())).toBeNull();
  });

  it.each(['not json', '{}', '["a", 2]'])('refuses a current certificate whose names_json is %j', (value) => {
    const id = ledger.db.prepare("SELECT id FROM certificates WHERE lineage = 'c.example'").pluck().get() as number;
    ledger.db.prepare('UPDATE certificates SET names_json = ? WHERE id = ?').run(value, id);
    expect(thrown(() => ledger.checkLineageRows())).toMatch(new RegExp(`certificate ${id} has a damaged names_json`));
    expect(thrown(() => ledger.checkLineageRows(['a.example']))).toBeNull();
  });
});
