// Image quality of the synthetic cephalograms: what the machine does to the projected anatomy. Blur, scatter haze,
// collimation (an unexposed border), burnt-out soft tissue and weak thin cortices (factors render.ts applies), and
// the exposure to 8 bits: a smooth intensity field, gain, gamma, black level, quantum and electronic noise.
// Parameters: QUALITY in params.ts.
import type { Rng } from '../../engine/random.ts';
import { QUALITY as Q } from './params.ts';
import { blur } from './raster.ts';

/** One image's quality, drawn before anything is rendered. */
export interface Quality {
  /** One of the poor images (QUALITY.poorShare): the blur, haze, noise and faint edges below include it. */
  poor: boolean;
  /** Blur std in output pixels. */
  blur: number;
  haze: number;
  /** Factor on the soft tissue's fill and profile (1: a normal exposure). */
  softTissue: number;
  /** Factor on the thin cortices' strokes. */
  weakEdge: number;
  /** Unexposed depth from the left and the top (share of the side), and the edge's tilt (radians); null: none. */
  collimation: { left: number; top: number; tilt: number } | null;
  gain: number;
  gamma: number;
  blackLevel: number;
  quantum: number;
  electronic: number;
  /** FIELD_X x FIELD_Y gains, bilinearly interpolated over the image. */
  field: Float32Array;
}

const FIELD_X = 6;
const FIELD_Y = 7;

export function drawQuality(rng: Rng, W: number): Quality {
  // Every draw is made whether it is used or not, so one effect's share never shifts the others' draws.
  const burnt = rng.uniform() < Q.burntShare;
  const burntFactor = rng.uniform(...Q.burntFactor);
  const collimated = rng.uniform() < Q.collimationShare;
  const collimation = { left: rng.uniform(...Q.collimationLeft), top: rng.uniform(...Q.collimationTop), tilt: rng.normal(0.01) };
  const poor = rng.uniform() < Q.poorShare;
  return {
    poor,
    blur: rng.uniform(...Q.blur) * (W / 640) * (poor ? 2 : 1),
    haze: rng.uniform(...Q.haze) + (poor ? Q.poorHaze : 0),
    softTissue: burnt ? burntFactor : 1,
    weakEdge: rng.uniform(...Q.weakEdge) * (poor ? Q.poorWeakEdge : 1),
    collimation: collimated ? collimation : null,
    gain: rng.uniform(...Q.gain),
    gamma: rng.uniform(...Q.gamma),
    blackLevel: rng.uniform(...Q.blackLevel),
    quantum: rng.uniform(...Q.quantum) * (poor ? 2 : 1),
    electronic: rng.uniform(...Q.electronic),
    field: new Float32Array(FIELD_X * FIELD_Y).map(() => rng.uniform(...Q.field)),
  };
}

/** Blur, then scatter: a share of a very blurred copy added, the sharp image dimmed by half that share. */
export function blurAndScatter(img: Float32Array, W: number, H: number, q: Quality): void {
  blur(img, W, H, q.blur);
  if (q.haze <= 0) return;
  const wide = img.slice();
  blur(wide, W, H, Q.hazeBlur * (W / 640));
  for (let i = 0; i < img.length; i++) img[i] = (1 - q.haze / 2) * img[i] + q.haze * wide[i];
}

/** The unexposed share (0..1) of pixel (x, y): a soft-edged border on the left and the top, slightly tilted. */
function collimationMask(q: Quality, W: number, H: number, x: number, y: number): number {
  const c = q.collimation;
  if (!c) return 0;
  const edge = Math.max(1, 2 * (W / 640));
  const left = (c.left * W + c.tilt * (y - H / 2) - x) / edge;
  const top = (c.top * H - c.tilt * (x - W / 2) - y) / edge;
  const step = (t: number): number => (t <= -1 ? 0 : t >= 1 ? 1 : 0.5 + 0.5 * t);
  return Math.max(step(left), c.top > 0 ? step(top) : 0);
}

/** 8-bit output: field, gain, collimation, gamma (through a table), black level, then noise per pixel. */
export function expose(img: Float32Array, W: number, H: number, q: Quality, rng: Rng): Uint8Array {
  const lut = gammaTable(q.gamma);
  const colIx = new Int32Array(W);
  const colWx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const fx = ((x + 0.5) / W) * (FIELD_X - 1);
    colIx[x] = Math.min(FIELD_X - 2, Math.floor(fx));
    colWx[x] = fx - colIx[x];
  }
  const f = q.field;
  const span = (255 - q.blackLevel) / 255;
  const pixels = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    const fy = ((y + 0.5) / H) * (FIELD_Y - 1);
    const iy = Math.min(FIELD_Y - 2, Math.floor(fy));
    const wy = fy - iy;
    for (let x = 0; x < W; x++) {
      const ix = colIx[x];
      const wx = colWx[x];
      const o = iy * FIELD_X + ix;
      const g = (1 - wy) * ((1 - wx) * f[o] + wx * f[o + 1]) + wy * ((1 - wx) * f[o + FIELD_X] + wx * f[o + FIELD_X + 1]);
      const m = collimationMask(q, W, H, x, y);
      const exposed = Math.min(1, Math.max(0, (img[y * W + x] * g * q.gain) / 255));
      const v = ((1 - m) * exposed + m * 0.95) * 1024;
      const i = Math.floor(v);
      const level = q.blackLevel + span * (lut[i] + (v - i) * (lut[i + 1] - lut[i]));
      const std = Math.sqrt(q.quantum * q.quantum * 255 * level + q.electronic * q.electronic);
      pixels[y * W + x] = Math.min(255, Math.max(0, Math.round(level + rng.normal(std))));
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
