// relu: max(x, 0); its backward passes dy where x > 0 (x saved, or recomputed where its op declared how:
// src/ops/saved.ts). Under the recompute policy relu's own output is never kept either: a consumer that saves it
// gets it computed again from the saved x. Kernels: relu.wgsl.
import type { Tensor } from '../engine/tensor.ts';
import type { Engine } from '../engine/engine.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';
import { recomputable, save } from './saved.ts';

function reluRaw(e: Engine, x: Tensor): Tensor {
  const y = e.empty(x.shape, { label: 'relu' });
  const fwd = e.kernel({ shader: SHADERS.relu, entry: 'forward', bindings: ['x', 'y', 'params'] });
  e.run(fwd, { x, y, params: { n: x.size } }, e.grid1d(x.size, fwd));
  return y;
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  const e = checkInputs('relu', { x });
  const savedX = e.tape.willRecord([x]) ? save(x) : null;
  const y = reluRaw(e, x);
  if (!savedX) return y;
  recomputable(y, [savedX], ([xv]) => reluRaw(e, xv));
  return e.tape.record(
    'relu',
    [x],
    y,
    (dy) =>
      savedX.use((xv) => {
        const dx = e.empty(x.shape, { label: 'relu.dx' });
        const bwd = e.kernel({ shader: SHADERS.relu, entry: 'backward', bindings: ['x', 'dy', 'dx', 'params'] });
        e.run(bwd, { x: xv, dy, dx, params: { n: x.size } }, e.grid1d(x.size, bwd));
        return [dx];
      }),
    [savedX],
  );
}
