/** Alternate chains (core/acme/chain.ts): Link header parsing and certbot's topmost-issuer rule. */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alternateLinks, topIssuerCn, choosePreferredChain } from '../../src/core/acme/chain.js';

describe('alternateLinks', () => {
  it('keeps rel="alternate" only, from one header or several joined', () => {
    expect(alternateLinks('<https://ca/dir>;rel="index", <https://ca/cert/1/1>;rel="alternate", <https://ca/cert/1/2>; rel=alternate')).toEqual(['https://ca/cert/1/1', 'https://ca/cert/1/2']);
    expect(alternateLinks(['<https://ca/a>;rel="alternate"', '<https://ca/up>;rel="up"'])).toEqual(['https://ca/a']);
    expect(alternateLinks(undefined)).toEqual([]);
    expect(alternateLinks('garbage')).toEqual([]);
  });
});

describe('topIssuerCn / choosePreferredChain', () => {
  it('matches the issuer CN of the topmost certificate, not any issuer in the chain', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-chain-'));
    const mk = (name: string, subj: string, signer?: string) => {
      const key = path.join(dir, `${name}.key`);
      const crt = path.join(dir, `${name}.pem`);
      execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', `${crt}.csr`, '-subj', subj], { stdio: 'ignore' });
      const sign = signer ? ['-CA', path.join(dir, `${signer}.pem`), '-CAkey', path.join(dir, `${signer}.key`)] : ['-signkey', key];
      execFileSync('openssl', ['x509', '-req', '-in', `${crt}.csr`, '-out', crt, '-days', '2', ...sign], { stdio: 'ignore' });
      return fs.readFileSync(crt, 'utf8');
    };
    mk('rootA', '/CN=Root A');
    const inter = mk('inter', '/CN=Inter', 'rootA');
    const leaf = mk('leaf', '/CN=leaf.example', 'inter');
    const chainA = leaf + inter;
    expect(topIssuerCn(chainA)).toBe('Root A');
    expect(topIssuerCn(leaf)).toBe('Inter');
    // "Inter" issues the leaf but is not the topmost's issuer: certbot's rule does not match it for chainA.
    expect(choosePreferredChain([chainA, leaf], 'Inter')).toBe(1);
    expect(choosePreferredChain([chainA, leaf], 'Root A')).toBe(0);
    expect(choosePreferredChain([chainA], 'root a')).toBe(-1);
    expect(topIssuerCn('not a pem')).toBeNull();
  });
});
