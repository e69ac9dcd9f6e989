// Activations saved for backward under each memory policy (src/ops/saved.ts): the f16 pack against a CPU rounding
// reference, conv2d's and batchNorm2d's gradients with f16 storage against f32 storage (exact on values f16 holds,
// within the stated bound otherwise), recomputation bit-identical to keeping, the whole model's step under every
// policy (no buffer left behind, less memory), and misuse.
import { afterEach, describe, expect, it } from 'vitest';
import { backward, mul, relu, sum, type Engine, type Tensor } from '../../src/index.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { conv2dTuning, type Conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import { batchNorm2d } from '../../src/ops/batchnorm.ts';
import { memoryPolicy, packF16, save, unpackF16, type MemoryPolicy } from '../../src/ops/saved.ts';
import { ResnetUnet, MODEL_PRESETS } from '../../src/nn/unet.ts';
import { trainingLoss } from '../../src/chh/loss.ts';
import { full } from '../../src/ops/fill.ts';
import { useEngine } from '../helpers/gpu.ts';
import { f16, randomArray } from '../helpers/reference.ts';
import { cfg, convGradRef, makeData, outSize } from '../helpers/conv-reference.ts';

const engine = useEngine();
const setPolicy = (p: MemoryPolicy) => Object.assign(memoryPolicy(engine()), p);
afterEach(() => setPolicy({ storage: 'f32', recompute: false }));

/** Runs fn with the engine's conv tuning changed (a kernel family forced), and puts it back after. */
async function withTuning(change: Partial<Conv2dTuning>, fn: () => Promise<void>): Promise<void> {
  const t = conv2dTuning(engine());
  const before = { ...t };
  Object.assign(t, change);
  try {
    await fn();
  } finally {
    Object.assign(t, before);
  }
}

/** Packs and unpacks `data` on the GPU. */
async function roundTrip(e: Engine, data: Float32Array): Promise<Float32Array> {
  const x = e.tensor(data, [data.length]);
  const words = packF16(x);
  const out = unpackF16(words, [data.length], 'out');
  const v = (await out.read()) as Float32Array;
  for (const t of [x, words, out]) t.dispose();
  return v;
}

describe('f16 pack', () => {
  it('rounds to f16 (one of the two neighbours, as WGSL allows), clamps beyond 65504, and keeps an odd last element', async () => {
    const n = 2001;
    const data = new Float32Array(n);
    const u = randomArray(n, 3, -1, 1);
    for (let i = 0; i < n; i++) data[i] = u[i] * 10 ** (-7 + (i % 13)); // 1e-7 .. 1e5, both signs
    data.set([0, -0, 65504, 65519, 1e6, -1e9, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -15, 2 ** -24], 0);
    const got = await roundTrip(engine(), data);
    let nearest = 0;
    for (let i = 0; i < n; i++) {
      const x = data[i];
      const a = Math.abs(x);
      if (a >= 65504) {
        expect(got[i], `x = ${x}`).toBe(Math.sign(x) * 65504);
        continue;
      }
      // One f16 ulp: 2^-10 relative in the normal range, 2^-24 absolute among subnormals (flushed to 0: 2^-14).
      const bound = a >= 2 ** -14 ? 2 ** (Math.floor(Math.log2(a)) - 10) : 2 ** -14;
      expect(Math.abs(got[i] - x), `x = ${x} came back as ${got[i]}`).toBeLessThanOrEqual(bound);
      if (got[i] === f16(x)) nearest++;
    }
    console.log(`f16 pack: ${nearest} of ${n} values rounded to nearest-even exactly`);
    expect(got[6]).toBe(1); // 1 + 2^-11 is a tie: to even
    expect(got[7]).toBe(1 + 2 * 2 ** -10); // 1 + 3 * 2^-11: a tie, to even upwards
  });
});

