// Parameters of a model live in one flat buffer and their gradients in a second one, each parameter a view.
// The optimizer then updates every parameter in one dispatch, and zeroing gradients is one fill.
import type { Engine } from '../engine/engine.ts';
import type { Shape, Tensor } from '../engine/tensor.ts';
import { zeroGrad } from '../ops/backward.ts';

export interface ParameterSpec {
  name: string;
  shape: Shape;
}

export class ParameterStore {
  readonly byName = new Map<string, Tensor>();

  private constructor(
    readonly engine: Engine,
    /** All parameters, in one buffer (with alignment padding between them, always zero). */
    readonly flat: Tensor,
    /** All gradients, laid out exactly like `flat`. */
    readonly gradFlat: Tensor,
    readonly params: readonly Tensor[],
    readonly specs: readonly ParameterSpec[],
  ) {
    specs.forEach((s, i) => this.byName.set(s.name, params[i]));
  }

  static create(engine: Engine, specs: readonly ParameterSpec[]): ParameterStore {
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name)) throw new Error(`ParameterStore: parameter name "${s.name}" appears twice`);
      names.add(s.name);
    }
    const shapes = specs.map((s) => s.shape);
    const values = engine.flatTensors(shapes, 'parameters');
    const grads = engine.flatTensors(shapes, 'gradients');
    const params = values.views.map((v, i) => {
      const p = values.flat.view(v.byteOffset / 4, v.shape, specs[i].name);
      p.requiresGrad = true;
      p.grad = grads.flat.view(v.byteOffset / 4, v.shape, `${specs[i].name}.grad`);
      return p;
    });
    const store = new ParameterStore(engine, values.flat, grads.flat, params, specs);
    // Zeroed through zeroGrad, so the first backward writes its gradients in place as every later one does (the
    // first step's peak is the one that decides whether training fits).
    store.zeroGrad();
    return store;
  }

  get(name: string): Tensor {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter named "${name}"`);
    return p;
  }

  /** Number of parameter values (without padding). */
  get count(): number {
    return this.params.reduce((n, p) => n + p.size, 0);
  }

  /** Sets every gradient to zero: one clear of the flat gradient buffer. */
  zeroGrad(): void {
    zeroGrad(this.params, this.gradFlat);
  }

  dispose(): void {
    this.flat.dispose();
    this.gradFlat.dispose();
  }
}
