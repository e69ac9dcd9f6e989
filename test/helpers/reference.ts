// Plain-TypeScript helpers for CPU references and finite differences, in f64.

import { mulberry32 as rng } from '../../src/engine/random.ts';

export { rng };

/** n uniform values in [lo, hi). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Largest |a - b| divided by the largest |b| (or 1 if b is all zeros): "relative to the max". */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (scale || 1);
}

/**
 * Central finite differences of a scalar function f at x, in f64: df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / 2h.
 * `indices` limits the check to some coordinates (large inputs).
 */
export function finiteDifferences(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-3, indices?: number[]): Float64Array {
  const xs = Float64Array.from(x);
  const grad = new Float64Array(xs.length);
  for (const i of indices ?? xs.keys()) {
    const keep = xs[i];
    xs[i] = keep + h;
    const fp = f(xs);
    xs[i] = keep - h;
    const fm = f(xs);
    xs[i] = keep;
    grad[i] = (fp - fm) / (2 * h);
  }
  return grad;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, relTol: number, what: string): void {
  const err = maxRelError(actual, expected);
  if (!(err <= relTol)) {
    let worst = 0;
    for (let i = 0; i < actual.length; i++) if (Math.abs(actual[i] - expected[i]) > Math.abs(actual[worst] - expected[worst])) worst = i;
    throw new Error(`${what}: max relative error ${err.toExponential(3)} > ${relTol} (worst at ${worst}: got ${actual[worst]}, expected ${expected[worst]})`);
  }
}

/** x rounded to f16 (round to nearest, ties to even; subnormals kept; clamped to +-65504 as the pack does). */
export function f16(x: number): number {
  const a = Math.abs(x);
  if (a >= 65504) return Math.sign(x) * 65504;
  if (a === 0) return x;
  let e = Math.max(Math.floor(Math.log2(a)), -14);
  if (2 ** e > a && e > -14) e--;
  const q = 2 ** (e - 10);
  const r = a / q;
  const fl = Math.floor(r);
  const rounded = r - fl > 0.5 || (r - fl === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return Math.sign(x) * rounded * q;
}
