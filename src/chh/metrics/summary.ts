// Every metric of the paper for one test set (the summary a report and results.json show).
import { checkFiniteArray, checkSameLength, checkThresholds, fail, pixelSizePairs, type PixelSizeMm } from './inputs.ts';
import { meanStdUnchecked, sdrUnchecked, SDR_THRESHOLDS_MM, type MeanStd, type SdrEntry } from './radial.ts';
import { calibration, type CalibrationOptions, type CalibrationResult } from './calibration.ts';
import { ereVsError, splitByEre, ERE_SPLIT_THRESHOLD_MM, type EreSplit, type EreVsErrorOptions, type EreVsErrorResult } from './ere.ts';
import { outlierRoc, OUTLIER_THRESHOLD_MM, type OutlierRoc, type OutlierRocOptions } from './roc.ts';

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
