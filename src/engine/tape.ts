// The autograd tape (micrograd, on the GPU): each differentiable op, after recording its forward dispatch, appends
// a node with its inputs, its output, the activations its backward reads (saved: src/ops/saved.ts decides how they
// are kept) and a closure mapping the output's gradient to its inputs' gradients. Nothing more: walking the nodes
// backwards and adding gradients up is src/ops/backward.ts.
//
// The tape is consumed: take() hands the nodes to one backward pass and removes them, so every closure runs at most
// once. Closures rely on that: they may free what they made for backward (argmax indices, statistics) or hand a
// buffer over as the gradient itself. A node's saved activations are freed once: by whoever ran (or skipped) its
// closure, through freeSaved(), or by truncate() when its scope ends without a backward.
import type { Tensor } from './tensor.ts';

/** An activation kept for a backward closure; free() lets it go (called exactly once). */
export interface SavedActivation {
  free(): void;
}

/**
 * The buffer to write an input's gradient into directly, or null: a parameter's `.grad` that holds zeroGrad()'s
 * zeros, which backward would otherwise fill with a copy of a gradient made for it (a weight-sized transient at the
 * step's peak). Asking claims the buffer: the closure must then write all of it and return it.
 */
export type GradientInto = (input: Tensor) => Tensor | null;

/** What backward lends a closure besides the output's gradient, so that it can skip buffers of its own. */
export interface BackwardContext {
  /** For an input, the buffer its gradient would only be copied to; a closure that writes it there returns it. */
  into: GradientInto;
  /**
   * Nothing else reads gradOutput (and its buffer is its own): the closure may write an input's gradient over it,
   * after its last read of it, and return gradOutput as that gradient.
   */
  gradOutputIsFree: boolean;
}

export interface TapeNode {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  /** Gradients of the inputs (null where an input needs none), given the gradient of the output. Runs at most once. */
  backward: (gradOutput: Tensor, ctx: BackwardContext) => readonly (Tensor | null)[];
  /** What the closure reads of the forward pass, beyond the parameters; freed after it ran or when it never will. */
  saved: readonly SavedActivation[];
  /** The layer that recorded the node (engine.inLayer), so its backward's buffers are counted under it. */
  layer: string | null;
}

/** Frees a node's saved activations (after its backward ran, or when it never will). */
export function freeSaved(node: TapeNode): void {
  for (const s of node.saved) s.free();
}

export class Tape {
  private readonly nodes: TapeNode[] = [];
  private disabled = 0;
  /** The layer ops are being recorded for (set by engine.inLayer), or null. */
  layer: string | null = null;

  /** False inside noGrad(): ops then record nothing. */
  get enabled(): boolean {
    return this.disabled === 0;
  }

  /** Nodes recorded and not yet consumed. */
  get length(): number {
    return this.nodes.length;
  }

  /** Runs fn without recording (inference, metrics, optimizer updates). */
  noGrad<T>(fn: () => T): T {
    this.disabled++;
    try {
      return fn();
    } finally {
      this.disabled--;
    }
  }

  /**
   * Appends a node when recording is on and some input requires gradients, and marks the output as requiring them.
   * Returns the output, so an op can end with `return tape.record(...)`.
   */
  /** Whether record() with these inputs will append a node (so an op saves activations for backward only then). */
  willRecord(inputs: readonly Tensor[]): boolean {
    return this.enabled && inputs.some((t) => t.requiresGrad);
  }

  record(op: string, inputs: readonly Tensor[], output: Tensor, backward: TapeNode['backward'], saved: readonly SavedActivation[] = []): Tensor {
    if (this.willRecord(inputs)) {
      output.requiresGrad = true;
      this.nodes.push({ op, inputs, output, backward, saved, layer: this.layer });
    } else {
      for (const s of saved) s.free();
    }
    return output;
  }

  /**
   * Drops the nodes recorded after the tape had `length` nodes, freeing what they saved (a memory scope that ends
   * disposes their tensors).
   */
  truncate(length: number): void {
    for (const node of this.nodes.splice(length)) freeSaved(node);
  }

  /**
   * Removes and returns the nodes up to the last one that produced `output` (every node that can contribute to its
   * gradient), emptying the tape; null when no node produced it.
   */
  take(output: Tensor): TapeNode[] | null {
    let end = this.nodes.length;
    while (end > 0 && this.nodes[end - 1].output !== output) end--;
    if (end === 0) return null;
    const taken = this.nodes.slice(0, end);
    this.nodes.length = 0;
    return taken;
  }

  /** Removes and returns every node recorded since the tape had `length` nodes (for profiling a forward pass). */
  splice(length: number): TapeNode[] {
    return this.nodes.splice(length);
  }
}
