// SGD and Adam against torch.optim over three steps (fixture from scripts/fixtures/optim.py), both for loose
// tensors (one dispatch each) and for a ParameterStore (one dispatch for all parameters).
import { describe, expect, it } from 'vitest';
import { Adam, SGD, ParameterStore, type Tensor } from '../../src/index.ts';
import { useEngine } from '../helpers/gpu.ts';
import { optimFixture } from '../helpers/optim-fixture.ts';
import { expectClose } from '../helpers/reference.ts';

const fx = optimFixture;
const engine = useEngine();

const makers: Record<string, (p: ParameterStore | Tensor[]) => Adam | SGD> = {
  adam: (p) => new Adam(p, { lr: 1e-2 }),
  adam_wd: (p) => new Adam(p, { lr: 1e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }),
  sgd: (p) => new SGD(p, { lr: 0.1 }),
  sgd_momentum_wd: (p) => new SGD(p, { lr: 0.05, momentum: 0.9, weightDecay: 0.01 }),
};

describe('optimizers match torch.optim', () => {
  for (const [name, make] of Object.entries(makers)) {
    it(`${name} on a loose tensor`, async () => {
      const e = engine();
      const p = e.tensor(fx.p0, [fx.p0.length], { requiresGrad: true, label: 'p' });
      p.grad = e.zeros(p.shape, { label: 'p.grad' });
      const opt = make([p]);
      for (let s = 0; s < 3; s++) {
        e.write(p.grad, Float32Array.from(fx.grads[s]));
        opt.step();
        expectClose(await p.read(), fx.cases[name][s], 1e-6, `${name} step ${s + 1}`);
      }
      opt.dispose();
      p.grad.dispose();
      p.dispose();
    });
  }

  it('Adam on a ParameterStore updates every parameter in one dispatch, padding stays zero', async () => {
    const e = engine();
    // The fixture's vector split into two parameters of 20 and 17 values.
    const store = ParameterStore.create(e, [
      { name: 'a', shape: [4, 5] },
      { name: 'b', shape: [17] },
    ]);
    e.write(store.get('a'), Float32Array.from(fx.p0.slice(0, 20)));
    e.write(store.get('b'), Float32Array.from(fx.p0.slice(20)));
    const opt = makers.adam(store);
    for (let s = 0; s < 3; s++) {
      e.write(store.get('a').grad!, Float32Array.from(fx.grads[s].slice(0, 20)));
      e.write(store.get('b').grad!, Float32Array.from(fx.grads[s].slice(20)));
      opt.step();
    }
    const got = [...(await store.get('a').read()), ...(await store.get('b').read())];
    expectClose(got, fx.cases.adam[2], 1e-6, 'adam on the store after 3 steps');
    const flat = await store.flat.read();
    const used = new Set<number>();
    for (const p of store.params) for (let i = 0; i < p.size; i++) used.add(p.byteOffset / 4 + i);
    flat.forEach((v, i) => {
      if (!used.has(i)) expect(v).toBe(0);
    });
    store.zeroGrad();
    expect(Array.from(await store.gradFlat.read()).every((v) => v === 0)).toBe(true);
    opt.dispose();
    store.dispose();
  });

  it('rejects bad settings', () => {
    const e = engine();
    const p = e.tensor([1], [1], { requiresGrad: true });
    const q = e.tensor([1], [1]);
    expect(() => new Adam([p], { lr: -1 })).toThrow(/lr must be a positive number/);
    expect(() => new Adam([p], { betas: [1, 0.9] })).toThrow(/betas must be in \[0, 1\)/);
    expect(() => new SGD([q], { lr: 0.1 })).toThrow(/does not require gradients/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/no parameters/);
    p.dispose();
    q.dispose();
  });
});
