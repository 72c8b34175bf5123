/**
 * The fleet key and the ledger's sealed rows (docs/fleet.md), on a real PostgreSQL ledger
 * (test/helpers/ledgers.ts): a ciphertext opens only in its own row (AAD), a host with another key
 * is told so in one sentence, rotation re-seals every key in one transaction, and a key file
 * others can read is refused.
 */
import { describe, it, expect, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { loadFleetKey, newFleetKeyText } from '../../src/core/fleet/key.js';
import { openTestLedger, stopTestPostgres } from '../helpers/ledgers.js';
import { InputError, StateError } from '../../src/core/errors.js';

afterAll(stopTestPostgres);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-fleetkey-'));
function keyFile(name: string, mode = 0o600): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, newFleetKeyText(), { mode });
  fs.chmodSync(f, mode);
  return f;
}
const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('fleet key file', () => {
  it('refuses a key file group or others can read, a missing one and one that is no key', () => {
    expect(() => loadFleetKey(keyFile('loose', 0o640))).toThrow(/can be read by group or others \(mode 0640\)/);
    expect(() => loadFleetKey(path.join(dir, 'none'))).toThrow(/does not exist/);
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'certctl-fleet-key-v1:short\n', { mode: 0o600 });
    expect(() => loadFleetKey(bad)).toThrow(InputError);
  });

  it('seals with AES-256-GCM bound to its row: another row, another key or a changed byte does not open', () => {
    const k = loadFleetKey(keyFile('k1'));
    const other = loadFleetKey(keyFile('k2'));
    const s = k.seal(PEM, 'file:a:1:privkey.pem');
    expect(s).not.toContain('PRIVATE');
    expect(k.open(s, 'file:a:1:privkey.pem', 'x')).toBe(PEM);
    expect(k.seal(PEM, 'file:a:1:privkey.pem')).not.toBe(s); // a fresh IV each time
    expect(() => k.open(s, 'file:b:1:privkey.pem', 'key of b')).toThrow(StateError);
    expect(() => k.open(s, 'file:a:2:privkey.pem', 'key of a v2')).toThrow(/copied from another row/);
    expect(() => other.open(s, 'file:a:1:privkey.pem', 'x')).toThrow(new RegExp(`is not the key this ledger's secrets are sealed with \\(id ${k.keyId}\\)`));
    const parts = s.split(':');
    parts[3] = Buffer.from(Buffer.from(parts[3]!, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url');
    expect(() => k.open(parts.join(':'), 'file:a:1:privkey.pem', 'x')).toThrow(StateError);
  });
});

describe('sealed rows in a PostgreSQL ledger', () => {
  it('a key copied into another row does not open; rotation re-seals every key in one transaction', async () => {
    const { ledger } = await openTestLedger('postgres');
    try {
      const k1 = loadFleetKey(keyFile('r1'));
      ledger.sealer = k1;
      expect(ledger.claimFleetKeyId(k1.keyId)).toBe(k1.keyId);
      ledger.saveVersionFiles('a', 1, [{ file: 'cert.pem', secret: false, data: 'CERT' }, { file: 'privkey.pem', secret: true, data: PEM }], 1);
      ledger.saveVersionFiles('b', 1, [{ file: 'privkey.pem', secret: true, data: 'other key' }], 1);
      ledger.saveAccountKey({ directory_url: 'https://ca/dir', ca_id: 'x', key_path: '/k', key_type: 'ecdsa:p256', email: null, keyPem: PEM, now: 1 });
      expect(ledger.versionFiles('a', 1)).toEqual([{ file: 'cert.pem', secret: false, data: 'CERT' }, { file: 'privkey.pem', secret: true, data: PEM }]);
      expect(ledger.accountKey('https://ca/dir')).toBe(PEM);
      // A's sealed key pasted into B's row (by hand, in psql): refused, not used.
      ledger.db.prepare("UPDATE version_files SET data = (SELECT data FROM version_files WHERE lineage = 'a' AND file = 'privkey.pem') WHERE lineage = 'b'").run();
      expect(() => ledger.versionFiles('b', 1)).toThrow(/copied from another row/);
      ledger.db.prepare("DELETE FROM version_files WHERE lineage = 'b'").run();

      const k2 = loadFleetKey(keyFile('r2'));
      expect(ledger.rotateFleetKey(k2)).toEqual({ files: 1, accounts: 1, orders: 0 });
      expect(ledger.fleetKeyId()).toBe(k2.keyId);
      expect(() => ledger.versionFiles('a', 1)).toThrow(/is not the key this ledger's secrets are sealed with/);
      ledger.sealer = k2;
      expect(ledger.versionFiles('a', 1)[1]!.data).toBe(PEM);
      expect(ledger.accountKey('https://ca/dir')).toBe(PEM);
      const ids = ledger.db.prepare('SELECT DISTINCT key_id FROM version_files WHERE secret = 1').pluck().all();
      expect(ids).toEqual([k2.keyId]);

      // A rotation that meets a value it cannot open changes nothing (one transaction).
      ledger.db.prepare("INSERT INTO version_files (lineage, version, file, secret, data, key_id, created_at) VALUES ('c', 1, 'privkey.pem', 1, 'certctl-sealed-v1:0000000000000000:a:b:c', '0000000000000000', 1)").run();
      const k3 = loadFleetKey(keyFile('r3'));
      expect(() => ledger.rotateFleetKey(k3)).toThrow();
      expect(ledger.fleetKeyId()).toBe(k2.keyId);
      expect(ledger.versionFiles('a', 1)[1]!.data).toBe(PEM);
    } finally {
      ledger.close();
    }
  });

  it('retention: storing version N deletes the files of versions before N − 1 of that lineage only (hosts deploy the current version)', async () => {
    const { ledger } = await openTestLedger('postgres');
    try {
      const k = loadFleetKey(keyFile('ret'));
      ledger.sealer = k;
      expect(ledger.claimFleetKeyId(k.keyId)).toBe(k.keyId);
      const files = (v: number) => [{ file: 'cert.pem', secret: false, data: `CERT ${v}` }, { file: 'privkey.pem', secret: true, data: PEM }];
      ledger.saveVersionFiles('other', 1, files(1), 1);
      for (let v = 1; v <= 4; v++) ledger.saveVersionFiles('kept', v, files(v), v);
      const versions = (l: string) => ledger.db.prepare('SELECT DISTINCT version FROM version_files WHERE lineage = ? ORDER BY version').pluck().all(l);
      expect(versions('kept')).toEqual([3, 4]);
      expect(versions('other')).toEqual([1]);
      expect(ledger.versionFiles('kept', 4)).toEqual(files(4));
      expect(ledger.versionFiles('kept', 3)).toEqual(files(3));
      expect(ledger.versionFiles('kept', 2)).toEqual([]);
      // A version number that skipped (archive files left by a failed store): live/ still at 2 when 5
      // is stored, so 2's files stay until the switch is done.
      ledger.db.prepare("INSERT INTO lineages (name, names_json, set_key, ca_id, directory_url, key_type, challenge, current_version, created_at, updated_at) VALUES ('skip', '[\"skip.example\"]', 'skip.example', 'x', 'https://ca/dir', 'ecdsa', 'http-01', 2, 1, 1)").run();
      for (const v of [1, 2]) ledger.saveVersionFiles('skip', v, files(v), v);
      ledger.saveVersionFiles('skip', 5, files(5), 5);
      expect(versions('skip')).toEqual([2, 5]);
    } finally {
      ledger.close();
    }
  });
});
