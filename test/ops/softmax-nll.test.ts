// softmaxNll: forward against an f64 CPU reference (odd shapes, large logits, temperatures != 1), gradients
// w.r.t. logits and temperatures against central finite differences and the analytic f64 gradient, golden
// parity with PyTorch (scripts/fixtures/softmax_nll.py), and input checks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backward, scale, type Tensor } from '../../src/index.ts';
import { softmaxNll } from '../../src/ops/softmax-nll.ts';
import { useEngine } from '../helpers/gpu.ts';
import { expectClose, finiteDifferences, randomArray, rng } from '../helpers/reference.ts';
import { full } from '../../src/ops/fill.ts';

const engine = useEngine();

type Shape4 = [number, number, number, number];

/** Mean over maps of log(sum exp(z - max)) + max - z_target, z = x / T, in f64. */
function refLoss(x: ArrayLike<number>, temps: ArrayLike<number>, tg: ArrayLike<number>, [n, l, h, w]: Shape4): number {
  const hw = h * w;
  let total = 0;
  for (let m = 0; m < n * l; m++) {
    const t = temps[m % l];
    const base = m * hw;
    let mx = -Infinity;
    for (let i = 0; i < hw; i++) mx = Math.max(mx, x[base + i] / t);
    let s = 0;
    for (let i = 0; i < hw; i++) s += Math.exp(x[base + i] / t - mx);
    total += Math.log(s) + mx - x[base + tg[m]] / t;
  }
  return total / (n * l);
}

/** Analytic gradients of refLoss in f64. */
function refGrad(x: ArrayLike<number>, temps: ArrayLike<number>, tg: ArrayLike<number>, [n, l, h, w]: Shape4): { dx: Float64Array; dt: Float64Array } {
  const hw = h * w;
  const count = n * l;
  const dx = new Float64Array(count * hw);
  const dt = new Float64Array(l);
  for (let m = 0; m < count; m++) {
    const t = temps[m % l];
    const base = m * hw;
    let mx = -Infinity;
    for (let i = 0; i < hw; i++) mx = Math.max(mx, x[base + i] / t);
    let s = 0;
    for (let i = 0; i < hw; i++) s += Math.exp(x[base + i] / t - mx);
    let acc = 0;
    for (let i = 0; i < hw; i++) {
      const g = Math.exp(x[base + i] / t - mx) / s - (i === tg[m] ? 1 : 0);
      dx[base + i] = g / t / count;
      acc += g * x[base + i];
    }
    dt[m % l] += (-acc / (t * t)) / count;
  }
  return { dx, dt };
}

function randomTargets(count: number, hw: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: count }, () => Math.floor(r() * hw));
}

interface GpuResult {
  loss: number;
  dx: Float32Array | null;
  dt: Float32Array | null;
}

