#!/usr/bin/env node
// Tiny launcher: the CLI is one bundled file, dist/certctl.js (npm run build; scripts/bundle.mjs).
// A bare --version is answered here, before the bundle loads (BENCHMARKS.md "cold start");
// the output is the same as commander's.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { createRequire } = await import('node:module');
  process.stdout.write(createRequire(import.meta.url)('../package.json').version + '\n');
} else {
  // Stack traces name src/ files through dist/certctl.js.map, read only when one may be printed
  // (--verbose prints an internal error's stack) or asked for: loading the map costs start-up.
  if (process.env.CERTCTL_DEBUG || args.includes('--verbose') || args.includes('-v')) process.setSourceMapsEnabled(true);
  const { main } = await import('../dist/certctl.js');
  await main(process.argv);
}
