// A training session's settings (the demo page's form), their defaults (the demo run of src/chh/config.ts), the
// run they make, and the data they ask for: the synthetic set generated in the worker, or the splits of an ISBI
// folder the user picked (its files travel to the worker with their paths).
import type { ModelPreset } from '../nn/unet.ts';
import { pathFileSource, type PathFile } from '../io/files.ts';
import { loadIsbiSplit, type IsbiSample, type IsbiSplit } from '../data/isbi.ts';
import { milestonesFor, originalWidthFor, RUNS, SYNTHETIC, TRAINING, type CalibrationObjective, type RunSettings } from '../chh/config.ts';
import type { ActivationStorage } from '../ops/saved.ts';
import { syntheticData, type Emit, type RunData } from '../pipeline/steps.ts';

export interface SessionSettings {
  source: 'synthetic' | 'folder';
  /** Synthetic counts, or the most images taken from each split of a folder (0: all). */
  trainImages: number;
  calibrationImages: number;
  testImages: number;
  width: number;
  height: number;
  model: ModelPreset;
  batch: number;
  epochs: number;
  lr: number;
  augment: boolean;
  calibrationEpochs: number;
  /** What temperature scaling minimises (src/chh/calibrate); absent in runs saved before the option: 'ece'. */
  calibrationObjective?: CalibrationObjective;
  /** Refresh the live heatmap every this many steps. */
  heatmapEvery: number;
  seed: number;
  /** How training keeps activations for backward; absent in runs saved before the option: f32. */
  precision?: ActivationStorage;
}

const demo = RUNS.demo;
export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  source: 'synthetic',
  trainImages: demo.trainImages,
  calibrationImages: demo.calibrationImages,
  testImages: demo.testImages,
  width: demo.width,
  height: demo.height,
  model: demo.model,
  batch: demo.batch,
  epochs: demo.epochs,
  lr: demo.lr,
  augment: demo.augment,
  calibrationEpochs: demo.calibrationEpochs,
  calibrationObjective: demo.calibrationObjective,
  heatmapEvery: 5,
  seed: demo.seed,
  precision: TRAINING.precision.default,
};

/** What is wrong with settings (sizes, counts, the learning rate), else null. */
export function settingsProblem(s: SessionSettings): string | null {
  for (const [k, v] of [['width', s.width], ['height', s.height]] as const) {
    if (!Number.isInteger(v) || v < 32 || v % 32 !== 0) return `${k} must be a multiple of 32 (the network downsamples 5 times), got ${v}`;
  }
  for (const [k, v] of [['batch', s.batch], ['epochs', s.epochs], ['heatmapEvery', s.heatmapEvery]] as const) if (!Number.isInteger(v) || v < 1) return `${k} must be a positive integer`;
  if (s.source === 'synthetic' && (s.trainImages < 1 || s.calibrationImages < 2 || s.testImages < 1)) {
    return 'synthetic data needs at least 1 train, 2 fine-tune (two halves) and 1 test image';
  }
  if (!(s.lr > 0)) return 'lr must be > 0';
  return null;
}

/** The run the settings make: originals 3x the network width, one learning-rate milestone at 3/4 of training. */
export function runSettingsOf(s: SessionSettings, landmarks: number = SYNTHETIC.landmarks.default): RunSettings {
  return {
    model: s.model, width: s.width, height: s.height, originalWidth: originalWidthFor(s.width), landmarks,
    trainImages: s.trainImages, calibrationImages: s.calibrationImages, testImages: s.testImages,
    epochs: s.epochs, batch: s.batch, lr: s.lr, milestones: milestonesFor(s.epochs), augment: s.augment,
    calibrationEpochs: s.calibrationEpochs, calibrationObjective: s.calibrationObjective ?? demo.calibrationObjective, seed: s.seed,
    precision: s.precision ?? TRAINING.precision.default,
  };
}

/** The three splits of an ISBI folder picked in the page, at most the settings' counts of each (0: all). */
async function folderData(s: SessionSettings, files: readonly PathFile[] | null, emit: Emit): Promise<RunData> {
  if (!files || files.length === 0) throw new Error('pick a dataset folder first (ISBI 2015 layout: RawImage/TrainingData, Test1Data, Test2Data and AnnotationsByMD)');
  const source = pathFileSource(files);
  const size = { width: s.width, height: s.height };
  const load = async (split: IsbiSplit, n: number, task: string): Promise<IsbiSample[]> => {
    const samples = await loadIsbiSplit(source, split, { ...size, onProgress: (done, total) => emit({ kind: 'progress', task, done, total }) });
    return n > 0 ? samples.slice(0, n) : samples;
  };
  return {
    train: await load('train', s.trainImages, 'data: TrainingData'),
    calibration: await load('test1', s.calibrationImages, 'data: Test1Data'),
    test: await load('test2', s.testImages, 'data: Test2Data'),
  };
}

/** The data of the settings, with a line saying what it is. */
export async function loadSessionData(s: SessionSettings, files: readonly PathFile[] | null, emit: Emit): Promise<RunData> {
  const problem = settingsProblem(s);
  if (problem) throw new Error(problem);
  if (s.source === 'synthetic') {
    const run = runSettingsOf(s);
    const data = await syntheticData(run, emit);
    emit({ kind: 'log', message: `synthetic cephalograms (${run.originalWidth} px wide originals): ${s.trainImages} train / ${s.calibrationImages} fine-tune / ${s.testImages} test at ${s.width}x${s.height}` });
    return data;
  }
  const data = await folderData(s, files, emit);
  emit({ kind: 'log', message: `ISBI folder: ${data.train.length} train / ${data.calibration.length} fine-tune (Test1) / ${data.test.length} test (Test2) at ${s.width}x${s.height}` });
  return data;
}
