// Data augmentation on the GPU, seeded so that a run repeats exactly: the reference's imgaug pipeline
// (jfm15/ContourHuggingHeatmaps, landmark_dataset.py, experiments/cephalometric.yaml):
//
//   iaa.Affine(translate_px={x: (-10, 10), y: (-10, 10)}, scale=[0.95, 1], rotate=[-3, 3]),
//   iaa.Multiply(mul=(0.5, 1.5)),
//   iaa.GammaContrast(),                                   # imgaug 0.4 default: gamma uniform in (0.7, 1.7)
//   iaa.ElasticTransformation(alpha=(0, 500), sigma=30, order=3)
//
// at 640x800 (width x height), with landmarks transformed consistently. The random draws happen on the CPU from a
// seeded generator (sampleAugmentParams); the per-pixel work is in src/shaders/augment.wgsl.
//
// Choices (read these before comparing with imgaug):
// - Coordinates are continuous: pixel i covers [i, i + 1), its centre is at i + 0.5 (as in resize.ts). Rotation
//   and scale are about the image centre (W/2, H/2), which is imgaug's centre (W/2 - 0.5 in its pixel-centre
//   coordinates). Forward affine map: p' = c + scale * R(rotation) (p - c) + t, R = [[cos, -sin], [sin, cos]] in
//   (x, y) with y down, so a positive angle turns clockwise on screen (skimage's convention, which imgaug uses).
// - imgaug semantics of the reference's arguments (default `affineSampling: 'imgaug'`): `translate_px` given an
//   int tuple draws an integer uniformly from [-10, 10]; `scale=[0.95, 1]` and `rotate=[-3, 3]` are Python LISTS,
//   which imgaug reads as a choice between the listed values, not a range: scale is 0.95 or 1.0, rotation -3 or +3
//   degrees. `affineSampling: 'uniform'` draws all three from continuous ranges instead.
// - GammaContrast() without arguments: imgaug 0.4's default gamma is uniform in (0.7, 1.7) (the (0.5, 2.0) range
//   is only its documentation's example), so the default here is [0.7, 1.7]. Gamma is applied on the 0-255 scale:
//   255 (v / 255)^gamma.
// - ElasticTransformation(alpha=(0, 500), sigma=30): alpha is drawn uniformly from [0, 500] per image; sigma is 30.
// - Scaling with the image size: s_x = W / 640, s_y = H / 800, s = sqrt(s_x s_y). Translations scale by s_x and
//   s_y; sigma by s; alpha by s^2. imgaug's field is alpha * (Gaussian_sigma * uniform(-1, 1) white noise per
//   pixel), whose amplitude is ~ alpha / (sigma sqrt(12 pi)): scaling alpha by s alone would keep the
//   displacement the same in pixels at every size, while alpha * s^2 with sigma * s makes it the same
//   deformation of the anatomy (displacements scale by s, like everything else).
// - The elastic field is generated on a grid of nodes spaced sigma / 3.75 pixels apart (8 pixels at 640x800), with
//   uniform(-1, 1) noise per node from a PCG hash of (seed, channel, node), a separable Gaussian blur of 3.75 nodes
//   (radius 15 nodes = 4 sigma, scipy's truncation), scaled by alpha / spacing (which gives the same field
//   variance as imgaug's per-pixel noise, alpha^2 / (12 pi sigma^2)), and bilinear interpolation to each pixel.
//   The Gaussian removes everything above ~1/(2.5 sigma) cycles/pixel, so the grid loses nothing that imgaug's
//   full-resolution noise would show; the grid is 81x101 nodes at any image size of the reference's aspect
//   (per image: 29 k hashes for the noise with its margin, 1.2 M multiply-adds for both blur passes, against
//   ~180 M for a full-resolution 4-sigma blur at 640x800), and since nodes sit at fixed fractions of the image, a
//   seed gives the same deformation of the anatomy at every resolution. Noise exists beyond the image (the hash is defined for every
//   node), so the field has no border artefact (imgaug's blur reflects at the border instead). Every image of a
//   batch that is deformed must share sigma (the reference's is a constant).
// - One resampling: output p samples the input at Minv(p + d(p)) with BILINEAR interpolation (imgaug: order 1 for
//   the affine, order 3 = cubic for the elastic step, two resamplings), zero (black) outside the image, as imgaug's
//   mode 'constant', cval 0. Then v = clamp(v * multiply, 0, 255); if gamma != 1, v = 255 (v / 255)^gamma. imgaug
//   applies multiply and gamma between the two warps and rounds to uint8 after each step; we keep f32 and do not
//   round. Inputs are expected in [0, 255]; outputs are clamped to it.
// - Landmarks: the affine part is applied exactly (forward matrix); for the elastic part the output position p of
//   a landmark solves p + d(p) = M l, by Newton's method on the GPU (start p = q - d(q), 12 iterations, a
//   fixed-point step where det(I + dd/dp) < 0.05, i.e. where the field folds and no unique inverse exists). The
//   field itself is never read back: only the landmarks (N * L * 2 floats) are, in augmentBatch; augmentRecord
//   keeps them on the GPU. Accuracy: the residual |Minv(p + d(p)) - l| was below 1e-4 px at 640x800 (19
//   landmarks x 4 images, up to 4x the reference's alpha), on SwiftShader and on an H100 alike.
// - Determinism: the same parameters give bit-identical output on the same device and driver (every thread's
//   arithmetic is fixed; no atomics, no reductions across threads). Across devices results differ in the last
//   bits (SwiftShader vs H100 at 64x80: images within 5e-4 of 255, landmarks within 1e-5 px).
// - Cost: measured on an H100 (Dawn, Vulkan), 0.5 ms per batch of 4 at 640x800 (the parameter upload included);
//   on SwiftShader here, 0.35-0.75 s (a shared 2-core machine).
// - Identity parameters (identityParams, `noAugment`) give the input exactly (the kernel's bilinear weights are
//   exactly 1 and 0, multiply 1 is exact, gamma 1 is skipped); augmentBatch then just copies.
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { mulberry32 } from '../engine/random.ts';
import { SHADERS } from '../generated/shaders.ts';

