// add, sub: out = a + alpha * b (same shapes); accumulate: target += alpha * b in place, not recorded (gradient
// accumulation, optimizer state). Kernels: add.wgsl.
import { Engine } from '../engine/engine.ts';
import type { Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs, checkSameShape } from './check.ts';
import { scaleRaw } from './scale.ts';

function axpy(a: Tensor, b: Tensor, alpha: number, label: string): Tensor {
  const e = Engine.of(a);
  const out = e.empty(a.shape, { label });
  const k = e.kernel({ shader: SHADERS.add, entry: 'forward', bindings: ['a', 'b', 'out', 'params'] });
  e.run(k, { a, b, out, params: { n: a.size, alpha } }, e.grid1d(a.size, k));
  return out;
}

/** a + b, elementwise (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  const e = checkInputs('add', { a, b });
  checkSameShape('add', a, b);
  return e.tape.record('add', [a, b], axpy(a, b, 1, 'add'), (g) => [g, g]);
}

/** a - b, elementwise (same shapes). */
export function sub(a: Tensor, b: Tensor): Tensor {
  const e = checkInputs('sub', { a, b });
  checkSameShape('sub', a, b);
  return e.tape.record('sub', [a, b], axpy(a, b, -1, 'sub'), (g) => [g, b.requiresGrad ? scaleRaw(g, -1) : null]);
}

/** target += alpha * b, in place, not recorded on the tape. */
export function accumulate(target: Tensor, b: Tensor, alpha = 1): void {
  const e = checkInputs('accumulate', { target, b });
  checkSameShape('accumulate', target, b);
  const k = e.kernel({ shader: SHADERS.add, entry: 'accumulate', bindings: ['b', 'acc', 'params'] });
  e.run(k, { b, acc: target, params: { n: b.size, alpha } }, e.grid1d(b.size, k));
}