/** dx, dw of sum(conv2d(x, w) * r) under a policy. */
async function convGrads(x: Float32Array, d: { w: Float32Array; r: Float32Array }, c: ReturnType<typeof cfg>, policy: MemoryPolicy): Promise<{ dx: Float32Array; dw: Float32Array }> {
  const e = engine();
  setPolicy(policy);
  const [Ho, Wo] = outSize(c);
  const xt = e.tensor(x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
  const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
  e.scope(() => backward(sum(mul(conv2d(xt, w, null, { stride: c.stride, padding: c.padding }), e.tensor(d.r, [c.N, c.Co, Ho, Wo])))));
  const [dx, dw] = (await Promise.all([xt.grad!.read(), w.grad!.read()])) as Float32Array[];
  for (const t of [xt, w, xt.grad!, w.grad!]) t.dispose();
  return { dx, dw };
}

describe('conv2d with f16-stored input', () => {
  const c = cfg('3x3 s2 p1', 2, 5, 9, 11, 6, 3, 2, 1);
  const d = makeData(c, 7);

  it('gives exactly the f32 gradients when the input is already f16, and within 2^-10 * sum |x| |dy| otherwise', async () => {
    const x16 = Float32Array.from(d.x, f16);
    const exact32 = await convGrads(x16, d, c, { storage: 'f32', recompute: false });
    const exact16 = await convGrads(x16, d, c, { storage: 'f16', recompute: false });
    expect(exact16.dw).toEqual(exact32.dw);
    expect(exact16.dx).toEqual(exact32.dx);

    const g32 = await convGrads(Float32Array.from(d.x), d, c, { storage: 'f32', recompute: false });
    const g16 = await convGrads(Float32Array.from(d.x), d, c, { storage: 'f16', recompute: false });
    expect(g16.dx).toEqual(g32.dx); // dgrad reads only the weights
    // The bound: each x moves by at most one f16 ulp (2^-10 |x|), so dw moves by at most 2^-10 sum |x| |dy|
    // (the weight gradient of |x| and |dy|), plus f32 rounding of the sums.
    const abs = convGradRef(c, d.x.map(Math.abs), d.w, d.r.map(Math.abs)).dw;
    let worst = 0;
    for (let i = 0; i < abs.length; i++) {
      const bound = 2 ** -10 * abs[i] + 1e-6 * abs[i] + 1e-7;
      worst = Math.max(worst, Math.abs(g16.dw[i] - g32.dw[i]) / bound);
    }
    console.log(`conv2d dw with f16 storage: worst error ${worst.toFixed(3)} of the bound`);
    expect(worst).toBeLessThanOrEqual(1);
    expect(g16.dw).not.toEqual(g32.dw); // the rounding did happen
  });
});

/** dx, dweight, dbias of sum(batchNorm2d(x) * r), training, with ReLU, under a policy. */
async function bnGrads(x: Float32Array, shape: [number, number, number, number], r: Float32Array, policy: MemoryPolicy): Promise<Float32Array[]> {
  const e = engine();
  setPolicy(policy);
  const C = shape[1];
  const xt = e.tensor(x, shape, { requiresGrad: true });
  const weight = e.tensor(randomArray(C, 5, 0.5, 1.5), [C], { requiresGrad: true });
  const bias = e.tensor(randomArray(C, 6, -0.3, 0.3), [C], { requiresGrad: true });
  const [runningMean, runningVar] = [e.zeros([C]), full(e, [C], 1)];
  e.scope(() => {
    const y = batchNorm2d(xt, { weight, bias, runningMean, runningVar, training: true, relu: true });
    backward(sum(mul(y, e.tensor(r, shape))));
  });
  const grads = (await Promise.all([xt.grad!.read(), weight.grad!.read(), bias.grad!.read()])) as Float32Array[];
  for (const t of [xt, weight, bias, runningMean, runningVar, xt.grad!, weight.grad!, bias.grad!]) t.dispose();
  return grads;
}

describe("conv2d's weight gradient reading the f16 pairs directly", () => {
  const c = cfg('3x3 s1 p1, odd sizes', 1, 3, 7, 5, 5, 3, 1, 1, true); // 105 input values: a half-filled last word
  const d = makeData(c, 9);
  const x16 = Float32Array.from(d.x, f16);
  const WGRADS: { name: string; change: Partial<Conv2dTuning>; needs?: string }[] = [
    { name: 'register tile, column-interleaved', change: { wgrad: { tm: 4, tn: 3 }, subgroups: false } },
    { name: 'register tile, row-tiled', change: { wgrad: { tm: 8, tn: 4, rows: true }, subgroups: false } },
    { name: 'register tile, row-tiled with subgroups', change: { wgrad: { tm: 8, tn: 4, rows: true }, subgroups: true } },
    { name: 'workgroup-memory tile', change: { wgrad: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 } } },
    { name: 'subgroup-matrix tile (emulated)', change: { wgrad: { bm: 16, bn: 16, bk: 8, rm: 1, rn: 1, matrix: 8 }, emulateMatrices: true } },
    { name: 'half tile', change: { wgrad: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, half: true } }, needs: 'shader-f16' },
  ];
  for (const w of WGRADS) {
    it(`${w.name}: the f32 gradients exactly, with no unpacked copy`, async (ctx) => {
      const e = engine();
      if (w.needs && !e.features.has(w.needs)) ctx.skip(`this adapter has no ${w.needs}`);
      await withTuning(w.change, async () => {
        const exact32 = await convGrads(x16, d, c, { storage: 'f32', recompute: false });
        const exact16 = await convGrads(x16, d, c, { storage: 'f16', recompute: false });
        expect(exact16.dw).toEqual(exact32.dw);
        setPolicy({ storage: 'f16', recompute: false });
        const xt = e.tensor(x16, [c.N, c.C, c.H, c.W], { requiresGrad: true });
        const wt = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
        const kernels = e.traceKernels(() => backward(sum(conv2d(xt, wt, null, { padding: c.padding })))).map((k) => k.name);
        for (const v of [xt, wt, xt.grad, wt.grad]) v?.dispose();
        expect(kernels.filter((k) => /^conv2d\w*_f16x\./.test(k))).toHaveLength(1);
        expect(kernels).not.toContain('pack_f16.unpack');
      });
    });
  }
});

