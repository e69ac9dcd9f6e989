// Elementwise and reduction ops with their gradients: each records its forward dispatch and, on the tape, the
// closure that computes its backward. Every op checks its inputs before anything is dispatched.
import { record, backward as runBackward } from './autograd.ts';
import { Tensor, shapeString, type Shape } from './tensor.ts';
import type { Engine } from './engine.ts';

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Throws a clear error unless every tensor is live, f32 (or the given dtype), and on the same engine. */
export function checkInputs(op: string, tensors: Readonly<Record<string, Tensor>>, dtype: 'f32' | 'i32' = 'f32'): Engine {
  let engine: Engine | null = null;
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t instanceof Tensor)) throw new Error(`${op}: ${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new Error(`${op}: ${name} ("${t.label}" ${shapeString(t.shape)}) was disposed and cannot be used again`);
    if (t.dtype !== dtype) throw new Error(`${op}: ${name} ("${t.label}") has dtype ${t.dtype}, expected ${dtype}`);
    if (engine && t.engine !== engine) throw new Error(`${op}: ${name} belongs to another engine (device)`);
    engine = t.engine;
  }
  if (!engine) throw new Error(`${op}: no input tensors`);
  return engine;
}

export function checkSameShape(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new Error(`${op}: shape mismatch, "${a.label}" is ${shapeString(a.shape)} but "${b.label}" is ${shapeString(b.shape)}`);
  }
}

function axpy(a: Tensor, b: Tensor, alpha: number, label: string): Tensor {
  const e = a.engine;
  const out = e.empty(a.shape, { label });
  const k = e.kernel({ shader: 'add', entry: 'forward', bindings: ['a', 'b', 'out', 'params'] });
  e.run(k, { a, b, out, params: { n: a.size, alpha } }, e.grid1d(a.size, k));
  return out;
}

/** a + b, elementwise (same shapes). */
export function add(a: Tensor, b: Tensor): Tensor {
  checkInputs('add', { a, b });
  checkSameShape('add', a, b);
  return record('add', [a, b], axpy(a, b, 1, 'add'), (g) => [g, g]);
}

/** a - b, elementwise (same shapes). */
export function sub(a: Tensor, b: Tensor): Tensor {
  checkInputs('sub', { a, b });
  checkSameShape('sub', a, b);
  return record('sub', [a, b], axpy(a, b, -1, 'sub'), (g) => [g, b.requiresGrad ? scaleRaw(g, -1) : null]);
}

/** target += alpha * b, in place, not recorded on the tape (gradient accumulation, optimizer state). */
export function accumulate(target: Tensor, b: Tensor, alpha = 1): void {
  const e = checkInputs('accumulate', { target, b });
  checkSameShape('accumulate', target, b);
  const k = e.kernel({ shader: 'add', entry: 'accumulate', bindings: ['b', 'acc', 'params'] });
  e.run(k, { b, acc: target, params: { n: b.size, alpha } }, e.grid1d(b.size, k));
}

function scaleRaw(x: Tensor, s: number): Tensor {
  const e = x.engine;
  const out = e.empty(x.shape, { label: 'scale' });
  const k = e.kernel({ shader: 'scale', entry: 'forward', bindings: ['x', 'out', 'params'] });
  e.run(k, { x, out, params: { n: x.size, s } }, e.grid1d(x.size, k));
  return out;
}

/** x * s for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  checkInputs('scale', { x });
  if (!Number.isFinite(s)) throw new Error(`scale: the factor must be a finite number, got ${s}`);
  return record('scale', [x], scaleRaw(x, s), (g) => [scaleRaw(g, s)]);
}

function mulRaw(a: Tensor, b: Tensor): Tensor {
  const e = a.engine;
  const out = e.empty(a.shape, { label: 'mul' });
  const k = e.kernel({ shader: 'mul', entry: 'forward', bindings: ['a', 'b', 'out', 'params'] });
  e.run(k, { a, b, out, params: { n: a.size } }, e.grid1d(a.size, k));
  return out;
}

/** a * b, elementwise (same shapes). */
export function mul(a: Tensor, b: Tensor): Tensor {
  checkInputs('mul', { a, b });
  checkSameShape('mul', a, b);
  return record('mul', [a, b], mulRaw(a, b), (g) => [a.requiresGrad ? mulRaw(g, b) : null, b.requiresGrad ? mulRaw(g, a) : null]);
}

/** max(x, 0). */
export function relu(x: Tensor): Tensor {
  const e = checkInputs('relu', { x });
  const y = e.empty(x.shape, { label: 'relu' });
  const fwd = e.kernel({ shader: 'relu', entry: 'forward', bindings: ['x', 'y', 'params'] });
  e.run(fwd, { x, y, params: { n: x.size } }, e.grid1d(x.size, fwd));
  return record('relu', [x], y, (dy) => {
    const dx = e.empty(x.shape, { label: 'relu.dx' });
    const bwd = e.kernel({ shader: 'relu', entry: 'backward', bindings: ['x', 'dy', 'dx', 'params'] });
    e.run(bwd, { x, dy, dx, params: { n: x.size } }, e.grid1d(x.size, bwd));
    return [dx];
  });
}

function reduceAll(x: Tensor, scaleBy: number, label: string): Tensor {
  const e = x.engine;
  const k = e.kernel({ shader: 'sum', entry: 'partial', bindings: ['x', 'out', 'params'] });
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
  const e = g.engine;
  const out = e.empty(shape, { label });
  const k = e.kernel({ shader: 'sum', entry: 'broadcast', bindings: ['x', 'out', 'params'] });
  e.run(k, { x: g, out, params: { n: out.size, scale: s } }, e.grid1d(out.size, k));
  return out;
}

/** Sum of all elements, as a [1] tensor. */
export function sum(x: Tensor): Tensor {
  checkInputs('sum', { x });
  return record('sum', [x], reduceAll(x, 1, 'sum'), (g) => [broadcastScalar(g, x.shape, 1, 'sum.dx')]);
}

/** Mean of all elements, as a [1] tensor. */
export function mean(x: Tensor): Tensor {
  checkInputs('mean', { x });
  return record('mean', [x], reduceAll(x, 1 / x.size, 'mean'), (g) => [broadcastScalar(g, x.shape, 1 / x.size, 'mean.dx')]);
}

/**
 * Backpropagates from a one-element loss: every parameter that took part gets its gradient added to `.grad`
 * (allocated, zeroed, on first use; parameters made with Module/flat storage already have one).
 */
export function backward(loss: Tensor): void {
  checkInputs('backward', { loss });
  runBackward(loss, {
    ones: (like) => like.engine.full([1], 1, { label: 'dloss' }),
    add,
    accumulate: (leaf, g) => {
      const e = leaf.engine;
      if (!leaf.grad || leaf.gradIsZero) {
        // The first gradient since zeroGrad (or ever): a buffer copy, not an add into zeros (on a CPU driver the add
        // is a gather, a gather and a scatter per element: ~0.2 s per step for the model's 24.4 M parameters).
        leaf.grad ??= e.untracked(() => e.empty(leaf.shape, { label: `${leaf.label}.grad` }));
        e.copy(g, leaf.grad);
        leaf.gradIsZero = false;
        return;
      }
      accumulate(leaf.grad, g);
    },
  });
}
