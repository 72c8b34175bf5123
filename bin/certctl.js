#!/usr/bin/env node
// Tiny launcher: the built CLI lives in dist/ (npm run build).
import { main } from '../dist/cli/main.js';

main(process.argv);
