// Regenerates src/shaders/index.ts from the .wgsl files, so `npx vitest` alone always tests the current WGSL.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/embed-shaders.mjs', '--quiet'], { stdio: 'inherit' });
}