/** Runs softmaxNll (times `upstream`, to exercise the upstream gradient) and backward, reads loss and grads. */
async function runGpu(
  x: Float32Array,
  shape: Shape4,
  temps: Float32Array,
  targets: Int32Array | 'tensor',
  tg: Int32Array,
  grads: { x: boolean; t: boolean },
  upstream = 1,
): Promise<GpuResult> {
  const e = engine();
  const lx = e.tensor(x, shape, { requiresGrad: grads.x, label: 'logits' });
  const lt = e.tensor(temps, [shape[1]], { requiresGrad: grads.t, label: 'temperatures' });
  const tgtArg = targets === 'tensor' ? e.tensor(tg, [shape[0], shape[1]], { label: 'targets' }) : targets;
  const loss = e.scope(() => {
    const l = softmaxNll(lx, lt, tgtArg);
    const out = upstream === 1 ? l : scale(l, upstream);
    if (grads.x || grads.t) backward(out);
    return l;
  });
  const value = await loss.item();
  const dx = grads.x ? ((await lx.grad!.read()) as Float32Array) : null;
  const dt = grads.t ? ((await lt.grad!.read()) as Float32Array) : null;
  for (const t of [loss, lx, lt, lx.grad, lt.grad, tgtArg instanceof Int32Array ? null : tgtArg]) (t as Tensor | null)?.dispose();
  return { loss: value, dx, dt };
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('softmaxNll forward', () => {
  const cases: { shape: Shape4; lo: number; hi: number; temps: number[] }[] = [
    { shape: [1, 1, 7, 9], lo: -2, hi: 2, temps: [0.8] },
    { shape: [3, 1, 7, 9], lo: -5, hi: 5, temps: [1.7] },
    { shape: [1, 4, 33, 17], lo: -50, hi: 50, temps: [1, 0.5, 2.5, 0.9] },
    { shape: [3, 4, 33, 17], lo: -50, hi: 50, temps: [0.3, 1.1, 4, 0.75] },
    { shape: [1, 1, 300, 200], lo: -50, hi: 50, temps: [1.3] },
  ];
  for (const { shape, lo, hi, temps } of cases) {
    it(`${shape.join('x')} logits in [${lo}, ${hi}], T = ${temps.join(',')}: loss to 1e-5 relative`, async () => {
      const [n, l, h, w] = shape;
      const x = randomArray(n * l * h * w, 100 + h, lo, hi);
      const t = Float32Array.from(temps);
      const tg = randomTargets(n * l, h * w, 7 + n);
      const got = await runGpu(x, shape, t, tg, tg, { x: false, t: false });
      const ref = refLoss(x, t, tg, shape);
      expect(relErr(got.loss, ref)).toBeLessThan(1e-5);
    });
  }

  it('a peaked map whose target is the mode (loss ~ 0) and one whose target is far below (loss ~ 180)', async () => {
    const shape: Shape4 = [1, 2, 20, 30];
    const hw = 600;
    const x = randomArray(2 * hw, 5, -40, -30);
    x[17] = 50;
    x[hw + 400] = 50;
    x[hw + 3] = -100;
    const tg = Int32Array.from([17, 3]);
    const t = Float32Array.from([1, 0.8]);
    const got = await runGpu(x, shape, t, tg, tg, { x: false, t: false });
    const ref = refLoss(x, t, tg, shape);
    expect(relErr(got.loss, ref)).toBeLessThan(1e-5);
    expect(got.loss).toBeGreaterThan(90);
  });

  it('targets as an i32 Tensor give the same loss as an Int32Array', async () => {
    const shape: Shape4 = [2, 3, 5, 6];
    const x = randomArray(2 * 3 * 30, 9, -3, 3);
    const t = Float32Array.from([1, 2, 0.5]);
    const tg = randomTargets(6, 30, 10);
    const a = await runGpu(x, shape, t, tg, tg, { x: false, t: false });
    const b = await runGpu(x, shape, t, 'tensor', tg, { x: false, t: false });
    expect(b.loss).toBe(a.loss);
    expect(relErr(a.loss, refLoss(x, t, tg, shape))).toBeLessThan(1e-5);
  });
});

describe('softmaxNll gradients', () => {
  it('1x1x7x9, T = 0.8: logits and temperature gradients match central finite differences', async () => {
    const shape: Shape4 = [1, 1, 7, 9];
    const x = randomArray(63, 21, -2, 2);
    const t = Float32Array.from([0.8]);
    const tg = Int32Array.from([40]);
    const got = await runGpu(x, shape, t, tg, tg, { x: true, t: true });
    const fx = finiteDifferences((v) => refLoss(v, t, tg, shape), x, 1e-4);
    const ft = finiteDifferences((v) => refLoss(x, v, tg, shape), t, 1e-5);
    expectClose(got.dx!, fx, 1e-3, 'dlogits');
    expectClose(got.dt!, ft, 1e-3, 'dT');
    expect(relErr(got.loss, refLoss(x, t, tg, shape))).toBeLessThan(1e-5);
  });

  it('3x4x33x17, logits in [-50, 50], T != 1, upstream gradient 2.5: FD on a subset and the analytic gradient', async () => {
    const shape: Shape4 = [3, 4, 33, 17];
    const [n, l, h, w] = shape;
    const hw = h * w;
    const x = randomArray(n * l * hw, 31, -50, 50);
    const t = Float32Array.from([0.6, 1, 2.2, 1.4]);
    const tg = randomTargets(n * l, hw, 32);
    const got = await runGpu(x, shape, t, tg, tg, { x: true, t: true }, 2.5);
    const ana = refGrad(x, t, tg, shape);
    expectClose(got.dx!, ana.dx.map((v) => v * 2.5), 1e-3, 'dlogits vs analytic');
    // Central differences at the targets, at each map's mode, and at random pixels.
    const r = rng(33);
    const idx = new Set<number>();
    for (let m = 0; m < n * l; m++) {
      idx.add(m * hw + tg[m]);
      let best = 0;
      for (let i = 1; i < hw; i++) if (x[m * hw + i] > x[m * hw + best]) best = i;
      idx.add(m * hw + best);
    }
    while (idx.size < 60) idx.add(Math.floor(r() * x.length));
    const indices = [...idx];
    const fx = finiteDifferences((v) => 2.5 * refLoss(v, t, tg, shape), x, 1e-3, indices);
    const scaleMax = Math.max(...fx.map(Math.abs));
    for (const i of indices) expect(Math.abs(got.dx![i] - fx[i]) / scaleMax).toBeLessThan(1e-3);
    const ft = finiteDifferences((v) => 2.5 * refLoss(x, v, tg, shape), t, 1e-5);
    expectClose(got.dt!, ft, 1e-3, 'dT vs FD');
    expectClose(got.dt!, ana.dt.map((v) => v * 2.5), 1e-3, 'dT vs analytic');
  });

  it('1x2x300x200 (long loops): gradients match the analytic f64 gradient', async () => {
    const shape: Shape4 = [1, 2, 300, 200];
    const hw = 60000;
    const x = randomArray(2 * hw, 41, -8, 8);
    const t = Float32Array.from([1.3, 0.7]);
    const tg = Int32Array.from([12345, 59999]);
    const got = await runGpu(x, shape, t, tg, tg, { x: true, t: true });
    const ana = refGrad(x, t, tg, shape);
    expectClose(got.dx!, ana.dx, 1e-3, 'dlogits');
    expectClose(got.dt!, ana.dt, 1e-3, 'dT');
    expect(relErr(got.loss, refLoss(x, t, tg, shape))).toBeLessThan(1e-5);
  });

  it('temperature scaling (logits frozen) and training (T frozen) give the same gradients as both together', async () => {
    const shape: Shape4 = [2, 3, 9, 8];
    const x = randomArray(2 * 3 * 72, 51, -6, 6);
    const t = Float32Array.from([0.9, 1.2, 3]);
    const tg = randomTargets(6, 72, 52);
    const both = await runGpu(x, shape, t, tg, tg, { x: true, t: true });
    const onlyT = await runGpu(x, shape, t, tg, tg, { x: false, t: true });
    const onlyX = await runGpu(x, shape, t, tg, tg, { x: true, t: false });
    const ana = refGrad(x, t, tg, shape);
    expectClose(onlyT.dt!, ana.dt, 1e-3, 'dT (logits frozen)');
    expectClose(onlyX.dx!, ana.dx, 1e-3, 'dlogits (T frozen)');
    expectClose(both.dt!, onlyT.dt!, 1e-6, 'dT same either way');
    expectClose(both.dx!, onlyX.dx!, 1e-6, 'dlogits same either way');
    expect(onlyT.loss).toBe(both.loss);
  });

  it('records nothing under noGrad, and leaves no live buffers behind after forward + backward', async () => {
    const e = engine();
    const shape: Shape4 = [2, 2, 6, 7];
    const x = randomArray(2 * 2 * 42, 71, -3, 3);
    const t = Float32Array.from([1, 1.5]);
    const tg = randomTargets(4, 42, 72);
    const lx = e.tensor(x, shape, { requiresGrad: true });
    const lt = e.tensor(t, [2], { requiresGrad: true });
    const tape = e.tape.length;
    const l0 = e.noGrad(() => softmaxNll(lx, lt, tg));
    expect(l0.requiresGrad).toBe(false);
    expect(e.tape.length).toBe(tape);
    expect(relErr(await l0.item(), refLoss(x, t, tg, shape))).toBeLessThan(1e-5);
    l0.dispose();
    // First backward allocates the leaves' .grad; a second run must not grow the live set any further.
    e.scope(() => backward(softmaxNll(lx, lt, tg)));
    await e.sync();
    const live = e.memory().liveBuffers;
    e.scope(() => backward(softmaxNll(lx, lt, tg)));
    await e.sync();
    expect(e.memory().liveBuffers).toBe(live);
    const ana = refGrad(x, t, tg, shape);
    expectClose(await lx.grad!.read(), ana.dx.map((v) => 2 * v), 1e-3, 'accumulated dlogits');
    expectClose(await lt.grad!.read(), ana.dt.map((v) => 2 * v), 1e-3, 'accumulated dT');
    for (const v of [lx.grad, lt.grad, lx, lt]) v?.dispose();
  });
});

interface LossFixture {
  name: string;
  shape: Shape4;
  logits: number[];
  temperatures: number[];
  targets: number[];
  loss: number;
  dlogits: number[];
  dtemperatures: number[];
}

describe('softmaxNll golden parity with PyTorch (reference two_d_softmax + nll_across_batch)', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/softmax_nll.json', import.meta.url), 'utf8')) as { loss: LossFixture[] };
  for (const c of fixture.loss) {
    it(c.name, async () => {
      const tg = Int32Array.from(c.targets);
      const got = await runGpu(Float32Array.from(c.logits), c.shape, Float32Array.from(c.temperatures), tg, tg, { x: true, t: true });
      expect(relErr(got.loss, c.loss)).toBeLessThan(1e-5);
      expectClose(got.dx!, c.dlogits, 1e-3, 'dlogits');
      expectClose(got.dt!, c.dtemperatures, 1e-3, 'dtemperatures');
    });
  }
});

