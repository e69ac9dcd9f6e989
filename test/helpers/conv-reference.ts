// CPU references of conv2d in f64 (PyTorch's semantics, written as plain loops: the forward as a gather, the
// gradients as scatters, so they share nothing with the GPU's formulation) and random test data, for the conv2d tests.
import { randomArray } from './reference.ts';

export interface Config {
  name: string;
  N: number;
  C: number;
  H: number;
  W: number;
  Co: number;
  kh: number;
  kw: number;
  stride: [number, number];
  padding: [number, number];
  bias: boolean;
}

export function cfg(name: string, N: number, C: number, H: number, W: number, Co: number, k: number | [number, number], s: number | [number, number], p: number | [number, number], bias = false): Config {
  const kk = typeof k === 'number' ? [k, k] : k;
  const ss = typeof s === 'number' ? [s, s] : s;
  const pp = typeof p === 'number' ? [p, p] : p;
  return { name, N, C, H, W, Co, kh: kk[0], kw: kk[1], stride: [ss[0], ss[1]], padding: [pp[0], pp[1]], bias };
}

/** Shapes with the edges a conv kernel gets wrong: odd sizes, strides, a 1-channel stem, 1x1, non-square kernels. */
export const EDGE_CONFIGS: readonly Config[] = [
  cfg('3x3 s1 p1 with bias, 13 -> 11', 2, 13, 7, 9, 11, 3, 1, 1, true),
  cfg('3x3 s2 p1 with bias', 2, 9, 9, 7, 11, 3, 2, 1, true),
  cfg('7x7 s2 p3, Cin 1 (stem)', 1, 1, 11, 10, 5, 7, 2, 3, true),
  cfg('1x1 s2 p0 (downsample)', 2, 5, 7, 9, 6, 1, 2, 0, true),
  cfg('3x5 kernel, stride [1,2], padding [2,1]', 1, 3, 7, 9, 6, [3, 5], [1, 2], [2, 1], true),
];

export const outSize = (c: Config): [number, number] => [
  Math.floor((c.H + 2 * c.padding[0] - c.kh) / c.stride[0]) + 1,
  Math.floor((c.W + 2 * c.padding[1] - c.kw) / c.stride[1]) + 1,
];

export function convRef(c: Config, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null): Float64Array {
  const [Ho, Wo] = outSize(c);
  const out = new Float64Array(c.N * c.Co * Ho * Wo);
  for (let n = 0; n < c.N; n++)
    for (let co = 0; co < c.Co; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let s = b ? b[co] : 0;
          for (let ci = 0; ci < c.C; ci++)
            for (let ky = 0; ky < c.kh; ky++) {
              const iy = oy * c.stride[0] - c.padding[0] + ky;
              if (iy < 0 || iy >= c.H) continue;
              for (let kx = 0; kx < c.kw; kx++) {
                const ix = ox * c.stride[1] - c.padding[1] + kx;
                if (ix < 0 || ix >= c.W) continue;
                s += w[((co * c.C + ci) * c.kh + ky) * c.kw + kx] * x[((n * c.C + ci) * c.H + iy) * c.W + ix];
              }
            }
          out[((n * c.Co + co) * Ho + oy) * Wo + ox] = s;
        }
  return out;
}

/** Analytic gradients of sum(conv(x) * dy), written as scatters (independent of the GPU's gather formulation). */
export function convGradRef(c: Config, x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [Ho, Wo] = outSize(c);
  const dx = new Float64Array(c.N * c.C * c.H * c.W);
  const dw = new Float64Array(c.Co * c.C * c.kh * c.kw);
  const db = new Float64Array(c.Co);
  for (let n = 0; n < c.N; n++)
    for (let co = 0; co < c.Co; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          const g = dy[((n * c.Co + co) * Ho + oy) * Wo + ox];
          db[co] += g;
          for (let ci = 0; ci < c.C; ci++)
            for (let ky = 0; ky < c.kh; ky++) {
              const iy = oy * c.stride[0] - c.padding[0] + ky;
              if (iy < 0 || iy >= c.H) continue;
              for (let kx = 0; kx < c.kw; kx++) {
                const ix = ox * c.stride[1] - c.padding[1] + kx;
                if (ix < 0 || ix >= c.W) continue;
                const xi = ((n * c.C + ci) * c.H + iy) * c.W + ix;
                const wi = ((co * c.C + ci) * c.kh + ky) * c.kw + kx;
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
            }
        }
  return { dx, dw, db };
}

export interface Data {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array | null;
  r: Float32Array;
}

export function makeData(c: Config, seed: number): Data {
  const [Ho, Wo] = outSize(c);
  return {
    x: randomArray(c.N * c.C * c.H * c.W, seed),
    w: randomArray(c.Co * c.C * c.kh * c.kw, seed + 1, -0.5, 0.5),
    b: c.bias ? randomArray(c.Co, seed + 2) : null,
    r: randomArray(c.N * c.Co * Ho * Wo, seed + 3),
  };
}
