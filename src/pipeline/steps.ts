// The steps of a CHH run, each one call: the data, training, temperature scaling, evaluation, the report. The
// whole pipeline (pipeline.ts, npm start), the command line (src/cli) and the demo page all run these, so a run
// means the same everywhere; they differ only in where files go and how progress is shown (PipelineEvent).
import type { Engine } from '../engine/engine.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import type { IsbiSample, IsbiSplit } from '../data/isbi.ts';
import { loadSyntheticSplit } from '../data/synthetic/dataset.ts';
import { TRAINING, type RunSettings } from '../chh/config.ts';
import { train, gpuAugmenter, type TrainOptions, type TrainResult, type TrainRun } from '../chh/train.ts';
import { calibrateTemperatures, type CalibrateEpoch, type CalibrateOptions, type CalibrateResult } from '../chh/calibrate/calibrate.ts';
import { evaluateModel, unetNetwork, type EvaluationResult, type HeatmapOptions } from '../chh/evaluate.ts';
import { buildOverlays, type ReportOverlay } from '../report/overlay.ts';
import { renderReport } from '../report/report.ts';
import type { ZlibCompress } from '../io/png.ts';
import { compileModel, type CompilePlan } from '../chh/compile.ts';
import { scalingNote } from '../chh/checkpoint.ts';
import { formatTuneResult, tuneModel, type TuneModelResult } from '../chh/tune.ts';
import type { TuneChoice } from '../ops/conv2d/autotune.ts';

/** Progress of a step: 'log' lines, and 'progress' of a named task (a bar in a terminal, a line in the page). */
export type PipelineEvent =
  | { kind: 'log'; message: string }
  | { kind: 'progress'; task: string; done: number; total: number; info?: string };

export type Emit = (event: PipelineEvent) => void;

/** The three splits of a run: training, fine-tuning (temperature scaling) and test. */
export interface RunData {
  train: IsbiSample[];
  calibration: IsbiSample[];
  test: IsbiSample[];
}

const progress = (emit: Emit, task: string) => (done: number, total: number) => emit({ kind: 'progress', task, done, total });

/** The synthetic splits of a run, generated in memory (train, test1 as the fine-tuning split, test2 as the test split). */
export async function syntheticData(s: RunSettings, emit: Emit): Promise<RunData> {
  const synth = { counts: { train: s.trainImages, test1: s.calibrationImages, test2: s.testImages }, width: s.originalWidth, landmarks: s.landmarks, seed: s.seed };
  const load = (split: IsbiSplit, task: string) => loadSyntheticSplit(split, synth, { width: s.width, height: s.height, onProgress: progress(emit, task) });
  return { train: await load('train', 'data: train'), calibration: await load('test1', 'data: fine-tuning'), test: await load('test2', 'data: test') };
}

/**
 * Every kernel the plan's steps need, compiled up front and in parallel (src/chh/compile.ts), shown as the task
 * 'compiling kernels'. Time spent here is not training time: progress bars and ETAs start after it.
 */
export async function compileStep(engine: Engine, model: ResnetUnet, state: ModelState, plan: Omit<CompilePlan, 'onProgress'>, emit: Emit): Promise<void> {
  const t0 = performance.now();
  const task = 'compiling kernels';
  const n = await compileModel(engine, model, state, { ...plan, onProgress: (p) => emit({ kind: 'progress', task, done: p.done, total: p.total }) });
  if (n > 0) emit({ kind: 'log', message: `compiled ${n} kernels in ${((performance.now() - t0) / 1000).toFixed(1)} s` });
}

/**
 * The autotuner over the conv shapes of the plan's steps (src/chh/tune.ts), shown as the task 'tuning kernels',
 * then what won as a table and whether the whole model kept the winners. The engine uses the choices at once; the
 * caller persists them (they are returned, with the whole-model check).
 * Run it before compileStep, so that the kernels compiled ahead are the tuned ones.
 */
export async function tuneStep(engine: Engine, model: ResnetUnet, state: ModelState, plan: Omit<CompilePlan, 'onProgress'>, emit: Emit): Promise<TuneModelResult> {
  const t0 = performance.now();
  const task = 'tuning kernels';
  const result = await tuneModel(engine, model, state, plan, {
    onProgress: (p) => emit({ kind: 'progress', task, done: p.done, total: p.total }),
    onCheckProgress: (p) => emit({ kind: 'progress', task: 'checking the winners in the whole model', done: p.done, total: p.total }),
  });
  emit({ kind: 'log', message: `tuned ${result.choices.length} conv shapes in ${((performance.now() - t0) / 1000).toFixed(1)} s:\n${formatTuneResult(result)}` });
  return result;
}

