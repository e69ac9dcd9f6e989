// fill: every element of a tensor (or view) set to one value; full: a new tensor of that value. Zero is the
// engine's clearBuffer (a memset on a CPU driver, far cheaper there than the kernel's scatters: docs/decisions.md);
// anything else the kernel in fill.wgsl, which writes the value's 32 bits (f32 or i32 alike).
import type { Engine, TensorOptions } from '../engine/engine.ts';
import type { Shape, Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';
import { checkInputs } from './check.ts';

/** Records setting every element of `t` to `value`. */
export function fill(t: Tensor, value: number): void {
  const e = checkInputs('fill', { t }, t.dtype);
  const bits = new Uint32Array(t.dtype === 'f32' ? new Float32Array([value]).buffer : new Int32Array([value]).buffer)[0];
  if (bits === 0) {
    e.clear(t);
    return;
  }
  const k = e.kernel({ shader: SHADERS.fill, entry: 'fill', bindings: ['out', 'params'] });
  e.run(k, { out: t, params: { n: t.size, bits } }, e.grid1d(t.size, k));
}

/** A new tensor of `shape` with every element `value`. */
export function full(engine: Engine, shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  const t = engine.empty(shape, { label: 'full', ...options });
  fill(t, value);
  return t;
}