describe("conv2d's forward at its input's last use (consume) reading the f16 pairs", () => {
  const c = cfg('3x3 s1 p1, odd sizes', 1, 3, 7, 5, 5, 3, 1, 1, true); // 105 input values: a half-filled last word
  const d = makeData(c, 13);
  const FORWARDS: { name: string; change: Partial<Conv2dTuning>; needs?: string }[] = [
    { name: 'register tile, column-interleaved', change: { forward: { tm: 4, tn: 3 }, subgroups: false } },
    { name: 'register tile, row-tiled', change: { forward: { tm: 8, tn: 4, rows: true }, subgroups: false } },
    { name: 'register tile, row-tiled, taps unrolled', change: { forward: { tm: 4, tn: 4, rows: true, flat: true }, subgroups: false } },
    { name: 'register tile, row-tiled with subgroups', change: { forward: { tm: 8, tn: 4, rows: true }, subgroups: true } },
    { name: 'workgroup-memory tile', change: { forward: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 } } },
    { name: 'subgroup-matrix tile (emulated)', change: { forward: { bm: 16, bn: 16, bk: 8, rm: 1, rn: 1, matrix: 8 }, emulateMatrices: true } },
    { name: 'half tile', change: { forward: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, half: true } }, needs: 'shader-f16' },
  ];

  /** y = conv2d(x, w, b) under f16 storage (x consumed or not), dw and db of sum(y * r), and the kernels run. */
  async function run(x: Float32Array, consume: boolean): Promise<{ y: Float32Array; grads: Float32Array[]; kernels: string[]; xGone: boolean }> {
    const e = engine();
    setPolicy({ storage: 'f16', recompute: false });
    const [Ho, Wo] = outSize(c);
    const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
    const b = e.tensor(d.b!, [c.Co], { requiresGrad: true });
    let xGone = false;
    let out: Float32Array = new Float32Array();
    const step = (read: boolean) => {
      const xt = e.tensor(x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
      const y = conv2d(xt, w, b, { padding: c.padding, consume });
      xGone = xt.isDisposed;
      if (read) void y.read().then((v) => (out = v as Float32Array));
      backward(sum(mul(y, e.tensor(d.r, [c.N, c.Co, Ho, Wo]))));
      xt.dispose();
    };
    const kernels = e.traceKernels(() => step(false)).map((k) => k.name);
    for (const t of [w, b]) t.grad?.dispose(), (t.grad = null);
    e.scope(() => step(true));
    const grads = (await Promise.all([w.grad!.read(), b.grad!.read()])) as Float32Array[];
    for (const t of [w, b, w.grad!, b.grad!]) t.dispose();
    return { y: out, grads, kernels, xGone };
  }

  for (const f of FORWARDS) {
    it(`${f.name}: the output of x rounded to f16 exactly, the same gradients, x gone`, async (ctx) => {
      const e = engine();
      if (f.needs && !e.features.has(f.needs)) ctx.skip(`this adapter has no ${f.needs}`);
      await withTuning(f.change, async () => {
        const rounded = await roundTrip(e, Float32Array.from(d.x)); // as the pack rounds it
        const plain = await run(rounded, false);
        const consumed = await run(Float32Array.from(d.x), true);
        expect(consumed.y).toEqual(plain.y);
        consumed.grads.forEach((g, i) => expect(g, i === 0 ? 'dw' : 'db').toEqual(plain.grads[i]));
        expect(consumed.xGone).toBe(true);
        expect(plain.xGone).toBe(false);
        const twins = (r: typeof plain) => r.kernels.filter((k) => /^conv2d\w*_f16x\.\w*forward/.test(k));
        expect(twins(consumed)).toHaveLength(1);
        expect(twins(plain)).toHaveLength(0);
      });
    });
  }
});

