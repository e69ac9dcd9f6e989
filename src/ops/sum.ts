// sum, mean: every element of a tensor reduced to a [1] tensor (two passes: per-workgroup partial sums, then their
// sum, both in a fixed order, so the result is deterministic); backward broadcasts the scalar. Kernels: sum.wgsl.
import { Engine } from '../engine/engine.ts';
import type { Shape, Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';

function reduceAll(x: Tensor, scaleBy: number, label: string): Tensor {
  const e = Engine.of(x);
  const k = e.kernel({ shader: SHADERS.sum, entry: 'partial', bindings: ['x', 'out', 'params'] });
  const groups = Math.min(256, Math.ceil(x.size / 256));
  if (groups === 1) {
    const out = e.empty([1], { label });
    e.run(k, { x, out, params: { n: x.size, scale: scaleBy } }, [1, 1, 1]);
    return out;
  }
  const partials = e.empty([groups], { label: `${label}.partials` });
  e.run(k, { x, out: partials, params: { n: x.size, scale: scaleBy } }, [groups, 1, 1]);
  const out = e.empty([1], { label });
  e.run(k, { x: partials, out, params: { n: groups, scale: 1 } }, [1, 1, 1]);
  partials.dispose();
  return out;
}

function broadcastScalar(g: Tensor, shape: Shape, s: number, label: string): Tensor {
  const e = Engine.of(g);
  const out = e.empty(shape, { label });
  const k = e.kernel({ shader: SHADERS.sum, entry: 'broadcast', bindings: ['x', 'out', 'params'] });
  e.run(k, { x: g, out, params: { n: out.size, scale: s } }, e.grid1d(out.size, k));
  return out;
}

/** Sum of all elements, as a [1] tensor. */
export function sum(x: Tensor): Tensor {
  const e = checkInputs('sum', { x });
  return e.tape.record('sum', [x], reduceAll(x, 1, 'sum'), (g) => [broadcastScalar(g, x.shape, 1, 'sum.dx')]);
}

/** Mean of all elements, as a [1] tensor. */
export function mean(x: Tensor): Tensor {
  const e = checkInputs('mean', { x });
  return e.tape.record('mean', [x], reduceAll(x, 1 / x.size, 'mean'), (g) => [broadcastScalar(g, x.shape, 1 / x.size, 'mean.dx')]);
}
