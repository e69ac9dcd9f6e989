// Regenerates src/generated/shaders.ts from the .wgsl files, so `npx vitest` alone always tests the current WGSL.
import { embedShaders } from '../scripts/embed-shaders.ts';

export default function setup(): void {
  embedShaders({ quiet: true });
}
