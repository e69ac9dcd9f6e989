// relu: max(x, 0); its backward passes dy where x > 0. Kernels: relu.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  const e = checkInputs('relu', { x });
  const y = e.empty(x.shape, { label: 'relu' });
  const fwd = e.kernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'y', 'params'] });
  e.run(fwd, { x, y, params: { n: x.size } }, e.grid1d(x.size, fwd));
  return e.tape.record('relu', [x], y, (dy) => {
    const dx = e.empty(x.shape, { label: 'relu.dx' });
    const bwd = e.kernel({ shader: SHADERS.relu, entry: 'backward', bindings: ['x', 'dy', 'dx', 'params'] });
    e.run(bwd, { x, dy, dx, params: { n: x.size } }, e.grid1d(x.size, bwd));
    return [dx];
  });
}