/** The augmentation of one image, in pixels of that image. */
export interface AugmentParams {
  /** Translation, pixels (applied after scale and rotation about the centre). */
  translateX: number;
  translateY: number;
  /** Isotropic scale about the image centre (> 0). */
  scale: number;
  /** Rotation about the image centre, degrees; positive turns clockwise on screen (y points down). */
  rotation: number;
  /** Intensity factor (imgaug Multiply), >= 0. */
  multiply: number;
  /** Gamma on the 0-255 scale (imgaug GammaContrast), > 0; 1 leaves intensities unchanged. */
  gamma: number;
  /** Elastic strength in pixels of this image, imgaug's alpha at this image's size (0: no elastic deformation). */
  elasticAlpha: number;
  /** Elastic smoothness: the Gaussian's sigma in pixels of this image (> 0 when elasticAlpha > 0). */
  elasticSigma: number;
  /** Seed of the elastic noise field, an integer in [0, 2^32). */
  elasticSeed: number;
}

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

/** Field grid nodes per sigma (8 px spacing for sigma 30 px). */
export const ELASTIC_NODES_PER_SIGMA = 3.75;
/** Gaussian half-width in nodes: 4 sigma, scipy's default truncation. */
export const ELASTIC_RADIUS = Math.ceil(4 * ELASTIC_NODES_PER_SIGMA);
/** Newton iterations of the landmark inversion. */
export const LANDMARK_ITERATIONS = 12;
/** Floats per image in the parameter buffer (see augment.wgsl). */
const STRIDE = 20;


/** Parameters that change nothing. */
export function identityParams(): AugmentParams {
  return { translateX: 0, translateY: 0, scale: 1, rotation: 0, multiply: 1, gamma: 1, elasticAlpha: 0, elasticSigma: 1, elasticSeed: 0 };
}

export function isIdentity(p: AugmentParams): boolean {
  return p.translateX === 0 && p.translateY === 0 && p.scale === 1 && p.rotation === 0 && p.multiply === 1 && p.gamma === 1 && p.elasticAlpha === 0;
}

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

