// conv2d: forward against an f64 CPU reference on odd shapes, gradients against central finite differences and
// the CPU's analytic gradients, golden parity with PyTorch (test/fixtures/conv2d.json), tile variants, bad input.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mul, sum, backward, type Tensor } from '../../src/index.ts';
import { conv2d, conv2dKernels } from '../../src/ops/conv2d/conv2d.ts';
import { conv2dSubgroupsSupported, dgradPlan, forwardPlan, geometry, wgradPlan, type ConvDevice } from '../../src/ops/conv2d/plan.ts';
import { conv2dTuning, type ConvTile } from '../../src/ops/conv2d/tuning.ts';
import { useEngine } from '../helpers/gpu.ts';
import { randomArray, finiteDifferences, expectClose } from '../helpers/reference.ts';
import { cfg, convGradRef, convRef, makeData, outSize, type Config, type Data } from '../helpers/conv-reference.ts';

const engine = useEngine();
const tuning = () => conv2dTuning(engine());

// ---------------------------------------------------------------- GPU helpers

async function gpuForward(c: Config, d: Pick<Data, 'x' | 'w' | 'b'>): Promise<Float32Array> {
  const e = engine();
  return e.scope(() => {
    const x = e.tensor(d.x, [c.N, c.C, c.H, c.W]);
    const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw]);
    const b = d.b ? e.tensor(d.b, [c.Co]) : null;
    const y = conv2d(x, w, b, { stride: c.stride, padding: c.padding });
    return e.keep(y);
  }).read().then((v) => v as Float32Array);
}

/** Forward output and the gradients of sum(conv(x) * r) from the GPU's autograd. */
async function gpuGrads(c: Config, d: Data): Promise<{ y: Float32Array; dx: Float32Array; dw: Float32Array; db: Float32Array | null }> {
  const e = engine();
  const [Ho, Wo] = outSize(c);
  const x = e.tensor(d.x, [c.N, c.C, c.H, c.W], { requiresGrad: true, label: 'x' });
  const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true, label: 'w' });
  const b = d.b ? e.tensor(d.b, [c.Co], { requiresGrad: true, label: 'b' }) : null;
  const y = e.scope(() => {
    const r = e.tensor(d.r, [c.N, c.Co, Ho, Wo]);
    const out = conv2d(x, w, b, { stride: c.stride, padding: c.padding });
    backward(sum(mul(out, r)));
    return out;
  });
  const [yv, dx, dw, db] = await Promise.all([y.read(), x.grad!.read(), w.grad!.read(), b ? b.grad!.read() : Promise.resolve(null)]);
  for (const t of [y, x.grad, w.grad, b?.grad, x, w, b]) t?.dispose();
  return { y: yv as Float32Array, dx: dx as Float32Array, dw: dw as Float32Array, db: db as Float32Array | null };
}

// ---------------------------------------------------------------- forward

const FORWARD: Config[] = [
  cfg('7x7 s2 p3, Cin 1 (stem)', 2, 1, 9, 6, 6, 7, 2, 3),
  cfg('7x7 s2 p3, Cin 3', 1, 3, 7, 9, 6, 7, 2, 3),
  cfg('3x3 s1 p1', 2, 5, 7, 9, 6, 3, 1, 1),
  cfg('3x3 s1 p1, Cout 1', 1, 3, 9, 6, 1, 3, 1, 1),
  cfg('3x3 s2 p1', 2, 5, 9, 6, 6, 3, 2, 1),
  cfg('3x3 s2 p1, Cin 1', 1, 1, 7, 9, 6, 3, 2, 1),
  cfg('1x1 s2 p0 (downsample)', 2, 5, 7, 9, 6, 1, 2, 0),
  cfg('3x3 s1 p1 with bias (head)', 2, 5, 7, 9, 6, 3, 1, 1, true),
  cfg('3x3 with bias, Cout 1', 1, 3, 9, 6, 1, 3, 1, 1, true),
  cfg('non-square 3x5 kernel, stride [2,1], padding [1,2]', 2, 3, 7, 9, 6, [3, 5], [2, 1], [1, 2], true),
  cfg('2x2 s2 p0, even kernel', 1, 3, 9, 6, 6, 2, 2, 0),
  cfg('more channels than a tile: 3x3 s1 p1, 13 -> 11', 1, 13, 7, 9, 11, 3, 1, 1, true),
];

