// Batches of ISBI samples on the GPU: images [N, 1, H, W] (0-255, uploaded with engine.write into tensors that are
// reused from batch to batch), the CHH target pixel of every landmark (Int32Array [N, L], flat y * W + x, what
// softmaxNll takes), the landmarks themselves (N * L * 2, resized pixels, mean of the annotators) and the pixel
// sizes (a reusable f32 [N, 2] tensor, what expectedRadialError takes, and the same numbers on the CPU).
// Browser and Node: no I/O here.
//
// Coordinates (src/data/resize.ts): pixel i covers [i, i + 1), its centre is at i + 0.5. The target pixel of a
// landmark (x, y) is the pixel that CONTAINS it, (floor(x), floor(y)), clamped to the image; that is the
// reference's `np.mean(landmarks_per_annotator[:, i], axis=0).astype(int)` (truncation) for landmarks inside the
// image, and it is round(x - 0.5) in a pixel-centres-at-integers view. A predicted pixel maps back to its centre
// (pixelCentre), so target -> prediction round trips are unbiased.
//
// Order: deterministic. shuffledOrder(count, seed, epoch) is a seeded Fisher-Yates shuffle; the same (seed, epoch)
// gives the same order in any JS engine.
import type { Engine } from '../engine/engine.ts';
import { Tensor } from '../engine/tensor.ts';
import type { IsbiSample } from './isbi.ts';
import { mixSeed, mulberry32 } from '../engine/random.ts';


