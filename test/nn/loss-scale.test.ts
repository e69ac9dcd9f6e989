// Dynamic loss scaling (src/nn/loss-scale.ts): the f16 range flag of the subgroup-matrix conv tiles (run here on
// their emulation), the optimizers' scaled updates against torch.optim's (fixture of optim.test.ts), a forced
// overflow that must not reach the weights or the optimizer state, growth and its bounds, and gradients that
// underflow f16 without scaling and survive with it.
import { describe, expect, it } from 'vitest';
import { Adam, LossScaler, SGD, backward, f16RangeFlag, mul, scale, sum, type Engine, type Tensor } from '../../src/index.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { conv2dTuning, type Conv2dTuning, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { useEngine } from '../helpers/gpu.ts';
import { optimFixture } from '../helpers/optim-fixture.ts';
import { expectClose, maxRelError } from '../helpers/reference.ts';

const fx = optimFixture;
const engine = useEngine();

const TILE: SharedTile = { bm: 16, bn: 16, bk: 8, rm: 1, rn: 1, matrix: 8 };

/** Runs fn with every conv GEMM on the emulated subgroup-matrix tile (f16 operands), the tuning restored after. */
async function onMatrixTiles<T>(e: Engine, fn: () => Promise<T>): Promise<T> {
  const t = conv2dTuning(e);
  const saved: Conv2dTuning = { ...t };
  Object.assign(t, { forward: TILE, dgrad: TILE, wgrad: TILE, emulateMatrices: true });
  try {
    return await fn();
  } finally {
    Object.assign(t, saved);
  }
}

const flagOf = async (e: Engine): Promise<number> => (await f16RangeFlag(e).read())[0];

function parameter(e: Engine, values: readonly number[], label: string): Tensor {
  const p = e.tensor(values, [values.length], { requiresGrad: true, label });
  p.grad = e.zeros(p.shape, { label: `${label}.grad` });
  return p;
}

describe('the f16 range flag', () => {
  it('is set by a matrix tile that rounds a value beyond 65504 (or NaN), and by nothing else', async () => {
    const e = engine();
    const w = e.tensor(Array.from({ length: 4 * 3 * 9 }, (_, i) => ((i % 7) - 3) / 8), [4, 3, 3, 3]);
    const run = async (xValue: number, tiles: boolean): Promise<number> => {
      e.clear(f16RangeFlag(e));
      const x = e.tensor(Array.from({ length: 2 * 3 * 25 }, (_, i) => (i === 17 ? xValue : i / 50)), [2, 3, 5, 5]);
      const go = async () => e.noGrad(() => conv2d(x, w, null, { padding: 1 })).dispose();
      await (tiles ? onMatrixTiles(e, go) : go());
      x.dispose();
      return flagOf(e);
    };
    expect(await run(1000, true)).toBe(0);
    expect(await run(65504, true)).toBe(0);
    expect(await run(70000, true)).toBe(1);
    expect(await run(-1e30, true)).toBe(1);
    expect(await run(NaN, true)).toBe(1);
    expect(await run(70000, false)).toBe(0); // f32 tiles round nothing
    w.dispose();
  });
});

