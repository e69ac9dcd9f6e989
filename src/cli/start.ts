// npm start: the whole CHH pipeline on the bundled synthetic set: data, training, temperature scaling,
// evaluation, with progress bars, ending with the numbers and where the report and weights were written.
// The defaults finish in minutes on a CPU-only machine (WebGPU on SwiftShader); --full is the paper's setup.
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { ProgressBar } from '../node/progress.ts';
import { Engine } from '../engine/engine.ts';
import { MODEL_PRESETS, type ModelPreset } from '../nn/unet.ts';
import { QUICK_PIPELINE, FULL_PIPELINE, runPipeline, type PipelineEvent, type PipelineOptions, type PipelineResult } from '../pipeline/pipeline.ts';
import type { BrowserPipelineResult } from '../pipeline/run-in-page.ts';
import { printSummary } from './chh.ts';

const { values } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'browser' },
    full: { type: 'boolean', default: false },
    out: { type: 'string', default: 'runs/start' },
    epochs: { type: 'string' },
    model: { type: 'string' },
    seed: { type: 'string' },
    train: { type: 'string' },
    'fine-tune': { type: 'string' },
    test: { type: 'string' },
    'synth-width': { type: 'string' },
    'calibration-objective': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`npm start [-- options]
  The CHH pipeline on synthetic cephalograms: train, calibrate (temperature scaling), evaluate, report.
  --runtime browser|node  WebGPU in headless Chromium (default, the engine's home) or through Dawn in Node
  --full                  the paper's configuration (ResNet34-UNet, 640x800, 150/150/100 images, 15 epochs): for a real GPU
  --out DIR               where report.html, weights.safetensors and results.json go (default runs/start)
  --epochs N, --model paper|small|tiny, --seed N                            override the defaults
  --train N, --fine-tune N, --test N      images in the training, fine-tuning (calibration) and test splits
  --synth-width PX        width of the generated originals (default 387 quick, 1935 full; smaller generates faster)
  --calibration-objective ece|nll
                          what temperature scaling minimises: ece (default; Adam on the ECE of the fine-tuning split's
                          first half, plain images) or nll (the reference's CHH loss on augmented images)`);
  process.exit(0);
}

function fail(message: string): never {
  console.error(`npm start: ${message}`);
  process.exit(2);
}

const options: PipelineOptions = { ...(values.full ? FULL_PIPELINE : QUICK_PIPELINE) };
if (values.epochs !== undefined) options.epochs = Number(values.epochs);
if (values.train !== undefined) options.trainImages = Number(values.train);
if (values['fine-tune'] !== undefined) options.calibrationImages = Number(values['fine-tune']);
if (values.test !== undefined) options.testImages = Number(values.test);
if (values.seed !== undefined) options.seed = Number(values.seed);
if (values['synth-width'] !== undefined) options.originalWidth = Number(values['synth-width']);
if (values['calibration-objective'] !== undefined) {
  const objective = values['calibration-objective'];
  if (objective !== 'ece' && objective !== 'nll') fail(`--calibration-objective must be ece or nll, got ${objective}`);
  options.calibrationObjective = objective;
}
if (values.model !== undefined) {
  if (!(values.model in MODEL_PRESETS)) fail(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}`);
  options.model = values.model as ModelPreset;
}
for (const k of ['epochs', 'trainImages', 'calibrationImages', 'testImages', 'originalWidth'] as const) if (!Number.isInteger(options[k]) || options[k] <= 0) fail(`${k} must be a positive integer`);
const runtime = values.runtime;
if (runtime !== 'node' && runtime !== 'browser') fail(`--runtime must be node or browser, got ${runtime}`);

console.log(
  `chh-webgpu: the Contour-Hugging Heatmaps pipeline on synthetic cephalograms, WebGPU via ${runtime === 'node' ? 'Dawn in Node' : 'headless Chromium'}`,
);
if (!values.full) {
  console.log(
    `quick configuration for a CPU-only machine: the ${options.model} model (the paper's architecture with fewer channels) at ` +
      `${options.width}x${options.height}, ${options.trainImages} training images, ${options.epochs} epochs. On a real GPU, --full runs the paper's setup.`,
  );
}

const bars = new Map<string, ProgressBar>();
const onEvent = (e: PipelineEvent): void => {
  if (e.kind === 'log') {
    console.log(e.message);
    return;
  }
  let bar = bars.get(e.task);
  if (!bar) bars.set(e.task, (bar = new ProgressBar(e.total, e.task)));
  bar.total = e.total;
  bar.update(e.done, e.info ?? '');
};

let result: PipelineResult;
const started = performance.now();
if (runtime === 'node') {
  const engine = await Engine.create({ runtime: 'node' });
  try {
    result = await runPipeline(engine, options, onEvent, undefined, (raw) => new Uint8Array(deflateSync(raw)));
  } finally {
    engine.destroy();
  }
} else {
  const { openBrowser } = await import('../node/browser.ts');
  const session = await openBrowser();
  try {
    const r = await session.call<BrowserPipelineResult>('src/pipeline/run-in-page.ts', 'runPipelineInBrowser', options, (line) => {
      if (line.startsWith('@@chh ')) onEvent(JSON.parse(line.slice(6)) as PipelineEvent);
      else console.log(`[browser] ${line}`);
    });
    const { weightsBase64, ...rest } = r;
    result = { ...rest, weights: new Uint8Array(Buffer.from(weightsBase64, 'base64')) };
  } finally {
    await session.close();
  }
}

const out = values.out!;
await mkdir(out, { recursive: true });
await writeFile(join(out, 'report.html'), result.reportHtml);
await writeFile(join(out, 'weights.safetensors'), result.weights);
const { weights: _w, reportHtml: _r, ...json } = result;
await writeFile(join(out, 'results.json'), JSON.stringify(json, null, 1));

const s = result.seconds;
console.log('');
console.log(`adapter: ${result.adapter}`);
console.log(`time: data ${s.data.toFixed(0)} s, training ${s.train.toFixed(0)} s, calibration ${s.calibrate.toFixed(0)} s, test ${s.test.toFixed(0)} s (total ${((performance.now() - started) / 1000).toFixed(0)} s)`);
const losses = result.training.map((e) => e.meanLoss.toFixed(3)).join(' -> ');
console.log(`training loss per epoch: ${losses}`);
printSummary(result.evaluation);
console.log(`baseline (every landmark at its mean training position): MRE ${result.baselineMreMm.toFixed(3)} mm; the model: ${result.evaluation.summary.mre.mean.toFixed(3)} mm`);
const cal = result.calibration;
const temps = Object.values(cal.temperatures as ArrayLike<number>); // a Float32Array, or its JSON object from the page
console.log(
  `calibration (${cal.settings.objective ?? 'nll'} objective; fine-tuning split, second half): ECE ${cal.eceBefore.toFixed(4)} before -> ${cal.eceAfter.toFixed(4)} after ` +
    `(best epoch ${cal.bestEpoch}, T ${Math.min(...temps).toFixed(3)}..${Math.max(...temps).toFixed(3)})`,
);
console.log(`report:  ${resolve(join(out, 'report.html'))}`);
console.log(`weights: ${resolve(join(out, 'weights.safetensors'))} (CHH names, with temperatures; load in PyTorch as the README shows)`);
console.log(`results: ${resolve(join(out, 'results.json'))}`);
