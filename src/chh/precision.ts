// What `precision` means for a run, set on its engine in one place: f32 leaves everything in f32; f16 stores the
// activations a step keeps for backward as f16 (src/ops/saved.ts) and lets every conv GEMM take f16 operands, so
// that the autotuner may choose subgroup-matrix tiles (tensor cores) for them where the adapter has them. Where the
// gradients' GEMMs may round to f16, training scales the loss (src/nn/loss-scale.ts).
import type { Engine } from '../engine/engine.ts';
import { conv2dTuning, type ConvOp } from '../ops/conv2d/tuning.ts';
import { memoryPolicy, type ActivationStorage } from '../ops/saved.ts';

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

/** Whether the gradients of a training step on this engine may pass through f16, so that it needs loss scaling. */
export function gradientsMayRoundToF16(engine: Engine): boolean {
  const ops = conv2dTuning(engine).f16Ops;
  return ops.has('dgrad') || ops.has('wgrad');
}
