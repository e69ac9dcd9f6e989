// batchNorm2d (optionally fused with ReLU): forward and running statistics against an f64 CPU reference, backward
// against central finite differences of that reference, golden parity with PyTorch, and the bad-input errors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ParameterStore, backward, mul, sum, type Engine, type Tensor } from '../../src/index.ts';
import { batchNorm2d } from '../../src/ops/batchnorm.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray, finiteDifferences, expectClose } from '../helpers/reference.ts';

const engine = useEngine();

type Shape4 = [number, number, number, number];

interface RefOptions {
  training: boolean;
  relu: boolean;
  momentum: number;
  eps: number;
}

/** Plain f64 batchnorm2d (PyTorch semantics). Returns the output and the updated running stats (inputs untouched). */
function bnRef(
  x: ArrayLike<number>,
  shape: Shape4,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  rm: ArrayLike<number>,
  rv: ArrayLike<number>,
  o: RefOptions,
): { out: Float64Array; rm: Float64Array; rv: Float64Array } {
  const [N, C, H, W] = shape;
  const HW = H * W;
  const n = N * HW;
  const out = new Float64Array(N * C * HW);
  const rmNew = Float64Array.from(rm);
  const rvNew = Float64Array.from(rv);
  for (let c = 0; c < C; c++) {
    let mean: number;
    let varB: number;
    if (o.training) {
      let s = 0;
      for (let i = 0; i < N; i++) for (let j = 0; j < HW; j++) s += x[(i * C + c) * HW + j];
      mean = s / n;
      let s2 = 0;
      for (let i = 0; i < N; i++) for (let j = 0; j < HW; j++) s2 += (x[(i * C + c) * HW + j] - mean) ** 2;
      varB = s2 / n;
      rmNew[c] = (1 - o.momentum) * rm[c] + o.momentum * mean;
      rvNew[c] = (1 - o.momentum) * rv[c] + o.momentum * (s2 / (n - 1));
    } else {
      mean = rm[c];
      varB = rv[c];
    }
    const invstd = 1 / Math.sqrt(varB + o.eps);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < HW; j++) {
        const k = (i * C + c) * HW + j;
        const v = w[c] * (x[k] - mean) * invstd + b[c];
        out[k] = o.relu ? Math.max(v, 0) : v;
      }
    }
  }
  return { out, rm: rmNew, rv: rvNew };
}

interface BnCase {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  rm: Float32Array;
  rv: Float32Array;
}

function makeCase(shape: Shape4, seed: number, offset = 0.7, spread = 1.5): BnCase {
  const C = shape[1];
  const n = shape.reduce((a, v) => a * v, 1);
  const x = randomArray(n, seed, -spread, spread);
  // Per-channel offsets, so that the centring matters.
  const HW = shape[2] * shape[3];
  for (let i = 0; i < n; i++) x[i] += offset * (1 + (Math.floor(i / HW) % C));
  return {
    x,
    w: randomArray(C, seed + 1, 0.5, 1.5),
    b: randomArray(C, seed + 2, -0.5, 0.5),
    rm: randomArray(C, seed + 3, -0.5, 0.5),
    rv: randomArray(C, seed + 4, 0.25, 2),
  };
}

interface GpuBn {
  x: Tensor;
  w: Tensor;
  b: Tensor;
  rm: Tensor;
  rv: Tensor;
  dispose(): void;
}

function upload(e: Engine, shape: Shape4, d: BnCase, requiresGrad = false): GpuBn {
  const C = shape[1];
  const t = {
    x: e.tensor(d.x, shape, { label: 'x', requiresGrad }),
    w: e.tensor(d.w, [C], { label: 'weight', requiresGrad }),
    b: e.tensor(d.b, [C], { label: 'bias', requiresGrad }),
    rm: e.tensor(d.rm, [C], { label: 'running_mean' }),
    rv: e.tensor(d.rv, [C], { label: 'running_var' }),
    dispose() {
      for (const v of [t.x, t.w, t.b, t.rm, t.rv]) {
        v.grad?.dispose();
        v.dispose();
      }
    },
  };
  return t;
}

