// The pipeline (npm start, the demo page) refuses a run whose largest buffer is above the adapter's limits with one
// clear error, before anything is allocated: never a validation error in the middle of a step.
import { describe, expect, it } from 'vitest';
import { RUNS } from '../../src/chh/config.ts';
import { runPipeline } from '../../src/pipeline/pipeline.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

describe('the pipeline and the adapter limits', () => {
  it('names the buffer, its size and the limit, and allocates nothing', async () => {
    const e = engine();
    const limits = e.limits;
    // As a laptop browser's page might get: 8 MiB per storage binding.
    const small = new Proxy(limits, { get: (l, key) => (key === 'maxStorageBufferBindingSize' ? 8 << 20 : Reflect.get(l, key)) });
    Object.defineProperty(e, 'limits', { value: small, configurable: true });
    const before = e.memory().liveBytes;
    try {
      await expect(runPipeline(e, { ...RUNS.demo, model: 'paper' }, () => {})).rejects.toThrow(
        /the model at 128x160, batch 4, needs a \d+ MiB GPU buffer for the parameters \(one flat buffer\), above this adapter's maxStorageBufferBindingSize of 8 MiB/,
      );
      expect(e.memory().liveBytes).toBe(before);
    } finally {
      Object.defineProperty(e, 'limits', { value: limits, configurable: true });
    }
  });
});
