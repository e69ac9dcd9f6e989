// Temperature scaling as the reference's temperature_scaling.py does it: the fine-tuning set (the reference uses
// ISBI Test1Data) is split into halves; every epoch, the FIRST half (augmented) fits one temperature per landmark
// with Adam on the CHH loss (2D softmax of logits / T, NLL of the target pixel) with the network frozen, and the
// SECOND half (not augmented) measures the expected calibration error (ECE) of the mode probabilities; the
// temperatures of the best ECE are kept (the reference's README: "the model with the best ECE score will be
// saved"). Browser and Node.
//
// Choices (and where the reference differs):
// - Network: frozen, in eval mode (BN running statistics) under noGrad. The reference's temperature_scaling.py never
//   calls model.eval(), so its BN layers normalise with batch statistics (and keep updating the running ones) while
//   the temperatures are fitted; we do not reproduce that.
// - Optimiser: Adam (betas 0.9, 0.999) on T itself, lr 0.01 by default, batch size 4, 15 epochs (the reference's
//   cephalometric config: TRAIN.BATCH_SIZE 4; 15 epochs as its training; one commit of the reference passes
//   cfg.TRAIN.LR = 0.001 instead of 0.01; pass { lr: 0.001 } for that).
// - Positivity: T is optimised directly (exactly the reference's parametrisation, so the trajectory is the
//   reference's) and CLAMPED to [minTemperature, inf) (default 0.01) after every step, on the GPU. The clamp is
//   inactive in any sane run; it only stops a run-away step from producing T <= 0 (a division by zero or a flipped
//   argmax). The Adam moments are left as they are.
// - Selection: the ECE of the initial temperatures (epoch 0) is a candidate too (keepInitial, default true), so the
//   returned temperatures never have a worse validation ECE than the ones given. With keepInitial false, the best
//   epoch 1..E wins (the reference's loop).
// - ECE: metrics.calibration with the reference's reliability_diagram binning (10 bins over [0, 0.15], the last
//   widened to 1) and correct radius sqrt(sx * sy / pi) per image. Radial errors are from the argmax pixel's centre
//   (see evaluate.ts), which T never changes (T > 0).
// - Augmentation: src/data/augment.ts (the reference's imgaug pipeline) with seeds from (seed, epoch, batch); the
//   augmented landmarks give the targets (the pixel containing them, clamped to the image). Pass augment: null to
//   fit on the plain first half.
// - Speed: the network is frozen, so logits that do not change are computed once and cached on the GPU when they
//   fit in cacheBytes (default 512 MiB): the second half's always (it is never augmented), the first half's when
//   augment is null. At the reference's size (75 images x 19 x 640 x 800 floats = 2.9 GB per half) nothing is
//   cached and every epoch runs the network, as the reference does.
import type { Engine } from '../runtime/engine.ts';
import type { Tensor } from '../runtime/tensor.ts';
import { add, backward, relu, sub } from '../runtime/ops.ts';
import { Adam } from '../runtime/optim.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { calibration, type CalibrationOptions, type CalibrationResult } from '../model/metrics.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { augmentBatch, sampleAugmentParams, type AugmentOptions } from '../data/augment.ts';
import { BatchLoader, checkSamples, imageSlice, mixSeed, pixelCentre, splitHalves, targetPixels, type Batch } from './batches.ts';
import { calibrationBinsFor, temperatureValues, type FrozenNetwork } from './evaluate.ts';

/**
 * Augments a batch: images [N, 1, H, W] (0-255) and landmarks N * L * 2 (resized pixels) to new ones. The returned
 * images tensor is new (the caller disposes it); the input tensor must not be modified.
 */
export type CalibrationAugmenter = (
  images: Tensor,
  landmarks: Float32Array,
  seed: number,
) => Promise<{ images: Tensor; landmarks: Float32Array }> | { images: Tensor; landmarks: Float32Array };

/** The reference's augmentation (src/data/augment.ts), seeded per batch. */
export function referenceAugmenter(options: AugmentOptions = {}): CalibrationAugmenter {
  return (images, landmarks, seed) => {
    const [n, , h, w] = images.shape;
    return augmentBatch(images, landmarks, sampleAugmentParams(seed, n, w, h, options));
  };
}

