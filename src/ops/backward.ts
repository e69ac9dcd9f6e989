// backward: gradients of a one-element loss with respect to everything on the tape that led to it. The tape's
// nodes (src/engine/tape.ts) are walked in reverse; a gradient is freed as soon as every node that consumes it has
// run (reference counts), what a node saved as soon as its closure ran, and gradients of the same tensor from
// several consumers are added. Leaves (tensors no node produced: parameters, inputs that require gradients)
// receive theirs in `.grad`, accumulated across calls as PyTorch does; zeroGrad() resets them. Each closure gets a
// BackwardContext (src/engine/tape.ts): a zeroed `.grad` to write a gradient into instead of making one to copy
// there, and whether the output's gradient has no other reader, so it may be overwritten with an input's.
import { Engine } from '../engine/engine.ts';
import { freeSaved, type BackwardContext, type GradientInto } from '../engine/tape.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import { add, accumulate } from './add.ts';
import { checkInputs, sameShape } from './check.ts';
import { fill, full } from './fill.ts';

/**
 * Leaves whose `.grad` holds the zeros zeroGrad() wrote and nothing since: the next gradient is copied in instead of
 * added to zeros (on a CPU driver the add is two gathers and a scatter per element, ~0.2 s per step for the model's
 * 24.4 M parameters). The zeros stay in place for whoever reads a gradient that no backward touched.
 */
const zeroed = new WeakSet<Tensor>();

/**
 * Sets the gradients of `leaves` to zero (PyTorch's zero_grad with set_to_none=False). `flat`, when given, is one
 * tensor that every leaf's gradient is a view of (a ParameterStore's): cleared in one go instead of per leaf.
 */
export function zeroGrad(leaves: readonly Tensor[], flat?: Tensor): void {
  if (flat) fill(flat, 0);
  for (const leaf of leaves) {
    if (!leaf.grad) continue;
    if (!flat) fill(leaf.grad, 0);
    zeroed.add(leaf);
  }
}

/** Adds g into leaf.grad, allocating it (outside any scope) the first time. */
function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  const e = Engine.of(leaf);
  if (!leaf.grad || zeroed.has(leaf)) {
    leaf.grad ??= e.untracked(() => e.empty(leaf.shape, { label: `${leaf.label}.grad` }));
    e.copy(g, leaf.grad);
    zeroed.delete(leaf);
    return;
  }
  accumulate(leaf.grad, g);
}

/**
 * The GradientInto of one backward: a leaf of its graph whose .grad holds zeroGrad's zeros and nothing since (the
 * first gradient would be copied in) lends that .grad to the op that asks, once.
 */
function gradientInto(produced: ReadonlySet<Tensor>): GradientInto {
  return (t) => {
    if (produced.has(t) || !t.requiresGrad || !t.grad || !zeroed.has(t)) return null;
    zeroed.delete(t);
    return t.grad;
  };
}

/** A [1] copy of a seed, which backward may free like any gradient. */
function copyOf(e: Engine, seed: Tensor): Tensor {
  const copy = e.empty([1], { label: 'dloss' });
  e.copy(seed, copy);
  return copy;
}

/** Counts the consumers of each gradient, so it can be freed after the last one. */
class GradientRefs {
  private readonly refs = new Map<Tensor, number>();

  hold(t: Tensor): void {
    this.refs.set(t, (this.refs.get(t) ?? 0) + 1);
  }

  /** Whether t's one remaining use is the node about to read it. */
  single(t: Tensor): boolean {
    return this.refs.get(t) === 1;
  }

  drop(t: Tensor): void {
    const n = (this.refs.get(t) ?? 1) - 1;
    if (n > 0) this.refs.set(t, n);
    else {
      this.refs.delete(t);
      t.dispose();
    }
  }
}

export interface BackwardOptions {
  /** The loss's own gradient, a one-element f32 tensor (default 1): a loss scaler's scale (src/nn/loss-scale.ts). */
  seed?: Tensor;
}

/**
 * Backpropagates from a one-element loss: every leaf that took part gets its gradient added to `.grad`. Consumes
 * the tape (a second call for the same loss throws); call it inside the scope that ran the forward pass.
 */
export function backward(loss: Tensor, options: BackwardOptions = {}): void {
  const e = checkInputs('backward', options.seed ? { loss, seed: options.seed } : { loss });
  if (loss.size !== 1) throw new Error(`backward: the loss must have one element, got "${loss.label}" ${shapeString(loss.shape)}`);
  if (options.seed && options.seed.size !== 1) throw new Error(`backward: the seed must have one element, got "${options.seed.label}" ${shapeString(options.seed.shape)}`);
  const nodes = loss.requiresGrad ? e.tape.take(loss) : null;
  if (!nodes) {
    throw new Error(
      `backward: "${loss.label}" has no recorded graph: no parameter took part in computing it, gradients were disabled ` +
        `(noGrad), backward already ran, or the scope that computed it has ended (call backward inside that scope)`,
    );
  }
  const produced = new Set(nodes.map((n) => n.output));
  const grads = new Map<Tensor, Tensor>();
  const refs = new GradientRefs();
  const into = gradientInto(produced);
  e.noGrad(() =>
    e.scope(() => {
      const seed = options.seed ? copyOf(e, options.seed) : full(e, [1], 1, { label: 'dloss' });
      refs.hold(seed);
      grads.set(loss, seed);
      for (let i = nodes.length - 1; i >= 0; i--) {
        const node = nodes[i];
        const g = grads.get(node.output);
        if (!g) {
          freeSaved(node);
          continue;
        }
        grads.delete(node.output);
        const ctx: BackwardContext = { into, gradOutputIsFree: refs.single(g) && g.canGiveBuffer };
        const inputGrads = e.inLayer(node.layer, () => node.backward(g, ctx));
        freeSaved(node);
        if (inputGrads.length !== node.inputs.length) {
          throw new Error(`backward of ${node.op}: returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`);
        }
        node.inputs.forEach((input, j) => {
          const gi = inputGrads[j];
          if (!gi || !input.requiresGrad) return;
          if (!sameShape(gi.shape, input.shape)) {
            throw new Error(`backward of ${node.op}: gradient ${shapeString(gi.shape)} does not match input "${input.label}" ${shapeString(input.shape)}`);
          }
          if (gi === input.grad) return; // written in place, through `into`
          refs.hold(gi);
          if (!produced.has(input)) {
            accumulateLeaf(input, gi);
            refs.drop(gi);
            return;
          }
          const prev = grads.get(input);
          if (prev) {
            const total = add(prev, gi);
            refs.hold(total);
            refs.drop(prev);
            refs.drop(gi);
            grads.set(input, total);
          } else {
            grads.set(input, gi);
          }
        });
        refs.drop(g);
      }
    }),
  );
}
