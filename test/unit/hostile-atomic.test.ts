/**
 * A full disk while certctl writes a file of the state directory (archive/
 * after the CA issued, pending/ keys, live/): the error names that file. A
 * write on a descriptor carries no path, so it was reported as "could not
 * write the ledger …ledger.sqlite (ENOSPC)" — the wrong thing to free or check.
 */
import { describe, it, expect, vi, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../src/core/store/atomic.js';
import { faultError, ExitCode } from '../../src/core/errors.js';

afterEach(() => vi.restoreAllMocks());

describe('writeFileAtomic on a full disk', () => {
  it('the ENOSPC names the file being written (exit 10), and no temporary file is left', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-enospc-'));
    const target = path.join(dir, 'cert1.pem');
    const real = fs.writeFileSync;
    vi.spyOn(fs, 'writeFileSync').mockImplementation((f, d, o) => {
      if (typeof f === 'number') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      return real(f, d, o);
    });
    let caught: unknown;
    try {
      writeFileAtomic(target, 'x'.repeat(1000));
    } catch (err) {
      caught = err;
    }
    const e = faultError(caught, path.join(dir, 'ledger.sqlite'));
    expect(e?.exitCode).toBe(ExitCode.STATE);
    expect(e?.message).toBe(`The disk is full: certctl could not write ${target} (ENOSPC).`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
