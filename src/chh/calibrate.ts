// Temperature scaling: one temperature T per landmark divides the logits before the 2D softmax, which changes the
// confidence of a heatmap (its mode probability) and never its argmax. As the reference's temperature_scaling.py, the
// fine-tuning set (the reference uses ISBI Test1Data) is split into halves: every epoch the FIRST half fits the
// temperatures with Adam (lr 0.01) with the network frozen, and the SECOND half (never augmented) measures the
// expected calibration error (ECE) of the mode probabilities; the temperatures of the best ECE are kept (the
// reference's README: "the model with the best ECE score will be saved"). Browser and Node.
//
// Objectives (option objective):
// - 'ece' (default): Adam directly on the ECE of the first half, which is what temperature scaling is for (the
//   project's mission: temperatures fitted "to minimise the Expected Calibration Error"). Confidence c_i is the mode
//   probability of map i (image, landmark) at its landmark's T, accuracy a_i is 1 when the argmax pixel's centre is
//   within correctRadiusMm of the truth, binned exactly as metrics.calibration bins. With the bins held fixed,
//   dECE/dT_l = sum_b sign(sum_{i in b} (c_i - a_i)) * sum_{i in b, landmark l} dc_i/dT_l / N (eceAndGradient);
//   dc/dT comes from a central difference of the ERE kernel's mode probabilities (modeProbabilitySlopes says why).
//   Each epoch is one pass over the first half in batches of batchSize (only the size of the GPU work) and ONE Adam
//   step (CpuAdam: torch.optim.Adam's formulas on the L temperatures in f64, written to the GPU tensor).
// - 'nll': the reference's: Adam on the CHH loss (2D softmax of logits / T, NLL of the target pixel), one step per
//   batch of batchSize, the engine's Adam on the GPU.
//
// Choices (and where the reference differs):
// - Why not the NLL by default: in npm start's quick configuration (tiny model at 128x160, 32 + 32 fine-tuning
//   images; measured in Node on the weights of one npm start run, 2026-11) the maps are overconfident (test: mean mode probability 0.46, accuracy 0.44, ECE 0.0589) but
//   the NLL fit on the augmented first half LOWERS T (mean 0.91 after 15 epochs; the second half's ECE rose from
//   0.070 to 0.10), on the plain first half it drifts down too (mean 0.98); the best-ECE rule kept T = 1 and the
//   test ECE did not move. The 'ece' objective with the defaults took the second half's ECE 0.0704 -> 0.0492 and
//   the test ECE 0.0589 -> 0.0372 (T 0.90..1.15; the ERE's ROC AUC 0.904 -> 0.888, as ERE depends on T). The
//   README's npm start run (another trained model) went from 0.0510 to 0.0468 on the test split.
// - Why the ECE of the whole half per step, not of each batch: the sign of a bin's gap over a 4-image batch is a
//   biased estimate of its sign over the half (a low-confidence bin with 12.5% accuracy holds no correct landmark
//   in most 4-image batches, so most steps see it overconfident and RAISE T while the half is underconfident and
//   wants it lowered; see the test). Measured in the quick configuration: steps on each 4-image batch's ECE gave
//   second half 0.0501, test 0.0410; steps on 4-image batches with the bins' signs from the whole half (an unbiased
//   stochastic gradient, 8 steps per epoch) overfitted: second half 0.0342 but test 0.0565, T 0.65..1.58, ROC AUC of
//   the ERE 0.835. One step per epoch on the whole half's ECE moves T by at most about lr per epoch, and the best-ECE
//   selection on the second half stops it.
// - Augmentation: 'ece' fits on the PLAIN first half by default (augment: null), 'nll' on the augmented one (the
//   reference). The ECE that matters is measured on plain images, the augmented half's accuracy and bins change with
//   every epoch's draws (its ECE jumped between 0.03 and 0.09 from epoch to epoch, so T barely moved: mean 1.02
//   after 15 epochs, second half 0.0704 -> 0.0639, test 0.0589 -> 0.0366), and plain logits are computed once and
//   cached instead of running the network every epoch (133 s vs 153 s in Node on this machine). Pass
//   augment: 'reference' to fit the ECE on augmented images.
// - Network: frozen, in eval mode (BN running statistics) under noGrad. The reference's temperature_scaling.py never
//   calls model.eval(), so its BN layers normalise with batch statistics (and keep updating the running ones) while
//   the temperatures are fitted; we do not reproduce that.
// - Optimiser: Adam (betas 0.9, 0.999) on T itself, lr 0.01 by default, batch size 4, 15 epochs (the reference's
//   cephalometric config: TRAIN.BATCH_SIZE 4; 15 epochs as its training; one commit of the reference passes
//   cfg.TRAIN.LR = 0.001 instead of 0.01; pass { lr: 0.001 } for that).
// - Positivity: T is optimised directly (exactly the reference's parametrisation, so the trajectory is the
//   reference's) and CLAMPED to [minTemperature, inf) (default 0.01) after every step. The clamp is inactive in any
//   sane run; it only stops a run-away step from producing T <= 0 (a division by zero or a flipped argmax). The Adam
//   moments are left as they are.
// - Selection: the ECE of the initial temperatures (epoch 0) is a candidate too (keepInitial, default true), so the
//   returned temperatures never have a worse validation ECE than the ones given. With keepInitial false, the best
//   epoch 1..E wins (the reference's loop).
// - ECE: metrics.calibration with the reference's reliability_diagram binning (10 bins over [0, 0.15] at 640x800,
//   wider for coarser maps: calibrationBinsFor) and correct radius sqrt(sx * sy / pi) per image. Radial errors are
//   from the argmax pixel's centre (see evaluate.ts), which T never changes (T > 0).
// - Augmentation draws: src/data/augment.ts (the reference's imgaug pipeline) with seeds from (seed, epoch, batch);
//   the augmented landmarks give the targets (the pixel containing them, clamped to the image) and the truth of
//   the ECE objective's accuracies.
// - Speed: the network is frozen, so logits that do not change are computed once and cached on the GPU when they
//   fit in cacheBytes (default 512 MiB): the second half's always (it is never augmented), the first half's when
//   augment is null. At the reference's size (75 images x 19 x 640 x 800 floats = 2.9 GB per half) nothing is
//   cached and every epoch runs the network, as the reference does.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { add, sub } from '../ops/add.ts';
import { backward } from '../ops/backward.ts';
import { relu } from '../ops/relu.ts';
import { Adam } from '../nn/adam.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { calibration, calibrationBinIndexer, correctRadiusMm, type CalibrationOptions, type CalibrationResult } from './metrics/calibration.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { augmentBatch, sampleAugmentParams, type AugmentOptions } from '../ops/augment.ts';
import { argmaxErrorMm, BatchLoader, checkSamples, imageSlice, splitHalves, targetPixels, type Batch } from '../data/batches.ts';
import { mixSeed } from '../engine/random.ts';
import { calibrationBinsFor, temperatureValues, type FrozenNetwork } from './evaluate.ts';
import { full } from '../ops/fill.ts';

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