describe('conv2d forward vs f64 CPU reference', () => {
  for (const c of FORWARD) {
    it(`${c.name}: N=${c.N} ${c.C}->${c.Co} ${c.H}x${c.W}`, async () => {
      const d = makeData(c, 100);
      const got = await gpuForward(c, d);
      expectClose(got, convRef(c, d.x, d.w, d.b), 1e-5, c.name);
    });
  }
});

// ---------------------------------------------------------------- backward

const TINY: Config[] = [
  cfg('7x7 s2 p3 (stem)', 1, 1, 5, 6, 2, 7, 2, 3),
  cfg('3x3 s1 p1', 2, 2, 4, 5, 3, 3, 1, 1),
  cfg('3x3 s2 p1', 1, 2, 5, 6, 3, 3, 2, 1),
  cfg('1x1 s2 p0', 2, 3, 5, 4, 2, 1, 2, 0),
  cfg('3x3 s1 p1 with bias', 1, 2, 5, 4, 3, 3, 1, 1, true),
  cfg('3x5 kernel, stride [2,1], padding [1,2], bias', 1, 2, 5, 6, 2, [3, 5], [2, 1], [1, 2], true),
];

describe('conv2d gradients vs finite differences of the CPU reference (f64)', () => {
  for (const c of TINY) {
    it(`${c.name}: N=${c.N} ${c.C}->${c.Co} ${c.H}x${c.W}`, async () => {
      const d = makeData(c, 200);
      const g = await gpuGrads(c, d);
      const loss = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): number => {
        const y = convRef(c, x, w, b);
        let s = 0;
        for (let i = 0; i < y.length; i++) s += y[i] * d.r[i];
        return s;
      };
      expectClose(g.dx, finiteDifferences((x) => loss(x, d.w, d.b), d.x), 1e-4, `${c.name} dx`);
      expectClose(g.dw, finiteDifferences((w) => loss(d.x, w, d.b), d.w), 1e-4, `${c.name} dw`);
      if (d.b) expectClose(g.db!, finiteDifferences((b) => loss(d.x, d.w, b), d.b), 1e-4, `${c.name} db`);
    });
  }
});

const BIGGER: Config[] = [
  cfg('7x7 s2 p3 (stem)', 2, 1, 17, 14, 8, 7, 2, 3),
  cfg('3x3 s1 p1', 2, 13, 11, 9, 10, 3, 1, 1),
  cfg('3x3 s2 p1', 2, 9, 13, 10, 12, 3, 2, 1),
  cfg('1x1 s2 p0', 2, 10, 9, 11, 7, 1, 2, 0),
  cfg('3x3 s1 p1 with bias, Cout 19 (head)', 2, 6, 10, 7, 19, 3, 1, 1, true),
  cfg('3x5 kernel, stride [1,3], padding [2,0], bias', 1, 5, 8, 13, 6, [3, 5], [1, 3], [2, 0], true),
  cfg('1x9 kernel (wider than the row-tiled wgrad takes), padding [0,4]', 1, 3, 5, 12, 4, [1, 9], 1, [0, 4], true),
];

describe('conv2d gradients vs the CPU analytic gradients', () => {
  for (const c of BIGGER) {
    it(`${c.name}: N=${c.N} ${c.C}->${c.Co} ${c.H}x${c.W}`, async () => {
      const d = makeData(c, 300);
      const g = await gpuGrads(c, d);
      const ref = convGradRef(c, d.x, d.w, d.r);
      expectClose(g.y, convRef(c, d.x, d.w, d.b), 1e-5, `${c.name} y`);
      expectClose(g.dx, ref.dx, 1e-5, `${c.name} dx`);
      expectClose(g.dw, ref.dw, 1e-5, `${c.name} dw`);
      if (d.b) expectClose(g.db!, ref.db, 1e-5, `${c.name} db`);
    });
  }

  it('wgrad gives the same result unsplit and split into one partial sum per output row, deterministically', async () => {
    const c = cfg('1x1 s1 p0, long K', 3, 2, 40, 9, 3, 1, 1, 0, true);
    const d = makeData(c, 400);
    const ref = convGradRef(c, d.x, d.w, d.r);
    const saved = tuning().targetInvocations;
    try {
      for (const target of [1, 1e9]) {
        tuning().targetInvocations = target; // 1: no split; 1e9: as many splits as rows (120)
        for (const wgrad of [{ tm: 8, tn: 4, rows: true }, { tm: 4, tn: 4 }] as ConvTile[]) {
          const savedTile = tuning().wgrad;
          tuning().wgrad = wgrad;
          try {
            const g1 = await gpuGrads(c, d);
            const g2 = await gpuGrads(c, d);
            expectClose(g1.dw, ref.dw, 1e-5, `dw (target ${target})`);
            expectClose(g1.db!, ref.db, 1e-5, `db (target ${target})`);
            expect(Array.from(g2.dw)).toEqual(Array.from(g1.dw));
            expect(Array.from(g2.db!)).toEqual(Array.from(g1.db!));
          } finally {
            tuning().wgrad = savedTile;
          }
        }
      }
    } finally {
      tuning().targetInvocations = saved;
    }
  });

  it('only the gradients that are needed are computed (x without requiresGrad, frozen bias)', async () => {
    const e = engine();
    const c = cfg('3x3 s2 p1', 1, 3, 7, 6, 5, 3, 2, 1, true);
    const d = makeData(c, 500);
    const [Ho, Wo] = outSize(c);
    const x = e.tensor(d.x, [c.N, c.C, c.H, c.W]);
    const w = e.tensor(d.w, [c.Co, c.C, c.kh, c.kw], { requiresGrad: true });
    const b = e.tensor(d.b!, [c.Co]);
    e.scope(() => backward(sum(mul(conv2d(x, w, b, { stride: 2, padding: 1 }), e.tensor(d.r, [c.N, c.Co, Ho, Wo])))));
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    expectClose(await w.grad!.read(), convGradRef(c, d.x, d.w, d.r).dw, 1e-5, 'dw');
    for (const t of [x, w, w.grad, b]) t?.dispose();
  });
});

