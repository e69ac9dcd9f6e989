// Buffers given up early, so a step's peak holds less: batchNorm2d's `consume` (the output written over its input
// where nothing else holds the input), its backward's dx written over a dy nothing else reads, conv2d's `consume`
// (under f16 storage the input goes before the output is allocated; test/ops/saved.test.ts checks each kernel
// family's values), softmaxNll's `consume` (the gradient written over the logits), and SavedTensor.useLast
// (conv2d's backward lets its saved input go before dgrad). Results must be those of the plain path bit for bit,
// under every memory policy and in inference, except where conv2d reads the f16 pairs.
import { afterEach, describe, expect, it } from 'vitest';
import { backward, mul, sum, type Tensor } from '../../src/index.ts';
import { batchNorm2d } from '../../src/ops/batchnorm.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { softmaxNll } from '../../src/ops/softmax-nll.ts';
import { add } from '../../src/ops/add.ts';
import { full } from '../../src/ops/fill.ts';
import { memoryPolicy, save, type MemoryPolicy } from '../../src/ops/saved.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray } from '../helpers/reference.ts';

const engine = useEngine();
const setPolicy = (p: MemoryPolicy) => Object.assign(memoryPolicy(engine()), p);
afterEach(() => setPolicy({ storage: 'f32', recompute: true }));

// Planes large enough that y dwarfs the statistics' partial sums (so the forward's peak is y where it has a buffer).
const shape = [2, 3, 41, 37];
const xData = randomArray(2 * 3 * 41 * 37, 31, -2, 2);
const rData = randomArray(2 * 3 * 41 * 37, 32, -1, 1);

interface BnRun {
  y: Float32Array;
  grads: Float32Array[];
  kernels: string[];
  xGone: boolean;
  /** Bytes the forward took from the pool (peak above what lived before it). */
  forwardPeak: number;
}

/** y = relu(bn(x)) and, when training, the gradients of sum(y * r) for x, weight and bias. */
async function bnRun(consume: boolean, training: boolean): Promise<BnRun> {
  const e = engine();
  const weight = full(e, [3], 1.5, { requiresGrad: true });
  const bias = full(e, [3], -0.25, { requiresGrad: true });
  const [runningMean, runningVar] = [e.zeros([3]), full(e, [3], 1)];
  const leaf = e.tensor(xData, shape, { requiresGrad: true });
  let y: Float32Array = new Float32Array();
  let xGone = false;
  let forwardPeak = 0;
  const step = () => {
    // x is what a conv would give the BN: a tensor made in the step, read by nothing else.
    const x = mul(leaf, full(e, shape, 1));
    const before = e.memory().liveBytes;
    e.pool.resetPeak();
    const out = batchNorm2d(x, { weight, bias, runningMean, runningVar, training: true, relu: true, consume });
    forwardPeak = e.memory().peakLiveBytes - before;
    xGone = x.isDisposed;
    if (training) backward(sum(mul(out, e.tensor(rData, shape))));
    return out;
  };
  const kernels = (training ? e.traceKernels(step) : e.noGrad(() => e.traceKernels(step))).map((k) => k.name);
  for (const t of [leaf, weight, bias]) t.grad?.dispose(), (t.grad = null); // the trace's, never computed
  const out = training ? e.scope(step) : e.noGrad(() => e.scope(step));
  y = (await out.read()) as Float32Array;
  out.dispose();
  const params = [leaf, weight, bias];
  const grads = training ? ((await Promise.all(params.map((t) => t.grad!.read()))) as Float32Array[]) : [];
  for (const t of [...params, ...params.map((p) => p.grad), runningMean, runningVar]) t?.dispose();
  return { y, grads, kernels, xGone, forwardPeak };
}

describe("batchNorm2d's consume", () => {
  const cases: { name: string; policy: MemoryPolicy; training: boolean; inPlace: boolean }[] = [
    { name: 'f32 keep: x is kept for backward, so y gets a buffer of its own', policy: { storage: 'f32', recompute: false }, training: true, inPlace: false },
    { name: 'f16: backward has a packed copy, y takes x', policy: { storage: 'f16', recompute: false }, training: true, inPlace: true },
    { name: 'f16 + recompute: y takes x', policy: { storage: 'f16', recompute: true }, training: true, inPlace: true },
    { name: 'inference: nothing is saved, y takes x', policy: { storage: 'f32', recompute: true }, training: false, inPlace: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      setPolicy(c.policy);
      const plain = await bnRun(false, c.training);
      const consumed = await bnRun(true, c.training);
      expect(consumed.y).toEqual(plain.y);
      consumed.grads.forEach((g, i) => expect(g, `gradient ${i}`).toEqual(plain.grads[i]));
      expect(consumed.kernels.includes('batchnorm.normalize_in_place')).toBe(c.inPlace);
      expect(plain.kernels.includes('batchnorm.normalize_in_place')).toBe(false);
      expect(plain.xGone).toBe(false);
      if (c.inPlace) {
        expect(consumed.xGone).toBe(true);
        expect(plain.forwardPeak - consumed.forwardPeak).toBeGreaterThanOrEqual(0.9 * xData.length * 4);
      }
    });
  }
});

