// The frozen network's logits of the two halves, computed once and kept on the GPU where they never change and fit
// in the budget (the second half always, the first half when it is not augmented); augmented batches run the
// network every epoch. Why the cache and its budget: docs/decisions.md, "Temperature scaling".
import type { Engine } from '../../engine/engine.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { mixSeed } from '../../engine/random.ts';
import { augmentBatch } from '../../ops/augment.ts';
import { sampleAugmentParams, type AugmentOptions } from '../../data/augmentation.ts';
import { imageSlice, targetPixels, type Batch, type BatchLoader, type SampleGeometry } from '../../data/batches.ts';
import type { FrozenNetwork } from '../evaluate.ts';

/**
 * Augments a batch: images [N, 1, H, W] (0-255) and landmarks N * L * 2 (resized pixels) to new ones. The returned
 * images tensor is new (the caller disposes it); the input tensor must not be modified.
 */
export type CalibrationAugmenter = (
  images: Tensor,
  landmarks: Float32Array,
  seed: number,
) => Promise<{ images: Tensor; landmarks: Float32Array }> | { images: Tensor; landmarks: Float32Array };

/** The reference's augmentation (src/data/augmentation.ts, on the GPU), seeded per batch. */
export function referenceAugmenter(options: AugmentOptions = {}): CalibrationAugmenter {
  return (images, landmarks, seed) => {
    const [n, , h, w] = images.shape;
    return augmentBatch(images, landmarks, sampleAugmentParams(seed, n, w, h, options));
  };
}

/** A first-half batch's logits with the targets and landmarks they go with (augmented ones when augmented). */
export interface FitLogits {
  logits: Tensor;
  targets: Int32Array;
  landmarks: Float32Array;
  dispose: () => void;
}

/** A second-half batch's logits; release() frees them unless they are cached. */
export interface ValidationLogits {
  logits: Tensor;
  release: () => void;
}

export interface FrozenLogitsOptions {
  /** Augments the first half's batches (null: plain images, cacheable). */
  augment: CalibrationAugmenter | null;
  /** Seeds the augmentation, with the epoch and the batch. */
  seed: number;
  /** GPU bytes allowed for cached logits (0 disables caching). */
  cacheBytes: number;
  /** Images in the second half. */
  validationCount: number;
}

/** The logits of the first half (fitLoader's batches) and the second half, from the network or the cache. */
export class FrozenLogits {
  readonly cachedFit: boolean;
  readonly cachedValidation: boolean;
  private readonly valCache: Tensor[] = [];
  private readonly fitCache = new Map<number, Tensor>();

  constructor(
    private readonly engine: Engine,
    private readonly network: FrozenNetwork,
    private readonly fitLoader: BatchLoader,
    private readonly geometry: SampleGeometry,
    private readonly options: FrozenLogitsOptions,
  ) {
    const { width, height, landmarks } = geometry;
    const perImageBytes = landmarks * width * height * 4;
    const budget = options.cacheBytes;
    this.cachedValidation = options.validationCount * perImageBytes <= budget;
    const cachedBefore = options.validationCount * (this.cachedValidation ? 1 : 0);
    this.cachedFit = options.augment === null && (cachedBefore + fitLoader.samples.length) * perImageBytes <= budget;
  }

  /** The network's logits of images (a new tensor the caller disposes). */
  forward(images: Tensor): Tensor {
    return this.engine.scope(() => this.engine.noGrad(() => this.network.forward(images)));
  }

  /** Logits of the second half's batch (its batches come in the same order every time). */
  validation(batch: Batch): ValidationLogits {
    const cached = this.valCache[batch.index];
    if (cached) return { logits: cached, release: () => {} };
    const logits = this.forward(batch.images);
    if (this.cachedValidation) {
      this.valCache[batch.index] = logits;
      return { logits, release: () => {} };
    }
    return { logits, release: () => logits.dispose() };
  }

  /** Logits of a first-half batch of an epoch: augmented, plain, or assembled from the cache. */
  async fit(batch: Batch, epoch: number): Promise<FitLogits> {
    const augment = this.options.augment;
    if (augment) {
      const aug = await augment(batch.images, batch.landmarks, mixSeed(this.options.seed, epoch, 1000 + batch.index));
      const logits = this.forward(aug.images);
      aug.images.dispose();
      const { width, height } = this.geometry;
      return { logits, targets: targetPixels(aug.landmarks, width, height), landmarks: aug.landmarks, dispose: () => logits.dispose() };
    }
    const logits = this.cachedFit ? this.fromCache(batch) : this.forward(batch.images);
    return { logits, targets: batch.targets, landmarks: batch.landmarks, dispose: () => logits.dispose() };
  }

  /**
   * Cached per image (batches are reshuffled every epoch): runs the network on the images not cached yet, then
   * assembles the batch with buffer copies. (fitLoader.batch(missing) fills the tensors of another batch size, so
   * this batch's images are not overwritten.)
   */
  private fromCache(batch: Batch): Tensor {
    const { engine, fitCache } = this;
    const { width, height, landmarks } = this.geometry;
    const missing = batch.indices.filter((idx) => !fitCache.has(idx));
    if (missing.length > 0) {
      const fresh = missing.length === batch.size ? this.forward(batch.images) : this.forward(this.fitLoader.batch(missing).images);
      missing.forEach((idx, i) => {
        const t = engine.untracked(() => engine.empty([1, landmarks, height, width], { label: `calibrate.fitCache[${idx}]` }));
        engine.copy(imageSlice(fresh, i), t);
        fitCache.set(idx, t);
      });
      fresh.dispose();
    }
    const logits = engine.empty([batch.size, landmarks, height, width], { label: 'calibrate.fitLogits' });
    batch.indices.forEach((idx, i) => engine.copy(fitCache.get(idx)!, imageSlice(logits, i)));
    return logits;
  }

  dispose(): void {
    for (const t of this.valCache) t?.dispose();
    for (const t of this.fitCache.values()) t.dispose();
  }
}
