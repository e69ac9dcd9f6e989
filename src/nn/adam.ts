// Adam with PyTorch's semantics (torch.optim.Adam, no amsgrad), one fused dispatch per slot that reads each
// parameter once; with a loss scaler, the scaled update (adam.wgsl's step_scaled). Kernel: adam.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { Optimizer } from './optimizer.ts';
import type { ParameterStore } from './parameters.ts';
import type { LossScaler } from './loss-scale.ts';

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
  /** With a loss scaler: what this step's update needs of it, computed on the GPU (adam.wgsl's scaled_step_factors). */
  private stepFactors: Tensor | null = null;

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

  protected update(param: Tensor, grad: Tensor, [expAvg, expAvgSq]: Tensor[], scaler: LossScaler | null): void {
    const e = this.engine;
    const t = this.stepCount;
    const params = {
      n: param.size,
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weight_decay: this.weightDecay,
      // With a scaler the kernel computes these from the scaler's count of steps taken.
      bias_correction1: 1 - this.beta1 ** t,
      bias_correction2_sqrt: Math.sqrt(1 - this.beta2 ** t),
    };
    const bindings = { param, grad, exp_avg: expAvg, exp_avg_sq: expAvgSq, params };
    if (!scaler) {
      const k = e.kernel({ shader: SHADERS.adam, entry: 'step', bindings: Object.keys(bindings) });
      e.run(k, bindings, e.grid1d(param.size, k));
      return;
    }
    this.stepFactors ??= e.untracked(() => e.empty([4], { label: 'adam.step_factors' }));
    const fromScaler = { scaler_step: scaler.step, step_factors: this.stepFactors, params };
    const f = e.kernel({ shader: SHADERS.adam, entry: 'scaled_step_factors', bindings: Object.keys(fromScaler) });
    e.run(f, fromScaler, [1, 1, 1]);
    const all = { ...bindings, step_factors: this.stepFactors };
    const k = e.kernel({ shader: SHADERS.adam, entry: 'step_scaled', bindings: Object.keys(all) });
    e.run(k, all, e.grid1d(param.size, k));
  }

  override dispose(): void {
    super.dispose();
    this.stepFactors?.dispose();
    this.stepFactors = null;
  }
}
