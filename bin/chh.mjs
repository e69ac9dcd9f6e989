#!/usr/bin/env node
// `npx chh ...`: runs the TypeScript CLI through tsx (no build step needed in a clone).
import { register } from 'tsx/esm/api';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(new URL('../src/shaders/index.ts', import.meta.url))) {
  execFileSync(process.execPath, [`${root}scripts/embed-shaders.mjs`, '--quiet'], { stdio: 'inherit' });
}
register();
const { main } = await import('../src/cli/chh.ts');
process.exitCode = await main(process.argv.slice(2));