describe('softmaxNll input checks', () => {
  it('rejects bad shapes and dtypes before any dispatch, with messages naming the op', () => {
    const e = engine();
    const x4 = e.zeros([2, 3, 4, 5]);
    const x3 = e.zeros([3, 4, 5]);
    const t3 = full(e, [3], 1);
    const t2 = full(e, [2], 1);
    const tgI = e.zeros([2, 3], { dtype: 'i32' });
    const tgF = e.zeros([2, 3]);
    const tgBad = e.zeros([3, 2], { dtype: 'i32' });
    const ok = new Int32Array(6);
    expect(() => softmaxNll(x3, t3, ok)).toThrow(/^softmaxNll: logits must be 4-D/);
    expect(() => softmaxNll(x4, t2, ok)).toThrow(/^softmaxNll: temperatures must be \[L\] = \[3\]/);
    expect(() => softmaxNll(x4, t3, tgF)).toThrow(/^softmaxNll: targets .* has dtype f32, expected i32/);
    expect(() => softmaxNll(x4, t3, tgBad)).toThrow(/^softmaxNll: targets must be i32 \[N, L\] = \[2, 3\]/);
    expect(() => softmaxNll(x4, t3, new Int32Array(5))).toThrow(/^softmaxNll: targets must hold N\*L = 6/);
    expect(() => softmaxNll(x4, t3, Int32Array.from([0, 1, 2, 20, 4, 5]))).toThrow(/^softmaxNll: target 20 of map \(n=1, l=0\) is outside \[0, H\*W\) = \[0, 20\)/);
    expect(() => softmaxNll(x4, t3, Int32Array.from([0, -1, 2, 3, 4, 5]))).toThrow(/^softmaxNll: target -1/);
    expect(() => softmaxNll(x4, t3, [1, 2] as unknown as Int32Array)).toThrow(/^softmaxNll: targets must be an i32 Tensor/);
    expect(softmaxNll(x4, t3, tgI).shape).toEqual([1]);
    for (const t of [x4, x3, t3, t2, tgI, tgF, tgBad]) t.dispose();
  });

  it('an out-of-range target given as a GPU tensor makes the loss (and that map\'s gradients) NaN', async () => {
    const shape: Shape4 = [1, 2, 4, 5];
    const x = randomArray(40, 61, -1, 1);
    const t = Float32Array.from([1, 1]);
    const bad = Int32Array.from([3, 20]);
    const got = await runGpu(x, shape, t, 'tensor', bad, { x: true, t: true });
    expect(Number.isNaN(got.loss)).toBe(true);
    expect(got.dx!.slice(0, 20).every(Number.isFinite)).toBe(true);
    expect(got.dx!.slice(20).every(Number.isNaN)).toBe(true);
    expect(Number.isNaN(got.dt![1])).toBe(true);
    expect(Number.isFinite(got.dt![0])).toBe(true);
  });
});
