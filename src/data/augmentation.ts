// The reference's augmentation policy, as random draws: its imgaug pipeline (jfm15/ContourHuggingHeatmaps,
// landmark_dataset.py, experiments/cephalometric.yaml)
//
//   iaa.Affine(translate_px={x: (-10, 10), y: (-10, 10)}, scale=[0.95, 1], rotate=[-3, 3]),
//   iaa.Multiply(mul=(0.5, 1.5)),
//   iaa.GammaContrast(),                                   # imgaug 0.4 default: gamma uniform in (0.7, 1.7)
//   iaa.ElasticTransformation(alpha=(0, 500), sigma=30, order=3)
//
// at 640x800 (width x height), drawn per image on the CPU from a seeded generator, so a run repeats exactly;
// src/ops/augment.ts applies them on the GPU. How imgaug reads the reference's arguments, and how the ranges scale
// with the image size: docs/decisions.md, "Augmentation".
import { mulberry32 } from '../engine/random.ts';
import { identityParams, type AugmentParams } from '../ops/augment.ts';

/** Ranges at the reference size (defaults: experiments/cephalometric.yaml of the reference, see above). */
export interface AugmentOptions {
  /** The size the ranges below are given at (default 640 x 800). */
  referenceWidth?: number;
  referenceHeight?: number;
  /** Largest |translation| on each axis, reference pixels (default 10). */
  translate?: number;
  /** Scale range (default [0.95, 1]). */
  scale?: readonly [number, number];
  /** Largest |rotation|, degrees (default 3). */
  rotate?: number;
  /**
   * 'imgaug' (default): what imgaug does with the reference's arguments: integer translation in reference pixels,
   * scale one of the two ends of `scale`, rotation -rotate or +rotate. 'uniform': continuous uniform ranges.
   */
  affineSampling?: 'imgaug' | 'uniform';
  /** Intensity factor range (default [0.5, 1.5]). */
  multiply?: readonly [number, number];
  /** Gamma range (default [0.7, 1.7], imgaug 0.4's GammaContrast default). */
  gamma?: readonly [number, number];
  /** Elastic alpha range at the reference size (default [0, 500]); scaled by s^2. */
  elasticAlpha?: readonly [number, number];
  /** Elastic sigma at the reference size (default 30); scaled by s. */
  elasticSigma?: number;
  /** Return identity parameters (no augmentation), drawing nothing from the generator. */
  noAugment?: boolean;
}

export const REFERENCE_AUGMENTATION = {
  referenceWidth: 640,
  referenceHeight: 800,
  translate: 10,
  scale: [0.95, 1],
  rotate: 3,
  affineSampling: 'imgaug',
  multiply: [0.5, 1.5],
  gamma: [0.7, 1.7],
  elasticAlpha: [0, 500],
  elasticSigma: 30,
  noAugment: false,
} as const satisfies Required<AugmentOptions>;

/**
 * Draws n images' augmentations for images of width x height pixels. `rng` is a generator of uniform numbers in
 * [0, 1) or a seed for mulberry32. Per image, in this order, exactly 8 draws: translate x, translate y, scale,
 * rotation, multiply, gamma, alpha, elastic seed (so changing one range never shifts the others).
 */
export function sampleAugmentParams(rng: (() => number) | number, n: number, width: number, height: number, options: AugmentOptions = {}): AugmentParams[] {
  const op = 'sampleAugmentParams';
  if (!Number.isInteger(n) || n < 0) throw new Error(`${op}: n must be a non-negative integer, got ${n}`);
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${op}: ${name} must be a positive integer, got ${v}`);
  }
  const o = { ...REFERENCE_AUGMENTATION, ...options };
  if (o.noAugment) return Array.from({ length: n }, identityParams);
  const next = typeof rng === 'number' ? mulberry32(rng) : rng;
  if (typeof next !== 'function') throw new Error(`${op}: rng must be a function returning [0, 1) or a numeric seed`);
  for (const [name, r] of [['scale', o.scale], ['multiply', o.multiply], ['gamma', o.gamma], ['elasticAlpha', o.elasticAlpha]] as const) {
    if (r.length !== 2 || !(r[0] <= r[1]) || !r.every(Number.isFinite)) throw new Error(`${op}: ${name} must be a range [lo, hi], got ${JSON.stringify(r)}`);
  }
  if (!(o.scale[0] > 0) || !(o.gamma[0] > 0) || !(o.multiply[0] >= 0) || !(o.elasticAlpha[0] >= 0) || !(o.elasticSigma > 0)) {
    throw new Error(`${op}: scale, gamma and elasticSigma must be > 0, multiply and elasticAlpha >= 0`);
  }
  const sx = width / o.referenceWidth;
  const sy = height / o.referenceHeight;
  const s = Math.sqrt(sx * sy);
  const uniform = (lo: number, hi: number, u: number) => lo + (hi - lo) * u;
  const out: AugmentParams[] = [];
  for (let i = 0; i < n; i++) {
    const u = Array.from({ length: 8 }, () => next());
    let tx: number, ty: number, scale: number, rotation: number;
    if (o.affineSampling === 'imgaug') {
      // DiscreteUniform(-T, T) for translate_px; Choice([a, b]) for the scale and rotate lists.
      const t = Math.floor(o.translate);
      tx = Math.min(t, Math.floor(u[0] * (2 * t + 1)) - t);
      ty = Math.min(t, Math.floor(u[1] * (2 * t + 1)) - t);
      scale = u[2] < 0.5 ? o.scale[0] : o.scale[1];
      rotation = u[3] < 0.5 ? -o.rotate : o.rotate;
    } else {
      tx = uniform(-o.translate, o.translate, u[0]);
      ty = uniform(-o.translate, o.translate, u[1]);
      scale = uniform(o.scale[0], o.scale[1], u[2]);
      rotation = uniform(-o.rotate, o.rotate, u[3]);
    }
    out.push({
      translateX: tx * sx,
      translateY: ty * sy,
      scale,
      rotation,
      multiply: uniform(o.multiply[0], o.multiply[1], u[4]),
      gamma: uniform(o.gamma[0], o.gamma[1], u[5]),
      elasticAlpha: uniform(o.elasticAlpha[0], o.elasticAlpha[1], u[6]) * s * s,
      elasticSigma: o.elasticSigma * s,
      elasticSeed: Math.min(0xffffffff, Math.floor(u[7] * 4294967296)),
    });
  }
  return out;
}
