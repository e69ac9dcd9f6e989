// Evaluation metrics (src/chh/metrics/): hand-computed cases (the expected numbers are worked out in the
// comments), edge cases (all correct, all wrong, ties in ERE, empty bins, one class), input checks, and parity with
// scikit-learn / scipy / numpy on the seeded random cases of scripts/fixtures/metrics.py (test/fixtures/metrics.json).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { calibration, correctRadiusMm } from '../../src/chh/metrics/calibration.ts';
import { ereVsError, pearson, splitByEre } from '../../src/chh/metrics/ere.ts';
import { meanRadialError, radialErrors, successfulDetectionRates } from '../../src/chh/metrics/radial.ts';
import type { PixelSizeMm } from '../../src/chh/metrics/inputs.ts';
import { outlierRoc, rocAucScore, rocCurve, trapezoidAuc } from '../../src/chh/metrics/roc.ts';
import { summarize } from '../../src/chh/metrics/summary.ts';

const TOL = 1e-9;

/** Compare to a fixture number; null in the fixture stands for NaN (JSON has no NaN). */
function close(actual: number, expected: number | null, what: string): void {
  if (expected === null) {
    expect(Number.isNaN(actual), `${what}: expected NaN, got ${actual}`).toBe(true);
    return;
  }
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(TOL);
}

function closeAll(actual: ArrayLike<number>, expected: ArrayLike<number | null>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) close(actual[i], expected[i], `${what}[${i}]`);
}

describe('radialErrors', () => {
  it('scales pixel offsets to mm (isotropic, per landmark, anisotropic)', () => {
    // (0,0)-(3,4): 5 px -> 0.5 mm at 0.1 mm/px; identical points -> 0.
    expect(radialErrors([[0, 0], [10, 10], [3, 4]], [[3, 4], [10, 10], [0, 0]], 0.1)).toEqual([0.5, 0, 0.5]);
    // Per-landmark sizes: 5 px at 0.2 -> 1 mm, 5 px at 0.3 -> 1.5 mm.
    const e = radialErrors([[0, 0], [0, 0]], [[3, 4], [4, 3]], [0.2, 0.3]);
    expect(e[0]).toBeCloseTo(1, 12);
    expect(e[1]).toBeCloseTo(1.5, 12);
    // Anisotropic [sx, sy] = [0.2, 0.1]: dx = 3 px -> 0.6 mm, dy = 4 px -> 0.4 mm, error sqrt(0.36 + 0.16) = sqrt(0.52).
    expect(radialErrors([[0, 0]], [[3, 4]], [[0.2, 0.1]])[0]).toBeCloseTo(Math.sqrt(0.52), 14);
    // Typed arrays work as points.
    expect(radialErrors([Float64Array.of(1, 1)], [Float32Array.of(1, 2)], 0.5)).toEqual([0.5]);
  });

  it('rejects bad input', () => {
    expect(() => radialErrors([], [], 0.1)).toThrow(/predicted is empty/);
    expect(() => radialErrors([[0, 0]], [[0, 0], [1, 1]], 0.1)).toThrow(/length mismatch/);
    expect(() => radialErrors([[0, NaN]], [[0, 0]], 0.1)).toThrow(/NaN/);
    expect(() => radialErrors([[0, 0, 0]], [[0, 0]], 0.1)).toThrow(/pair/);
    expect(() => radialErrors([[0, 0]], [[0, 0]], 0)).toThrow(/> 0/);
    expect(() => radialErrors([[0, 0]], [[0, 0]], NaN)).toThrow(/pixelSizeMm/);
    // A single [sx, sy] pair for 1 landmark is read as per-landmark; for 3 landmarks it is a length mismatch.
    expect(() => radialErrors([[0, 0], [1, 1], [2, 2]], [[0, 0], [1, 1], [2, 2]], [0.1, 0.1])).toThrow(/pixelSizeMm has 2 entries for 3/);
    expect(() => radialErrors([[0, 0]], [[0, 0]], [[0.1, 0.1, 0.1]])).toThrow(/pair/);
  });
});

