// Compiling a model's kernels up front (src/chh/compile.ts, engine.traceKernels / compileKernels): the dry run
// records and writes nothing and leaves the model as it was, every kernel a training step and an inference use is
// compiled before they run, and the results are bit for bit those of a run without it.
import { describe, expect, it } from 'vitest';
import { ResnetUnet, MODEL_PRESETS } from '../../src/nn/unet.ts';
import { compileModel } from '../../src/chh/compile.ts';
import { train } from '../../src/chh/train.ts';
import { trainOptions } from '../../src/pipeline/steps.ts';
import { predictImage } from '../../src/chh/predict.ts';
import { relu } from '../../src/ops/relu.ts';
import type { IsbiSample } from '../../src/data/isbi.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();
const W = 64;
const H = 64;
const config = { ...MODEL_PRESETS.tiny, landmarks: 3 };

function samples(n: number): IsbiSample[] {
  return Array.from({ length: n }, (_, i) => {
    const landmarks = Float32Array.from([10 + i, 20, 30, 40 - i, 50, 12]);
    return { id: `s${i}`, split: 'train', image: Float32Array.from({ length: W * H }, (_, p) => (p * (7 + i)) % 255), width: W, height: H, landmarks, annotators: [landmarks], annotatorNames: ['a'], pixelSizeMm: [0.1, 0.1], originalSize: { width: W, height: H }, scale: 1 };
  });
}
const store = () => ({ save: async () => {}, load: async () => null });
const options = trainOptions({ epochs: 1, batch: 2, lr: 1e-3, milestones: [], augment: true, seed: 3 });

describe('traceKernels', () => {
  it('records no dispatch and writes nothing, and refuses reads', async () => {
    const e = engine();
    const x = e.tensor([1, -2, 3], [3]);
    const y = e.tensor([9, 9, 9], [3]);
    let reading: Promise<unknown> = Promise.resolve();
    const kernels = e.traceKernels(() => {
      e.copy(relu(x), y);
      e.write(y, new Float32Array([5, 5, 5]));
      reading = e.read(y);
    });
    await expect(reading).rejects.toThrow(/cannot read while tracing/);
    expect(kernels.map((k) => k.name)).toEqual(['relu.forward']);
    expect(Array.from(await y.read())).toEqual([9, 9, 9]);
    x.dispose();
    y.dispose();
  });
});

describe('compileModel', () => {
  it('compiles every kernel of a training step and of inference before they run, leaving the model as it was', async () => {
    const e = engine();
    const model = new ResnetUnet(config);
    const state = model.allocate(e, 5);
    const before = Float32Array.from(await state.params.flat.read());
    const stats = Float32Array.from(await state.buffer('encoder.bn1.running_var').read());
    const n = await compileModel(e, model, state, { width: W, height: H, train: [2], augment: true, infer: [1] });
    expect(n).toBeGreaterThan(20);
    expect(Array.from(await state.params.flat.read())).toEqual(Array.from(before));
    expect(Array.from(await state.buffer('encoder.bn1.running_var').read())).toEqual(Array.from(stats));
    expect(state.batchesTracked.size).toBe(0);
    const counts = e.kernelCounts();
    await train({ engine: e, model, state, samples: samples(2), options, store: store(), resume: false });
    await predictImage(e, model, state, { data: samples(1)[0].image, width: W, height: H });
    // Nothing had to be compiled on the way: every kernel the step and the prediction made was already.
    expect(e.kernelCounts()).toEqual(counts);
    expect(counts.compiled).toBe(counts.kernels);
    state.dispose();
  });

  it('gives bit for bit the weights of a run without it', async () => {
    const e = engine();
    const model = new ResnetUnet(config);
    const weightsAfterStep = async (compile: boolean): Promise<Float32Array> => {
      const state = model.allocate(e, 9);
      if (compile) await compileModel(e, model, state, { width: W, height: H, train: [2], augment: true });
      await train({ engine: e, model, state, samples: samples(4), options, store: store(), resume: false });
      const w = Float32Array.from(await state.params.flat.read());
      state.dispose();
      return w;
    };
    const plain = await weightsAfterStep(false);
    expect(Array.from(await weightsAfterStep(true))).toEqual(Array.from(plain));
  });
});
