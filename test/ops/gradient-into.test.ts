// Gradients written in place (GradientInto, src/engine/tape.ts): conv2d's weight and bias gradients go straight into
// a parameter's zeroed `.grad` instead of a new buffer that backward copies (or adds) there. The values must be those of the
// adding path bit for bit (and the CPU reference's), a weight used twice or a second backward must still add up,
// and the backward must need a weight's bytes less memory.
import { afterEach, describe, expect, it } from 'vitest';
import { backward, mul, sum, type Engine, type Tensor } from '../../src/index.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { add } from '../../src/ops/add.ts';
import { conv2dTuning } from '../../src/ops/conv2d/tuning.ts';
import { ParameterStore } from '../../src/nn/parameters.ts';
import { useEngine } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/reference.ts';
import { cfg, convGradRef, makeData, type Config } from '../helpers/conv-reference.ts';

const engine = useEngine();
const tuning = () => conv2dTuning(engine());
const savedTarget = { value: null as number | null };
afterEach(() => {
  tuning().targetInvocations = savedTarget.value;
});

/**
 * The weight (and bias): as parameters, whose gradients start zeroed (lent to the op), or as plain leaves whose
 * `.grad` holds zeros nobody marked (backward makes a gradient and adds it to them: the other path).
 */
function leaves(e: Engine, c: Config, d: ReturnType<typeof makeData>, lent: boolean): { w: Tensor; b: Tensor | null; dispose: () => void } {
  const wShape = [c.Co, c.C, c.kh, c.kw];
  if (lent) {
    const store = ParameterStore.create(e, [{ name: 'w', shape: wShape }, ...(c.bias ? [{ name: 'b', shape: [c.Co] }] : [])]);
    e.write(store.get('w'), d.w);
    if (c.bias) e.write(store.get('b'), d.b!);
    return { w: store.get('w'), b: c.bias ? store.get('b') : null, dispose: () => store.dispose() };
  }
  const w = e.tensor(d.w, wShape, { label: 'w', requiresGrad: true });
  const b = c.bias ? e.tensor(d.b!, [c.Co], { label: 'b', requiresGrad: true }) : null;
  for (const t of [w, b]) if (t) t.grad = e.zeros(t.shape, { label: `${t.label}.grad` });
  return { w, b, dispose: () => [w, b, w.grad, b?.grad].forEach((t) => t?.dispose()) };
}

interface Run {
  dw: Float32Array;
  db: Float32Array | null;
  /** Peak live bytes of the backward above what lived before it. */
  peak: number;
}

/** backward of sum(conv(x) * r), `uses` convolutions of x sharing the weight, `passes` backward calls. */
async function run(c: Config, lent: boolean, uses = 1, passes = 1): Promise<Run> {
  const e = engine();
  const d = makeData(c, 7);
  const p = leaves(e, c, d, lent);
  const x = e.tensor(d.x, [c.N, c.C, c.H, c.W]);
  let peak = 0;
  for (let i = 0; i < passes; i++) {
    // Buffers are taken from the pool as work is recorded, so the counts need no sync.
    e.scope(() => {
      const outs = Array.from({ length: uses }, () => conv2d(x, p.w, p.b, { stride: c.stride, padding: c.padding }));
      const out = outs.reduce((a, o) => add(a, o));
      const loss = sum(mul(out, e.tensor(d.r, out.shape)));
      const before = e.memory().liveBytes;
      e.pool.resetPeak();
      backward(loss);
      peak = e.memory().peakLiveBytes - before;
    });
    await e.sync();
  }
  const dw = (await p.w.grad!.read()) as Float32Array;
  const db = p.b ? ((await p.b.grad!.read()) as Float32Array) : null;
  x.dispose();
  p.dispose();
  return { dw, db, peak };
}

const CASES: readonly { c: Config; splits: 'one' | 'many' }[] = [
  { c: cfg('3x3 s1 p1, no bias', 2, 5, 7, 6, 4, 3, 1, 1), splits: 'one' },
  { c: cfg('3x3 s2 p1, no bias', 2, 5, 7, 6, 4, 3, 2, 1), splits: 'many' },
  { c: cfg('3x3 with bias', 1, 3, 6, 5, 7, 3, 1, 1, true), splits: 'one' },
  { c: cfg('1x1 with bias', 2, 6, 5, 5, 3, 1, 1, 0, true), splits: 'many' },
];

describe('conv2d gradients written into the parameters\' zeroed .grad', () => {
  for (const { c, splits } of CASES) {
    it(`${c.name}, ${splits} split(s): the adding path's values bit for bit, and the reference's`, async () => {
      savedTarget.value = tuning().targetInvocations;
      tuning().targetInvocations = splits === 'one' ? 1 : 1e9;
      const lent = await run(c, true);
      const added = await run(c, false);
      expect(lent.dw).toEqual(added.dw);
      expect(lent.db).toEqual(added.db);
      const d = makeData(c, 7);
      const ref = convGradRef(c, d.x, d.w, d.r);
      expectClose(lent.dw, ref.dw, 1e-4, 'dw');
      if (c.bias) expectClose(lent.db!, ref.db, 1e-4, 'db');
    });
  }

  it("needs the weight's bytes less at the backward's peak (no weight-sized transient)", async () => {
    const c = cfg('3x3, 16 -> 16', 1, 16, 4, 4, 16, 3, 1, 1);
    savedTarget.value = tuning().targetInvocations;
    tuning().targetInvocations = 1;
    const lent = await run(c, true);
    const added = await run(c, false);
    expect(added.peak - lent.peak).toBeGreaterThanOrEqual(16 * 16 * 9 * 4);
  });

  it('adds up a weight used twice in one graph, and a second backward without zeroGrad', async () => {
    const c = cfg('3x3 with bias, shared', 1, 3, 6, 5, 4, 3, 1, 1, true);
    const d = makeData(c, 7);
    const ref = convGradRef(c, d.x, d.w, d.r);
    for (const [uses, passes] of [[2, 1], [1, 2], [2, 2]]) {
      const got = await run(c, true, uses, passes);
      const k = uses * passes;
      expectClose(got.dw, ref.dw.map((v) => k * v), 1e-4, `dw, ${uses} uses x ${passes} passes`);
      expectClose(got.db!, ref.db.map((v) => k * v), 1e-4, `db, ${uses} uses x ${passes} passes`);
    }
  });
});
