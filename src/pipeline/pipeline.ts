// The whole CHH pipeline on the bundled synthetic set, in one function that runs the same in Node and in a page:
// make the data (in memory), train, fit the temperatures on a separate fine-tuning split, evaluate on a held-out
// test split, compare with a "predict the mean landmark position" baseline, and render the report.
import type { Engine } from '../engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset, type UnetConfig } from '../nn/unet.ts';
import { saveSafetensors } from '../io/state-dict.ts';
import { meanRadialError, radialErrors } from '../chh/metrics/radial.ts';
import { loadSyntheticSplit } from '../data/synthetic.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { train, gpuAugmenter, type CheckpointStore, type EpochSummary } from '../chh/train.ts';
import { calibrateTemperatures, type CalibrateResult, type CalibrationObjective } from '../chh/calibrate.ts';
import { evaluateModel, unetNetwork, type EvaluationResult } from '../chh/evaluate.ts';
import { buildOverlays, renderReport } from '../report/report.ts';
import type { ZlibCompress } from '../io/png.ts';

export interface PipelineOptions {
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
  calibrationEpochs: number;
  /** What temperature scaling minimises on the first half of the fine-tuning split: 'ece' or the reference's 'nll'. */
  calibrationObjective: CalibrationObjective;
  /**
   * Augment the first half while fitting the temperatures. Absent: the objective's default (plain images for 'ece',
   * the reference's augmentation for 'nll'); see src/pipeline/calibrate.ts.
   */
  calibrationAugment?: boolean;
  /** Augment the training images. */
  augment: boolean;
  seed: number;
}

/** Progress events: 'log' lines, and 'progress' of a named task (a bar in a terminal). */
export type PipelineEvent =
  | { kind: 'log'; message: string }
  | { kind: 'progress'; task: string; done: number; total: number; info?: string };

export interface PipelineResult {
  adapter: string;
  config: UnetConfig;
  parameters: number;
  options: PipelineOptions;
  training: EpochSummary[];
  calibration: CalibrateResult;
  evaluation: EvaluationResult;
  /** MRE of predicting every landmark at its mean position over the training set. */
  baselineMreMm: number;
  seconds: { data: number; train: number; calibrate: number; test: number };
  /** Final weights with temperatures (CHH names), and the HTML report. */
  weights: Uint8Array;
  reportHtml: string;
}

export const QUICK_PIPELINE: PipelineOptions = {
  model: 'tiny',
  width: 128,
  height: 160,
  originalWidth: 387,
  landmarks: 19,
  trainImages: 48,
  calibrationImages: 64,
  testImages: 48,
  epochs: 15,
  batch: 4,
  lr: 3e-3,
  milestones: [11],
  calibrationEpochs: 15,
  calibrationObjective: 'ece',
  augment: true,
  seed: 0,
};

/** The paper's configuration (for a real GPU): ResNet34-UNet at 640x800, 150/150/100 images, 15 epochs. */
export const FULL_PIPELINE: PipelineOptions = {
  model: 'paper',
  width: 640,
  height: 800,
  originalWidth: 1935,
  landmarks: 19,
  trainImages: 150,
  calibrationImages: 150,
  testImages: 100,
  epochs: 15,
  batch: 4,
  lr: 1e-3,
  milestones: [4, 6, 8],
  calibrationEpochs: 15,
  calibrationObjective: 'ece',
  augment: true,
  seed: 0,
};

function memoryStore(): CheckpointStore {
  const files = new Map<string, Uint8Array>();
  return {
    async save(name, bytes) {
      files.set(name, bytes);
    },
    async load(name) {
      return files.get(name) ?? null;
    },
  };
}

/** MRE (mm) of always answering the training set's mean position of each landmark. */
export function meanPositionBaseline(trainSet: readonly IsbiSample[], testSet: readonly IsbiSample[]): number {
  const l2 = trainSet[0].landmarks.length;
  const mean = new Float64Array(l2);
  for (const s of trainSet) for (let i = 0; i < l2; i++) mean[i] += s.landmarks[i] / trainSet.length;
  const errors: number[] = [];
  for (const s of testSet) {
    const points = Array.from({ length: l2 / 2 }, (_, l) => [mean[2 * l], mean[2 * l + 1]]);
    const truth = Array.from({ length: l2 / 2 }, (_, l) => [s.landmarks[2 * l], s.landmarks[2 * l + 1]]);
    errors.push(...radialErrors(points, truth, points.map(() => s.pixelSizeMm)));
  }
  return meanRadialError(errors).mean;
}

