// Optimizers with PyTorch semantics, each update one fused WGSL dispatch per flat parameter buffer
// (a ParameterStore is one buffer; loose tensors get one dispatch each).
import type { Engine } from './engine.ts';
import { ParameterStore } from './parameters.ts';
import type { Tensor } from './tensor.ts';

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

abstract class Optimizer {
  protected readonly slots: Slot[];
  protected readonly engine: Engine;
  /** Number of steps taken (PyTorch's `step` in the state dict). */
  stepCount = 0;

  constructor(
    private readonly source: ParameterStore | readonly Tensor[],
    public lr: number,
  ) {
    this.slots = slotsOf(source);
    this.engine = this.slots[0].param.engine;
    if (!(lr > 0) || !Number.isFinite(lr)) throw new Error(`optimizer: lr must be a positive number, got ${lr}`);
  }

  step(): void {
    this.stepCount++;
    for (const slot of this.slots) {
      const grad = slot.grad();
      if (!grad) continue; // PyTorch skips parameters without a gradient
      if (slot.state.length === 0) slot.state = this.engine.untracked(() => this.newState(slot.param));
      this.update(slot.param, grad, slot.state);
    }
  }

  /** Sets gradients to zero (PyTorch's zero_grad with set_to_none=False). */
  zeroGrad(): void {
    if (this.source instanceof ParameterStore) this.source.zeroGrad();
    else {
      for (const p of this.source) {
        if (!p.grad) continue;
        this.engine.fill(p.grad, 0);
        p.gradIsZero = true;
      }
    }
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
  protected abstract update(param: Tensor, grad: Tensor, state: Tensor[]): void;
}

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(params: ParameterStore | readonly Tensor[], options: SgdOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected newState(param: Tensor): Tensor[] {
    return this.momentum !== 0 ? [this.engine.zeros(param.shape, { label: `${param.label}.momentum` })] : [];
  }

  protected update(param: Tensor, grad: Tensor, [momentumBuf]: Tensor[]): void {
    const e = this.engine;
    const params = this.uniforms(param);
    if (momentumBuf) {
      const k = e.kernel({ shader: 'sgd', entry: 'step_momentum', bindings: ['param', 'grad', 'momentum_buf', 'params'] });
      e.run(k, { param, grad, momentum_buf: momentumBuf, params }, e.grid1d(param.size, k));
    } else {
      const k = e.kernel({ shader: 'sgd', entry: 'step', bindings: ['param', 'grad', 'params'] });
      e.run(k, { param, grad, params }, e.grid1d(param.size, k));
    }
  }

  private uniforms(param: Tensor) {
    return { n: param.size, lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay, first_step: this.stepCount === 1 ? 1 : 0 };
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam extends Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: ParameterStore | readonly Tensor[], options: AdamOptions = {}) {
    super(params, options.lr ?? 1e-3);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const b of [this.beta1, this.beta2]) if (!(b >= 0 && b < 1)) throw new Error(`Adam: betas must be in [0, 1), got ${b}`);
  }

  protected newState(param: Tensor): Tensor[] {
    return [
      this.engine.zeros(param.shape, { label: `${param.label}.exp_avg` }),
      this.engine.zeros(param.shape, { label: `${param.label}.exp_avg_sq` }),
    ];
  }

  protected update(param: Tensor, grad: Tensor, [expAvg, expAvgSq]: Tensor[]): void {
    const e = this.engine;
    const k = e.kernel({ shader: 'adam', entry: 'step', bindings: ['param', 'grad', 'exp_avg', 'exp_avg_sq', 'params'] });
    const t = this.stepCount;
    e.run(
      k,
      {
        param,
        grad,
        exp_avg: expAvg,
        exp_avg_sq: expAvgSq,
        params: {
          n: param.size,
          lr: this.lr,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          weight_decay: this.weightDecay,
          bias_correction1: 1 - this.beta1 ** t,
          bias_correction2_sqrt: Math.sqrt(1 - this.beta2 ** t),
        },
      },
      e.grid1d(param.size, k),
    );
  }
}
