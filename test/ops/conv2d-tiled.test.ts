// conv2d's workgroup-memory tiled kernels (conv2d_tiled.wgsl.in): forward, dgrad by stride phase and split-K wgrad
// against the f64 CPU reference on odd shapes, for several tiles; planning (tuned choices, limits, folding).
import { describe, expect, it } from 'vitest';
import { conv2dVariants } from '../../src/ops/conv2d/conv2d.ts';
import { convUniforms, describePlan, forwardPlan, sharedTileProblem, shapeKey, wgradPlan, type ConvDevice, type Geometry } from '../../src/ops/conv2d/plan.ts';
import { conv2dTuning, type Conv2dTuning, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { SHADERS } from '../../src/generated/shaders.ts';
import { useEngine } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/reference.ts';
import { EDGE_CONFIGS, cfg, convGradRef, convRef, makeData, type Config, type Data } from '../helpers/conv-reference.ts';
import { convGradsWith, type ConvGrads } from '../helpers/conv-grads.ts';

const engine = useEngine();
const tuning = () => conv2dTuning(engine());

/** Output, dx, dw and db of sum(conv(x) * r) from the GPU's autograd, with every GEMM on `tile`. */
function tiledGrads(c: Config, d: Data, tile: SharedTile, extra: Partial<Conv2dTuning> = {}): Promise<ConvGrads> {
  return convGradsWith(engine(), c, d, { forward: tile, dgrad: tile, wgrad: tile, ...extra });
}

const TILES: SharedTile[] = [
  { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 },
  { bm: 32, bn: 16, bk: 4, rm: 4, rn: 4 },
  { bm: 18, bn: 12, bk: 5, rm: 3, rn: 3 },
  { bm: 8, bn: 32, bk: 16, rm: 1, rn: 4 },
  { bm: 4, bn: 8, bk: 3, rm: 4, rn: 1 },
  { bm: 64, bn: 16, bk: 4, rm: 8, rn: 2 },
  { bm: 64, bn: 64, bk: 8, rm: 8, rn: 8 },
  // Double-buffered: K blocks of 1, 3 and 8 (a single step, odd tails, several steps of a long K).
  { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, double: true },
  { bm: 18, bn: 12, bk: 3, rm: 3, rn: 3, double: true },
  { bm: 4, bn: 8, bk: 1, rm: 4, rn: 1, double: true },
];

const CONFIGS: Config[] = [
  ...EDGE_CONFIGS,
  cfg('1x1 s1 p0, a plain GEMM', 2, 7, 5, 6, 9, 1, 1, 0, true),
  cfg('2x2 s2 p0, even kernel', 1, 3, 9, 6, 6, 2, 2, 0, true),
  cfg('3x3 s3 p0, taps that reach no pixel of a phase', 1, 2, 8, 7, 3, 3, 3, 0, true),
];

describe('conv2d tiled kernels vs the f64 CPU reference', () => {
  for (const tile of TILES) {
    it(`BM=${tile.bm} BN=${tile.bn} BK=${tile.bk} RM=${tile.rm} RN=${tile.rn}${tile.double ? ' double-buffered' : ''}: forward, dgrad, wgrad and bias gradient`, async () => {
      for (const c of CONFIGS) {
        const d = makeData(c, 700);
        const g = await tiledGrads(c, d, tile);
        const ref = convGradRef(c, d.x, d.w, d.r);
        expectClose(g.y!, convRef(c, d.x, d.w, d.b), 1e-5, `${c.name} y`);
        expectClose(g.dx!, ref.dx, 1e-5, `${c.name} dx`);
        expectClose(g.dw!, ref.dw, 1e-5, `${c.name} dw`);
        expectClose(g.db!, ref.db, 1e-5, `${c.name} db`);
      }
    });
  }

  it('wgrad split into many partial sums (one per output row) equals one split, bit for bit on repeat', async () => {
    const c = cfg('3x3 s1 p1', 3, 6, 9, 7, 5, 3, 1, 1, true);
    const d = makeData(c, 710);
    const tile = TILES[0];
    const one = await tiledGrads(c, d, tile, { targetInvocations: 1 });
    const many = await tiledGrads(c, d, tile, { targetInvocations: 1e9 });
    const again = await tiledGrads(c, d, tile, { targetInvocations: 1e9 });
    const ref = convGradRef(c, d.x, d.w, d.r);
    expectClose(one.dw!, ref.dw, 1e-5, 'dw, one split');
    expectClose(many.dw!, ref.dw, 1e-5, 'dw, a split per row');
    expectClose(many.db!, ref.db, 1e-5, 'db, a split per row');
    expect(Array.from(again.dw!)).toEqual(Array.from(many.dw!));
  });
});

/** This adapter with some of its limits replaced. */
function fakeDevice(limits: Partial<Record<'maxComputeWorkgroupsPerDimension' | 'maxComputeWorkgroupStorageSize', number>>): ConvDevice {
  const e = engine();
  return { limits: { ...limitsOf(e.limits), ...limits } as GPUSupportedLimits, features: e.features, adapter: e.adapter };
}

/** The limits as a plain object (GPUSupportedLimits' members are getters, which a spread would not copy). */
function limitsOf(l: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of ['maxComputeWorkgroupsPerDimension', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY', 'maxComputeWorkgroupStorageSize', 'minStorageBufferOffsetAlignment'] as const) out[k] = l[k];
  return out;
}

describe('conv2d tiled planning', () => {
  const g: Geometry = { N: 2, C: 5, H: 7, W: 9, Co: 6, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 7, Wo: 9 };
  const tile: SharedTile = { bm: 8, bn: 8, bk: 4, rm: 2, rn: 2 };

  it('uses a tuned choice for its exact shape only, and an explicit choice over it', () => {
    const t = tuning();
    try {
      t.tuned.set(shapeKey('forward', g), tile);
      expect(forwardPlan(engine(), g, t).entry).toBe('tiled_forward');
      expect(forwardPlan(engine(), { ...g, N: 3 }, t).entry).not.toBe('tiled_forward');
      t.forward = { tm: 4, tn: 4 };
      expect(forwardPlan(engine(), g, t).entry).toBe('forward');
    } finally {
      t.tuned.clear();
      t.forward = null;
    }
  });

  it('names the kernels a shape runs (conv2dVariants)', () => {
    const t = tuning();
    try {
      t.tuned.set(shapeKey('forward', g), tile);
      const v = conv2dVariants(engine(), [2, 5, 7, 9], [6, 5, 3, 3], { padding: 1 });
      expect(v.forward).toBe('tiled_forward 8x8x4 r2x2');
      expect(v.dgrad).toMatch(/^dgrad_flat TM8 TN\d/);
      expect(v.wgrad).toMatch(/^wgrad_rows TM8 TC\d.* splits\d+$/);
    } finally {
      t.tuned.clear();
    }
  });

  it('compiles the kernel size into the pipeline and names double buffering', () => {
    const t = tuning();
    try {
      t.forward = { ...tile, double: true };
      const plan = forwardPlan(engine(), { ...g, KH: 1, KW: 1, PH: 0, PW: 0 }, t);
      expect(plan.constants).toMatchObject({ KH: 1, KW: 1, DB: 2 });
      expect(describePlan(plan)).toBe('tiled_forward 8x8x4 r2x2 db');
      t.forward = tile;
      expect(forwardPlan(engine(), { ...g, KH: 3, KW: 5 }, t).constants).toMatchObject({ KH: 3, KW: 5, DB: 1 });
    } finally {
      t.forward = null;
    }
  });

  it('names what the adapter cannot run', () => {
    expect(sharedTileProblem(engine(), { bm: 9, bn: 8, bk: 4, rm: 9, rn: 1 })).toMatch(/rm, rn in 1\.\.8/);
    expect(sharedTileProblem(engine(), { bm: 6, bn: 8, bk: 4, rm: 2, rn: 2 })).toMatch(/bm of rm\*rn/);
    expect(sharedTileProblem(engine(), { bm: 256, bn: 256, bk: 4, rm: 1, rn: 1 })).toMatch(/workgroup 256x256/);
    expect(sharedTileProblem(engine(), { bm: 64, bn: 64, bk: 1024, rm: 4, rn: 4 })).toMatch(/bytes of workgroup memory/);
    // Double buffering doubles the bytes: 4 * 16 * (65 + 64) = 8256 fits 16 KiB once, not twice.
    const limited = fakeDevice({ maxComputeWorkgroupStorageSize: 16384 });
    expect(sharedTileProblem(limited, { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4 })).toBeNull();
    expect(sharedTileProblem(limited, { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4, double: true })).toMatch(/16512 bytes/);
    const t = tuning();
    t.forward = { bm: 6, bn: 8, bk: 4, rm: 2, rn: 2 };
    try {
      expect(() => forwardPlan(engine(), g, t)).toThrow(/conv2dTuning\.forward .* cannot run: bn must be/);
    } finally {
      t.forward = null;
    }
  });

  it('folds pixel blocks into z past the per-dimension limit, with the same result', async () => {
    const c = cfg('3x3 s1 p1 with bias', 2, 5, 7, 9, 6, 3, 1, 1, true);
    const d = makeData(c, 720);
    const t = { ...tuning(), forward: tile };
    const plan = forwardPlan(fakeDevice({ maxComputeWorkgroupsPerDimension: 4 }), g, t);
    expect(plan.grid).toEqual([4, 1, 4]); // 126 pixels in 16 blocks of 8: 4 along x, 4 along z
    const e = engine();
    const out = e.scope(() => {
      const y = e.empty([2, 6, 7, 9]);
      const bindings = { x: e.tensor(d.x, [2, 5, 7, 9]), weight: e.tensor(d.w, [6, 5, 3, 3]), bias: e.tensor(d.b!, [6]), out: y, params: convUniforms(g, true) };
      e.run(e.kernel({ shader: plan.shader, entry: plan.entry, bindings: Object.keys(bindings), constants: plan.constants }), bindings, plan.grid);
      return e.keep(y);
    });
    expectClose((await out.read()) as Float32Array, convRef(c, d.x, d.w, d.b), 1e-5, 'folded forward');
    out.dispose();
  });

  it('wgrad splits count the tiled workgroup (TX x TY invocations)', () => {
    const t = { ...tuning(), wgrad: tile, targetInvocations: 96 * 3 };
    const p = wgradPlan(engine(), g, t);
    expect(p.partial.shader).toBe(SHADERS.conv2d_tiled);
    // 45 taps in 6 blocks of 8, 6 channels in 1 block, 16 invocations each: 96 per split, so 3 splits (of 14 rows).
    expect([p.partial.grid[0], p.partial.grid[1], p.splits]).toEqual([6, 1, 3]);
    expect(p.rowsPerSplit).toBe(5);
  });
});