describe('batchNorm2d with f16-stored input', () => {
  const shape: [number, number, number, number] = [2, 3, 5, 7];
  const n = 2 * 3 * 5 * 7;
  const x = randomArray(n, 11, -2, 2);
  const r = randomArray(n, 12, -1, 1);

  it('gives exactly the f32 gradients when the input is already f16, and close to them otherwise', async () => {
    const x16 = Float32Array.from(x, f16);
    const exact32 = await bnGrads(x16, shape, r, { storage: 'f32', recompute: false });
    const exact16 = await bnGrads(x16, shape, r, { storage: 'f16', recompute: true });
    exact16.forEach((g, i) => expect(g, `gradient ${i}`).toEqual(exact32[i]));

    const g32 = await bnGrads(x, shape, r, { storage: 'f32', recompute: false });
    const g16 = await bnGrads(x, shape, r, { storage: 'f16', recompute: false });
    // The bound: x moves by at most 2^-10 |x|, so xhat by 2^-10 |x| invstd (invstd ~ 0.9 here: |x| < 2, unit-ish
    // variance); each gradient is a sum of dy times xhat terms (dgamma) or a combination of them (dx), so it moves
    // by a fraction of such an ulp of its scale (0.2 measured). Stated: 2 * 2^-10 of the gradient's largest magnitude.
    g16.forEach((g, i) => {
      const scale = Math.max(...g32[i].map(Math.abs));
      const worst = Math.max(...g.map((v, j) => Math.abs(v - g32[i][j])));
      console.log(`batchNorm2d gradient ${i} with f16 storage: worst error ${(worst / scale / 2 ** -10).toFixed(2)} ulps of its scale`);
      expect(worst).toBeLessThanOrEqual(2 * 2 ** -10 * scale);
    });
  });
});