/** The forward affine map (input -> output) and its inverse, each [a0..a5]: x' = a0 x + a1 y + a2, y' = a3 x + a4 y + a5. */
export function affineMatrices(p: AugmentParams, width: number, height: number): { forward: number[]; inverse: number[] } {
  const cx = width / 2;
  const cy = height / 2;
  const th = (p.rotation * Math.PI) / 180;
  // Exact zeros and ones for rotation 0 (cos(0) = 1, sin(0) = 0) so identity stays bit-exact.
  const c = Math.cos(th);
  const sn = Math.sin(th);
  const a = p.scale * c;
  const b = -p.scale * sn;
  const d = p.scale * sn;
  const e = p.scale * c;
  // p' = A (p - c) + c + t
  const forward = [a, b, cx + p.translateX - a * cx - b * cy, d, e, cy + p.translateY - d * cx - e * cy];
  // p = A^-1 (p' - c - t) + c, A^-1 = R(-th) / scale
  const ia = c / p.scale;
  const ib = sn / p.scale;
  const id = -sn / p.scale;
  const ie = c / p.scale;
  const ox = cx + p.translateX;
  const oy = cy + p.translateY;
  const inverse = [ia, ib, cx - ia * ox - ib * oy, id, ie, cy - id * ox - ie * oy];
  return { forward, inverse };
}

/** The elastic field's grid for sigma (pixels) on a width x height image. */
export interface ElasticGrid {
  /** Node spacing, pixels. */
  cell: number;
  /** Nodes per row and rows: node (i, j) sits at (i cell, j cell), covering [0, W] x [0, H]. */
  gw: number;
  gh: number;
  /** Gaussian sigma and half-width, in nodes. */
  sigmaNodes: number;
  radius: number;
}

export function elasticGrid(sigma: number, width: number, height: number): ElasticGrid {
  const cell = sigma / ELASTIC_NODES_PER_SIGMA;
  // Small epsilon: 640 / 8 must give 80 (+1), not 81 (+1), whatever the rounding of sigma * s.
  const gw = Math.ceil(width / cell - 1e-6) + 1;
  const gh = Math.ceil(height / cell - 1e-6) + 1;
  return { cell, gw, gh, sigmaNodes: ELASTIC_NODES_PER_SIGMA, radius: ELASTIC_RADIUS };
}

function checkParams(op: string, params: readonly AugmentParams[], n: number): void {
  if (!Array.isArray(params)) throw new Error(`${op}: params must be an array of ${n} AugmentParams`);
  if (params.length !== n) throw new Error(`${op}: ${params.length} params for a batch of ${n} images (one per image)`);
  let sigma: number | null = null;
  params.forEach((p, i) => {
    const keys = ['translateX', 'translateY', 'scale', 'rotation', 'multiply', 'gamma', 'elasticAlpha', 'elasticSigma', 'elasticSeed'] as const;
    for (const k of keys) {
      if (typeof p?.[k] !== 'number' || !Number.isFinite(p[k])) throw new Error(`${op}: params[${i}].${k} must be a finite number, got ${p?.[k]}`);
    }
    if (!(p.scale > 0)) throw new Error(`${op}: params[${i}].scale must be > 0, got ${p.scale}`);
    if (!(p.gamma > 0)) throw new Error(`${op}: params[${i}].gamma must be > 0, got ${p.gamma}`);
    if (!(p.multiply >= 0)) throw new Error(`${op}: params[${i}].multiply must be >= 0, got ${p.multiply}`);
    if (!(p.elasticAlpha >= 0)) throw new Error(`${op}: params[${i}].elasticAlpha must be >= 0, got ${p.elasticAlpha}`);
    if (!Number.isInteger(p.elasticSeed) || p.elasticSeed < 0 || p.elasticSeed > 0xffffffff) {
      throw new Error(`${op}: params[${i}].elasticSeed must be an integer in [0, 2^32), got ${p.elasticSeed}`);
    }
    if (p.elasticAlpha > 0) {
      if (!(p.elasticSigma > 0)) throw new Error(`${op}: params[${i}].elasticSigma must be > 0 when elasticAlpha > 0, got ${p.elasticSigma}`);
      if (sigma === null) sigma = p.elasticSigma;
      else if (p.elasticSigma !== sigma) {
        throw new Error(`${op}: every deformed image of a batch must share elasticSigma (the field grid depends on it): params[${i}] has ${p.elasticSigma}, an earlier one ${sigma}`);
      }
    }
  });
}

