// Input checks every op runs before it dispatches anything, so a bad call fails with an error naming the op and
// the tensor instead of a WebGPU validation error later.
import { Engine } from '../engine/engine.ts';
import { Tensor, shapeString, type Shape } from '../engine/tensor.ts';

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws a clear error unless every tensor is live, f32 (or the given dtype), and on the same engine; returns it. */
export function checkInputs(op: string, tensors: Readonly<Record<string, Tensor>>, dtype: 'f32' | 'i32' = 'f32'): Engine {
  let engine: Engine | null = null;
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t instanceof Tensor)) throw new Error(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new Error(`${op}: ${name} ("${t.label}" ${shapeString(t.shape)}) was disposed and cannot be used again`);
    if (t.dtype !== dtype) throw new Error(`${op}: ${name} ("${t.label}") has dtype ${t.dtype}, expected ${dtype}`);
    if (engine && t.engine !== engine) throw new Error(`${op}: ${name} belongs to another engine (device)`);
    engine = Engine.of(t);
  }
  if (!engine) throw new Error(`${op}: no input tensors`);
  return engine;
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: shape mismatch, "${a.label}" is ${shapeString(a.shape)} but "${b.label}" is ${shapeString(b.shape)}`);
  }
}