describe('batchNorm2d reading the f16 pairs directly', () => {
  const shape: [number, number, number, number] = [1, 3, 5, 7]; // 105 elements: the last word's high half is padding
  const x16 = Float32Array.from(randomArray(105, 21, -2, 2), f16);
  const w = randomArray(4 * 3 * 9, 23, -0.5, 0.5);

  /** Gradients of x, BN's weight and bias and the conv's weight of sum(conv2d(relu(bn(x)))), and the kernels a step runs. */
  async function bnConvStep(policy: MemoryPolicy): Promise<{ grads: Float32Array[]; kernels: string[] }> {
    const e = engine();
    setPolicy(policy);
    const xt = e.tensor(x16, shape, { requiresGrad: true });
    const weight = full(e, [3], 1.25, { requiresGrad: true });
    const bias = full(e, [3], 0.1, { requiresGrad: true });
    const cw = e.tensor(w, [4, 3, 3, 3], { requiresGrad: true });
    const [runningMean, runningVar] = [e.zeros([3]), full(e, [3], 1)];
    const step = () => backward(sum(conv2d(batchNorm2d(xt, { weight, bias, runningMean, runningVar, training: true, relu: true }), cw, null, { padding: 1 })));
    const kernels = e.traceKernels(step).map((k) => k.name);
    for (const t of [xt, weight, bias, cw]) t.grad?.dispose(), (t.grad = null);
    e.scope(step);
    const params = [xt, weight, bias, cw];
    const grads = (await Promise.all(params.map((t) => t.grad!.read()))) as Float32Array[];
    for (const t of [...params, ...params.map((p) => p.grad!), runningMean, runningVar]) t.dispose();
    return { grads, kernels };
  }

  it('backward and the recomputed output read the pairs (no unpacked copy), exact on an odd element count', async () => {
    const exact32 = await bnGrads(x16, shape, randomArray(105, 22, -1, 1), { storage: 'f32', recompute: false });
    const direct16 = await bnGrads(x16, shape, randomArray(105, 22, -1, 1), { storage: 'f16', recompute: false });
    direct16.forEach((g, i) => expect(g, `BN gradient ${i}`).toEqual(exact32[i]));

    const f32 = await bnConvStep({ storage: 'f32', recompute: true });
    const f16 = await bnConvStep({ storage: 'f16', recompute: true });
    f16.grads.forEach((g, i) => expect(g, `BN+conv gradient ${i}`).toEqual(f32.grads[i]));
    // The forward's normalize reads f32 x (batchnorm.normalize); its recomputation in backward reads the pairs.
    // (dx is written over dy, which the conv's dgrad made for the BN alone: backward_dx_in_place.)
    expect(f16.kernels).toEqual(expect.arrayContaining(['pack_f16.pack', 'batchnorm_f16x.normalize', 'batchnorm_f16x.grad_partial', 'batchnorm_f16x.backward_dx_in_place']));
    expect(f16.kernels.filter((n) => n.startsWith('pack_f16.unpack') || n === 'batchnorm.grad_partial' || n.startsWith('batchnorm.backward_dx'))).toEqual([]);
    expect(f32.kernels.filter((n) => n.startsWith('batchnorm_f16x') || n.startsWith('pack_f16'))).toEqual([]);
  });
});

describe('the whole model under each memory policy', () => {
  const config = { ...MODEL_PRESETS.tiny, landmarks: 3 };
  const [n, h, w] = [2, 64, 64];

  /** One training step's loss, flat gradient, peak live bytes above the start, and live bytes left after it. */
  async function step(policy: MemoryPolicy): Promise<{ loss: number; grads: Float32Array; peak: number; left: number }> {
    const e = engine();
    setPolicy(policy);
    const model = new ResnetUnet(config);
    const state = model.allocate(e, 1);
    const images = e.tensor(randomArray(n * h * w, 2, 0, 255), [n, 1, h, w]);
    const targets = e.tensor(Int32Array.from({ length: n * 3 }, (_, i) => (i * 997) % (h * w)), [n, 3], { dtype: 'i32' });
    const temperatures = full(e, [3], 1);
    await e.sync();
    const before = e.memory().liveBytes;
    e.pool.resetPeak();
    const loss = e.scope(() => {
      const l = trainingLoss(model, state, images, temperatures, targets);
      backward(l);
      return l;
    });
    const value = await loss.item();
    loss.dispose();
    const grads = (await state.params.gradFlat.read()) as Float32Array;
    const mem = e.memory();
    for (const t of [images, targets, temperatures]) t.dispose();
    state.dispose();
    return { loss: value, grads, peak: mem.peakLiveBytes - before, left: mem.liveBytes - before };
  }

  it('recomputes bit-identically, rounds only activations with f16, leaves no buffer behind, and needs less memory', async () => {
    const base = await step({ storage: 'f32', recompute: false });
    const recomputed = await step({ storage: 'f32', recompute: true });
    const half = await step({ storage: 'f16', recompute: false });
    const both = await step({ storage: 'f16', recompute: true });
    expect(recomputed.loss).toBe(base.loss);
    expect(recomputed.grads).toEqual(base.grads);
    for (const r of [half, both]) {
      expect(r.grads.every(Number.isFinite)).toBe(true);
      expect(r.grads).not.toEqual(base.grads);
    }
    // f16 + recompute keeps no f16 copy of a conv's input (it recomputes it), so its forward pass is f32; f16 alone
    // runs the convs that consume their input on the f16 pairs it saved for backward.
    expect(both.loss).toBe(base.loss);
    expect(half.loss).not.toBe(base.loss);
    expect(Math.abs(half.loss - base.loss)).toBeLessThan(1e-3 * Math.abs(base.loss));
    for (const r of [base, recomputed, half, both]) expect(r.left).toBe(0);
    console.log(`tiny model step peak above the start: f32 ${base.peak}, f32+recompute ${recomputed.peak}, f16 ${half.peak}, f16+recompute ${both.peak} bytes`);
    expect(recomputed.peak).toBeLessThan(base.peak);
    expect(half.peak).toBeLessThan(base.peak);
    expect(both.peak).toBeLessThan(Math.min(half.peak, recomputed.peak));
  });

  it('frees what a recorded forward saved when its scope ends without a backward, or when nothing is recorded', async () => {
    const e = engine();
    for (const policy of [{ storage: 'f16', recompute: true }, { storage: 'f32', recompute: false }] as const) {
      setPolicy(policy);
      const model = new ResnetUnet(config);
      const state = model.allocate(e, 1);
      const images = full(e, [1, 1, 64, 64], 100);
      await e.sync();
      const before = e.memory().liveBytes;
      e.scope(() => void model.forward(state, images));
      expect(e.memory().liveBytes, `${policy.storage}: a forward with the tape on`).toBe(before);
      e.scope(() => void e.noGrad(() => model.forward(state, images)));
      expect(e.memory().liveBytes, `${policy.storage}: a forward under noGrad`).toBe(before);
      images.dispose();
      state.dispose();
    }
  });
});

