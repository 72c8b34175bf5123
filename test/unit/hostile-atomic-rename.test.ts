/**
 * Hostile tester: a write whose final rename fails (a directory in the way here; EIO or ENOSPC in
 * the field, reproduced with strace -e inject=rename:error=EIO) left its temporary copy behind —
 * for archive/…/privkeyN.pem or pending/order-N.key, a second copy of the private key that no run
 * ever removed.
 */
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic, symlinkAtomic } from '../../src/core/store/atomic.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-hostile-atomic-'));

describe('a failed rename leaves no temporary file', () => {
  it('writeFileAtomic: the error is thrown and the directory holds only what was there', () => {
    const dir = tmp();
    fs.chmodSync(dir, 0o700);
    const target = path.join(dir, 'privkey1.pem');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'in-the-way'), 'x'); // rename(file, non-empty dir) fails
    expect(() => writeFileAtomic(target, '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n', 0o600)).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['privkey1.pem']);
    expect(fs.readdirSync(target)).toEqual(['in-the-way']);
  });

  it('symlinkAtomic: the same', () => {
    const dir = tmp();
    fs.chmodSync(dir, 0o700);
    const link = path.join(dir, 'cert.pem');
    fs.mkdirSync(link);
    fs.writeFileSync(path.join(link, 'in-the-way'), 'x');
    expect(() => symlinkAtomic('../../archive/x/cert1.pem', link)).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['cert.pem']);
  });
});
