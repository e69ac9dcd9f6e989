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
import { softmaxNll } from '../ops/softmax-nll.ts';
import { ResnetUnet } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { stateDict, loadStateDict } from '../io/state-dict.ts';
import { parseSafetensors, serializeSafetensors, type SafeTensor } from '../io/safetensors.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { augmentRecord } from '../ops/augment.ts';
import { sampleAugmentParams } from '../data/augmentation.ts';
import { landmarkTargets } from '../ops/targets.ts';
import { BatchLoader, checkSamples } from '../data/batches.ts';
import { mixSeed } from '../engine/random.ts';
import { full } from '../ops/fill.ts';
import type { OptimizerName } from './config.ts';

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

export interface EpochSummary {
  epoch: number;
  meanLoss: number;
  lr: number;
  seconds: number;
}

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

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
  /** Continue from the store's checkpoint if there is one. */
  resume: boolean;
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
  epochs: EpochSummary[];
  /** The epoch training will continue from (== options.epochs when finished). */
  nextEpoch: number;
  /** True when beforeStep stopped training (nextEpoch is then the unfinished epoch). */
  stopped: boolean;
}

export async function train(run: TrainRun): Promise<TrainResult> {
  const { engine, model, state, samples, options, store } = run;
  if (samples.length === 0) throw new Error('train: no training samples');
  if (!Number.isInteger(options.batch) || options.batch < 1) throw new Error(`train: batch must be a positive integer, got ${options.batch}`);
  if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new Error(`train: epochs must be a positive integer, got ${options.epochs}`);
  const L = model.config.landmarks;
  const geometry = checkSamples(samples, 'train');
  if (geometry.landmarks !== L) throw new Error(`train: the model predicts ${L} landmarks but the data has ${geometry.landmarks}`);
  const optimizer = options.optimizer === 'adam' ? new Adam(state.params, { lr: options.lr }) : new SGD(state.params, { lr: options.lr, momentum: 0.9 });
  const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures (fixed at 1 while training)' }));
  let startEpoch = 0;
  if (run.resume) {
    const bytes = await store.load(CHECKPOINT_FILE);
    if (bytes) startEpoch = restoreCheckpoint(bytes, model, state, optimizer, options);
  }
  const loader = new BatchLoader(engine, samples, { batchSize: options.batch, shuffle: true, seed: options.seed });
  const stepsPerEpoch = loader.length;
  const epochs: EpochSummary[] = [];
  const lastEpoch = Math.min(options.epochs, startEpoch + (run.stopAfterEpochs ?? Infinity));
  let stoppedAt = -1;
  state.training = true;
  try {
    for (let epoch = startEpoch; epoch < lastEpoch; epoch++) {
      const t0 = performance.now();
      optimizer.lr = learningRate(options, epoch);
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
        run.onStep?.({ epoch, epochs: options.epochs, step: p.step + 1, stepsPerEpoch, loss, lr: optimizer.lr });
      };
      for (const batch of loader.epoch(epoch)) {
        if (run.beforeStep && (await run.beforeStep({ epoch, step: batch.index })) === 'stop') {
          stoppedAt = epoch;
          break;
        }
        const step = batch.index;
        const [, , height, width] = batch.images.shape;
        const lossTensor = engine.scope(() => {
          let images = batch.images;
          let targets: Tensor | Int32Array = batch.targets;
          if (options.augment) {
            const landmarks = engine.tensor(batch.landmarks, [batch.landmarks.length], { label: 'landmarks' });
            const augmented = options.augment(images, landmarks, mixSeed(options.seed, epoch, 1000 + step));
            images = augmented.images;
            targets = landmarkTargets(augmented.landmarks, batch.size, L, height, width);
          }
          const loss = softmaxNll(model.forward(state, images), temperatures, targets);
          backward(loss);
          return loss;
        });
        optimizer.step();
        optimizer.zeroGrad();
        // Read each step's loss while the next step is being recorded, so the GPU never waits for the CPU.
        const current = { step, value: lossTensor.item().finally(() => lossTensor.dispose()) };
        current.value.catch(() => {}); // if an earlier step fails, this read is abandoned: not an unhandled rejection
        if (pending) await settle(pending);
        pending = current;
      }
      if (pending) await settle(pending);
      if (stoppedAt >= 0) break;
      const summary = { epoch: epoch + 1, meanLoss: lossSum / stepsPerEpoch, lr: optimizer.lr, seconds: (performance.now() - t0) / 1000 };
      await store.save(CHECKPOINT_FILE, await checkpointBytes(model, state, optimizer, options, epoch + 1));
      epochs.push(summary);
      run.onEpoch?.(summary);
    }
  } finally {
    optimizer.dispose();
    temperatures.dispose();
    loader.dispose();
  }
  return stoppedAt >= 0 ? { epochs, nextEpoch: stoppedAt, stopped: true } : { epochs, nextEpoch: lastEpoch, stopped: false };
}

