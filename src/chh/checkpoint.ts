// The training checkpoint: weights (smp names), BN statistics, optimizer state, the position in the schedule, the
// epochs so far, and every setting that changes the result, in one safetensors file. Resuming refuses a checkpoint
// made with other settings, naming each one with both values, so a resumed run is always the uninterrupted run.
import { stateDict, loadStateDict } from '../io/state-dict.ts';
import { parseSafetensors, serializeSafetensors, type SafeTensor } from '../io/safetensors.ts';
import { CHECKPOINT_FORMAT, OPTIMIZER_PREFIX, weightsMetadata } from '../io/weights.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import type { Optimizer } from '../nn/optimizer.ts';
import type { LossScaler } from '../nn/loss-scale.ts';
import type { IsbiSample } from '../data/isbi.ts';
import { fnv1a64 } from '../engine/hash.ts';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';
/** The loss scaler's words (src/nn/loss-scale.ts), beside the optimizer's state. */
const LOSS_SCALER_TENSOR = `${OPTIMIZER_PREFIX}loss_scaler`;

/** One finished epoch. */
export interface EpochSummary {
  epoch: number;
  meanLoss: number;
  lr: number;
  seconds: number;
  /** With loss scaling (gradients through f16): the scale at the epoch's end, and the steps it skipped. */
  lossScale?: number;
  skippedSteps?: number;
}

/** The epoch's loss scaling for a log line ('' without it): ", loss scale 32768, 1 step skipped (f16 overflow)". */
export function scalingNote(e: EpochSummary): string {
  if (e.lossScale === undefined) return '';
  const skipped = e.skippedSteps ? `, ${e.skippedSteps} step${e.skippedSteps === 1 ? '' : 's'} skipped (f16 overflow)` : '';
  return `, loss scale ${e.lossScale}${skipped}`;
}

/** What a training run's result depends on, besides the number of epochs (which a resumed run may extend). */
export interface TrainingSettings {
  optimizer: string;
  seed: number;
  batch: number;
  lr: number;
  milestones: readonly number[];
  gamma: number;
  augment: boolean;
  /** How activations were kept for backward (f16 rounds them, so it changes the result). */
  precision: string;
}

/** The settings as the checkpoint records them: strings, compared as they are. */
function recorded(model: ResnetUnet, samples: readonly IsbiSample[], s: TrainingSettings): Record<string, string> {
  const ids = samples.map((x) => x.id).join(',');
  const landmarks = new Uint8Array(samples.flatMap((x) => Array.from(new Uint8Array(x.landmarks.buffer, x.landmarks.byteOffset, x.landmarks.byteLength))));
  return {
    model: JSON.stringify(model.config),
    size: `${samples[0].width}x${samples[0].height}`,
    'training images': `${samples.length} (ids and annotations ${fnv1a64(new TextEncoder().encode(ids))}/${fnv1a64(landmarks)})`,
    optimizer: s.optimizer,
    seed: String(s.seed),
    batch: String(s.batch),
    lr: String(s.lr),
    milestones: s.milestones.join(','),
    gamma: String(s.gamma),
    augment: s.augment ? 'on' : 'off',
    precision: s.precision,
  };
}

export interface CheckpointState {
  model: ResnetUnet;
  state: ModelState;
  optimizer: Optimizer;
  /** The loss scaler's state is saved with the optimizer's (absent or null: training without loss scaling). */
  scaler?: LossScaler | null;
  samples: readonly IsbiSample[];
  settings: TrainingSettings;
}