/** What the temperatures are fitted to on the first half: see the file header. */
export type CalibrationObjective = 'ece' | 'nll';
export const CALIBRATION_OBJECTIVES: readonly CalibrationObjective[] = ['ece', 'nll'];

export interface CalibrateOptions {
  /**
   * 'ece' (default): Adam on the ECE of the whole first half, one step per epoch (the project's mission: T
   * minimises the ECE). 'nll': Adam on the CHH loss (NLL of the target pixel), one step per batch, as the
   * reference's temperature_scaling.py.
   */
  objective?: CalibrationObjective;
  /** Epochs (default 15). */
  epochs?: number;
  /** Adam learning rate (default 0.01). */
  lr?: number;
  /**
   * Images per batch on the first half (default 4): per Adam step for 'nll', per GPU pass for 'ece' (whose step is
   * on the whole half). The second half is evaluated in batches of this size too.
   */
  batchSize?: number;
  /** Seeds the first half's shuffle and augmentation (default 0). */
  seed?: number;
  /**
   * 'reference': src/data/augment.ts with the reference's ranges; null: no augmentation. Default: null for the 'ece'
   * objective, 'reference' for 'nll' (see the file header).
   */
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
  /** Mean NLL of the first half over the epoch, at the temperatures each step started from (NaN for epoch 0). */
  nll: number;
  /**
   * 'ece' objective: the ECE of the whole first half at the temperatures the epoch started from (NaN for epoch 0 and
   * for 'nll'; absent in results written before the option).
   */
  fitEce?: number;
  /** Mean NLL on the second half. */
  validationNll: number;
  /** ECE (fraction, 0..1) on the second half. */
  ece: number;
  temperatures: number[];
}

