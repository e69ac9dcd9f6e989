// scale: out = x * s for a constant s. Kernel: scale.wgsl.
import { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';

/** x * s without checks or tape (gradients of other ops). */
export function scaleRaw(x: Tensor, s: number): Tensor {
  const e = Engine.of(x);
  const out = e.empty(x.shape, { label: 'scale' });
  const k = e.kernel({ shader: SHADERS.scale, entry: 'forward', bindings: ['x', 'out', 'params'] });
  e.run(k, { x, out, params: { n: x.size, s } }, e.grid1d(x.size, k));
  return out;
}

/** x * s for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  const e = checkInputs('scale', { x });
  if (!Number.isFinite(s)) throw new Error(`scale: the factor must be a finite number, got ${s}`);
  return e.tape.record('scale', [x], scaleRaw(x, s), (g) => [scaleRaw(g, s)]);
}
