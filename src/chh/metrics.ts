// Evaluation metrics of "Contour-Hugging Heatmaps for Landmark Detection" (McCouat & Voiculescu, CVPR 2022) as pure
// functions on plain arrays (no GPU, no fs, no DOM): radial error, MRE and SDR, calibration (ECE and reliability
// diagram), ERE vs true radial error, the ROC of ERE as a detector of erroneous landmarks, the good/erroneous split
// by ERE, and a summary of all of them for a whole test set. Reference: jfm15/ContourHuggingHeatmaps (evaluate.py,
// plots.py, test.py, temperature_scaling.py); where this file departs from it, the comment says so.
//
// Conventions:
//  - Inputs containing NaN or Infinity, empty inputs where a value is needed, and length mismatches throw a
//    RangeError naming the function and the argument.
//  - A result that is mathematically undefined (the mean of an empty group, the accuracy of an empty bin, the
//    correlation of a constant series) is NaN, as numpy/scipy give it.
//  - All arithmetic is in f64; arrays come back as plain number[] (JSON friendly).

/** SDR thresholds of the paper and of test.py, in mm. */
export const SDR_THRESHOLDS_MM: readonly number[] = [2, 2.5, 3, 4];
/** A landmark whose true radial error is above this (mm) is "erroneous" (plots.roc_outlier_graph). */
export const OUTLIER_THRESHOLD_MM = 4;
/** Landmarks per point of the ERE vs radial error graph (plots.radial_error_vs_ere_graph n_bin). */
export const ERE_BIN_SIZE = 36;
/** Default ERE threshold (mm) for the good/erroneous split: test.py's --outlier_threshold default. */
export const ERE_SPLIT_THRESHOLD_MM = 1.5;

/** A point [x, y] in pixels. */
export type Point = ArrayLike<number>;
/**
 * Pixel size in mm: one number for every landmark (isotropic), or one entry per landmark, each a number
 * (isotropic) or a pair [sx, sy]. A single pair for all landmarks is not accepted (it would be ambiguous with two
 * isotropic landmarks); repeat it per landmark.
 */
export type PixelSizeMm = number | ArrayLike<number | ArrayLike<number>>;

// ---------------------------------------------------------------------------------------------------------------
// Input checks

function fail(fn: string, msg: string): never {
  throw new RangeError(`${fn}: ${msg}`);
}

function checkFiniteArray(fn: string, name: string, a: ArrayLike<number>, opts: { nonEmpty?: boolean; min?: number; max?: number } = {}): void {
  if (a === null || typeof a !== 'object' || typeof a.length !== 'number') fail(fn, `${name} must be an array of numbers`);
  if (opts.nonEmpty !== false && a.length === 0) fail(fn, `${name} is empty`);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(fn, `${name}[${i}] is ${String(v)}, expected a finite number`);
    if (opts.min !== undefined && v < opts.min) fail(fn, `${name}[${i}] = ${v} is below ${opts.min}`);
    if (opts.max !== undefined && v > opts.max) fail(fn, `${name}[${i}] = ${v} is above ${opts.max}`);
  }
}

function checkSameLength(fn: string, names: string[], arrays: ArrayLike<unknown>[]): void {
  for (let i = 1; i < arrays.length; i++) {
    if (arrays[i].length !== arrays[0].length) {
      fail(fn, `length mismatch: ${names[0]} has ${arrays[0].length}, ${names[i]} has ${arrays[i].length}`);
    }
  }
}

function checkFiniteScalar(fn: string, name: string, v: number, min?: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(fn, `${name} is ${String(v)}, expected a finite number`);
  if (min !== undefined && v < min) fail(fn, `${name} = ${v} is below ${min}`);
}

function checkThresholds(fn: string, thresholds: ArrayLike<number>): void {
  checkFiniteArray(fn, 'thresholds', thresholds, { nonEmpty: false });
}