describe("relu's saved output", () => {
  // 0, -0, a positive f16 flushes to 0, negatives, positives, and values f16 rounds.
  const xData = Float32Array.from([0, -0, 1e-9, -1e-9, -2, 3, 0.1, -0.3, 7e4, 1 + 2 ** -12]);
  const dyData = Float32Array.from({ length: xData.length }, (_, i) => i + 1);

  for (const storage of ['f32', 'f16'] as const) {
    it(`masks dy where its output is > 0 (${storage}: where ${storage === 'f32' ? 'x' : 'f16(x)'} > 0), its input free at once`, async () => {
      const e = engine();
      setPolicy({ storage, recompute: true });
      const leaf = e.tensor(xData, [xData.length], { requiresGrad: true });
      const x = mul(leaf, full(e, [xData.length], 1)); // made in the step, as the block's sum is
      const y = relu(x);
      x.dispose();
      expect(x.isDisposed, 'nothing holds the input').toBe(true);
      backward(sum(mul(y, e.tensor(dyData, [xData.length]))));
      y.dispose();
      const dx = (await leaf.grad!.read()) as Float32Array;
      // f16(x) as this adapter's pack rounds it (either neighbour of 1e-9: 0 or 2^-24, as WGSL allows).
      const seen = storage === 'f32' ? xData : await roundTrip(e, xData);
      expect(Array.from(dx)).toEqual(Array.from(seen, (v, i) => (v > 0 ? dyData[i] : 0)));
      for (const t of [leaf, leaf.grad!]) t.dispose();
    });
  }
});

describe('saved activations', () => {
  it('refuse use after their node let them go, and a second free', () => {
    const e = engine();
    setPolicy({ storage: 'f16', recompute: false });
    const x: Tensor = e.tensor([1, 2, 3], [3], { requiresGrad: true, label: 'x' });
    const s = save(x);
    s.free();
    expect(() => s.use(() => 0)).toThrow(/saved activation "x" was used after its tape node let it go/);
    expect(() => s.free()).toThrow(/freed twice/);
    x.dispose();
  });

  it('keep a held tensor usable past its owner dispose() until the last hold goes', async () => {
    const e = engine();
    const x = e.tensor([1, 2, 3], [3], { requiresGrad: true, label: 'x' });
    const s = save(x); // f32: a hold
    x.dispose();
    expect(x.isDisposed).toBe(false);
    expect(await s.use((t) => t.read())).toEqual(Float32Array.from([1, 2, 3]));
    s.free();
    expect(x.isDisposed).toBe(true);
  });
});
