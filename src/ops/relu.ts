// relu: max(x, 0); its backward passes dy where the output is > 0, which is exactly where x > 0 (and under f16
// storage where f16(x) > 0, rounding being monotonic and exact at 0: the same mask either way). It saves its output,
// not its input (src/ops/saved.ts): the next op usually saves that same tensor (one copy for both), and x can go at
// once. Kernels: relu.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import type { Engine } from '../engine/engine.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';
import { save } from './saved.ts';

function reluRaw(e: Engine, x: Tensor): Tensor {
  const y = e.empty(x.shape, { label: 'relu' });
  const fwd = e.kernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'y', 'params'] });
  e.run(fwd, { x, y, params: { n: x.size } }, e.grid1d(x.size, fwd));
  return y;
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  const e = checkInputs('relu', { x });
  const y = reluRaw(e, x);
  if (!e.tape.willRecord([x])) return y;
  // Saved as the recorded output it is (a tensor needing a gradient: what the f16 policy packs).
  y.requiresGrad = true;
  const savedY = save(y);
  return e.tape.record(
    'relu',
    [x],
    y,
    (dy) =>
      savedY.use((yv) => {
        const dx = e.empty(x.shape, { label: 'relu.dx' });
        const bwd = e.kernel({ shader: SHADERS.relu, entry: 'backward', bindings: ['y', 'dy', 'dx', 'params'] });
        e.run(bwd, { y: yv, dy, dx, params: { n: x.size } }, e.grid1d(x.size, bwd));
        return [dx];
      }),
    [savedY],
  );
}