const OPTIMIZER_PREFIX = 'optimizer.';

/** Weights (smp names), BN statistics, optimizer state and schedule position in one safetensors file. */
export async function checkpointBytes(model: ResnetUnet, state: ModelState, optimizer: Adam | SGD, options: TrainOptions, nextEpoch: number): Promise<Uint8Array> {
  const tensors = new Map<string, SafeTensor>(await stateDict(model, state));
  const slots = optimizer.stateTensors();
  for (let s = 0; s < slots.length; s++) {
    for (let k = 0; k < slots[s].length; k++) {
      const data = (await slots[s][k].read()) as Float32Array;
      tensors.set(`${OPTIMIZER_PREFIX}${s}.${k}`, { dtype: 'F32', shape: [data.length], data });
    }
  }
  const meta = {
    format: 'chh-webgpu training checkpoint',
    next_epoch: String(nextEpoch),
    optimizer: options.optimizer,
    optimizer_steps: String(optimizer.stepCount),
    seed: String(options.seed),
    config: JSON.stringify(model.config),
  };
  return serializeSafetensors(tensors, meta);
}

/** Loads a training checkpoint into model and optimizer; returns the epoch to continue from. */
export function restoreCheckpoint(bytes: Uint8Array, model: ResnetUnet, state: ModelState, optimizer: Adam | SGD, options: TrainOptions): number {
  const { tensors, metadata } = parseSafetensors(bytes);
  if (metadata.format !== 'chh-webgpu training checkpoint') {
    throw new Error('resume: the checkpoint is not a chh-webgpu training checkpoint (use --weights to start from plain weights)');
  }
  if (metadata.config !== JSON.stringify(model.config)) {
    throw new Error(`resume: the checkpoint is for model ${metadata.config}, not ${JSON.stringify(model.config)}`);
  }
  if (metadata.optimizer !== options.optimizer || metadata.seed !== String(options.seed)) {
    throw new Error(`resume: the checkpoint was trained with --optimizer ${metadata.optimizer} --seed ${metadata.seed}; pass the same to resume`);
  }
  const weights = new Map<string, SafeTensor>();
  const optimizerState = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) (name.startsWith(OPTIMIZER_PREFIX) ? optimizerState : weights).set(name, t);
  loadStateDict(model, state, weights, { format: 'smp' });
  const slots = optimizer.stateTensors();
  slots.forEach((slot, s) =>
    slot.forEach((t, k) => {
      const saved = optimizerState.get(`${OPTIMIZER_PREFIX}${s}.${k}`);
      if (!saved || saved.data.length !== t.size) throw new Error(`resume: optimizer state ${s}.${k} is missing or has the wrong size`);
      state.engine.write(t, Float32Array.from(saved.data as ArrayLike<number>));
    }),
  );
  optimizer.stepCount = Number(metadata.optimizer_steps);
  return Number(metadata.next_epoch);
}
