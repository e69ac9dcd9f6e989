// Half tiles (conv2d_tiled_half: workgroup-memory blocks of f16, f32 arithmetic; adapters with shader-f16). On
// values f16 holds they must give the f32 tile's results bit for bit (same order of the same f32 products and
// sums); on any values, within the operand rounding's bound; a value beyond f16's range sets the range flag; and
// the planner refuses them, with the reason, where the adapter has no shader-f16. SwiftShader has none: there the
// tests that run the kernels skip, saying so (Mesa's lavapipe and GPUs run them; docs: ../shared/notes).
import { describe, expect, it, type TestContext } from 'vitest';
import { f16RangeFlag } from '../../src/index.ts';
import { conv2dKernels } from '../../src/ops/conv2d/conv2d.ts';
import { describePlan, forwardPlan, geometry, sharedTileProblem } from '../../src/ops/conv2d/plan.ts';
import { candidateKernels } from '../../src/ops/conv2d/autotune.ts';
import { conv2dTuning, type SharedTile } from '../../src/ops/conv2d/tuning.ts';
import { useEngine } from '../helpers/gpu.ts';
import { f16 } from '../helpers/reference.ts';
import { convGradsWith } from '../helpers/conv-grads.ts';
import { EDGE_CONFIGS, cfg, convGradRef, makeData, type Config, type Data } from '../helpers/conv-reference.ts';

const engine = useEngine();

const TILES: SharedTile[] = [
  { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, half: true },
  { bm: 18, bn: 12, bk: 5, rm: 3, rn: 3, half: true },
  { bm: 16, bn: 16, bk: 8, rm: 2, rn: 2, double: true, half: true },
];
const CONFIGS: Config[] = [...EDGE_CONFIGS, cfg('1x1 s1 p0, a plain GEMM', 2, 7, 5, 6, 9, 1, 1, 0, true)];

function needsF16(ctx: TestContext): void {
  if (!engine().features.has('shader-f16')) ctx.skip(`this adapter (${engine().adapter.description || engine().adapter.architecture}) has no shader-f16`);
}

const withoutHalf = (t: SharedTile): SharedTile => ({ ...t, half: undefined });
const onTile = (t: SharedTile) => ({ forward: t, dgrad: t, wgrad: t });
const roundedData = (d: Data): Data => ({ x: d.x.map(f16), w: d.w.map(f16), b: d.b?.map(f16) ?? null, r: d.r.map(f16) });

describe('conv2d half tiles', () => {
  for (const tile of TILES) {
    it(`${JSON.stringify(tile)}: the f32 tile's results bit for bit on f16 values`, async (ctx) => {
      needsF16(ctx);
      for (const c of CONFIGS) {
        const d = roundedData(makeData(c, 900));
        const half = await convGradsWith(engine(), c, d, onTile(tile));
        const full = await convGradsWith(engine(), c, d, onTile(withoutHalf(tile)));
        for (const k of ['y', 'dx', 'dw', 'db'] as const) expect(half[k], `${c.name} ${k}`).toEqual(full[k]);
      }
    });
  }

  it('on any values: the weight gradient within the operands\' rounding, 2^-10 * sum |dy| |x|', async (ctx) => {
    needsF16(ctx);
    const c = cfg('3x3 s2 p1', 2, 5, 9, 11, 6, 3, 2, 1);
    const d = makeData(c, 901);
    const half = await convGradsWith(engine(), c, d, onTile(TILES[0]));
    const full = await convGradsWith(engine(), c, d, onTile(withoutHalf(TILES[0])));
    // Each operand moves by at most half an f16 ulp (2^-11 relative), so each product by about 2^-10 of |dy| |x|.
    const abs = convGradRef(c, d.x.map(Math.abs), d.w, d.r.map(Math.abs)).dw;
    const worst = Math.max(...abs.map((a, i) => Math.abs(half.dw![i] - full.dw![i]) / (2 ** -10 * a + 1e-6 * a + 1e-7)));
    console.log(`half tile dw: worst error ${worst.toFixed(3)} of the bound`);
    expect(worst).toBeLessThanOrEqual(1);
    expect(half.dw).not.toEqual(full.dw); // the rounding did happen
  });

  // The weights are in [-0.5, 0.5]: times 1e6 most of them are beyond f16's range.
  it('sets the f16 range flag for an operand beyond 65504, and not otherwise', async (ctx) => {
    needsF16(ctx);
    const e = engine();
    const c = cfg('3x3', 1, 2, 5, 5, 3, 3, 1, 1);
    const t = conv2dTuning(e);
    const saved = t.forward;
    t.forward = TILES[0];
    try {
      for (const [scale, want] of [[1, 0], [1e6, 1]] as const) {
        e.clear(f16RangeFlag(e));
        const d = makeData(c, 902);
        const x = e.tensor(d.x, [c.N, c.C, c.H, c.W]);
        const w = e.tensor(d.w.map((v) => v * scale), [c.Co, c.C, c.kh, c.kw]);
        const y = conv2dKernels.forward(x, w, null, { padding: c.padding });
        expect((await f16RangeFlag(e).read())[0], `weights x${scale}`).toBe(want);
        for (const v of [x, w, y]) v.dispose();
      }
    } finally {
      t.forward = saved;
    }
  });

  it('is refused where the adapter has no shader-f16, offered to the tuner only on GEMMs allowed f16 operands', () => {
    const e = engine();
    const noF16 = { ...e, features: new Set([...e.features].filter((f) => f !== 'shader-f16')), adapter: e.adapter, limits: e.limits };
    expect(sharedTileProblem(noF16, TILES[0])).toMatch(/no shader-f16/);
    expect(sharedTileProblem(e, { ...TILES[0], matrix: 8 })).toMatch(/exclude each other/);
    const gpu = { features: new Set([...e.features, 'shader-f16']), limits: e.limits, adapter: { ...e.adapter, isFallbackAdapter: false, architecture: 'test-gpu', device: '', description: '' } };
    const g = geometry({ shape: [1, 64, 32, 32] }, { shape: [64, 64, 3, 3] }, null, { padding: 1 });
    const halves = (ops: Set<'forward'>) => candidateKernels(gpu, 'forward', g, ops).filter((k) => 'half' in k && k.half);
    expect(halves(new Set())).toEqual([]);
    expect(halves(new Set(['forward'])).length).toBeGreaterThan(0);
    const plan = forwardPlan(gpu, g, { ...conv2dTuning(e), forward: { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4, half: true } });
    expect(describePlan(plan)).toBe('tiled_forward 64x64x16 r4x4 f16');
  });
});
