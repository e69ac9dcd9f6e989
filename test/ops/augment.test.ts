// GPU augmentation (src/ops/augment.ts and augment.wgsl, with src/data/augmentation.ts's draws) against an independent f64 CPU reference of the
// same sampling (PCG-hash noise, separable Gaussian blur on the node grid, bilinear field, inverse affine,
// bilinear image sample, multiply, gamma), landmarks checked two ways (the sampling map sends the output landmark
// back to the input landmark; a bright blob drawn at the landmark ends up there), determinism, and bad input.
import { describe, expect, it } from 'vitest';
import {
  affineMatrices,
  augmentBatch,
  augmentRecord,
  elasticGrid,
  identityParams,
  type AugmentParams,
} from '../../src/ops/augment.ts';
import { sampleAugmentParams } from '../../src/data/augmentation.ts';
import type { Tensor } from '../../src/index.ts';
import { useEngine } from '../helpers/gpu.ts';
import { rng } from '../helpers/reference.ts';

const engine = useEngine();

// ------------------------------------------------------------------ CPU reference (f64)

function pcg(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

function noise(seed: number, ch: number, kx: number, ky: number): number {
  let h = pcg((seed ^ pcg(ch)) >>> 0);
  h = pcg((h ^ (kx >>> 0)) >>> 0);
  h = pcg((h ^ (ky >>> 0)) >>> 0);
  return ((h >>> 8) + 0.5) * (2 / 16777216) - 1;
}

interface CpuField {
  gw: number;
  gh: number;
  cell: number;
  /** [2, gh, gw] per image, pixels. */
  data: Float64Array;
}

function cpuField(p: AugmentParams, w: number, h: number): CpuField | null {
  if (p.elasticAlpha === 0) return null;
  const g = elasticGrid(p.elasticSigma, w, h);
  const R = g.radius;
  const wts: number[] = [];
  let sum = 0;
  for (let j = -R; j <= R; j++) {
    wts.push(Math.exp(-(j * j) / (2 * g.sigmaNodes ** 2)));
    sum += wts[wts.length - 1];
  }
  const rows = g.gh + 2 * R;
  const data = new Float64Array(2 * g.gh * g.gw);
  for (let ch = 0; ch < 2; ch++) {
    const tmp = new Float64Array(rows * g.gw);
    for (let row = 0; row < rows; row++) {
      for (let kx = 0; kx < g.gw; kx++) {
        let acc = 0;
        for (let j = -R; j <= R; j++) acc += wts[j + R] * noise(p.elasticSeed, ch, kx + j, row - R);
        tmp[row * g.gw + kx] = acc / sum;
      }
    }
    for (let ky = 0; ky < g.gh; ky++) {
      for (let kx = 0; kx < g.gw; kx++) {
        let acc = 0;
        for (let j = -R; j <= R; j++) acc += wts[j + R] * tmp[(ky + R + j) * g.gw + kx];
        data[(ch * g.gh + ky) * g.gw + kx] = ((acc / sum) * p.elasticAlpha) / g.cell;
      }
    }
  }
  return { gw: g.gw, gh: g.gh, cell: g.cell, data };
}

function fieldAt(f: CpuField | null, x: number, y: number): [number, number] {
  if (!f) return [0, 0];
  const u = Math.min(Math.max(x / f.cell, 0), f.gw - 1);
  const v = Math.min(Math.max(y / f.cell, 0), f.gh - 1);
  const x0 = Math.min(Math.floor(u), f.gw - 2);
  const y0 = Math.min(Math.floor(v), f.gh - 2);
  const tx = u - x0;
  const ty = v - y0;
  const out: [number, number] = [0, 0];
  for (let ch = 0; ch < 2; ch++) {
    const b = (ch * f.gh + y0) * f.gw + x0;
    const d = f.data;
    out[ch] = (1 - ty) * ((1 - tx) * d[b] + tx * d[b + 1]) + ty * ((1 - tx) * d[b + f.gw] + tx * d[b + f.gw + 1]);
  }
  return out;
}

/** Where output position (x, y) samples the input: Minv(p + d(p)). */
function sampleMap(p: AugmentParams, f: CpuField | null, w: number, h: number, x: number, y: number): [number, number] {
  const { inverse: m } = affineMatrices(p, w, h);
  const [dx, dy] = fieldAt(f, x, y);
  const qx = x + dx;
  const qy = y + dy;
  return [m[0] * qx + m[1] * qy + m[2], m[3] * qx + m[4] * qy + m[5]];
}

function cpuAugment(img: Float32Array, w: number, h: number, p: AugmentParams): Float64Array {
  const f = cpuField(p, w, h);
  const out = new Float64Array(w * h);
  const tap = (x: number, y: number) => (x < 0 || y < 0 || x >= w || y >= h ? 0 : img[y * w + x]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [rx, ry] = sampleMap(p, f, w, h, x + 0.5, y + 0.5);
      const fx = rx - 0.5;
      const fy = ry - 0.5;
      const x0 = Math.floor(fx);
      const y0 = Math.floor(fy);
      const tx = fx - x0;
      const ty = fy - y0;
      let v = (1 - ty) * ((1 - tx) * tap(x0, y0) + tx * tap(x0 + 1, y0)) + ty * ((1 - tx) * tap(x0, y0 + 1) + tx * tap(x0 + 1, y0 + 1));
      v = Math.min(255, Math.max(0, v * p.multiply));
      if (p.gamma !== 1) v = v > 0 ? 255 * Math.pow(v / 255, p.gamma) : 0;
      out[y * w + x] = v;
    }
  }
  return out;
}