describe("batchNorm2d's backward over its free upstream gradient", () => {
  /**
   * dx, dweight, dbias of sum(y * r), y = relu(bn(x)); with `shared`, of sum((y + w) * r) for a w made earlier, so
   * that y's gradient is also w's (add's backward hands both the same tensor) and still needed when BN's runs.
   */
  async function grads(shared: boolean): Promise<{ grads: Float32Array[]; otherGrad: Float32Array | null; kernels: string[] }> {
    const e = engine();
    setPolicy({ storage: 'f32', recompute: true });
    const leaf = e.tensor(xData, shape, { requiresGrad: true });
    const other = e.tensor(rData, shape, { requiresGrad: true });
    const weight = full(e, [3], 1.5, { requiresGrad: true });
    const bias = full(e, [3], -0.25, { requiresGrad: true });
    const [runningMean, runningVar] = [e.zeros([3]), full(e, [3], 1)];
    const step = () => {
      const w = mul(other, full(e, shape, 2));
      const y = batchNorm2d(mul(leaf, full(e, shape, 1)), { weight, bias, runningMean, runningVar, training: true, relu: true });
      backward(sum(mul(shared ? add(y, w) : y, e.tensor(rData, shape))));
    };
    const kernels = e.traceKernels(step).map((k) => k.name);
    const params = [leaf, other, weight, bias];
    for (const t of params) t.grad?.dispose(), (t.grad = null);
    e.scope(step);
    const out = (await Promise.all([leaf, weight, bias].map((t) => t.grad!.read()))) as Float32Array[];
    const otherGrad = other.grad ? ((await other.grad.read()) as Float32Array) : null;
    for (const t of [...params, ...params.map((p) => p.grad), runningMean, runningVar]) t?.dispose();
    return { grads: out, otherGrad, kernels };
  }

  it('writes dx over dy where nothing else reads dy, and gives the same gradients as with its own dx', async () => {
    const free = await grads(false);
    const shared = await grads(true);
    expect(free.kernels).toContain('batchnorm.backward_dx_in_place');
    expect(free.kernels).not.toContain('batchnorm.backward_dx');
    expect(shared.kernels).toContain('batchnorm.backward_dx');
    expect(shared.kernels).not.toContain('batchnorm.backward_dx_in_place');
    free.grads.forEach((g, i) => expect(g, `gradient ${i}`).toEqual(shared.grads[i]));
    // The shared gradient was left intact for w: d/d(other) of sum((y + 2 other) * r) is 2r.
    expect(shared.otherGrad).toEqual(rData.map((v) => 2 * v));
  });
});

describe("conv2d's consume", () => {
  const [xShape, wShape] = [[1, 4, 33, 29], [3, 4, 3, 3]];
  const xData2 = randomArray(4 * 33 * 29, 41, -2, 2);
  const wData = randomArray(3 * 4 * 9, 42, -0.5, 0.5);

  /** y = conv2d(x, w) for a leaf x needing a gradient, y's values, and the peak above what lived before the conv. */
  async function convRun(consume: boolean, training: boolean): Promise<{ y: Float32Array; xGone: boolean; peak: number }> {
    const e = engine();
    const w = e.tensor(wData, wShape, { requiresGrad: true });
    const x = e.tensor(xData2, xShape, { requiresGrad: true });
    const before = e.memory().liveBytes;
    e.pool.resetPeak();
    const y = e.scope(() => (training ? conv2d(x, w, null, { padding: 1, consume }) : e.noGrad(() => conv2d(x, w, null, { padding: 1, consume }))));
    const peak = e.memory().peakLiveBytes - before;
    const xGone = x.isDisposed;
    const values = (await y.read()) as Float32Array;
    for (const t of [y, x, w]) t.dispose();
    e.tape.truncate(0); // the recorded node (no backward here) and what it saved
    return { y: values, xGone, peak };
  }

  it('under f16 storage lets x go before the output is allocated', async () => {
    setPolicy({ storage: 'f16', recompute: false });
    const plain = await convRun(false, true);
    const consumed = await convRun(true, true);
    expect([plain.xGone, consumed.xGone]).toEqual([false, true]);
    // Above what lived before (x among it): the plain forward adds the pairs and y; the consuming one gives x back
    // before y, so (x being the larger) it adds only the pairs.
    expect(plain.peak - consumed.peak).toBeGreaterThanOrEqual(0.9 * 3 * 33 * 29 * 4);
  });

  for (const c of [
    { name: 'f32 storage', policy: { storage: 'f32', recompute: false }, training: true },
    { name: 'inference under f16 storage (nothing saved)', policy: { storage: 'f16', recompute: false }, training: false },
  ] as const) {
    it(`${c.name}: the same output from x itself, x disposed after`, async () => {
      setPolicy(c.policy);
      const plain = await convRun(false, c.training);
      const consumed = await convRun(true, c.training);
      expect(consumed.y).toEqual(plain.y);
      expect([plain.xGone, consumed.xGone]).toEqual([false, true]);
    });
  }
});

