/** plan shows the last readiness checks recorded for the names (issue: "results are stored in the ledger and shown by plan"). */
import { describe, it, expect } from 'vitest';
import path from 'node:path';
import { Ledger } from '../../src/core/ledger/ledger.js';
import { recordPrechecks } from '../../src/core/ledger/prechecks.js';
import { runCli, tempDir } from '../helpers/cli.js';

describe('plan shows recorded readiness checks', () => {
  it('passed and failed checks with their age and advice, in text and JSON', async () => {
    const state = tempDir();
    const ledger = Ledger.open(path.join(state, 'ledger.sqlite'));
    const at = Date.parse('2026-03-01T10:00:00Z');
    recordPrechecks(
      ledger,
      [
        { name: 'www.example.com', check: 'dns', ok: true, summary: 'resolves to 192.0.2.10', evidence: {} },
        { name: 'www.example.com', check: 'http01', ok: false, summary: 'HTTP 404 for the probe file', evidence: { status: 404 }, advice: 'serve /.well-known/acme-challenge/ from the webroot' },
      ],
      at,
    );
    ledger.close();
    const env = { CERTCTL_TEST_NOW: '2026-03-01T12:30:00Z' };
    const text = await runCli(['--state-dir', state, 'plan', '-d', 'www.example.com'], env);
    expect(text.code).toBe(0);
    // Lines are wrapped at 80 columns (at word boundaries): read them joined.
    text.stdout = text.stdout.replace(/\n\s+/g, ' ');
    expect(text.stdout).toMatch(/Readiness www\.example\.com dns: passed 2 h 30 min ago — resolves to 192\.0\.2\.10/);
    expect(text.stdout).toMatch(/Readiness www\.example\.com http01: FAILED 2 h 30 min ago — HTTP 404 for the probe file → serve/);
    const json = JSON.parse((await runCli(['--state-dir', state, '--json', 'plan', '-d', 'www.example.com'], env)).stdout);
    expect(json.prechecks).toEqual([
      { name: 'www.example.com', check: 'dns', ok: true, summary: 'resolves to 192.0.2.10', advice: null, at: '2026-03-01T10:00:00.000Z' },
      { name: 'www.example.com', check: 'http01', ok: false, summary: 'HTTP 404 for the probe file', advice: 'serve /.well-known/acme-challenge/ from the webroot', at: '2026-03-01T10:00:00.000Z' },
    ]);
    const none = await runCli(['--state-dir', state, 'plan', '-d', 'other.example.com'], env);
    expect(none.stdout).toMatch(/Readiness: not checked yet/);
  });
});