export type CalibrateProgress =
  /** loss: the objective before the step: the batch's NLL ('nll'), or the whole first half's ECE, a fraction ('ece'). */
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
  settings: {
    /** Absent in results written before the option existed: those fitted the NLL. */
    objective?: CalibrationObjective;
    epochs: number;
    lr: number;
    batchSize: number;
    seed: number;
    augmented: boolean;
    minTemperature: number;
    cachedFit: boolean;
    cachedValidation: boolean;
  };
}

/** Relative step of the central difference that gives d(mode probability)/dT (modeProbabilitySlopes). */
export const MODE_PROBABILITY_STEP = 1e-3;

export interface ModeProbabilitySlopes {
  /** [N * L] mode probability of each map at the given temperatures. */
  modeProb: Float32Array;
  /** [N * L] flat argmax index y * W + x of each map. */
  argmax: Int32Array;
  /** [N * L] d modeProb / d T of the map's landmark (central difference, f64 arithmetic on the f32 results). */
  slope: Float64Array;
}

/**
 * Mode probabilities of logits [N, L, H, W] at temperatures T (one per landmark) and their derivatives dc/dT_l.
 *
 * Analytically dc/dT = c / T^2 * (E_p[z] - z_max) (c = max softmax(z / T)), but no kernel computes E_p[z] per map,
 * and expectedRadialError already gives c at any temperatures. Map (n, l) depends only on T_l, so ONE pass at
 * T * (1 + h) and ONE at T * (1 - h) (all landmarks perturbed at once) give every partial derivative:
 * dc/dT_l ~ (c(T_l+) - c(T_l-)) / (T_l+ - T_l-). Robustness: the step is relative (h = MODE_PROBABILITY_STEP, so it
 * scales with T), central (error O(h^2)), and divided by the perturbed temperatures as the GPU sees them (rounded
 * to f32), not by the nominal 2hT. With h = 1e-3 the f32 rounding of c (~1e-7 relative) is far below the
 * difference being measured for any map that carries weight in the ECE.
 */
export async function modeProbabilitySlopes(
  engine: Engine,
  logits: Tensor,
  temperatures: ArrayLike<number>,
  pixelSizeMm: Tensor,
  options: { relativeStep?: number; cutoff?: number } = {},
): Promise<ModeProbabilitySlopes> {
  const op = 'modeProbabilitySlopes';
  const h = options.relativeStep ?? MODE_PROBABILITY_STEP;
  if (!(h > 0 && h < 0.5)) throw new Error(`${op}: relativeStep must be in (0, 0.5), got ${h}`);
  const L = temperatures.length;
  const centre = Float32Array.from(temperatures);
  const plus = centre.map((t) => t * (1 + h));
  const minus = centre.map((t) => t * (1 - h));
  for (let l = 0; l < L; l++) {
    if (!(centre[l] > 0) || !Number.isFinite(centre[l])) throw new Error(`${op}: temperature ${l} is ${centre[l]}, expected a finite number > 0`);
  }
  const out = engine.scope(() =>
    engine.noGrad(() =>
      [centre, plus, minus].map((values, k) => {
        const t = engine.tensor(values, [L], { label: `${op}.temperatures[${k}]` });
        const r = expectedRadialError(logits, t, pixelSizeMm, { cutoff: options.cutoff ?? 0.05 });
        r.ere.dispose();
        if (k > 0) r.argmax.dispose();
        return k === 0 ? { modeProb: r.modeProb, argmax: r.argmax } : { modeProb: r.modeProb };
      }),
    ),
  );
  try {
    const [c, cPlus, cMinus, arg] = await Promise.all([out[0].modeProb.read(), out[1].modeProb.read(), out[2].modeProb.read(), out[0].argmax!.read()]);
    const slope = new Float64Array(c.length);
    for (let i = 0; i < c.length; i++) {
      const l = i % L;
      slope[i] = (cPlus[i] - cMinus[i]) / (plus[l] - minus[l]);
    }
    return { modeProb: Float32Array.from(c), argmax: Int32Array.from(arg as Int32Array), slope };
  } finally {
    for (const o of out) {
      o.modeProb.dispose();
      o.argmax?.dispose();
    }
  }
}

