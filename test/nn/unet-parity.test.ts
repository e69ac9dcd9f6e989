// Whole-model golden parity with PyTorch (scripts/fixtures/unet.py): a small ResnetUnet loads PyTorch's CHH
// state_dict through the safetensors loader, then
//   - eval mode (running statistics): logits and the CHH loss against torch's model.eval() forward;
//   - training mode (batch statistics): logits, loss, gradients of parameters from every stage, and every BN's
//     running statistics and num_batches_tracked after the step, against torch's forward + backward.
// Tolerances: logits 1e-4 relative to the max, loss 1e-5 relative, gradients 1e-3 relative to the max, running
// statistics 1e-4 relative to the max.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backward, type Tensor } from '../../src/index.ts';
import { softmaxNll } from '../../src/ops/softmax-nll.ts';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import { loadSafetensors, stateDict } from '../../src/io/state-dict.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { useEngine } from '../helpers/gpu.ts';
import { maxRelError } from '../helpers/reference.ts';

const engine = useEngine();
const read = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const meta = JSON.parse(read('unet.json').toString('utf8')) as {
  config: UnetConfig;
  input_shape: [number, number, number, number];
  loss_train: number;
  loss_eval: number;
  grad_names: string[];
};
const io = parseSafetensors(read('unet.io.safetensors')).tensors;
const golden = (name: string): ArrayLike<number> => {
  const t = io.get(name);
  if (!t) throw new Error(`fixture has no "${name}"`);
  return t.data;
};

/** Measured errors, printed at the end so the numbers can be reported. */
const measured: Record<string, number> = {};

function check(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  const err = maxRelError(actual, expected);
  measured[what] = err;
  expect(err, `${what}: max relative error ${err.toExponential(3)} > ${tol}`).toBeLessThanOrEqual(tol);
}

describe('ResnetUnet parity with PyTorch (smp.Unet layout, CHH loss)', () => {
  it('eval-mode forward, then a training-mode forward and backward, match torch', async () => {
    const e = engine();
    const model = new ResnetUnet(meta.config);
    const state = model.allocate(e, 123);
    const temps = e.tensor([1, 1, 1], [meta.config.landmarks], { label: 'temperatures' });
    const x = e.tensor(Float32Array.from(golden('input')), meta.input_shape, { label: 'input' });
    const targets = Int32Array.from(golden('targets'));
    try {
      const loaded = loadSafetensors(model, state, read('unet.weights.safetensors'), { temperatures: temps });
      expect(loaded.format).toBe('chh');

      // ---- eval mode: running statistics, nothing updated
      state.training = false;
      const evalOut = e.noGrad(() =>
        e.scope(() => {
          const logits = model.forward(state, x);
          return { logits, loss: softmaxNll(logits, temps, targets) };
        }),
      );
      check('eval logits', (await evalOut.logits.read()) as Float32Array, golden('logits_eval'), 1e-4);
      const evalLoss = await evalOut.loss.item();
      measured['eval loss'] = Math.abs(evalLoss - meta.loss_eval) / Math.abs(meta.loss_eval);
      expect(measured['eval loss']).toBeLessThanOrEqual(1e-5);
      evalOut.logits.dispose();
      evalOut.loss.dispose();
      const tracked = new Map(state.batchesTracked);

      // ---- training mode: batch statistics, running statistics updated, gradients
      state.training = true;
      state.params.zeroGrad();
      const trainOut = e.scope(() => {
        const logits = model.forward(state, x);
        const loss = softmaxNll(logits, temps, targets);
        backward(loss);
        return { logits, loss };
      });
      check('train logits', (await trainOut.logits.read()) as Float32Array, golden('logits_train'), 1e-4);
      const trainLoss = await trainOut.loss.item();
      measured['train loss'] = Math.abs(trainLoss - meta.loss_train) / Math.abs(meta.loss_train);
      expect(measured['train loss']).toBeLessThanOrEqual(1e-5);
      trainOut.logits.dispose();
      trainOut.loss.dispose();

      // Gradients: one read of the flat gradient buffer, sliced per parameter.
      const gradFlat = (await state.params.gradFlat.read()) as Float32Array;
      const gradOf = (p: Tensor) => {
        const start = (p.grad!.byteOffset - state.params.gradFlat.byteOffset) / 4;
        return gradFlat.subarray(start, start + p.size);
      };
      let largestGrad = 0;
      for (const name of meta.grad_names) {
        const expected = golden(`grad.${name}`);
        const actual = gradOf(state.param(name.slice('unet.'.length)));
        expect(actual.length).toBe(expected.length);
        const scale = Math.max(...Array.from(expected, Math.abs));
        largestGrad = Math.max(largestGrad, scale);
        if (name === 'unet.segmentation_head.0.bias') {
          // The softmax over each map ignores a constant shift, so this gradient is exactly zero mathematically
          // (torch's ~1e-7 is rounding): compare in absolute terms against the other gradients' scale below.
          continue;
        }
        check(`grad ${name}`, actual, expected, 1e-3);
      }
      const headBias = Math.max(...Array.from(gradOf(state.param('segmentation_head.0.bias')), Math.abs));
      measured['grad segmentation_head.0.bias (|g| / largest grad)'] = headBias / largestGrad;
      expect(headBias / largestGrad).toBeLessThanOrEqual(1e-5);

      // Running statistics and num_batches_tracked after the step, for every BN layer.
      const after = await stateDict(model, state, temps);
      let statCount = 0;
      let worstStat = 0;
      for (const [name, t] of io) {
        if (!name.startsWith('post.')) continue;
        const ours = after.get(name.slice('post.'.length))!;
        expect(ours, name).toBeDefined();
        if (name.endsWith('num_batches_tracked')) {
          expect(Array.from(ours.data), name).toEqual(Array.from(t.data));
          continue;
        }
        worstStat = Math.max(worstStat, maxRelError(ours.data, t.data));
        statCount++;
      }
      measured[`running stats (worst of ${statCount})`] = worstStat;
      expect(statCount).toBeGreaterThan(40);
      expect(worstStat).toBeLessThanOrEqual(1e-4);
      // The eval forward left num_batches_tracked alone; the training forward added one per BN layer.
      for (const [k, v] of tracked) expect(state.batchesTracked.get(k), k).toBe(v + 1);

      console.log(
        'unet parity, measured errors:\n' +
          Object.entries(measured)
            .map(([k, v]) => `  ${k}: ${v.toExponential(2)}`)
            .join('\n'),
      );
    } finally {
      x.dispose();
      temps.dispose();
      state.dispose();
    }
  });
});
