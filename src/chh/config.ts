// Every default of the CHH method and of the runs that use it, each defined once with one line saying what it is.
// The library's functions fall back to these values; the command line builds its options and help from them
// (src/cli/options.ts); npm start and the demo page start from the run configurations at the end (RUNS).
import { ERE_CUTOFF } from '../ops/ere.ts';
import { ERE_SPLIT_THRESHOLD_MM } from './metrics/ere.ts';
import type { ModelPreset } from '../nn/unet.ts';
import { ISBI_PIXEL_SIZE_MM } from '../data/isbi.ts';
import type { ActivationStorage } from '../ops/saved.ts';

/** A setting: its default, and one line saying what it is (the CLI's help, npm start's help, the demo's labels). */
export interface Setting<T> {
  readonly default: T;
  readonly help: string;
}

export type CalibrationObjective = 'ece' | 'nll';
export const CALIBRATION_OBJECTIVES: readonly CalibrationObjective[] = ['ece', 'nll'];
export type OptimizerName = 'adam' | 'sgd';

/** Training (the reference's train.py and cephalometric config). */
export const TRAINING = {
  epochs: { default: 15, help: 'training epochs' },
  batch: { default: 4, help: 'images per training step' },
  lr: { default: 1e-3, help: 'learning rate' },
  optimizer: { default: 'adam' as OptimizerName, help: 'adam, or sgd with momentum 0.9' },
  milestones: { default: [4, 6, 8] as readonly number[], help: 'MultiStepLR: epochs at which the learning rate is multiplied by gamma' },
  gamma: { default: 0.1, help: 'MultiStepLR factor' },
  augment: { default: true, help: "the reference's augmentation (affine, intensity, gamma, elastic), on the GPU" },
  seed: { default: 0, help: 'seed of the weights, the data order and the augmentation' },
  precision: {
    default: 'f32' as ActivationStorage,
    help:
      'f32, or f16: activations kept for backward in f16 (about half the memory), the conv GEMMs allowed f16 operands (tensor cores where chh tune picks them) with the loss scaled; f32 weights and optimizer state',
  },
} as const;

/** Temperature scaling (the reference's temperature_scaling.py; why 'ece' is the default: docs/decisions.md). */
export const CALIBRATION = {
  objective: {
    default: 'ece' as CalibrationObjective,
    help: "what the temperatures minimise on the fine-tuning split's first half: ece (Adam on its ECE, plain images) or nll (the reference's CHH loss, augmented images)",
  },
  epochs: { default: 15, help: 'temperature scaling epochs' },
  lr: { default: 0.01, help: 'Adam learning rate of the temperatures' },
  batch: { default: 4, help: 'images per batch on the first half (per Adam step for nll, per GPU pass for ece)' },
  seed: { default: 0, help: 'seed of the shuffle and augmentation' },
  minTemperature: { default: 0.01, help: 'lower clamp of every temperature after each step' },
  cacheBytes: { default: 512 * 1024 * 1024, help: 'GPU bytes allowed for cached logits (0 disables caching)' },
} as const;

/** Evaluation (the reference's test.py and plots.py). */
export const EVALUATION = {
  batch: { default: 1, help: 'images per forward pass' },
  cutoff: { default: ERE_CUTOFF, help: 'ERE: pixels with p <= cutoff * max p are dropped' },
  overlays: { default: 4, help: 'test images shown with heatmap overlays in the report' },
  heatmapMaxSize: { default: 320, help: 'largest side of a heatmap kept for the report (larger maps are max-pooled)' },
  precision: {
    default: TRAINING.precision.default,
    help: 'f32, or f16: the conv GEMMs allowed f16 operands (tensor cores where chh tune --precision f16 picked them; elsewhere the same f32 result)',
  },
} as const;

/** Prediction of one image. */
export const PREDICTION = {
  pixelSizeMm: { default: ISBI_PIXEL_SIZE_MM, help: 'mm per pixel of the original image (0.1: the ISBI 2015 scanner)' },
  ereThresholdMm: { default: ERE_SPLIT_THRESHOLD_MM, help: 'landmarks with an ERE above this (mm) are flagged erroneous' },
  /** The paper's input size, for weights that do not say theirs (converted PyTorch checkpoints). */
  inputSize: { default: { width: 640, height: 800 } as { readonly width: number; readonly height: number }, help: 'network input size WxH' },
} as const;

/** The synthetic set in the ISBI 2015 layout (chh synth). */
export const SYNTHETIC = {
  train: { default: 150, help: 'images in TrainingData' },
  test1: { default: 150, help: 'images in Test1Data' },
  test2: { default: 100, help: 'images in Test2Data' },
  width: { default: 1935, help: 'original image width in pixels (1935: the ISBI size; the height follows 2400/1935)' },
  landmarks: { default: 19, help: 'landmarks per image' },
  seed: { default: 0, help: 'seed of the set' },
} as const;

