// SGD with PyTorch's semantics (torch.optim.SGD: momentum, weight decay, the first step's momentum buffer), one
// dispatch per slot. Kernels: sgd.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { Optimizer } from './optimizer.ts';
import type { ParameterStore } from './parameters.ts';

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
      const k = e.kernel({ shader: SHADERS.sgd, entry: 'step_momentum', bindings: ['param', 'grad', 'momentum_buf', 'params'] });
      e.run(k, { param, grad, momentum_buf: momentumBuf, params }, e.grid1d(param.size, k));
    } else {
      const k = e.kernel({ shader: SHADERS.sgd, entry: 'step', bindings: ['param', 'grad', 'params'] });
      e.run(k, { param, grad, params }, e.grid1d(param.size, k));
    }
  }

  private uniforms(param: Tensor) {
    return { n: param.size, lr: this.lr, momentum: this.momentum, weight_decay: this.weightDecay, first_step: this.stepCount === 1 ? 1 : 0 };
  }
}
