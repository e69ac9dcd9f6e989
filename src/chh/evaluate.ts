// Evaluation of a trained network on a split, as the reference's test.py + evaluate.py do it: the network in eval
// mode without gradients, per map of softmax(logits / T) the predicted point (argmax), the radial error in mm against
// the mean of the annotators, the expected radial error (ERE) and the mode probability, then every metric of the
// paper (src/chh/metrics/summary.ts summarize: MRE, SDR, ECE + reliability bins, ERE vs error, ROC of ERE, the
// good/erroneous split). A few images' probability maps are kept for the report's overlays. Browser and Node.
//
// Choices (and where the reference differs):
// - Predicted point: the argmax pixel, no sub-pixel refinement (the reference's get_hottest_point takes the argmax
//   too and never refines). We report the pixel's CENTRE (x + 0.5, y + 0.5), the point consistent with the data's
//   coordinates (src/data/resize.ts: pixel i covers [i, i + 1)) and with the training target (the pixel containing
//   the landmark, batches.ts). The reference uses the index (x, y) itself against continuous annotations, which
//   biases its errors by half a pixel per axis on average (~0.2 mm at 640x800). `pointConvention: 'index'` gives the
//   reference's numbers.
// - Ties: the first maximum in scan order (numpy's argmax and ere.wgsl agree).
// - Batch size: any (test.py uses 1); every statistic is per map, so results do not depend on it (BN is in eval
//   mode). The mean NLL is averaged over maps.
// - ECE uses the reference's reliability_diagram binning by default (10 bins over [0, 0.15], the last widened to
//   1) with the correct radius sqrt(sx * sy / pi) of each image (the reference fixes the pixel size at 0.30234375).
// - The good/erroneous split is by ERE (see metrics.splitByEre: the reference's test.py splits by the true error).
import type { Engine } from '../engine/engine.ts';
import { Tensor } from '../engine/tensor.ts';
import { expectedRadialError } from '../ops/ere.ts';
import { softmaxNll } from '../ops/softmax-nll.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { calibration, type CalibrationOptions, type CalibrationResult } from './metrics/calibration.ts';
import { summarize, type EvaluationSummary, type SummaryOptions } from './metrics/summary.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { BatchLoader, checkSamples, pixelCentre, type Batch } from '../data/batches.ts';
import { EVALUATION } from './config.ts';

/** A frozen network: images [N, 1, H, W] (0-255) to logits [N, L, H, W], eval mode, no tape. */
export interface FrozenNetwork {
  readonly landmarks: number;
  forward(images: Tensor): Tensor;
}

/** A ResnetUnet as a FrozenNetwork: each forward runs with state.training = false (BN running statistics) under noGrad. */
export function unetNetwork(model: ResnetUnet, state: ModelState): FrozenNetwork {
  return {
    landmarks: model.config.landmarks,
    forward(images: Tensor): Tensor {
      const was = state.training;
      state.training = false;
      try {
        return state.engine.noGrad(() => model.forward(state, images));
      } finally {
        state.training = was;
      }
    },
  };
}

/** The reference's reliability diagram binning (plots.reliability_diagram: n_of_bins = 10, x_max = 0.15). */
export const REFERENCE_CALIBRATION_BINS: CalibrationOptions = { bins: 10, maxConfidence: 0.15 };

/**
 * The reliability diagram's bins for maps of width x height: the reference's [0, 0.15] at its 640x800, the range
 * scaled by (640*800)/(W*H) elsewhere, capped at 1. A mode probability is the mass of one pixel, which grows with
 * the pixel's area; at 128x160 with the reference's range nearly every landmark falls in the last bin and the ECE
 * measures a single bin's gap.
 */
export function calibrationBinsFor(width: number, height: number): CalibrationOptions {
  const scaled = (REFERENCE_CALIBRATION_BINS.maxConfidence ?? 1) * ((640 * 800) / (width * height));
  return { ...REFERENCE_CALIBRATION_BINS, maxConfidence: Math.min(1, scaled) };
}

