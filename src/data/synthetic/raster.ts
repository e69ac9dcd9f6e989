// Raster primitives of the synthetic cephalograms, on float images (W x H, rows top to bottom): polygon fills,
// Gaussian-profile strokes along sampled curves, and a separable blur.
import type { Curve } from './geometry.ts';

/** Adds `value` inside the polygon (even-odd rule, pixel centres). */
export function fillPolygon(img: Float32Array, W: number, H: number, xs: ArrayLike<number>, ys: ArrayLike<number>, value: number): void {
  const rows: number[][] = Array.from({ length: H }, () => []);
  const n = xs.length;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const x0 = xs[i];
    const y0 = ys[i];
    const x1 = xs[j];
    const y1 = ys[j];
    if (y0 === y1) continue;
    const lo = Math.min(y0, y1);
    const hi = Math.max(y0, y1);
    const r0 = Math.max(0, Math.ceil(lo - 0.5));
    const r1 = Math.min(H - 1, Math.ceil(hi - 0.5) - 1);
    for (let r = r0; r <= r1; r++) {
      const yc = r + 0.5;
      rows[r].push(x0 + ((yc - y0) / (y1 - y0)) * (x1 - x0));
    }
  }
  for (let r = 0; r < H; r++) {
    const xsr = rows[r];
    if (xsr.length < 2) continue;
    xsr.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xsr.length; k += 2) {
      const c0 = Math.max(0, Math.ceil(xsr[k] - 0.5));
      const c1 = Math.min(W - 1, Math.ceil(xsr[k + 1] - 0.5) - 1);
      for (let c = c0; c <= c1; c++) img[r * W + c] += value;
    }
  }
}

/** Draws curves as Gaussian-profile strokes; keeps one distance buffer for all of them. */
export class StrokeRenderer {
  private readonly d2: Float32Array;
  constructor(
    private readonly W: number,
    private readonly H: number,
  ) {
    this.d2 = new Float32Array(W * H).fill(Infinity);
  }

  /** Adds amp * exp(-d^2 / 2 sigma^2), d the distance to the polyline (every `stride`-th sample of the curve). */
  draw(img: Float32Array, c: Curve, amp: number, sigma: number): void {
    const { W, H, d2 } = this;
    const reach = 3.5 * sigma;
    const stride = Math.max(1, Math.floor(sigma / 2));
    const idx: number[] = [];
    for (let i = 0; i < c.xs.length; i += stride) idx.push(i);
    if (idx[idx.length - 1] !== c.xs.length - 1) idx.push(c.xs.length - 1);
    if (c.closed) idx.push(0);
    let bx0 = W;
    let by0 = H;
    let bx1 = -1;
    let by1 = -1;
    for (let s = 0; s + 1 < idx.length; s++) {
      const ax = c.xs[idx[s]];
      const ay = c.ys[idx[s]];
      const ex = c.xs[idx[s + 1]];
      const ey = c.ys[idx[s + 1]];
      const x0 = Math.max(0, Math.floor(Math.min(ax, ex) - reach));
      const x1 = Math.min(W - 1, Math.ceil(Math.max(ax, ex) + reach));
      const y0 = Math.max(0, Math.floor(Math.min(ay, ey) - reach));
      const y1 = Math.min(H - 1, Math.ceil(Math.max(ay, ey) + reach));
      if (x0 > x1 || y0 > y1) continue;
      bx0 = Math.min(bx0, x0);
      by0 = Math.min(by0, y0);
      bx1 = Math.max(bx1, x1);
      by1 = Math.max(by1, y1);
      const vx = ex - ax;
      const vy = ey - ay;
      const vv = vx * vx + vy * vy || 1e-12;
      for (let y = y0; y <= y1; y++) {
        const py = y + 0.5 - ay;
        for (let x = x0; x <= x1; x++) {
          const px = x + 0.5 - ax;
          let t = (px * vx + py * vy) / vv;
          t = t < 0 ? 0 : t > 1 ? 1 : t;
          const dx = px - t * vx;
          const dy = py - t * vy;
          const dd = dx * dx + dy * dy;
          const o = y * W + x;
          if (dd < d2[o]) d2[o] = dd;
        }
      }
    }
    const inv = -1 / (2 * sigma * sigma);
    const cut = reach * reach;
    for (let y = by0; y <= by1; y++) {
      for (let x = bx0; x <= bx1; x++) {
        const o = y * W + x;
        const dd = d2[o];
        if (dd < cut) img[o] += amp * Math.exp(dd * inv);
        d2[o] = Infinity;
      }
    }
  }
}

/** Three box blurs (about a Gaussian of std sigma), separable, edges clamped. */
export function blur(img: Float32Array, W: number, H: number, sigma: number): void {
  const w = Math.sqrt(4 * sigma * sigma + 1);
  const r = Math.max(0, Math.round((w - 1) / 2));
  if (r === 0) return;
  blurRows(img, W, H, r);
  blurColumns(img, W, H, r);
}

/** Three running-sum box blurs of radius r along each row. */
function blurRows(img: Float32Array, W: number, H: number, r: number): void {
  let line = new Float32Array(W);
  let out = new Float32Array(W);
  const norm = 1 / (2 * r + 1);
  for (let l = 0; l < H; l++) {
    const base = l * W;
    for (let k = 0; k < W; k++) line[k] = img[base + k];
    for (let rep = 0; rep < 3; rep++) {
      let acc = 0;
      for (let k = -r - 1; k < r; k++) acc += line[k < 0 ? 0 : k >= W ? W - 1 : k];
      for (let k = 0; k < W; k++) {
        const add = k + r >= W ? W - 1 : k + r;
        const sub = k - r - 1 < 0 ? 0 : k - r - 1;
        acc += line[add] - line[sub];
        out[k] = acc * norm;
      }
      const t = line;
      line = out;
      out = t;
    }
    for (let k = 0; k < W; k++) img[base + k] = line[k];
  }
}

/** The same along columns, whole rows at a time (cache-friendly). */
function blurColumns(img: Float32Array, W: number, H: number, r: number): void {
  const norm = 1 / (2 * r + 1);
  let src = img.slice();
  let dst = new Float32Array(W * H);
  const acc = new Float64Array(W);
  for (let rep = 0; rep < 3; rep++) {
    acc.fill(0);
    for (let k = -r - 1; k < r; k++) {
      const o = (k < 0 ? 0 : k >= H ? H - 1 : k) * W;
      for (let x = 0; x < W; x++) acc[x] += src[o + x];
    }
    for (let k = 0; k < H; k++) {
      const a = (k + r >= H ? H - 1 : k + r) * W;
      const b = (k - r - 1 < 0 ? 0 : k - r - 1) * W;
      const o = k * W;
      for (let x = 0; x < W; x++) {
        acc[x] += src[a + x] - src[b + x];
        dst[o + x] = acc[x] * norm;
      }
    }
    const t = src;
    src = dst;
    dst = t;
  }
  img.set(src);
}