const MODES: RefOptions[] = [
  { training: true, relu: false, momentum: 0.1, eps: 1e-5 },
  { training: true, relu: true, momentum: 0.1, eps: 1e-5 },
  { training: false, relu: false, momentum: 0.1, eps: 1e-5 },
  { training: false, relu: true, momentum: 0.1, eps: 1e-5 },
];

const modeName = (o: RefOptions): string => `${o.training ? 'train' : 'eval'}${o.relu ? '+relu' : ''}`;

describe('batchNorm2d forward', () => {
  const shapes: Shape4[] = [
    [1, 1, 7, 5],
    [3, 5, 7, 5],
    [1, 5, 3, 1],
    [3, 1, 2, 9],
  ];
  for (const shape of shapes) {
    it(`train/eval, with and without relu, on ${JSON.stringify(shape)}`, async () => {
      const e = engine();
      const d = makeCase(shape, 11 + shape[0] * 7 + shape[1]);
      for (const mode of MODES) {
        const g = upload(e, shape, d);
        const y = batchNorm2d(g.x, { weight: g.w, bias: g.b, runningMean: g.rm, runningVar: g.rv, training: mode.training, relu: mode.relu });
        const ref = bnRef(d.x, shape, d.w, d.b, d.rm, d.rv, mode);
        expectClose(await y.read(), ref.out, 1e-5, `${modeName(mode)} out`);
        expectClose(await g.rm.read(), ref.rm, 1e-6, `${modeName(mode)} running_mean`);
        expectClose(await g.rv.read(), ref.rv, 1e-6, `${modeName(mode)} running_var`);
        y.dispose();
        g.dispose();
      }
    });
  }

  it('eval accepts one value per channel ([1,3,1,1])', async () => {
    const e = engine();
    const shape: Shape4 = [1, 3, 1, 1];
    const d = makeCase(shape, 5);
    const g = upload(e, shape, d);
    const mode = MODES[3];
    const y = batchNorm2d(g.x, { weight: g.w, bias: g.b, runningMean: g.rm, runningVar: g.rv, training: false, relu: true });
    expectClose(await y.read(), bnRef(d.x, shape, d.w, d.b, d.rm, d.rv, mode).out, 1e-5, 'eval [1,3,1,1]');
    y.dispose();
    g.dispose();
  });

  it('multi-workgroup reduction on [2,3,150,170] (51000 values per channel, far from zero mean)', async () => {
    const e = engine();
    const shape: Shape4 = [2, 3, 150, 170];
    // Mean ~ 20-60 with spread 0.5: E[x^2] - E[x]^2 in f32 would lose most digits; the centred passes do not.
    const d = makeCase(shape, 77, 20, 0.5);
    for (const mode of [MODES[0], MODES[1]]) {
      const g = upload(e, shape, d);
      const y = batchNorm2d(g.x, { weight: g.w, bias: g.b, runningMean: g.rm, runningVar: g.rv, training: true, relu: mode.relu });
      const ref = bnRef(d.x, shape, d.w, d.b, d.rm, d.rv, mode);
      expectClose(await y.read(), ref.out, 1e-4, `${modeName(mode)} out`);
      expectClose(await g.rm.read(), ref.rm, 1e-6, 'running_mean');
      expectClose(await g.rv.read(), ref.rv, 1e-5, 'running_var');
      y.dispose();
      g.dispose();
    }
  });

  it('running stats after two consecutive training calls, then eval uses them', async () => {
    const e = engine();
    const shape: Shape4 = [3, 5, 4, 6];
    const d1 = makeCase(shape, 21);
    const x2 = randomArray(d1.x.length, 99, -2, 3);
    const g = upload(e, shape, d1);
    const x2t = e.tensor(x2, shape, { label: 'x2' });
    const opts = { weight: g.w, bias: g.b, runningMean: g.rm, runningVar: g.rv, momentum: 0.1 };
    const y1 = batchNorm2d(g.x, { ...opts, training: true });
    const y2 = batchNorm2d(x2t, { ...opts, training: true, relu: true });
    const r1 = bnRef(d1.x, shape, d1.w, d1.b, d1.rm, d1.rv, MODES[0]);
    const r2 = bnRef(x2, shape, d1.w, d1.b, r1.rm, r1.rv, MODES[1]);
    expectClose(await y1.read(), r1.out, 1e-5, 'call 1 out');
    expectClose(await y2.read(), r2.out, 1e-5, 'call 2 out');
    expectClose(await g.rm.read(), r2.rm, 1e-6, 'running_mean after 2 calls');
    expectClose(await g.rv.read(), r2.rv, 1e-6, 'running_var after 2 calls');
    const y3 = batchNorm2d(g.x, { ...opts, training: false });
    const r3 = bnRef(d1.x, shape, d1.w, d1.b, r2.rm, r2.rv, MODES[2]);
    expectClose(await y3.read(), r3.out, 1e-5, 'eval with the updated stats');
    expectClose(await g.rm.read(), r2.rm, 1e-6, 'eval leaves running_mean');
    expectClose(await g.rv.read(), r2.rv, 1e-6, 'eval leaves running_var');
    for (const t of [y1, y2, y3, x2t]) t.dispose();
    g.dispose();
  });
});