describe('the scaled optimizer updates', () => {
  const makers: Record<string, (p: Tensor[]) => Adam | SGD> = {
    adam: (p) => new Adam(p, { lr: 1e-2 }),
    adam_wd: (p) => new Adam(p, { lr: 1e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
    sgd: (p) => new SGD(p, { lr: 0.1 }),
    sgd_momentum_wd: (p) => new SGD(p, { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }),
  };
  for (const [name, make] of Object.entries(makers)) {
    it(`${name}: gradients of the scaled loss give torch.optim's steps, and a step that overflowed changes nothing`, async () => {
      const e = engine();
      const p = parameter(e, fx.p0, 'p');
      const opt = make([p]);
      const scaler = new LossScaler(e, { initScale: 2 ** 10 });
      const state = async () => [await p.read(), ...(await Promise.all(opt.stateTensors()[0].map((t) => t.read())))];
      let taken = 0;
      // Steps: good, overflowed, good, overflowed, good: the fixture's three steps, two skipped between.
      for (const overflow of [false, true, false, true, false]) {
        const { scale: s } = await scaler.status();
        scaler.beginStep();
        e.write(p.grad!, Float32Array.from(fx.grads[taken], (g) => (overflow ? 1e30 : g * s)));
        if (overflow) e.write(f16RangeFlag(e), Int32Array.of(1)); // as a matrix tile would
        const before = await state();
        opt.step(scaler);
        const after = await state();
        if (overflow) {
          after.forEach((a, i) => expect(Array.from(a), `${name}: state ${i} after a skipped step`).toEqual(Array.from(before[i])));
        } else {
          // f32 bias corrections (pow on the GPU) instead of the CPU's double: a few ulps more than optim.test's 1e-6.
          expectClose(after[0], fx.cases[name][taken], 2e-6, `${name} step ${taken + 1}`);
          taken++;
        }
      }
      expect(await scaler.status()).toEqual({ scale: 2 ** 8, goodSteps: 1, stepsTaken: 3, skippedSteps: 2 });
      for (const t of [scaler, opt, p.grad!, p]) t.dispose();
    });
  }

  it('grows the scale after growthInterval good steps in a row, within its bounds', async () => {
    const e = engine();
    const p = parameter(e, [1, 2, 3], 'p');
    const opt = new Adam([p]);
    const scaler = new LossScaler(e, { initScale: 4, growthInterval: 2, minScale: 2, maxScale: 16 });
    const step = async (overflow: boolean) => {
      scaler.beginStep();
      if (overflow) e.write(f16RangeFlag(e), Int32Array.of(1));
      opt.step(scaler);
      return (await scaler.status()).scale;
    };
    const scales = [];
    for (const overflow of [false, false, false, false, false, false, true, true, true]) scales.push(await step(overflow));
    expect(scales).toEqual([4, 8, 8, 16, 16, 16, 8, 4, 2]);
    expect(await step(false)).toBe(2);
    expect(await flagOf(e)).toBe(0);
    for (const t of [scaler, opt, p.grad!, p]) t.dispose();
  });

  it('refuses a scale that is not a power of two, bounds that do not hold the first scale, a seed of two values', () => {
    const e = engine();
    expect(() => new LossScaler(e, { initScale: 1000 })).toThrow(/initScale must be a power of two/);
    expect(() => new LossScaler(e, { initScale: 2, minScale: 4 })).toThrow(/minScale <= initScale <= maxScale/);
    expect(() => new LossScaler(e, { growthInterval: 0 })).toThrow(/growthInterval must be a positive integer/);
    const w = e.tensor([1, 2], [2], { requiresGrad: true });
    const seed = e.tensor([1, 2], [2]);
    e.scope(() => expect(() => backward(sum(w), { seed })).toThrow(/backward: the seed must have one element, got "tensor" \[2\]/));
    for (const t of [w, seed]) t.dispose();
  });
});

describe('loss scaling through the matrix tiles', () => {
  const N = 2, C = 3, H = 6, W = 5, Co = 4;
  const xs = Array.from({ length: N * C * H * W }, (_, i) => Math.sin(i * 0.7) * 0.5);
  const ws = Array.from({ length: Co * C * 9 }, (_, i) => Math.cos(i * 1.3) * 0.3);
  const rs = Array.from({ length: N * Co * H * W }, (_, i) => 1 + ((i * 5) % 7) / 7);

  /** dw of loss = k * sum(conv(x, w) * r) with backward seeded by `seed`, divided by it again. */
  async function weightGradient(e: Engine, k: number, seed: number): Promise<Float32Array> {
    const x = e.tensor(xs, [N, C, H, W]);
    const w = e.tensor(ws, [Co, C, 3, 3], { requiresGrad: true });
    const s = e.tensor([seed], [1]);
    e.scope(() => backward(scale(sum(mul(conv2d(x, w, null, { padding: 1 }), e.tensor(rs, [N, Co, H, W]))), k), { seed: s }));
    const dw = ((await w.grad!.read()) as Float32Array).map((v) => v / seed);
    for (const t of [x, w.grad!, w, s]) t.dispose();
    return dw;
  }

  it('a gradient below f16 is lost without scaling and kept with it', async () => {
    const e = engine();
    const k = 1e-8; // dy = k * r: below f16's smallest subnormal (6e-8), so it rounds to zero
    const exact = await weightGradient(e, k, 1); // f32 tiles
    await onMatrixTiles(e, async () => {
      const unscaled = await weightGradient(e, k, 1);
      const scaled = await weightGradient(e, k, 2 ** 16);
      expect(Math.max(...unscaled.map(Math.abs))).toBe(0);
      expect(maxRelError(scaled, exact)).toBeLessThan(2e-3);
    });
  });

  it('training steps that overflow f16 are skipped, the scale halves until they fit, and the weights see one step', async () => {
    const e = engine();
    await onMatrixTiles(e, async () => {
      const x = e.tensor(xs, [N, C, H, W]);
      const w = e.tensor(ws, [Co, C, 3, 3], { requiresGrad: true, label: 'w' });
      const opt = new Adam([w], { lr: 1e-3 });
      // dy = r (1 .. 1.86): times 2^16 beyond 65504, times 2^15 within.
      const scaler = new LossScaler(e, { initScale: 2 ** 16 });
      const status = [];
      for (let i = 0; i < 2; i++) {
        scaler.beginStep();
        e.scope(() => backward(sum(mul(conv2d(x, w, null, { padding: 1 }), e.tensor(rs, [N, Co, H, W]))), { seed: scaler.scale }));
        opt.step(scaler);
        opt.zeroGrad();
        status.push(await scaler.status());
      }
      expect(status.map((s) => [s.scale, s.stepsTaken, s.skippedSteps])).toEqual([
        [2 ** 15, 0, 1],
        [2 ** 15, 1, 1],
      ]);
      // One Adam step from a gradient whose every element is nonzero moves every weight by about lr.
      const moved = ((await w.read()) as Float32Array).map((v, i) => Math.abs(v - ws[i]));
      expect(Math.min(...moved)).toBeGreaterThan(0.9e-3);
      expect(Math.max(...moved)).toBeLessThan(1.1e-3);
      for (const t of [scaler, opt, x, w.grad!, w]) t.dispose();
    });
  });
});