// ---------------------------------------------------------------- tile variants

describe('conv2d tile variants (override constants) give the same results', () => {
  const variants: ConvTile[] = [
    { tm: 4, tn: 4 },
    { tm: 8, tn: 4 },
    { tm: 4, tn: 8 },
    { tm: 8, tn: 3 },
    { tm: 4, tn: 1 },
    { tm: 8, tn: 4, rows: true },
    { tm: 4, tn: 7, rows: true },
    { tm: 8, tn: 8, rows: true },
    { tm: 4, tn: 4, rows: true },
    { tm: 4, tn: 2, rows: true },
    { tm: 8, tn: 8, rows: true, flat: true },
    { tm: 4, tn: 3, rows: true, flat: true },
  ];
  const configs = [
    cfg('3x3 s2 p1 with bias', 2, 9, 9, 7, 11, 3, 2, 1, true),
    cfg('7x7 s2 p3', 1, 2, 11, 10, 5, 7, 2, 3, true),
    cfg('3x5 kernel, stride [1,2], padding [2,1]', 1, 3, 7, 9, 6, [3, 5], [1, 2], [2, 1], true),
  ];
  for (const v of variants) {
    it(`TM=${v.tm} TN=${v.tn}${v.flat ? ' (row-tiled, taps unrolled)' : v.rows ? ' (row-tiled)' : ' (column-interleaved)'}`, async () => {
      const saved = { forward: tuning().forward, dgrad: tuning().dgrad, wgrad: tuning().wgrad };
      Object.assign(tuning(), { forward: v, dgrad: v, wgrad: v });
      try {
        for (const c of configs) {
          const d = makeData(c, 600);
          const g = await gpuGrads(c, d);
          const ref = convGradRef(c, d.x, d.w, d.r);
          expectClose(g.y, convRef(c, d.x, d.w, d.b), 1e-5, `${c.name} y`);
          expectClose(g.dx, ref.dx, 1e-5, `${c.name} dx`);
          expectClose(g.dw, ref.dw, 1e-5, `${c.name} dw`);
          expectClose(g.db!, ref.db, 1e-5, `${c.name} db`);
        }
      } finally {
        Object.assign(tuning(), saved);
      }
    });
  }
});