describe('MRE and SDR', () => {
  it('MRE is the mean with the population standard deviation', () => {
    // [1, 2, 3, 4]: mean 2.5; deviations ±1.5, ±0.5 -> variance (2.25 + 0.25) * 2 / 4 = 1.25, std sqrt(1.25).
    const m = meanRadialError([1, 2, 3, 4]);
    expect(m.mean).toBe(2.5);
    expect(m.std).toBeCloseTo(Math.sqrt(1.25), 14);
    expect(m.count).toBe(4);
    expect(meanRadialError([3])).toEqual({ mean: 3, std: 0, count: 1 });
  });

  it('SDR counts errors strictly below each threshold', () => {
    // [1, 2, 2.5, 3, 4, 5]: < 2: {1} = 1/6; < 2.5: {1, 2} = 2/6; < 3: 3/6; < 4: 4/6 (exactly 4 is not a 4 mm success).
    const s = successfulDetectionRates([1, 2, 2.5, 3, 4, 5]);
    expect(s.map((e) => e.thresholdMm)).toEqual([2, 2.5, 3, 4]);
    closeAll(s.map((e) => e.percent), [100 / 6, 200 / 6, 50, 400 / 6], 'sdr');
    // All correct / all wrong.
    expect(successfulDetectionRates([0, 0.5, 1.9]).map((e) => e.percent)).toEqual([100, 100, 100, 100]);
    expect(successfulDetectionRates([4, 10]).map((e) => e.percent)).toEqual([0, 0, 0, 0]);
    expect(successfulDetectionRates([1], [0.5, 1, 1.5]).map((e) => e.percent)).toEqual([0, 0, 100]);
  });

  it('rejects bad input', () => {
    expect(() => meanRadialError([])).toThrow(/empty/);
    expect(() => meanRadialError([1, NaN])).toThrow(/errorsMm\[1\] is NaN/);
    expect(() => meanRadialError([1, Infinity])).toThrow(/Infinity/);
    expect(() => meanRadialError([-1])).toThrow(/below 0/);
    expect(() => successfulDetectionRates([])).toThrow(/empty/);
    expect(() => successfulDetectionRates([1], [NaN])).toThrow(/thresholds/);
  });
});

