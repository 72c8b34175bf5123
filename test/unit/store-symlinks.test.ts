/**
 * No writes through planted symlinks below the state directory (store/atomic.ts,
 * store/lineage.ts): each planted link is refused with a sentence naming it,
 * and nothing appears at the link's target.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LineageStore } from '../../src/core/store/lineage.js';
import { writeFileAtomic } from '../../src/core/store/atomic.js';
import { statePaths } from '../../src/core/paths.js';
import { InputError } from '../../src/core/errors.js';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const FILES = [
  { base: 'cert', data: 'C' },
  { base: 'privkey', data: 'K', secret: true },
];

function setup() {
  const root = tmp('certctl-store-');
  const outside = tmp('certctl-outside-');
  const paths = statePaths(root);
  const store = new LineageStore(paths);
  return { root, outside, paths, store };
}
const refused = (fn: () => unknown, what: RegExp) => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InputError);
  expect((err as Error).message).toMatch(what);
  expect((err as InputError).exitCode).toBe(2);
};

describe('planted symbolic links below the state directory', () => {
  it('archive/<name> → outside: writeVersion and assertWritable refuse; nothing is written at the target', () => {
    const { root, outside, store } = setup();
    fs.mkdirSync(path.join(root, 'archive'), { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'archive', 'a.example'));
    refused(() => store.assertWritable('a.example'), /archive\/a\.example is a symbolic link \(to .*certctl-outside-/);
    refused(() => store.writeVersion('a.example', 2, FILES), /is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('archive → outside (the whole archive/ directory)', () => {
    const { root, outside, store } = setup();
    fs.symlinkSync(outside, path.join(root, 'archive'));
    refused(() => store.writeVersion('b.example', 1, FILES), /\/archive is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('live/<name> → outside: activate refuses; nothing is linked at the target', () => {
    const { root, outside, store } = setup();
    store.writeVersion('c.example', 1, FILES);
    fs.mkdirSync(path.join(root, 'live'));
    fs.symlinkSync(outside, path.join(root, 'live', 'c.example'));
    refused(() => store.assertWritable('c.example'), /live\/c\.example is a symbolic link/);
    refused(() => store.activate('c.example', 1, FILES), /is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('pending → outside: the order key is not written there', () => {
    const { root, outside, paths, store } = setup();
    fs.symlinkSync(outside, paths.pending);
    refused(() => store.assertWritable('d.example'), /pending is a symbolic link/);
    refused(() => writeFileAtomic(path.join(paths.pending, 'order-1-main.key'), 'KEY', 0o600), /pending is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.existsSync(path.join(root, 'pending', 'order-1-main.key'))).toBe(false);
  });

  it('accounts/<hash> → outside: the account key is not written there', () => {
    const { outside, paths } = setup();
    fs.mkdirSync(paths.accounts);
    fs.symlinkSync(outside, path.join(paths.accounts, 'abc'));
    refused(() => writeFileAtomic(path.join(paths.accounts, 'abc', 'account.key'), 'KEY', 0o600), /accounts\/abc is a symbolic link/);
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it("the lineage's own live/*.pem links are replaced, never written through", () => {
    const { root, outside, store } = setup();
    store.writeVersion('e.example', 1, FILES);
    const victim = path.join(outside, 'victim');
    fs.writeFileSync(victim, 'untouched');
    fs.mkdirSync(path.join(root, 'live', 'e.example'), { recursive: true });
    fs.symlinkSync(victim, path.join(root, 'live', 'e.example', 'cert.pem'));
    store.activate('e.example', 1, FILES);
    expect(fs.readlinkSync(path.join(root, 'live', 'e.example', 'cert.pem'))).toBe('../../archive/e.example/cert1.pem');
    expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
  });

  it('a planted link at an archive file name is replaced by the rename, not written through', () => {
    const { root, outside, store } = setup();
    fs.mkdirSync(path.join(root, 'archive', 'f.example'), { recursive: true, mode: 0o700 });
    const victim = path.join(outside, 'victim');
    fs.writeFileSync(victim, 'untouched');
    fs.symlinkSync(victim, path.join(root, 'archive', 'f.example', 'privkey1.pem'));
    store.writeVersion('f.example', 1, FILES);
    expect(fs.lstatSync(path.join(root, 'archive', 'f.example', 'privkey1.pem')).isFile()).toBe(true);
    expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');
  });

  it('a directory where a live/ link goes is refused before anything is sent', () => {
    const { root, store } = setup();
    fs.mkdirSync(path.join(root, 'live', 'g.example', 'cert.pem'), { recursive: true });
    refused(() => store.assertWritable('g.example'), /cert\.pem is a directory/);
  });
});

describe('the state directory itself', () => {
  it('group- or world-writable: refused with the chmod to run', () => {
    const { root, store } = setup();
    fs.chmodSync(root, 0o777);
    refused(() => store.assertWritable('h.example'), /writable by group or others \(mode 0777\)/);
    refused(() => store.writeVersion('h.example', 1, FILES), /chmod|writable by group/);
    expect(fs.existsSync(path.join(root, 'archive'))).toBe(false);
  });

  it('a directory below it writable by others (archive/<name> 0777) is refused', () => {
    const { root, store } = setup();
    fs.mkdirSync(path.join(root, 'archive', 'i.example'), { recursive: true });
    fs.chmodSync(path.join(root, 'archive', 'i.example'), 0o777);
    refused(() => store.writeVersion('i.example', 1, FILES), /archive\/i\.example is writable by group or others/);
  });

  it('owned by another user: refused (root included)', () => {
    // As root: a directory given to nobody (65534); as anyone else: /usr, which root owns.
    const uid = process.getuid!();
    let root = '/usr';
    if (uid === 0) {
      root = tmp('certctl-store-');
      fs.chownSync(root, 65534, 65534);
    }
    const store = new LineageStore(statePaths(root));
    refused(() => store.assertWritable('j.example'), new RegExp(`belongs to uid ${uid === 0 ? 65534 : 0}, not to the user running certctl \\(uid ${uid}\\)`));
    expect(fs.existsSync(path.join(root, 'archive'))).toBe(false);
  });

  it('a state directory reached through a symlink its administrator chose is accepted', () => {
    const real = tmp('certctl-real-');
    const link = path.join(tmp('certctl-parent-'), 'state');
    fs.symlinkSync(real, link);
    const store = new LineageStore(statePaths(link));
    store.writeVersion('k.example', 1, FILES);
    store.activate('k.example', 1, FILES);
    expect(fs.readFileSync(path.join(real, 'live', 'k.example', 'cert.pem'), 'utf8')).toBe('C');
    expect((fs.statSync(path.join(real, 'archive', 'k.example', 'privkey1.pem')).mode & 0o777).toString(8)).toBe('600');
  });
});
