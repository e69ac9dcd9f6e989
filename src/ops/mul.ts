// mul: out = a * b, elementwise (same shapes). Kernel: mul.wgsl.
import { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs, checkSameShape } from './check.ts';

function mulRaw(a: Tensor, b: Tensor): Tensor {
  const e = Engine.of(a);
  const out = e.empty(a.shape, { label: 'mul' });
  const k = e.kernel({ shader: SHADERS.mul, entry: 'forward', bindings: ['a', 'b', 'out', 'params'] });
  e.run(k, { a, b, out, params: { n: a.size } }, e.grid1d(a.size, k));
  return out;
}

/** a * b, elementwise (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  const e = checkInputs('mul', { a, b });
  checkSameShape('mul', a, b);
  return e.tape.record('mul', [a, b], mulRaw(a, b), (g) => [a.requiresGrad ? mulRaw(g, b) : null, b.requiresGrad ? mulRaw(g, a) : null]);
}