describe('calibration', () => {
  it('correct radius is the disc with the area of one pixel', () => {
    // r = sqrt(p^2 / pi) so that pi r^2 = p^2 (plots.reliability_diagram's definition).
    const r = correctRadiusMm(0.30234375);
    expect(Math.PI * r * r).toBeCloseTo(0.30234375 ** 2, 15);
    expect(r).toBeCloseTo(0.30234375 / Math.sqrt(Math.PI), 15);
    // Anisotropic: area sx * sy.
    expect(correctRadiusMm([0.2, 0.1])).toBeCloseTo(Math.sqrt(0.02 / Math.PI), 15);
  });

  it('ECE and reliability bins on a hand case', () => {
    // Pixel 1 mm -> radius 1/sqrt(pi) = 0.564 mm: errors [0, 1, 0, 0] are correct, wrong, correct, correct.
    // Bin 0 [0, 0.1): conf 0.05, 0.05 -> confidence 0.05, accuracy 1/2, gap 0.45.
    // Bin 9 [0.9, 1]: conf 0.95, 0.95 -> confidence 0.95, accuracy 1, gap 0.05.
    // ECE = 2/4 * 0.45 + 2/4 * 0.05 = 0.25. Bins 1..8 are empty: count 0, accuracy and confidence NaN.
    const c = calibration([0, 1, 0, 0], [0.05, 0.05, 0.95, 0.95], 1);
    expect(c.ece).toBeCloseTo(0.25, 15);
    expect(c.count).toBe(4);
    expect(c.correct).toBe(3);
    expect(c.bins.length).toBe(10);
    expect(c.bins[0]).toMatchObject({ lo: 0, count: 2, accuracy: 0.5 });
    expect(c.bins[0].hi).toBeCloseTo(0.1, 15);
    expect(c.bins[0].confidence).toBeCloseTo(0.05, 15);
    expect(c.bins[9]).toMatchObject({ hi: 1, count: 2, accuracy: 1 });
    expect(c.bins[9].confidence).toBeCloseTo(0.95, 15);
    for (let b = 1; b < 9; b++) {
      expect(c.bins[b].count).toBe(0);
      expect(Number.isNaN(c.bins[b].accuracy) && Number.isNaN(c.bins[b].confidence)).toBe(true);
    }
  });

  it('all correct, all wrong, edges, the reference binning', () => {
    // All correct with confidence 1: the last bin is closed, accuracy 1 = confidence 1, ECE 0.
    const allRight = calibration([0, 0.1], [1, 1], 0.5);
    expect(allRight.bins[9].count).toBe(2);
    expect(allRight.ece).toBe(0);
    // All wrong at confidence 0.5: bin 5 [0.5, 0.6), accuracy 0, ECE |0 - 0.5| = 0.5.
    const allWrong = calibration([3, 4], [0.5, 0.5], 0.1);
    expect(allWrong.bins[5].count).toBe(2);
    expect(allWrong.ece).toBe(0.5);
    expect(allWrong.correct).toBe(0);
    // Exactly on the radius is not correct (strict <).
    expect(calibration([correctRadiusMm(0.3)], [0.2], 0.3).correct).toBe(0);
    // Edges are np.linspace's i * 0.1, so edge 3 is 0.30000000000000004 and 0.3 falls in bin 2 (as in numpy).
    expect(calibration([0], [0.3], 1).bins[2].count).toBe(1);
    // The reference's binning (x_max = 0.15): 10 bins of 0.015 and the last widened to 1, so 0.5 lands in bin 9.
    const ref = calibration([0, 0, 1], [0.01, 0.5, 0.14], 0.30234375, { maxConfidence: 0.15 });
    expect(ref.bins.map((b) => b.count)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(ref.bins[9].lo).toBeCloseTo(0.135, 15);
    expect(ref.bins[9].hi).toBe(1);
    // bin 0: acc 1, conf 0.01 -> 0.99; bin 9: acc 1/2, conf 0.32 -> 0.18; ECE = 0.99/3 + 2 * 0.18/3 = 0.45.
    expect(ref.ece).toBeCloseTo(0.45, 14);
    // Five bins over [0, 1].
    expect(calibration([0], [0.5], 1, { bins: 5 }).bins.map((b) => b.count)).toEqual([0, 0, 1, 0, 0]);
  });

  it('rejects bad input', () => {
    expect(() => calibration([], [], 0.1)).toThrow(/empty/);
    expect(() => calibration([1], [0.5, 0.5], 0.1)).toThrow(/length mismatch/);
    expect(() => calibration([1], [1.5], 0.1)).toThrow(/above 1/);
    expect(() => calibration([1], [NaN], 0.1)).toThrow(/NaN/);
    expect(() => calibration([1, 2], [0.5, 0.5], [0.1])).toThrow(/pixelSizeMm/);
    expect(() => calibration([1], [0.5], 0.1, { bins: 0 })).toThrow(/bins/);
    expect(() => calibration([1], [0.5], 0.1, { maxConfidence: 1.5 })).toThrow(/maxConfidence/);
  });
});

describe('pearson and ERE vs radial error', () => {
  it('pearson on hand cases', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 15);
    expect(pearson([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 15);
    // Centred x = y-order [-1.5, -0.5, 0.5, 1.5] vs [-1.5, 0.5, -0.5, 1.5]: sxy = 2.25 - 0.25 - 0.25 + 2.25 = 4,
    // sxx = syy = 5, r = 4 / 5.
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 15);
    expect(pearson([1, 2], [5, 3])).toBe(-1);
    expect(Number.isNaN(pearson([1, 1, 1], [1, 2, 3]))).toBe(true);
    expect(() => pearson([1], [1])).toThrow(/at least 2/);
    expect(() => pearson([1, 2], [1])).toThrow(/length mismatch/);
    expect(() => pearson([1, NaN], [1, 2])).toThrow(/NaN/);
  });

  it('bins of consecutive landmarks in ERE order', () => {
    // ERE sorted: 0.5, 1, 2 | 3, 4, 5 | 6; errors are 10 * ERE.
    // Bin 0: mean ERE 3.5/3, mean error 35/3; bin 1: 4, 40; the last landmark (6) is dropped (reference's int(N/n)).
    const ere = [5, 1, 3, 2, 4, 6, 0.5];
    const err = ere.map((e) => 10 * e);
    const r = ereVsError(ere, err, { binSize: 3 });
    expect(r.bins.length).toBe(2);
    expect(r.dropped).toBe(1);
    expect(r.bins[0].count).toBe(3);
    expect(r.bins[0].meanEre).toBeCloseTo(3.5 / 3, 14);
    expect(r.bins[0].meanError).toBeCloseTo(35 / 3, 13);
    expect(r.bins[1].meanEre).toBeCloseTo(4, 14);
    expect(r.bins[1].meanError).toBeCloseTo(40, 13);
    expect(r.binnedCorrelation).toBe(1); // two points
    expect(r.rawCorrelation).toBeCloseTo(1, 14);
    // keepPartial: a third bin holding the one landmark with ERE 6.
    const k = ereVsError(ere, err, { binSize: 3, keepPartial: true });
    expect(k.dropped).toBe(0);
    expect(k.bins[2]).toEqual({ count: 1, meanEre: 6, meanError: 60 });
    expect(k.binnedCorrelation).toBeCloseTo(1, 14);
    // Default bin size 36: 71 landmarks -> 1 bin, 35 dropped, binned correlation undefined (NaN).
    const big = ereVsError(
      Array.from({ length: 71 }, (_, i) => i),
      Array.from({ length: 71 }, (_, i) => i % 7),
    );
    expect(big.bins.length).toBe(1);
    expect(big.dropped).toBe(35);
    expect(Number.isNaN(big.binnedCorrelation)).toBe(true);
  });

  it('ties in ERE keep the input order', () => {
    // All ERE equal: bins follow input order, bin means of errors [1, 2] and [3, 4].
    const r = ereVsError([1, 1, 1, 1], [1, 2, 3, 4], { binSize: 2 });
    expect(r.bins.map((b) => b.meanError)).toEqual([1.5, 3.5]);
    expect(Number.isNaN(r.binnedCorrelation)).toBe(true); // constant mean ERE
    expect(Number.isNaN(r.rawCorrelation)).toBe(true);
  });

  it('rejects bad input', () => {
    expect(() => ereVsError([], [])).toThrow(/empty/);
    expect(() => ereVsError([1, 2], [1])).toThrow(/length mismatch/);
    expect(() => ereVsError([1], [1], { binSize: 0 })).toThrow(/binSize/);
    expect(() => ereVsError([NaN], [1])).toThrow(/NaN/);
  });
});

