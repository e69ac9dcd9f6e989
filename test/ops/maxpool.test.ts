// maxPool2d: forward against an f64 CPU reference (odd shapes, ties resolved to the first maximum), backward
// against central finite differences and against the CPU's analytic routing, parity with PyTorch, bad inputs.
import { describe, expect, it } from 'vitest';
import { backward, mul, sum, type Tensor } from '../../src/index.ts';
import { maxPool2d } from '../../src/ops/maxpool.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray, rng, finiteDifferences, expectClose } from '../helpers/reference.ts';
import fixture from '../fixtures/pool_upsample.json' with { type: 'json' };

const engine = useEngine();

interface Pool {
  k: number;
  s: number;
  p: number;
}

/** f64 reference: outputs and argmax (flat index into the plane), the first maximum in row-major order. */
function poolRef(x: ArrayLike<number>, [n, c, h, w]: number[], { k, s, p }: Pool) {
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const y = new Float64Array(n * c * oh * ow);
  const arg = new Int32Array(y.length);
  for (let pl = 0; pl < n * c; pl++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let best = -Infinity;
        let at = -1;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s - p + ky;
            const ix = ox * s - p + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const v = x[pl * h * w + iy * w + ix];
            if (at < 0 || v > best) {
              best = v;
              at = iy * w + ix;
            }
          }
        }
        const o = (pl * oh + oy) * ow + ox;
        y[o] = best;
        arg[o] = at;
      }
    }
  }
  return { y, arg, shape: [n, c, oh, ow] };
}

/** Analytic gradient: each output's gradient goes to its argmax. */
function poolGradRef(gy: ArrayLike<number>, arg: Int32Array, [n, c, h, w]: number[], outPlane: number): Float64Array {
  const gx = new Float64Array(n * c * h * w);
  for (let o = 0; o < arg.length; o++) gx[Math.floor(o / outPlane) * h * w + arg[o]] += gy[o];
  return gx;
}

/** Forward output and gradient of sum(out * r) with respect to x, on the GPU. */
async function runPool(x: ArrayLike<number>, shape: number[], pool: Pool, r?: ArrayLike<number>) {
  const e = engine();
  const xt = e.tensor(Float32Array.from(x), shape, { requiresGrad: true, label: 'x' });
  const result = e.scope(() => {
    const y = maxPool2d(xt, { kernel: pool.k, stride: pool.s, padding: pool.p });
    const rt = e.tensor(Float32Array.from(r ?? new Float32Array(y.size).fill(1)), y.shape, { label: 'r' });
    backward(sum(mul(y, rt)));
    return y;
  });
  const y = (await result.read()) as Float32Array;
  const gx = (await xt.grad!.read()) as Float32Array;
  const yShape = [...result.shape];
  for (const t of [result, xt.grad!, xt]) t.dispose();
  return { y, gx, yShape };
}

/** Values that are all distinct and at least `gap` apart (a shuffled ramp), so finite differences are valid. */
function distinctValues(n: number, seed: number, gap = 0.05): Float32Array {
  const r = rng(seed);
  const v = Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return Float32Array.from(v);
}

const MODEL: Pool = { k: 3, s: 2, p: 1 };
const CASES: [number[], Pool][] = [
  [[1, 1, 7, 9], MODEL],
  [[2, 3, 5, 6], MODEL],
  [[2, 3, 7, 9], MODEL],
  [[1, 3, 1, 2], MODEL],
  [[2, 1, 6, 7], { k: 2, s: 2, p: 0 }],
  [[1, 2, 5, 8], { k: 3, s: 1, p: 0 }],
  [[1, 2, 9, 7], { k: 5, s: 3, p: 2 }],
  // The largest window: positions up to 255, the top of the byte each is saved in.
  [[1, 2, 19, 17], { k: 16, s: 1, p: 8 }],
];

