/** The bodies of `certctl csr` (wiring: commands/csr.ts). */
import type { Context } from '../context.js';

/** One file the command wrote, as listed in the certctl.csr/1 document. */
interface Written {
  path: string;
  kind: 'key' | 'csr';
  role: string;
  algorithm: string;
}

/**
 * File names per certificate role. A lone RSA or ECDSA key gets certbot's
 * familiar privkey.pem/csr.pem; dual adds the algorithm as a suffix; SM2 uses
 * the names TLCP servers are configured with (sign.key, enc.key).
 */
function fileNames(specText: string, role: string, algoKind: string): { key: string; csr: string } {
  if (role === 'sm2-sign') return { key: 'sign.key', csr: 'sign.csr' };
  if (role === 'sm2-enc') return { key: 'enc.key', csr: 'enc.csr' };
  if (specText === 'dual') return { key: `privkey-${algoKind}.pem`, csr: `csr-${algoKind}.pem` };
  return { key: 'privkey.pem', csr: 'csr.pem' };
}

export async function runCsr(ctx: Context, opts: { domain?: string[]; keyType: string; out?: string; force?: boolean }): Promise<number | void> {
  const path = await import('node:path');
  const fs = await import('node:fs');
  const { InputError } = await import('../../core/errors.js');
  const { normalizeNames } = await import('../../core/names.js');
  const { parseKeyType, generateKey, createCsr, keyAlgoText } = await import('../../core/keys/index.js');
  const { writeFileAtomic } = await import('../../core/store/atomic.js');

  // Validate everything before generating or writing anything. Missing options are
  // checked here rather than by commander so they exit 2 with a hint like every input error.
  const spec = parseKeyType(opts.keyType);
  const names = normalizeNames(opts.domain ?? [], { allowIp: true, allowWildcard: true });
  if (!opts.out) throw new InputError('No output directory given.', 'Pass --out DIR; the key and CSR files are written there.');
  const { plain } = await import('../validate.js');
  const outDir = path.resolve(plain(opts.out, '--out')!);
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) {
    throw new InputError(`--out ${opts.out} exists and is not a directory.`);
  }
  // The SM2 ACME bundle's third certificate (RSA/ECC) is an ordinary key type: `csr` writes the SM2 pair only.
  const parts = spec.text === 'sm2' ? spec.parts.filter((p) => p.algo.kind === 'sm2') : spec.parts;
  const plan = parts.map((p) => ({ ...p, files: fileNames(spec.text, p.role, p.algo.kind) }));
  const existing = plan.map((p) => path.join(outDir, p.files.key)).filter((f) => fs.existsSync(f));
  if (existing.length > 0 && !opts.force) {
    throw new InputError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}; certctl never replaces a private key unasked.`,
      'Choose another --out directory, or pass --force to replace the key(s).',
    );
  }

  const made: { key: string; csr: string; part: (typeof plan)[number] }[] = [];
  for (const part of plan) {
    ctx.out.verbose(`generating ${keyAlgoText(part.algo)} key (${part.role})`);
    const key = await generateKey(part.algo);
    const csr = await createCsr(key, names, part.algo, part.role === 'sm2-enc' ? 'enc' : 'sign');
    made.push({ key, csr, part });
  }

  const written: Written[] = [];
  for (const { key, csr, part } of made) {
    const algorithm = keyAlgoText(part.algo);
    const keyPath = path.join(outDir, part.files.key);
    const csrPath = path.join(outDir, part.files.csr);
    writeFileAtomic(keyPath, key, 0o600);
    written.push({ path: keyPath, kind: 'key', role: part.role, algorithm });
    writeFileAtomic(csrPath, csr, 0o644);
    written.push({ path: csrPath, kind: 'csr', role: part.role, algorithm });
  }

  if (ctx.out.json) {
    ctx.out.document('certctl.csr/1', { keyType: spec.text, names, files: written });
    return;
  }
  const p = ctx.out.palette;
  ctx.out.info(`${p.ok('Wrote')} ${spec.text} key${written.length > 2 ? 's' : ''} and CSR${written.length > 2 ? 's' : ''} for ${names.join(', ')}:`);
  for (const w of written) ctx.out.info(`  ${w.path}  ${p.dim(`${w.kind === 'key' ? 'private key, 0600' : 'CSR'} · ${w.algorithm}${w.role.startsWith('sm2-') ? ` · ${w.role}` : ''}`)}`);
}
