// Temperature scaling: one temperature per landmark divides the logits before the 2D softmax, which changes a
// heatmap's confidence and never its argmax. As the reference's temperature_scaling.py, every epoch the first half
// of the fine-tuning set fits the temperatures (the network frozen) and the second half measures the ECE; the
// temperatures of the best ECE are kept. Objectives: 'ece' (default, ece-objective.ts) and 'nll' (the reference's,
// nll-objective.ts). Defaults: CALIBRATION in ../config.ts; the measurements and reasons behind them:
// docs/decisions.md, "Temperature scaling".
import type { Engine } from '../../engine/engine.ts';
import type { IsbiSample } from '../../data/isbi.ts';
import { BatchLoader, checkSamples, splitHalves, type SampleGeometry } from '../../data/batches.ts';
import type { CalibrationOptions, CalibrationResult } from '../metrics/calibration.ts';
import { calibrationBinsFor, temperatureValues, type FrozenNetwork } from '../evaluate.ts';
import { CALIBRATION, CALIBRATION_OBJECTIVES, EVALUATION, type CalibrationObjective } from '../config.ts';
import { FrozenLogits, referenceAugmenter, type CalibrationAugmenter } from './logits.ts';
import { validate, type Validation } from './validate.ts';
import { EceObjective } from './ece-objective.ts';
import { NllObjective } from './nll-objective.ts';
import type { CalibrationRun, Objective } from './run.ts';

export interface CalibrateOptions {
  /**
   * 'ece' (default): Adam on the ECE of the whole first half, one step per epoch (the project's mission: T
   * minimises the ECE). 'nll': Adam on the CHH loss (NLL of the target pixel), one step per batch, as the
   * reference's temperature_scaling.py.
   */
  objective?: CalibrationObjective;
  /** Epochs (default CALIBRATION.epochs). */
  epochs?: number;
  /** Adam learning rate (default CALIBRATION.lr). */
  lr?: number;
  /**
   * Images per batch on the first half (default CALIBRATION.batch): per Adam step for 'nll', per GPU pass for 'ece'
   * (whose step is on the whole half). The second half is evaluated in batches of this size too.
   */
  batchSize?: number;
  /** Seeds the first half's shuffle and augmentation (default CALIBRATION.seed). */
  seed?: number;
  /**
   * 'reference': src/data/augmentation.ts with the reference's ranges; null: no augmentation. Default: null for the 'ece'
   * objective, 'reference' for 'nll' (docs/decisions.md says why).
   */
  augment?: CalibrationAugmenter | 'reference' | null;
  /** Starting temperatures (default all 1). */
  initialTemperatures?: ArrayLike<number>;
  /** Lower clamp of T after each step (default CALIBRATION.minTemperature). */
  minTemperature?: number;
  /** ECE binning (default: calibrationBinsFor the images' size: the reference's 10 bins over [0, 0.15] at 640x800). */
  calibration?: CalibrationOptions;
  /** ERE cutoff used for the mode probability pass (does not affect mode probabilities; default EVALUATION.cutoff). */
  cutoff?: number;
  /** The initial temperatures compete with the epochs for the best ECE (default true). */
  keepInitial?: boolean;
  /** GPU bytes allowed for cached logits (default CALIBRATION.cacheBytes; 0 disables caching). */
  cacheBytes?: number;
  /** Use these halves instead of splitting the samples (first: fitting set, second: ECE set). */
  halves?: [readonly IsbiSample[], readonly IsbiSample[]];
  onProgress?: (event: CalibrateProgress) => void;
}

export interface CalibrateEpoch {
  /** 0: the initial temperatures (no training); 1..E after each epoch. */
  epoch: number;
  /** Mean NLL of the first half over the epoch, at the temperatures each step started from (NaN for epoch 0). */
  nll: number;
  /**
   * 'ece' objective: the ECE of the whole first half at the temperatures the epoch started from (NaN for epoch 0 and
   * for 'nll'; absent in results written before the option).
   */
  fitEce?: number;
  /** Mean NLL on the second half. */
  validationNll: number;
  /** ECE (fraction, 0..1) on the second half. */
  ece: number;
  temperatures: number[];
}

