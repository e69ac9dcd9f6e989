// The ROC of ERE as a detector of erroneous landmarks (plots.roc_outlier_graph), with scikit-learn's curve and AUC.
import { checkFiniteArray, checkFiniteScalar, checkSameLength, fail } from './inputs.ts';

/** A landmark whose true radial error is above this (mm) is "erroneous" (plots.roc_outlier_graph). */
export const OUTLIER_THRESHOLD_MM = 4;

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
