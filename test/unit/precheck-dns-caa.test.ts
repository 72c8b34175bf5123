import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChallTestSrv, type ChallTestSrv } from '../helpers/challtestsrv.js';
import { startFakeDns, type FakeDns } from './precheck-fakedns.js';
import { DnsClient, dnsResult, lookupAddresses, parseResolver } from '../../src/core/precheck/dns.js';
import { caaClimb, checkCaa, evaluateCaa, parseIssueValue, type CaaRecord } from '../../src/core/precheck/caa.js';
import { runPrechecks } from '../../src/core/precheck/index.js';
import { InputError } from '../../src/core/errors.js';

let cts: ChallTestSrv;
let silent: FakeDns;
let fake: FakeDns;

beforeAll(async () => {
  cts = await startChallTestSrv();
  silent = await startFakeDns(() => null);
  fake = await startFakeDns((name, type) => {
    if (name === 'gone.example.test') return { rcode: 3 };
    if (name === 'crit.example.test' && type === 'CAA') return { caa: [{ flags: 128, tag: 'tbs', value: 'unknown' }, { flags: 0, tag: 'issue', value: 'letsencrypt.org' }] };
    if (name === 'noncrit.example.test' && type === 'CAA') return { caa: [{ flags: 0, tag: 'tbs', value: 'unknown' }, { flags: 0, tag: 'issue', value: 'letsencrypt.org' }] };
    if (type === 'A') return { a: ['127.0.0.1'] };
    return { rcode: 0 };
  });
});

afterAll(async () => {
  await cts?.stop();
  await silent?.close();
  await fake?.close();
});

const LE = ['letsencrypt.org'];

describe('parseResolver', () => {
  it('accepts IPv4/IPv6 with and without port', () => {
    expect(parseResolver('127.0.0.1:8053')).toBe('127.0.0.1:8053');
    expect(parseResolver('127.0.0.1')).toBe('127.0.0.1:53');
    expect(parseResolver('[::1]:5353')).toBe('[::1]:5353');
    expect(parseResolver('::1')).toBe('[::1]:53');
  });
  it('refuses host names and bad ports with InputError', () => {
    expect(() => parseResolver('dns.example.com:53')).toThrow(InputError);
    expect(() => parseResolver('127.0.0.1:99999')).toThrow(InputError);
    expect(() => parseResolver('127.0.0.1:x')).toThrow(InputError);
  });
});

describe('DNS check against pebble-challtestsrv', () => {
  it('passes when the name has an A record (challtestsrv answers 127.0.0.1)', async () => {
    const dns = new DnsClient({ resolver: cts.resolver, timeoutMs: 2000 });
    const r = dnsResult(await lookupAddresses(dns, 'www.ready.example.test'));
    expect(r.ok).toBe(true);
    expect(r.summary).toContain('A 127.0.0.1');
    expect(r.evidence).toMatchObject({ resolver: cts.resolver, A: { outcome: 'ok', records: ['127.0.0.1'] }, AAAA: { outcome: 'nodata' } });
  });

  it('reports SERVFAIL as SERVFAIL', async () => {
    await cts.post('/set-servfail', { host: 'broken.example.test' });
    const dns = new DnsClient({ resolver: cts.resolver, timeoutMs: 2000 });
    const r = dnsResult(await lookupAddresses(dns, 'broken.example.test'));
    expect(r.ok).toBe(false);
    expect(r.summary).toMatch(/SERVFAIL/);
    expect(r.evidence.outcome).toBe('servfail');
    expect(r.advice).toMatch(/DNSSEC|delegation/);
  });

  it('reports "no A/AAAA record" when the name exists without addresses', async () => {
    const dns = new DnsClient({ resolver: cts.resolver, timeoutMs: 2000 });
    await cts.post('/set-default-ipv4', { ip: '' });
    try {
      const r = dnsResult(await lookupAddresses(dns, 'empty.example.test'));
      expect(r.ok).toBe(false);
      expect(r.evidence.outcome).toBe('nodata');
      expect(r.summary).toContain('has no A or AAAA record');
      expect(r.advice).toContain('Add an A');
    } finally {
      await cts.post('/set-default-ipv4', { ip: '127.0.0.1' });
    }
  });

  it('reports NXDOMAIN as NXDOMAIN (fake DNS; challtestsrv never says NXDOMAIN)', async () => {
    const dns = new DnsClient({ resolver: fake.resolver, timeoutMs: 2000 });
    const r = dnsResult(await lookupAddresses(dns, 'gone.example.test'));
    expect(r.ok).toBe(false);
    expect(r.evidence.outcome).toBe('nxdomain');
    expect(r.summary).toMatch(/^NXDOMAIN/);
  });

  it('reports a resolver that never answers as a time-out, within the bound', async () => {
    const dns = new DnsClient({ resolver: silent.resolver, timeoutMs: 600 });
    const t0 = Date.now();
    const r = dnsResult(await lookupAddresses(dns, 'www.example.test'));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.ok).toBe(false);
    expect(r.evidence.outcome).toBe('timeout');
    expect(r.summary).toMatch(/time-out/);
    expect(silent.queries.length).toBeGreaterThan(0);
  });
});

