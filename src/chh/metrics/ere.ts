// The expected radial error against the true one: Pearson correlation over bins of ERE-sorted landmarks
// (plots.radial_error_vs_ere_graph), and the good / erroneous split of the landmarks by ERE (test.py).
import { checkFiniteArray, checkFiniteScalar, checkSameLength, checkThresholds, fail, sum } from './inputs.ts';
import { meanStdUnchecked, sdrUnchecked, SDR_THRESHOLDS_MM, type SdrEntry } from './radial.ts';

/** Landmarks per point of the ERE vs radial error graph (plots.radial_error_vs_ere_graph n_bin). */
export const ERE_BIN_SIZE = 36;
/** Default ERE threshold (mm) for the good/erroneous split: test.py's --outlier_threshold default. */
export const ERE_SPLIT_THRESHOLD_MM = 1.5;

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
