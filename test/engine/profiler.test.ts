// GpuTimer: GPU time of spans of recorded work from timestamp queries. Plumbing and sanity only (no speed claims:
// timings belong in bench/).
import { describe, expect, it } from 'vitest';
import { GpuTimer } from '../../src/engine/profiler.ts';
import { relu } from '../../src/ops/relu.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

describe('GpuTimer', () => {
  it('times spans of dispatches; results stay correct and in order with the other work', async (ctx) => {
    const e = engine();
    if (!GpuTimer.supported(e)) ctx.skip('this adapter has no timestamp-query');
    const timer = new GpuTimer(e, 4);
    const x = e.tensor(Float32Array.from({ length: 1 << 16 }, (_, i) => (i % 3) - 1), [1 << 16]);
    let y = x;
    const span = timer.time(() => {
      for (let i = 0; i < 8; i++) y = relu(y);
    });
    const empty = timer.time(() => {});
    expect([span, empty]).toEqual([0, 1]);
    const [ms, none] = await timer.read();
    expect(Number.isFinite(ms) && ms > 0).toBe(true);
    expect(none).toBeGreaterThanOrEqual(0);
    expect(Array.from((await y.read()).slice(0, 3))).toEqual([0, 0, 1]);
    // read() frees the spans
    expect(timer.time(() => {})).toBe(0);
    expect(await timer.read()).toHaveLength(1);
    expect(await timer.read()).toEqual([]);
    for (let i = 0; i < 4; i++) timer.time(() => {});
    expect(() => timer.time(() => {})).toThrow(/all 4 spans are used/);
    await timer.read();
    timer.dispose();
  });

  it('says clearly when the device has no timestamp queries', () => {
    const fake = { features: new Set<string>() } as unknown as Engine;
    expect(GpuTimer.supported(fake)).toBe(false);
    expect(() => new GpuTimer(fake)).toThrow(/no timestamp-query feature/);
  });
});
