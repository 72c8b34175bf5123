/** The nginx snippet builder: one pair, two pairs (dual), Tengine/Tongsuo NTLS (sm2). */
import { describe, it, expect } from 'vitest';
import { nginxSnippet, snippetFiles, snippetKind } from '../../src/core/snippets.js';

const live = '/etc/certctl/live/www.example.com';

describe('nginxSnippet', () => {
  it('single key type: one ssl_certificate pair with the lineage names', () => {
    const s = nginxSnippet({ lineage: 'www.example.com', names: ['www.example.com', 'example.com'], keyType: 'ecdsa:p256', liveDir: live });
    expect(s).toContain('server_name www.example.com example.com;');
    expect(s).toMatch(/^\s+ssl_certificate\s+\/etc\/certctl\/live\/www\.example\.com\/fullchain\.pem;$/m);
    expect(s).toMatch(/^\s+ssl_certificate_key\s+\/etc\/certctl\/live\/www\.example\.com\/privkey\.pem;$/m);
    expect(s.match(/ssl_certificate\s/g)).toHaveLength(1);
    expect(s).not.toContain('ntls');
    expect(s.endsWith('}\n')).toBe(true);
  });

  it('dual: RSA pair then ECDSA pair', () => {
    const s = nginxSnippet({ lineage: 'a', names: ['a.example'], keyType: 'dual', liveDir: '/l/a' });
    const certs = [...s.matchAll(/ssl_certificate\s+(\S+);/g)].map((m) => m[1]);
    const keys = [...s.matchAll(/ssl_certificate_key\s+(\S+);/g)].map((m) => m[1]);
    expect(certs).toEqual(['/l/a/fullchain.pem', '/l/a/fullchain-ecdsa.pem']);
    expect(keys).toEqual(['/l/a/privkey.pem', '/l/a/privkey-ecdsa.pem']);
    expect(s.indexOf('# RSA')).toBeLessThan(s.indexOf('# ECDSA'));
  });

  it('sm2: enable_ntls, sign and enc pairs, plus the ECDSA pair', () => {
    const s = nginxSnippet({ lineage: 'gm', names: ['gm.example.cn'], keyType: 'sm2', liveDir: '/l/gm' });
    expect(s).toMatch(/^\s+enable_ntls on;$/m);
    const d = (k: string) => new RegExp(`^\\s+${k}\\s+(\\S+);$`, 'm').exec(s)?.[1];
    expect(d('ssl_sign_certificate')).toBe('/l/gm/sign.pem');
    expect(d('ssl_sign_certificate_key')).toBe('/l/gm/sign.key');
    expect(d('ssl_enc_certificate')).toBe('/l/gm/enc.pem');
    expect(d('ssl_enc_certificate_key')).toBe('/l/gm/enc.key');
    expect(d('ssl_certificate')).toBe('/l/gm/fullchain.pem');
    expect(d('ssl_certificate_key')).toBe('/l/gm/privkey.pem');
    expect(s).toMatch(/Tengine/);
  });

  it('quotes paths nginx would split', () => {
    const s = nginxSnippet({ lineage: 'x', names: ['x.example'], keyType: 'rsa:2048', liveDir: '/srv/my certs;/x' });
    expect(s).toContain('ssl_certificate     "/srv/my certs;/x/fullchain.pem";');
  });

  it('kinds and the files each refers to', () => {
    expect(snippetKind('rsa:4096')).toBe('single');
    expect(snippetKind('DUAL')).toBe('dual');
    expect(snippetKind('sm2')).toBe('sm2');
    expect(snippetFiles('dual')).toHaveLength(4);
    expect(snippetFiles('sm2')).toEqual(['sign.pem', 'sign.key', 'enc.pem', 'enc.key', 'fullchain.pem', 'privkey.pem']);
  });
});
