// Time to the first result, from a cold process: creating the engine, compiling the kernels (up front and in
// parallel with --compile on, or one by one inside the first step with --compile off), the first and the second
// prediction of one image or training step. Run each configuration in its own process (pipelines are cached per
// engine, so only the first call of a process is cold):
//   npx tsx bench/first-step.ts --what predict --model tiny --size 128x160 --compile on
//   npx tsx bench/first-step.ts --what train --model paper --size 160x128 --batch 1 --compile off
// Sizes are WxH. Prints one JSON line.
import { parseArgs } from 'node:util';
import { createNodeEngine } from '../src/node/gpu.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { predictImage } from '../src/chh/predict.ts';
import { train } from '../src/chh/train.ts';
import { compileModel } from '../src/chh/compile.ts';
import { trainOptions } from '../src/pipeline/steps.ts';
import type { IsbiSample } from '../src/data/isbi.ts';

const { values } = parseArgs({
  options: {
    what: { type: 'string', default: 'predict' },
    model: { type: 'string', default: 'tiny' },
    size: { type: 'string', default: '128x160' },
    batch: { type: 'string', default: '1' },
    compile: { type: 'string', default: 'on' },
  },
});
const [width, height] = values.size!.split('x').map(Number);
const batch = Number(values.batch);
const ms = (t0: number) => Math.round(performance.now() - t0);

const t0 = performance.now();
const engine = await createNodeEngine();
const engineMs = ms(t0);
const model = new ResnetUnet(MODEL_PRESETS[values.model as ModelPreset]);
const state = model.allocate(engine, 0);
const L = model.config.landmarks;
const image = { data: Float32Array.from({ length: width * height }, (_, i) => (i * 37) % 255), width, height };

let compileMs = 0;
let kernels = 0;
if (values.compile === 'on') {
  const tc = performance.now();
  const plan = values.what === 'train' ? { train: [batch], augment: true } : { infer: [1] };
  kernels = await compileModel(engine, model, state, { width, height, ...plan });
  compileMs = ms(tc);
}

/** One prediction, or one training step (one epoch of `batch` images), synced. */
async function once(): Promise<number> {
  const t = performance.now();
  if (values.what === 'predict') {
    await predictImage(engine, model, state, image);
  } else {
    const landmarks = Float32Array.from({ length: 2 * L }, (_, i) => (i % 2 === 0 ? width : height) * (0.2 + (0.6 * i) / (2 * L)));
    const sample: IsbiSample = { id: 's', split: 'train', image: image.data, width, height, landmarks, annotators: [landmarks], annotatorNames: ['a'], pixelSizeMm: [0.1, 0.1], originalSize: { width, height }, scale: 1 };
    const store = { save: async () => {}, load: async () => null };
    const options = { ...trainOptions({ epochs: 1, batch, lr: 1e-3, milestones: [], augment: true, seed: 0 }) };
    await train({ engine, model, state, samples: Array.from({ length: batch }, () => sample), options, store, resume: false });
  }
  await engine.sync();
  return ms(t);
}

const first = await once();
const second = await once();
console.log(JSON.stringify({ what: values.what, model: values.model, size: values.size, batch, compile: values.compile, engineMs, kernels, compileMs, firstMs: first, secondMs: second, toFirstResultMs: engineMs + compileMs + first }));
state.dispose();
engine.destroy();
