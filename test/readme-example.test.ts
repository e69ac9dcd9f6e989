// The runtime example in the README must work exactly as written: extract it, run it with tsx, check its output.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('the README runtime example runs and prints the loss', () => {
  const readme = readFileSync('README.md', 'utf8');
  const block = /## The runtime in one example\s+```ts\n([\s\S]*?)```/.exec(readme);
  expect(block, 'README has the runtime example').not.toBeNull();
  mkdirSync('.cache', { recursive: true });
  const file = join('.cache', 'readme-example.ts');
  // The example imports from ./src/...; .cache/ is one level down.
  writeFileSync(file, block![1].replaceAll("'./src/", "'../src/"));
  const out = execFileSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', file], { encoding: 'utf8', timeout: 60_000 });
  // y = relu(w*x + b) with b = 0: [0.5, 0, 6, 0.4], mean 1.725
  expect(Number(out.trim())).toBeCloseTo(1.725, 5);
});