/** Pixel sizes as [sx, sy] per landmark (count = number of landmarks), validated (> 0, finite). */
function pixelSizePairs(fn: string, pixelSizeMm: PixelSizeMm, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const one = (v: unknown, where: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(fn, `${where} is ${String(v)}, expected a finite number > 0`);
    return v;
  };
  if (typeof pixelSizeMm === 'number') {
    const s = one(pixelSizeMm, 'pixelSizeMm');
    for (let i = 0; i < count; i++) out.push([s, s]);
    return out;
  }
  if (pixelSizeMm === null || typeof pixelSizeMm !== 'object' || typeof pixelSizeMm.length !== 'number') {
    fail(fn, 'pixelSizeMm must be a number or an array with one entry per landmark');
  }
  if (pixelSizeMm.length !== count) {
    fail(fn, `length mismatch: pixelSizeMm has ${pixelSizeMm.length} entries for ${count} landmarks (a single size must be a number)`);
  }
  for (let i = 0; i < count; i++) {
    const e = pixelSizeMm[i];
    if (typeof e === 'number') {
      const s = one(e, `pixelSizeMm[${i}]`);
      out.push([s, s]);
    } else {
      if (e === null || typeof e !== 'object' || e.length !== 2) fail(fn, `pixelSizeMm[${i}] must be a number or a pair [sx, sy]`);
      out.push([one(e[0], `pixelSizeMm[${i}][0]`), one(e[1], `pixelSizeMm[${i}][1]`)]);
    }
  }
  return out;
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// Radial error, MRE, SDR

/**
 * Radial (Euclidean) error in mm of each landmark: |(predicted - truth) * pixelSize|, as evaluate.evaluate does
 * (norm(pred * ps - target * ps)). Points are [x, y] in pixels; the target (mean of the annotators) is the caller's.
 */
export function radialErrors(predicted: ArrayLike<Point>, truth: ArrayLike<Point>, pixelSizeMm: PixelSizeMm): number[] {
  const fn = 'radialErrors';
  if (predicted.length === 0) fail(fn, 'predicted is empty');
  checkSameLength(fn, ['predicted', 'truth'], [predicted, truth]);
  const sizes = pixelSizePairs(fn, pixelSizeMm, predicted.length);
  const out: number[] = [];
  for (let k = 0; k < predicted.length; k++) {
    const p = predicted[k];
    const t = truth[k];
    if (p == null || p.length !== 2) fail(fn, `predicted[${k}] must be a pair [x, y]`);
    if (t == null || t.length !== 2) fail(fn, `truth[${k}] must be a pair [x, y]`);
    checkFiniteArray(fn, `predicted[${k}]`, p);
    checkFiniteArray(fn, `truth[${k}]`, t);
    const [sx, sy] = sizes[k];
    out.push(Math.hypot((p[0] - t[0]) * sx, (p[1] - t[1]) * sy));
  }
  return out;
}

/** Mean and population standard deviation (ddof = 0, numpy's np.std default). */
export interface MeanStd {
  mean: number;
  std: number;
  count: number;
}

function meanStdUnchecked(a: ArrayLike<number>): MeanStd {
  const n = a.length;
  if (n === 0) return { mean: NaN, std: NaN, count: 0 };
  const mean = sum(a) / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i] - mean) * (a[i] - mean);
  return { mean, std: Math.sqrt(ss / n), count: n };
}

/** MRE: mean radial error (mm) and its population standard deviation (ddof = 0). Throws on an empty input. */
export function meanRadialError(errorsMm: ArrayLike<number>): MeanStd {
  checkFiniteArray('meanRadialError', 'errorsMm', errorsMm, { min: 0 });
  return meanStdUnchecked(errorsMm);
}

/** One successful detection rate: percent (0..100) of errors strictly below thresholdMm. */
export interface SdrEntry {
  thresholdMm: number;
  percent: number;
}

function sdrUnchecked(errorsMm: ArrayLike<number>, thresholdsMm: ArrayLike<number>): SdrEntry[] {
  const out: SdrEntry[] = [];
  for (let j = 0; j < thresholdsMm.length; j++) {
    const t = thresholdsMm[j];
    let hits = 0;
    for (let i = 0; i < errorsMm.length; i++) if (errorsMm[i] < t) hits++;
    out.push({ thresholdMm: t, percent: errorsMm.length === 0 ? NaN : (100 * hits) / errorsMm.length });
  }
  return out;
}