export interface CalibrateOptions {
  /** Epochs (default 15). */
  epochs?: number;
  /** Adam learning rate (default 0.01). */
  lr?: number;
  /** Images per step on the first half (default 4); the second half is evaluated in batches of this size too. */
  batchSize?: number;
  /** Seeds the first half's shuffle and augmentation (default 0). */
  seed?: number;
  /** 'reference' (default): src/data/augment.ts with the reference's ranges; null: no augmentation. */
  augment?: CalibrationAugmenter | 'reference' | null;
  /** Starting temperatures (default all 1). */
  initialTemperatures?: ArrayLike<number>;
  /** Lower clamp of T after each step (default 0.01). */
  minTemperature?: number;
  /** ECE binning (default: calibrationBinsFor the images' size: the reference's 10 bins over [0, 0.15] at 640x800). */
  calibration?: CalibrationOptions;
  /** ERE cutoff used for the mode probability pass (does not affect mode probabilities; default 0.05). */
  cutoff?: number;
  /** The initial temperatures compete with the epochs for the best ECE (default true). */
  keepInitial?: boolean;
  /** GPU bytes allowed for cached logits (default 512 MiB; 0 disables caching). */
  cacheBytes?: number;
  /** Use these halves instead of splitting the samples (first: fitting set, second: ECE set). */
  halves?: [readonly IsbiSample[], readonly IsbiSample[]];
  onProgress?: (event: CalibrateProgress) => void;
}

export interface CalibrateEpoch {
  /** 0: the initial temperatures (no training); 1..E after each epoch. */
  epoch: number;
  /** Mean training NLL of the epoch's steps (NaN for epoch 0). */
  nll: number;
  /** Mean NLL on the second half. */
  validationNll: number;
  /** ECE (fraction, 0..1) on the second half. */
  ece: number;
  temperatures: number[];
}

export type CalibrateProgress =
  | { kind: 'step'; epoch: number; epochs: number; step: number; steps: number; loss: number }
  | { kind: 'epoch'; epochs: number; best: boolean; result: CalibrateEpoch };

export interface CalibrateResult {
  /** Temperatures of the best ECE on the second half. */
  temperatures: Float32Array;
  initialTemperatures: number[];
  /** ECE (fraction) on the second half with the initial temperatures. */
  eceBefore: number;
  /** ECE (fraction) on the second half with the returned temperatures. */
  eceAfter: number;
  bestEpoch: number;
  /** Epoch 0 (initial) then every epoch. */
  history: CalibrateEpoch[];
  /** Reliability diagrams on the second half, before and after. */
  before: CalibrationResult;
  after: CalibrationResult;
  fitCount: number;
  validationCount: number;
  settings: { epochs: number; lr: number; batchSize: number; seed: number; augmented: boolean; minTemperature: number; cachedFit: boolean; cachedValidation: boolean };
}

