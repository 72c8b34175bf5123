/** Which proxy carries a CA-side request (core/net/proxy.ts): the environment as curl reads it, NO_PROXY, refusals. */
import { describe, it, expect, afterEach } from 'vitest';
import { proxyFor, bypassesProxy, parseProxyUrl, setProxyOverride } from '../../src/core/net/proxy.js';
import { redact } from '../../src/core/redact.js';

afterEach(() => setProxyOverride({}));
const u = (s: string) => new URL(s);

describe('proxyFor', () => {
  it('https targets: https_proxy before HTTPS_PROXY, then all_proxy/ALL_PROXY; http targets: http_proxy only (never HTTP_PROXY)', async () => {
    expect((await proxyFor('https://ca.example/dir', { https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2' }))?.display).toBe('http://a:1');
    expect((await proxyFor('https://ca.example/dir', { HTTPS_PROXY: 'b:2' }))?.display).toBe('http://b:2');
    expect((await proxyFor('https://ca.example/dir', { ALL_PROXY: 'http://c:3' }))?.source).toBe('ALL_PROXY');
    expect(await proxyFor('http://crt.example/', { HTTP_PROXY: 'http://d:4' })).toBeNull();
    expect((await proxyFor('http://crt.example/', { http_proxy: 'http://d:4' }))?.source).toBe('http_proxy');
    expect(await proxyFor('https://ca.example/dir', { HTTPS_PROXY: '' })).toBeNull();
  });

  it('--proxy wins over the config, the config over the environment; "" goes direct', async () => {
    setProxyOverride({ flag: 'http://flag:1', config: async () => ({ value: 'http://cfg:2', file: '/etc/c.yaml' }) });
    expect((await proxyFor('https://ca.example/', { HTTPS_PROXY: 'http://env:3' }))?.source).toBe('--proxy');
    setProxyOverride({ config: async () => ({ value: 'http://cfg:2', file: '/etc/c.yaml' }) });
    expect((await proxyFor('https://ca.example/', { HTTPS_PROXY: 'http://env:3' }))?.source).toBe('proxy: in /etc/c.yaml');
    setProxyOverride({ flag: '' });
    expect(await proxyFor('https://ca.example/', { HTTPS_PROXY: 'http://env:3' })).toBeNull();
  });

  it('NO_PROXY: *, domains and their subdomains, IPs, CIDR, ports, IPv6; no_proxy first', () => {
    const np = (list: string, target: string) => bypassesProxy(u(target), { NO_PROXY: list });
    expect(np('*', 'https://anything.example/')).toBe(true);
    expect(np('example.com', 'https://acme.example.com/')).toBe(true);
    expect(np('.example.com', 'https://example.com/')).toBe(true);
    expect(np('example.com', 'https://notexample.com/')).toBe(false);
    expect(np('10.0.0.0/8, 192.168.1.1', 'https://10.2.3.4:14000/dir')).toBe(true);
    expect(np('10.0.0.0/8', 'https://11.2.3.4/')).toBe(false);
    expect(np('192.168.1.1', 'https://192.168.1.1/')).toBe(true);
    expect(np('ca.example:8443', 'https://ca.example/')).toBe(false);
    expect(np('ca.example:8443', 'https://ca.example:8443/')).toBe(true);
    expect(np('::1', 'https://[::1]:14000/')).toBe(true);
    expect(np('fd00::/8', 'https://[fd12::1]/')).toBe(true);
    expect(bypassesProxy(u('https://a.example/'), { no_proxy: 'b.example', NO_PROXY: 'a.example' })).toBe(false);
  });

  it('refuses SOCKS, paths and garbage in one sentence without the credentials', () => {
    expect(() => parseProxyUrl('socks5://u:Secr3tPw@h:1080', 'HTTPS_PROXY')).toThrow(/is a socks5:\/\/ proxy; certctl speaks only to HTTP\(S\) proxies/);
    try {
      parseProxyUrl('http://u:Secr3tPw@h:3128/some/path', 'HTTPS_PROXY');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('Secr3tPw');
    }
    expect(() => parseProxyUrl('http://[bad', 'proxy:')).toThrow('The proxy given by proxy: is not a URL.');
  });

  it('a proxy password is redacted from any line, even a short one', () => {
    parseProxyUrl('http://ops:LongerPassw0rd@proxy:3128', 'HTTPS_PROXY');
    expect(redact('LongerPassw0rd seen')).not.toContain('LongerPassw0rd');
    expect(redact('via http://ops:pw@proxy:3128')).toBe('via http://ops:[redacted]@proxy:3128');
  });
});
