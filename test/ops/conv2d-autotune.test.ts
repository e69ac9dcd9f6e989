// The conv2d autotuner: which kernels it tries on which adapter class, what a tuned engine runs (and that it is
// still right), the shapes a run records, and the cache document (parse, merge, apply, invalidation).
import { describe, expect, it } from 'vitest';
import { backward, mul, sum } from '../../src/index.ts';
import { conv2d, recordConvShapes } from '../../src/ops/conv2d/conv2d.ts';
import { candidateKernels, tuneConv2d } from '../../src/ops/conv2d/autotune.ts';
import { defaultKernel, forwardPlan, geometry, shapeKey, type ConvDevice, type Geometry } from '../../src/ops/conv2d/plan.ts';
import { conv2dTuning, DEFAULT_TILES, GPU_DEFAULT_TILE, isSharedTile, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { adapterIdentity, applyTuneCache, emptyTuneCache, kernelSetChecksum, mergeTuneChoices, parseTuneCache } from '../../src/ops/conv2d/tune-cache.ts';
import { useEngine } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/reference.ts';
import { cfg, convGradRef, convRef, makeData, outSize } from '../helpers/conv-reference.ts';

const engine = useEngine();

/** The engine's adapter made to look like a discrete GPU, with its limits but a smaller workgroup memory. */
function gpuLike(storage = 16384): ConvDevice {
  const e = engine();
  const l = e.limits;
  const limits = {
    maxComputeInvocationsPerWorkgroup: Math.max(256, l.maxComputeInvocationsPerWorkgroup),
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupStorageSize: storage,
    maxComputeWorkgroupsPerDimension: 65535,
    minStorageBufferOffsetAlignment: 256,
  } as GPUSupportedLimits;
  return { limits, features: e.features, adapter: { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false, runtime: 'node' } };
}

const big: Geometry = { N: 4, C: 64, H: 200, W: 160, Co: 64, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 200, Wo: 160 };

describe('conv2d autotuner candidates and defaults', () => {
  it('a CPU adapter keeps register tiles: its default and every candidate', () => {
    const e = engine();
    expect(defaultKernel(e, 'forward', big)).toEqual(DEFAULT_TILES.forward);
    for (const op of ['forward', 'dgrad', 'wgrad'] as const) {
      const c = candidateKernels(e, op, big);
      expect(c[0]).toEqual(DEFAULT_TILES[op]);
      expect(c.length).toBeGreaterThan(1);
      expect(c.some(isSharedTile)).toBe(false);
    }
  });

  it('a GPU defaults to the shared tile where the GEMM fills it and tries shared tiles its limits allow', () => {
    const gpu = gpuLike();
    expect(defaultKernel(gpu, 'forward', big)).toEqual(GPU_DEFAULT_TILE);
    const tiny: Geometry = { ...big, N: 1, H: 10, W: 8, Ho: 10, Wo: 8 };
    expect(defaultKernel(gpu, 'forward', tiny)).toEqual(DEFAULT_TILES.forward);
    const c = candidateKernels(gpu, 'wgrad', big);
    expect(c.filter(isSharedTile).length).toBeGreaterThan(5);
    // 64x64 with K steps of 32 (or 16, double-buffered) needs 16.5 kB of workgroup memory: only where the adapter has it.
    const needs = (t: SharedTile) => 4 * t.bk * (t.bm + 1 + t.bn) * (t.double ? 2 : 1);
    expect(c.filter(isSharedTile).every((t) => needs(t) <= 16384)).toBe(true);
    expect(candidateKernels(gpuLike(49152), 'wgrad', big).filter(isSharedTile).some((t) => needs(t) > 16384)).toBe(true);
  });
});

describe('conv2d autotuner on this adapter', () => {
  it('records the GEMM shapes of a run: forward, dgrad and wgrad with gradients, forward alone without', () => {
    const e = engine();
    const c = cfg('3x3 s2', 1, 3, 9, 7, 4, 3, 2, 1, true);
    const d = makeData(c, 800);
    const x = e.tensor(d.x, [1, 3, 9, 7], { requiresGrad: true });
    const w = e.tensor(d.w, [4, 3, 3, 3], { requiresGrad: true });
    const withGrads = recordConvShapes(e, () => e.scope(() => backward(sum(conv2d(x, w, null, { stride: 2, padding: 1 })))));
    expect(withGrads.map((s) => s.op)).toEqual(['forward', 'wgrad', 'dgrad']); // backward: the weight gradient first
    const g = geometry(x, w, null, { stride: 2, padding: 1 });
    expect(withGrads[0].key).toBe(shapeKey('forward', g));
    const inference = recordConvShapes(e, () => e.noGrad(() => e.scope(() => void conv2d(x, w, null, { stride: 2, padding: 1 }))));
    expect(inference.map((s) => s.op)).toEqual(['forward']);
    for (const t of [x, w, x.grad, w.grad]) t?.dispose();
  });

  it('tunes shapes: every candidate timed, the winner used by the next conv2d, which still matches the CPU reference', async () => {
    const e = engine();
    const c = cfg('3x3 s1 p1 with bias', 2, 6, 11, 9, 5, 3, 1, 1, true);
    const d = makeData(c, 810);
    const [Ho, Wo] = outSize(c);
    const x = e.tensor(d.x, [c.N, c.C, c.H, c.W], { requiresGrad: true });
    const w = e.tensor(d.w, [c.Co, c.C, 3, 3], { requiresGrad: true });
    const b = e.tensor(d.b!, [c.Co], { requiresGrad: true });
    const step = () => e.scope(() => backward(sum(mul(conv2d(x, w, b, { padding: 1 }), e.tensor(d.r, [c.N, c.Co, Ho, Wo])))));
    const shapes = recordConvShapes(e, () => e.traceKernels(step));
    const tuned = conv2dTuning(e).tuned;
    try {
      const choices = await tuneConv2d(e, shapes, { reps: 2, margin: -10 }); // any candidate beats the default
      expect(choices.map((ch) => ch.op)).toEqual(['forward', 'wgrad', 'dgrad']);
      for (const ch of choices) {
        expect(ch.timings.length).toBeGreaterThan(1);
        expect(ch.timings.length).toBeLessThanOrEqual(candidateKernels(e, ch.op, shapes[0].geometry).length);
        expect(new Set(ch.timings.map((t) => t.variant)).size).toBe(ch.timings.length);
        expect(ch.timings.every((t) => t.ms > 0)).toBe(true);
        expect(ch.ms).toBe(Math.min(...ch.timings.map((t) => t.ms)));
        expect(tuned.get(ch.key)).toEqual(ch.kernel);
      }
      step();
      const ref = convGradRef(c, d.x, d.w, d.r);
      expectClose((await x.grad!.read()) as Float32Array, ref.dx, 1e-5, 'dx with tuned kernels');
      expectClose((await w.grad!.read()) as Float32Array, ref.dw, 1e-5, 'dw with tuned kernels');
      const y = e.noGrad(() => e.keep(conv2d(x, w, b, { padding: 1 })));
      expectClose((await y.read()) as Float32Array, convRef(c, d.x, d.w, d.b), 1e-5, 'y with tuned kernels');
      y.dispose();
      // A margin no candidate can beat keeps the default.
      const kept = await tuneConv2d(e, shapes.slice(0, 1), { reps: 1, margin: 1 });
      expect(kept[0].kernel).toEqual(DEFAULT_TILES.forward);
      expect(kept[0].isDefault).toBe(true);
    } finally {
      tuned.clear();
      for (const t of [x, w, b, x.grad, w.grad, b.grad]) t?.dispose();
    }
  });
});

describe('the autotune cache document', () => {
  const choice = (key: string) => ({ key, op: 'forward' as const, kernel: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 }, defaultKernel: { tm: 8 as const, tn: 8, rows: true, flat: true }, variant: 'tiled_forward 16x16x8 r2x2', defaultVariant: 'forward_flat TM8 TN8', isDefault: false, ms: 1, defaultMs: 2, timings: [], refused: [] });

  it('round-trips, and names what is wrong with a corrupt or foreign document', () => {
    const cache = mergeTuneChoices(emptyTuneCache(), 'gpu A', [choice('k1')]);
    const back = parseTuneCache(JSON.stringify(cache), 'x.json');
    expect(back.warning).toBeNull();
    expect(back.cache.adapters['gpu A'].shapes.k1.kernel).toEqual(choice('k1').kernel);
    expect(parseTuneCache('{"format": "chh-webgpu/autotune", "ver', 'x.json').warning).toMatch(/^autotune cache x\.json is not JSON .*rewritten$/);
    expect(parseTuneCache('{"name": "some other tool"}', 'x.json').warning).toMatch(/not a chh-webgpu\/autotune document/);
    expect(parseTuneCache(JSON.stringify({ ...cache, version: 99 }), 'x.json').warning).toMatch(/version 99/);
    const broken = JSON.parse(JSON.stringify(cache));
    broken.adapters['gpu A'].shapes.k1.kernel = { bm: 'big' };
    expect(parseTuneCache(JSON.stringify(broken), 'x.json').warning).toMatch(/shape "k1" of adapter "gpu A" is malformed/);
    broken.adapters['gpu A'].shapes.k1.kernel = { ...choice('k1').kernel, double: 'yes' };
    expect(parseTuneCache(JSON.stringify(broken), 'x.json').warning).toMatch(/shape "k1" of adapter "gpu A" is malformed/);
    const double = mergeTuneChoices(emptyTuneCache(), 'gpu A', [{ ...choice('k1'), kernel: { ...choice('k1').kernel, double: true } }]);
    expect(parseTuneCache(JSON.stringify(double), 'x.json').cache.adapters['gpu A'].shapes.k1.kernel).toMatchObject({ double: true });
  });

  it('a changed kernel set drops that adapter\'s choices (and only its)', () => {
    let cache = mergeTuneChoices(emptyTuneCache(), 'gpu A', [choice('k1')]);
    cache = mergeTuneChoices(cache, 'gpu B', [choice('k2')]);
    cache.adapters['gpu A'].kernels = 'an older kernel set';
    const next = mergeTuneChoices(cache, 'gpu A', [choice('k3')]);
    expect(Object.keys(next.adapters['gpu A'].shapes)).toEqual(['k3']);
    expect(next.adapters['gpu A'].kernels).toBe(kernelSetChecksum());
    expect(Object.keys(next.adapters['gpu B'].shapes)).toEqual(['k2']);
  });

  it('applies to the engine only its own adapter\'s current choices, and only kernels it can run', () => {
    const e = engine();
    const id = adapterIdentity(e.adapter);
    const tuned = conv2dTuning(e).tuned;
    try {
      const cache = mergeTuneChoices(emptyTuneCache(), id, [choice('a'), { ...choice('b'), kernel: { bm: 4096, bn: 4096, bk: 8, rm: 1, rn: 1 } }]);
      expect(applyTuneCache(e, cache)).toEqual({ applied: 1, stale: false });
      expect(tuned.get('a')).toEqual(choice('a').kernel);
      expect(tuned.has('b')).toBe(false);
      tuned.clear();
      cache.adapters[id].kernels = 'stale';
      expect(applyTuneCache(e, cache)).toEqual({ applied: 0, stale: true });
      expect(applyTuneCache(e, mergeTuneChoices(emptyTuneCache(), 'another adapter', [choice('c')]))).toEqual({ applied: 0, stale: false });
      expect(tuned.size).toBe(0);
      // An applied choice is what conv2d plans.
      const g: Geometry = { N: 1, C: 2, H: 5, W: 5, Co: 3, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 5, Wo: 5 };
      applyTuneCache(e, mergeTuneChoices(emptyTuneCache(), id, [choice(shapeKey('forward', g))]));
      expect(forwardPlan(e, g, conv2dTuning(e)).entry).toBe('tiled_forward');
    } finally {
      tuned.clear();
    }
  });
});
