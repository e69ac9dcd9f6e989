// upsampleNearest2d, concatChannels and the fused upsampleConcat: forward against f64 CPU references on odd
// shapes, backward against central finite differences, parity with PyTorch, bad inputs.
import { describe, expect, it } from 'vitest';
import { backward, mul, sum, type Tensor } from '../../src/index.ts';
import { upsampleNearest2d, upsampleConcat } from '../../src/ops/upsample.ts';
import { concatChannels } from '../../src/ops/concat.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray, finiteDifferences, expectClose } from '../helpers/reference.ts';
import fixture from '../fixtures/pool_upsample.json' with { type: 'json' };

const engine = useEngine();
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------- CPU references (f64)

function upsampleRef(x: ArrayLike<number>, [n, c, h, w]: number[], s: number): Float64Array {
  const oh = h * s;
  const ow = w * s;
  const y = new Float64Array(n * c * oh * ow);
  for (let p = 0; p < n * c; p++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) y[(p * oh + oy) * ow + ox] = x[(p * h + Math.floor(oy / s)) * w + Math.floor(ox / s)];
  return y;
}

function concatRef(xs: ArrayLike<number>[], shapes: number[][]): Float64Array {
  const [n, , h, w] = shapes[0];
  const cTotal = shapes.reduce((a, s) => a + s[1], 0);
  const y = new Float64Array(n * cTotal * h * w);
  let off = 0;
  xs.forEach((x, i) => {
    const c = shapes[i][1];
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++)
        for (let r = 0; r < h * w; r++) y[((b * cTotal + off + ch) * h + 0) * w + r] = x[(b * c + ch) * h * w + r];
    off += c;
  });
  return y;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---------------------------------------------------------------- GPU runner

/** Runs f on fresh leaves, backpropagates sum(out * r), returns the output, its shape and the inputs' gradients. */
async function runOp(f: (xs: Tensor[]) => Tensor, inputs: ArrayLike<number>[], shapes: number[][], r?: (n: number) => ArrayLike<number>) {
  const e = engine();
  const xs = inputs.map((d, i) => e.tensor(Float32Array.from(d), shapes[i], { requiresGrad: true, label: `x${i}` }));
  const out = e.scope(() => {
    const y = f(xs);
    const rt = e.tensor(Float32Array.from(r ? r(y.size) : new Float32Array(y.size).fill(1)), y.shape, { label: 'r' });
    backward(sum(mul(y, rt)));
    return y;
  });
  const y = (await out.read()) as Float32Array;
  const grads = await Promise.all(xs.map((x) => x.grad!.read() as Promise<Float32Array>));
  const yShape = [...out.shape];
  out.dispose();
  for (const x of xs) {
    x.grad!.dispose();
    x.dispose();
  }
  return { y, yShape, grads };
}

// ---------------------------------------------------------------- upsampleNearest2d

describe('upsampleNearest2d', () => {
  const cases: [number[], number][] = [
    [[1, 1, 7, 9], 2],
    [[2, 3, 5, 6], 2],
    [[2, 1, 3, 5], 3],
    [[1, 3, 4, 3], 1],
  ];
  for (const [shape, s] of cases) {
    it(`${JSON.stringify(shape)} x${s}: forward matches the reference, backward matches finite differences`, async () => {
      const x = randomArray(size(shape), size(shape) + s);
      const ref = upsampleRef(x, shape, s);
      const r = randomArray(ref.length, 31);
      const got = await runOp(([t]) => upsampleNearest2d(t, s), [x], [shape], () => r);
      expect(got.yShape).toEqual([shape[0], shape[1], shape[2] * s, shape[3] * s]);
      expectClose(got.y, ref, 0, 'y');
      const fd = finiteDifferences((xs) => dot(upsampleRef(xs, shape, s), r), x, 1e-3);
      expectClose(got.grads[0], fd, 1e-4, 'dx vs FD');
    });
  }
});

// ---------------------------------------------------------------- concatChannels