/** Reads temperatures given as numbers or as a tensor. */
export async function temperatureValues(t: ArrayLike<number> | Tensor, landmarks: number, op: string): Promise<Float32Array> {
  const values = t instanceof Tensor ? Float32Array.from(await t.read()) : Float32Array.from(t);
  if (values.length !== landmarks) throw new Error(`${op}: ${values.length} temperatures for ${landmarks} landmarks`);
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] > 0) || !Number.isFinite(values[i])) throw new Error(`${op}: temperature ${i} is ${values[i]}, expected a finite number > 0`);
  }
  return values;
}

export interface HeatmapOptions {
  /** Keep the maps of this many images (the first ones of the split; default 4). Ignored when ids is given. */
  count?: number;
  /** Keep the maps of these sample ids instead. */
  ids?: readonly string[];
  /** Largest side of a kept map; larger maps are max-pooled by an integer factor (default 320). */
  maxSize?: number;
  /**
   * How the L maps become one (default 'max'): 'max' is the reference's visualise (each map divided by its own
   * maximum, then the maximum over landmarks); 'sum' adds the probabilities and divides by the maximum of the sum.
   */
  reduce?: 'max' | 'sum';
}

/** One image's landmark probability maps folded into one, values in [0, 1]. */
export interface HeatmapSnapshot {
  id: string;
  /** Size of the map (the image's size divided by factor, rounded up). */
  width: number;
  height: number;
  /** Image pixels per map pixel (max pooling). */
  factor: number;
  reduce: 'max' | 'sum';
  /** width * height values in [0, 1] (3 decimals), rows top to bottom. */
  values: number[];
}

export interface EvaluateOptions {
  /** Temperatures (one per landmark, > 0); default all 1. */
  temperatures?: ArrayLike<number> | Tensor;
  /** Images per forward pass (default 1, as test.py). */
  batchSize?: number;
  /** ERE's significant-pixel cutoff (default 0.05, the reference's). */
  cutoff?: number;
  /** Options of metrics.summarize; calibration defaults to calibrationBinsFor(width, height). */
  summary?: SummaryOptions;
  /**
   * Also measure calibration with these temperatures on the same logits (the "before calibration" reliability
   * diagram). Default: all ones when the temperatures are not all 1; null: never.
   */
  compareTemperatures?: ArrayLike<number> | null;
  heatmaps?: HeatmapOptions;
  /** 'centre' (default): argmax pixel + 0.5; 'index': the pixel index itself, as the reference. */
  pointConvention?: 'centre' | 'index';
  /** A name for the split, carried into the result. */
  label?: string;
  onProgress?: (done: number, total: number) => void;
}

/** Per image: values per landmark (arrays of L, or L * 2 for points). */
export interface ImageEvaluation {
  id: string;
  pixelSizeMm: [number, number];
  /** L * 2, (x, y) in resized pixels. */
  predicted: number[];
  /** L * 2, (x, y) in resized pixels, the mean of the annotators. */
  truth: number[];
  /** Flat argmax index y * W + x. */
  argmax: number[];
  radialErrorsMm: number[];
  ereMm: number[];
  modeProbabilities: number[];
  /** ERE above the summary's split threshold: predicted to be erroneous. */
  flagged: boolean[];
  /** How far the annotators' points lie apart (mean over pairs, mm), per landmark; null with one annotator. */
  annotatorSpreadMm: number[] | null;
}

export interface EvaluationResult {
  label: string;
  width: number;
  height: number;
  landmarks: number;
  temperatures: number[];
  cutoff: number;
  pointConvention: 'centre' | 'index';
  /** Mean over maps of the CHH negative log-likelihood of the target pixel. */
  meanNll: number;
  images: ImageEvaluation[];
  summary: EvaluationSummary;
  /** Calibration with compareTemperatures (e.g. T = 1, before temperature scaling), or null. */
  comparison: { temperatures: number[]; calibration: CalibrationResult } | null;
  heatmaps: HeatmapSnapshot[];
}

