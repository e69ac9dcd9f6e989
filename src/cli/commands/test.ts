// chh test: every metric of the paper on one split (results.json, report.html and the overlays).
import { join, resolve } from 'node:path';
import { loadModel } from '../../io/weights.ts';
import { EVALUATION } from '../../chh/config.ts';
import type { CalibrateResult } from '../../chh/calibrate/calibrate.ts';
import { evaluateModel } from '../../chh/evaluate.ts';
import { printEvents, ProgressBar } from '../../node/progress.ts';
import { compileStep } from '../../pipeline/steps.ts';
import { command } from '../command.ts';
import { opt } from '../options.ts';
import { usePrecision } from '../../chh/precision.ts';
import { checkFits, createEngine, DATA_OPTIONS, INFERENCE_PRECISION, warnIfF16Overflowed, loadSplit, outputFolder, printSummary, readNamedFile, readWeights, required, sizeFor, SIZE_FROM_WEIGHTS_HELP, writeEvaluation } from '../shared.ts';
import { UsageError } from '../options.ts';
import { SPLITS } from './calibrate.ts';

/** The calibration.json given to show in the report, read before the evaluation so a bad file fails at once. */
async function readCalibration(file: string): Promise<CalibrateResult> {
  const text = new TextDecoder().decode(await readNamedFile('--calibration', file));
  try {
    const r = JSON.parse(text) as CalibrateResult;
    if (!r || typeof r !== 'object' || !('history' in r)) throw new Error('it is not the calibration.json of chh calibrate');
    return r;
  } catch (e) {
    throw new UsageError(`--calibration ${file}: ${(e as Error).message}`);
  }
}

export const testCommand = command({
  summary: 'evaluate: MRE, SDR, ECE and reliability diagram, ERE vs error, ROC/AUC; writes results.json and report.html',
  usage: 'chh test --data DIR --weights FILE [--split test2] [--out DIR] [--size WxH] [--calibration FILE] [--precision f32|f16]',
  options: {
    data: opt.string('dataset folder in the ISBI 2015 layout'),
    weights: opt.string('weights (.safetensors); CHH names carry the temperatures (T = 1 otherwise)'),
    split: opt.choice(SPLITS, 'split to evaluate', 'test2'),
    out: opt.string('output folder: results.json, report.html, overlay-*.png', 'runs/test'),
    size: opt.size(SIZE_FROM_WEIGHTS_HELP),
    calibration: opt.string('calibration.json of the temperature-scaling run, shown in the report'),
    batch: opt.intFrom(EVALUATION.batch),
    overlays: opt.intFrom(EVALUATION.overlays, 0),
    ...INFERENCE_PRECISION,
    ...DATA_OPTIONS,
  },
  async run(v) {
    const data = required('data', v.data);
    const weights = required('weights', v.weights);
    const bytes = await readWeights(weights);
    const size = sizeFor(v.size, bytes, weights);
    const calibration = v.calibration ? await readCalibration(v.calibration) : null;
    const out = await outputFolder(v.out);
    const samples = await loadSplit(data, v.split, size, v);
    const engine = await createEngine();
    try {
      const { model, state, temperatures } = loadModel(engine, bytes);
      checkFits(engine, model.config, size, v.batch);
      usePrecision(engine, v.precision);
      await compileStep(engine, model, state, { ...size, infer: [v.batch] }, printEvents());
      const bar = new ProgressBar(samples.length, `test ${v.split}`);
      const evaluation = await evaluateModel(engine, model, state, samples, {
        temperatures,
        batchSize: v.batch,
        label: v.split,
        heatmaps: { count: v.overlays },
        onProgress: (done) => bar.update(done),
      });
      const notes = [`weights: ${weights}`, `data: ${data} (${v.split})`, `annotators: ${samples[0].annotatorNames.join(', ')}`, `precision: ${v.precision}`];
      await writeEvaluation(out, evaluation, samples, calibration, notes, v.precision);
      await warnIfF16Overflowed(engine, v.precision);
      printSummary(evaluation);
      console.log(`report: ${resolve(join(out, 'report.html'))}`);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
});
