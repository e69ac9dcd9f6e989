// The whole CHH pipeline on the bundled synthetic set, the same in Node and in a page (npm start runs it): make the
// data (in memory), train, fit the temperatures on a separate fine-tuning split, evaluate on a held-out test split,
// compare with a "predict the mean landmark position" baseline, and render the report. Each step is in steps.ts.
import type { Engine } from '../engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, checkModelFits, type UnetConfig } from '../nn/unet.ts';
import { saveWeights } from '../io/weights.ts';
import type { ZlibCompress } from '../io/png.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { meanRadialError, radialErrors } from '../chh/metrics/radial.ts';
import { TRAINING, type RunSettings } from '../chh/config.ts';
import { tensorCoreNote, usePrecision } from '../chh/precision.ts';
import type { CheckpointStore } from '../chh/train.ts';
import type { EpochSummary } from '../chh/checkpoint.ts';
import type { CalibrateResult } from '../chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { adapterName, calibrateStep, compileStep, evaluateStep, reportStep, syntheticData, trainOptions, trainStep, type Emit } from './steps.ts';

export interface PipelineResult {
  adapter: string;
  config: UnetConfig;
  parameters: number;
  /** The settings the run used. */
  settings: RunSettings;
  training: EpochSummary[];
  calibration: CalibrateResult;
  evaluation: EvaluationResult;
  /** MRE of predicting every landmark at its mean position over the training set. */
  baselineMreMm: number;
  /** Wall time of each part; `compile` is the kernels compiled before training (not training time). */
  seconds: { data: number; compile: number; train: number; calibrate: number; test: number };
  /** Final weights with temperatures (CHH names), and the HTML report. */
  weights: Uint8Array;
  reportHtml: string;
}

/** Checkpoints in memory: the pipeline trains from scratch and keeps only the final weights. */
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

/** The report's notes on how the run was made. */
function runNotes(engine: Engine, s: RunSettings, parameters: number, calibration: CalibrateResult, baselineMreMm: number): string[] {
  const objective = calibration.settings.objective === 'nll' ? 'NLL (the reference)' : 'ECE';
  return [
    `adapter: ${adapterName(engine)}`,
    `model: ${s.model} (${parameters} parameters), input ${s.width}x${s.height}, ${s.epochs} epochs, batch ${s.batch}, Adam lr ${s.lr}`,
    `temperature scaling: ${objective} objective, ${s.calibrationEpochs} epochs, first half ${calibration.settings.augmented ? 'augmented' : 'not augmented'}`,
    `baseline (mean landmark position): MRE ${baselineMreMm.toFixed(3)} mm`,
  ];
}

export async function runPipeline(engine: Engine, s: RunSettings, emit: Emit, store: CheckpointStore = memoryStore(), compress?: ZlibCompress): Promise<PipelineResult> {
  const t0 = performance.now();
  const config: UnetConfig = { ...MODEL_PRESETS[s.model], landmarks: s.landmarks };
  checkModelFits(engine, config, s.width, s.height, s.batch); // a clear error before anything is allocated
  const model = new ResnetUnet(config);
  const state = model.allocate(engine, s.seed);
  // Training, calibration and the test all run at the run's precision (src/chh/precision.ts).
  const restorePrecision = usePrecision(engine, s.precision ?? TRAINING.precision.default);
  if (s.precision === 'f16') emit({ kind: 'log', message: tensorCoreNote(engine) });
  try {
    // The kernels compile (where the adapter does it in parallel) while the data is made on the CPU.
    const compiling = compileStep(engine, model, state, { width: s.width, height: s.height, train: [s.batch], augment: s.augment, precision: s.precision, infer: [s.batch] }, emit);
    compiling.catch(() => {}); // awaited below; this only keeps an early failure of the data from leaving it unhandled
    const data = await syntheticData(s, emit);
    const t1 = performance.now();
    await compiling;
    const parameters = state.params.count;
    emit({
      kind: 'log',
      message: `model: ${s.model} ResNet-UNet, ${(parameters / 1e6).toFixed(2)} M parameters; data: synthetic cephalograms ${s.trainImages} train / ${s.calibrationImages} fine-tune / ${s.testImages} test at ${s.width}x${s.height}`,
    });
    const tc = performance.now();
    const training = await trainStep({ engine, model, state, samples: data.train, options: trainOptions(s), store, resume: false, emit });
    const t2 = performance.now();
    const calibration = await calibrateStep(engine, model, state, data.calibration, s, emit);
    const t3 = performance.now();
    const evaluation = await evaluateStep(engine, model, state, data.test, calibration.temperatures, { batch: s.batch, label: 'synthetic test' }, emit);
    const t4 = performance.now();
    const baselineMreMm = meanPositionBaseline(data.train, data.test);
    const temperatures = engine.untracked(() => engine.tensor(calibration.temperatures, [s.landmarks], { label: 'temperatures' }));
    const weights = await saveWeights(model, state, { width: s.width, height: s.height }, temperatures, s.precision ?? TRAINING.precision.default);
    temperatures.dispose();
    const title = 'Contour-Hugging Heatmaps on WebGPU: synthetic cephalograms';
    const report = reportStep(evaluation, calibration, data.test, { title, notes: runNotes(engine, s, parameters, calibration, baselineMreMm), compress });
    const seconds = { data: (t1 - t0) / 1000, compile: (tc - t1) / 1000, train: (t2 - tc) / 1000, calibrate: (t3 - t2) / 1000, test: (t4 - t3) / 1000 };
    return { adapter: adapterName(engine), config, parameters, settings: s, training: training.epochs, calibration, evaluation, baselineMreMm, seconds, weights, reportHtml: report.html };
  } finally {
    restorePrecision();
    state.dispose();
  }
}
