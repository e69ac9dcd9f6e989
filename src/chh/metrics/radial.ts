// Radial error, MRE and SDR (evaluate.py, test.py of the reference).
import { checkFiniteArray, checkSameLength, checkThresholds, fail, pixelSizePairs, sum, type PixelSizeMm, type Point } from './inputs.ts';

/** SDR thresholds of the paper and of test.py, in mm. */
export const SDR_THRESHOLDS_MM: readonly number[] = [2, 2.5, 3, 4];


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

export function meanStdUnchecked(a: ArrayLike<number>): MeanStd {
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

export function sdrUnchecked(errorsMm: ArrayLike<number>, thresholdsMm: ArrayLike<number>): SdrEntry[] {
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
