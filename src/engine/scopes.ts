// Memory scopes: every tensor made inside engine.scope(fn) is disposed when fn returns, except those it returns
// (directly, or in an array or plain object) and those taken out with keep(). Scopes nest: a tensor kept by an inner
// scope belongs to the outer one. untracked() suspends tracking (parameters, optimizer state, caches).
import { Tensor } from './tensor.ts';

type Frame = Set<Tensor>;

export class Scopes {
  private readonly frames: Frame[] = [];

  /** Runs fn in a new frame; disposes what it made and did not return. */
  run<T>(fn: () => T): T {
    const frame: Frame = new Set();
    this.frames.push(frame);
    let result: T;
    try {
      result = fn();
    } finally {
      this.frames.pop();
    }
    if (result instanceof Promise) throw new Error('scope(): fn must be synchronous (await outside the scope)');
    const kept = new Set<Tensor>();
    collectTensors(result, kept);
    for (const t of kept) if (t.base) kept.add(t.base);
    const parent = this.frames[this.frames.length - 1];
    for (const t of frame) {
      if (kept.has(t)) parent?.add(t);
      else t.dispose();
    }
    return result;
  }

  /** Adds a new tensor to the innermost frame (none: the caller owns it). */
  track(t: Tensor): void {
    this.frames[this.frames.length - 1]?.add(t);
  }

  /** Removes a tensor (and the tensor it views) from every frame, so it outlives them. */
  keep<T extends Tensor>(t: T): T {
    for (const frame of this.frames) frame.delete(t);
    if (t.base) for (const frame of this.frames) frame.delete(t.base);
    return t;
  }

  /** Runs fn with no frame: tensors made inside belong to the caller. */
  untracked<T>(fn: () => T): T {
    const saved = this.frames.splice(0, this.frames.length);
    try {
      return fn();
    } finally {
      this.frames.push(...saved);
    }
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 4 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    out.add(value);
    if (value.grad) out.add(value.grad);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, depth + 1);
  }
}