describe("softmaxNll's consume", () => {
  const shape = [2, 3, 17, 19];
  const n = 2 * 3 * 17 * 19;
  const logitData = randomArray(n, 51, -4, 4);
  const targets = Int32Array.from({ length: 6 }, (_, i) => (i * 101) % (17 * 19));

  /** Loss, dlogits and dtemperatures of 3 * loss, the kernels run, and the peak above what lived before the loss. */
  async function lossRun(consume: boolean, hold: boolean): Promise<{ values: number[][]; kernels: string[]; logitsGone: boolean; peak: number }> {
    const e = engine();
    const leaf = e.tensor(logitData, shape, { requiresGrad: true });
    const temps = e.tensor([1, 0.5, 2], [3], { requiresGrad: true });
    let logitsGone = false;
    let peak = 0;
    const step = () => {
      const logits = mul(leaf, full(e, shape, 1)); // as a head's output: made in the step, read by nothing else
      if (hold) logits.hold(); // someone else keeps it: the gradient needs a buffer of its own
      const before = e.memory().liveBytes;
      e.pool.resetPeak();
      const loss = softmaxNll(logits, temps, targets, { consume });
      peak = e.memory().peakLiveBytes - before;
      logitsGone = logits.isDisposed;
      backward(mul(loss, full(e, [1], 3)));
      if (hold) logits.unhold();
      logits.dispose();
      return loss;
    };
    const kernels = e.traceKernels(step).map((k) => k.name);
    for (const t of [leaf, temps]) t.grad?.dispose(), (t.grad = null);
    const loss = e.scope(step);
    const values = [[await loss.item()], ...((await Promise.all([leaf.grad!.read(), temps.grad!.read()])) as Float32Array[]).map((a) => Array.from(a))];
    for (const t of [loss, leaf, temps, leaf.grad!, temps.grad!]) t.dispose();
    return { values, kernels, logitsGone, peak };
  }

  it('writes the gradient over the logits where it can take their buffer, with the same loss and gradients', async () => {
    const plain = await lossRun(false, false);
    const consumed = await lossRun(true, false);
    const held = await lossRun(true, true);
    expect(consumed.values).toEqual(plain.values);
    expect(held.values).toEqual(plain.values);
    expect(consumed.kernels).toContain('softmax_nll_in_place.forward_grad');
    for (const r of [plain, held]) expect(r.kernels).not.toContain('softmax_nll_in_place.forward_grad');
    // Held, the logits' buffer stays for the holder (disposed as far as softmaxNll is concerned).
    expect([plain.logitsGone, consumed.logitsGone, held.logitsGone]).toEqual([false, true, false]);
    expect(plain.peak - consumed.peak).toBeGreaterThanOrEqual(0.9 * n * 4);
  });
});

describe('SavedTensor.useLast', () => {
  /** A saved tensor of [1..6], read last through useLast, and what fn saw. */
  function readLast(policy: MemoryPolicy): { seen: Promise<Float32Array | Int32Array>; x: Tensor; saved: ReturnType<typeof save>; liveInFn: number; liveBefore: number } {
    const e = engine();
    setPolicy(policy);
    const x = e.tensor([1, 2, 3, 4, 5, 6], [6], { requiresGrad: true });
    const saved = save(x);
    x.dispose(); // the forward's last use: only the saved copy remains
    const liveBefore = e.memory().liveBytes;
    let liveInFn = 0;
    let seen!: Promise<Float32Array | Int32Array>;
    saved.useLast((t) => {
      liveInFn = e.memory().liveBytes;
      const copy = e.empty([6]);
      e.copy(t, copy);
      seen = copy.read().finally(() => copy.dispose());
    });
    return { seen, x, saved, liveInFn, liveBefore };
  }

  it('gives the values, lets the packed copy go before fn allocates, and leaves the node nothing to free', async () => {
    const r = readLast({ storage: 'f16', recompute: false });
    expect(Array.from(await r.seen)).toEqual([1, 2, 3, 4, 5, 6]);
    // Inside fn: the unpacked values are live and the packed words already gone.
    expect(r.liveInFn).toBeLessThanOrEqual(r.liveBefore + 6 * 4);
    expect(engine().memory().liveBytes).toBeLessThan(r.liveBefore);
    r.saved.free(); // the tape node's own free, after its closure: nothing left to do
    expect(() => r.saved.free()).toThrow(/freed twice/);
    expect(() => r.saved.use(() => 0)).toThrow(/used after its tape node let it go/);
  });

  it('keeps a kept tensor until fn is done with it, then frees it', async () => {
    const r = readLast({ storage: 'f32', recompute: false });
    expect(Array.from(await r.seen)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.liveInFn).toBe(r.liveBefore);
    expect(r.x.isDisposed).toBe(true);
    r.saved.free();
  });
});