// ------------------------------------------------------------------ test data

/** A smooth-ish random image (sum of a few blurred bumps plus noise), 0-255. */
function randomImage(w: number, h: number, seed: number): Float32Array {
  const r = rng(seed);
  const img = new Float32Array(w * h);
  const bumps = Array.from({ length: 6 }, () => [r() * w, r() * h, 3 + r() * 8, 60 + r() * 120]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 20 * r();
      for (const [bx, by, s, a] of bumps) v += a * Math.exp(-((x + 0.5 - bx) ** 2 + (y + 0.5 - by) ** 2) / (2 * s * s));
      img[y * w + x] = Math.min(255, v);
    }
  }
  return img;
}

/** Gaussian blobs (sigma 1.5 px, peak 250) at the landmarks, on black. */
function blobImage(w: number, h: number, pts: ArrayLike<number>): Float32Array {
  const img = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let k = 0; k < pts.length; k += 2) v += 250 * Math.exp(-((x + 0.5 - pts[k]) ** 2 + (y + 0.5 - pts[k + 1]) ** 2) / 4.5);
      img[y * w + x] = Math.min(255, v);
    }
  }
  return img;
}

/** Intensity centroid (pixel centres at i + 0.5) within radius rad of (cx, cy), and the argmax there. */
function centroid(img: ArrayLike<number>, w: number, h: number, cx: number, cy: number, rad = 4) {
  let sw = 0;
  let sx = 0;
  let sy = 0;
  let best = -1;
  let bx = 0;
  let by = 0;
  for (let y = Math.max(0, Math.floor(cy - rad)); y <= Math.min(h - 1, Math.ceil(cy + rad)); y++) {
    for (let x = Math.max(0, Math.floor(cx - rad)); x <= Math.min(w - 1, Math.ceil(cx + rad)); x++) {
      const v = img[y * w + x];
      sw += v;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
      if (v > best) [best, bx, by] = [v, x + 0.5, y + 0.5];
    }
  }
  // Sub-pixel peak: a quadratic a + b x + c y + d x^2 + e x y + f y^2 fitted (least squares) to the logs of the
  // 3x3 pixels around the argmax, whose stationary point is the peak (exact for a Gaussian under any affine map).
  // Unlike the centroid, the peak of the warped blob sits exactly where the sampling map hits the landmark,
  // however the field stretches the blob around it.
  let peakX = bx;
  let peakY = by;
  if (bx - 1 > 0 && bx + 1 < w && by - 1 > 0 && by + 1 < h) {
    const ata = Array.from({ length: 6 }, () => new Array<number>(7).fill(0));
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const row = [1, dx, dy, dx * dx, dx * dy, dy * dy];
        const l = Math.log(Math.max(1e-3, img[Math.floor(by + dy) * w + Math.floor(bx + dx)]));
        for (let r = 0; r < 6; r++) {
          for (let c = 0; c < 6; c++) ata[r][c] += row[r] * row[c];
          ata[r][6] += row[r] * l;
        }
      }
    }
    for (let c = 0; c < 6; c++) {
      for (let r = c + 1; r < 6; r++) {
        const f = ata[r][c] / ata[c][c];
        for (let k = c; k < 7; k++) ata[r][k] -= f * ata[c][k];
      }
    }
    const q = new Array<number>(6).fill(0);
    for (let r = 5; r >= 0; r--) {
      let v = ata[r][6];
      for (let k = r + 1; k < 6; k++) v -= ata[r][k] * q[k];
      q[r] = v / ata[r][r];
    }
    const [, b, c, d, e, f] = q;
    const det = 4 * d * f - e * e;
    if (det > 0 && d < 0) {
      peakX += Math.max(-1, Math.min(1, (-b * 2 * f + c * e) / det));
      peakY += Math.max(-1, Math.min(1, (-c * 2 * d + b * e) / det));
    }
  }
  return { x: sx / sw, y: sy / sw, argX: bx, argY: by, peakX, peakY, mass: sw };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function run(images: Float32Array, n: number, w: number, h: number, pts: Float32Array, params: AugmentParams[]) {
  const e = engine();
  const t = e.tensor(images, [n, 1, h, w], { label: 'images' });
  const out = await augmentBatch(t, pts, params);
  const img = (await out.images.read()) as Float32Array;
  t.dispose();
  out.images.dispose();
  return { img, pts: out.landmarks };
}