describe('maxPool2d forward', () => {
  for (const [shape, pool] of CASES) {
    it(`${JSON.stringify(shape)} k${pool.k} s${pool.s} p${pool.p}: values and gradient routing match the reference`, async () => {
      const n = shape.reduce((a, b) => a * b);
      const x = randomArray(n, n + pool.k);
      const ref = poolRef(x, shape, pool);
      const r = randomArray(ref.y.length, 7);
      const got = await runPool(x, shape, pool, r);
      expect(got.yShape).toEqual(ref.shape);
      expectClose(got.y, ref.y, 0, 'y');
      expectClose(got.gx, poolGradRef(r, ref.arg, shape, ref.shape[2] * ref.shape[3]), 1e-6, 'dx');
    });
  }

  it('ties (constant regions, small integers) go to the first maximum in scan order', async () => {
    const shape = [2, 3, 7, 9];
    const n = shape.reduce((a, b) => a * b);
    const r0 = rng(5);
    // plane 0 constant, others blocks of equal values and small integers
    const x = Float32Array.from({ length: n }, (_, i) => {
      const plane = Math.floor(i / 63);
      const at = i % 63;
      if (plane === 0) return 1.5;
      if (plane % 2 === 1) return Math.floor((at % 9) / 4) + Math.floor(at / 27);
      return Math.floor(r0() * 3);
    });
    for (const pool of [MODEL, { k: 2, s: 1, p: 1 }, { k: 3, s: 1, p: 0 }]) {
      const ref = poolRef(x, shape, pool);
      const r = randomArray(ref.y.length, 9, 0.5, 1.5);
      const got = await runPool(x, shape, pool, r);
      expectClose(got.y, ref.y, 0, `y k${pool.k}s${pool.s}p${pool.p}`);
      expectClose(got.gx, poolGradRef(r, ref.arg, shape, ref.shape[2] * ref.shape[3]), 1e-6, `dx k${pool.k}s${pool.s}p${pool.p}`);
    }
  });

  it('-infinity inputs are chosen over padding, and NaN propagates as in PyTorch', async () => {
    const shape = [1, 1, 3, 3];
    const x = new Float32Array(9).fill(-Infinity);
    x[4] = NaN;
    const got = await runPool(x, shape, MODEL);
    // every 3x3 window covers the centre: NaN wins everywhere
    expect(Array.from(got.y).every(Number.isNaN)).toBe(true);
    const x2 = new Float32Array(9).fill(-Infinity);
    const got2 = await runPool(x2, shape, MODEL);
    expect(Array.from(got2.y)).toEqual([-Infinity, -Infinity, -Infinity, -Infinity]);
    // the gradient goes to the first in-bounds element of each window
    const ref = poolRef(x2, shape, MODEL);
    expectClose(got2.gx, poolGradRef(new Float32Array(4).fill(1), ref.arg, shape, 4), 0, 'dx');
  });

  it('under noGrad nothing is recorded and the saved indices are freed at once', async () => {
    const e = engine();
    const x = e.tensor(randomArray(2 * 3 * 7 * 9, 3), [2, 3, 7, 9], { requiresGrad: true });
    const tape = e.tape.length;
    const live = e.memory().liveBuffers;
    const y = e.noGrad(() => maxPool2d(x));
    expect(e.memory().liveBuffers).toBe(live + 1); // the output only
    expect(y.requiresGrad).toBe(false);
    expect(e.tape.length).toBe(tape);
    const ref = poolRef(await x.read(), [2, 3, 7, 9], MODEL);
    expectClose(await y.read(), ref.y, 0, 'y');
    y.dispose();
    x.dispose();
  });
});

