// chh calibrate: temperature scaling of trained weights on a fine-tuning split; writes the calibrated weights.
import { join, resolve } from 'node:path';
import { loadModel, saveWeights } from '../../io/weights.ts';
import type { IsbiSplit } from '../../data/isbi.ts';
import { CALIBRATION, CALIBRATION_OBJECTIVES } from '../../chh/config.ts';
import { calibrateTemperatures } from '../../chh/calibrate/calibrate.ts';
import { unetNetwork } from '../../chh/evaluate.ts';
import { printEvents, ProgressBar } from '../../node/progress.ts';
import { compileStep } from '../../pipeline/steps.ts';
import { writeFileAtomic } from '../../node/atomic.ts';
import { command } from '../command.ts';
import { opt, UsageError } from '../options.ts';
import { usePrecision } from '../../chh/precision.ts';
import { checkFits, createEngine, DATA_OPTIONS, INFERENCE_PRECISION, warnIfF16Overflowed, loadSplit, outputFolder, readWeights, required, sizeFor, SIZE_FROM_WEIGHTS_HELP } from '../shared.ts';

export const SPLITS: readonly IsbiSplit[] = ['train', 'test1', 'test2'];

export const calibrateCommand = command({
  summary: 'fit one temperature per landmark (temperature scaling, Adam lr 0.01 on the ECE or the NLL, best ECE kept)',
  usage:
    'chh calibrate --data DIR --weights FILE [--split test1] [--out DIR] [--size WxH] [--objective ece|nll] [--epochs N] [--lr X] [--batch N] ' +
    '[--augment | --no-augment] [--seed S] [--precision f32|f16]',
  options: {
    data: opt.string('dataset folder in the ISBI 2015 layout'),
    weights: opt.string('trained weights (.safetensors)'),
    split: opt.choice(SPLITS, 'the fine-tuning set: its first half fits the temperatures, its second half picks the best ECE (keep it apart from the split you test on)', 'test1'),
    out: opt.string('output folder: calibrated.safetensors (CHH names, with temperatures), calibration.json', 'runs/calibrate'),
    size: opt.size(SIZE_FROM_WEIGHTS_HELP),
    objective: opt.choiceFrom(CALIBRATION_OBJECTIVES, CALIBRATION.objective),
    epochs: opt.intFrom(CALIBRATION.epochs),
    lr: opt.numberFrom(CALIBRATION.lr),
    batch: opt.intFrom(CALIBRATION.batch),
    augment: opt.flag('fit on augmented images of the first half (the default with --objective nll, as the reference)'),
    'no-augment': opt.flag('fit on the plain images (the default with --objective ece)'),
    seed: opt.intFrom(CALIBRATION.seed, 0),
    ...INFERENCE_PRECISION,
    ...DATA_OPTIONS,
  },
  async run(v) {
    const data = required('data', v.data);
    if (v.augment && v['no-augment']) throw new UsageError('--augment and --no-augment contradict each other');
    const weights = required('weights', v.weights);
    const bytes = await readWeights(weights);
    const size = sizeFor(v.size, bytes, weights);
    const out = await outputFolder(v.out);
    const samples = await loadSplit(data, v.split, size, v);
    const engine = await createEngine();
    try {
      const { model, state, temperatures, precision } = loadModel(engine, bytes);
      checkFits(engine, model.config, size, v.batch);
      usePrecision(engine, v.precision);
      await compileStep(engine, model, state, { ...size, infer: [v.batch] }, printEvents());
      const bar = new ProgressBar(v.epochs, 'calibrate');
      const result = await calibrateTemperatures(engine, unetNetwork(model, state), samples, {
        objective: v.objective,
        epochs: v.epochs,
        lr: v.lr,
        batchSize: v.batch,
        seed: v.seed,
        augment: v.augment ? 'reference' : v['no-augment'] ? null : undefined,
        initialTemperatures: temperatures,
        onProgress: (ev) => {
          if (ev.kind === 'epoch') bar.update(ev.result.epoch, `NLL ${ev.result.validationNll.toFixed(4)} ECE ${ev.result.ece.toFixed(4)}`);
        },
      });
      await warnIfF16Overflowed(engine, v.precision);
      const t = engine.untracked(() => engine.tensor(result.temperatures, [result.temperatures.length], { label: 'temperatures' }));
      const file = join(out, 'calibrated.safetensors');
      await writeFileAtomic(file, await saveWeights(model, state, size, t, precision ?? undefined));
      await writeFileAtomic(join(out, 'calibration.json'), JSON.stringify({ ...result, precision: v.precision, annotators: samples[0].annotatorNames }, null, 2));
      const how = `${v.objective} objective, first half ${result.settings.augmented ? 'augmented' : 'not augmented'}`;
      console.log(`ECE on the second half: ${result.eceBefore.toFixed(4)} before, ${result.eceAfter.toFixed(4)} after (best epoch ${result.bestEpoch}; ${how})`);
      console.log(`temperatures: ${Array.from(result.temperatures, (x) => x.toFixed(3)).join(' ')}`);
      console.log(`calibrated weights: ${resolve(file)} (CHH names, with temperatures)`);
      t.dispose();
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
});