describe('concatChannels', () => {
  const cases: number[][][] = [
    [[1, 1, 7, 9], [1, 3, 7, 9]],
    [[2, 3, 5, 6], [2, 1, 5, 6], [2, 2, 5, 6]],
    [[2, 3, 5, 6]],
  ];
  for (const shapes of cases) {
    it(`${shapes.map((s) => JSON.stringify(s)).join(' + ')}: forward and backward`, async () => {
      const xs = shapes.map((s, i) => randomArray(size(s), 40 + i));
      const ref = concatRef(xs, shapes);
      const r = randomArray(ref.length, 41);
      const got = await runOp((ts) => concatChannels(ts), xs, shapes, () => r);
      expect(got.yShape).toEqual([shapes[0][0], shapes.reduce((a, s) => a + s[1], 0), shapes[0][2], shapes[0][3]]);
      expectClose(got.y, ref, 0, 'y');
      xs.forEach((x, i) => {
        const fd = finiteDifferences((v) => dot(concatRef(xs.map((o, j) => (j === i ? v : o)), shapes), r), x, 1e-3);
        expectClose(got.grads[i], fd, 1e-4, `d x${i} vs FD`);
      });
    });
  }

  it('the same tensor twice gets both slices of the gradient', async () => {
    const shape = [1, 2, 3, 5];
    const x = randomArray(size(shape), 50);
    const r = randomArray(2 * size(shape), 51);
    const got = await runOp(([t]) => concatChannels([t, t]), [x], [shape], () => r);
    const fd = finiteDifferences((v) => dot(concatRef([v, v], [shape, shape]), r), x, 1e-3);
    expectClose(got.grads[0], fd, 1e-4, 'dx');
  });
});

// ---------------------------------------------------------------- upsampleConcat

describe('upsampleConcat', () => {
  const cases: [number[], number[]][] = [
    [[1, 1, 3, 4], [1, 3, 6, 8]],
    [[2, 3, 4, 3], [2, 2, 8, 6]],
    [[2, 1, 5, 7], [2, 1, 10, 14]],
  ];
  for (const [xs, ss] of cases) {
    it(`x ${JSON.stringify(xs)}, skip ${JSON.stringify(ss)}: equals concatChannels([upsampleNearest2d(x, 2), skip]), gradients match FD`, async () => {
      const x = randomArray(size(xs), 60);
      const skip = randomArray(size(ss), 61);
      const upShape = [xs[0], xs[1], xs[2] * 2, xs[3] * 2];
      const refFn = (a: ArrayLike<number>, b: ArrayLike<number>) => concatRef([upsampleRef(a, xs, 2), b], [upShape, ss]);
      const ref = refFn(x, skip);
      const r = randomArray(ref.length, 62);
      const fused = await runOp(([a, b]) => upsampleConcat(a, b), [x, skip], [xs, ss], () => r);
      const unfused = await runOp(([a, b]) => concatChannels([upsampleNearest2d(a, 2), b]), [x, skip], [xs, ss], () => r);
      expect(fused.yShape).toEqual([xs[0], xs[1] + ss[1], ss[2], ss[3]]);
      expectClose(fused.y, ref, 0, 'y vs reference');
      expect(Array.from(fused.y)).toEqual(Array.from(unfused.y));
      expectClose(fused.grads[0], unfused.grads[0], 0, 'dx fused vs unfused');
      expectClose(fused.grads[1], unfused.grads[1], 0, 'dskip fused vs unfused');
      expectClose(fused.grads[0], finiteDifferences((v) => dot(refFn(v, skip), r), x, 1e-3), 1e-4, 'dx vs FD');
      expectClose(fused.grads[1], finiteDifferences((v) => dot(refFn(x, v), r), skip, 1e-3), 1e-4, 'dskip vs FD');
    });
  }

  it('an input that needs no gradient gets none (skip is a constant)', async () => {
    const e = engine();
    const x = e.tensor(randomArray(12, 70), [1, 1, 3, 4], { requiresGrad: true });
    const skip = e.tensor(randomArray(2 * 48, 71), [1, 2, 6, 8]);
    e.scope(() => backward(sum(upsampleConcat(x, skip))));
    expectClose(await x.grad!.read(), new Float64Array(12).fill(4), 0, 'dx');
    expect(skip.grad).toBeNull();
    for (const t of [x.grad!, x, skip]) t.dispose();
  });
});

// ---------------------------------------------------------------- PyTorch parity