export type CalibrateProgress =
  /** loss: the objective before the step: the batch's NLL ('nll'), or the whole first half's ECE, a fraction ('ece'). */
  | { kind: 'step'; epoch: number; epochs: number; step: number; steps: number; loss: number }
  | { kind: 'epoch'; epochs: number; best: boolean; result: CalibrateEpoch };

export interface CalibrateResult {
  /** Temperatures of the best ECE on the second half. */
  temperatures: Float32Array;
  initialTemperatures: number[];
  /** ECE (fraction) on the second half with the initial temperatures. */
  eceBefore: number;
  /** ECE (fraction) on the second half with the returned temperatures. */
  eceAfter: number;
  bestEpoch: number;
  /** Epoch 0 (initial) then every epoch. */
  history: CalibrateEpoch[];
  /** Reliability diagrams on the second half, before and after. */
  before: CalibrationResult;
  after: CalibrationResult;
  fitCount: number;
  validationCount: number;
  settings: {
    /** Absent in results written before the option existed: those fitted the NLL. */
    objective?: CalibrationObjective;
    epochs: number;
    lr: number;
    batchSize: number;
    seed: number;
    augmented: boolean;
    minTemperature: number;
    cachedFit: boolean;
    cachedValidation: boolean;
  };
}

const op = 'calibrateTemperatures';

/** The options with their defaults, checked. */
interface Settings {
  objective: CalibrationObjective;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  minTemperature: number;
  cutoff: number;
  calibration: CalibrationOptions;
  keepInitial: boolean;
  augment: CalibrationAugmenter | null;
  /** The starting temperatures, clamped to minTemperature. */
  initial: Float32Array;
  cacheBytes: number;
  fitSet: readonly IsbiSample[];
  valSet: readonly IsbiSample[];
  geometry: SampleGeometry;
}

export async function calibrateTemperatures(
  engine: Engine,
  network: FrozenNetwork,
  samples: readonly IsbiSample[],
  options: CalibrateOptions = {},
): Promise<CalibrateResult> {
  const settings = await resolveSettings(network, samples, options);
  const run = openRun(engine, network, settings);
  const objective: Objective = settings.objective === 'nll' ? new NllObjective(run) : new EceObjective(run, settings.initial);
  try {
    return await fitTemperatures(run, objective, settings, options.onProgress);
  } finally {
    objective.dispose();
    closeRun(run);
  }
}

async function resolveSettings(network: FrozenNetwork, samples: readonly IsbiSample[], options: CalibrateOptions): Promise<Settings> {
  const [fitSet, valSet] = options.halves ?? splitHalves(samples);
  if (fitSet.length === 0 || valSet.length === 0) {
    throw new Error(`${op}: both halves need samples (got ${fitSet.length} to fit and ${valSet.length} to validate; give at least 2 samples)`);
  }
  const geometry = checkSamples([...fitSet, ...valSet], op);
  const { width, height, landmarks: L } = geometry;
  if (L !== network.landmarks) throw new Error(`${op}: the network predicts ${network.landmarks} landmarks but the samples have ${L}`);
  const epochs = options.epochs ?? CALIBRATION.epochs.default;
  const lr = options.lr ?? CALIBRATION.lr.default;
  const batchSize = options.batchSize ?? CALIBRATION.batch.default;
  const minTemperature = options.minTemperature ?? CALIBRATION.minTemperature.default;
  const objective = options.objective ?? CALIBRATION.objective.default;
  if (!CALIBRATION_OBJECTIVES.includes(objective)) throw new Error(`${op}: objective must be 'ece' or 'nll', got ${JSON.stringify(objective)}`);
  if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`${op}: epochs must be a non-negative integer, got ${epochs}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`${op}: lr must be a positive number, got ${lr}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`${op}: batchSize must be a positive integer, got ${batchSize}`);
  if (!(minTemperature > 0)) throw new Error(`${op}: minTemperature must be > 0, got ${minTemperature}`);
  const augmentOption = options.augment === undefined ? (objective === 'ece' ? null : 'reference') : options.augment;
  const initial = await temperatureValues(options.initialTemperatures ?? new Float32Array(L).fill(1), L, op);
  for (let i = 0; i < L; i++) initial[i] = Math.max(initial[i], minTemperature);
  return {
    objective,
    epochs,
    lr,
    batchSize,
    seed: options.seed ?? CALIBRATION.seed.default,
    minTemperature,
    cutoff: options.cutoff ?? EVALUATION.cutoff.default,
    calibration: options.calibration ?? calibrationBinsFor(width, height),
    keepInitial: options.keepInitial ?? true,
    augment: augmentOption === 'reference' ? referenceAugmenter() : augmentOption,
    initial,
    cacheBytes: options.cacheBytes ?? CALIBRATION.cacheBytes.default,
    fitSet,
    valSet,
    geometry,
  };
}

