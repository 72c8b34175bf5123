/** The ACME request time-out (CERTCTL_ACME_TIMEOUT): a documented setting, validated as input. */
import { describe, it, expect } from 'vitest';
import { requestTimeoutMs, REQUEST_TIMEOUT_MS } from '../../src/core/acme/transport.js';
import { InputError } from '../../src/core/errors.js';

describe('requestTimeoutMs', () => {
  it('defaults to 30 s when unset or empty', () => {
    expect(REQUEST_TIMEOUT_MS).toBe(30_000);
    expect(requestTimeoutMs({})).toBe(30_000);
    expect(requestTimeoutMs({ CERTCTL_ACME_TIMEOUT: '' })).toBe(30_000);
  });
  it('takes seconds from 1 to 600, fractions included', () => {
    expect(requestTimeoutMs({ CERTCTL_ACME_TIMEOUT: '1' })).toBe(1000);
    expect(requestTimeoutMs({ CERTCTL_ACME_TIMEOUT: '2.5' })).toBe(2500);
    expect(requestTimeoutMs({ CERTCTL_ACME_TIMEOUT: ' 600 ' })).toBe(600_000);
  });
  it.each(['0', '0.5', '601', '5m', '-3', '1e3', 'NaN', '30s', '0x10'])('refuses %j as bad input (exit 2) saying what to set', (v) => {
    let err: unknown;
    try {
      requestTimeoutMs({ CERTCTL_ACME_TIMEOUT: v });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).exitCode).toBe(2);
    expect((err as InputError).message).toContain(`CERTCTL_ACME_TIMEOUT=${JSON.stringify(v)}`);
    expect((err as InputError).hint).toMatch(/seconds from 1 to 600/);
  });
});
