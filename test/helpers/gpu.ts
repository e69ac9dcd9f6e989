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

/**
 * Runs fn with the engine presenting its adapter as a GPU (not a CPU adapter), so that kernels which pick their
 * shape by adapter class (isCpuAdapter) take their GPU path on SwiftShader too; the adapter is restored after.
 */
export async function asGpuAdapter<T>(e: Engine, fn: () => Promise<T>): Promise<T> {
  const adapter = e.adapter;
  const gpu = { ...adapter, isFallbackAdapter: false, architecture: 'test-gpu', device: '', description: '' };
  (e as { adapter: Engine['adapter'] }).adapter = gpu;
  try {
    return await fn();
  } finally {
    (e as { adapter: Engine['adapter'] }).adapter = adapter;
  }
}
