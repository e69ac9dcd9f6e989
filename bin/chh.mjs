#!/usr/bin/env node
// `npx chh ...`. In a checkout of the repository (src/ is there; it is not in the npm package) the TypeScript CLI
// runs through tsx, so it never runs a stale build; from the installed package, the CLI `npm run build` compiled
// (dist/lib/cli.js), which needs no tsx.
import { existsSync } from 'node:fs';

async function loadMain() {
  if (!existsSync(new URL('../src/cli/chh.ts', import.meta.url))) return (await import('../dist/lib/cli.js')).main;
  const { register } = await import('tsx/esm/api');
  register();
  if (!existsSync(new URL('../src/generated/shaders.ts', import.meta.url))) {
    const { embedShaders } = await import('../scripts/embed-shaders.ts');
    embedShaders({ quiet: true });
  }
  return (await import('../src/cli/chh.ts')).main;
}

const main = await loadMain();
process.exitCode = await main(process.argv.slice(2));