/** The halves' batches and logits and the temperatures on the GPU (closeRun frees them). */
function openRun(engine: Engine, network: FrozenNetwork, s: Settings): CalibrationRun {
  const fitLoader = new BatchLoader(engine, s.fitSet, { batchSize: s.batchSize, shuffle: true, seed: s.seed });
  const valLoader = new BatchLoader(engine, s.valSet, { batchSize: s.batchSize });
  const logits = new FrozenLogits(engine, network, fitLoader, s.geometry, {
    augment: s.augment,
    seed: s.seed,
    cacheBytes: s.cacheBytes,
    validationCount: s.valSet.length,
  });
  // requiresGrad for the 'nll' objective's backward; the 'ece' objective writes its CPU steps into it.
  const temps = engine.untracked(() => engine.tensor(s.initial, [s.geometry.landmarks], { label: 'calibrate.temperatures', requiresGrad: true }));
  const { cutoff, calibration, lr, minTemperature } = s;
  return { engine, geometry: s.geometry, fitLoader, valLoader, logits, temps, cutoff, calibration, lr, minTemperature };
}

function closeRun(run: CalibrationRun): void {
  run.temps.grad?.dispose();
  run.temps.dispose();
  run.logits.dispose();
  run.fitLoader.dispose();
  run.valLoader.dispose();
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Epoch 0 (the initial temperatures) and every epoch of the objective, each measured on the second half. */
async function fitTemperatures(
  run: CalibrationRun,
  objective: Objective,
  s: Settings,
  onProgress: CalibrateOptions['onProgress'],
): Promise<CalibrateResult> {
  const { epochs } = s;
  const first = await validate(run);
  const history: CalibrateEpoch[] = [
    { epoch: 0, nll: NaN, fitEce: NaN, validationNll: first.nll, ece: first.ece, temperatures: Array.from(s.initial) },
  ];
  const initialEce = s.keepInitial || epochs === 0 ? first.ece : Infinity;
  let best: Best = { epoch: 0, ece: initialEce, temperatures: Float32Array.from(s.initial), result: first.result };
  onProgress?.({ kind: 'epoch', epochs, best: true, result: history[0] });
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const fit = await objective.epoch(epoch, (step, steps, loss) => onProgress?.({ kind: 'step', epoch, epochs, step, steps, loss }));
    const val = await validate(run);
    const t = Float32Array.from(await run.temps.read());
    const entry: CalibrateEpoch = {
      epoch,
      nll: mean(fit.losses),
      fitEce: mean(fit.fitEces),
      validationNll: val.nll,
      ece: val.ece,
      temperatures: Array.from(t),
    };
    history.push(entry);
    const improved = val.ece < best.ece;
    if (improved) best = { epoch, ece: val.ece, temperatures: t, result: val.result };
    onProgress?.({ kind: 'epoch', epochs, best: improved, result: entry });
  }
  return resultOf(run, s, first, best, history);
}

/** The best epoch so far. */
interface Best {
  epoch: number;
  ece: number;
  temperatures: Float32Array;
  result: CalibrationResult;
}

function resultOf(run: CalibrationRun, s: Settings, first: Validation, best: Best, history: CalibrateEpoch[]): CalibrateResult {
  const { objective, epochs, lr, batchSize, seed, minTemperature } = s;
  return {
    temperatures: best.temperatures,
    initialTemperatures: Array.from(s.initial),
    eceBefore: first.ece,
    eceAfter: best.ece,
    bestEpoch: best.epoch,
    history,
    before: first.result,
    after: best.result,
    fitCount: s.fitSet.length,
    validationCount: s.valSet.length,
    settings: {
      objective,
      epochs,
      lr,
      batchSize,
      seed,
      augmented: s.augment !== null,
      minTemperature,
      cachedFit: run.logits.cachedFit,
      cachedValidation: run.logits.cachedValidation,
    },
  };
}