export interface AugmentRecordOptions {
  /** Return the displacement field tensor [N, 2, gh, gw] (pixels; channel 0 = x) and its grid (tests, plots). */
  keepField?: boolean;
}

export interface AugmentRecordResult {
  images: Tensor;
  /** [N * L * 2] output landmark positions, or null when no landmarks were given. */
  landmarks: Tensor | null;
  field?: Tensor;
  grid?: ElasticGrid;
}

/**
 * Records the augmentation of images [N, 1, H, W] (0-255) and of landmarks (a tensor of N * L * 2 values, x, y in
 * pixels, or null) on the GPU, without any read back. Synchronous, like an op (not differentiable: no tape).
 */
export function augmentRecord(images: Tensor, landmarks: Tensor | null, params: readonly AugmentParams[], options: AugmentRecordOptions = {}): AugmentRecordResult {
  const op = 'augment';
  const engine = checkInputs(op, landmarks ? { images, landmarks } : { images });
  if (images.shape.length !== 4 || images.shape[1] !== 1) {
    throw new Error(`${op}: images must be [N, 1, H, W] (one grayscale channel), got ${shapeString(images.shape)}`);
  }
  const [n, , h, w] = images.shape;
  let numLandmarks = 0;
  if (landmarks) {
    if (landmarks.size % (2 * n) !== 0) {
      throw new Error(`${op}: landmarks hold ${landmarks.size} values, not N * L * 2 for N = ${n} images (images ${shapeString(images.shape)})`);
    }
    numLandmarks = landmarks.size / (2 * n);
  }
  checkParams(op, params, n);

  const elastic = params.find((p) => p.elasticAlpha > 0);
  const grid = elastic ? elasticGrid(elastic.elasticSigma, w, h) : { cell: 1, gw: 2, gh: 2, sigmaNodes: 1, radius: 0 };

  // Per-image records, then the normalised 1-D Gaussian weights (one upload).
  const record = new Float32Array(n * STRIDE + 2 * grid.radius + 1);
  let weightSum = 0;
  for (let j = -grid.radius; j <= grid.radius; j++) weightSum += Math.exp(-(j * j) / (2 * grid.sigmaNodes ** 2));
  for (let j = -grid.radius; j <= grid.radius; j++) record[n * STRIDE + j + grid.radius] = Math.exp(-(j * j) / (2 * grid.sigmaNodes ** 2)) / weightSum;
  params.forEach((p, i) => {
    const { forward, inverse } = affineMatrices(p, w, h);
    record.set(inverse, i * STRIDE);
    record.set(forward, i * STRIDE + 6);
    record[i * STRIDE + 12] = p.multiply;
    record[i * STRIDE + 13] = p.gamma;
    record[i * STRIDE + 14] = p.elasticAlpha > 0 ? p.elasticAlpha / grid.cell : 0;
    record[i * STRIDE + 15] = p.elasticSeed & 0xffff;
    record[i * STRIDE + 16] = p.elasticSeed >>> 16;
  });
  const aug = engine.empty([record.length], { label: 'augment.params' });
  engine.write(aug, record);

  const uniforms = {
    n: 0,
    width: w,
    height: h,
    gw: grid.gw,
    gh: grid.gh,
    radius: grid.radius,
    landmarks: numLandmarks,
    iterations: LANDMARK_ITERATIONS,
    inv_cell: 1 / grid.cell,
    wbase: n * STRIDE,
  };

  const field = engine.empty([n, 2, grid.gh, grid.gw], { label: 'augment.field' });
  if (elastic) {
    const rows = grid.gh + 2 * grid.radius;
    const noiseBuf = engine.empty([n, 2, rows, grid.gw + 2 * grid.radius], { label: 'augment.noise' });
    const nk = engine.kernel({ shader: SHADERS.augment, entry: 'noise', bindings: ['aug', 'noise_buf', 'params'] });
    engine.run(nk, { aug, noise_buf: noiseBuf, params: { ...uniforms, n: noiseBuf.size } }, engine.grid1d(noiseBuf.size, nk));
    const tmp = engine.empty([n, 2, rows, grid.gw], { label: 'augment.blur' });
    const bx = engine.kernel({ shader: SHADERS.augment, entry: 'blur_x', bindings: ['aug', 'noise_buf', 'tmp', 'params'] });
    engine.run(bx, { aug, noise_buf: noiseBuf, tmp, params: { ...uniforms, n: tmp.size } }, engine.grid1d(tmp.size, bx));
    noiseBuf.dispose();
    const by = engine.kernel({ shader: SHADERS.augment, entry: 'blur_y', bindings: ['aug', 'tmp', 'field', 'params'] });
    engine.run(by, { aug, tmp, field, params: { ...uniforms, n: field.size } }, engine.grid1d(field.size, by));
    tmp.dispose();
  } else {
    engine.clear(field);
  }

  const out = engine.empty([n, 1, h, w], { label: 'augment.images' });
  const wk = engine.kernel({ shader: SHADERS.augment, entry: 'warp', bindings: ['aug', 'field', 'src', 'dst', 'params'] });
  engine.run(wk, { aug, field, src: images, dst: out, params: { ...uniforms, n: out.size } }, engine.grid1d(out.size, wk));

  let pts: Tensor | null = null;
  if (landmarks) {
    pts = engine.empty([landmarks.size], { label: 'augment.landmarks' });
    if (numLandmarks > 0) {
      const lk = engine.kernel({ shader: SHADERS.augment, entry: 'landmarks', bindings: ['aug', 'field', 'pts_in', 'pts_out', 'params'] });
      engine.run(lk, { aug, field, pts_in: landmarks, pts_out: pts, params: { ...uniforms, n: n * numLandmarks } }, engine.grid1d(n * numLandmarks, lk));
    }
  }
  aug.dispose();
  const result: AugmentRecordResult = { images: out, landmarks: pts };
  if (options.keepField) {
    result.field = field;
    result.grid = grid;
  } else {
    field.dispose();
  }
  return result;
}