/** The training options of a run (Adam, the MultiStepLR factor of the config, GPU augmentation when on). */
export function trainOptions(s: Pick<RunSettings, 'epochs' | 'batch' | 'lr' | 'milestones' | 'augment' | 'seed' | 'precision'>): TrainOptions {
  const augment = s.augment ? gpuAugmenter : null;
  return { epochs: s.epochs, batch: s.batch, lr: s.lr, optimizer: 'adam', milestones: s.milestones, gamma: TRAINING.gamma.default, seed: s.seed, augment, precision: s.precision };
}

/** A training run (src/chh/train.ts) whose progress is also emitted as events. */
export interface TrainStep extends TrainRun {
  emit: Emit;
}

/** Training with a checkpoint per epoch in the store; a progress bar per epoch and one line per finished epoch. */
export function trainStep({ emit, ...run }: TrainStep): Promise<TrainResult> {
  return train({
    ...run,
    onResume: (finished) => {
      emit({ kind: 'log', message: `resumed from the checkpoint after epoch ${finished}` });
      run.onResume?.(finished);
    },
    onStep: (p) => {
      emit({ kind: 'progress', task: `train epoch ${p.epoch + 1}/${p.epochs}`, done: p.step, total: p.stepsPerEpoch, info: `loss ${p.loss.toFixed(3)}` });
      run.onStep?.(p);
    },
    onEpoch: (e) => {
      emit({ kind: 'log', message: `epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)} (${e.seconds.toFixed(1)} s${scalingNote(e)})` });
      run.onEpoch?.(e);
    },
  });
}

/**
 * How the fine-tuning split's first half is augmented while the temperatures are fitted: as asked, else never
 * when training had no augmentation, else the objective's default (undefined: see src/chh/calibrate).
 */
export function calibrationAugment(s: Pick<RunSettings, 'augment' | 'calibrationAugment'>): CalibrateOptions['augment'] {
  const augment = s.calibrationAugment ?? (s.augment ? undefined : false);
  return augment === undefined ? undefined : augment ? 'reference' : null;
}

/** Temperature scaling of a trained model on the fine-tuning split (a bar over its epochs; onEpoch beside it). */
export function calibrateStep(
  engine: Engine,
  model: ResnetUnet,
  state: ModelState,
  samples: readonly IsbiSample[],
  s: RunSettings,
  emit: Emit,
  onEpoch?: (epoch: CalibrateEpoch, best: boolean) => void,
): Promise<CalibrateResult> {
  return calibrateTemperatures(engine, unetNetwork(model, state), samples, {
    objective: s.calibrationObjective,
    epochs: s.calibrationEpochs,
    batchSize: s.batch,
    seed: s.seed,
    augment: calibrationAugment(s),
    onProgress: (ev) => {
      if (ev.kind !== 'epoch') return;
      emit({ kind: 'progress', task: 'calibrate', done: ev.result.epoch, total: s.calibrationEpochs, info: `ECE ${ev.result.ece.toFixed(4)}` });
      onEpoch?.(ev.result, ev.best);
    },
  });
}

/** Every metric on the test split with the fitted temperatures, calibration compared with T = 1. */
export function evaluateStep(
  engine: Engine,
  model: ResnetUnet,
  state: ModelState,
  samples: readonly IsbiSample[],
  temperatures: Float32Array,
  o: { batch: number; label: string; heatmaps?: HeatmapOptions },
  emit: Emit,
): Promise<EvaluationResult> {
  return evaluateModel(engine, model, state, samples, {
    temperatures,
    compareTemperatures: new Float32Array(model.config.landmarks).fill(1),
    batchSize: o.batch,
    label: o.label,
    heatmaps: o.heatmaps,
    onProgress: progress(emit, 'test'),
  });
}

/** The adapter in one line, for logs and reports. */
export function adapterName(engine: Engine): string {
  const a = engine.adapter;
  return `${a.vendor} ${a.architecture} ${a.description} (${a.runtime})`.replace(/\s+/g, ' ');
}

/** The HTML report of an evaluation: overlays of the test images, the notes given and the date. */
export function reportStep(
  evaluation: EvaluationResult,
  calibration: CalibrateResult | null,
  samples: readonly IsbiSample[],
  o: { title?: string; notes: string[]; compress?: ZlibCompress },
): { html: string; overlays: ReportOverlay[] } {
  const overlays = buildOverlays(evaluation, samples, { compress: o.compress });
  const html = renderReport({ title: o.title, evaluation, calibration, overlays, notes: [...o.notes, `date: ${new Date().toISOString()}`] });
  return { html, overlays };
}
