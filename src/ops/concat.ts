// concatChannels: torch.cat(tensors, dim=1) for NCHW tensors with equal N, H, W. Each input is copied into its
// channel slice of the output; the backward pass gives each input its channel slice of the gradient.
import { Engine } from '../engine/engine.ts';
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { SHADERS } from '../generated/shaders.ts';

/** Records dst[:, cOff : cOff + C] = src for src [N, C, H, W] and dst [N, cTotal, H, W] (no checks, no tape). */
export function copyIntoChannels(src: Tensor, dst: Tensor, cOff: number): void {
  const e = Engine.of(src);
  const [, c, h, w] = src.shape;
  const k = e.kernel({ shader: SHADERS.concat, entry: 'copy_into', bindings: ['src', 'dst', 'params'] });
  e.run(k, { src, dst, params: { n: src.size, c, hw: h * w, c_off: cOff, c_total: dst.shape[1] } }, e.grid1d(src.size, k));
}

/** A new tensor [N, c, H, W] holding channels [cOff, cOff + c) of src [N, C, H, W] (no checks, no tape). */
export function sliceChannels(src: Tensor, cOff: number, c: number, label: string): Tensor {
  const e = Engine.of(src);
  const [n, cTotal, h, w] = src.shape;
  const dst = e.empty([n, c, h, w], { label });
  const k = e.kernel({ shader: SHADERS.concat, entry: 'copy_slice', bindings: ['src', 'dst', 'params'] });
  e.run(k, { src, dst, params: { n: dst.size, c, hw: h * w, c_off: cOff, c_total: cTotal } }, e.grid1d(dst.size, k));
  return dst;
}

/** [N, C1 + C2 + ..., H, W] from tensors [N, Ci, H, W] (torch.cat along dim 1). */
export function concatChannels(tensors: readonly Tensor[]): Tensor {
  const op = 'concatChannels';
  if (!Array.isArray(tensors)) throw new Error(`${op}: expected an array of tensors, got ${typeof tensors}`);
  if (tensors.length === 0) throw new Error(`${op}: the list of tensors is empty (need at least one [N, C, H, W] tensor)`);
  const engine = checkInputs(op, Object.fromEntries(tensors.map((t, i) => [`tensors[${i}]`, t])));
  const shapes = tensors.map((t) => shapeString(t.shape)).join(', ');
  tensors.forEach((t, i) => {
    if (t.shape.length !== 4) throw new Error(`${op}: tensors[${i}] must be 4-D [N, C, H, W], got ${shapeString(t.shape)} (shapes: ${shapes})`);
  });
  const [n, , h, w] = tensors[0].shape;
  tensors.forEach((t, i) => {
    if (t.shape[0] !== n || t.shape[2] !== h || t.shape[3] !== w) {
      throw new Error(`${op}: tensors[${i}] ${shapeString(t.shape)} does not match tensors[0] ${shapeString(tensors[0].shape)} in N, H or W (shapes: ${shapes})`);
    }
  });
  const offsets: number[] = [];
  let cTotal = 0;
  for (const t of tensors) {
    offsets.push(cTotal);
    cTotal += t.shape[1];
  }
  const out = engine.empty([n, cTotal, h, w], { label: op });
  tensors.forEach((t, i) => copyIntoChannels(t, out, offsets[i]));
  return engine.tape.record(op, [...tensors], out, (g) =>
    tensors.map((t, i) => (t.requiresGrad ? sliceChannels(g, offsets[i], t.shape[1], `${op}.d${i}`) : null)),
  );
}
