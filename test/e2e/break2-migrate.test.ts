/**
 * Hostile test of `certctl migrate certbot` (break2): a lineage certctl
 * imported earlier (`certctl import certbot`) that certbot renewed since.
 * certctl's live/NAME still holds the older certificate; re-pointing
 * certbot's links at it would make the web server go back to an older
 * certificate (and certctl would renew on the old one's schedule). migrate
 * must refuse that lineage, say what to do, and change none of certbot's files.
 * And a migrated lineage cannot be deleted (certbot's links would dangle).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { runCli, tempDir, q } from '../helpers/cli.js';
import { certbot as runCertbot, hashTree, requireCertbot } from '../helpers/certbot.js';

const A = 'a.mig2.example.test';
const B = 'b.mig2.example.test';
let pebble: Pebble;
let cb: string;
const certbot = (args: string[], acme = true) => runCertbot(pebble, cb, args, acme);

beforeAll(async () => {
  requireCertbot();
  pebble = await startPebble({ nonceReject: 0 });
  cb = path.join(tempDir('certctl-mig2-'), 'conf');
  for (const n of [A, B]) {
    const r = await certbot(['certonly', '--webroot', '-w', pebble.webroot, '-d', n]);
    expect(r.code, r.out).toBe(0);
  }
}, 240_000);
afterAll(async () => {
  await pebble?.stop();
});

describe('migrate certbot after an earlier import', () => {
  it('a lineage certbot renewed after certctl imported it is refused (its links untouched); the others migrate', async () => {
    const state = tempDir();
    const cron = path.join(tempDir(), 'no-cron');
    const imp = await runCli(['--state-dir', state, 'import', 'certbot', cb]);
    expect(imp.code, imp.stderr).toBe(0);
    // certbot renews A (its cron job was still on): version 2 in certbot's archive, certctl still has version 1.
    const ren = await certbot(['renew', '--force-renewal', '--cert-name', A, '--no-random-sleep-on-renew']);
    expect(ren.code, ren.out).toBe(0);
    expect(fs.readlinkSync(path.join(cb, 'live', A, 'cert.pem'))).toBe(`../../archive/${A}/cert2.pem`);
    const beforeA = hashTree(path.join(cb, 'live', A)) + fs.readFileSync(path.join(cb, 'renewal', `${A}.conf`), 'utf8');

    const r = await runCli(['--state-dir', state, '--json', 'migrate', 'certbot', cb, '--yes', '--ca-bundle', pebble.caBundle, '--certbot-cron', cron]);
    const doc = JSON.parse(r.stdout);
    const v = (n: string) => doc.lineages.find((l: { name: string }) => l.name === n);
    expect(v(A)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/certbot renewed it after certctl imported it/) });
    expect(v(A).reason).toMatch(/certctl delete --cert-name a\.mig2\.example\.test --yes/);
    expect(v(B)).toMatchObject({ status: 'migrated' });
    expect(r.code).toBe(2);
    // certbot still serves (and renews) its own current certificate of A.
    expect(hashTree(path.join(cb, 'live', A)) + fs.readFileSync(path.join(cb, 'renewal', `${A}.conf`), 'utf8')).toBe(beforeA);
    expect(fs.readlinkSync(path.join(cb, 'live', B, 'cert.pem'))).toBe(path.join(state, 'live', B, 'cert.pem'));

    // A migrated lineage is what certbot's paths serve: delete (or revoke --delete-after) would leave them dangling.
    for (const args of [['delete', '--cert-name', B, '--yes'], ['revoke', '--cert-name', B, '--delete-after']]) {
      const d = await runCli(['--state-dir', state, ...args]);
      expect(d.code, args.join(' ')).toBe(2);
      expect(d.stderr).toMatch(/links point at the lineage b\.mig2\.example\.test \(certctl migrate certbot\): deleting it would leave them dangling.*nothing was deleted\./);
      expect(d.stderr).toMatch(/--revert, then delete/);
      expect(fs.readFileSync(path.join(cb, 'live', B, 'privkey.pem'), 'utf8')).toMatch(/PRIVATE KEY/);
    }
    expect(q<{ revoked_at: number | null }>(state, `SELECT revoked_at FROM certificates WHERE lineage = '${B}'`)).toEqual([{ revoked_at: null }]);

    // What the refusal says to do works: delete certctl's stale copy, migrate again adopts certbot's current one.
    const del = await runCli(['--state-dir', state, 'delete', '--cert-name', A, '--yes']);
    expect(del.code, del.stderr).toBe(0);
    const again = await runCli(['--state-dir', state, '--json', 'migrate', 'certbot', cb, '--yes', '--ca-bundle', pebble.caBundle, '--certbot-cron', cron]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).lineages.find((l: { name: string }) => l.name === A)).toMatchObject({ status: 'migrated' });
    expect(fs.readFileSync(path.join(cb, 'live', A, 'cert.pem'), 'utf8')).toBe(fs.readFileSync(path.join(cb, 'archive', A, 'cert2.pem'), 'utf8'));
  }, 240_000);
});
