/**
 * `certctl import certbot` on lineages made by the real certbot (Debian
 * package) against Pebble, then `certctl renew` renewing the imported
 * lineage against the same Pebble. certbot trusts Pebble through
 * REQUESTS_CA_BUNDLE (verification stays on). certbot's directory is hashed
 * before and after: import and renew must not change a byte of it.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { certbot as runCertbot, hashTree, requireCertbot } from '../helpers/certbot.js';

const YEAR = 365 * 86_400_000;
const NAME = 'imp.example.test';
let pebble: Pebble;
let cb: string; // certbot's --config-dir
const certbot = (args: string[]) => runCertbot(pebble, cb, args);

beforeAll(async () => {
  requireCertbot();
  // certbot 2.1 gives up on two rejected nonces in a row, and here it only makes the lineages to import:
  // no nonce rejection for this Pebble (certctl's own badNonce handling is tested in issue.test.ts).
  pebble = await startPebble({ nonceReject: 0 });
  cb = path.join(tempDir('certctl-certbot-'), 'conf');
  // Two versions of one lineage (issue, then a forced renewal), webroot, ECDSA (certbot 2's default).
  const first = await certbot(['certonly', '--webroot', '-w', pebble.webroot, '-d', NAME, '-d', `www.${NAME}`]);
  expect(first.out).toMatch(/Successfully received certificate/);
  const second = await certbot(['certonly', '--webroot', '-w', pebble.webroot, '-d', NAME, '-d', `www.${NAME}`, '--force-renewal']);
  expect(second.code).toBe(0);
  // A renewal file whose name cannot be a certctl lineage name (it would start with ".."), pointing at real certificates.
  fs.cpSync(path.join(cb, 'archive', NAME), path.join(cb, 'archive', '..evil'), { recursive: true });
  fs.writeFileSync(path.join(cb, 'renewal', '..evil.conf'), fs.readFileSync(path.join(cb, 'renewal', `${NAME}.conf`), 'utf8').replaceAll(NAME + '/', '..evil/'));
}, 240_000);
afterAll(async () => {
  await pebble?.stop();
});

describe('certctl import certbot', () => {
  it('adopts the lineage, counts every version, never touches certbot; idempotent; then certctl renews it', async () => {
    const conf = fs.readFileSync(path.join(cb, 'renewal', `${NAME}.conf`), 'utf8');
    expect(conf).toMatch(/authenticator = webroot/);
    expect(conf).toMatch(/\[\[webroot_map\]\]/);
    const before = hashTree(cb);
    const state = tempDir();

    const r = await runCli(['--state-dir', state, '--json', 'import', 'certbot', cb, '--ca-bundle', pebble.caBundle]);
    expect(r.stderr).toBe('');
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ schema: 'certctl.import/1', source: 'certbot', adopted: 1, certificatesAdded: 2 });
    const evil = doc.lineages.find((l: { source: string }) => l.source.endsWith('..evil.conf'));
    expect(evil).toMatchObject({ action: 'certificates-only', lineage: null });
    expect(evil.reason).toMatch(/cannot be used as a certificate name/);
    expect(doc.lineages.find((l: { lineage: string }) => l.lineage === NAME)).toMatchObject({ action: 'imported', names: [NAME, `www.${NAME}`], versions: 2 });
    expect(r.code).toBe(0);
    // Nothing escaped the state dir for the hostile name.
    expect(fs.readdirSync(path.join(state, 'live'))).toEqual([NAME]);
    expect(fs.readdirSync(path.join(state, 'archive'))).toEqual([NAME]);

    // Ledger: the lineage as certbot would renew it, both versions counted.
    const [l] = q<{ name: string; names_json: string; challenge: string; webroot: string; key_type: string; directory_url: string; ca_id: string; settings_json: string; current_version: number }>(state, 'SELECT * FROM lineages');
    expect(l).toMatchObject({ name: NAME, challenge: 'webroot', webroot: pebble.webroot, key_type: 'ecdsa:p256', directory_url: pebble.directoryUrl, ca_id: 'custom', current_version: 1 });
    expect(JSON.parse(l!.names_json)).toEqual([NAME, `www.${NAME}`]);
    const settings = JSON.parse(l!.settings_json);
    expect(settings.caBundle).toBe(pebble.caBundle);
    expect(settings.importedFrom).toMatchObject({ tool: 'certbot', version: 2, server: pebble.directoryUrl });
    const certs = q<{ source: string; lineage: string | null; version: number | null; serial: string; set_key: string }>(state, 'SELECT source, lineage, version, serial, set_key FROM certificates ORDER BY id');
    expect(certs).toHaveLength(2);
    expect(certs.every((c) => c.source === 'certbot' && c.set_key === `${NAME},www.${NAME}`)).toBe(true);
    expect(certs.filter((c) => c.lineage === NAME && c.version === 1)).toHaveLength(1);

    // Files: certbot's current version is certctl's version 1; key 0600; live/ links into archive/.
    const arch = path.join(state, 'archive', NAME);
    expect(fs.readFileSync(path.join(arch, 'cert1.pem'), 'utf8')).toBe(fs.readFileSync(path.join(cb, 'archive', NAME, 'cert2.pem'), 'utf8'));
    expect(fs.readFileSync(path.join(arch, 'privkey1.pem'), 'utf8')).toBe(fs.readFileSync(path.join(cb, 'archive', NAME, 'privkey2.pem'), 'utf8'));
    expect(fs.statSync(path.join(arch, 'privkey1.pem')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(arch, 'cert1.pem')).mode & 0o777).toBe(0o644);
    expect(fs.readlinkSync(path.join(state, 'live', NAME, 'fullchain.pem'))).toBe(path.join('..', '..', 'archive', NAME, 'fullchain1.pem'));
    expect(fs.readFileSync(path.join(state, 'live', NAME, 'fullchain.pem'), 'utf8')).toBe(fs.readFileSync(path.join(cb, 'live', NAME, 'fullchain.pem'), 'utf8'));

    // Idempotent.
    const again = await runCli(['--state-dir', state, 'import', 'certbot', cb, '--ca-bundle', pebble.caBundle]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/unchanged\s+imp\.example\.test/);
    expect(again.stdout).toContain('Nothing new: everything was imported before.');
    expect(q(state, 'SELECT id FROM certificates')).toHaveLength(2);
    expect(hashTree(cb)).toBe(before);

    // Not due today; four years on (Pebble issues 5-year certificates) certctl renews it against the same Pebble.
    const kept = await runCli(['--state-dir', state, 'renew', '--no-random-sleep', '--json', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)]);
    expect(JSON.parse(kept.stdout).lineages[0]).toMatchObject({ lineage: NAME, action: 'kept' });
    const future = new Date(Date.now() + 4 * YEAR).toISOString();
    const ren = await runCli(['--state-dir', state, 'renew', '--no-random-sleep', '--resolver', pebble.dns.resolver, '--http-port', String(pebble.httpPort)], { CERTCTL_TEST_NOW: future });
    expect(ren.stderr).toBe('');
    expect(ren.stdout).toMatch(/renewed\s+imp\.example\.test: serial [0-9A-F]+,/);
    expect(ren.code).toBe(0);
    expect(fs.readlinkSync(path.join(state, 'live', NAME, 'cert.pem'))).toBe(path.join('..', '..', 'archive', NAME, 'cert2.pem'));
    expect(fs.statSync(path.join(arch, 'privkey2.pem')).mode & 0o777).toBe(0o600);
    const after = q<{ source: string; version: number | null }>(state, 'SELECT source, version FROM certificates ORDER BY id');
    expect(after.map((c) => c.source)).toEqual(['certbot', 'certbot', 'certctl']);
    expect(after[2]!.version).toBe(2);
    expect(hashTree(cb)).toBe(before);
  }, 180_000);

  it('import pem: certificates from anywhere, counted once; --cert-name adopts one with its key', async () => {
    const state = tempDir();
    const live = path.join(cb, 'live', NAME);
    const r = await runCli(['--state-dir', state, 'import', 'pem', path.join(live, 'fullchain.pem'), path.join(cb, 'archive', NAME, 'cert1.pem')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 certificate(s) added to the ledger.');
    const again = await runCli(['--state-dir', state, 'import', 'pem', path.join(live, 'cert.pem')]);
    expect(again.stdout).toContain('Nothing new');
    expect(q<{ source: string; lineage: string | null }>(state, 'SELECT source, lineage FROM certificates')).toEqual([
      { source: 'pem', lineage: null },
      { source: 'pem', lineage: null },
    ]);

    const state2 = tempDir();
    const bad = await runCli(['--state-dir', state2, 'import', 'pem', path.join(live, 'fullchain.pem'), '--cert-name', 'adopted', '--key', path.join(cb, 'archive', NAME, 'privkey1.pem'), '--webroot', pebble.webroot, '--server', pebble.directoryUrl]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not the private key of the certificate/);
    const ok = await runCli(['--state-dir', state2, 'import', 'pem', path.join(live, 'fullchain.pem'), '--cert-name', 'adopted', '--key', path.join(live, 'privkey.pem'), '--webroot', pebble.webroot, '--server', pebble.directoryUrl, '--ca-bundle', pebble.caBundle]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(fs.statSync(path.join(state2, 'archive', 'adopted', 'privkey1.pem')).mode & 0o777).toBe(0o600);
    expect(fs.readlinkSync(path.join(state2, 'live', 'adopted', 'chain.pem'))).toBe(path.join('..', '..', 'archive', 'adopted', 'chain1.pem'));
    expect(fs.readFileSync(path.join(state2, 'archive', 'adopted', 'chain1.pem'), 'utf8')).toBe(fs.readFileSync(path.join(live, 'chain.pem'), 'utf8'));
    expect(q(state2, "SELECT name FROM lineages WHERE current_version = 1")).toEqual([{ name: 'adopted' }]);
  }, 60_000);
});
