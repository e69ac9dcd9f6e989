// conv2d's subgroup-matrix tiles (tensor cores, conv2d_tiled.wgsl.in's mma variants). This adapter has no subgroup
// matrices, so their tiling runs on conv2d_mma_emulated (every builtin replaced by what it is defined to do)
// against the f64 CPU reference; the native WGSL is checked to parse; the planning is checked on a fake adapter
// that has the feature.
import { describe, expect, it } from 'vitest';
import { SHADERS } from '../../src/generated/shaders.ts';
import { describePlan, forwardPlan, sharedTileProblem, shapeKey, type ConvDevice, type Geometry } from '../../src/ops/conv2d/plan.ts';
import { conv2dTuning, type ConvOp, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { candidateKernels } from '../../src/ops/conv2d/autotune.ts';
import { nativeMatrixSides } from '../../src/ops/conv2d/matrix-tile.ts';
import { useEngine } from '../helpers/gpu.ts';
import { expectClose, maxRelError } from '../helpers/reference.ts';
import { EDGE_CONFIGS, cfg, convGradRef, convRef, makeData, type Config, type Data } from '../helpers/conv-reference.ts';
import { convGradsWith } from '../helpers/conv-grads.ts';

const engine = useEngine();

/** v rounded to a nearby f16 value (not necessarily the nearest: any f16 value will do for exact operands). */
function toF16(v: number): number {
  if (v === 0) return 0;
  const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(v))), -14) - 10);
  return Math.round(v / ulp) * ulp;
}

function f16Data(d: Data): Data {
  const r = (a: Float32Array) => a.map(toF16);
  return { x: r(d.x), w: r(d.w), b: d.b, r: r(d.r) };
}

const emulated = (tile: SharedTile) => ({ forward: tile, dgrad: tile, wgrad: tile, emulateMatrices: true });

// 8x8 matrices, 8-invocation subgroups: one or several subgroups, 1..4 matrices each way, single and double buffered.
const TILES: SharedTile[] = [
  { bm: 16, bn: 16, bk: 8, rm: 1, rn: 1, matrix: 8 },
  { bm: 32, bn: 32, bk: 16, rm: 2, rn: 2, matrix: 8 },
  { bm: 16, bn: 16, bk: 8, rm: 1, rn: 2, matrix: 8, double: true },
  { bm: 64, bn: 8, bk: 8, rm: 4, rn: 1, matrix: 8, double: true },
];

const CONFIGS: Config[] = [...EDGE_CONFIGS, cfg('1x1 s1 p0, a plain GEMM', 2, 7, 5, 6, 9, 1, 1, 0, true)];

describe('conv2d subgroup-matrix tiles, emulated, vs the f64 CPU reference', () => {
  for (const tile of TILES) {
    it(`${tile.bm}x${tile.bn}x${tile.bk} m8 ${tile.rm}x${tile.rn}${tile.double ? ' double-buffered' : ''}: forward, dgrad, wgrad, bias gradient on f16 values`, async () => {
      for (const c of CONFIGS) {
        // Operands that are f16 values: the rounding is exact, so any error is the tiling's (or f32 sums').
        const d = f16Data(makeData(c, 900));
        const g = await convGradsWith(engine(), c, d, emulated(tile));
        const ref = convGradRef(c, d.x, d.w, d.r);
        expectClose(g.y!, convRef(c, d.x, d.w, d.b), 1e-5, `${c.name} y`);
        expectClose(g.dx!, ref.dx, 1e-5, `${c.name} dx`);
        expectClose(g.dw!, ref.dw, 1e-5, `${c.name} dw`);
        expectClose(g.db!, ref.db, 1e-5, `${c.name} db`);
      }
    });
  }

  it('rounds the operands to f16: within 2e-3 of the reference, and not as close as f32 tiles', async () => {
    const c = cfg('3x3 s1 p1 with bias', 2, 13, 7, 9, 11, 3, 1, 1, true);
    const d = makeData(c, 910);
    const ref = convGradRef(c, d.x, d.w, d.r);
    const m = await convGradsWith(engine(), c, d, emulated(TILES[1]));
    const f32Tile: SharedTile = { bm: 32, bn: 32, bk: 16, rm: 4, rn: 4 };
    const f = await convGradsWith(engine(), c, d, { forward: f32Tile, dgrad: f32Tile, wgrad: f32Tile });
    for (const [what, want] of [['y', convRef(c, d.x, d.w, d.b)], ['dx', ref.dx], ['dw', ref.dw]] as const) {
      const err = maxRelError(m[what]!, want);
      expect(err, what).toBeLessThan(2e-3);
      expect(err, what).toBeGreaterThan(10 * maxRelError(f[what]!, want));
    }
  });
});