/**
 * SDR: for each threshold, 100 * #(error < threshold) / N. The comparison is strict, as in
 * evaluate.produce_sdr_statistics (an error of exactly 2 mm does not count as a 2 mm success).
 */
export function successfulDetectionRates(errorsMm: ArrayLike<number>, thresholdsMm: ArrayLike<number> = SDR_THRESHOLDS_MM): SdrEntry[] {
  const fn = 'successfulDetectionRates';
  checkFiniteArray(fn, 'errorsMm', errorsMm, { min: 0 });
  checkThresholds(fn, thresholdsMm);
  return sdrUnchecked(errorsMm, thresholdsMm);
}

// ---------------------------------------------------------------------------------------------------------------
// Calibration

/**
 * Radius (mm) within which a prediction counts as correct for calibration: r = sqrt(A / pi), A = sx * sy the area
 * of one pixel, i.e. the disc around the target whose area equals one pixel. plots.reliability_diagram uses
 * sqrt(pixel_size^2 / pi), the same thing for square pixels (it assumes one pixel size, 0.30234375 mm, for all).
 */
export function correctRadiusMm(pixelSizeMm: number | ArrayLike<number>): number {
  const [[sx, sy]] = pixelSizePairs('correctRadiusMm', typeof pixelSizeMm === 'number' ? pixelSizeMm : [pixelSizeMm], 1);
  return Math.sqrt((sx * sy) / Math.PI);
}

/** A bar of the reliability diagram: bin [lo, hi), (the last bin is closed); accuracy and confidence NaN if empty. */
export interface CalibrationBin {
  lo: number;
  hi: number;
  count: number;
  /** Fraction (0..1) of the bin's landmarks that are correct. */
  accuracy: number;
  /** Mean mode probability of the bin's landmarks. */
  confidence: number;
}

export interface CalibrationResult {
  /** Expected calibration error as a fraction, sum over bins of (n_bin / N) |accuracy - confidence|. Empty bins add 0. */
  ece: number;
  bins: CalibrationBin[];
  count: number;
  /** Landmarks within correctRadiusMm of the target. */
  correct: number;
}

export interface CalibrationOptions {
  /** Number of equal-width bins (default 10). */
  bins?: number;
  /**
   * Upper edge of the equal-width binning (default 1: bins over [0, 1]). With a value below 1 the bins are equal
   * over [0, maxConfidence] and the last one is widened to reach 1, as plots.reliability_diagram does with
   * x_max = 0.15 (mode probabilities of these heatmaps are small).
   */
  maxConfidence?: number;
}

/** Bin edges like np.linspace(0, maxConfidence, bins + 1) (edge i = i * step), with the last edge set to 1. */
function calibrationEdges(bins: number, maxConfidence: number): number[] {
  const step = maxConfidence / bins;
  const edges: number[] = [];
  for (let i = 0; i < bins; i++) edges.push(i * step);
  edges.push(1);
  return edges;
}

/**
 * The bin calibration() puts a confidence in (0-based): the largest b with edge_b <= c, so the last bin also takes
 * c == 1. Options as calibration's (validated here). Temperature scaling on the ECE (src/pipeline/calibrate.ts)
 * bins with this, so its objective is exactly the ECE reported.
 */
export function calibrationBinIndexer(options: CalibrationOptions = {}): (confidence: number) => number {
  const fn = 'calibration';
  const nBins = options.bins ?? 10;
  const maxConfidence = options.maxConfidence ?? 1;
  if (!Number.isInteger(nBins) || nBins < 1) fail(fn, `bins = ${nBins} must be a positive integer`);
  if (!(maxConfidence > 0 && maxConfidence <= 1)) fail(fn, `maxConfidence = ${maxConfidence} must be in (0, 1]`);
  const edges = calibrationEdges(nBins, maxConfidence);
  return (c) => {
    let b = nBins - 1;
    while (b > 0 && c < edges[b]) b--;
    return b;
  };
}