describe('ROC', () => {
  it('scikit-learn documentation example', () => {
    // Scores [0.1, 0.4, 0.35, 0.8], labels [0, 0, 1, 1]. Descending: 0.8 (+) 0.4 (-) 0.35 (+) 0.1 (-):
    // (fp, tp) = (0,1) (1,1) (1,2) (2,2) -> fpr [0, 0, .5, .5, 1], tpr [0, .5, .5, 1, 1]; AUC = .5 * .5 + .5 * 1 = .75.
    const r = rocCurve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
    expect(r.fpr).toEqual([0, 0, 0.5, 0.5, 1]);
    expect(r.tpr).toEqual([0, 0.5, 0.5, 1, 1]);
    expect(r.thresholds).toEqual([Infinity, 0.8, 0.4, 0.35, 0.1]);
    expect(rocAucScore([false, false, true, true], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
  });

  it('tied scores move together', () => {
    // Scores [.5, .5, .5, .1], labels [1, 0, 1, 0]: threshold .5 takes (fp 1, tp 2), .1 takes all (2, 2).
    // fpr [0, .5, 1], tpr [0, 1, 1]; AUC = .5 * (0 + 1) / 2 + .5 * (1 + 1) / 2 = .75.
    const r = rocCurve([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1]);
    expect(r).toEqual({ fpr: [0, 0.5, 1], tpr: [0, 1, 1], thresholds: [Infinity, 0.5, 0.1] });
    expect(rocAucScore([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1])).toBe(0.75);
    // All scores tied: one point (1, 1) after the origin, AUC 0.5.
    expect(rocCurve([1, 0, 0], [2, 2, 2])).toEqual({ fpr: [0, 1], tpr: [0, 1], thresholds: [Infinity, 2] });
    expect(rocAucScore([1, 0, 0], [2, 2, 2])).toBe(0.5);
  });

  it('dropIntermediate removes collinear points (and can move the proposed threshold)', () => {
    // Scores [4, 3, 2, 1], labels [1, 1, 1, 0]: (fp, tp) = (0,1) (0,2) (0,3) (1,3). The point at score 3 lies inside
    // the vertical run, so sklearn's drop_intermediate removes it.
    expect(rocCurve([1, 1, 1, 0], [4, 3, 2, 1])).toEqual({ fpr: [0, 0, 0, 0, 1], tpr: [0, 1 / 3, 2 / 3, 1, 1], thresholds: [Infinity, 4, 3, 2, 1] });
    expect(rocCurve([1, 1, 1, 0], [4, 3, 2, 1], { dropIntermediate: true })).toEqual({ fpr: [0, 0, 0, 1], tpr: [0, 1 / 3, 1, 1], thresholds: [Infinity, 4, 2, 1] });
    // As outlierRoc with errors > 4 mm as the labels: first TPR > 0.5 is at ERE 3 (TPR 2/3), or 2 after dropping.
    const errs = [5, 6, 7, 1];
    const ere = [4, 3, 2, 1];
    expect(outlierRoc(errs, ere).proposedThreshold).toBe(3);
    expect(outlierRoc(errs, ere, { dropIntermediate: true }).proposedThreshold).toBe(2);
  });

  it('outlierRoc on a perfect detector; an error of exactly 4 mm is not erroneous', () => {
    // Errors [1, 5, 2, 6, 4] -> erroneous [F, T, F, T, F]. ERE descending: 3 (T) 2 (T) 1.2 (F) 1 (F) 0.5 (F):
    // fpr [0, 0, 0, 1/3, 2/3, 1], tpr [0, .5, 1, 1, 1, 1], AUC 1, first TPR > .5 at ERE 2.
    const r = outlierRoc([1, 5, 2, 6, 4], [0.5, 2, 1, 3, 1.2]);
    expect(r.positives).toBe(2);
    expect(r.negatives).toBe(3);
    expect(r.tpr).toEqual([0, 0.5, 1, 1, 1, 1]);
    closeAll(r.fpr, [0, 0, 0, 1 / 3, 2 / 3, 1], 'fpr');
    expect(r.auc).toBe(1);
    expect(r.proposedThreshold).toBe(2);
    // A detector that is exactly backwards: AUC 0.
    expect(outlierRoc([1, 5], [2, 1]).auc).toBe(0);
    // Custom outlier threshold: errors > 1.5 -> [F, T, T, T, T].
    expect(outlierRoc([1, 5, 2, 6, 4], [0.5, 2, 1, 3, 1.2], { outlierThresholdMm: 1.5 }).positives).toBe(4);
  });

  it('trapezoid rule', () => {
    expect(trapezoidAuc([0, 0.5, 1], [0, 1, 1])).toBe(0.75);
    expect(trapezoidAuc([1, 0.5, 0], [1, 1, 0])).toBe(0.75); // decreasing x
    expect(() => trapezoidAuc([0, 1, 0.5], [0, 1, 1])).toThrow(/increasing nor decreasing/);
  });

  it('rejects bad input', () => {
    expect(() => rocCurve([1, 1], [0.1, 0.2])).toThrow(/only one class/);
    expect(() => rocCurve([0, 0], [0.1, 0.2])).toThrow(/only one class/);
    expect(() => outlierRoc([1, 2], [1, 2])).toThrow(/only one class/);
    expect(() => rocCurve([], [])).toThrow(/empty/);
    expect(() => rocCurve([0, 1], [0.1])).toThrow(/length mismatch/);
    expect(() => rocCurve([0, 2], [0.1, 0.2])).toThrow(/labels\[1\]/);
    expect(() => rocCurve([0, 1], [0.1, NaN])).toThrow(/NaN/);
    expect(() => outlierRoc([1, 5], [1, 2], { outlierThresholdMm: NaN })).toThrow(/outlierThresholdMm/);
  });
});

describe('splitByEre', () => {
  it('splits by ERE (<= threshold is good), not by the true error', () => {
    // Errors [1, 2, 3, 5], ERE [0.5, 1.5, 1.6, 3], threshold 1.5 (inclusive):
    // good = [1, 2]: MRE 1.5, std 0.5, SDR (<2, <2.5, <3, <4) = 50, 100, 100, 100.
    // erroneous = [3, 5]: MRE 4, std 1, SDR = 0, 0, 0, 50.
    const s = splitByEre([1, 2, 3, 5], [0.5, 1.5, 1.6, 3], 1.5);
    expect(s.ereThresholdMm).toBe(1.5);
    expect(s.good).toEqual({ count: 2, mre: 1.5, std: 0.5, sdr: [2, 2.5, 3, 4].map((t, i) => ({ thresholdMm: t, percent: [50, 100, 100, 100][i] })) });
    expect(s.erroneous).toEqual({ count: 2, mre: 4, std: 1, sdr: [2, 2.5, 3, 4].map((t, i) => ({ thresholdMm: t, percent: [0, 0, 0, 50][i] })) });
    // A small true error with a large ERE stays erroneous (the reference would call it good).
    expect(splitByEre([0.1], [5], 1.5).erroneous.count).toBe(1);
  });

  it('an empty group has NaN statistics', () => {
    const s = splitByEre([1, 2], [0.5, 0.6], 10);
    expect(s.good.count).toBe(2);
    expect(s.erroneous.count).toBe(0);
    expect(Number.isNaN(s.erroneous.mre) && Number.isNaN(s.erroneous.std)).toBe(true);
    expect(s.erroneous.sdr.every((e) => Number.isNaN(e.percent))).toBe(true);
  });

  it('rejects bad input', () => {
    expect(() => splitByEre([], [], 1)).toThrow(/empty/);
    expect(() => splitByEre([1], [1, 2], 1)).toThrow(/length mismatch/);
    expect(() => splitByEre([1], [1], NaN)).toThrow(/ereThresholdMm/);
  });
});

describe('summarize', () => {
  it('combines every metric; per-landmark MRE is over images', () => {
    // 3 images x 2 landmark types, image-major: type 0 errors [1, 3, 5] (MRE 3), type 1 [2, 4, 6] (MRE 4).
    const radialErrorsMm = [1, 2, 3, 4, 5, 6];
    const ereMm = [0.5, 1, 1.5, 2, 2.5, 3];
    const s = summarize({ radialErrorsMm, ereMm, modeProbabilities: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], pixelSizeMm: 0.1, landmarksPerImage: 2 });
    expect(s.count).toBe(6);
    expect(s.images).toBe(3);
    expect(s.mre.mean).toBe(3.5);
    expect(s.perLandmark.map((m) => m.mean)).toEqual([3, 4]);
    expect(s.perLandmark[0].std).toBeCloseTo(Math.sqrt(8 / 3), 14);
    // SDR: < 2 {1}, < 2.5 {1, 2}, < 3 {1, 2}, < 4 {1, 2, 3}.
    closeAll(s.sdr.map((e) => e.percent), [100 / 6, 200 / 6, 200 / 6, 300 / 6], 'sdr');
    // Radius 0.1/sqrt(pi) = 0.056 mm: nothing correct, all in bin 1 at confidence 0.1, ECE 0.1.
    expect(s.calibration.correct).toBe(0);
    expect(s.calibration.ece).toBeCloseTo(0.1, 15);
    // 6 landmarks, bins of 36: no bin.
    expect(s.ereVsError.bins.length).toBe(0);
    expect(s.ereVsError.rawCorrelation).toBeCloseTo(1, 14);
    // Errors 5, 6 > 4 mm have the two largest ERE: AUC 1, first TPR > .5 at ERE 2.5.
    expect(s.roc?.auc).toBe(1);
    expect(s.roc?.proposedThreshold).toBe(2.5);
    // Default split at ERE 1.5: good [1, 2, 3], erroneous [4, 5, 6].
    expect(s.split.good.count).toBe(3);
    expect(s.split.erroneous.mre).toBe(5);
    // Split at the ROC's proposed threshold.
    const r = summarize({ radialErrorsMm, ereMm, modeProbabilities: [0.1, 0.1, 0.1, 0.1, 0.1, 0.1], pixelSizeMm: 0.1, landmarksPerImage: 2 }, { ereSplitThresholdMm: 'roc' });
    expect(r.split.ereThresholdMm).toBe(2.5);
    expect(r.split.good.count).toBe(5);
  });

  it('no erroneous landmark: roc is null', () => {
    const input = { radialErrorsMm: [1, 2], ereMm: [1, 2], modeProbabilities: [0.5, 0.5], pixelSizeMm: 0.1, landmarksPerImage: 1 };
    expect(summarize(input).roc).toBeNull();
    expect(() => summarize(input, { ereSplitThresholdMm: 'roc' })).toThrow(/ROC is undefined/);
  });

  it('rejects bad input', () => {
    const ok = { radialErrorsMm: [1, 2], ereMm: [1, 2], modeProbabilities: [0.5, 0.5], pixelSizeMm: 0.1, landmarksPerImage: 2 };
    expect(() => summarize({ ...ok, landmarksPerImage: 3 })).toThrow(/multiple/);
    expect(() => summarize({ ...ok, landmarksPerImage: 0 })).toThrow(/landmarksPerImage/);
    expect(() => summarize({ ...ok, ereMm: [1] })).toThrow(/length mismatch/);
    expect(() => summarize({ ...ok, modeProbabilities: [0.5, NaN] })).toThrow(/NaN/);
    expect(() => summarize({ ...ok, radialErrorsMm: [], ereMm: [], modeProbabilities: [] })).toThrow(/empty/);
    expect(() => summarize({ ...ok, pixelSizeMm: [0.1] })).toThrow(/pixelSizeMm/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Parity with scikit-learn / scipy / numpy (scripts/fixtures/metrics.py).

type N = number | null;
interface Group {
  count: number;
  mre: N;
  std: N;
  sdr: N[];
}
interface CalibrationCase {
  err: number[];
  conf: number[];
  pixel: PixelSizeMm;
  bins: number;
  maxConfidence: number;
  ece: number;
  count: number[];
  accuracy: N[];
  confidence: N[];
  correct: number;
}
interface BinsCase {
  count: number[];
  meanEre: number[];
  meanError: number[];
  binned: N;
}
interface Fixture {
  roc: Array<{ ere: number[]; err: number[]; fpr: number[]; tpr: number[]; thresholds: number[]; keep: number[]; auc: number; proposed: number; proposedDrop: number }>;
  calibration: CalibrationCase[];
  correlation: Array<BinsCase & { ere: number[]; err: number[]; binSize: number; keepPartial: boolean; pearson: N }>;
  errors: Array<{ pred: number[][]; truth: number[][]; pixel: PixelSizeMm; radial: number[]; mre: number; std: number; sdr: number[]; ere: number[]; splitThreshold: number; good: Group; erroneous: Group }>;
  summary: Array<{
    L: number;
    err: number[];
    ere: number[];
    mode: number[];
    pixel: number;
    mre: number;
    std: number;
    sdr: number[];
    perLandmark: number[];
    perLandmarkStd: number[];
    calibration: Omit<CalibrationCase, 'err' | 'conf' | 'pixel' | 'bins' | 'maxConfidence'>;
    ereBins: BinsCase;
    pearson: number;
    auc: number;
    proposed: number;
    good: Group;
    erroneous: Group;
  }>;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/metrics.json', import.meta.url), 'utf8')) as Fixture;

function checkGroup(actual: { count: number; mre: number; std: number; sdr: Array<{ percent: number }> }, expected: Group, what: string): void {
  expect(actual.count, `${what}.count`).toBe(expected.count);
  close(actual.mre, expected.mre, `${what}.mre`);
  close(actual.std, expected.std, `${what}.std`);
  closeAll(
    actual.sdr.map((e) => e.percent),
    expected.sdr,
    `${what}.sdr`,
  );
}

function checkCalibration(c: ReturnType<typeof calibration>, e: Fixture['summary'][number]['calibration'], what: string): void {
  close(c.ece, e.ece, `${what}.ece`);
  expect(c.correct, `${what}.correct`).toBe(e.correct);
  expect(c.bins.map((b) => b.count), `${what}.count`).toEqual(e.count);
  closeAll(c.bins.map((b) => b.accuracy), e.accuracy, `${what}.accuracy`);
  closeAll(c.bins.map((b) => b.confidence), e.confidence, `${what}.confidence`);
}

function checkBins(r: ReturnType<typeof ereVsError>, e: BinsCase, what: string): void {
  expect(r.bins.map((b) => b.count), `${what}.count`).toEqual(e.count);
  closeAll(r.bins.map((b) => b.meanEre), e.meanEre, `${what}.meanEre`);
  closeAll(r.bins.map((b) => b.meanError), e.meanError, `${what}.meanError`);
  close(r.binnedCorrelation, e.binned, `${what}.binned`);
}

describe('parity with scikit-learn, scipy and numpy (test/fixtures/metrics.json)', () => {
  it('has the expected cases', () => {
    const total = Object.values(fixture).reduce((a: number, v: unknown[]) => a + v.length, 0);
    expect(total).toBeGreaterThan(250);
  });

  it('roc_curve (drop_intermediate False and True), roc_auc_score, threshold at TPR > 0.5', () => {
    fixture.roc.forEach((c, i) => {
      const r = outlierRoc(c.err, c.ere);
      closeAll(r.fpr, c.fpr, `roc ${i} fpr`);
      closeAll(r.tpr, c.tpr, `roc ${i} tpr`);
      expect(r.thresholds[0]).toBe(Infinity);
      closeAll(r.thresholds.slice(1), c.thresholds, `roc ${i} thresholds`);
      close(r.auc, c.auc, `roc ${i} auc`);
      close(r.proposedThreshold, c.proposed, `roc ${i} proposed`);
      // Same curve through rocCurve with explicit labels.
      const labels = c.err.map((e) => e > 4);
      expect(rocCurve(labels, c.ere).tpr).toEqual(r.tpr);
      close(rocAucScore(labels, c.ere), c.auc, `roc ${i} rocAucScore`);
      close(trapezoidAuc(r.fpr, r.tpr), c.auc, `roc ${i} trapezoid over all points`);
      const d = outlierRoc(c.err, c.ere, { dropIntermediate: true });
      closeAll(d.fpr, c.keep.map((k) => c.fpr[k]), `roc ${i} dropped fpr`);
      closeAll(d.tpr, c.keep.map((k) => c.tpr[k]), `roc ${i} dropped tpr`);
      close(d.proposedThreshold, c.proposedDrop, `roc ${i} proposed (dropped)`);
    });
  });

  it('ECE and reliability bins (numpy version of plots.reliability_diagram)', () => {
    fixture.calibration.forEach((c, i) => {
      const r = calibration(c.err, c.conf, c.pixel, { bins: c.bins, maxConfidence: c.maxConfidence });
      checkCalibration(r, c, `calibration ${i}`);
    });
  });

  it('scipy.stats.pearsonr and the ERE binning with np.corrcoef', () => {
    fixture.correlation.forEach((c, i) => {
      close(pearson(c.ere, c.err), c.pearson, `correlation ${i} pearson`);
      const r = ereVsError(c.ere, c.err, { binSize: c.binSize, keepPartial: c.keepPartial });
      checkBins(r, c, `correlation ${i}`);
      close(r.rawCorrelation, c.pearson, `correlation ${i} raw`);
    });
  });

  it('radial errors, MRE, SDR and the split by ERE', () => {
    fixture.errors.forEach((c, i) => {
      const radial = radialErrors(c.pred, c.truth, c.pixel);
      closeAll(radial, c.radial, `errors ${i} radial`);
      const m = meanRadialError(radial);
      close(m.mean, c.mre, `errors ${i} mre`);
      close(m.std, c.std, `errors ${i} std`);
      closeAll(successfulDetectionRates(radial).map((e) => e.percent), c.sdr, `errors ${i} sdr`);
      const s = splitByEre(radial, c.ere, c.splitThreshold);
      checkGroup(s.good, c.good, `errors ${i} good`);
      checkGroup(s.erroneous, c.erroneous, `errors ${i} erroneous`);
    });
  });

  it('summarize on whole test sets', () => {
    fixture.summary.forEach((c, i) => {
      const s = summarize(
        { radialErrorsMm: c.err, ereMm: c.ere, modeProbabilities: c.mode, pixelSizeMm: c.pixel, landmarksPerImage: c.L },
        { calibration: { maxConfidence: 0.15 }, ereVsError: { binSize: 5 } },
      );
      close(s.mre.mean, c.mre, `summary ${i} mre`);
      close(s.mre.std, c.std, `summary ${i} std`);
      closeAll(s.sdr.map((e) => e.percent), c.sdr, `summary ${i} sdr`);
      closeAll(s.perLandmark.map((m) => m.mean), c.perLandmark, `summary ${i} perLandmark`);
      closeAll(s.perLandmark.map((m) => m.std), c.perLandmarkStd, `summary ${i} perLandmarkStd`);
      checkCalibration(s.calibration, c.calibration, `summary ${i} calibration`);
      checkBins(s.ereVsError, c.ereBins, `summary ${i} ereBins`);
      close(s.ereVsError.rawCorrelation, c.pearson, `summary ${i} pearson`);
      expect(s.roc).not.toBeNull();
      close(s.roc?.auc ?? NaN, c.auc, `summary ${i} auc`);
      close(s.roc?.proposedThreshold ?? NaN, c.proposed, `summary ${i} proposed`);
      checkGroup(s.split.good, c.good, `summary ${i} good`);
      checkGroup(s.split.erroneous, c.erroneous, `summary ${i} erroneous`);
    });
  });
});