/** The resolved options of one evaluation. */
interface EvaluationSetup {
  width: number;
  height: number;
  landmarks: number;
  temperatures: Float32Array;
  compare: Float32Array | null;
  cutoff: number;
  convention: 'centre' | 'index';
  keepIds: Set<string>;
  maxSize: number;
  reduce: 'max' | 'sum';
}

/** What the batches add up to. */
interface EvaluationParts {
  images: ImageEvaluation[];
  heatmaps: HeatmapSnapshot[];
  compareModes: number[];
  nllSum: number;
}

async function resolveEvaluation(network: FrozenNetwork, samples: readonly IsbiSample[], options: EvaluateOptions): Promise<EvaluationSetup> {
  const op = 'evaluateSplit';
  const { width, height, landmarks: L } = checkSamples(samples, op);
  if (L !== network.landmarks) throw new Error(`${op}: the network predicts ${network.landmarks} landmarks but the samples have ${L}`);
  const temperatures = await temperatureValues(options.temperatures ?? new Float32Array(L).fill(1), L, op);
  const allOnes = temperatures.every((t) => t === 1);
  const compare = options.compareTemperatures === null ? null : options.compareTemperatures ? await temperatureValues(options.compareTemperatures, L, op) : allOnes ? null : new Float32Array(L).fill(1);
  const hm = options.heatmaps ?? {};
  const keepIds = new Set(hm.ids ?? samples.slice(0, Math.max(0, hm.count ?? EVALUATION.overlays.default)).map((s) => s.id));
  return {
    width, height, landmarks: L, temperatures, compare,
    cutoff: options.cutoff ?? EVALUATION.cutoff.default,
    convention: options.pointConvention ?? 'centre',
    keepIds, maxSize: hm.maxSize ?? EVALUATION.heatmapMaxSize.default, reduce: hm.reduce ?? 'max',
  };
}

/** One image's per-landmark results from the batch's maps (map index m = i * L + l for image i of the batch). */
function imageEvaluation(s: IsbiSample, i: number, setup: EvaluationSetup, maps: { ere: ArrayLike<number>; mode: ArrayLike<number>; arg: ArrayLike<number> }): ImageEvaluation {
  const L = setup.landmarks;
  const offset = setup.convention === 'centre' ? 0 : -0.5;
  const e: ImageEvaluation = {
    id: s.id, pixelSizeMm: [s.pixelSizeMm[0], s.pixelSizeMm[1]], predicted: [], truth: Array.from(s.landmarks),
    argmax: [], radialErrorsMm: [], ereMm: [], modeProbabilities: [], flagged: [], annotatorSpreadMm: annotatorSpreadMm(s, L),
  };
  for (let l = 0; l < L; l++) {
    const m = i * L + l;
    const [px, py] = pixelCentre(maps.arg[m], setup.width);
    const x = px + offset;
    const y = py + offset;
    e.predicted.push(x, y);
    e.argmax.push(maps.arg[m]);
    e.radialErrorsMm.push(Math.hypot((x - s.landmarks[2 * l]) * s.pixelSizeMm[0], (y - s.landmarks[2 * l + 1]) * s.pixelSizeMm[1]));
    e.ereMm.push(maps.ere[m]);
    e.modeProbabilities.push(maps.mode[m]);
  }
  return e;
}

/** Mean distance (mm) between the points two annotators clicked, over every pair, per landmark; null with one. */
export function annotatorSpreadMm(s: IsbiSample, landmarks: number): number[] | null {
  const a = s.annotators;
  if (a.length < 2) return null;
  const [sx, sy] = s.pixelSizeMm;
  return Array.from({ length: landmarks }, (_, l) => {
    let sum = 0;
    let pairs = 0;
    for (let i = 0; i < a.length; i++) {
      for (let j = i + 1; j < a.length; j++, pairs++) sum += Math.hypot((a[i][2 * l] - a[j][2 * l]) * sx, (a[i][2 * l + 1] - a[j][2 * l + 1]) * sy);
    }
    return sum / pairs;
  });
}

