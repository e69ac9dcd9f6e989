// Training as the CHH reference does it: the UNet's logits, a 2D softmax per landmark map (T = 1 while training),
// NLL of the target pixel, Adam (lr 1e-3) or SGD, MultiStepLR, augmentation on. A checkpoint (weights, BN
// statistics, optimizer state, position in the schedule) is saved after every epoch; resuming from it gives the
// same result as an uninterrupted run with the same seed, because the data order, the augmentation and the
// weight init are functions of (seed, epoch, step) and the GPU reductions are deterministic (no atomics).
// Runs in Node and in the browser: files go through an injected CheckpointStore.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { backward } from '../ops/backward.ts';
import { Adam } from '../nn/adam.ts';
import { SGD } from '../nn/sgd.ts';
import { ResnetUnet } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { augmentRecord } from '../ops/augment.ts';
import { sampleAugmentParams } from '../data/augmentation.ts';
import { landmarkTargets } from '../ops/targets.ts';
import { BatchLoader, checkSamples, type Batch } from '../data/batches.ts';
import { mixSeed } from '../engine/random.ts';
import { full } from '../ops/fill.ts';
import { TRAINING, type OptimizerName } from './config.ts';
import { ACTIVATION_STORAGES, type ActivationStorage } from '../ops/saved.ts';
import type { LossScaler } from '../nn/loss-scale.ts';
import { lossScalerFor, usePrecision } from './precision.ts';
import { CHECKPOINT_FILE, checkpointBytes, restoreCheckpoint, type CheckpointState, type EpochSummary } from './checkpoint.ts';
import { trainingLoss } from './loss.ts';

export interface TrainOptions {
  epochs: number;
  batch: number;
  lr: number;
  optimizer: OptimizerName;
  /** MultiStepLR: the lr is multiplied by gamma at each of these epochs. */
  milestones: readonly number[];
  gamma: number;
  seed: number;
  /** Augments a batch in place of the original (GPU augmentation); null trains on the plain images. */
  augment: BatchAugmenter | null;
  /** How each step keeps activations for backward (src/ops/saved.ts); absent: TRAINING.precision's default. */
  precision?: ActivationStorage;
}

/**
 * Given a batch's images [N,1,H,W] and landmarks (N*L*2 values, x,y px) on the GPU, records their augmentation
 * and returns the new tensors; synchronous, so a training step never waits for the CPU.
 */
export type BatchAugmenter = (images: Tensor, landmarks: Tensor, seed: number) => { images: Tensor; landmarks: Tensor };

/** The reference's augmentation (affine, intensity, gamma, elastic), drawn from the seed, on the GPU. */
export const gpuAugmenter: BatchAugmenter = (images, landmarks, seed) => {
  const [n, , h, w] = images.shape;
  const result = augmentRecord(images, landmarks, sampleAugmentParams(seed, n, w, h));
  if (!result.landmarks) throw new Error('augment: landmarks were not transformed');
  return { images: result.images, landmarks: result.landmarks };
};

/** Where checkpoints go: a folder in Node, IndexedDB in the browser. Writes must be atomic (write, then rename). */
export interface CheckpointStore {
  save(name: string, bytes: Uint8Array): Promise<void>;
  load(name: string): Promise<Uint8Array | null>;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  lr: number;
}

export class NonFiniteLossError extends Error {}

/** lr of MultiStepLR at a (0-based) epoch. */
export function learningRate(options: Pick<TrainOptions, 'lr' | 'milestones' | 'gamma'>, epoch: number): number {
  return options.lr * options.gamma ** options.milestones.filter((m) => m <= epoch).length;
}

