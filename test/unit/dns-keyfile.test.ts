import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadTsigKey, parseKeyFile } from '../../src/core/dns/keyfile.js';
import { ExitCode } from '../../src/core/errors.js';

const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0ISE=';

function fails(src: string): string {
  try {
    parseKeyFile(src, 'k.key');
  } catch (err) {
    expect((err as { exitCode: number }).exitCode).toBe(ExitCode.CONFIG);
    const msg = (err as Error).message;
    expect(msg).not.toContain(SECRET);
    expect(msg).not.toContain('c2VjcmV0');
    return msg;
  }
  throw new Error('expected the parser to refuse the file');
}

describe('BIND key file parser', () => {
  it('reads what tsig-keygen writes (sha256 and sha512), and the secret never shows', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-key-'));
    try {
      for (const alg of ['hmac-sha256', 'hmac-sha512'] as const) {
        const file = path.join(dir, `${alg}.key`);
        const text = execFileSync('/usr/sbin/tsig-keygen', ['-a', alg, 'certctl.example.']).toString();
        fs.writeFileSync(file, text);
        const key = loadTsigKey(file);
        expect(key.name).toBe('certctl.example');
        expect(key.algorithm).toBe(alg);
        const secret = /secret "([^"]+)"/.exec(text)![1]!;
        for (const shown of [inspect(key), JSON.stringify(key), String(key), Object.keys(key).join(), JSON.stringify({ ...key })]) expect(shown).not.toContain(secret);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts comments, bare names, several keys (chosen by name)', () => {
    const keys = parseKeyFile(`# made by hand\n// two keys\nkey a { algorithm HMAC-SHA512; /* c */ secret "${SECRET}"; };\nkey "b." {\n  secret "${SECRET}";\n  algorithm hmac-sha256;\n};\n`);
    expect(keys.map((k) => [k.name, k.algorithm, k.line])).toEqual([
      ['a', 'hmac-sha512', 3],
      ['b', 'hmac-sha256', 4],
    ]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-key-'));
    const file = path.join(dir, 'two.key');
    fs.writeFileSync(file, `key a { algorithm hmac-sha256; secret "${SECRET}"; };\nkey b { algorithm hmac-sha256; secret "${SECRET}"; };\n`);
    try {
      expect(() => loadTsigKey(file)).toThrow(/holds 2 keys \(a, b\); say which one/);
      expect(loadTsigKey(file, 'B').name).toBe('b');
      expect(() => loadTsigKey(file, 'c')).toThrow(/no key named "c"/);
      expect(() => loadTsigKey(path.join(dir, 'missing.key'))).toThrow(/does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses damaged files with FILE:LINE and never echoes the secret', () => {
    expect(fails('')).toMatch(/^k\.key:1: the file holds no key statement/);
    expect(fails(`key "a" {\n  algorithm hmac-md5;\n  secret "${SECRET}";\n};`)).toMatch(/k\.key:2: .*HMAC-MD5.*tsig-keygen -a hmac-sha256 a/);
    expect(fails(`key "a" {\n  algorithm hmac-sha999;\n  secret "${SECRET}";\n};`)).toMatch(/k\.key:2: .*unknown algorithm "hmac-sha999"/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret "${SECRET.slice(0, -2)}!";\n};`)).toMatch(/k\.key:3: the secret of key "a" is not valid base64 \(the secret itself is not shown\)/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret ${SECRET};\n};`)).toMatch(/k\.key:3: the secret of key "a" must be a quoted base64 string/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret "${SECRET}"\n};`)).toMatch(/k\.key:4: expected ";" after the secret/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n};`)).toMatch(/k\.key:1: key "a" has no secret/);
    expect(fails(`key "a" {\n  secret "${SECRET}";\n};`)).toMatch(/k\.key:1: key "a" has no algorithm/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret "${SECRET}";\n}`)).toMatch(/k\.key:4: expected ";" after the "}"/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret "${SECRET}";\n`)).toMatch(/k\.key:3: key "a" is not closed/);
    expect(fails(`options { directory "/x"; };`)).toMatch(/k\.key:1: expected a "key" statement/);
    expect(fails(`key "a" {\n  algorithm hmac-sha256;\n  secret "${SECRET}";\n  ${SECRET};\n};`)).toMatch(/k\.key:4: unknown statement inside key "a"/);
    expect(fails(`key "a" { algorithm hmac-sha256; secret "c2hvcnQ="; };`)).toMatch(/only 5 bytes/);
    expect(fails(`key "a" { algorithm hmac-sha256; secret "${SECRET}"; };\nkey "A" { algorithm hmac-sha256; secret "${SECRET}"; };`)).toMatch(/k\.key:2: key "A" is defined twice/);
    expect(fails(`key "a b" { algorithm hmac-sha256; secret "${SECRET}"; };`)).toMatch(/must be a domain name/);
    expect(fails(`/* never closed\nkey "a" {};`)).toMatch(/k\.key:1: a \/\* comment is never closed/);
    expect(fails(`key "a { algorithm hmac-sha256;\n};`)).toMatch(/k\.key:1: a quoted string is not closed/);
    // several problems at once
    const both = fails(`key "a" {\n  algorithm hmac-sha999;\n  secret "!!!!";\n};`);
    expect(both.split('\n')).toHaveLength(2);
  });
});

describe('secretFileWarning', () => {
  it('quiet for 0600 and 0640, a sentence with the chmod for a file others can read or change', async () => {
    const { secretFileWarning } = await import('../../src/core/challenge/dns01.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certctl-keymode-'));
    const f = path.join(dir, 'k.key');
    fs.writeFileSync(f, 'x');
    for (const [mode, want] of [
      [0o600, undefined],
      [0o640, undefined],
      [0o644, `warning: the TSIG key file ${f} can be read by every user (mode 0644): chmod 600 ${f} (or 640 with the group that must read it).`],
      [0o660, `warning: the TSIG key file ${f} can be changed by its group (mode 0660): chmod 600 ${f} (or 640 with the group that must read it).`],
      [0o666, `warning: the TSIG key file ${f} can be changed by every user (mode 0666): chmod 600 ${f} (or 640 with the group that must read it).`],
    ] as const) {
      fs.chmodSync(f, mode);
      expect(secretFileWarning(f, 'the TSIG key file')).toBe(want);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