/** The indices 0..count-1 in a seeded Fisher-Yates order for (seed, epoch). */
export function shuffledOrder(count: number, seed: number, epoch: number): number[] {
  if (!Number.isInteger(count) || count < 0) throw new Error(`shuffledOrder: count must be a non-negative integer, got ${count}`);
  const random = mulberry32(mixSeed(seed, epoch, 1));
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** The target pixel (flat y * W + x) of each landmark (x, y pairs): the pixel containing it, clamped to the image. */
export function targetPixels(landmarks: ArrayLike<number>, width: number, height: number): Int32Array {
  if (landmarks.length % 2 !== 0) throw new Error(`targetPixels: ${landmarks.length} values are not (x, y) pairs`);
  const out = new Int32Array(landmarks.length / 2);
  for (let i = 0; i < out.length; i++) {
    const lx = landmarks[2 * i];
    const ly = landmarks[2 * i + 1];
    if (!Number.isFinite(lx) || !Number.isFinite(ly)) throw new Error(`targetPixels: landmark ${i} is (${lx}, ${ly}), not finite`);
    const x = Math.min(width - 1, Math.max(0, Math.floor(lx)));
    const y = Math.min(height - 1, Math.max(0, Math.floor(ly)));
    out[i] = y * width + x;
  }
  return out;
}

/** The centre (x + 0.5, y + 0.5) of the pixel with flat index y * W + x: the predicted point of an argmax. */
export function pixelCentre(index: number, width: number): [number, number] {
  return [(index % width) + 0.5, Math.floor(index / width) + 0.5];
}

/** Radial error in mm of an argmax pixel's centre against point k of flat [x0, y0, x1, y1, ...] landmarks. */
export function argmaxErrorMm(index: number, width: number, landmarks: ArrayLike<number>, k: number, pixelSizeMm: readonly [number, number]): number {
  const [x, y] = pixelCentre(index, width);
  return Math.hypot((x - landmarks[2 * k]) * pixelSizeMm[0], (y - landmarks[2 * k + 1]) * pixelSizeMm[1]);
}

export interface SampleGeometry {
  width: number;
  height: number;
  landmarks: number;
}

/** Checks that every sample has one size and one landmark count (and sane data); returns them. */
export function checkSamples(samples: readonly IsbiSample[], what = 'samples'): SampleGeometry {
  if (samples.length === 0) throw new Error(`${what}: no samples`);
  const { width, height } = samples[0];
  const l2 = samples[0].landmarks.length;
  if (l2 === 0 || l2 % 2 !== 0) throw new Error(`${what}: sample ${samples[0].id} has ${l2} landmark values, not (x, y) pairs`);
  for (const s of samples) {
    if (s.width !== width || s.height !== height || s.landmarks.length !== l2) {
      throw new Error(
        `${what}: sample ${s.id} is ${s.width}x${s.height} with ${s.landmarks.length / 2} landmarks; the first is ${width}x${height} with ${l2 / 2}`,
      );
    }
    if (s.image.length !== width * height) throw new Error(`${what}: sample ${s.id} has ${s.image.length} pixels for ${width}x${height}`);
    const [sx, sy] = s.pixelSizeMm;
    if (!(sx > 0) || !(sy > 0) || !Number.isFinite(sx) || !Number.isFinite(sy)) {
      throw new Error(`${what}: sample ${s.id} has pixel size ${JSON.stringify(s.pixelSizeMm)}, expected two finite numbers > 0`);
    }
  }
  return { width, height, landmarks: l2 / 2 };
}

/** One batch. Its tensors belong to the BatchLoader and are overwritten by the next batch of the same size. */
export interface Batch {
  /** Position of this batch in the epoch (0-based). */
  index: number;
  /** Images in the batch. */
  size: number;
  /** Indices into the loader's samples, in batch order. */
  indices: number[];
  samples: IsbiSample[];
  /** f32 [N, 1, H, W], 0-255. */
  images: Tensor;
  /** N * L * 2: (x, y) per landmark, resized pixels, mean of the annotators. */
  landmarks: Float32Array;
  /** N * L target pixels, flat y * W + x (targetPixels of landmarks). */
  targets: Int32Array;
  /** N * 2: mm per pixel in x and y of each image. */
  pixelSizes: Float32Array;
  /** f32 [N, 2], the same numbers on the GPU. */
  pixelSizeTensor: Tensor;
}

export interface BatchLoaderOptions {
  batchSize: number;
  /** Shuffle each epoch (seeded by seed and epoch); default false (the samples' order). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
}

/**
 * Turns samples into GPU batches. The image and pixel-size tensors are allocated once per batch size (the last
 * batch of an epoch may be smaller) and refilled with engine.write: a write submits the work recorded so far before
 * it lands, so work recorded on the previous batch reads the previous contents. Use a batch's tensors before
 * asking for the next batch; dispose() frees them.
 */
export class BatchLoader {
  readonly geometry: SampleGeometry;
  readonly batchSize: number;
  private readonly tensors = new Map<number, { images: Tensor; pixelSizes: Tensor }>();
  private disposed = false;

  constructor(
    readonly engine: Engine,
    readonly samples: readonly IsbiSample[],
    readonly options: BatchLoaderOptions,
  ) {
    this.geometry = checkSamples(samples, 'BatchLoader');
    const b = options.batchSize;
    if (!Number.isInteger(b) || b < 1) throw new Error(`BatchLoader: batchSize must be a positive integer, got ${b}`);
    this.batchSize = b;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.samples.length;
    return this.options.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    return this.options.shuffle ? shuffledOrder(this.samples.length, this.options.seed ?? 0, epoch) : this.samples.map((_, i) => i);
  }

  /** The batches of one epoch, uploaded one at a time as the iteration reaches them. */
  *epoch(epoch = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = 0; b < this.length; b++) yield this.batch(order.slice(b * this.batchSize, (b + 1) * this.batchSize), b);
  }

  /** Uploads the given samples (indices into samples) as a batch. */
  batch(indices: readonly number[], index = 0): Batch {
    if (this.disposed) throw new Error('BatchLoader: used after dispose()');
    const n = indices.length;
    if (n === 0) throw new Error('BatchLoader: an empty batch');
    const { width, height, landmarks: l } = this.geometry;
    const hw = width * height;
    const images = new Float32Array(n * hw);
    const lms = new Float32Array(n * l * 2);
    const pix = new Float32Array(n * 2);
    const samples: IsbiSample[] = [];
    indices.forEach((idx, i) => {
      const s = this.samples[idx];
      if (!s) throw new Error(`BatchLoader: sample index ${idx} is outside [0, ${this.samples.length})`);
      samples.push(s);
      images.set(s.image, i * hw);
      lms.set(s.landmarks, i * l * 2);
      pix[2 * i] = s.pixelSizeMm[0];
      pix[2 * i + 1] = s.pixelSizeMm[1];
    });
    const t = this.tensorsFor(n);
    this.engine.write(t.images, images);
    this.engine.write(t.pixelSizes, pix);
    return {
      index,
      size: n,
      indices: [...indices],
      samples,
      images: t.images,
      landmarks: lms,
      targets: targetPixels(lms, width, height),
      pixelSizes: pix,
      pixelSizeTensor: t.pixelSizes,
    };
  }

  private tensorsFor(n: number): { images: Tensor; pixelSizes: Tensor } {
    let t = this.tensors.get(n);
    if (!t) {
      const { width, height } = this.geometry;
      t = this.engine.untracked(() => ({
        images: this.engine.empty([n, 1, height, width], { label: `batch.images[${n}]` }),
        pixelSizes: this.engine.empty([n, 2], { label: `batch.pixelSizes[${n}]` }),
      }));
      this.tensors.set(n, t);
    }
    return t;
  }

  dispose(): void {
    for (const t of this.tensors.values()) {
      t.images.dispose();
      t.pixelSizes.dispose();
    }
    this.tensors.clear();
    this.disposed = true;
  }
}

/** Splits samples into the reference's "first half" and "second half": the first floor(n / 2), then the rest. */
export function splitHalves<T>(samples: readonly T[]): [T[], T[]] {
  const half = Math.floor(samples.length / 2);
  return [samples.slice(0, half), samples.slice(half)];
}

/**
 * A tensor naming image i of a batch tensor [N, ...] (its elements [i * per, (i + 1) * per)), for engine.copy only:
 * a buffer copy needs 4-byte offsets where a storage binding needs the adapter's offset alignment, so this is built
 * directly rather than with view() (which checks the binding alignment). Never bind it to a kernel.
 */
export function imageSlice(t: Tensor, i: number): Tensor {
  const n = t.shape[0];
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`imageSlice: image ${i} is outside [0, ${n}) of "${t.label}"`);
  const per = t.size / n;
  return new Tensor(t.engine, t.buffer, [1, ...t.shape.slice(1)], t.dtype, false, `${t.label}[${i}]`, t.byteOffset + i * per * 4, t.base ?? t);
}
