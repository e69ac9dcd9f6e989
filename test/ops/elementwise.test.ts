// Elementwise and reduction kernels against CPU references; backward against central finite differences.
import { describe, expect, it } from 'vitest';
import { add, sub, mul, scale, relu, sum, mean, backward, accumulate, ParameterStore, type Tensor } from '../../src/index.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray, finiteDifferences, expectClose } from '../helpers/reference.ts';

const engine = useEngine();

// Odd sizes: below one workgroup, across workgroups, and large enough for the two-pass reduction.
const SIZES = [1, 7, 257, 70_001];

async function gradOf(loss: (xs: Tensor[]) => Tensor, inputs: Float32Array[], shapes: number[][]): Promise<Float32Array[]> {
  const e = engine();
  const xs = inputs.map((d, i) => e.tensor(d, shapes[i], { requiresGrad: true, label: `x${i}` }));
  e.scope(() => backward(loss(xs)));
  const grads = await Promise.all(xs.map((x) => x.grad!.read() as Promise<Float32Array>));
  for (const x of xs) {
    x.grad!.dispose();
    x.dispose();
  }
  return grads;
}

describe('elementwise forward', () => {
  for (const n of SIZES) {
    it(`add, sub, mul, scale, relu on ${n} elements`, async () => {
      const e = engine();
      const a = randomArray(n, 1);
      const b = randomArray(n, 2);
      const ta = e.tensor(a, [n]);
      const tb = e.tensor(b, [n]);
      const cases: [string, Tensor, (i: number) => number][] = [
        ['add', add(ta, tb), (i) => a[i] + b[i]],
        ['sub', sub(ta, tb), (i) => a[i] - b[i]],
        ['mul', mul(ta, tb), (i) => a[i] * b[i]],
        ['scale', scale(ta, -2.5), (i) => a[i] * -2.5],
        ['relu', relu(ta), (i) => Math.max(a[i], 0)],
      ];
      for (const [name, t, ref] of cases) {
        const got = await t.read();
        expectClose(got, Float64Array.from({ length: n }, (_, i) => ref(i)), 1e-6, name);
        t.dispose();
      }
      ta.dispose();
      tb.dispose();
    });
  }
});

describe('reductions', () => {
  for (const n of SIZES) {
    it(`sum and mean of ${n} elements match an f64 reference to 1e-5`, async () => {
      const e = engine();
      const a = randomArray(n, 3, 0, 1);
      const t = e.tensor(a, [n]);
      const ref = a.reduce((s, v) => s + v, 0);
      const s = sum(t);
      const m = mean(t);
      expect(Math.abs((await s.item()) - ref) / ref).toBeLessThan(1e-5);
      expect(Math.abs((await m.item()) - ref / n) / (ref / n)).toBeLessThan(1e-5);
      for (const x of [t, s, m]) x.dispose();
    });
  }
});

describe('backward against finite differences', () => {
  const n = 37;
  const a = randomArray(n, 11);
  const b = randomArray(n, 12);
  // a loss that touches every op: mean(relu(a*b - 0.5a) + 3*sum-able terms)
  const cpuLoss = (x: Float64Array, y: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.max(x[i] * y[i] - x[i], 0) * 3 + (x[i] + y[i]) * y[i];
    return s / n;
  };
  const gpuLoss = ([x, y]: Tensor[]) => mean(add(scale(relu(sub(mul(x, y), x)), 3), mul(add(x, y), y)));

  it('composite loss: gradients of both inputs', async () => {
    const [ga, gb] = await gradOf(gpuLoss, [a, b], [[n], [n]]);
    const fa = finiteDifferences((x) => cpuLoss(x, Float64Array.from(b)), a, 1e-4);
    const fb = finiteDifferences((y) => cpuLoss(Float64Array.from(a), y), b, 1e-4);
    expectClose(ga, fa, 1e-3, 'd/da');
    expectClose(gb, fb, 1e-3, 'd/db');
  });

  it('sum: gradient is all ones', async () => {
    const [g] = await gradOf(([x]) => sum(x), [a], [[n]]);
    expectClose(g, new Float64Array(n).fill(1), 0, 'dsum');
  });

  it('a tensor used twice accumulates both paths (x*x)', async () => {
    const [g] = await gradOf(([x]) => sum(mul(x, x)), [a], [[n]]);
    expectClose(g, Float64Array.from(a, (v) => 2 * v), 1e-6, 'd(x^2)');
  });

  it('gradients accumulate across backward calls, as in PyTorch', async () => {
    const e = engine();
    const x = e.tensor(a, [n], { requiresGrad: true });
    e.scope(() => backward(sum(x)));
    e.scope(() => backward(sum(scale(x, 2))));
    expectClose(await x.grad!.read(), new Float64Array(n).fill(3), 0, 'accumulated');
    x.grad!.dispose();
    x.dispose();
  });

  it('accumulate adds in place', async () => {
    const e = engine();
    const t = e.tensor(a, [n]);
    const u = e.tensor(b, [n]);
    accumulate(t, u, 0.5);
    expectClose(await t.read(), Float64Array.from(a, (v, i) => v + 0.5 * b[i]), 1e-6, 'a += 0.5 b');
    t.dispose();
    u.dispose();
  });
});

describe('gradient accumulation into .grad', () => {
  it('adds across backward calls, restarts after zeroGrad (first gradient copied in), leaves others at zero', async () => {
    const e = engine();
    const store = ParameterStore.create(e, [
      { name: 'a', shape: [3] },
      { name: 'b', shape: [3] },
    ]);
    const [a, b] = [store.get('a'), store.get('b')];
    e.write(a, new Float32Array([1, 2, 3]));
    e.write(b, new Float32Array([4, 5, 6]));
    const x = e.tensor([1, -1, 2], [3]);
    // loss = sum(a * x) + sum(a * a): a is used twice in one graph, d/da = x + 2a
    const lossA = () => e.scope(() => backward(add(sum(mul(a, x)), sum(mul(a, a)))));
    lossA();
    expect(Array.from(await a.grad!.read())).toEqual([3, 3, 8]);
    lossA(); // no zeroGrad: accumulates, as PyTorch
    expect(Array.from(await a.grad!.read())).toEqual([6, 6, 16]);
    expect(Array.from(await b.grad!.read())).toEqual([0, 0, 0]);
    store.zeroGrad();
    e.scope(() => backward(sum(mul(b, x)))); // only b takes part
    expect(Array.from(await b.grad!.read())).toEqual([1, -1, 2]);
    expect(Array.from(await a.grad!.read())).toEqual([0, 0, 0]); // still the zeros zeroGrad wrote
    lossA();
    expect(Array.from(await a.grad!.read())).toEqual([3, 3, 8]);
    store.dispose();
  });
});
