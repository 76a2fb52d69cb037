#!/usr/bin/env node
// Entry point for `npx lowbit …`: runs the TypeScript CLI directly (no build step needed).
import '../src/node/register.js';

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
