// SGD with PyTorch's semantics (torch.optim.SGD: momentum, weight decay, the first step's momentum buffer), one
// dispatch per slot; with a loss scaler, the scaled updates. Kernels: sgd.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { Optimizer } from './optimizer.ts';
import type { ParameterStore } from './parameters.ts';
import type { LossScaler } from './loss-scale.ts';
import type { Binding } from '../engine/engine.ts';

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

  protected update(param: Tensor, grad: Tensor, [momentumBuf]: Tensor[], scaler: LossScaler | null): void {
    const e = this.engine;
    const params = this.uniforms(param);
    const bindings: Record<string, Binding> = momentumBuf ? { param, grad, momentum_buf: momentumBuf, params } : { param, grad, params };
    if (scaler) bindings.scaler_step = scaler.step;
    const entry = `${momentumBuf ? 'step_momentum' : 'step'}${scaler ? '_scaled' : ''}`;
    const k = e.kernel({ shader: SHADERS.sgd, entry, bindings: Object.keys(bindings) });
    e.run(k, bindings, e.grid1d(param.size, k));
  }

  private uniforms(param: Tensor) {
    return { n: param.size, lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay, first_step: this.stepCount === 1 ? 1 : 0 };
  }
}