export interface TrainRun {
  engine: Engine;
  model: ResnetUnet;
  state: ModelState;
  samples: readonly IsbiSample[];
  options: TrainOptions;
  store: CheckpointStore;
  /** Continue from the store's checkpoint if there is one (made with the same settings: anything else is refused). */
  resume: boolean;
  /** Called with the number of finished epochs when training continues from a checkpoint. */
  onResume?: (finishedEpochs: number) => void;
  onStep?: (p: TrainProgress) => void;
  onEpoch?: (s: EpochSummary) => void;
  /** Stop after this many epochs of this call (for tests of resume); the schedule still counts to options.epochs. */
  stopAfterEpochs?: number;
  /**
   * Awaited before each step (e.g. by a page's Pause / Stop buttons): a promise that stays pending pauses training;
   * 'stop' ends it there (that step is not run, the epoch is not finished and no checkpoint is written for it, so
   * the store keeps the last finished epoch's); anything else goes on.
   */
  beforeStep?: (p: { epoch: number; step: number }) => Promise<'stop' | void> | 'stop' | void;
}

export interface TrainResult {
  /** The epochs this call ran. */
  epochs: EpochSummary[];
  /** Every finished epoch, those of the checkpoint it resumed from included. */
  history: EpochSummary[];
  /** The epoch training will continue from (== options.epochs when finished). */
  nextEpoch: number;
  /** True when beforeStep stopped training (nextEpoch is then the unfinished epoch). */
  stopped: boolean;
}

/** What one training call works with: the run, its optimizer, loss scaler, loader and fixed temperatures. */
interface Training {
  run: TrainRun;
  optimizer: Adam | SGD;
  /** Where the gradients may pass through f16 (src/chh/precision.ts). */
  scaler: LossScaler | null;
  loader: BatchLoader;
  temperatures: Tensor;
}

/** Records one step (augmentation, forward, loss, backward, optimizer update); returns the loss tensor, unread. */
function recordStep(t: Training, batch: Batch, epoch: number): Tensor {
  const { engine, model, state, options } = t.run;
  const L = model.config.landmarks;
  const [, , height, width] = batch.images.shape;
  t.scaler?.beginStep();
  const lossTensor = engine.scope(() => {
    let images = batch.images;
    let targets: Tensor | Int32Array = batch.targets;
    if (options.augment) {
      const landmarks = engine.tensor(batch.landmarks, [batch.landmarks.length], { label: 'landmarks' });
      const augmented = options.augment(images, landmarks, mixSeed(options.seed, epoch, 1000 + batch.index));
      images = augmented.images;
      targets = landmarkTargets(augmented.landmarks, batch.size, L, height, width);
    }
    const loss = trainingLoss(model, state, images, t.temperatures, targets);
    backward(loss, { seed: t.scaler?.scale });
    return loss;
  });
  t.optimizer.step(t.scaler);
  t.optimizer.zeroGrad();
  return lossTensor;
}

/**
 * One epoch; returns its mean loss, or null when beforeStep stopped it. Each step's loss is read while the next
 * step is being recorded, so the GPU never waits for the CPU.
 */
async function runEpoch(t: Training, epoch: number): Promise<number | null> {
  const { run, optimizer, loader } = t;
  const stepsPerEpoch = loader.length;
  let lossSum = 0;
  let pending: { step: number; value: Promise<number> } | null = null;
  const settle = async (p: { step: number; value: Promise<number> }): Promise<void> => {
    const loss = await p.value;
    if (!Number.isFinite(loss)) {
      throw new NonFiniteLossError(
        `the loss became ${loss} at epoch ${epoch + 1}, step ${p.step + 1}: training stopped; the last good checkpoint ` +
          `(end of epoch ${epoch}) is kept. Try a lower --lr.`,
      );
    }
    lossSum += loss;
    run.onStep?.({ epoch, epochs: run.options.epochs, step: p.step + 1, stepsPerEpoch, loss, lr: optimizer.lr });
  };
  let stopped = false;
  for (const batch of loader.epoch(epoch)) {
    if (run.beforeStep && (await run.beforeStep({ epoch, step: batch.index })) === 'stop') {
      stopped = true;
      break;
    }
    const lossTensor = recordStep(t, batch, epoch);
    const current = { step: batch.index, value: lossTensor.item().finally(() => lossTensor.dispose()) };
    current.value.catch(() => {}); // if an earlier step fails, this read is abandoned: not an unhandled rejection
    if (pending) await settle(pending);
    pending = current;
  }
  if (pending) await settle(pending);
  return stopped ? null : lossSum / stepsPerEpoch;
}