/** GPU gradients of sum(batchNorm2d(...) * r) with respect to x, weight, bias. */
async function gpuGrads(shape: Shape4, d: BnCase, r: Float32Array, mode: RefOptions): Promise<[Float32Array, Float32Array, Float32Array]> {
  const e = engine();
  const g = upload(e, shape, d, true);
  e.scope(() => {
    const y = batchNorm2d(g.x, {
      weight: g.w,
      bias: g.b,
      runningMean: g.rm,
      runningVar: g.rv,
      training: mode.training,
      relu: mode.relu,
      momentum: mode.momentum,
      eps: mode.eps,
    });
    backward(sum(mul(y, e.tensor(r, shape, { label: 'r' }))));
  });
  const out = (await Promise.all([g.x.grad!.read(), g.w.grad!.read(), g.b.grad!.read()])) as [Float32Array, Float32Array, Float32Array];
  g.dispose();
  return out;
}

describe('batchNorm2d backward vs central finite differences (f64)', () => {
  const shapes: Shape4[] = [
    [2, 3, 3, 2],
    [1, 2, 5, 3],
  ];
  for (const shape of shapes) {
    for (const mode of MODES) {
      it(`${modeName(mode)} on ${JSON.stringify(shape)}`, async () => {
        const C = shape[1];
        const d = makeCase(shape, 31 + shape[0] + shape[3]);
        const r = randomArray(d.x.length, 41, -1, 1);
        const loss = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>): number => {
          const out = bnRef(x, shape, w, b, d.rm, d.rv, mode).out;
          let s = 0;
          for (let i = 0; i < out.length; i++) s += out[i] * r[i];
          return s;
        };
        const h = 1e-5;
        const fdx = finiteDifferences((x) => loss(x, d.w, d.b), d.x, h);
        const fdw = finiteDifferences((w) => loss(d.x, w, d.b), d.w, h);
        const fdb = finiteDifferences((b) => loss(d.x, d.w, b), d.b, h);
        const [dx, dw, db] = await gpuGrads(shape, d, r, mode);
        expect(dw.length).toBe(C);
        expectClose(dx, fdx, 5e-4, 'dx');
        expectClose(dw, fdw, 5e-4, 'dweight');
        expectClose(db, fdb, 5e-4, 'dbias');
      });
    }
  }

  it('train+relu on [2,3,150,170] (multi-workgroup gradient reductions) vs the analytic f64 gradient', async () => {
    const shape: Shape4 = [2, 3, 150, 170];
    const [N, C, H, W] = shape;
    const HW = H * W;
    const n = N * HW;
    const d = makeCase(shape, 55, 10, 0.5);
    const r = randomArray(d.x.length, 56, -1, 1);
    const mode = MODES[1];
    const out = bnRef(d.x, shape, d.w, d.b, d.rm, d.rv, mode).out;
    const dx = new Float64Array(d.x.length);
    const dw = new Float64Array(C);
    const db = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const idx: number[] = [];
      for (let i = 0; i < N; i++) for (let j = 0; j < HW; j++) idx.push((i * C + c) * HW + j);
      const mean = idx.reduce((a, k) => a + d.x[k], 0) / n;
      const invstd = 1 / Math.sqrt(idx.reduce((a, k) => a + (d.x[k] - mean) ** 2, 0) / n + mode.eps);
      const g = (k: number): number => (out[k] > 0 ? r[k] : 0);
      for (const k of idx) {
        db[c] += g(k);
        dw[c] += g(k) * (d.x[k] - mean) * invstd;
      }
      for (const k of idx) dx[k] = d.w[c] * invstd * (g(k) - db[c] / n - (d.x[k] - mean) * invstd * (dw[c] / n));
    }
    const [gdx, gdw, gdb] = await gpuGrads(shape, d, r, mode);
    expectClose(gdx, dx, 1e-4, 'dx');
    expectClose(gdw, dw, 1e-4, 'dweight');
    expectClose(gdb, db, 1e-4, 'dbias');
  });

  it('gradients flow to weight and bias only when x does not require grad (and to x only when they do not)', async () => {
    const e = engine();
    const shape: Shape4 = [2, 2, 3, 3];
    const d = makeCase(shape, 3);
    const r = randomArray(d.x.length, 4);
    const mode = MODES[1];
    const [dxAll, dwAll, dbAll] = await gpuGrads(shape, d, r, mode);
    for (const xGrad of [false, true]) {
      const g = upload(e, shape, d, !xGrad);
      g.x.requiresGrad = xGrad;
      e.scope(() => {
        const y = batchNorm2d(g.x, { weight: g.w, bias: g.b, runningMean: g.rm, runningVar: g.rv, training: true, relu: true });
        backward(sum(mul(y, e.tensor(r, shape, { label: 'r' }))));
      });
      if (xGrad) {
        expect(g.w.grad).toBeNull();
        expectClose(await g.x.grad!.read(), dxAll, 1e-6, 'dx alone');
      } else {
        expect(g.x.grad).toBeNull();
        expectClose(await g.w.grad!.read(), dwAll, 1e-6, 'dweight alone');
        expectClose(await g.b.grad!.read(), dbAll, 1e-6, 'dbias alone');
      }
      g.dispose();
    }
  });
});