/** Runs one batch: logits, ERE statistics and the loss on the GPU, read back and added to `parts`. */
async function evaluateBatch(engine: Engine, network: FrozenNetwork, batch: Batch, setup: EvaluationSetup, temps: { main: Tensor; compare: Tensor | null }, parts: EvaluationParts): Promise<void> {
  const { cutoff, keepIds, landmarks: L, width, height } = setup;
  const wantMaps = batch.samples.some((s) => keepIds.has(s.id));
  const out = engine.scope(() =>
    engine.noGrad(() => {
      const logits = network.forward(batch.images);
      const stats = expectedRadialError(logits, temps.main, batch.pixelSizeTensor, { cutoff });
      const loss = softmaxNll(logits, temps.main, batch.targets);
      const cmp = temps.compare ? expectedRadialError(logits, temps.compare, batch.pixelSizeTensor, { cutoff }).modeProb : null;
      return { ...stats, loss, cmp, logits: wantMaps ? logits : null };
    }),
  );
  try {
    const [ere, mode, arg, loss, cmp, logits] = await Promise.all([
      out.ere.read(),
      out.modeProb.read(),
      out.argmax.read(),
      out.loss.item(),
      out.cmp ? out.cmp.read() : Promise.resolve(null),
      out.logits ? out.logits.read() : Promise.resolve(null),
    ]);
    parts.nllSum += loss * batch.size * L;
    batch.samples.forEach((s, i) => {
      parts.images.push(imageEvaluation(s, i, setup, { ere, mode, arg }));
      if (cmp) for (let l = 0; l < L; l++) parts.compareModes.push(cmp[i * L + l]);
      if (logits && keepIds.has(s.id)) {
        const per = L * width * height;
        const maps = (logits as Float32Array).subarray(i * per, (i + 1) * per);
        parts.heatmaps.push(heatmapSnapshot(s.id, maps, setup.temperatures, width, height, { maxSize: setup.maxSize, reduce: setup.reduce }));
      }
    });
  } finally {
    for (const t of [out.ere, out.modeProb, out.argmax, out.loss, out.cmp, out.logits]) t?.dispose();
  }
}

/** Every metric of the paper over the images, and the result as plain data. */
function evaluationResult(setup: EvaluationSetup, parts: EvaluationParts, options: EvaluateOptions): EvaluationResult {
  const { images } = parts;
  const L = setup.landmarks;
  const flat = (k: 'radialErrorsMm' | 'ereMm' | 'modeProbabilities') => images.flatMap((e) => e[k]);
  const pixelSizes = images.flatMap((e) => Array.from({ length: L }, () => e.pixelSizeMm));
  const summaryOptions: SummaryOptions = { ...options.summary, calibration: options.summary?.calibration ?? calibrationBinsFor(setup.width, setup.height) };
  const radial = flat('radialErrorsMm');
  const summary = summarize(
    { radialErrorsMm: radial, ereMm: flat('ereMm'), modeProbabilities: flat('modeProbabilities'), pixelSizeMm: pixelSizes, landmarksPerImage: L },
    summaryOptions,
  );
  const threshold = summary.split.ereThresholdMm;
  // A non-finite ERE (NaN or infinite logits) is flagged: such a landmark is never reported as fine.
  for (const e of images) e.flagged = e.ereMm.map((v) => !(v <= threshold));
  const compare = setup.compare;
  return {
    label: options.label ?? '',
    width: setup.width,
    height: setup.height,
    landmarks: L,
    temperatures: Array.from(setup.temperatures),
    cutoff: setup.cutoff,
    pointConvention: setup.convention,
    meanNll: parts.nllSum / (images.length * L),
    images,
    summary,
    comparison: compare ? { temperatures: Array.from(compare), calibration: calibration(radial, parts.compareModes, pixelSizes, summaryOptions.calibration) } : null,
    heatmaps: parts.heatmaps,
  };
}

/**
 * Runs the network over the samples and computes every metric. The result is plain data (JSON.stringify turns the
 * NaN of empty bins and the Infinity of the ROC's first threshold into null; the report reads null as missing).
 */