/**
 * Calibration of the mode probability (confidence = max of the heatmap) against correctness (radial error below
 * correctRadiusMm of the landmark's pixel). Expected calibration error and the reliability diagram.
 *
 * Bins are np.histogram's: [edge_i, edge_{i+1}) and the last closed. ECE is a fraction; plots.reliability_diagram
 * prints it multiplied by 100. The reference also gives NaN as soon as one bin is empty (0 * NaN); here an empty bin
 * contributes 0 (the usual ECE definition) and reports accuracy = confidence = NaN.
 */
export function calibration(
  radialErrorsMm: ArrayLike<number>,
  modeProbabilities: ArrayLike<number>,
  pixelSizeMm: PixelSizeMm,
  options: CalibrationOptions = {},
): CalibrationResult {
  const fn = 'calibration';
  const nBins = options.bins ?? 10;
  const maxConfidence = options.maxConfidence ?? 1;
  if (!Number.isInteger(nBins) || nBins < 1) fail(fn, `bins = ${nBins} must be a positive integer`);
  if (!(maxConfidence > 0 && maxConfidence <= 1)) fail(fn, `maxConfidence = ${maxConfidence} must be in (0, 1]`);
  checkFiniteArray(fn, 'radialErrorsMm', radialErrorsMm, { min: 0 });
  checkFiniteArray(fn, 'modeProbabilities', modeProbabilities, { min: 0, max: 1 });
  checkSameLength(fn, ['radialErrorsMm', 'modeProbabilities'], [radialErrorsMm, modeProbabilities]);
  const sizes = pixelSizePairs(fn, pixelSizeMm, radialErrorsMm.length);

  const binOf = calibrationBinIndexer(options);
  const edges = calibrationEdges(nBins, maxConfidence);
  const count = new Array<number>(nBins).fill(0);
  const confSum = new Array<number>(nBins).fill(0);
  const correctCount = new Array<number>(nBins).fill(0);
  let correct = 0;
  const n = radialErrorsMm.length;
  for (let i = 0; i < n; i++) {
    const c = modeProbabilities[i];
    const b = binOf(c);
    const [sx, sy] = sizes[i];
    const ok = radialErrorsMm[i] < Math.sqrt((sx * sy) / Math.PI);
    count[b]++;
    confSum[b] += c;
    if (ok) {
      correctCount[b]++;
      correct++;
    }
  }
  const bins: CalibrationBin[] = [];
  let ece = 0;
  for (let b = 0; b < nBins; b++) {
    const accuracy = count[b] === 0 ? NaN : correctCount[b] / count[b];
    const confidence = count[b] === 0 ? NaN : confSum[b] / count[b];
    if (count[b] > 0) ece += (count[b] / n) * Math.abs(accuracy - confidence);
    bins.push({ lo: edges[b], hi: edges[b + 1], count: count[b], accuracy, confidence });
  }
  return { ece, bins, count: n, correct };
}

// ---------------------------------------------------------------------------------------------------------------
// Correlation, ERE vs radial error

/**
 * Pearson correlation coefficient, as scipy.stats.pearsonr computes it (centred, normalised dot product, clipped
 * to [-1, 1]; n = 2 gives the product of the signs). NaN if either input is constant; throws for fewer than 2.
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const fn = 'pearson';
  checkFiniteArray(fn, 'x', x);
  checkFiniteArray(fn, 'y', y);
  checkSameLength(fn, ['x', 'y'], [x, y]);
  return pearsonUnchecked(x, y);
}

function pearsonUnchecked(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) fail('pearson', `needs at least 2 values, got ${n}`);
  let constX = true;
  let constY = true;
  for (let i = 1; i < n; i++) {
    if (x[i] !== x[0]) constX = false;
    if (y[i] !== y[0]) constY = false;
  }
  if (constX || constY) return NaN;
  if (n === 2) return Math.sign(x[1] - x[0]) * Math.sign(y[1] - y[0]);
  const mx = sum(x) / n;
  const my = sum(y) / n;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  const nx = Math.sqrt(sxx);
  const ny = Math.sqrt(syy);
  let r = 0;
  for (let i = 0; i < n; i++) r += ((x[i] - mx) / nx) * ((y[i] - my) / ny);
  return Math.max(-1, Math.min(1, r));
}

/** A point of the ERE vs true radial error graph: a group of landmarks adjacent in ERE order. */
export interface EreErrorBin {
  count: number;
  meanEre: number;
  meanError: number;
}