export async function calibrateTemperatures(
  engine: Engine,
  network: FrozenNetwork,
  samples: readonly IsbiSample[],
  options: CalibrateOptions = {},
): Promise<CalibrateResult> {
  const op = 'calibrateTemperatures';
  const [fitSet, valSet] = options.halves ?? splitHalves(samples);
  if (fitSet.length === 0 || valSet.length === 0) {
    throw new Error(`${op}: both halves need samples (got ${fitSet.length} to fit and ${valSet.length} to validate; give at least 2 samples)`);
  }
  const geometry = checkSamples([...fitSet, ...valSet], op);
  const { width, height, landmarks: L } = geometry;
  if (L !== network.landmarks) throw new Error(`${op}: the network predicts ${network.landmarks} landmarks but the samples have ${L}`);
  const epochs = options.epochs ?? 15;
  const lr = options.lr ?? 0.01;
  const batchSize = options.batchSize ?? 4;
  const seed = options.seed ?? 0;
  const minT = options.minTemperature ?? 0.01;
  const cutoff = options.cutoff ?? 0.05;
  const calib = options.calibration ?? calibrationBinsFor(width, height);
  const keepInitial = options.keepInitial ?? true;
  if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`${op}: epochs must be a non-negative integer, got ${epochs}`);
  if (!(minT > 0)) throw new Error(`${op}: minTemperature must be > 0, got ${minT}`);
  const augment = options.augment === undefined || options.augment === 'reference' ? referenceAugmenter() : options.augment;
  const initial = await temperatureValues(options.initialTemperatures ?? new Float32Array(L).fill(1), L, op);
  for (let i = 0; i < L; i++) initial[i] = Math.max(initial[i], minT);

  const perImageBytes = L * width * height * 4;
  const budget = options.cacheBytes ?? 512 * 1024 * 1024;
  const cacheValidation = valSet.length * perImageBytes <= budget;
  const cacheFit = augment === null && (valSet.length * (cacheValidation ? 1 : 0) + fitSet.length) * perImageBytes <= budget;

  const fitLoader = new BatchLoader(engine, fitSet, { batchSize, shuffle: true, seed });
  const valLoader = new BatchLoader(engine, valSet, { batchSize });
  const temps = engine.untracked(() => engine.tensor(initial, [L], { label: 'calibrate.temperatures', requiresGrad: true }));
  const floor = engine.untracked(() => engine.full([L], minT, { label: 'calibrate.minTemperature' }));
  const optimizer = new Adam([temps], { lr });
  const valCache: Tensor[] = [];
  const fitCache = new Map<number, Tensor>();

  /** Logits of a batch: from the network (a new tensor the caller disposes) or assembled from / stored in a cache. */
  const forward = (images: Tensor): Tensor => engine.scope(() => engine.noGrad(() => network.forward(images)));

  // Truth for the ECE: radial errors depend only on the argmax (T > 0 never moves it), computed at every pass anyway.
  const validate = async (): Promise<{ ece: number; nll: number; result: CalibrationResult }> => {
    const errors: number[] = [];
    const modes: number[] = [];
    const sizes: [number, number][] = [];
    let nll = 0;
    let b = 0;
    for (const batch of valLoader.epoch(0)) {
      let logits = valCache[b];
      const owned = !logits;
      if (!logits) {
        logits = forward(batch.images);
        if (cacheValidation) {
          valCache[b] = logits;
        }
      }
      const out = engine.scope(() =>
        engine.noGrad(() => {
          const r = expectedRadialError(logits, temps, batch.pixelSizeTensor, { cutoff });
          r.ere.dispose();
          return { modeProb: r.modeProb, argmax: r.argmax, loss: softmaxNll(logits, temps, batch.targets) };
        }),
      );
      const [mode, arg, loss] = await Promise.all([out.modeProb.read(), out.argmax.read(), out.loss.item()]);
      out.modeProb.dispose();
      out.argmax.dispose();
      out.loss.dispose();
      if (owned && !cacheValidation) logits.dispose();
      nll += loss * batch.size;
      batch.samples.forEach((s, i) => {
        for (let l = 0; l < L; l++) {
          const [x, y] = pixelCentre(arg[i * L + l], width);
          errors.push(Math.hypot((x - s.landmarks[2 * l]) * s.pixelSizeMm[0], (y - s.landmarks[2 * l + 1]) * s.pixelSizeMm[1]));
          modes.push(mode[i * L + l]);
          sizes.push(s.pixelSizeMm);
        }
      });
      b++;
    }
    const result = calibration(errors, modes, sizes, calib);
    return { ece: result.ece, nll: nll / valSet.length, result };
  };

  const fitLogits = async (batch: Batch, epoch: number): Promise<{ logits: Tensor; targets: Int32Array; dispose: () => void }> => {
    if (augment) {
      const aug = await augment(batch.images, batch.landmarks, mixSeed(seed, epoch, 1000 + batch.index));
      const logits = forward(aug.images);
      aug.images.dispose();
      return { logits, targets: targetPixels(aug.landmarks, width, height), dispose: () => logits.dispose() };
    }
    if (!cacheFit) {
      const logits = forward(batch.images);
      return { logits, targets: batch.targets, dispose: () => logits.dispose() };
    }
    // Cached per image (batches are reshuffled every epoch): run the network on the images not cached yet, then
    // assemble the batch with buffer copies. (fitLoader.batch(missing) fills the tensors of another batch size, so
    // this batch's images are not overwritten.)
    const missing = batch.indices.filter((idx) => !fitCache.has(idx));
    if (missing.length > 0) {
      const fresh = missing.length === batch.size ? forward(batch.images) : forward(fitLoader.batch(missing).images);
      missing.forEach((idx, i) => {
        const t = engine.untracked(() => engine.empty([1, L, height, width], { label: `calibrate.fitCache[${idx}]` }));
        engine.copy(imageSlice(fresh, i), t);
        fitCache.set(idx, t);
      });
      fresh.dispose();
    }
    const logits = engine.empty([batch.size, L, height, width], { label: 'calibrate.fitLogits' });
    batch.indices.forEach((idx, i) => engine.copy(fitCache.get(idx)!, imageSlice(logits, i)));
    return { logits, targets: batch.targets, dispose: () => logits.dispose() };
  };

  const history: CalibrateEpoch[] = [];
  try {
    const first = await validate();
    const before = first.result;
    history.push({ epoch: 0, nll: NaN, validationNll: first.nll, ece: first.ece, temperatures: Array.from(initial) });
    let best = { epoch: 0, ece: keepInitial || epochs === 0 ? first.ece : Infinity, temperatures: Float32Array.from(initial), result: before };
    options.onProgress?.({ kind: 'epoch', epochs, best: true, result: history[0] });

    for (let epoch = 1; epoch <= epochs; epoch++) {
      const losses: number[] = [];
      const steps = fitLoader.length;
      for (const batch of fitLoader.epoch(epoch)) {
        const { logits, targets, dispose } = await fitLogits(batch, epoch);
        const loss = engine.scope(() => {
          const l = softmaxNll(logits, temps, targets);
          backward(l);
          return l;
        });
        dispose();
        optimizer.step();
        // T <- max(T, minT) = relu(T - minT) + minT, on the GPU.
        engine.scope(() =>
          engine.noGrad(() => {
            const shifted = relu(sub(temps, floor));
            const clamped = add(shifted, floor);
            engine.copy(clamped, temps);
          }),
        );
        optimizer.zeroGrad();
        const v = await loss.item();
        loss.dispose();
        if (!Number.isFinite(v)) throw new Error(`${op}: the NLL is ${v} at epoch ${epoch}, step ${batch.index + 1}`);
        losses.push(v);
        options.onProgress?.({ kind: 'step', epoch, epochs, step: batch.index + 1, steps, loss: v });
      }
      const val = await validate();
      const t = Float32Array.from(await temps.read());
      const entry: CalibrateEpoch = {
        epoch,
        nll: losses.reduce((a, b) => a + b, 0) / losses.length,
        validationNll: val.nll,
        ece: val.ece,
        temperatures: Array.from(t),
      };
      history.push(entry);
      const improved = val.ece < best.ece;
      if (improved) best = { epoch, ece: val.ece, temperatures: t, result: val.result };
      options.onProgress?.({ kind: 'epoch', epochs, best: improved, result: entry });
    }
    return {
      temperatures: best.temperatures,
      initialTemperatures: Array.from(initial),
      eceBefore: first.ece,
      eceAfter: best.ece,
      bestEpoch: best.epoch,
      history,
      before,
      after: best.result,
      fitCount: fitSet.length,
      validationCount: valSet.length,
      settings: { epochs, lr, batchSize, seed, augmented: augment !== null, minTemperature: minT, cachedFit: cacheFit, cachedValidation: cacheValidation },
    };
  } finally {
    optimizer.dispose();
    temps.grad?.dispose();
    temps.dispose();
    floor.dispose();
    for (const t of valCache) t?.dispose();
    for (const t of fitCache.values()) t.dispose();
    fitLoader.dispose();
    valLoader.dispose();
  }
}