export async function runPipeline(
  engine: Engine,
  o: PipelineOptions,
  emit: (e: PipelineEvent) => void,
  store: CheckpointStore = memoryStore(),
  compress?: ZlibCompress,
): Promise<PipelineResult> {
  const log = (message: string): void => emit({ kind: 'log', message });
  const t0 = performance.now();
  const synth = { counts: { train: o.trainImages, test1: o.calibrationImages, test2: o.testImages }, width: o.originalWidth, landmarks: o.landmarks, seed: o.seed };
  const size = { width: o.width, height: o.height };
  const progress = (task: string) => (done: number, total: number) => emit({ kind: 'progress', task, done, total });
  const trainSet = await loadSyntheticSplit('train', synth, { ...size, onProgress: progress('data: train') });
  const calibrationSet = await loadSyntheticSplit('test1', synth, { ...size, onProgress: progress('data: fine-tuning') });
  const testSet = await loadSyntheticSplit('test2', synth, { ...size, onProgress: progress('data: test') });
  const t1 = performance.now();

  const config: UnetConfig = { ...MODEL_PRESETS[o.model], landmarks: o.landmarks };
  const model = new ResnetUnet(config);
  const state = model.allocate(engine, o.seed);
  try {
    log(
      `model: ${o.model} ResNet-UNet, ${(state.params.count / 1e6).toFixed(2)} M parameters; data: synthetic cephalograms ` +
        `${o.trainImages} train / ${o.calibrationImages} fine-tune / ${o.testImages} test at ${o.width}x${o.height}`,
    );
    const training = await train({
      engine,
      model,
      state,
      samples: trainSet,
      store,
      resume: false,
      options: { epochs: o.epochs, batch: o.batch, lr: o.lr, optimizer: 'adam', milestones: o.milestones, gamma: 0.1, seed: o.seed, augment: o.augment ? gpuAugmenter : null },
      onStep: (p) => emit({ kind: 'progress', task: `train epoch ${p.epoch + 1}/${p.epochs}`, done: p.step, total: p.stepsPerEpoch, info: `loss ${p.loss.toFixed(3)}` }),
      onEpoch: (s) => log(`epoch ${s.epoch}: mean loss ${s.meanLoss.toFixed(4)} (${s.seconds.toFixed(1)} s)`),
    });
    const t2 = performance.now();

    const network = unetNetwork(model, state);
    // calibrationAugment when given; else no augmentation anywhere when training has none, the objective's default otherwise.
    const calibrationAugment = o.calibrationAugment ?? (o.augment ? undefined : false);
    const calibration = await calibrateTemperatures(engine, network, calibrationSet, {
      objective: o.calibrationObjective,
      epochs: o.calibrationEpochs,
      seed: o.seed,
      augment: calibrationAugment === undefined ? undefined : calibrationAugment ? 'reference' : null,
      onProgress: (ev) => {
        if (ev.kind === 'epoch') emit({ kind: 'progress', task: 'calibrate', done: ev.result.epoch, total: o.calibrationEpochs, info: `ECE ${ev.result.ece.toFixed(4)}` });
      },
    });
    const t3 = performance.now();

    const evaluation = await evaluateModel(engine, model, state, testSet, {
      temperatures: calibration.temperatures,
      compareTemperatures: new Float32Array(o.landmarks).fill(1),
      batchSize: o.batch,
      label: 'synthetic test',
      onProgress: progress('test'),
    });
    const t4 = performance.now();
    const baselineMreMm = meanPositionBaseline(trainSet, testSet);
    const temperatures = engine.untracked(() => engine.tensor(calibration.temperatures, [o.landmarks], { label: 'temperatures' }));
    const weights = await saveSafetensors(model, state, temperatures, { config: JSON.stringify(config), input_width: String(o.width), input_height: String(o.height) });
    temperatures.dispose();
    const a = engine.adapter;
    const adapter = `${a.vendor} ${a.architecture} ${a.description} (${a.runtime})`.replace(/\s+/g, ' ');
    const reportHtml = renderReport({
      title: 'Contour-Hugging Heatmaps on WebGPU: synthetic cephalograms',
      evaluation,
      calibration,
      overlays: buildOverlays(evaluation, testSet, { compress }),
      notes: [
        `adapter: ${adapter}`,
        `model: ${o.model} (${state.params.count} parameters), input ${o.width}x${o.height}, ${o.epochs} epochs, batch ${o.batch}, Adam lr ${o.lr}`,
        `temperature scaling: ${calibration.settings.objective === 'nll' ? 'NLL (the reference)' : 'ECE'} objective, ${o.calibrationEpochs} epochs, first half ${calibration.settings.augmented ? 'augmented' : 'not augmented'}`,
        `baseline (mean landmark position): MRE ${baselineMreMm.toFixed(3)} mm`,
        `date: ${new Date().toISOString()}`,
      ],
    });
    return {
      adapter,
      config,
      parameters: state.params.count,
      options: o,
      training: training.epochs,
      calibration,
      evaluation,
      baselineMreMm,
      seconds: { data: (t1 - t0) / 1000, train: (t2 - t1) / 1000, calibrate: (t3 - t2) / 1000, test: (t4 - t3) / 1000 },
      weights,
      reportHtml,
    };
  } finally {
    state.dispose();
  }
}