/** Landmarks well inside the image, at least 12 px apart (so their blobs do not overlap). */
function landmarksFor(w: number, h: number, count: number, seed: number): Float32Array {
  const r = rng(seed);
  const pts = new Float32Array(count * 2);
  for (let k = 0; k < count; k++) {
    for (let tries = 0; ; tries++) {
      pts[2 * k] = w * (0.2 + 0.6 * r());
      pts[2 * k + 1] = h * (0.2 + 0.6 * r());
      let ok = true;
      for (let j = 0; j < k; j++) if (Math.hypot(pts[2 * k] - pts[2 * j], pts[2 * k + 1] - pts[2 * j + 1]) < 12) ok = false;
      if (ok) break;
      if (tries > 1000) throw new Error('landmarksFor: no room');
    }
  }
  return pts;
}

/** Checks, per image, the GPU image against the CPU one and every landmark two ways. */
async function checkBatch(w: number, h: number, params: AugmentParams[], landmarksPerImage: number, seed: number, blobTol: number) {
  const n = params.length;
  const lm = Array.from({ length: n }, (_, i) => landmarksFor(w, h, landmarksPerImage, seed + i));
  // 1) an arbitrary image: the GPU sampling equals the CPU's.
  const imgs = Array.from({ length: n }, (_, i) => randomImage(w, h, seed + 10 + i));
  const a = await run(concat(imgs), n, w, h, concat(lm), params);
  for (let i = 0; i < n; i++) {
    const ref = cpuAugment(imgs[i], w, h, params[i]);
    const err = maxAbsDiff(a.img.subarray(i * w * h, (i + 1) * w * h), ref);
    expect(err, `image ${i}: GPU vs CPU sampling`).toBeLessThan(0.05);
  }
  // 2) the landmark solves sampleMap(p) = l (the CPU's map, so this also checks the GPU field).
  let worstResidual = 0;
  for (let i = 0; i < n; i++) {
    const f = cpuField(params[i], w, h);
    for (let k = 0; k < landmarksPerImage; k++) {
      const o = (i * landmarksPerImage + k) * 2;
      const [rx, ry] = sampleMap(params[i], f, w, h, a.pts[o], a.pts[o + 1]);
      worstResidual = Math.max(worstResidual, Math.hypot(rx - lm[i][2 * k], ry - lm[i][2 * k + 1]));
    }
  }
  expect(worstResidual, 'landmark inversion residual, px').toBeLessThan(0.01);
  // 3) blobs drawn at the landmarks end up at the output landmarks.
  const blobs = lm.map((p) => blobImage(w, h, p));
  const b = await run(concat(blobs), n, w, h, concat(lm), params.map((p) => ({ ...p, multiply: 1, gamma: 1 })));
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const plane = b.img.subarray(i * w * h, (i + 1) * w * h);
    for (let k = 0; k < landmarksPerImage; k++) {
      const o = (i * landmarksPerImage + k) * 2;
      const c = centroid(plane, w, h, b.pts[o], b.pts[o + 1]);
      expect(c.mass, `blob ${i}/${k} is visible`).toBeGreaterThan(500);
      worst = Math.max(worst, Math.hypot(c.peakX - b.pts[o], c.peakY - b.pts[o + 1]));
      expect(Math.abs(c.argX - b.pts[o]), `argmax x ${i}/${k}`).toBeLessThanOrEqual(1);
      expect(Math.abs(c.argY - b.pts[o + 1]), `argmax y ${i}/${k}`).toBeLessThanOrEqual(1);
    }
  }
  expect(worst, 'blob peak vs landmark, px').toBeLessThan(blobTol);
  expect(b.pts).toEqual(a.pts);
  return { worstResidual, worstBlob: worst, pts: a.pts, landmarks: lm };
}