/**
 * The ECE of a set of maps and its gradient with respect to the per-landmark temperatures, the bins held fixed:
 * ECE = sum_b |sum_{i in b} (c_i - a_i)| / N, so dECE/dT_l = sum_b sign(sum_{i in b} (c_i - a_i)) *
 * sum_{i in b, landmark of i = l} dc_i/dT_l / N. Samples are in [N, L] order (sample i is landmark i % L); correct
 * is a_i (radial error below correctRadiusMm); binning is metrics.calibration's (calibrationBinIndexer), so ece is
 * exactly calibration(...).ece. f64 throughout.
 */
export function eceAndGradient(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  slope: ArrayLike<number>,
  landmarks: number,
  options: CalibrationOptions = {},
): { ece: number; gradient: Float64Array } {
  const n = confidence.length;
  if (correct.length !== n || slope.length !== n) throw new Error(`eceAndGradient: ${n} confidences, ${correct.length} correctness flags and ${slope.length} slopes`);
  if (!Number.isInteger(landmarks) || landmarks < 1 || n % landmarks !== 0) throw new Error(`eceAndGradient: ${n} samples are not whole images of ${landmarks} landmarks`);
  if (n === 0) throw new Error('eceAndGradient: no samples');
  const binOf = calibrationBinIndexer(options);
  const bins = new Int32Array(n);
  const gap = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    bins[i] = binOf(confidence[i]);
    gap.set(bins[i], (gap.get(bins[i]) ?? 0) + confidence[i] - (correct[i] ? 1 : 0));
  }
  let ece = 0;
  for (const g of gap.values()) ece += Math.abs(g);
  const gradient = new Float64Array(landmarks);
  for (let i = 0; i < n; i++) gradient[i % landmarks] += Math.sign(gap.get(bins[i])!) * slope[i];
  for (let l = 0; l < landmarks; l++) gradient[l] /= n;
  return { ece: ece / n, gradient };
}