/** The checkpoint after `history.length` finished epochs. */
export async function checkpointBytes(c: CheckpointState, history: readonly EpochSummary[]): Promise<Uint8Array> {
  const tensors = new Map<string, SafeTensor>(await stateDict(c.model, c.state));
  const slots = c.optimizer.stateTensors();
  for (let s = 0; s < slots.length; s++) {
    for (let k = 0; k < slots[s].length; k++) {
      const data = (await slots[s][k].read()) as Float32Array;
      tensors.set(`${OPTIMIZER_PREFIX}${s}.${k}`, { dtype: 'F32', shape: [data.length], data });
    }
  }
  if (c.scaler) tensors.set(LOSS_SCALER_TENSOR, { dtype: 'F32', shape: [c.scaler.state.size], data: (await c.scaler.state.read()) as Float32Array });
  const size = { width: c.samples[0].width, height: c.samples[0].height };
  const meta = {
    format: CHECKPOINT_FORMAT,
    ...weightsMetadata(c.model.config, size, c.settings.precision),
    next_epoch: String(history.length),
    optimizer: c.settings.optimizer,
    optimizer_steps: String(c.optimizer.stepCount),
    seed: String(c.settings.seed),
    settings: JSON.stringify(recorded(c.model, c.samples, c.settings)),
    history: JSON.stringify(history),
  };
  return serializeSafetensors(tensors, meta);
}

/** Refuses a checkpoint made with other settings than these, naming every one that differs with both values. */
function checkSettings(metadata: Record<string, string>, now: Record<string, string>): void {
  // Checkpoints written before the settings were recorded carry the model, the optimizer and the seed only.
  const saved: Record<string, string> = metadata.settings ? (JSON.parse(metadata.settings) as Record<string, string>) : { model: metadata.config, optimizer: metadata.optimizer, seed: metadata.seed };
  const differ = Object.keys(saved).filter((k) => saved[k] !== now[k]);
  if (differ.length === 0) return;
  const lines = differ.map((k) => `  ${k}: the checkpoint has ${saved[k]}, this run ${now[k]}`);
  throw new Error(`resume: the checkpoint was made with other settings, which would change the result:\n${lines.join('\n')}\nPass the checkpoint's settings to resume, or train into another folder.`);
}

/** Loads a training checkpoint into model and optimizer; returns the epochs it finished (the log so far). */
export function restoreCheckpoint(bytes: Uint8Array, c: CheckpointState): EpochSummary[] {
  const { tensors, metadata } = parseSafetensors(bytes);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error('resume: the checkpoint is not a chh-webgpu training checkpoint (use --weights to start from plain weights)');
  }
  checkSettings(metadata, recorded(c.model, c.samples, c.settings));
  const weights = new Map<string, SafeTensor>();
  const optimizerState = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) (name.startsWith(OPTIMIZER_PREFIX) ? optimizerState : weights).set(name, t);
  loadStateDict(c.model, c.state, weights, { format: 'smp' });
  c.optimizer.stateTensors().forEach((slot, s) =>
    slot.forEach((t, k) => {
      const saved = optimizerState.get(`${OPTIMIZER_PREFIX}${s}.${k}`);
      if (!saved || saved.data.length !== t.size) throw new Error(`resume: optimizer state ${s}.${k} is missing or has the wrong size`);
      c.state.engine.write(t, Float32Array.from(saved.data as ArrayLike<number>));
    }),
  );
  const scalerState = optimizerState.get(LOSS_SCALER_TENSOR);
  // A checkpoint from before loss scaling (f16 storage alone): the scale starts again, Adam's step count goes on.
  if (c.scaler && scalerState) c.scaler.load(Float32Array.from(scalerState.data as ArrayLike<number>));
  else if (c.scaler) c.scaler.restart(Number(metadata.optimizer_steps));
  c.optimizer.stepCount = Number(metadata.optimizer_steps);
  const next = Number(metadata.next_epoch);
  const history = metadata.history ? (JSON.parse(metadata.history) as EpochSummary[]) : [];
  // Older checkpoints have no history: the epochs before are known only by number.
  return history.length === next ? history : Array.from({ length: next }, (_, i) => history[i] ?? { epoch: i + 1, meanLoss: NaN, lr: NaN, seconds: NaN });
}
