
import type { Command } from 'commander';
import { action } from '../action.js';

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function register(program: Command): void {
  program
    .command('csr')
    .description('write new private key(s) and CSR(s) for a set of names, without any CA (for use with any CA)')
    .option('-d, --domain <name>', 'a name for the CSR; repeat for more (the first is the CN); IP addresses and wildcards are allowed', collect)
    .option('--key-type <type>', 'rsa[:2048|3072|4096], ecdsa[:p256|p384], dual (RSA + ECDSA), sm2 (signing + encryption pair)', 'ecdsa')
    .option('-o, --out <dir>', 'directory to write into (required; created, mode 0700, if missing)')
    .option('--force', 'replace private key files that already exist there')
    .addHelpText(
      'after',
      `
Files written:
  rsa, ecdsa   privkey.pem  csr.pem
  dual         privkey-rsa.pem  csr-rsa.pem  privkey-ecdsa.pem  csr-ecdsa.pem
  sm2          sign.key  sign.csr (digitalSignature, nonRepudiation)
               enc.key   enc.csr  (keyEncipherment, dataEncipherment, keyAgreement)
Keys are PKCS#8 PEM, mode 0600. SM2 CSRs are signed SM3withSM2 with signer ID
1234567812345678; check one with:
  openssl req -in sign.csr -noout -verify -vfyopt distid:1234567812345678`,
    )
    .action(
      action(async (ctx, opts: { domain?: string[]; keyType: string; out?: string; force?: boolean }) => (await import('../run/csr.js')).runCsr(ctx, opts)),
    );
}