export async function evaluateSplit(engine: Engine, network: FrozenNetwork, samples: readonly IsbiSample[], options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const setup = await resolveEvaluation(network, samples, options);
  const loader = new BatchLoader(engine, samples, { batchSize: options.batchSize ?? EVALUATION.batch.default });
  const L = setup.landmarks;
  const main = engine.untracked(() => engine.tensor(setup.temperatures, [L], { label: 'evaluate.temperatures' }));
  const compare = setup.compare ? engine.untracked(() => engine.tensor(setup.compare!, [L], { label: 'evaluate.compareTemperatures' })) : null;
  const parts: EvaluationParts = { images: [], heatmaps: [], compareModes: [], nllSum: 0 };
  let done = 0;
  try {
    for (const batch of loader.epoch(0)) {
      await evaluateBatch(engine, network, batch, setup, { main, compare }, parts);
      done += batch.size;
      options.onProgress?.(done, samples.length);
    }
  } finally {
    loader.dispose();
    main.dispose();
    compare?.dispose();
  }
  return evaluationResult(setup, parts, options);
}

/** evaluateSplit for a ResnetUnet (eval mode, no grad). */
export function evaluateModel(engine: Engine, model: ResnetUnet, state: ModelState, samples: readonly IsbiSample[], options: EvaluateOptions = {}): Promise<EvaluationResult> {
  return evaluateSplit(engine, unetNetwork(model, state), samples, options);
}

/**
 * One image's maps (logits L * H * W) as softmax(logits / T) per landmark, folded into one map in [0, 1] and
 * max-pooled by an integer factor so that the larger side is at most maxSize (max pooling keeps the thin,
 * contour-hugging ridges visible where averaging would wash them out). Computed in f64 on the CPU.
 */
export function heatmapSnapshot(
  id: string,
  logits: ArrayLike<number>,
  temperatures: ArrayLike<number>,
  width: number,
  height: number,
  options: { maxSize?: number; reduce?: 'max' | 'sum' } = {},
): HeatmapSnapshot {
  const hw = width * height;
  const L = temperatures.length;
  if (logits.length !== L * hw) throw new Error(`heatmapSnapshot: ${logits.length} logits for ${L} maps of ${width}x${height}`);
  const reduce = options.reduce ?? 'max';
  const maxSize = options.maxSize ?? EVALUATION.heatmapMaxSize.default;
  if (!Number.isInteger(maxSize) || maxSize < 1) throw new Error(`heatmapSnapshot: maxSize must be a positive integer, got ${maxSize}`);
  const combined = new Float64Array(hw);
  for (let l = 0; l < L; l++) {
    const t = temperatures[l];
    const base = l * hw;
    let zmax = -Infinity;
    for (let i = 0; i < hw; i++) zmax = Math.max(zmax, logits[base + i] / t);
    let s = 0;
    for (let i = 0; i < hw; i++) s += Math.exp(logits[base + i] / t - zmax);
    for (let i = 0; i < hw; i++) {
      const r = Math.exp(logits[base + i] / t - zmax); // p / max p
      if (reduce === 'max') combined[i] = Math.max(combined[i], r);
      else combined[i] += r / s;
    }
  }
  if (reduce === 'sum') {
    let m = 0;
    for (let i = 0; i < hw; i++) m = Math.max(m, combined[i]);
    if (m > 0) for (let i = 0; i < hw; i++) combined[i] /= m;
  }
  const factor = Math.max(1, Math.ceil(Math.max(width, height) / maxSize));
  const w = Math.ceil(width / factor);
  const h = Math.ceil(height / factor);
  const values: number[] = new Array(w * h).fill(0);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / factor) * w;
    for (let x = 0; x < width; x++) {
      const j = row + Math.floor(x / factor);
      const v = combined[y * width + x];
      if (v > values[j]) values[j] = v;
    }
  }
  for (let j = 0; j < values.length; j++) values[j] = Math.round(values[j] * 1000) / 1000;
  return { id, width: w, height: h, factor, reduce, values };
}
