// chh train: the CHH model on an ISBI-layout folder's training split, a checkpoint every epoch, then the weights.
import { join, resolve } from 'node:path';
import { fmtBytes } from '../../engine/buffer-pool.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset, type UnetConfig } from '../../nn/unet.ts';
import { loadSafetensors } from '../../io/state-dict.ts';
import { configFromWeights, saveWeights } from '../../io/weights.ts';
import { PREDICTION, TRAINING, type OptimizerName } from '../../chh/config.ts';
import { gpuAugmenter, type TrainOptions } from '../../chh/train.ts';
import { compileStep, trainStep, tuneStep } from '../../pipeline/steps.ts';
import { saveChoices } from './tune.ts';
import { folderStore } from '../../node/folder-store.ts';
import { printEvents } from '../../node/progress.ts';
import { writeFileAtomic } from '../../node/atomic.ts';
import { command } from '../command.ts';
import { opt, UsageError } from '../options.ts';
import { checkFits, createEngine, DATA_OPTIONS, tensorCoreLine, loadSplit, outputFolder, readWeights, required } from '../shared.ts';
import { existsSync } from 'node:fs';
import { ACTIVATION_STORAGES } from '../../ops/saved.ts';

const PRESETS = Object.keys(MODEL_PRESETS) as ModelPreset[];
const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'sgd'];

export const trainCommand = command({
  summary: 'train the CHH model (2D softmax + NLL, Adam, MultiStepLR, augmentation) with a checkpoint every epoch',
  usage:
    'chh train --data DIR [--out DIR] [--model paper|small|tiny] [--size WxH] [--epochs N] [--batch N] [--lr X] [--optimizer adam|sgd] ' +
    '[--no-augment] [--seed S] [--weights FILE] [--resume] [--tune]',
  options: {
    data: opt.string('dataset folder in the ISBI 2015 layout (trains on RawImage/TrainingData)'),
    out: opt.string('output folder: checkpoint.safetensors (every epoch), weights.safetensors, train-log.json', 'runs/train'),
    model: opt.choice(PRESETS, 'paper (ResNet34-UNet, 24.4 M parameters), small or tiny (same architecture, fewer channels)', 'paper'),
    size: opt.size("image size WxH, multiples of 32 (the paper's)", PREDICTION.inputSize.default),
    epochs: opt.intFrom(TRAINING.epochs),
    batch: opt.intFrom(TRAINING.batch),
    lr: opt.numberFrom(TRAINING.lr),
    optimizer: opt.choiceFrom(OPTIMIZERS, TRAINING.optimizer),
    milestones: opt.intsFrom(TRAINING.milestones),
    gamma: opt.numberFrom(TRAINING.gamma),
    'no-augment': opt.flag('train without augmentation'),
    seed: opt.intFrom(TRAINING.seed, 0),
    precision: opt.choiceFrom(ACTIVATION_STORAGES, TRAINING.precision),
    weights: opt.string("start from these weights (.safetensors; ours, smp or CHH names, e.g. the authors' converted checkpoint)"),
    resume: opt.flag('continue from OUT/checkpoint.safetensors (the same result as an uninterrupted run; a checkpoint made with other settings is refused)'),
    tune: opt.flag('first tune the conv kernels for these shapes on this GPU (as chh tune; the winners are saved for later runs)'),
    ...DATA_OPTIONS,
  },
  async run(v) {
    const data = required('data', v.data);
    const size = v.size;
    const options: TrainOptions = {
      epochs: v.epochs,
      batch: v.batch,
      lr: v.lr,
      optimizer: v.optimizer,
      milestones: v.milestones,
      gamma: v.gamma,
      seed: v.seed,
      augment: v['no-augment'] ? null : gpuAugmenter,
      precision: v.precision,
    };
    const out = await outputFolder(v.out);
    const checkpointFile = join(out, 'checkpoint.safetensors');
    if (v.resume && !existsSync(checkpointFile)) throw new UsageError(`--resume: there is no checkpoint to resume from (${checkpointFile}); train without --resume to start`);
    const weightsBytes = v.weights ? await readWeights(v.weights) : null;
    const samples = await loadSplit(data, 'train', size, v);
    const fromPreset: UnetConfig = { ...MODEL_PRESETS[v.model], landmarks: samples[0].landmarks.length / 2 };
    const config = weightsBytes ? configFromWeights(weightsBytes, fromPreset) : fromPreset;
    const engine = await createEngine();
    try {
      checkFits(engine, config, size, options.batch);
      const model = new ResnetUnet(config);
      const state = model.allocate(engine, options.seed);
      if (weightsBytes) {
        const r = loadSafetensors(model, state, weightsBytes);
        console.log(`started from ${v.weights} (${r.format} names, ${r.loaded} tensors)`);
      }
      console.log(
        `training ${v.model} model (${(state.params.count / 1e6).toFixed(2)} M parameters) on ${samples.length} images of ${size.width}x${size.height}, ` +
          `${options.epochs} epochs, batch ${options.batch}, ${options.optimizer} lr ${options.lr}, augmentation ${options.augment ? 'on' : 'off'}, ` +
          `precision ${v.precision}`,
      );
      const tensorCores = tensorCoreLine(engine, v.precision);
      if (tensorCores) console.log(tensorCores);
      const emit = printEvents();
      const plan = { ...size, train: [options.batch], augment: options.augment !== null, optimizer: options.optimizer, precision: v.precision };
      if (v.tune) await saveChoices(engine, (await tuneStep(engine, model, state, plan, emit)).choices);
      await compileStep(engine, model, state, plan, emit);
      const result = await trainStep({ engine, model, state, samples, options, store: folderStore(out), resume: v.resume, emit });
      const weightsFile = join(out, 'weights.safetensors');
      await writeFileAtomic(weightsFile, await saveWeights(model, state, size, undefined, options.precision));
      const log = { options: { ...options, augment: Boolean(options.augment) }, size, annotators: samples[0].annotatorNames, config, epochs: result.history };
      await writeFileAtomic(join(out, 'train-log.json'), JSON.stringify(log, null, 2));
      console.log(`checkpoint: ${resolve(checkpointFile)} (saved after every epoch)`);
      console.log(`weights: ${resolve(weightsFile)} (smp names; peak live GPU memory ${fmtBytes(engine.memory().peakLiveBytes)})`);
      if (result.epochs.length === 0) console.log(`nothing to do: the checkpoint in ${out} already finished ${result.nextEpoch} epochs`);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
});