describe('batchNorm2d with parameters and running stats as views of flat buffers', () => {
  it('trains through a ParameterStore (weight, bias) and one flat buffer of running stats', async () => {
    const e = engine();
    const shape: Shape4 = [2, 3, 4, 5];
    const C = shape[1];
    const d = makeCase(shape, 61);
    const store = ParameterStore.create(e, [
      { name: 'bn.weight', shape: [C] },
      { name: 'bn.bias', shape: [C] },
    ]);
    const w = store.get('bn.weight');
    const b = store.get('bn.bias');
    e.write(w, d.w);
    e.write(b, d.b);
    const { flat, views } = e.flatTensors([[C], [C]], 'buffers');
    const [rm, rv] = views;
    e.write(rm, d.rm);
    e.write(rv, d.rv);
    const x = e.tensor(d.x, shape, { label: 'x' });
    const r = randomArray(d.x.length, 62);
    const y = e.scope(() => {
      const y = batchNorm2d(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, relu: true });
      backward(sum(mul(y, e.tensor(r, shape, { label: 'r' }))));
      return y;
    });
    const mode = MODES[1];
    const ref = bnRef(d.x, shape, d.w, d.b, d.rm, d.rv, mode);
    expectClose(await y.read(), ref.out, 1e-5, 'out');
    expectClose(await rm.read(), ref.rm, 1e-6, 'running_mean');
    expectClose(await rv.read(), ref.rv, 1e-6, 'running_var');
    const loss = (w: ArrayLike<number>, b: ArrayLike<number>): number => {
      const o = bnRef(d.x, shape, w, b, d.rm, d.rv, mode).out;
      return o.reduce((a, v, i) => a + v * r[i], 0);
    };
    expectClose(await w.grad!.read(), finiteDifferences((v) => loss(v, d.b), d.w, 1e-5), 5e-4, 'dweight');
    expectClose(await b.grad!.read(), finiteDifferences((v) => loss(d.w, v), d.b, 1e-5), 5e-4, 'dbias');
    for (const t of [y, x, flat]) t.dispose();
    store.dispose();
  });
});