/** Adam with PyTorch's formulas (torch.optim.Adam, no weight decay, no amsgrad) on a few f64 numbers on the CPU. */
export class CpuAdam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  stepCount = 0;
  constructor(
    size: number,
    readonly lr: number,
    readonly betas: [number, number] = [0.9, 0.999],
    readonly eps = 1e-8,
  ) {
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`CpuAdam: lr must be a positive number, got ${lr}`);
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** One step of params (updated in place) along grad. */
  step(params: Float64Array, grad: ArrayLike<number>): void {
    const [b1, b2] = this.betas;
    this.stepCount++;
    const bc1 = 1 - b1 ** this.stepCount;
    const bc2 = 1 - b2 ** this.stepCount;
    for (let i = 0; i < params.length; i++) {
      this.m[i] = b1 * this.m[i] + (1 - b1) * grad[i];
      this.v[i] = b2 * this.v[i] + (1 - b2) * grad[i] * grad[i];
      const denom = Math.sqrt(this.v[i]) / Math.sqrt(bc2) + this.eps;
      params[i] -= (this.lr / bc1) * (this.m[i] / denom);
    }
  }
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
  const objective = options.objective ?? 'ece';
  if (!CALIBRATION_OBJECTIVES.includes(objective)) throw new Error(`${op}: objective must be 'ece' or 'nll', got ${JSON.stringify(objective)}`);
  if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`${op}: epochs must be a non-negative integer, got ${epochs}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`${op}: lr must be a positive number, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${op}: batchSize must be a positive integer, got ${batchSize}`);
  if (!(minT > 0)) throw new Error(`${op}: minTemperature must be > 0, got ${minT}`);
  const augmentOption = options.augment === undefined ? (objective === 'ece' ? null : 'reference') : options.augment;
  const augment = augmentOption === 'reference' ? referenceAugmenter() : augmentOption;
  const initial = await temperatureValues(options.initialTemperatures ?? new Float32Array(L).fill(1), L, op);
  for (let i = 0; i < L; i++) initial[i] = Math.max(initial[i], minT);

  const perImageBytes = L * width * height * 4;
  const budget = options.cacheBytes ?? 512 * 1024 * 1024;
  const cacheValidation = valSet.length * perImageBytes <= budget;
  const cacheFit = augment === null && (valSet.length * (cacheValidation ? 1 : 0) + fitSet.length) * perImageBytes <= budget;

  const fitLoader = new BatchLoader(engine, fitSet, { batchSize, shuffle: true, seed });
  const valLoader = new BatchLoader(engine, valSet, { batchSize });
  const temps = engine.untracked(() => engine.tensor(initial, [L], { label: 'calibrate.temperatures', requiresGrad: true }));
  const floor = engine.untracked(() => full(engine, [L], minT, { label: 'calibrate.minTemperature' }));
  // 'nll': the engine's Adam on the GPU tensor (backward of softmaxNll). 'ece': the gradient is assembled on the CPU
  // (eceAndGradient), so a CPU Adam with the same formulas steps f64 copies of the L temperatures, written to temps.
  const optimizer = objective === 'nll' ? new Adam([temps], { lr }) : null;
  const cpuAdam = objective === 'ece' ? new CpuAdam(L, lr) : null;
  const current = Float64Array.from(initial);
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
          errors.push(argmaxErrorMm(arg[i * L + l], width, s.landmarks, l, s.pixelSizeMm));
          modes.push(mode[i * L + l]);
          sizes.push(s.pixelSizeMm);
        }
      });
      b++;
    }
    const result = calibration(errors, modes, sizes, calib);
    return { ece: result.ece, nll: nll / valSet.length, result };
  };

  const fitLogits = async (batch: Batch, epoch: number): Promise<{ logits: Tensor; targets: Int32Array; landmarks: Float32Array; dispose: () => void }> => {
    if (augment) {
      const aug = await augment(batch.images, batch.landmarks, mixSeed(seed, epoch, 1000 + batch.index));
      const logits = forward(aug.images);
      aug.images.dispose();
      return { logits, targets: targetPixels(aug.landmarks, width, height), landmarks: aug.landmarks, dispose: () => logits.dispose() };
    }
    if (!cacheFit) {
      const logits = forward(batch.images);
      return { logits, targets: batch.targets, landmarks: batch.landmarks, dispose: () => logits.dispose() };
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
    return { logits, targets: batch.targets, landmarks: batch.landmarks, dispose: () => logits.dispose() };
  };

  /** One step on the NLL (the reference's): backward of softmaxNll into temps.grad, the engine's Adam. */
  const nllStep = async (logits: Tensor, targets: Int32Array): Promise<number> => {
    const loss = engine.scope(() => {
      const l = softmaxNll(logits, temps, targets);
      backward(l);
      return l;
    });
    optimizer!.step();
    // T <- max(T, minT) = relu(T - minT) + minT, on the GPU.
    engine.scope(() =>
      engine.noGrad(() => {
        const shifted = relu(sub(temps, floor));
        const clamped = add(shifted, floor);
        engine.copy(clamped, temps);
      }),
    );
    optimizer!.zeroGrad();
    const v = await loss.item();
    loss.dispose();
    return v;
  };

  /** Correct (radial error of the argmax pixel's centre below correctRadiusMm), per map in [N, L] order. */
  const correctness = (argmax: Int32Array, batch: Batch, landmarks: Float32Array): boolean[] => {
    const correct: boolean[] = [];
    for (let i = 0; i < batch.size; i++) {
      const size: [number, number] = [batch.pixelSizes[2 * i], batch.pixelSizes[2 * i + 1]];
      const radius = correctRadiusMm(size);
      for (let l = 0; l < L; l++) correct.push(argmaxErrorMm(argmax[i * L + l], width, landmarks, i * L + l, size) < radius);
    }
    return correct;
  };

  /**
   * One epoch of the 'ece' objective: a pass over the whole first half in batches of batchSize (augmented or
   * plain) gathers every map's mode probability c, dc/dT (modeProbabilitySlopes) and correctness (argmax against
   * the batch's landmarks, as validate() does it); then ONE Adam step on the ECE of the whole first half
   * (eceAndGradient), the clamp, and the new temperatures written to temps. Returns the half's ECE and mean NLL at
   * the temperatures the epoch started from.
   */
  const eceEpoch = async (epoch: number): Promise<{ ece: number; nll: number }> => {
    const confidence: number[] = [];
    const slope: number[] = [];
    const correct: boolean[] = [];
    let nll = 0;
    for (const batch of fitLoader.epoch(epoch)) {
      const fit = await fitLogits(batch, epoch);
      try {
        const nllTensor = engine.scope(() => engine.noGrad(() => softmaxNll(fit.logits, temps, fit.targets)));
        const slopes = await modeProbabilitySlopes(engine, fit.logits, Float32Array.from(current), batch.pixelSizeTensor, { cutoff });
        nll += (await nllTensor.item()) * batch.size;
        nllTensor.dispose();
        confidence.push(...slopes.modeProb);
        slope.push(...slopes.slope);
        correct.push(...correctness(slopes.argmax, batch, fit.landmarks));
      } finally {
        fit.dispose();
      }
    }
    const { ece, gradient } = eceAndGradient(confidence, correct, slope, L, calib);
    cpuAdam!.step(current, gradient);
    for (let l = 0; l < L; l++) current[l] = Math.max(current[l], minT);
    engine.write(temps, Float32Array.from(current));
    return { ece, nll: nll / fitSet.length };
  };

  const history: CalibrateEpoch[] = [];
  try {
    const first = await validate();
    const before = first.result;
    history.push({ epoch: 0, nll: NaN, fitEce: NaN, validationNll: first.nll, ece: first.ece, temperatures: Array.from(initial) });
    let best = { epoch: 0, ece: keepInitial || epochs === 0 ? first.ece : Infinity, temperatures: Float32Array.from(initial), result: before };
    options.onProgress?.({ kind: 'epoch', epochs, best: true, result: history[0] });

    for (let epoch = 1; epoch <= epochs; epoch++) {
      const losses: number[] = [];
      const fitEces: number[] = [];
      if (objective === 'ece') {
        const r = await eceEpoch(epoch);
        if (!Number.isFinite(r.nll)) throw new Error(`${op}: the NLL is ${r.nll} at epoch ${epoch}`);
        const bad = Array.from(current).find((t) => !Number.isFinite(t));
        if (bad !== undefined) throw new Error(`${op}: a temperature became ${bad} at epoch ${epoch} (the ECE of the first half was ${r.ece})`);
        losses.push(r.nll);
        fitEces.push(r.ece);
        options.onProgress?.({ kind: 'step', epoch, epochs, step: 1, steps: 1, loss: r.ece });
      } else {
        const steps = fitLoader.length;
        for (const batch of fitLoader.epoch(epoch)) {
          const fit = await fitLogits(batch, epoch);
          let v: number;
          try {
            v = await nllStep(fit.logits, fit.targets);
          } finally {
            fit.dispose();
          }
          if (!Number.isFinite(v)) throw new Error(`${op}: the NLL is ${v} at epoch ${epoch}, step ${batch.index + 1}`);
          losses.push(v);
          fitEces.push(NaN);
          options.onProgress?.({ kind: 'step', epoch, epochs, step: batch.index + 1, steps, loss: v });
        }
      }
      const val = await validate();
      const t = Float32Array.from(await temps.read());
      const entry: CalibrateEpoch = {
        epoch,
        nll: losses.reduce((a, b) => a + b, 0) / losses.length,
        fitEce: fitEces.reduce((a, b) => a + b, 0) / fitEces.length,
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
      settings: { objective, epochs, lr, batchSize, seed, augmented: augment !== null, minTemperature: minT, cachedFit: cacheFit, cachedValidation: cacheValidation },
    };
  } finally {
    optimizer?.dispose();
    temps.grad?.dispose();
    temps.dispose();
    floor.dispose();
    for (const t of valCache) t?.dispose();
    for (const t of fitCache.values()) t.dispose();
    fitLoader.dispose();
    valLoader.dispose();
  }
}
