#!/usr/bin/env node
// `npx chh ...`: runs the TypeScript CLI through tsx (no build step needed in a clone).
import { register } from 'tsx/esm/api';
import { existsSync } from 'node:fs';

register();
if (!existsSync(new URL('../src/generated/shaders.ts', import.meta.url))) {
  const { embedShaders } = await import('../scripts/embed-shaders.ts');
  embedShaders({ quiet: true });
}
const { main } = await import('../src/cli/chh.ts');
process.exitCode = await main(process.argv.slice(2));