interface Golden {
  shape: Shape4;
  training: boolean;
  relu: boolean;
  momentum: number;
  eps: number;
  x: number[];
  weight: number[];
  bias: number[];
  running_mean: number[];
  running_var: number[];
  out: number[];
  running_mean_after: number[];
  running_var_after: number[];
  gy: number[];
  dx: number[];
  dweight: number[];
  dbias: number[];
}

describe('batchNorm2d golden parity with PyTorch (scripts/fixtures/batchnorm.py)', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/batchnorm.json', import.meta.url), 'utf8')) as { cases: Record<string, Golden> };
  for (const [name, c] of Object.entries(fixture.cases)) {
    it(name, async () => {
      const e = engine();
      const shape = c.shape;
      const C = shape[1];
      const x = e.tensor(Float32Array.from(c.x), shape, { label: 'x', requiresGrad: true });
      const w = e.tensor(Float32Array.from(c.weight), [C], { label: 'weight', requiresGrad: true });
      const b = e.tensor(Float32Array.from(c.bias), [C], { label: 'bias', requiresGrad: true });
      const rm = e.tensor(Float32Array.from(c.running_mean), [C], { label: 'running_mean' });
      const rv = e.tensor(Float32Array.from(c.running_var), [C], { label: 'running_var' });
      const y = e.scope(() => {
        const y = batchNorm2d(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: c.training, relu: c.relu, momentum: c.momentum, eps: c.eps });
        backward(sum(mul(y, e.tensor(Float32Array.from(c.gy), shape, { label: 'gy' }))));
        return y;
      });
      expectClose(await y.read(), c.out, 1e-4, `${name} out`);
      y.dispose();
      expectClose(await rm.read(), c.running_mean_after, 1e-5, `${name} running_mean`);
      expectClose(await rv.read(), c.running_var_after, 1e-5, `${name} running_var`);
      expectClose(await x.grad!.read(), c.dx, 1e-3, `${name} dx`);
      expectClose(await w.grad!.read(), c.dweight, 1e-3, `${name} dweight`);
      expectClose(await b.grad!.read(), c.dbias, 1e-3, `${name} dbias`);
      for (const t of [x, w, b]) t.grad?.dispose();
      for (const t of [x, w, b, rm, rv]) t.dispose();
    });
  }
});

describe('batchNorm2d bad input', () => {
  it('throws clear errors before any dispatch', () => {
    const e = engine();
    const x = e.zeros([2, 3, 4, 4], { label: 'x' });
    const c3 = e.zeros([3], { label: 'c3' });
    const c4 = e.zeros([4], { label: 'c4' });
    const base = { weight: c3, bias: c3, runningMean: c3, runningVar: c3, training: true };
    const x3 = e.zeros([2, 3, 4], { label: 'x3d' });
    expect(() => batchNorm2d(x3, base)).toThrow(/^batchNorm2d: x must be 4-D.*\[2,3,4\]/);
    expect(() => batchNorm2d(x, { ...base, weight: c4 })).toThrow(/^batchNorm2d: weight must be \[3\].*\[4\]/);
    expect(() => batchNorm2d(x, { ...base, bias: c4 })).toThrow(/^batchNorm2d: bias must be \[3\]/);
    expect(() => batchNorm2d(x, { ...base, runningMean: c4 })).toThrow(/^batchNorm2d: runningMean must be \[3\]/);
    expect(() => batchNorm2d(x, { ...base, runningVar: e.zeros([1, 3]) })).toThrow(/^batchNorm2d: runningVar must be \[3\]/);
    const one = e.zeros([1, 3, 1, 1], { label: 'one' });
    expect(() => batchNorm2d(one, base)).toThrow(/^batchNorm2d: expected more than 1 value per channel when training.*\[1,3,1,1\]/);
    expect(() => batchNorm2d(x, { ...base, momentum: 2 })).toThrow(/^batchNorm2d: momentum/);
    const gone = e.zeros([3], { label: 'gone' });
    gone.dispose();
    expect(() => batchNorm2d(x, { ...base, runningVar: gone })).toThrow(/^batchNorm2d: runningVar .*disposed/);
    for (const t of [x, c3, c4, x3, one]) t.dispose();
  });
});
