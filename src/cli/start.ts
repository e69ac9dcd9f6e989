// npm start: the whole CHH pipeline on the bundled synthetic set (src/pipeline/pipeline.ts): data, training,
// temperature scaling, evaluation, with progress bars, ending with the numbers and where the report and weights
// were written. The quick run finishes in minutes on a CPU-only machine (WebGPU on SwiftShader); --full is the
// paper's configuration, for a real GPU.
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { createNodeEngine } from '../node/gpu.ts';
import { MODEL_PRESETS, type ModelPreset } from '../nn/unet.ts';
import { CALIBRATION_OBJECTIVES, RUNS, RUN_SETTINGS_HELP, TRAINING, type RunSettings } from '../chh/config.ts';
import { ACTIVATION_STORAGES } from '../ops/saved.ts';
import { runPipeline, type PipelineResult } from '../pipeline/pipeline.ts';
import type { PipelineEvent } from '../pipeline/steps.ts';
import type { BrowserPipelineResult } from '../pipeline/run-in-page.ts';
import { printEvents } from '../node/progress.ts';
import { cleanStaleTemps, writeFileAtomic } from '../node/atomic.ts';
import { opt, optionsHelp, parseOptions, UsageError, type IntOption } from './options.ts';
import { printSummary } from './shared.ts';

/** An option that overrides one run setting; its help gives the quick and the full run's values. */
function runOption(key: 'epochs' | 'seed' | 'trainImages' | 'calibrationImages' | 'testImages' | 'originalWidth', min: 0 | 1 = 1): IntOption {
  return opt.int(`${RUN_SETTINGS_HELP[key]} (default ${RUNS.quick[key]}; with --full ${RUNS.paper[key]})`, undefined, min);
}

const OPTIONS = {
  runtime: opt.choice(['browser', 'node'] as const, "WebGPU in headless Chromium (the engine's home) or through Dawn in Node", 'browser'),
  full: opt.flag("the paper's configuration (ResNet34-UNet, 640x800, 150/150/100 images, 15 epochs): for a real GPU"),
  out: opt.string('where report.html, weights.safetensors and results.json go', 'runs/start'),
  epochs: runOption('epochs'),
  model: opt.choice(Object.keys(MODEL_PRESETS) as ModelPreset[], `${RUN_SETTINGS_HELP.model} (default ${RUNS.quick.model}; with --full ${RUNS.paper.model})`),
  seed: runOption('seed', 0),
  train: runOption('trainImages'),
  'fine-tune': runOption('calibrationImages'),
  test: runOption('testImages'),
  'synth-width': runOption('originalWidth'),
  'calibration-objective': opt.choice(CALIBRATION_OBJECTIVES, `${RUN_SETTINGS_HELP.calibrationObjective} (default ${RUNS.quick.calibrationObjective})`),
  precision: opt.choice(ACTIVATION_STORAGES, `${RUN_SETTINGS_HELP.precision} (default ${TRAINING.precision.default})`),
};

function help(): string {
  return ['npm start [-- options]', '  The CHH pipeline on synthetic cephalograms: train, calibrate (temperature scaling), evaluate, report.', ...optionsHelp(OPTIONS, 22)].join('\n');
}

/** The run: the quick or the full configuration, with the options given. */
function runSettings(argv: string[]): { settings: RunSettings; runtime: 'browser' | 'node'; out: string; full: boolean } | null {
  const { help: wantsHelp, values: v } = parseOptions(OPTIONS, argv);
  if (wantsHelp) return null;
  const s: RunSettings = { ...(v.full ? RUNS.paper : RUNS.quick), milestones: [...(v.full ? RUNS.paper : RUNS.quick).milestones] };
  if (v.epochs !== undefined) s.epochs = v.epochs;
  if (v.model !== undefined) s.model = v.model;
  if (v.seed !== undefined) s.seed = v.seed;
  if (v.train !== undefined) s.trainImages = v.train;
  if (v['fine-tune'] !== undefined) s.calibrationImages = v['fine-tune'];
  if (v.test !== undefined) s.testImages = v.test;
  if (v['synth-width'] !== undefined) s.originalWidth = v['synth-width'];
  if (v['calibration-objective'] !== undefined) s.calibrationObjective = v['calibration-objective'];
  if (v.precision !== undefined) s.precision = v.precision;
  return { settings: s, runtime: v.runtime, out: v.out, full: v.full };
}

async function runInNode(settings: RunSettings, onEvent: (e: PipelineEvent) => void): Promise<PipelineResult> {
  const engine = await createNodeEngine();
  try {
    return await runPipeline(engine, settings, onEvent, undefined, (raw) => new Uint8Array(deflateSync(raw)));
  } finally {
    engine.destroy();
  }
}

async function runInBrowser(settings: RunSettings, onEvent: (e: PipelineEvent) => void): Promise<PipelineResult> {
  const { openBrowser } = await import('../node/browser.ts');
  const session = await openBrowser();
  try {
    const r = await session.call<BrowserPipelineResult>('src/pipeline/run-in-page.ts', 'runPipelineInBrowser', settings, (line) => {
      if (line.startsWith('@@chh ')) onEvent(JSON.parse(line.slice(6)) as PipelineEvent);
      else console.log(`[browser] ${line}`);
    });
    const { weightsBase64, ...rest } = r;
    return { ...rest, weights: new Uint8Array(Buffer.from(weightsBase64, 'base64')) };
  } finally {
    await session.close();
  }
}

function printResult(result: PipelineResult, out: string, startedMs: number): void {
  const s = result.seconds;
  const total = ((performance.now() - startedMs) / 1000).toFixed(0);
  console.log('');
  console.log(`adapter: ${result.adapter}`);
  console.log(`time: data ${s.data.toFixed(0)} s, compiling kernels ${(s.compile ?? 0).toFixed(0)} s, training ${s.train.toFixed(0)} s, calibration ${s.calibrate.toFixed(0)} s, test ${s.test.toFixed(0)} s (total ${total} s)`);
  console.log(`training loss per epoch: ${result.training.map((e) => e.meanLoss.toFixed(3)).join(' -> ')}`);
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
}

async function main(argv: string[]): Promise<number> {
  let run;
  try {
    run = runSettings(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`npm start: ${e.message}\n\n${help()}`);
    return 2;
  }
  if (!run) {
    console.log(help());
    return 0;
  }
  const { settings: s, runtime, out } = run;
  console.log(`chh-webgpu: the Contour-Hugging Heatmaps pipeline on synthetic cephalograms, WebGPU via ${runtime === 'node' ? 'Dawn in Node' : 'headless Chromium'}`);
  if (!run.full) {
    console.log(
      `quick configuration for a CPU-only machine: the ${s.model} model (the paper's architecture with fewer channels) at ` +
        `${s.width}x${s.height}, ${s.trainImages} training images, ${s.epochs} epochs. On a real GPU, --full runs the paper's setup.`,
    );
  }
  await cleanStaleTemps(out);
  const started = performance.now();
  const result = await (runtime === 'node' ? runInNode : runInBrowser)(s, printEvents());
  await writeFileAtomic(join(out, 'report.html'), result.reportHtml);
  await writeFileAtomic(join(out, 'weights.safetensors'), result.weights);
  const { weights: _w, reportHtml: _r, ...json } = result;
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify(json, null, 1));
  printResult(result, out, started);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