export interface EreVsErrorResult {
  binSize: number;
  bins: EreErrorBin[];
  /** Landmarks left out: the last, partial group (0 when keepPartial). */
  dropped: number;
  /** Pearson correlation of the binned means (the number printed on the paper's graph); NaN under 2 bins. */
  binnedCorrelation: number;
  /** Pearson correlation of the raw per-landmark ERE and radial error. */
  rawCorrelation: number;
}

export interface EreVsErrorOptions {
  /** Landmarks per bin (default 36, as plots.radial_error_vs_ere_graph). */
  binSize?: number;
  /**
   * Keep the last, partial bin (default false). The reference loops over int(N / n_bin) bins, so it drops the
   * N mod n_bin landmarks with the largest ERE; the default does the same.
   */
  keepPartial?: boolean;
}

/**
 * ERE vs true radial error: sort the landmarks by ERE (ascending; ties keep their input order, a stable sort where
 * the reference's np.argsort is not), cut into consecutive bins of binSize, and give the mean ERE and mean radial
 * error of each bin, with the Pearson correlation of the binned means and of the raw values.
 */
export function ereVsError(ereMm: ArrayLike<number>, radialErrorsMm: ArrayLike<number>, options: EreVsErrorOptions = {}): EreVsErrorResult {
  const fn = 'ereVsError';
  const binSize = options.binSize ?? ERE_BIN_SIZE;
  if (!Number.isInteger(binSize) || binSize < 1) fail(fn, `binSize = ${binSize} must be a positive integer`);
  checkFiniteArray(fn, 'ereMm', ereMm, { min: 0 });
  checkFiniteArray(fn, 'radialErrorsMm', radialErrorsMm, { min: 0 });
  checkSameLength(fn, ['ereMm', 'radialErrorsMm'], [ereMm, radialErrorsMm]);
  const n = ereMm.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ereMm[a] - ereMm[b] || a - b);
  const full = Math.floor(n / binSize);
  const nBins = options.keepPartial && n % binSize !== 0 ? full + 1 : full;
  const bins: EreErrorBin[] = [];
  for (let b = 0; b < nBins; b++) {
    const end = Math.min(n, (b + 1) * binSize);
    let se = 0;
    let sr = 0;
    for (let j = b * binSize; j < end; j++) {
      se += ereMm[order[j]];
      sr += radialErrorsMm[order[j]];
    }
    const c = end - b * binSize;
    bins.push({ count: c, meanEre: se / c, meanError: sr / c });
  }
  const binnedCorrelation =
    bins.length < 2
      ? NaN
      : pearsonUnchecked(
          bins.map((b) => b.meanEre),
          bins.map((b) => b.meanError),
        );
  const rawCorrelation = n < 2 ? NaN : pearsonUnchecked(ereMm, radialErrorsMm);
  return { binSize, bins, dropped: n - bins.reduce((a, b) => a + b.count, 0), binnedCorrelation, rawCorrelation };
}

// ---------------------------------------------------------------------------------------------------------------
// ROC

export interface RocCurve {
  fpr: number[];
  tpr: number[];
  /**
   * Decreasing score thresholds; point i classifies score >= thresholds[i] as positive. thresholds[0] is Infinity
   * (the (0, 0) point), as scikit-learn >= 1.3 gives it; scikit-learn < 1.3 wrote thresholds[1] + 1 there.
   */
  thresholds: number[];
}

export interface RocOptions {
  /** Drop collinear points like sklearn's roc_curve(drop_intermediate=True). Default false (every threshold). */
  dropIntermediate?: boolean;
}

function checkLabels(fn: string, labels: ArrayLike<boolean | number>): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v === true || v === 1) out.push(true);
    else if (v === false || v === 0) out.push(false);
    else fail(fn, `labels[${i}] is ${String(v)}, expected a boolean or 0/1`);
  }
  return out;
}

