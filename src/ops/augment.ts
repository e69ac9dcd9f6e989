// augment: the augmentation of a batch on the GPU, images and landmarks alike (augment.wgsl), given one
// AugmentParams per image (src/data/augmentation.ts draws the reference's): an affine map about the image centre,
// an elastic deformation, then intensity (multiply) and gamma, in ONE bilinear resampling; zero outside the image.
// The elastic field lives on a coarse grid of nodes (sigma / 3.75 pixels apart) with hashed noise, blurred and
// interpolated, so it costs little at any size and a seed deforms the anatomy the same at every resolution.
// Landmarks follow the same map: the affine part exactly, the elastic part inverted by Newton's method on the GPU.
// The same parameters give bit-identical output on the same device (no atomics, no cross-thread reductions).
// Coordinates are continuous (pixel i covers [i, i + 1)). The reasons and measurements: docs/decisions.md,
// "Augmentation".
import type { Engine } from '../engine/engine.ts';
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
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

/** The per-image records (inverse and forward affine, multiply, gamma, elastic scale and seed), then the Gaussian. */
function paramRecord(params: readonly AugmentParams[], grid: ElasticGrid, w: number, h: number): Float32Array {
  const n = params.length;
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
  return record;
}

/** The elastic displacement field [N, 2, gh, gw]: hashed noise on the node grid, blurred along x then y. */
function elasticField(engine: Engine, aug: Tensor, n: number, grid: ElasticGrid, uniforms: Record<string, number>, elastic: boolean): Tensor {
  const field = engine.empty([n, 2, grid.gh, grid.gw], { label: 'augment.field' });
  if (!elastic) {
    engine.clear(field);
    return field;
  }
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
  return field;
}

/** Checks images [N, 1, H, W] and landmarks (N * L * 2 values); returns the engine and L. */
function checkBatch(op: string, images: Tensor, landmarks: Tensor | null, params: readonly AugmentParams[]): { engine: Engine; numLandmarks: number } {
  const engine = checkInputs(op, landmarks ? { images, landmarks } : { images });
  if (images.shape.length !== 4 || images.shape[1] !== 1) {
    throw new Error(`${op}: images must be [N, 1, H, W] (one grayscale channel), got ${shapeString(images.shape)}`);
  }
  const n = images.shape[0];
  let numLandmarks = 0;
  if (landmarks) {
    if (landmarks.size % (2 * n) !== 0) {
      throw new Error(`${op}: landmarks hold ${landmarks.size} values, not N * L * 2 for N = ${n} images (images ${shapeString(images.shape)})`);
    }
    numLandmarks = landmarks.size / (2 * n);
  }
  checkParams(op, params, n);
  return { engine, numLandmarks };
}

/**
 * Records the augmentation of images [N, 1, H, W] (0-255) and of landmarks (a tensor of N * L * 2 values, x, y in
 * pixels, or null) on the GPU, without any read back. Synchronous, like an op (not differentiable: no tape).
 */
export function augmentRecord(images: Tensor, landmarks: Tensor | null, params: readonly AugmentParams[], options: AugmentRecordOptions = {}): AugmentRecordResult {
  const { engine, numLandmarks } = checkBatch('augment', images, landmarks, params);
  const [n, , h, w] = images.shape;
  const elastic = params.find((p) => p.elasticAlpha > 0);
  const grid = elastic ? elasticGrid(elastic.elasticSigma, w, h) : { cell: 1, gw: 2, gh: 2, sigmaNodes: 1, radius: 0 };
  const record = paramRecord(params, grid, w, h);
  const aug = engine.empty([record.length], { label: 'augment.params' });
  engine.write(aug, record);
  const uniforms = { n: 0, width: w, height: h, gw: grid.gw, gh: grid.gh, radius: grid.radius, landmarks: numLandmarks, iterations: LANDMARK_ITERATIONS, inv_cell: 1 / grid.cell, wbase: n * STRIDE };
  const field = elasticField(engine, aug, n, grid, uniforms, elastic !== undefined);

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
