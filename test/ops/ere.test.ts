// expectedRadialError: ERE, mode probability and argmax against an f64 CPU reference (odd shapes, ties,
// anisotropic pixel sizes, a cutoff that removes most pixels, a long map), golden parity with the reference's
// evaluate.py (scripts/fixtures/softmax_nll.py), and input checks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectedRadialError } from '../../src/ops/ere.ts';
import { asGpuAdapter, useEngine } from '../helpers/gpu.ts';
import { expectClose, randomArray } from '../helpers/reference.ts';
import { full } from '../../src/ops/fill.ts';

const engine = useEngine();

type Shape4 = [number, number, number, number];

interface EreResult {
  ere: ArrayLike<number>;
  modeProb: ArrayLike<number>;
  argmax: ArrayLike<number>;
}

/** f64 reference: softmax(x / T), first argmax, mode probability, ERE over pixels with p > cutoff * max p. */
function refEre(x: ArrayLike<number>, temps: ArrayLike<number>, pix: ArrayLike<number>, [n, l, h, w]: Shape4, cutoff: number): EreResult & { kept: number[] } {
  const hw = h * w;
  const ere: number[] = [];
  const modeProb: number[] = [];
  const argmax: number[] = [];
  const kept: number[] = [];
  for (let m = 0; m < n * l; m++) {
    const t = temps[m % l];
    const img = Math.floor(m / l);
    const [sx, sy] = [pix[2 * img], pix[2 * img + 1]];
    const z = Array.from({ length: hw }, (_, i) => x[m * hw + i] / t);
    let best = 0;
    for (let i = 1; i < hw; i++) if (z[i] > z[best]) best = i;
    const p = z.map((v) => Math.exp(v - z[best]));
    const s = p.reduce((a, b) => a + b, 0);
    const ax = best % w;
    const ay = Math.floor(best / w);
    let wsum = 0;
    let dsum = 0;
    let k = 0;
    for (let i = 0; i < hw; i++) {
      if (p[i] / p[best] > cutoff) {
        const dx = ((i % w) - ax) * sx;
        const dy = (Math.floor(i / w) - ay) * sy;
        wsum += p[i];
        dsum += p[i] * Math.hypot(dx, dy);
        k++;
      }
    }
    ere.push(dsum / wsum);
    modeProb.push(1 / s);
    argmax.push(best);
    kept.push(k);
  }
  return { ere, modeProb, argmax, kept };
}

/** The adapter class the kernel is shaped for: 'cpu' (this adapter: 4 invocations per map) or 'gpu' (256). */
type Width = 'cpu' | 'gpu';

async function runGpu(x: Float32Array, shape: Shape4, temps: ArrayLike<number>, pix: ArrayLike<number>, cutoff?: number, width: Width = 'cpu'): Promise<EreResult> {
  if (width === 'gpu') return asGpuAdapter(engine(), () => runGpu(x, shape, temps, pix, cutoff));
  const e = engine();
  const [n, l] = shape;
  const lx = e.tensor(x, shape, { label: 'logits' });
  const lt = e.tensor(Float32Array.from(temps), [l], { label: 'temperatures' });
  const lp = e.tensor(Float32Array.from(pix), [n, 2], { label: 'pixelSizeMm' });
  const out = expectedRadialError(lx, lt, lp, cutoff === undefined ? {} : { cutoff });
  const [ere, modeProb, argmax] = await Promise.all([out.ere.read(), out.modeProb.read(), out.argmax.read()]);
  expect(argmax).toBeInstanceOf(Int32Array);
  for (const t of [lx, lt, lp, out.ere, out.modeProb, out.argmax]) t.dispose();
  return { ere, modeProb, argmax };
}

function compare(got: EreResult, ref: EreResult, what: string): void {
  expect(Array.from(got.argmax), `${what}: argmax`).toEqual(Array.from(ref.argmax));
  expectClose(got.modeProb, ref.modeProb, 1e-5, `${what}: modeProb`);
  for (let i = 0; i < ref.ere.length; i++) {
    const err = Math.abs(got.ere[i] - ref.ere[i]) / Math.max(Math.abs(ref.ere[i]), 1e-6);
    if (!(err <= 1e-4)) throw new Error(`${what}: ere[${i}] = ${got.ere[i]}, expected ${ref.ere[i]} (relative error ${err.toExponential(3)})`);
  }
}