describe('conv2d row-tiled kernels with loads shared through subgroupBroadcast (the conv2d_subgroups variant)', () => {
  it('is used only where the adapter has subgroups of at least 4 invocations', () => {
    const fake = (features: string[], subgroupMinSize?: number) =>
      ({ features: new Set(features), adapter: { subgroupMinSize } }) as unknown as Parameters<typeof conv2dSubgroupsSupported>[0];
    expect(conv2dSubgroupsSupported(fake([]))).toBe(false);
    expect(conv2dSubgroupsSupported(fake(['subgroups']))).toBe(false); // size not reported: not assumed
    expect(conv2dSubgroupsSupported(fake(['subgroups'], 2))).toBe(false);
    expect(conv2dSubgroupsSupported(fake(['subgroups'], 4))).toBe(true);
    expect(conv2dSubgroupsSupported(fake(['subgroups'], 32))).toBe(true);
  });
  it('runs one pipeline per kernel shape at every image size (idle subgroups return), wgrad split by the busy ones', () => {
    const device: ConvDevice = { limits: engine().limits, features: new Set(['subgroups']), adapter: { ...engine().adapter, subgroupMinSize: 4 } };
    const t = { ...tuning(), forward: null, dgrad: null, wgrad: null, tuned: new Map(), subgroups: true, targetInvocations: null };
    const at = (h: number, w: number) => geometry({ shape: [1, 64, h, w] }, { shape: [64, 64, 3, 3] }, null, { padding: 1 });
    // 40x32, 20x16 and 10x8 have 160, 40 and 10 row tiles of 8 pixels: one forward_flat, dgrad_flat and wgrad_rows each.
    const sizes = [at(40, 32), at(20, 16), at(10, 8)];
    for (const plan of [forwardPlan, dgradPlan, (e: ConvDevice, g: ReturnType<typeof at>) => wgradPlan(e, g, t).partial] as const) {
      const constants = sizes.map((g) => JSON.stringify(plan(device, g, t).constants));
      expect(new Set(constants).size, constants.join(' | ')).toBe(1);
    }
    expect(forwardPlan(device, at(10, 8), t).constants.WGX).toBe(64);
    // 16 input channels: 48 channel rows, 24 wgrad tiles of 2, so 24 busy invocations in each workgroup of 64; the
    // split of K is sized by those (8 channel-tile workgroups x 24 = 192: 11 splits of the 40 rows for ~2048).
    const narrow = wgradPlan(device, geometry({ shape: [1, 16, 40, 32] }, { shape: [64, 16, 3, 3] }, null, { padding: 1 }), t);
    expect(narrow.partial.grid.slice(0, 2)).toEqual([1, 8]);
    expect(narrow.splits).toBe(Math.ceil(40 / Math.ceil(40 / Math.ceil(2048 / 192))));
    // The stem's 7x7/2: at most 32 taps x pixels unrolled (4 pixels, a window of 13), not 8 (56, a window of 21).
    const stem = forwardPlan(device, geometry({ shape: [1, 1, 160, 128] }, { shape: [64, 1, 7, 7] }, null, { stride: 2, padding: 3 }), t);
    expect([stem.entry, stem.constants.TN, stem.constants.WINC]).toEqual(['forward_flat', 4, 13]);
  });
  // Odd channel counts (last channel tile partly past Cout or Cin), strides, wide kernels, and images whose rows
  // end inside a tile: every lane of a subgroup must still load its share, masked lanes included.
  const configs = [...BIGGER, cfg('3x3 s1 p1, 17->9 channels', 1, 17, 6, 5, 9, 3, 1, 1, true)];
  for (const [tm, flat] of [[4, false], [8, false], [8, true]] as const) {
    it(`TM=${tm}${flat ? ', taps unrolled' : ''}: forward, dgrad and wgrad equal the CPU reference and the plain kernels`, async (ctx) => {
      if (!conv2dSubgroupsSupported(engine())) ctx.skip('this adapter has no subgroups of >= 4 invocations');
      const saved = { forward: tuning().forward, dgrad: tuning().dgrad, wgrad: tuning().wgrad, subgroups: tuning().subgroups };
      const tile: ConvTile = { tm, tn: 8, rows: true, flat };
      Object.assign(tuning(), { forward: tile, dgrad: tile, wgrad: tile });
      try {
        for (const c of configs) {
          const d = makeData(c, 900 + tm);
          tuning().subgroups = true;
          const sg = await gpuGrads(c, d);
          tuning().subgroups = false;
          const plain = await gpuGrads(c, d);
          const ref = convGradRef(c, d.x, d.w, d.r);
          expectClose(sg.y, convRef(c, d.x, d.w, d.b), 1e-5, `${c.name} y`);
          expectClose(sg.dx, ref.dx, 1e-5, `${c.name} dx`);
          expectClose(sg.dw, ref.dw, 1e-5, `${c.name} dw`);
          if (d.b) expectClose(sg.db!, ref.db, 1e-5, `${c.name} db`);
          // Same sums in the same order: the variants agree to the last bit.
          expect(Array.from(sg.y)).toEqual(Array.from(plain.y));
          expect(Array.from(sg.dx)).toEqual(Array.from(plain.dx));
          expect(Array.from(sg.dw)).toEqual(Array.from(plain.dw));
        }
      } finally {
        Object.assign(tuning(), saved);
      }
    });
  }
});

// ---------------------------------------------------------------- PyTorch parity