describe('maxPool2d backward against finite differences', () => {
  for (const [shape, pool] of [CASES[0], CASES[1], CASES[4], CASES[6]]) {
    it(`${JSON.stringify(shape)} k${pool.k} s${pool.s} p${pool.p}`, async () => {
      const n = shape.reduce((a, b) => a * b);
      const x = distinctValues(n, n);
      const ref = poolRef(x, shape, pool);
      const r = randomArray(ref.y.length, 21);
      const loss = (xs: Float64Array): number => poolRef(xs, shape, pool).y.reduce((s, v, i) => s + v * r[i], 0);
      const fd = finiteDifferences(loss, x, 1e-3);
      const got = await runPool(x, shape, pool, r);
      expectClose(got.gx, fd, 1e-4, 'dx vs FD');
    });
  }
});

describe('maxPool2d parity with PyTorch', () => {
  const cases = Object.entries(fixture.cases).filter(([, c]) => c.op === 'maxPool2d') as [string, {
    kernel: number; stride: number; padding: number; x_shape: number[]; x: number[]; y_shape: number[]; y: number[]; gy: number[]; gx: number[];
  }][];
  it('has the fixture cases', () => expect(cases.length).toBeGreaterThanOrEqual(3));
  for (const [name, c] of cases) {
    it(name, async () => {
      const got = await runPool(c.x, c.x_shape, { k: c.kernel, s: c.stride, p: c.padding }, c.gy);
      expect(got.yShape).toEqual(c.y_shape);
      expectClose(got.y, c.y, 1e-4, `${name} y`);
      expectClose(got.gx, c.gx, 1e-3, `${name} dx`);
    });
  }
});

describe('maxPool2d bad input', () => {
  const make = (shape: number[]): Tensor => engine().zeros(shape, { label: 'bad' });
  it('throws before any dispatch, naming the op and the shapes', () => {
    const x3 = make([3, 7, 9]);
    expect(() => maxPool2d(x3)).toThrow(/^maxPool2d: input must be 4-D \[N, C, H, W\], got \[3,7,9\]/);
    const tiny = make([1, 1, 1, 1]);
    expect(() => maxPool2d(tiny, { kernel: 5, stride: 1, padding: 1 })).toThrow(/^maxPool2d: kernel 5x5 is larger than the padded input 3x3 \(input \[1,1,1,1\]/);
    const x = make([1, 2, 7, 9]);
    expect(() => maxPool2d(x, { kernel: 3, padding: 2 })).toThrow(/^maxPool2d: padding 2 must be at most half the kernel size 3.*\[1,2,7,9\]/);
    expect(() => maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(/^maxPool2d: padding 2 must be at most half the kernel size 2/);
    expect(() => maxPool2d(x, { stride: 0 })).toThrow(/^maxPool2d: stride must be an integer >= 1, got 0/);
    expect(() => maxPool2d(x, { kernel: 2.5 })).toThrow(/^maxPool2d: kernel must be an integer >= 1, got 2.5/);
    const wide = make([1, 1, 20, 20]);
    expect(() => maxPool2d(wide, { kernel: 17 })).toThrow(/^maxPool2d: kernel must be at most 16 .*got 17/);
    const xi = engine().zeros([1, 1, 4, 4], { dtype: 'i32' });
    expect(() => maxPool2d(xi)).toThrow(/^maxPool2d: x .* has dtype i32/);
    // the padding rule allows padding = kernel / 2 (integer division)
    const ok = maxPool2d(x, { kernel: 4, stride: 2, padding: 2 });
    expect(ok.shape).toEqual([1, 2, 4, 5]);
    for (const t of [x3, tiny, x, xi, wide, ok]) t.dispose();
  });

  it('backward frees the saved indices; a scope frees them when backward never runs', () => {
    const e = engine();
    const x = e.tensor(randomArray(2 * 3 * 7 * 9, 4), [2, 3, 7, 9], { requiresGrad: true });
    const live = e.memory().liveBuffers;
    e.scope(() => void maxPool2d(x));
    expect(e.memory().liveBuffers).toBe(live);
    e.scope(() => backward(sum(maxPool2d(x))));
    x.grad!.dispose();
    x.grad = null;
    expect(e.memory().liveBuffers).toBe(live);
    x.dispose();
  });
});
