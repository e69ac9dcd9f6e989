// Rendering a synthetic cephalogram from its sampled contours: region fills (soft tissue, brain, bone bodies, teeth),
// Gaussian-profile strokes for cortical bone (fainter on the soft-tissue profile, dark for the airway), a blur, a
// smooth multiplicative intensity field, gain and gamma, Gaussian noise, and 8-bit output. Each step draws from the
// image's Rng in a fixed order.
import type { Rng } from '../../engine/random.ts';
import { posed } from './anatomy.ts';
import type { Pose } from './anatomy.ts';
import type { Curve } from './geometry.ts';

/** The image of the curves, W x H gray levels (rows top to bottom). */
export function renderImage(curves: Map<string, Curve>, pose: Pose, W: number, H: number, rng: Rng): Uint8Array {
  const img = new Float32Array(W * H);
  img.fill(rng.uniform(6, 20));
  fillRegions(img, W, H, curves, pose, rng);
  drawStrokes(img, W, H, curves, Math.sqrt(pose.kx * pose.ky), rng);
  blur(img, W, H, rng.uniform(0.8, 1.6) * (W / 640));
  return expose(img, W, H, rng);
}

/** A random amplitude factor for each fill and stroke. */
const amplitude = (rng: Rng): number => rng.uniform(0.85, 1.15);

/** The samples of the curves end to end (each one forwards or backwards), as one polygon. */
function joinCurves(...parts: { c: Curve; reverse?: boolean }[]): { xs: number[]; ys: number[] } {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const { c, reverse } of parts) {
    for (let j = 0; j < c.xs.length; j++) {
      const i = reverse ? c.xs.length - 1 - j : j;
      xs.push(c.xs[i]);
      ys.push(c.ys[i]);
    }
  }
  return { xs, ys };
}

/** Reference-frame points that close the head outline round the back of the neck, below the image. */
const NECK_BACK: [number, number][] = [[1000, 2520], [250, 2520], [150, 1900], [90, 1500]];

function fillRegions(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, pose: Pose, rng: Rng): void {
  const get = (name: string): Curve => curves.get(name)!;
  // Soft tissue: scalp (back -> top -> forehead), profile (forehead -> neck), then round the back of the neck.
  const head = joinCurves({ c: get('scalp') }, { c: get('softProfile') });
  for (const [x, y] of NECK_BACK) {
    const p = posed(pose, x, y);
    head.xs.push(p.x);
    head.ys.push(p.y);
  }
  fillPolygon(img, W, H, head.xs, head.ys, 42 * amplitude(rng));
  const mid = get('midface');
  fillPolygon(img, W, H, mid.xs, mid.ys, 16 * amplitude(rng));
  const brain = joinCurves({ c: get('vaultInner') }, { c: get('cranialBase'), reverse: true });
  fillPolygon(img, W, H, brain.xs, brain.ys, 22 * amplitude(rng));
  const mand = joinCurves({ c: get('mandible') }, { c: get('ramusAnterior'), reverse: true });
  fillPolygon(img, W, H, mand.xs, mand.ys, 30 * amplitude(rng));
  for (const name of ['palate', 'upperIncisor', 'lowerIncisor']) {
    const c = get(name);
    fillPolygon(img, W, H, c.xs, c.ys, (name === 'palate' ? 38 : 62) * amplitude(rng));
  }
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) fillPolygon(img, W, H, c.xs, c.ys, 68 * amplitude(rng));
    if (c.name.startsWith('vertebra')) fillPolygon(img, W, H, c.xs, c.ys, 38 * amplitude(rng));
  }
}

/** [curve, amplitude, width in reference pixels]: cortical bone bright, the soft-tissue profile faint, the airway dark. */
const STROKES: [string, number, number][] = [
  ['vault', 95, 10],
  ['vaultInner', 68, 7],
  ['cranialBase', 85, 7],
  ['basiocciput', 58, 6],
  ['orbit', 55, 5],
  ['ear', 125, 5],
  ['palate', 65, 5],
  ['maxilla', 65, 6],
  ['upperIncisor', 48, 4],
  ['lowerIncisor', 48, 4],
  ['mandible', 100, 8],
  ['ramusAnterior', 70, 6],
  ['softProfile', 20, 4],
  ['airway', -26, 22],
];

/** The strokes; k converts reference-frame lengths to output pixels. */
function drawStrokes(img: Float32Array, W: number, H: number, curves: Map<string, Curve>, k: number, rng: Rng): void {
  const strokes = new StrokeRenderer(W, H);
  for (const [name, a, s] of STROKES) strokes.draw(img, curves.get(name)!, a * amplitude(rng), s * k);
  for (const c of curves.values()) {
    if (c.name.includes('Molar')) strokes.draw(img, c, 40 * amplitude(rng), 4 * k);
    if (c.name.startsWith('vertebra')) strokes.draw(img, c, 52 * amplitude(rng), 5 * k);
  }
}

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

/** The field's grid: 6 x 7 random gains, bilinearly interpolated over the image. */
const FIELD_X = 6;
const FIELD_Y = 7;

/** 8-bit output: a smooth multiplicative intensity field, gain, gamma (through a table), Gaussian noise. */
function expose(img: Float32Array, W: number, H: number, rng: Rng): Uint8Array {
  const gx = FIELD_X;
  const gy = FIELD_Y;
  const field = new Float32Array(gx * gy).map(() => rng.uniform(0.85, 1.15));
  const gain = rng.uniform(0.8, 1.2);
  const lut = gammaTable(rng.uniform(0.85, 1.15));
  const noise = rng.uniform(3, 8);
  const colIx = new Int32Array(W);
  const colWx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const fx = ((x + 0.5) / W) * (gx - 1);
    colIx[x] = Math.min(gx - 2, Math.floor(fx));
    colWx[x] = fx - colIx[x];
  }
  const pixels = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const fy = ((y + 0.5) / H) * (gy - 1);
    const iy = Math.min(gy - 2, Math.floor(fy));
    const wy = fy - iy;
    for (let x = 0; x < W; x++) {
      const ix = colIx[x];
      const wx = colWx[x];
      const o = iy * gx + ix;
      const f = (1 - wy) * ((1 - wx) * field[o] + wx * field[o + 1]) + wy * ((1 - wx) * field[o + gx] + wx * field[o + gx + 1]);
      const v = Math.min(1, Math.max(0, (img[y * W + x] * f * gain) / 255)) * 1024;
      const i = Math.floor(v);
      const out = lut[i] + (v - i) * (lut[i + 1] - lut[i]) + rng.normal(noise);
      pixels[y * W + x] = Math.min(255, Math.max(0, Math.round(out)));
    }
  }
  return pixels;
}

/** 255 * v^gamma at v = i / 1024 (one spare entry past 1 so interpolation at v = 1 stays in the table). */
function gammaTable(gamma: number): Float32Array {
  const lut = new Float32Array(1026);
  for (let i = 0; i < lut.length; i++) lut[i] = 255 * Math.pow(Math.min(1, i / 1024), gamma);
  return lut;
}
