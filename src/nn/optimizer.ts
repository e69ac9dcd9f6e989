// The optimizers' common part, with PyTorch semantics: parameters in slots (a ParameterStore is one slot, one flat
// buffer, so an update is one dispatch; loose tensors are a slot each), state allocated on the first step, and
// zeroGrad. Each optimizer (sgd.ts, adam.ts) is its update kernel beside its .wgsl.
import { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { zeroGrad } from '../ops/backward.ts';
import { ParameterStore } from './parameters.ts';
import type { LossScaler } from './loss-scale.ts';

interface Slot {
  param: Tensor;
  /** Where the gradient is read from at step time (the tensor's .grad, or the store's flat gradient). */
  grad: () => Tensor | null;
  state: Tensor[];
}

function slotsOf(params: ParameterStore | readonly Tensor[]): Slot[] {
  if (params instanceof ParameterStore) return [{ param: params.flat, grad: () => params.gradFlat, state: [] }];
  if (params.length === 0) throw new Error('optimizer: no parameters given');
  return params.map((p) => {
    if (!p.requiresGrad) throw new Error(`optimizer: "${p.label}" does not require gradients`);
    return { param: p, grad: () => p.grad, state: [] };
  });
}

export abstract class Optimizer {
  protected readonly slots: Slot[];
  protected readonly engine: Engine;
  /** Number of steps taken (PyTorch's `step` in the state dict). */
  stepCount = 0;

  constructor(
    private readonly source: ParameterStore | readonly Tensor[],
    public lr: number,
  ) {
    this.slots = slotsOf(source);
    this.engine = Engine.of(this.slots[0].param);
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`optimizer: lr must be a positive number, got ${lr}`);
  }

  /**
   * Updates the parameters from their gradients. With a loss scaler, the gradients are those of the scaled loss:
   * the update divides by the scale, is skipped on the GPU when the step overflowed f16, and the scaler then
   * counts the step and adjusts its scale (stepCount counts the calls; the scaler, the steps taken).
   */
  step(scaler: LossScaler | null = null): void {
    this.stepCount++;
    scaler?.prepare();
    for (const slot of this.slots) {
      const grad = slot.grad();
      if (!grad) continue; // PyTorch skips parameters without a gradient
      if (slot.state.length === 0) slot.state = this.engine.untracked(() => this.newState(slot.param));
      this.update(slot.param, grad, slot.state, scaler);
    }
    scaler?.update();
  }

  /** Sets gradients to zero (PyTorch's zero_grad with set_to_none=False). */
  zeroGrad(): void {
    if (this.source instanceof ParameterStore) this.source.zeroGrad();
    else zeroGrad(this.source);
  }

  /** The optimizer state tensors (for checkpoints), per slot, in a fixed order. */
  stateTensors(): Tensor[][] {
    return this.slots.map((s) => {
      if (s.state.length === 0) s.state = this.engine.untracked(() => this.newState(s.param));
      return s.state;
    });
  }

  dispose(): void {
    for (const s of this.slots) for (const t of s.state) t.dispose();
  }

  protected abstract newState(param: Tensor): Tensor[];
  protected abstract update(param: Tensor, grad: Tensor, state: Tensor[], scaler: LossScaler | null): void;
}