describe('parity with PyTorch', () => {
  type Case = Record<string, unknown> & { op: string; y_shape: number[]; y: number[]; gy: number[] };
  const cases = Object.entries(fixture.cases as Record<string, Case>).filter(([, c]) => c.op !== 'maxPool2d');
  it('has the fixture cases', () => expect(cases.map(([, c]) => c.op).sort()).toEqual(['concatChannels', 'upsampleConcat', 'upsampleNearest2d', 'upsampleNearest2d']));
  for (const [name, c] of cases) {
    it(name, async () => {
      let got: Awaited<ReturnType<typeof runOp>>;
      let expected: number[][];
      if (c.op === 'upsampleNearest2d') {
        got = await runOp(([t]) => upsampleNearest2d(t, c.scale as number), [c.x as number[]], [c.x_shape as number[]], () => c.gy);
        expected = [c.gx as number[]];
      } else if (c.op === 'concatChannels') {
        got = await runOp((ts) => concatChannels(ts), c.xs as number[][], c.x_shapes as number[][], () => c.gy);
        expected = c.gxs as number[][];
      } else {
        got = await runOp(([a, b]) => upsampleConcat(a, b), [c.x as number[], c.skip as number[]], [c.x_shape as number[], c.skip_shape as number[]], () => c.gy);
        expected = [c.gx as number[], c.gskip as number[]];
      }
      expect(got.yShape).toEqual(c.y_shape);
      expectClose(got.y, c.y, 1e-4, `${name} y`);
      expected.forEach((g, i) => expectClose(got.grads[i], g, 1e-3, `${name} grad ${i}`));
    });
  }
});

// ---------------------------------------------------------------- bad input

describe('bad input throws before any dispatch, naming the op and the shapes', () => {
  const make = (shape: number[]): Tensor => engine().zeros(shape, { label: 'bad' });

  it('upsampleNearest2d', () => {
    const x3 = make([3, 5, 6]);
    const x = make([1, 2, 5, 6]);
    expect(() => upsampleNearest2d(x3, 2)).toThrow(/^upsampleNearest2d: input must be 4-D \[N, C, H, W\], got \[3,5,6\]/);
    expect(() => upsampleNearest2d(x, 1.5)).toThrow(/^upsampleNearest2d: scale must be an integer >= 1, got 1.5 \(input \[1,2,5,6\]\)/);
    expect(() => upsampleNearest2d(x, 0)).toThrow(/^upsampleNearest2d: scale must be an integer >= 1, got 0/);
    expect(() => upsampleNearest2d(x, -2)).toThrow(/^upsampleNearest2d: scale must be an integer >= 1, got -2/);
    expect(() => upsampleNearest2d(x, NaN)).toThrow(/^upsampleNearest2d: scale must be an integer >= 1, got NaN/);
    for (const t of [x3, x]) t.dispose();
  });

  it('concatChannels', () => {
    const a = make([2, 3, 5, 6]);
    expect(() => concatChannels([])).toThrow(/^concatChannels: the list of tensors is empty/);
    const badN = make([1, 3, 5, 6]);
    const badH = make([2, 3, 4, 6]);
    const badW = make([2, 1, 5, 7]);
    const flat = make([2, 3, 30]);
    expect(() => concatChannels([a, badN])).toThrow(/^concatChannels: tensors\[1\] \[1,3,5,6\] does not match tensors\[0\] \[2,3,5,6\] in N, H or W/);
    expect(() => concatChannels([a, badH])).toThrow(/^concatChannels: tensors\[1\] \[2,3,4,6\] does not match tensors\[0\] \[2,3,5,6\]/);
    expect(() => concatChannels([a, a, badW])).toThrow(/^concatChannels: tensors\[2\] \[2,1,5,7\] does not match tensors\[0\] \[2,3,5,6\]/);
    expect(() => concatChannels([a, flat])).toThrow(/^concatChannels: tensors\[1\] must be 4-D \[N, C, H, W\], got \[2,3,30\]/);
    for (const t of [a, badN, badH, badW, flat]) t.dispose();
  });

  it('upsampleConcat', () => {
    const x = make([2, 3, 4, 5]);
    const skipBadH = make([2, 2, 7, 10]);
    const skipBadN = make([1, 2, 8, 10]);
    const x3 = make([3, 4, 5]);
    expect(() => upsampleConcat(x, skipBadH)).toThrow(/^upsampleConcat: skip \[2,2,7,10\] must be \[2, C, 8, 10\] for x \[2,3,4,5\]/);
    expect(() => upsampleConcat(x, skipBadN)).toThrow(/^upsampleConcat: skip \[1,2,8,10\] must be \[2, C, 8, 10\] for x \[2,3,4,5\]/);
    expect(() => upsampleConcat(x3, skipBadH)).toThrow(/^upsampleConcat: x must be 4-D \[N, C, H, W\], got \[3,4,5\]/);
    expect(() => upsampleConcat(x, x3)).toThrow(/^upsampleConcat: skip must be 4-D \[N, C, H, W\], got \[3,4,5\]/);
    expect(() => upsampleConcat(x, skipBadH, 2.5)).toThrow(/^upsampleConcat: scale must be an integer >= 1, got 2.5/);
    for (const t of [x, skipBadH, skipBadN, x3]) t.dispose();
  });
});