// Both workgroup widths of ere.wgsl: the ties cross threads differently in each.
describe.each<Width>(['cpu', 'gpu'])('expectedRadialError against an f64 reference (%s workgroups)', (width) => {
  const cases: { shape: Shape4; lo: number; hi: number; temps: number[]; pix: number[]; cutoff?: number }[] = [
    { shape: [1, 1, 7, 9], lo: -2, hi: 2, temps: [0.8], pix: [0.1, 0.1] },
    { shape: [3, 4, 33, 17], lo: -3, hi: 3, temps: [1, 0.5, 2.5, 0.9], pix: [0.1, 0.25, 0.3, 0.1, 0.12, 0.12] },
    { shape: [2, 1, 13, 11], lo: -50, hi: 50, temps: [7], pix: [0.2, 0.1, 1, 2], cutoff: 0.01 },
    { shape: [1, 2, 300, 200], lo: -4, hi: 4, temps: [1.3, 0.6], pix: [0.1, 0.13] },
  ];
  for (const { shape, lo, hi, temps, pix, cutoff } of cases) {
    it(`${shape.join('x')}, logits in [${lo}, ${hi}], T = ${temps.join(',')}, cutoff ${cutoff ?? 0.05}`, async () => {
      const [n, l, h, w] = shape;
      const x = randomArray(n * l * h * w, 200 + h, lo, hi);
      const got = await runGpu(x, shape, temps, pix, cutoff, width);
      compare(got, refEre(x, temps, pix, shape, cutoff ?? 0.05), shape.join('x'));
    });
  }

  it('ties go to the first pixel in scan order, across and within threads', async () => {
    // 20x20 maps: all equal; maxima at 37 and 290 (different threads); at 299 and 300; at 44 and 300 (same thread).
    const shape: Shape4 = [1, 4, 20, 20];
    const hw = 400;
    const x = randomArray(4 * hw, 7, -1, 0);
    x.fill(0.5, 0, hw);
    for (const [m, i] of [[1, 290], [1, 37], [2, 300], [2, 299], [3, 300], [3, 44]]) x[m * hw + i] = 3;
    const temps = [1, 0.7, 1.5, 2];
    const pix = [0.1, 0.2];
    const got = await runGpu(x, shape, temps, pix, undefined, width);
    const ref = refEre(x, temps, pix, shape, 0.05);
    expect(Array.from(got.argmax)).toEqual([0, 37, 299, 44]);
    compare(got, ref, 'ties');
    expect(got.modeProb[0]).toBeCloseTo(1 / hw, 9);
  });

  it('a peaked map where the cutoff removes most pixels, anisotropic pixels', async () => {
    const shape: Shape4 = [2, 1, 40, 50];
    const [, , h, w] = shape;
    const x = new Float32Array(2 * h * w);
    // A Gaussian bump (log-probability quadratic) centred off-grid, plus noise.
    const noise = randomArray(x.length, 9, 0, 0.3);
    for (let m = 0; m < 2; m++) {
      for (let y = 0; y < h; y++) {
        for (let c = 0; c < w; c++) {
          const i = m * h * w + y * w + c;
          x[i] = -(((c - 31.3) / 2.5) ** 2 + ((y - 12.6) / 4) ** 2) + noise[i];
        }
      }
    }
    for (const cutoff of [0.05, 0.3]) {
      const pix = [0.1, 0.3, 0.25, 0.05];
      const ref = refEre(x, [1], pix, shape, cutoff);
      expect(Math.max(...ref.kept)).toBeLessThan(h * w / 10);
      expect(Math.min(...ref.kept)).toBeGreaterThan(3);
      compare(await runGpu(x, shape, [1], pix, cutoff, width), ref, `peaked, cutoff ${cutoff}`);
    }
  });

  it('cutoff 0 keeps every pixel', async () => {
    const shape: Shape4 = [1, 1, 6, 5];
    const x = randomArray(30, 13, -20, 20);
    const ref = refEre(x, [1], [0.5, 0.5], shape, 0);
    expect(ref.kept[0]).toBe(30);
    compare(await runGpu(x, shape, [1], [0.5, 0.5], 0, width), ref, 'cutoff 0');
  });
});

interface EreFixture {
  name: string;
  shape: Shape4;
  logits: number[];
  temperatures: number[];
  pixelSizeMm: number[];
  cutoff: number;
  ere: number[];
  modeProb: number[];
  argmax: number[];
}

describe('expectedRadialError golden parity with the reference evaluate.py', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/softmax_nll.json', import.meta.url), 'utf8')) as { ere: EreFixture[] };
  for (const c of fixture.ere) {
    it(c.name, async () => {
      const got = await runGpu(Float32Array.from(c.logits), c.shape, c.temperatures, c.pixelSizeMm, c.cutoff);
      compare(got, { ere: c.ere, modeProb: c.modeProb, argmax: c.argmax }, c.name);
    });
  }
});

describe('expectedRadialError input checks', () => {
  it('rejects bad shapes and options before any dispatch', () => {
    const e = engine();
    const x4 = e.zeros([2, 3, 4, 5]);
    const x2 = e.zeros([4, 5]);
    const t3 = full(e, [3], 1);
    const t4 = full(e, [4], 1);
    const p = full(e, [2, 2], 0.1);
    const p1 = full(e, [2], 0.1);
    const pi = e.zeros([2, 2], { dtype: 'i32' });
    expect(() => expectedRadialError(x2, t3, p)).toThrow(/^expectedRadialError: logits must be 4-D/);
    expect(() => expectedRadialError(x4, t4, p)).toThrow(/^expectedRadialError: temperatures must be \[L\] = \[3\]/);
    expect(() => expectedRadialError(x4, t3, p1)).toThrow(/^expectedRadialError: pixelSizeMm must be \[N, 2\] = \[2, 2\]/);
    expect(() => expectedRadialError(x4, t3, pi)).toThrow(/^expectedRadialError: pixelSizeMm .* has dtype i32, expected f32/);
    expect(() => expectedRadialError(x4, t3, p, { cutoff: 1 })).toThrow(/^expectedRadialError: cutoff must be a number in \[0, 1\)/);
    expect(() => expectedRadialError(x4, t3, p, { cutoff: -0.1 })).toThrow(/cutoff/);
    expect(() => expectedRadialError(x4, t3, p, { cutoff: Number.NaN })).toThrow(/cutoff/);
    for (const t of [x4, x2, t3, t4, p, p1, pi]) t.dispose();
  });
});
