// chh tune: times the conv kernels that apply on this adapter for every conv shape of a model's training step and
// inference, keeps the fastest, prints what won and saves it to the autotune cache, which every later engine on
// this adapter reads (src/node/tune-store.ts). Tuning is never implicit: untuned shapes run the defaults.
import { ResnetUnet, MODEL_PRESETS, type ModelPreset } from '../../nn/unet.ts';
import { PREDICTION, SYNTHETIC, TRAINING } from '../../chh/config.ts';
import { tuneStep } from '../../pipeline/steps.ts';
import { printEvents } from '../../node/progress.ts';
import { saveTuneChoices, tuneCachePath } from '../../node/tune-store.ts';
import type { Engine } from '../../engine/engine.ts';
import type { TuneChoice } from '../../ops/conv2d/autotune.ts';
import { ACTIVATION_STORAGES } from '../../ops/saved.ts';
import { command } from '../command.ts';
import { opt } from '../options.ts';
import { checkFits, createEngine, tensorCoreLine } from '../shared.ts';

const PRESETS = Object.keys(MODEL_PRESETS) as ModelPreset[];

/** Saves the choices to the cache file and says where (or that CHH_TUNE_CACHE=off keeps them to this run). */
export async function saveChoices(engine: Engine, choices: readonly TuneChoice[]): Promise<void> {
  const path = tuneCachePath();
  if (!path) {
    console.log('autotune: CHH_TUNE_CACHE=off, the choices hold for this run only');
    return;
  }
  await saveTuneChoices(path, engine.adapter, choices);
  console.log(`autotune: saved ${choices.length} choices to ${path}`);
}

export const tuneCommand = command({
  summary: "tune the conv kernels for a model's shapes on this GPU and save the winners (every later run uses them)",
  usage: 'chh tune [--model paper|small|tiny] [--size WxH] [--batch N] [--landmarks N] [--predict-batch N] [--no-augment] [--precision f32|f16]',
  options: {
    model: opt.choice(PRESETS, 'paper (ResNet34-UNet), small or tiny', 'paper'),
    size: opt.size("image size WxH, multiples of 32 (the paper's)", PREDICTION.inputSize.default),
    batch: opt.intFrom(TRAINING.batch),
    landmarks: opt.intFrom(SYNTHETIC.landmarks),
    'predict-batch': opt.int('batch size of inference (test, calibrate, predict)', 1),
    'no-augment': opt.flag('tune for training without augmentation'),
    precision: opt.choiceFrom(ACTIVATION_STORAGES, TRAINING.precision),
  },
  async run(v) {
    const config = { ...MODEL_PRESETS[v.model], landmarks: v.landmarks };
    const engine = await createEngine();
    try {
      checkFits(engine, config, v.size, v.batch);
      const model = new ResnetUnet(config);
      const state = model.allocate(engine, 0);
      const plan = { ...v.size, train: [v.batch], infer: [v['predict-batch']], augment: !v['no-augment'], precision: v.precision };
      console.log(`tuning the ${v.model} model's convolutions at ${v.size.width}x${v.size.height}, training batch ${v.batch} (precision ${v.precision}), inference batch ${v['predict-batch']}`);
      const tensorCores = tensorCoreLine(engine, v.precision);
      if (tensorCores) console.log(tensorCores);
      const { choices } = await tuneStep(engine, model, state, plan, printEvents());
      await saveChoices(engine, choices);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
});