export interface AugmentBatchOptions {
  /** Skip augmentation: the result is a copy of the images and of the landmarks. */
  noAugment?: boolean;
}

/**
 * Augments a batch: images [N, 1, H, W] (0-255 grayscale, f32) and landmarks (N * L * 2 values, x, y in pixels),
 * one AugmentParams per image. Returns a new image tensor and the new landmark positions (the only read back:
 * N * L * 2 floats; augmentRecord avoids it).
 */
export async function augmentBatch(
  images: Tensor,
  landmarks: Float32Array,
  params: readonly AugmentParams[],
  options: AugmentBatchOptions = {},
): Promise<{ images: Tensor; landmarks: Float32Array }> {
  const op = 'augment';
  const engine = checkInputs(op, { images });
  if (!(landmarks instanceof Float32Array)) throw new Error(`${op}: landmarks must be a Float32Array (N * L * 2 values, x, y in pixels)`);
  if (images.shape.length !== 4 || images.shape[1] !== 1) {
    throw new Error(`${op}: images must be [N, 1, H, W] (one grayscale channel), got ${shapeString(images.shape)}`);
  }
  const n = images.shape[0];
  if (landmarks.length % (2 * n) !== 0) {
    throw new Error(`${op}: landmarks hold ${landmarks.length} values, not N * L * 2 for N = ${n} images (images ${shapeString(images.shape)})`);
  }
  checkParams(op, params, n);
  if (options.noAugment || params.every(isIdentity)) {
    const out = engine.empty(images.shape, { label: 'augment.images' });
    engine.copy(images, out);
    return { images: out, landmarks: Float32Array.from(landmarks) };
  }
  if (landmarks.length === 0) return { images: augmentRecord(images, null, params).images, landmarks: new Float32Array(0) };
  const pts = engine.tensor(landmarks, [landmarks.length], { label: 'augment.landmarks.in' });
  const result = augmentRecord(images, pts, params);
  pts.dispose();
  const lm = result.landmarks!;
  const moved = (await engine.read(lm)) as Float32Array;
  lm.dispose();
  return { images: result.images, landmarks: moved };
}
