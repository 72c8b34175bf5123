#!/usr/bin/env node
// Tiny launcher: the CLI is bundled (npm run build; scripts/bundle.mjs, docs/architecture.md
// "How dist/ is built"): a command line that names a command runs that command's bundle,
// dist/cli/<command>.bundle.js (only the code it can reach); help and unknown commands run
// dist/certctl.js (every command). A bare --version is answered here, before any bundle loads
// (BENCHMARKS.md "cold start"); the output is the same as commander's.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { createRequire } = await import('node:module');
  process.stdout.write(createRequire(import.meta.url)('../package.json').version + '\n');
} else {
  // Stack traces name src/ files through the bundle's source map, read only when one may be printed
  // (--verbose prints an internal error's stack) or asked for: loading the map costs start-up.
  if (process.env.CERTCTL_DEBUG || args.includes('--verbose') || args.includes('-v')) process.setSourceMapsEnabled(true);
  const { commandOf } = await import('../dist/cli/commands/index.js');
  const command = commandOf(args);
  const { main } = await import(command ? `../dist/cli/${command}.bundle.js` : '../dist/certctl.js');
  await main(process.argv);
}