const rec = (tag: string, value: string, flags = 0): CaaRecord => ({ flags, tag, value });

describe('evaluateCaa (RFC 8659, pure)', () => {
  it('issue naming the CA allows; naming another CA forbids', () => {
    expect(evaluateCaa([rec('issue', 'letsencrypt.org')], { wildcard: false, identities: LE }).allowed).toBe(true);
    const d = evaluateCaa([rec('issue', 'pki.goog')], { wildcard: false, identities: LE });
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('pki.goog');
  });
  it('compares case-insensitively and ignores ;-parameters after the domain', () => {
    expect(evaluateCaa([rec('issue', 'LetsEncrypt.org; accounturi=https://a/1')], { wildcard: false, identities: LE, accountUri: 'https://a/1' }).allowed).toBe(true);
    expect(evaluateCaa([rec('issue', 'letsencrypt.org; accounturi=https://a/1')], { wildcard: false, identities: LE, accountUri: 'https://a/2' }).allowed).toBe(false);
    const unknownAcct = evaluateCaa([rec('issue', 'letsencrypt.org; accounturi=https://a/1')], { wildcard: false, identities: LE });
    expect(unknownAcct.allowed).toBe(true);
    expect(unknownAcct.note).toContain('https://a/1');
    expect(evaluateCaa([rec('issue', 'letsencrypt.org; validationmethods=dns-01')], { wildcard: false, identities: LE }).allowed).toBe(false);
    expect(evaluateCaa([rec('issue', 'letsencrypt.org; validationmethods=dns-01,http-01')], { wildcard: false, identities: LE }).allowed).toBe(true);
  });
  it('";" forbids every CA', () => {
    const d = evaluateCaa([rec('issue', ';')], { wildcard: false, identities: LE });
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('every CA');
  });
  it('issuewild governs wildcards; issue governs them only when there is no issuewild', () => {
    const set = [rec('issue', 'letsencrypt.org'), rec('issuewild', ';')];
    expect(evaluateCaa(set, { wildcard: false, identities: LE }).allowed).toBe(true);
    expect(evaluateCaa(set, { wildcard: true, identities: LE }).allowed).toBe(false);
    expect(evaluateCaa([rec('issue', 'letsencrypt.org')], { wildcard: true, identities: LE }).allowed).toBe(true);
    expect(evaluateCaa([rec('issue', ';'), rec('issuewild', 'letsencrypt.org')], { wildcard: true, identities: LE }).allowed).toBe(true);
    expect(evaluateCaa([rec('issuewild', 'letsencrypt.org')], { wildcard: false, identities: LE }).allowed).toBe(true);
  });
  it('an unknown tag with the critical flag forbids; without it, it is ignored', () => {
    const d = evaluateCaa([rec('tbs', 'x', 128), rec('issue', 'letsencrypt.org')], { wildcard: false, identities: LE });
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('critical');
    expect(evaluateCaa([rec('tbs', 'x', 0), rec('issue', 'letsencrypt.org')], { wildcard: false, identities: LE }).allowed).toBe(true);
    expect(evaluateCaa([rec('issue', 'letsencrypt.org', 128)], { wildcard: false, identities: LE }).allowed).toBe(true);
  });
  it('a set with only iodef does not restrict', () => {
    expect(evaluateCaa([rec('iodef', 'mailto:a@b.c')], { wildcard: false, identities: LE }).allowed).toBe(true);
  });
  it('a CA without a configured CAA identity: cannot tell when an issuer is named', () => {
    const d = evaluateCaa([rec('issue', 'letsencrypt.org')], { wildcard: false, identities: [] });
    expect(d.allowed).toBe(false);
    expect(d.undecidable).toBe(true);
    expect(d.reason).toMatch(/cannot tell: this CA's CAA identity is not configured/);
    expect(evaluateCaa([rec('issue', ';')], { wildcard: false, identities: [] }).undecidable).toBeUndefined();
  });
  it('parses issue values', () => {
    expect(parseIssueValue('ca.example.net; key=v; k2 = v2')).toEqual({ domain: 'ca.example.net', params: { key: 'v', k2: 'v2' }, malformed: false });
    expect(parseIssueValue(';').domain).toBeNull();
    expect(parseIssueValue('not a domain').malformed).toBe(true);
  });
  it('climbs to the registered domain and no further', () => {
    expect(caaClimb('a.b.example.test')).toEqual(['a.b.example.test', 'b.example.test', 'example.test']);
    expect(caaClimb('*.www.example.co.uk')).toEqual(['www.example.co.uk', 'example.co.uk']);
  });
});

describe('CAA check against pebble-challtestsrv', () => {
  const dns = () => new DnsClient({ resolver: cts.resolver, timeoutMs: 2000 });

  it('passes with no CAA records anywhere up the tree', async () => {
    const r = await checkCaa(dns(), 'www.nocaa.example.test', { identities: LE }, "Let's Encrypt");
    expect(r.ok).toBe(true);
    expect(r.summary).toContain('no CAA records');
    expect((r.evidence.asked as { name: string }[]).map((a) => a.name)).toEqual(['www.nocaa.example.test', 'nocaa.example.test', 'example.test']);
  });

  it('passes when a record allows the CA', async () => {
    await cts.post('/add-caa', { host: 'allow.test', policies: [{ tag: 'issue', value: 'letsencrypt.org' }] });
    const r = await checkCaa(dns(), 'allow.test', { identities: LE }, "Let's Encrypt");
    expect(r.ok).toBe(true);
    expect(r.evidence.decidingRecord).toBe('0 issue "letsencrypt.org"');
  });

  it('fails when a record forbids the CA, naming the record and the fix', async () => {
    await cts.post('/add-caa', { host: 'forbid.test', policies: [{ tag: 'issue', value: 'pki.goog' }] });
    const r = await checkCaa(dns(), 'www.forbid.test', { identities: LE }, "Let's Encrypt");
    expect(r.ok).toBe(false);
    expect(r.summary).toContain('inherited from forbid.test');
    expect(r.summary).toContain('pki.goog');
    expect(r.evidence.owner).toBe('forbid.test');
    expect(r.advice).toContain('forbid.test. CAA 0 issue "letsencrypt.org"');
  });

  it('uses the record on a parent domain, and a closer record wins over it', async () => {
    await cts.post('/add-caa', { host: 'parent.test', policies: [{ tag: 'issue', value: 'pki.goog' }] });
    await cts.post('/add-caa', { host: 'ok.deep.parent.test', policies: [{ tag: 'issue', value: 'letsencrypt.org' }] });
    const inherited = await checkCaa(dns(), 'a.deep.parent.test', { identities: LE }, "Let's Encrypt");
    expect(inherited.ok).toBe(false);
    expect(inherited.evidence.owner).toBe('parent.test');
    expect((inherited.evidence.asked as { name: string }[]).map((a) => a.name)).toEqual(['a.deep.parent.test', 'deep.parent.test', 'parent.test']);
    const closer = await checkCaa(dns(), 'ok.deep.parent.test', { identities: LE }, "Let's Encrypt");
    expect(closer.ok).toBe(true);
  });

  it('issuewild vs issue: the wildcard is forbidden, the plain name allowed', async () => {
    await cts.post('/add-caa', { host: 'wild.test', policies: [{ tag: 'issue', value: 'letsencrypt.org' }, { tag: 'issuewild', value: ';' }] });
    expect((await checkCaa(dns(), 'wild.test', { identities: LE }, 'LE')).ok).toBe(true);
    const w = await checkCaa(dns(), '*.wild.test', { identities: LE }, 'LE');
    expect(w.ok).toBe(false);
    expect(w.summary).toContain('issuewild');
  });

  it('a CAA SERVFAIL is a failure to fix before ordering', async () => {
    await cts.post('/set-servfail', { host: 'caafail.test' });
    const r = await checkCaa(dns(), 'caafail.test', { identities: LE }, "Let's Encrypt");
    expect(r.ok).toBe(false);
    expect(r.summary).toContain('SERVFAIL');
    expect(r.advice).toContain('refuses');
  });

  it('a CAA time-out is a failure, reported as a time-out, within the bound', async () => {
    const t0 = Date.now();
    const r = await checkCaa(new DnsClient({ resolver: silent.resolver, timeoutMs: 500 }), 'slowcaa.test', { identities: LE }, "Let's Encrypt");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.ok).toBe(false);
    expect(r.summary).toMatch(/timed out/);
  });

  it('a critical unknown tag forbids (fake DNS: challtestsrv cannot set the flag)', async () => {
    const d = new DnsClient({ resolver: fake.resolver, timeoutMs: 2000 });
    const r = await checkCaa(d, 'crit.example.test', { identities: LE }, "Let's Encrypt");
    expect(r.ok).toBe(false);
    expect(r.summary).toContain('critical');
    expect(r.evidence.decidingRecord).toBe('128 tbs "unknown"');
    expect((await checkCaa(d, 'noncrit.example.test', { identities: LE }, "Let's Encrypt")).ok).toBe(true);
  });

  it('a CA without a CAA identity passes only where no CAA record exists', async () => {
    expect((await checkCaa(dns(), 'www.nocaa.example.test', { identities: [] }, 'Pebble')).ok).toBe(true);
    const r = await checkCaa(dns(), 'allow.test', { identities: [] }, 'Pebble');
    expect(r.ok).toBe(false);
    expect(r.summary).toContain("cannot tell: this CA's CAA identity is not configured");
    expect(r.advice).toContain('--caa-identity');
  });
});

describe('runPrechecks without a challenge method', () => {
  it('runs DNS and CAA, lists HTTP-01 and failures as skipped', async () => {
    const rep = await runPrechecks({ names: ['www.plain.example.test'], resolver: cts.resolver, caaIdentities: LE, now: Date.now(), timeoutMs: 2000 });
    expect(rep.ok).toBe(true);
    expect(rep.results.map((r) => r.check)).toEqual(['dns', 'caa']);
    expect(rep.skipped.map((s) => s.check)).toEqual(['http01', 'failures']);
  });
  it('refuses a bad resolver before doing anything', async () => {
    await expect(runPrechecks({ names: ['a.example.test'], resolver: 'not-an-ip:53', caaIdentities: LE, now: 0 })).rejects.toThrow(InputError);
  });
});
