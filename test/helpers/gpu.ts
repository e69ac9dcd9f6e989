// One engine per test file (Dawn in Node), destroyed after the file's tests.
import { afterAll, beforeAll } from 'vitest';
import type { Engine } from '../../src/index.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';

export function useEngine(): () => Engine {
  let engine: Engine | null = null;
  beforeAll(async () => {
    engine = await createNodeEngine();
  });
  afterAll(() => {
    engine?.destroy();
    engine = null;
  });
  return () => {
    if (!engine) throw new Error('engine not ready (useEngine must be called at the top of a describe/file)');
    return engine;
  };
}
