// What `precision` means for a run, set on its engine in one place: f32 leaves everything in f32; f16 stores the
// activations a step keeps for backward as f16 (src/ops/saved.ts) and lets every conv GEMM take f16 operands, so
// that the autotuner may choose subgroup-matrix tiles (tensor cores) for them where the adapter has them. Where the
// gradients' GEMMs may round to f16, training scales the loss (src/nn/loss-scale.ts).
import type { Engine } from '../engine/engine.ts';
import { conv2dTuning, type ConvOp } from '../ops/conv2d/tuning.ts';
import { memoryPolicy, type ActivationStorage } from '../ops/saved.ts';
import { f16RangeFlag } from '../ops/f16-range.ts';
import { nativeMatrixSides } from '../ops/conv2d/matrix-tile.ts';
import type { ConvDevice } from '../ops/conv2d/tuning.ts';
import { LossScaler } from '../nn/loss-scale.ts';

const ALL_GEMMS: ReadonlySet<ConvOp> = new Set<ConvOp>(['forward', 'dgrad', 'wgrad']);

/** Sets the engine up for a precision; returns what puts back the settings it had. */
export function usePrecision(engine: Engine, precision: ActivationStorage): () => void {
  const policy = memoryPolicy(engine);
  const tuning = conv2dTuning(engine);
  const before = { storage: policy.storage, f16Ops: tuning.f16Ops };
  policy.storage = precision;
  if (precision === 'f16') tuning.f16Ops = ALL_GEMMS;
  return () => {
    policy.storage = before.storage;
    tuning.f16Ops = before.f16Ops;
  };
}

/** Runs fn with the engine set up for a precision (as it is where precision is undefined), put back after. */
export function inPrecision<T>(engine: Engine, precision: ActivationStorage | undefined, fn: () => T): T {
  if (!precision) return fn();
  const restore = usePrecision(engine, precision);
  try {
    return fn();
  } finally {
    restore();
  }
}

/**
 * After inference at f16: a warning if a subgroup-matrix tile rounded a value beyond f16's range since the flag was
 * last cleared (that value, and what was computed from it, is lost; training skips such steps, inference cannot),
 * else null. Clears the flag.
 */
export async function f16OverflowWarning(engine: Engine): Promise<string | null> {
  const flag = f16RangeFlag(engine);
  const set = (await flag.read())[0] !== 0;
  engine.clear(flag);
  return set ? 'warning: a value beyond f16\'s range (65504) was rounded in the forward pass, so some results are wrong: run again with --precision f32' : null;
}

/**
 * Whether this adapter offers the autotuner tensor cores for f16 GEMMs, as one line (a hint appended to why not),
 * and without them whether it offers half tiles (shader-f16).
 */
export function tensorCoreNote(device: ConvDevice, hint = ''): string {
  const { sides, problem } = nativeMatrixSides(device);
  if (sides.length > 0) return `tensor cores: subgroup matrices of ${sides.map((s) => `${s}x${s}`).join(' and ')} (f16 -> f32), offered to the autotuner for the f16 shapes`;
  const rest = device.features.has('shader-f16') ? 'half tiles (f16 blocks, f32 arithmetic) offered to the autotuner for the f16 shapes' : 'f16 storage and loss scaling only';
  return `tensor cores: none (${problem}${hint ? `; ${hint}` : ''}): ${rest}`;
}

/** Whether the gradients of a training step on this engine may pass through f16, so that it needs loss scaling. */
export function gradientsMayRoundToF16(engine: Engine): boolean {
  const ops = conv2dTuning(engine).f16Ops;
  return ops.has('dgrad') || ops.has('wgrad');
}

/** The loss scaler a training step on this engine needs as it is set up now (null: none, its gradients stay f32). */
export function lossScalerFor(engine: Engine): LossScaler | null {
  return gradientsMayRoundToF16(engine) ? new LossScaler(engine) : null;
}
