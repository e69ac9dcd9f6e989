// chh test: every metric of the paper on one split (results.json, report.html and the overlays).
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadModel } from '../../io/weights.ts';
import { EVALUATION } from '../../chh/config.ts';
import type { CalibrateResult } from '../../chh/calibrate/calibrate.ts';
import { evaluateModel } from '../../chh/evaluate.ts';
import { ProgressBar } from '../../node/progress.ts';
import { command } from '../command.ts';
import { opt } from '../options.ts';
import { createEngine, loadSplit, printSummary, readWeights, required, sizeFor, SIZE_FROM_WEIGHTS_HELP, writeEvaluation } from '../shared.ts';
import { SPLITS } from './calibrate.ts';

export const testCommand = command({
  summary: 'evaluate: MRE, SDR, ECE and reliability diagram, ERE vs error, ROC/AUC; writes results.json and report.html',
  usage: 'chh test --data DIR --weights FILE [--split test2] [--out DIR] [--size WxH] [--calibration FILE]',
  options: {
    data: opt.string('dataset folder in the ISBI 2015 layout'),
    weights: opt.string('weights (.safetensors); CHH names carry the temperatures (T = 1 otherwise)'),
    split: opt.choice(SPLITS, 'split to evaluate', 'test2'),
    out: opt.string('output folder: results.json, report.html, overlay-*.png', 'runs/test'),
    size: opt.size(SIZE_FROM_WEIGHTS_HELP),
    calibration: opt.string('calibration.json of the temperature-scaling run, shown in the report'),
    batch: opt.intFrom(EVALUATION.batch),
    overlays: opt.intFrom(EVALUATION.overlays, 0),
  },
  async run(v) {
    const data = required('data', v.data);
    const weights = required('weights', v.weights);
    const bytes = await readWeights(weights);
    const size = sizeFor(v.size, bytes);
    const samples = await loadSplit(data, v.split, size);
    const engine = await createEngine();
    try {
      const { model, state, temperatures } = loadModel(engine, bytes);
      const bar = new ProgressBar(samples.length, `test ${v.split}`);
      const evaluation = await evaluateModel(engine, model, state, samples, {
        temperatures,
        batchSize: v.batch,
        label: v.split,
        heatmaps: { count: v.overlays },
        onProgress: (done) => bar.update(done),
      });
      const calibration = v.calibration ? (JSON.parse(await readFile(v.calibration, 'utf8')) as CalibrateResult) : null;
      await writeEvaluation(v.out, evaluation, samples, calibration, [`weights: ${weights}`, `data: ${data} (${v.split})`]);
      printSummary(evaluation);
      console.log(`report: ${resolve(join(v.out, 'report.html'))}`);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
});
