/**
 * Reading a file certctl was pointed at (a PEM to import, a certbot file, a CA
 * bundle, a key): only a regular file, of a sane size. A FIFO would block the
 * run for ever and /dev/zero (or a huge file) would fill the memory until the
 * process aborts; both end here in one sentence. Links are followed (certbot's
 * live/ files are links); what they point at must be a regular file too.
 */
import fs from 'node:fs';
import { InputError } from '../errors.js';

/** PEM files (certificates, chains, keys, bundles) are kilobytes; a few MB is far more than any. */
export const MAX_INPUT_BYTES = 8 * 1024 * 1024;
/** A CA bundle (a few CA certificates) checked before anything is sent: at most this, from the command line or the config file. */
export const MAX_CA_BUNDLE_BYTES = 4 * 1024 * 1024;

export function readInputFile(file: string, what = 'The file', maxBytes = MAX_INPUT_BYTES): string {
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a named pipe' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';
      throw new InputError(`${what} ${file} is ${kind}, not a regular file.`, 'Give the path of a regular (PEM) file.');
    }
    if (st.size > maxBytes) throw new InputError(`${what} ${file} is ${st.size} bytes: too large for a PEM file (at most ${maxBytes}).`, 'Give the path of the PEM file itself.');
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