describe('conv2d subgroup-matrix planning', () => {
  const g: Geometry = { N: 2, C: 16, H: 9, W: 9, Co: 32, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, Ho: 9, Wo: 9 };
  const tile: SharedTile = { bm: 64, bn: 64, bk: 32, rm: 2, rn: 2, matrix: 16 };
  /** This adapter as if it had NVIDIA's tensor cores (f16 -> f32 16x16x16, subgroups of 32, 48 KiB). */
  function tensorCoreDevice(change: { configs?: { M: number }[]; min?: number } = {}): ConvDevice {
    const e = engine();
    const configs = (change.configs ?? [{ M: 16 }]).map(({ M }) => ({ componentType: 'f16', resultComponentType: 'f32', M, N: M, K: M }));
    const limits = { maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024, maxComputeWorkgroupStorageSize: 49152, maxComputeWorkgroupsPerDimension: 65535, minStorageBufferOffsetAlignment: 256 };
    return {
      limits: limits as unknown as GPUSupportedLimits,
      features: new Set([...e.features, 'shader-f16', 'chromium-experimental-subgroup-matrix']),
      adapter: { ...e.adapter, vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200', isFallbackAdapter: false, subgroupMinSize: change.min ?? 32, subgroupMaxSize: 32, subgroupMatrixConfigs: configs },
    };
  }

  it('plans the native shader with one subgroup per part of the tile', () => {
    const plan = forwardPlan(tensorCoreDevice(), g, { ...conv2dTuning(engine()), forward: tile });
    expect(plan.shader).toBe(SHADERS.conv2d_mma16);
    // 64x64 in parts of 32x32: 4 subgroups of 32; A rows padded to 72 f16 (16-byte aligned).
    expect(plan.constants).toMatchObject({ TX: 128, TY: 1, SGS: 32, AS: 72, BM: 64, BN: 64, BK: 32, RM: 2, RN: 2 });
    expect(describePlan(plan)).toBe('tiled_forward 64x64x32 m16 2x2');
  });

  it('names what keeps a matrix tile from running', () => {
    expect(sharedTileProblem(engine(), tile)).toMatch(/no chromium-experimental-subgroup-matrix feature/);
    expect(sharedTileProblem(tensorCoreDevice({ configs: [{ M: 8 }] }), tile)).toMatch(/no f16 -> f32 subgroup matrix of 16x16x16 \(it has: f16->f32 8x8x8\)/);
    expect(sharedTileProblem(tensorCoreDevice({ min: 16 }), tile)).toMatch(/not one fixed size/);
    expect(sharedTileProblem(tensorCoreDevice(), { ...tile, rm: 4, rn: 4 })).toMatch(/at most 8/);
    expect(sharedTileProblem(tensorCoreDevice(), { ...tile, bk: 24 })).toMatch(/bk of 16/);
    // 2 * 64 * (72 + 128) * 2 + 4 * 64 * 128 = 83968 bytes.
    expect(sharedTileProblem(tensorCoreDevice(), { bm: 64, bn: 128, bk: 64, rm: 2, rn: 4, matrix: 16, double: true })).toMatch(/83968 bytes/);
    expect(sharedTileProblem(engine(), { ...TILES[0], matrix: 16 }, true)).toMatch(/emulation has matrices of 8 only/);
    expect(sharedTileProblem(engine(), TILES[0], true)).toBeNull();
  });

  it('says which sides of subgroup matrices an adapter runs natively, or why none', () => {
    expect(nativeMatrixSides(tensorCoreDevice())).toEqual({ sides: [16], problem: null });
    expect(nativeMatrixSides(tensorCoreDevice({ configs: [{ M: 16 }, { M: 8 }] }))).toEqual({ sides: [16, 8], problem: null });
    expect(nativeMatrixSides(engine()).sides).toEqual([]);
    expect(nativeMatrixSides(engine()).problem).toMatch(/no chromium-experimental-subgroup-matrix feature/);
  });

  it('tunes GEMMs allowed f16 operands under their own key', () => {
    const t = conv2dTuning(engine());
    const ops: ConvOp[] = ['forward'];
    expect(shapeKey('forward', g, t)).toMatch(/^forward f32 /);
    expect(shapeKey('forward', g, { f16Ops: new Set(ops) })).toMatch(/^forward f16 /);
    expect(shapeKey('dgrad', g, { f16Ops: new Set(ops) })).toMatch(/^dgrad f32 /);
  });

  it('offers matrix tiles to the autotuner only for the GEMMs allowed f16 operands, where they run', () => {
    const matrices = (e: ConvDevice, ops: ConvOp[]) => candidateKernels(e, 'forward', g, new Set(ops)).filter((k) => 'matrix' in k);
    expect(matrices(tensorCoreDevice(), []).length).toBe(0);
    const offered = matrices(tensorCoreDevice(), ['forward']);
    expect(offered.length).toBeGreaterThan(3);
    expect(offered.every((k) => (k as SharedTile).matrix === 16)).toBe(true); // the fake adapter has 16x16x16 only
    expect(matrices(engine(), ['forward']).length).toBe(0);
  });

  it('probes pipelines in error scopes: refused ones are reported, the engine stays usable', async () => {
    const e = engine();
    const kernel = (plan: { shader: typeof SHADERS.conv2d_tiled; entry: string; constants?: Readonly<Record<string, number>> }) => {
      // A matrix tile also reports operands beyond f16's range (src/ops/f16-range.ts).
      const bindings = ['x', 'weight', 'bias', 'out', 'params', ...(plan.shader === SHADERS.conv2d_tiled ? [] : ['f16_overflow'])];
      return e.kernel({ ...plan, bindings });
    };
    const native = kernel(forwardPlan(tensorCoreDevice(), g, { ...conv2dTuning(e), forward: tile }));
    const f32Tile = forwardPlan(e, g, { ...conv2dTuning(e), forward: { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2 } });
    const accepted = kernel(f32Tile);
    // 129 * 64 * 2 + 64 * 128 * 2 f32 = 131 KiB of workgroup memory: past every adapter's limit, refused at pipeline creation.
    const tooBig = kernel({ ...f32Tile, constants: { ...f32Tile.constants, BM: 128, BN: 128, BK: 64, DB: 2, AS: 129 } });
    const refused = await e.probeKernels([native, accepted, tooBig]);
    expect([...refused.keys()]).toEqual([native, tooBig]);
    expect(refused.get(native)).toMatch(/chromium_experimental_subgroup_matrix|f16/);
    expect(accepted.pipeline).not.toBeNull();
    expect(native.pipeline).toBeNull();
    const t = e.tensor([1, 2, 3], [3]);
    expect([...(await t.read())]).toEqual([1, 2, 3]); // no failure was left pending on the engine
    t.dispose();
  });

  it('the native WGSL parses (this adapter refuses only its extensions)', async () => {
    const device = engine().device;
    for (const shader of [SHADERS.conv2d_mma8, SHADERS.conv2d_mma16]) {
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: shader.code, label: shader.name });
      const info = await module.getCompilationInfo();
      await device.popErrorScope();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => m.message);
      expect(errors.length, shader.name).toBeGreaterThan(0);
      for (const message of errors) expect(message, shader.name).toMatch(/extension '(f16|chromium_experimental_subgroup_matrix)' is not allowed/);
    }
  });
});
