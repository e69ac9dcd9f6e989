// bench/first-result.ts, the measurement behind bench/first-step.ts, on a tiny model at a small size in Node: what
// it reports adds up, with and without compiling ahead. Its times are measured by the bench, never asserted here.
import { describe, expect, it } from 'vitest';
import { firstResult, type FirstResultConfig } from '../../bench/first-result.ts';

const base: FirstResultConfig = { runtime: 'node', what: 'predict', model: 'tiny', width: 64, height: 64, batch: 1, compile: true };

describe('bench/first-result', () => {
  it('compiles the prediction kernels ahead, then predicts twice', async () => {
    const r = await firstResult(base);
    expect(r.adapter).toMatch(/ \/ /);
    expect(r.kernels).toBeGreaterThan(10);
    expect(r.compileMs).toBeGreaterThan(0);
    expect(r.toFirstResultMs).toBe(r.engineMs + r.compileMs + r.firstMs);
  });

  it('without compiling ahead compiles nothing up front, and times a training step too', async () => {
    const r = await firstResult({ ...base, what: 'train', batch: 2, compile: false });
    expect([r.kernels, r.compileMs]).toEqual([0, 0]);
    expect(r.firstMs).toBeGreaterThan(0);
    expect(r.secondMs).toBeGreaterThan(0);
    expect(r.toFirstResultMs).toBe(r.engineMs + r.firstMs);
  });
});