type Table = Readonly<Record<string, Setting<unknown>>>;
export type Defaults<T extends Table> = { -readonly [K in keyof T]: T[K]['default'] };

/** The defaults of a table, as a plain object. */
export function defaultsOf<T extends Table>(table: T): Defaults<T> {
  return Object.fromEntries(Object.entries(table).map(([k, s]) => [k, s.default])) as Defaults<T>;
}

/** A run of the whole pipeline on the synthetic set: npm start, the demo page. */
export interface RunSettings {
  model: ModelPreset;
  /** Network input size. */
  width: number;
  height: number;
  /** Width of the generated originals (the ISBI's is 1935; smaller is faster to generate). */
  originalWidth: number;
  landmarks: number;
  trainImages: number;
  calibrationImages: number;
  testImages: number;
  epochs: number;
  batch: number;
  lr: number;
  milestones: number[];
  augment: boolean;
  calibrationEpochs: number;
  calibrationObjective: CalibrationObjective;
  /**
   * Augment the first half while fitting the temperatures. Absent: the objective's default (plain images for 'ece',
   * the reference's augmentation for 'nll'); never when training has no augmentation.
   */
  calibrationAugment?: boolean;
  seed: number;
  /** How training steps keep activations for backward (absent: TRAINING.precision's default). */
  precision?: ActivationStorage;
}

/** What each run setting is: npm start's help, the demo's labels. */
export const RUN_SETTINGS_HELP: Readonly<Record<keyof RunSettings, string>> = {
  model: 'paper (the ResNet34-UNet, 24.4 M parameters), small or tiny (the same architecture with fewer channels)',
  width: 'network input width (a multiple of 32)',
  height: 'network input height (a multiple of 32)',
  originalWidth: 'width of the generated originals (smaller generates faster)',
  landmarks: 'landmarks per image',
  trainImages: 'images in the training split',
  calibrationImages: 'images in the fine-tuning (calibration) split',
  testImages: 'images in the test split',
  epochs: TRAINING.epochs.help,
  batch: TRAINING.batch.help,
  lr: TRAINING.lr.help,
  milestones: TRAINING.milestones.help,
  augment: TRAINING.augment.help,
  calibrationEpochs: CALIBRATION.epochs.help,
  calibrationObjective: CALIBRATION.objective.help,
  calibrationAugment: 'augment the first half while fitting the temperatures',
  seed: TRAINING.seed.help,
  precision: TRAINING.precision.help,
};

/** The demo's originals are generated at 3x the network width (within the ISBI's 193..1935). */
export function originalWidthFor(width: number): number {
  return Math.min(SYNTHETIC.width.default, Math.max(193, 3 * width));
}

/** The demo's learning-rate schedule: one MultiStepLR milestone three quarters into training. */
export function milestonesFor(epochs: number): number[] {
  return [Math.max(1, Math.round(epochs * 0.75))];
}

const trainingRun = { epochs: TRAINING.epochs.default, batch: TRAINING.batch.default, augment: TRAINING.augment.default, seed: TRAINING.seed.default, precision: TRAINING.precision.default };
const calibrationRun = { calibrationEpochs: CALIBRATION.epochs.default, calibrationObjective: CALIBRATION.objective.default };

/**
 * The runs: 'paper' is the paper's configuration (for a real GPU: the ResNet34-UNet at 640x800, 150/150/100 images);
 * 'quick' finishes in minutes on a CPU-only machine (npm start's default); 'demo' is the page's starting point.
 */
export const RUNS: Readonly<Record<'paper' | 'quick' | 'demo', Readonly<RunSettings>>> = {
  paper: {
    model: 'paper', width: 640, height: 800, originalWidth: SYNTHETIC.width.default, landmarks: SYNTHETIC.landmarks.default,
    trainImages: 150, calibrationImages: 150, testImages: 100,
    ...trainingRun, lr: TRAINING.lr.default, milestones: [...TRAINING.milestones.default], ...calibrationRun,
  },
  quick: {
    model: 'tiny', width: 128, height: 160, originalWidth: 387, landmarks: SYNTHETIC.landmarks.default,
    trainImages: 48, calibrationImages: 64, testImages: 96,
    ...trainingRun, epochs: 20, lr: 3e-3, milestones: [15], ...calibrationRun,
  },
  demo: {
    model: 'tiny', width: 128, height: 160, originalWidth: originalWidthFor(128), landmarks: SYNTHETIC.landmarks.default,
    trainImages: 24, calibrationImages: 8, testImages: 8,
    ...trainingRun, epochs: 10, lr: 3e-3, milestones: milestonesFor(10), calibrationEpochs: 5, calibrationObjective: CALIBRATION.objective.default,
  },
};
