// A tape of ops (micrograd, on the GPU). Each differentiable op appends a node: its name, its inputs, its output,
// and a closure that maps the gradient of the output to gradients of the inputs. backward() walks the tape in
// reverse, accumulating gradients; parameters (leaves) receive theirs in `.grad`.
import type { Tensor } from './tensor.ts';
import { shapeString } from './tensor.ts';

export interface TapeNode {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  /** Gradients of the inputs (null where an input needs none), given the gradient of the output. */
  backward: (gradOutput: Tensor) => readonly (Tensor | null)[];
}

/**
 * Records an op on its engine's tape if gradients are enabled and some input requires them, and marks the
 * output accordingly. Ops call this after recording their forward dispatch.
 */
export function record(op: string, inputs: readonly Tensor[], output: Tensor, backward: TapeNode['backward']): Tensor {
  const engine = output.engine;
  if (engine.gradEnabled && inputs.some((t) => t.requiresGrad)) {
    output.requiresGrad = true;
    engine.tape.push({ op, inputs, output, backward });
  }
  return output;
}

/** Adds g into leaf.grad (allocating it the first time), as PyTorch accumulates across backward calls. */
export type Accumulate = (leaf: Tensor, g: Tensor) => void;

export interface BackwardOps {
  accumulate: Accumulate;
  /** A one-element tensor holding 1, the gradient of the loss with respect to itself. */
  ones: (like: Tensor) => Tensor;
  add: (a: Tensor, b: Tensor) => Tensor;
}

/**
 * Backpropagates from a one-element loss. A closure returns fresh gradient tensors, or the output gradient itself
 * (e.g. add); reference counts decide when a gradient can be freed, which is as soon as all its consumers on the
 * tape have run. Leaf gradients accumulate into `.grad`. The tape is consumed.
 */
export function backward(loss: Tensor, ops: BackwardOps): void {
  const engine = loss.engine;
  if (loss.size !== 1) throw new Error(`backward: the loss must have one element, got "${loss.label}" ${shapeString(loss.shape)}`);
  const tape = engine.tape;
  let end = tape.length;
  while (end > 0 && tape[end - 1].output !== loss) end--;
  if (!loss.requiresGrad || end === 0) {
    throw new Error(
      `backward: "${loss.label}" has no recorded graph: no parameter took part in computing it, gradients were disabled ` +
        `(noGrad), backward already ran, or the scope that computed it has ended (call backward inside that scope)`,
    );
  }
  const produced = new Set(tape.slice(0, end).map((n) => n.output));
  const grads = new Map<Tensor, Tensor>();
  const refs = new Map<Tensor, number>();
  const hold = (t: Tensor): void => void refs.set(t, (refs.get(t) ?? 0) + 1);
  const drop = (t: Tensor): void => {
    const n = (refs.get(t) ?? 1) - 1;
    if (n > 0) refs.set(t, n);
    else {
      refs.delete(t);
      t.dispose();
    }
  };
  engine.noGrad(() =>
    engine.scope(() => {
      const seed = ops.ones(loss);
      hold(seed);
      grads.set(loss, seed);
      for (let i = end - 1; i >= 0; i--) {
        const node = tape[i];
        const g = grads.get(node.output);
        if (!g) continue;
        grads.delete(node.output);
        const inputGrads = node.backward(g);
        if (inputGrads.length !== node.inputs.length) {
          throw new Error(`backward of ${node.op}: returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`);
        }
        node.inputs.forEach((input, j) => {
          const gi = inputGrads[j];
          if (!gi || !input.requiresGrad) return;
          if (gi.shape.join() !== input.shape.join()) {
            throw new Error(`backward of ${node.op}: gradient ${shapeString(gi.shape)} does not match input "${input.label}" ${shapeString(input.shape)}`);
          }
          hold(gi);
          if (!produced.has(input)) {
            ops.accumulate(input, gi);
            drop(gi);
            return;
          }
          const prev = grads.get(input);
          if (prev) {
            const sum = ops.add(prev, gi);
            hold(sum);
            drop(prev);
            drop(gi);
            grads.set(input, sum);
          } else {
            grads.set(input, gi);
          }
        });
        drop(g);
      }
    }),
  );
  tape.length = 0;
}
