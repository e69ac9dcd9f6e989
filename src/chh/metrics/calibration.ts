// Calibration of the mode probabilities: the reliability diagram's bins and the expected calibration error (ECE),
// with plots.reliability_diagram's binning and correctness radius.
import { checkFiniteArray, checkFiniteScalar, checkSameLength, fail, pixelSizePairs, sum, type PixelSizeMm } from './inputs.ts';


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
 * c == 1. Options as calibration's (validated here). Temperature scaling on the ECE (src/chh/calibrate)
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