interface FixtureCase {
  name: string;
  x_shape: number[];
  w_shape: number[];
  stride: [number, number];
  padding: [number, number];
  x: number[];
  w: number[];
  b: number[] | null;
  y: number[];
  gy: number[];
  gx: number[];
  gw: number[];
  gb: number[] | null;
}

describe('conv2d matches PyTorch (test/fixtures/conv2d.json)', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/conv2d.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] };
  for (const f of fixture.cases) {
    it(f.name, async () => {
      const [N, C, H, W] = f.x_shape;
      const [Co, , kh, kw] = f.w_shape;
      const c: Config = { name: f.name, N, C, H, W, Co, kh, kw, stride: f.stride, padding: f.padding, bias: f.b !== null };
      const g = await gpuGrads(c, { x: Float32Array.from(f.x), w: Float32Array.from(f.w), b: f.b ? Float32Array.from(f.b) : null, r: Float32Array.from(f.gy) });
      expectClose(g.y, f.y, 1e-4, `${f.name} y`);
      expectClose(g.dx, f.gx, 1e-3, `${f.name} dx`);
      expectClose(g.dw, f.gw, 1e-3, `${f.name} dw`);
      if (f.gb) expectClose(g.db!, f.gb, 1e-3, `${f.name} db`);
    });
  }
});

// ---------------------------------------------------------------- bad input

describe('conv2d rejects bad input before dispatching', () => {
  const t = (shape: number[]): Tensor => engine().zeros(shape);
  const cases: [string, () => unknown, RegExp][] = [
    ['x not 4-D', () => conv2d(t([3, 8, 8]), t([4, 3, 3, 3]), null), /^conv2d: x must be 4-D \[N, C, H, W\], got \[3,8,8\]/],
    ['weight not 4-D', () => conv2d(t([1, 3, 8, 8]), t([4, 27]), null), /^conv2d: weight must be 4-D \[Cout, Cin, kh, kw\], got \[4,27\]/],
    ['channel mismatch', () => conv2d(t([1, 3, 8, 8]), t([4, 5, 3, 3]), null), /^conv2d: channel mismatch, x \[1,3,8,8\] has 3 channels but weight \[4,5,3,3\] expects Cin = 5/],
    ['bias of the wrong length', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), t([5])), /^conv2d: bias must have shape \[4\] .*got \[5\]/],
    ['bias not 1-D', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), t([4, 1])), /^conv2d: bias must have shape \[4\] .*got \[4,1\]/],
    ['kernel larger than the padded input', () => conv2d(t([1, 1, 3, 3]), t([2, 1, 7, 7]), null, { padding: 1 }), /^conv2d: kernel 7x7 .* larger than the padded input 5x5 \(x \[1,1,3,3\], padding \[1,1\]\)/],
    ['kernel larger in one axis only', () => conv2d(t([1, 1, 8, 2]), t([2, 1, 3, 3]), null), /^conv2d: kernel 3x3 .* larger than the padded input 8x2/],
    ['stride 0', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { stride: 0 }), /^conv2d: stride must be a positive integer .*got 0/],
    ['fractional stride', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { stride: [1, 1.5] }), /^conv2d: stride must be a positive integer .*got \[1,1.5\]/],
    ['negative padding', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { padding: -1 }), /^conv2d: padding must be a non-negative integer .*got -1/],
    ['padding with three values', () => conv2d(t([1, 3, 8, 8]), t([4, 3, 3, 3]), null, { padding: [1, 1, 1] as unknown as [number, number] }), /^conv2d: padding must be .*got \[1,1,1\]/],
    ['disposed input', () => {
      const x = t([1, 3, 8, 8]);
      x.dispose();
      return conv2d(x, t([4, 3, 3, 3]), null);
    }, /^conv2d: x .* was disposed/],
  ];
  for (const [name, fn, re] of cases) {
    it(name, () => {
      const e = engine();
      e.scope(() => {
        const tapeBefore = e.tape.length;
        expect(fn).toThrow(re);
        expect(e.tape.length).toBe(tapeBefore);
      });
    });
  }

  it('dy of the wrong shape (kernel entry for benchmarks)', () => {
    const e = engine();
    e.scope(() => {
      expect(() => conv2dKernels.dgrad(t([1, 4, 7, 8]), t([1, 3, 8, 8]), t([4, 3, 3, 3]), { padding: 1 })).toThrow(
        /^conv2d: dy must have the output's shape \[1,4,8,8\], got \[1,4,7,8\]/,
      );
    });
  });
});