/**
 * ROC curve with scikit-learn's roc_curve semantics: scores sorted decreasing, one point per distinct score (tied
 * scores move together), a (0, 0) point first, fpr = FP / negatives and tpr = TP / positives. Throws unless both
 * classes are present (sklearn would return NaN rates with a warning).
 */
export function rocCurve(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>, options: RocOptions = {}): RocCurve {
  const fn = 'rocCurve';
  if (labels.length === 0) fail(fn, 'labels is empty');
  checkFiniteArray(fn, 'scores', scores);
  checkSameLength(fn, ['labels', 'scores'], [labels, scores]);
  const y = checkLabels(fn, labels);
  const n = y.length;
  const pos = y.filter((v) => v).length;
  if (pos === 0 || pos === n) fail(fn, `only one class present (${pos} positives of ${n}); the ROC curve is undefined`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let tps: number[] = [];
  let fps: number[] = [];
  let thresholds: number[] = [];
  let tp = 0;
  for (let j = 0; j < n; j++) {
    if (y[order[j]]) tp++;
    if (j === n - 1 || scores[order[j + 1]] !== scores[order[j]]) {
      tps.push(tp);
      fps.push(j + 1 - tp);
      thresholds.push(scores[order[j]]);
    }
  }
  if (options.dropIntermediate && fps.length > 2) {
    // Keep the ends and every point where the curve bends (a non-zero second difference in fps or tps).
    const keep: number[] = [0];
    for (let i = 1; i < fps.length - 1; i++) {
      if (fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0) keep.push(i);
    }
    keep.push(fps.length - 1);
    tps = keep.map((i) => tps[i]);
    fps = keep.map((i) => fps[i]);
    thresholds = keep.map((i) => thresholds[i]);
  }
  const negTotal = fps[fps.length - 1];
  const posTotal = tps[tps.length - 1];
  return {
    fpr: [0, ...fps.map((v) => v / negTotal)],
    tpr: [0, ...tps.map((v) => v / posTotal)],
    thresholds: [Infinity, ...thresholds],
  };
}

/** Area under y(x) by the trapezoid rule (np.trapz); x must be monotonic (either direction, as sklearn.metrics.auc). */
export function trapezoidAuc(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const fn = 'trapezoidAuc';
  checkFiniteArray(fn, 'x', x);
  checkFiniteArray(fn, 'y', y);
  checkSameLength(fn, ['x', 'y'], [x, y]);
  if (x.length < 2) fail(fn, `needs at least 2 points, got ${x.length}`);
  let direction = 1;
  let inc = true;
  let dec = true;
  for (let i = 1; i < x.length; i++) {
    if (x[i] < x[i - 1]) inc = false;
    if (x[i] > x[i - 1]) dec = false;
  }
  if (!inc) {
    if (dec) direction = -1;
    else fail(fn, 'x is neither increasing nor decreasing');
  }
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return direction * area;
}

/** ROC AUC, sklearn's roc_auc_score for binary labels: trapezoid area under rocCurve. Throws with one class. */
export function rocAucScore(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>): number {
  const roc = rocCurve(labels, scores, { dropIntermediate: true });
  return trapezoidAuc(roc.fpr, roc.tpr);
}

export interface OutlierRoc extends RocCurve {
  auc: number;
  /**
   * ERE threshold at the first ROC point with TPR > 0.5 (flagging ERE >= it as erroneous catches more than half
   * of the erroneous landmarks): thresholds[min(argwhere(tpr > 0.5))], as the authors' later plots code does.
   */
  proposedThreshold: number;
  /** Landmarks with radial error > outlierThresholdMm. */
  positives: number;
  negatives: number;
  outlierThresholdMm: number;
}

export interface OutlierRocOptions extends RocOptions {
  /** A landmark is erroneous when its radial error is strictly above this (default 4 mm). */
  outlierThresholdMm?: number;
}

/**
 * ROC of ERE as a detector of erroneous landmarks (radial error > outlierThresholdMm), its AUC (roc_auc_score) and
 * the proposed threshold. plots.roc_outlier_graph uses sklearn's default drop_intermediate=True; the default here
 * keeps every threshold (the AUC is the same; proposedThreshold can differ when the TPR crosses 0.5 inside a vertical
 * run of the curve). Throws unless both erroneous and non-erroneous landmarks are present.
 */
export function outlierRoc(radialErrorsMm: ArrayLike<number>, ereMm: ArrayLike<number>, options: OutlierRocOptions = {}): OutlierRoc {
  const fn = 'outlierRoc';
  const outlierThresholdMm = options.outlierThresholdMm ?? OUTLIER_THRESHOLD_MM;
  checkFiniteScalar(fn, 'outlierThresholdMm', outlierThresholdMm);
  checkFiniteArray(fn, 'radialErrorsMm', radialErrorsMm, { min: 0 });
  checkFiniteArray(fn, 'ereMm', ereMm, { min: 0 });
  checkSameLength(fn, ['radialErrorsMm', 'ereMm'], [radialErrorsMm, ereMm]);
  const labels = Array.from(radialErrorsMm, (e) => e > outlierThresholdMm);
  const positives = labels.filter((v) => v).length;
  const roc = rocCurve(labels, ereMm, { dropIntermediate: options.dropIntermediate ?? false });
  const auc = rocAucScore(labels, ereMm);
  const first = roc.tpr.findIndex((t) => t > 0.5);
  return {
    ...roc,
    auc,
    proposedThreshold: roc.thresholds[first],
    positives,
    negatives: labels.length - positives,
    outlierThresholdMm,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Good / erroneous split

/** MRE, its standard deviation and SDR of a group; mre/std/percent are NaN for an empty group. */
export interface GroupStats {
  count: number;
  mre: number;
  std: number;
  sdr: SdrEntry[];
}

export interface EreSplit {
  ereThresholdMm: number;
  /** Landmarks with ERE <= ereThresholdMm. */
  good: GroupStats;
  /** Landmarks with ERE > ereThresholdMm. */
  erroneous: GroupStats;
}

function groupStats(errors: number[], thresholdsMm: ArrayLike<number>): GroupStats {
  const ms = meanStdUnchecked(errors);
  return { count: errors.length, mre: ms.mean, std: ms.std, sdr: sdrUnchecked(errors, thresholdsMm) };
}

/**
 * The paper's outlier experiment: landmarks whose ERE is at most ereThresholdMm form the "good" set, the others the
 * "erroneous" set, with MRE and SDR of each.
 *
 * NOTE: the reference test.py splits by the radial error instead (flattened_radial_errors <= outlier_threshold),
 * which is a bug: the true error is unknown at test time, so the split must use ERE, as the paper describes.
 */
export function splitByEre(
  radialErrorsMm: ArrayLike<number>,
  ereMm: ArrayLike<number>,
  ereThresholdMm: number,
  sdrThresholdsMm: ArrayLike<number> = SDR_THRESHOLDS_MM,
): EreSplit {
  const fn = 'splitByEre';
  checkFiniteScalar(fn, 'ereThresholdMm', ereThresholdMm);
  checkFiniteArray(fn, 'radialErrorsMm', radialErrorsMm, { min: 0 });
  checkFiniteArray(fn, 'ereMm', ereMm, { min: 0 });
  checkSameLength(fn, ['radialErrorsMm', 'ereMm'], [radialErrorsMm, ereMm]);
  checkThresholds(fn, sdrThresholdsMm);
  const good: number[] = [];
  const bad: number[] = [];
  for (let i = 0; i < ereMm.length; i++) (ereMm[i] <= ereThresholdMm ? good : bad).push(radialErrorsMm[i]);
  return { ereThresholdMm, good: groupStats(good, sdrThresholdsMm), erroneous: groupStats(bad, sdrThresholdsMm) };
}

// ---------------------------------------------------------------------------------------------------------------
// Summary

/**
 * Per-landmark values for a whole test set, flattened image-major: entry i is landmark type i % landmarksPerImage
 * of image floor(i / landmarksPerImage), as np.array(all_radial_errors).flatten() orders them in test.py.
 */
export interface EvaluationInput {
  radialErrorsMm: ArrayLike<number>;
  ereMm: ArrayLike<number>;
  /** Max of each softmax heatmap, in [0, 1]. */
  modeProbabilities: ArrayLike<number>;
  /** Pixel size of each landmark's image (one number for all, or one entry per landmark). */
  pixelSizeMm: PixelSizeMm;
  landmarksPerImage: number;
}

export interface SummaryOptions {
  sdrThresholdsMm?: ArrayLike<number>;
  calibration?: CalibrationOptions;
  ereVsError?: EreVsErrorOptions;
  roc?: OutlierRocOptions;
  /** ERE threshold of the good/erroneous split (default 1.5 mm); 'roc' uses roc.proposedThreshold. */
  ereSplitThresholdMm?: number | 'roc';
}

export interface EvaluationSummary {
  count: number;
  images: number;
  landmarksPerImage: number;
  mre: MeanStd;
  sdr: SdrEntry[];
  /** MRE of each landmark type 0..landmarksPerImage-1 over the images. */
  perLandmark: MeanStd[];
  calibration: CalibrationResult;
  ereVsError: EreVsErrorResult;
  /** null when every landmark is on one side of the outlier threshold (the ROC is then undefined). */
  roc: OutlierRoc | null;
  split: EreSplit;
}

/** Every metric above for one test set. */
export function summarize(input: EvaluationInput, options: SummaryOptions = {}): EvaluationSummary {
  const fn = 'summarize';
  const { radialErrorsMm, ereMm, modeProbabilities, pixelSizeMm, landmarksPerImage } = input;
  if (!Number.isInteger(landmarksPerImage) || landmarksPerImage < 1) fail(fn, `landmarksPerImage = ${landmarksPerImage} must be a positive integer`);
  checkFiniteArray(fn, 'radialErrorsMm', radialErrorsMm, { min: 0 });
  checkFiniteArray(fn, 'ereMm', ereMm, { min: 0 });
  checkFiniteArray(fn, 'modeProbabilities', modeProbabilities, { min: 0, max: 1 });
  checkSameLength(fn, ['radialErrorsMm', 'ereMm', 'modeProbabilities'], [radialErrorsMm, ereMm, modeProbabilities]);
  const n = radialErrorsMm.length;
  if (n % landmarksPerImage !== 0) fail(fn, `${n} landmarks is not a multiple of landmarksPerImage = ${landmarksPerImage}`);
  const sdrThresholds = options.sdrThresholdsMm ?? SDR_THRESHOLDS_MM;
  checkThresholds(fn, sdrThresholds);

  const perLandmark: MeanStd[] = [];
  for (let l = 0; l < landmarksPerImage; l++) {
    const vals: number[] = [];
    for (let i = l; i < n; i += landmarksPerImage) vals.push(radialErrorsMm[i]);
    perLandmark.push(meanStdUnchecked(vals));
  }

  const outlierThresholdMm = options.roc?.outlierThresholdMm ?? OUTLIER_THRESHOLD_MM;
  let positives = 0;
  for (let i = 0; i < n; i++) if (radialErrorsMm[i] > outlierThresholdMm) positives++;
  const roc = positives === 0 || positives === n ? null : outlierRoc(radialErrorsMm, ereMm, options.roc);

  const split = options.ereSplitThresholdMm ?? ERE_SPLIT_THRESHOLD_MM;
  if (split === 'roc' && roc === null) fail(fn, "ereSplitThresholdMm = 'roc' but the ROC is undefined (one class only)");
  const ereThreshold = split === 'roc' ? (roc as OutlierRoc).proposedThreshold : split;

  return {
    count: n,
    images: n / landmarksPerImage,
    landmarksPerImage,
    mre: meanStdUnchecked(radialErrorsMm),
    sdr: sdrUnchecked(radialErrorsMm, sdrThresholds),
    perLandmark,
    calibration: calibration(radialErrorsMm, modeProbabilities, pixelSizeMm, options.calibration),
    ereVsError: ereVsError(ereMm, radialErrorsMm, options.ereVsError),
    roc,
    split: splitByEre(radialErrorsMm, ereMm, ereThreshold, sdrThresholds),
  };
}
