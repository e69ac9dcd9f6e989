// The f16 range flag: one u32 per engine that every conv kernel rounding its operands to f16 (conv2d_tiled.wgsl.in,
// the `rounds` variants: subgroup-matrix and half tiles) sets to 1 when it rounds a value outside f16's finite range (|v| > 65504, or NaN) to an operand. Such a
// value is lost, so a training step that set it must not reach the weights: the loss scaler (src/nn/loss-scale.ts)
// clears the flag before a step and skips the optimizer's update when it is set, all on the GPU.
import type { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';

const flags = new WeakMap<Engine, Tensor>();

/** This engine's flag ([1], i32 storage read as u32), made zero the first time it is asked for. */
export function f16RangeFlag(e: Engine): Tensor {
  let flag = flags.get(e);
  if (!flag || flag.isDisposed) {
    flag = e.untracked(() => e.zeros([1], { dtype: 'i32', label: 'f16_overflow' }));
    flags.set(e, flag);
  }
  return flag;
}