/**
 * The epoch's loss scaling: the scale at its end and the steps it skipped. An epoch that skipped every step means
 * that the forward pass itself overflows f16, which no loss scale mends: that is an error, not a slow epoch.
 */
async function scalingOf(t: Training, history: readonly EpochSummary[]): Promise<Pick<EpochSummary, 'lossScale' | 'skippedSteps'>> {
  if (!t.scaler) return {};
  const status = await t.scaler.status();
  const skippedBefore = history.reduce((sum, e) => sum + (e.skippedSteps ?? 0), 0);
  const skippedSteps = status.skippedSteps - skippedBefore;
  if (skippedSteps >= t.loader.length) {
    throw new Error(
      `train: every step of this epoch overflowed f16 (loss scale now ${status.scale}), so none reached the weights: ` +
        'a value beyond f16\'s range (65504) is in the forward pass; train with --precision f32',
    );
  }
  return { lossScale: status.scale, skippedSteps };
}

function checkRun(run: TrainRun): void {
  const { samples, options, model } = run;
  if (samples.length === 0) throw new Error('train: no training samples');
  if (!Number.isInteger(options.batch) || options.batch < 1) throw new Error(`train: batch must be a positive integer, got ${options.batch}`);
  if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new Error(`train: epochs must be a positive integer, got ${options.epochs}`);
  if (options.precision !== undefined && !ACTIVATION_STORAGES.includes(options.precision)) {
    throw new Error(`train: precision must be one of ${ACTIVATION_STORAGES.join(', ')}, got ${JSON.stringify(options.precision)}`);
  }
  const L = model.config.landmarks;
  const geometry = checkSamples(samples, 'train');
  if (geometry.landmarks !== L) throw new Error(`train: the model predicts ${L} landmarks but the data has ${geometry.landmarks}`);
}

export async function train(run: TrainRun): Promise<TrainResult> {
  checkRun(run);
  const { engine, model, state, samples, options, store } = run;
  const optimizer = options.optimizer === 'adam' ? new Adam(state.params, { lr: options.lr }) : new SGD(state.params, { lr: options.lr, momentum: 0.9 });
  const precision = options.precision ?? TRAINING.precision.default;
  const settings = { ...options, augment: options.augment !== null, precision };
  const restorePrecision = usePrecision(engine, precision);
  const scaler = lossScalerFor(engine);
  const checkpoint: CheckpointState = { model, state, optimizer, scaler, samples, settings };
  const temperatures = engine.untracked(() => full(engine, [model.config.landmarks], 1, { label: 'temperatures (fixed at 1 while training)' }));
  const loader = new BatchLoader(engine, samples, { batchSize: options.batch, shuffle: true, seed: options.seed });
  const t: Training = { run, optimizer, scaler, loader, temperatures };
  const epochs: EpochSummary[] = [];
  let history: EpochSummary[] = [];
  let stoppedAt = -1;
  state.training = true;
  try {
    const bytes = run.resume ? await store.load(CHECKPOINT_FILE) : null;
    if (bytes) {
      history = restoreCheckpoint(bytes, checkpoint);
      run.onResume?.(history.length);
    }
    const lastEpoch = Math.min(options.epochs, history.length + (run.stopAfterEpochs ?? Infinity));
    for (let epoch = history.length; epoch < lastEpoch; epoch++) {
      const t0 = performance.now();
      optimizer.lr = learningRate(options, epoch);
      const meanLoss = await runEpoch(t, epoch);
      if (meanLoss === null) {
        stoppedAt = epoch;
        break;
      }
      const summary: EpochSummary = { epoch: epoch + 1, meanLoss, lr: optimizer.lr, seconds: (performance.now() - t0) / 1000, ...(await scalingOf(t, history)) };
      history = [...history, summary];
      await store.save(CHECKPOINT_FILE, await checkpointBytes(checkpoint, history));
      epochs.push(summary);
      run.onEpoch?.(summary);
    }
  } finally {
    restorePrecision();
    scaler?.dispose();
    optimizer.dispose();
    temperatures.dispose();
    loader.dispose();
  }
  return { epochs, history, nextEpoch: stoppedAt >= 0 ? stoppedAt : history.length, stopped: stoppedAt >= 0 };
}