const affine = (over: Partial<AugmentParams>): AugmentParams => ({ ...identityParams(), ...over });

// ------------------------------------------------------------------ tests

describe('augment', () => {
  it('identity parameters give the identical image and landmarks (kernel path and noAugment)', async () => {
    const e = engine();
    const [w, h, n] = [40, 48, 2];
    const img = concat([randomImage(w, h, 1), randomImage(w, h, 2)]);
    for (let i = 0; i < img.length; i++) img[i] = Math.round(img[i] * 7) / 7; // arbitrary non-integers
    const pts = concat([landmarksFor(w, h, 3, 1), landmarksFor(w, h, 3, 2)]);
    const t = e.tensor(img, [n, 1, h, w]);
    const pt = e.tensor(pts, [pts.length]);
    const rec = augmentRecord(t, pt, [identityParams(), identityParams()]);
    expect(await rec.images.read()).toEqual(img);
    expect(await rec.landmarks!.read()).toEqual(pts);
    const viaBatch = await augmentBatch(t, pts, sampleAugmentParams(5, n, w, h), { noAugment: true });
    expect(await viaBatch.images.read()).toEqual(img);
    expect(viaBatch.landmarks).toEqual(pts);
    const none = sampleAugmentParams(5, n, w, h, { noAugment: true });
    expect(none).toEqual([identityParams(), identityParams()]);
    const viaParams = await augmentBatch(t, pts, none);
    expect(await viaParams.images.read()).toEqual(img);
    for (const x of [t, pt, rec.images, rec.landmarks!, viaBatch.images, viaParams.images]) x.dispose();
  });

  it('pure affine: matches the CPU sampling, landmarks follow their pixels', async () => {
    const [w, h] = [64, 80];
    const params = [
      affine({ translateX: 2.3, translateY: -1.7 }),
      affine({ rotation: 3, scale: 0.95 }),
      affine({ translateX: -3.5, translateY: 2.25, rotation: -7, scale: 1.1 }),
      ...sampleAugmentParams(11, 1, w, h, { affineSampling: 'uniform', multiply: [1, 1], gamma: [1, 1], elasticAlpha: [0, 0], rotate: 10, translate: 40 }),
    ];
    const r = await checkBatch(w, h, params, 3, 100, 0.2);
    // Landmarks under a pure affine map are exactly the forward matrix.
    for (let i = 0; i < params.length; i++) {
      const { forward: m } = affineMatrices(params[i], w, h);
      for (let k = 0; k < 3; k++) {
        const [x, y] = [r.landmarks[i][2 * k], r.landmarks[i][2 * k + 1]];
        const o = (i * 3 + k) * 2;
        expect(Math.abs(r.pts[o] - (m[0] * x + m[1] * y + m[2]))).toBeLessThan(1e-3);
        expect(Math.abs(r.pts[o + 1] - (m[3] * x + m[4] * y + m[5]))).toBeLessThan(1e-3);
      }
    }
    // translation by (2.3, -1.7) moves a landmark by exactly that
    expect(r.pts[0] - r.landmarks[0][0]).toBeCloseTo(2.3, 4);
    expect(r.pts[1] - r.landmarks[0][1]).toBeCloseTo(-1.7, 4);
  });

  it('elastic deformation (strong alpha): field, image and landmarks match the CPU reference', async () => {
    const [w, h] = [64, 80];
    // Reference sigma 30 and alpha 500 at 640x800 scale to sigma 3, alpha 5 here; alpha 25 (5x) makes it matter.
    const params = [1, 2, 3].map((seed) => affine({ elasticAlpha: 25, elasticSigma: 3, elasticSeed: seed * 7919 }));
    params.push(affine({ elasticAlpha: 25, elasticSigma: 3, elasticSeed: 0xfedcba98, rotation: 2, translateX: 1.5 }));
    // The GPU field equals the CPU field, and its displacements are several pixels.
    const e = engine();
    const t = e.tensor(new Float32Array(params.length * w * h), [params.length, 1, h, w]);
    const rec = augmentRecord(t, null, params, { keepField: true });
    const field = (await rec.field!.read()) as Float32Array;
    let maxDisp = 0;
    let fieldErr = 0;
    params.forEach((p, i) => {
      const f = cpuField(p, w, h)!;
      expect([rec.grid!.gw, rec.grid!.gh]).toEqual([f.gw, f.gh]);
      const g = field.subarray(i * f.data.length, (i + 1) * f.data.length);
      fieldErr = Math.max(fieldErr, maxAbsDiff(g, f.data));
      for (const v of f.data) maxDisp = Math.max(maxDisp, Math.abs(v));
    });
    expect(fieldErr, 'GPU vs CPU field, px').toBeLessThan(1e-4);
    expect(maxDisp, 'largest displacement, px').toBeGreaterThan(2);
    for (const x of [t, rec.images, rec.field!]) x.dispose();
    // Blob peaks within 0.5 px: at 5x the reference strength the sampling map's Jacobian reaches shears of ~0.8
    // across a blob, and a 3x3 log-quadratic fit of a blob that distorted is only that good; the inversion itself is
    // exact to 0.01 px (checked against the CPU map inside checkBatch).
    const r = await checkBatch(w, h, params, 4, 200, 0.5);
    // The elastic part really moved the landmarks (beyond the affine part).
    let moved = 0;
    params.forEach((p, i) => {
      const { forward: m } = affineMatrices(p, w, h);
      for (let k = 0; k < 4; k++) {
        const [x, y] = [r.landmarks[i][2 * k], r.landmarks[i][2 * k + 1]];
        const o = (i * 4 + k) * 2;
        moved = Math.max(moved, Math.hypot(r.pts[o] - (m[0] * x + m[1] * y + m[2]), r.pts[o + 1] - (m[3] * x + m[4] * y + m[5])));
      }
    });
    expect(moved).toBeGreaterThan(0.5);
  });

  it('full random augmentation from sampleAugmentParams over several seeds', async () => {
    const [w, h] = [64, 80];
    for (const seed of [1, 2, 3]) {
      // The reference's ranges, and the same with a 4x stronger elastic field.
      const params = [...sampleAugmentParams(seed, 2, w, h), ...sampleAugmentParams(seed + 100, 2, w, h, { elasticAlpha: [1000, 2000] })];
      await checkBatch(w, h, params, 3, 300 + seed, 0.35);
    }
  });

  it('a seed gives the same deformation of the anatomy at every resolution', async () => {
    const e = engine();
    const params64 = sampleAugmentParams(9, 2, 64, 80, { elasticAlpha: [2000, 2000] });
    const params128 = sampleAugmentParams(9, 2, 128, 160, { elasticAlpha: [2000, 2000] });
    const pts = concat([landmarksFor(64, 80, 5, 1), landmarksFor(64, 80, 5, 2)]);
    const small = await augmentBatch(e.zeros([2, 1, 80, 64]), pts, params64);
    const large = await augmentBatch(e.zeros([2, 1, 160, 128]), pts.map((v) => 2 * v), params128);
    for (let i = 0; i < pts.length; i++) expect(Math.abs(large.landmarks[i] - 2 * small.landmarks[i])).toBeLessThan(1e-3);
    expect(maxAbsDiff(small.landmarks, pts)).toBeGreaterThan(0.3);
    small.images.dispose();
    large.images.dispose();
  });

  it('is deterministic: the same seed gives bit-identical output, different seeds differ', async () => {
    const [w, h, n] = [40, 48, 2];
    const img = concat([randomImage(w, h, 5), randomImage(w, h, 6)]);
    const pts = concat([landmarksFor(w, h, 4, 5), landmarksFor(w, h, 4, 6)]);
    const strong = { elasticAlpha: [1000, 2000] as const };
    const a = await run(img, n, w, h, pts, sampleAugmentParams(42, n, w, h, strong));
    const b = await run(img, n, w, h, pts, sampleAugmentParams(42, n, w, h, strong));
    const c = await run(img, n, w, h, pts, sampleAugmentParams(43, n, w, h, strong));
    expect(b.img).toEqual(a.img);
    expect(b.pts).toEqual(a.pts);
    expect(maxAbsDiff(c.img, a.img)).toBeGreaterThan(1);
    expect(maxAbsDiff(c.pts, a.pts)).toBeGreaterThan(0.1);
    // Same elastic seed, different everything else: the field is a function of the seed alone.
    const p = sampleAugmentParams(42, n, w, h, strong);
    expect(sampleAugmentParams(42, n, w, h, strong)).toEqual(p);
    const reseeded = p.map((q) => ({ ...q, elasticSeed: (q.elasticSeed + 1) >>> 0 }));
    const d = await run(img, n, w, h, pts, reseeded);
    expect(maxAbsDiff(d.img, a.img)).toBeGreaterThan(1);
  });

  it('intensity multiply and gamma on a constant image follow the formula', async () => {
    const [w, h] = [40, 48];
    const cases = [
      { v: 100, multiply: 1.3, gamma: 0.8 },
      { v: 100, multiply: 0.5, gamma: 1.7 },
      { v: 200, multiply: 1.5, gamma: 0.7 }, // clamps to 255 before gamma
      { v: 37, multiply: 1, gamma: 2 },
      { v: 0, multiply: 1.2, gamma: 0.5 },
    ];
    const img = concat(cases.map((c) => new Float32Array(w * h).fill(c.v)));
    const params = cases.map((c) => affine({ multiply: c.multiply, gamma: c.gamma }));
    const r = await run(img, cases.length, w, h, new Float32Array(0), params);
    cases.forEach((c, i) => {
      const expected = 255 * Math.pow(Math.min(255, c.v * c.multiply) / 255, c.gamma);
      const plane = r.img.subarray(i * w * h, (i + 1) * w * h);
      expect(maxAbsDiff(plane, new Float64Array(w * h).fill(expected)), `case ${JSON.stringify(c)}`).toBeLessThan(1e-3 * Math.max(1, expected));
    });
    // With a translation, the uncovered border is black whatever the intensity change.
    const shifted = await run(new Float32Array(w * h).fill(100), 1, w, h, new Float32Array(0), [affine({ translateX: 3, multiply: 1.4, gamma: 0.6 })]);
    expect(shifted.img[0]).toBe(0);
    expect(shifted.img[w - 1]).toBeCloseTo(255 * Math.pow(140 / 255, 0.6), 2);
  });

  it('sampleAugmentParams draws the reference ranges, scaled with the image size', () => {
    const big = sampleAugmentParams(3, 400, 640, 800);
    const scales = new Set(big.map((p) => p.scale));
    const rotations = new Set(big.map((p) => p.rotation));
    expect([...scales].sort()).toEqual([0.95, 1]);
    expect([...rotations].sort()).toEqual([-3, 3]);
    for (const p of big) {
      expect(Number.isInteger(p.translateX) && Math.abs(p.translateX) <= 10).toBe(true);
      expect(Number.isInteger(p.translateY) && Math.abs(p.translateY) <= 10).toBe(true);
      expect(p.multiply).toBeGreaterThanOrEqual(0.5);
      expect(p.multiply).toBeLessThanOrEqual(1.5);
      expect(p.gamma).toBeGreaterThanOrEqual(0.7);
      expect(p.gamma).toBeLessThanOrEqual(1.7);
      expect(p.elasticAlpha).toBeGreaterThanOrEqual(0);
      expect(p.elasticAlpha).toBeLessThanOrEqual(500);
      expect(p.elasticSigma).toBe(30);
    }
    expect(new Set(big.map((p) => p.translateX)).size).toBe(21);
    const small = sampleAugmentParams(3, 400, 64, 80);
    small.forEach((p, i) => {
      expect(p.translateX).toBeCloseTo(big[i].translateX / 10, 10);
      expect(p.elasticAlpha).toBeCloseTo(big[i].elasticAlpha / 100, 10);
      expect(p.elasticSigma).toBeCloseTo(3, 10);
      expect(p.scale).toBe(big[i].scale);
      expect(p.gamma).toBe(big[i].gamma);
    });
    const uni = sampleAugmentParams(3, 200, 640, 800, { affineSampling: 'uniform' });
    expect(new Set(uni.map((p) => p.scale)).size).toBe(200);
    expect(Math.min(...uni.map((p) => p.scale))).toBeGreaterThanOrEqual(0.95);
    // A generator function works like a seed.
    expect(sampleAugmentParams(rng(8), 3, 64, 80)).toEqual(sampleAugmentParams(rng(8), 3, 64, 80));
  });

  it('bad input throws a clear error before any dispatch', async () => {
    const e = engine();
    const ok = e.zeros([2, 1, 8, 6]);
    const rgb = e.zeros([2, 3, 8, 6]);
    const flat = e.zeros([2, 8, 6]);
    const pts = new Float32Array(2 * 3 * 2);
    const two = [identityParams(), affine({ rotation: 1 })];
    expect(() => augmentRecord(rgb, null, two)).toThrow(/\[N, 1, H, W\].*\[2,3,8,6\]/);
    expect(() => augmentRecord(flat, null, two)).toThrow(/\[N, 1, H, W\]/);
    await expect(augmentBatch(rgb, pts, two)).rejects.toThrow(/\[N, 1, H, W\]/);
    await expect(augmentBatch(ok, new Float32Array(7), two)).rejects.toThrow(/7 values, not N \* L \* 2 for N = 2/);
    await expect(augmentBatch(ok, pts, [identityParams()])).rejects.toThrow(/1 params for a batch of 2 images/);
    expect(() => augmentRecord(ok, e.zeros([6]), two)).toThrow(/6 values, not N \* L \* 2/);
    expect(() => augmentRecord(ok, null, [...two, identityParams()])).toThrow(/3 params for a batch of 2/);
    expect(() => augmentRecord(ok, null, [identityParams(), affine({ scale: 0 })])).toThrow(/params\[1\]\.scale must be > 0/);
    expect(() => augmentRecord(ok, null, [identityParams(), affine({ gamma: NaN })])).toThrow(/params\[1\]\.gamma must be a finite number/);
    expect(() => augmentRecord(ok, null, [identityParams(), affine({ elasticSeed: -1 })])).toThrow(/elasticSeed must be an integer/);
    expect(() =>
      augmentRecord(ok, null, [affine({ elasticAlpha: 1, elasticSigma: 2 }), affine({ elasticAlpha: 1, elasticSigma: 3 })]),
    ).toThrow(/must share elasticSigma/);
    expect(() => sampleAugmentParams(1, 2, 0, 80)).toThrow(/width must be a positive integer/);
    expect(() => sampleAugmentParams(1, 2, 64, 80, { gamma: [2, 1] })).toThrow(/gamma must be a range/);
    for (const t of [ok, rgb, flat] as Tensor[]) t.dispose();
  });
});
