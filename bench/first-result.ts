// Time to the first result, from a cold engine: creating it, compiling the kernels (up front with compile on, or one
// by one inside the first call with compile off), the first and the second prediction of one image or training step.
// Runs in Node (Dawn) and in the page (bench/first-step.ts calls it through the browser harness); pipelines are
// cached per engine and by the browser, so each measurement needs its own process or browser.
import { Engine } from '../src/engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset } from '../src/nn/unet.ts';
import { predictImage } from '../src/chh/predict.ts';
import { train } from '../src/chh/train.ts';
import { compileModel } from '../src/chh/compile.ts';
import { trainOptions } from '../src/pipeline/steps.ts';
import type { IsbiSample } from '../src/data/isbi.ts';

export interface FirstResultConfig {
  runtime: 'node' | 'browser';
  what: 'predict' | 'train';
  model: ModelPreset;
  width: number;
  height: number;
  batch: number;
  compile: boolean;
}

export interface FirstResult {
  adapter: string;
  engineMs: number;
  /** Kernels compiled up front (0 with compile off). */
  kernels: number;
  compileMs: number;
  firstMs: number;
  secondMs: number;
  /** Engine + compile + first call. */
  toFirstResultMs: number;
}

const since = (t0: number): number => Math.round(performance.now() - t0);

/** One prediction, or one training step (one epoch of `batch` images), synced. */
async function once(engine: Engine, model: ResnetUnet, state: ReturnType<ResnetUnet['allocate']>, cfg: FirstResultConfig): Promise<number> {
  const { width, height, batch } = cfg;
  const image = { data: Float32Array.from({ length: width * height }, (_, i) => (i * 37) % 255), width, height };
  const t = performance.now();
  if (cfg.what === 'predict') {
    await predictImage(engine, model, state, image);
  } else {
    const L = model.config.landmarks;
    const landmarks = Float32Array.from({ length: 2 * L }, (_, i) => (i % 2 === 0 ? width : height) * (0.2 + (0.6 * i) / (2 * L)));
    const sample: IsbiSample = { id: 's', split: 'train', image: image.data, width, height, landmarks, annotators: [landmarks], annotatorNames: ['a'], pixelSizeMm: [0.1, 0.1], originalSize: { width, height }, scale: 1 };
    const store = { save: async () => {}, load: async () => null };
    const options = trainOptions({ epochs: 1, batch, lr: 1e-3, milestones: [], augment: true, seed: 0 });
    await train({ engine, model, state, samples: Array.from({ length: batch }, () => sample), options, store, resume: false });
  }
  await engine.sync();
  return since(t);
}

export async function firstResult(cfg: FirstResultConfig): Promise<FirstResult> {
  const t0 = performance.now();
  // Node's GPU module is loaded only there: this file also runs in the page.
  const engine = await (cfg.runtime === 'node' ? import('../src/node/gpu.ts').then((m) => m.createNodeEngine()) : Engine.create({ runtime: 'browser' }));
  const engineMs = since(t0);
  const model = new ResnetUnet(MODEL_PRESETS[cfg.model]);
  const state = model.allocate(engine, 0);
  try {
    let compileMs = 0;
    let kernels = 0;
    if (cfg.compile) {
      const tc = performance.now();
      const plan = cfg.what === 'train' ? { train: [cfg.batch], augment: true } : { infer: [1] };
      kernels = await compileModel(engine, model, state, { width: cfg.width, height: cfg.height, ...plan });
      compileMs = since(tc);
    }
    const firstMs = await once(engine, model, state, cfg);
    const secondMs = await once(engine, model, state, cfg);
    const adapter = `${engine.adapter.vendor} / ${engine.adapter.architecture}`;
    return { adapter, engineMs, kernels, compileMs, firstMs, secondMs, toFirstResultMs: engineMs + compileMs + firstMs };
  } finally {
    state.dispose();
    engine.destroy();
  }
}
