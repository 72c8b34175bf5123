#!/usr/bin/env node
// Tiny launcher: the built CLI lives in dist/ (npm run build).
// A bare --version is answered here, before any of certctl's modules load
// (BENCHMARKS.md "cold start"); the output is the same as commander's.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { createRequire } = await import('node:module');
  process.stdout.write(createRequire(import.meta.url)('../package.json').version + '\n');
} else {
  const { main } = await import('../dist/cli/main.js');
  await main(process.argv);
}
