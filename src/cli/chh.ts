// The `chh` command line: synth, train, calibrate, test, predict, bench. Each subcommand has --help.
// It runs the engine in Node through Dawn (WebGPU on SwiftShader when there is no GPU driver).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine } from '../engine/engine.ts';
import { fmtBytes } from '../engine/buffer-pool.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset, type UnetConfig } from '../nn/unet.ts';
import { loadSafetensors, saveSafetensors } from '../io/state-dict.ts';
import { parseSafetensorsHeader, serializeSafetensors } from '../io/safetensors.ts';
import { configFromWeights, loadModel, predictBmp } from '../chh/predict.ts';
import { calibrateTemperatures, type CalibrateResult } from '../chh/calibrate.ts';
import { evaluateModel, unetNetwork, type EvaluationResult } from '../chh/evaluate.ts';
import { buildOverlays, overlayPng, renderReport } from '../report/report.ts';
import { deflateSync } from 'node:zlib';
import { loadIsbiSplit, type IsbiSample, type IsbiSplit } from '../data/isbi.ts';
import { nodeFolder, NodeFolderImageCache, writeSyntheticIsbi } from '../node/files.ts';
import { train, gpuAugmenter, DEFAULT_TRAIN_OPTIONS, type TrainOptions } from '../chh/train.ts';
import { folderStore } from '../node/folder-store.ts';
import { ProgressBar } from '../node/progress.ts';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

interface Command {
  summary: string;
  usage: string;
  options: Options;
  help: Record<string, string>;
  run: (values: Record<string, string | boolean | undefined>, positionals: string[]) => Promise<void>;
  /** Hand the raw arguments to run() as positionals (a wrapper around another program with its own options). */
  passThrough?: boolean;
}

// ---------------------------------------------------------------- argument helpers

export function positiveInt(name: string, v: unknown): number {
  const n = Number(v);
  if (typeof v !== 'string' || !Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got ${String(v)}`);
  return n;
}

export function positiveNumber(name: string, v: unknown): number {
  const n = Number(v);
  if (typeof v !== 'string' || !(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number, got ${String(v)}`);
  return n;
}

/** --size WxH (width x height, as the issue and the ISBI convention give it), both multiples of 32. */
export function parseSize(v: unknown): { width: number; height: number } {
  const m = typeof v === 'string' ? /^(\d+)x(\d+)$/.exec(v) : null;
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2]) : NaN;
  if (!m || width % 32 || height % 32 || width <= 0 || height <= 0) {
    throw new UsageError(`--size must be WxH with both multiples of 32 (the UNet halves the image five times), got ${String(v)}`);
  }
  return { width, height };
}

function preset(v: unknown): ModelPreset {
  if (typeof v !== 'string' || !(v in MODEL_PRESETS)) throw new UsageError(`--model must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${String(v)}`);
  return v as ModelPreset;
}

function requireString(name: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

// ---------------------------------------------------------------- shared steps

export async function loadSplit(dir: string, split: IsbiSplit, size: { width: number; height: number }, landmarks?: number): Promise<IsbiSample[]> {
  if (!existsSync(dir)) throw new UsageError(`--data ${dir} does not exist (make a synthetic set with: chh synth --out ${dir})`);
  const bar = new ProgressBar(1, `load ${split}`);
  const samples = await loadIsbiSplit(nodeFolder(dir), split, {
    ...size,
    landmarks,
    cache: new NodeFolderImageCache(join(dir, '.chh-cache')),
    onWarning: (m) => console.warn(`warning: ${m}`),
    onProgress: (done, total) => {
      bar.total = total;
      bar.update(done);
    },
  });
  return samples;
}

async function createEngine(): Promise<Engine> {
  const engine = await Engine.create({ runtime: 'node' });
  const a = engine.adapter;
  console.log(`WebGPU adapter: ${a.vendor} ${a.architecture} ${a.description}${a.isFallbackAdapter ? ' (CPU fallback: expect it to be slow)' : ''}`);
  return engine;
}

// ---------------------------------------------------------------- commands

const synth: Command = {
  summary: 'write a synthetic cephalometric set in the ISBI 2015 layout',
  usage: 'chh synth --out DIR [--train N] [--test1 N] [--test2 N] [--width PX] [--landmarks L] [--seed S]',
  options: {
    out: { type: 'string' },
    train: { type: 'string', default: '150' },
    test1: { type: 'string', default: '150' },
    test2: { type: 'string', default: '100' },
    width: { type: 'string', default: '1935' },
    landmarks: { type: 'string', default: '19' },
    seed: { type: 'string', default: '0' },
  },
  help: {
    out: 'folder to write (RawImage/, AnnotationsByMD/, chh-dataset.json)',
    train: 'images in TrainingData (default 150)',
    test1: 'images in Test1Data (default 150)',
    test2: 'images in Test2Data (default 100)',
    width: 'original image width in pixels (default 1935, the ISBI size; height follows 2400/1935)',
    landmarks: 'landmarks per image (default 19)',
    seed: 'seed (default 0)',
  },
  async run(v) {
    const out = requireString('out', v.out);
    const counts = { train: positiveInt('train', v.train), test1: positiveInt('test1', v.test1), test2: positiveInt('test2', v.test2) };
    const t0 = performance.now();
    const summary = await writeSyntheticIsbi(out, { counts, width: positiveInt('width', v.width), landmarks: positiveInt('landmarks', v.landmarks), seed: Number(v.seed) });
    console.log(`wrote ${counts.train + counts.test1 + counts.test2} images of ${summary.width}x${summary.height} (${summary.pixelSizeMm.toFixed(4)} mm/pixel) to ${resolve(out)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  },
};

const trainCommand: Command = {
  summary: 'train the CHH model (2D softmax + NLL, Adam, MultiStepLR, augmentation) with a checkpoint every epoch',
  usage: 'chh train --data DIR [--out DIR] [--model paper|small|tiny] [--size WxH] [--epochs N] [--batch N] [--lr X] [--optimizer adam|sgd] [--no-augment] [--seed S] [--weights FILE] [--resume]',
  options: {
    data: { type: 'string' },
    out: { type: 'string', default: 'runs/train' },
    model: { type: 'string', default: 'paper' },
    size: { type: 'string', default: '640x800' },
    epochs: { type: 'string', default: String(DEFAULT_TRAIN_OPTIONS.epochs) },
    batch: { type: 'string', default: String(DEFAULT_TRAIN_OPTIONS.batch) },
    lr: { type: 'string', default: String(DEFAULT_TRAIN_OPTIONS.lr) },
    optimizer: { type: 'string', default: 'adam' },
    milestones: { type: 'string', default: DEFAULT_TRAIN_OPTIONS.milestones.join(',') },
    gamma: { type: 'string', default: String(DEFAULT_TRAIN_OPTIONS.gamma) },
    'no-augment': { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
    weights: { type: 'string' },
    resume: { type: 'boolean', default: false },
  },
  help: {
    data: 'dataset folder in the ISBI 2015 layout (trains on RawImage/TrainingData)',
    out: 'output folder: checkpoint.safetensors (every epoch), weights.safetensors, train-log.json (default runs/train)',
    model: 'paper (ResNet34-UNet, 24.4 M parameters), small or tiny (same architecture, fewer channels) (default paper)',
    size: 'image size WxH, multiples of 32 (default 640x800, the paper\'s)',
    epochs: 'epochs (default 15)',
    batch: 'batch size (default 4)',
    lr: 'learning rate (default 0.001)',
    optimizer: 'adam or sgd (momentum 0.9) (default adam)',
    milestones: 'MultiStepLR epochs, comma separated (default 4,6,8)',
    gamma: 'MultiStepLR factor (default 0.1)',
    'no-augment': 'train without augmentation',
    seed: 'seed for weights, data order and augmentation (default 0)',
    weights: 'start from these weights (.safetensors; ours, smp or CHH names, e.g. the authors\' converted checkpoint)',
    resume: 'continue from OUT/checkpoint.safetensors (same result as an uninterrupted run)',
  },
  async run(v) {
    const data = requireString('data', v.data);
    const out = String(v.out);
    const size = parseSize(v.size);
    if (v.optimizer !== 'adam' && v.optimizer !== 'sgd') throw new UsageError(`--optimizer must be adam or sgd, got ${String(v.optimizer)}`);
    const milestones = String(v.milestones).split(',').filter((s) => s !== '').map((s) => positiveInt('milestones', s));
    const options: TrainOptions = {
      epochs: positiveInt('epochs', v.epochs),
      batch: positiveInt('batch', v.batch),
      lr: positiveNumber('lr', v.lr),
      optimizer: v.optimizer,
      milestones,
      gamma: positiveNumber('gamma', v.gamma),
      seed: Number(v.seed),
      augment: v['no-augment'] ? null : gpuAugmenter,
    };
    const weightsBytes = v.weights ? await readWeights(String(v.weights)) : null;
    const samples = await loadSplit(data, 'train', size);
    const L = samples[0].landmarks.length / 2;
    let config: UnetConfig = { ...MODEL_PRESETS[preset(v.model)], landmarks: L };
    if (weightsBytes) config = configFromWeights(weightsBytes, config);
    const engine = await createEngine();
    try {
      const model = new ResnetUnet(config);
      const state = model.allocate(engine, options.seed);
      if (weightsBytes) {
        const r = loadSafetensors(model, state, weightsBytes);
        console.log(`started from ${v.weights} (${r.format} names, ${r.loaded} tensors)`);
      }
      console.log(
        `training ${v.model} model (${(state.params.count / 1e6).toFixed(2)} M parameters) on ${samples.length} images of ${size.width}x${size.height}, ` +
          `${options.epochs} epochs, batch ${options.batch}, ${options.optimizer} lr ${options.lr}, augmentation ${options.augment ? 'on' : 'off'}`,
      );
      await mkdir(out, { recursive: true });
      let bar: ProgressBar | null = null;
      const log: unknown[] = [];
      const result = await train({
        engine,
        model,
        state,
        samples,
        options,
        store: folderStore(out),
        resume: Boolean(v.resume),
        onStep: (p) => {
          if (p.step === 1) bar = new ProgressBar(p.stepsPerEpoch, `epoch ${p.epoch + 1}/${p.epochs}`);
          bar?.update(p.step, `loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(1)}`);
        },
        onEpoch: (s) => {
          log.push(s);
          console.log(`epoch ${s.epoch}: mean loss ${s.meanLoss.toFixed(4)}, ${s.seconds.toFixed(1)} s, checkpoint saved`);
        },
      });
      const weightsFile = join(out, 'weights.safetensors');
      await writeFile(weightsFile, await saveSafetensors(model, state, undefined, weightsMetadata(config, size)));
      await writeFile(join(out, 'train-log.json'), JSON.stringify({ options: { ...options, augment: Boolean(options.augment) }, config, epochs: log }, null, 2));
      console.log(`weights: ${resolve(weightsFile)} (smp names; peak live GPU memory ${fmtBytes(engine.memory().peakLiveBytes)})`);
      if (result.epochs.length === 0) console.log(`nothing to do: the checkpoint in ${out} already finished ${result.nextEpoch} epochs`);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
};

/** The weights file's bytes, with a clear error when it is missing. */
async function readWeights(file: string): Promise<Uint8Array> {
  if (!existsSync(file)) throw new UsageError(`--weights ${file} does not exist`);
  return new Uint8Array(await readFile(file));
}

/** --size when given, else the input size stored in the weights (ours), else the paper's 640x800. */
function sizeFor(v: unknown, weights: Uint8Array): { width: number; height: number } {
  if (v !== undefined) return parseSize(v);
  const meta = parseSafetensorsHeader(weights).metadata;
  const stored = { width: Number(meta.input_width), height: Number(meta.input_height) };
  return stored.width > 0 && stored.height > 0 ? stored : { width: 640, height: 800 };
}

/** Metadata saved with weights: the model configuration and the input size, read back by loadModel/sizeFor. */
function weightsMetadata(config: UnetConfig, size: { width: number; height: number }): Record<string, string> {
  return { config: JSON.stringify(config), input_width: String(size.width), input_height: String(size.height) };
}

function split(name: string, v: unknown): IsbiSplit {
  if (v !== 'train' && v !== 'test1' && v !== 'test2') throw new UsageError(`--${name} must be train, test1 or test2, got ${String(v)}`);
  return v;
}

const calibrateCommand: Command = {
  summary: 'fit one temperature per landmark (temperature scaling, Adam lr 0.01 on the ECE or the NLL, best ECE kept)',
  usage: 'chh calibrate --data DIR --weights FILE [--split test1] [--out DIR] [--size WxH] [--objective ece|nll] [--epochs N] [--lr X] [--batch N] [--augment | --no-augment] [--seed S]',
  options: {
    data: { type: 'string' },
    weights: { type: 'string' },
    split: { type: 'string', default: 'test1' },
    out: { type: 'string', default: 'runs/calibrate' },
    size: { type: 'string' },
    objective: { type: 'string', default: 'ece' },
    epochs: { type: 'string', default: '15' },
    lr: { type: 'string', default: '0.01' },
    batch: { type: 'string', default: '4' },
    augment: { type: 'boolean', default: false },
    'no-augment': { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
  },
  help: {
    data: 'dataset folder in the ISBI 2015 layout',
    weights: 'trained weights (.safetensors)',
    split: 'the fine-tuning set: its first half fits the temperatures, its second half picks the best ECE (default test1; keep it apart from the split you test on)',
    out: 'output folder: calibrated.safetensors (CHH names, with temperatures), calibration.json (default runs/calibrate)',
    size: 'image size WxH (default: the size stored in the weights, else 640x800)',
    objective:
      'what the temperatures minimise on the first half: ece (default; the ECE of the whole first half, one Adam step per epoch) ' +
      "or nll (the reference's CHH loss, one Adam step per batch)",
    epochs: 'epochs (default 15)',
    lr: 'Adam learning rate (default 0.01, the reference)',
    batch: 'images per batch on the first half (default 4; with --objective ece only the size of the GPU passes)',
    augment: 'fit on augmented images of the first half (the default with --objective nll, as the reference)',
    'no-augment': 'fit on the plain images (the default with --objective ece)',
    seed: 'seed of the shuffle and augmentation (default 0)',
  },
  async run(v) {
    const data = requireString('data', v.data);
    const objective = v.objective;
    if (objective !== 'ece' && objective !== 'nll') throw new UsageError(`--objective must be ece or nll, got ${String(objective)}`);
    if (v.augment && v['no-augment']) throw new UsageError('--augment and --no-augment contradict each other');
    const bytes = await readWeights(requireString('weights', v.weights));
    const size = sizeFor(v.size, bytes);
    const out = String(v.out);
    const samples = await loadSplit(data, split('split', v.split), size);
    const engine = await createEngine();
    try {
      const { model, state, temperatures } = loadModel(engine, bytes);
      const epochs = positiveInt('epochs', v.epochs);
      const bar = new ProgressBar(epochs, 'calibrate');
      const result = await calibrateTemperatures(engine, unetNetwork(model, state), samples, {
        objective,
        epochs,
        lr: positiveNumber('lr', v.lr),
        batchSize: positiveInt('batch', v.batch),
        seed: Number(v.seed),
        augment: v.augment ? 'reference' : v['no-augment'] ? null : undefined,
        initialTemperatures: temperatures,
        onProgress: (ev) => {
          if (ev.kind === 'epoch') bar.update(ev.result.epoch, `NLL ${ev.result.validationNll.toFixed(4)} ECE ${ev.result.ece.toFixed(4)}`);
        },
      });
      await mkdir(out, { recursive: true });
      const t = engine.untracked(() => engine.tensor(result.temperatures, [result.temperatures.length], { label: 'temperatures' }));
      const file = join(out, 'calibrated.safetensors');
      await writeFile(file, await saveSafetensors(model, state, t, weightsMetadata(model.config, size)));
      await writeFile(join(out, 'calibration.json'), JSON.stringify(result, null, 2));
      console.log(`ECE on the second half: ${result.eceBefore.toFixed(4)} before, ${result.eceAfter.toFixed(4)} after (best epoch ${result.bestEpoch}; ${objective} objective, first half ${result.settings.augmented ? 'augmented' : 'not augmented'})`);
      console.log(`temperatures: ${Array.from(result.temperatures, (x) => x.toFixed(3)).join(' ')}`);
      console.log(`calibrated weights: ${resolve(file)} (CHH names, with temperatures)`);
      t.dispose();
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
};

const testCommand: Command = {
  summary: 'evaluate: MRE, SDR, ECE and reliability diagram, ERE vs error, ROC/AUC; writes results.json and report.html',
  usage: 'chh test --data DIR --weights FILE [--split test2] [--out DIR] [--size WxH] [--calibration FILE]',
  options: {
    data: { type: 'string' },
    weights: { type: 'string' },
    split: { type: 'string', default: 'test2' },
    out: { type: 'string', default: 'runs/test' },
    size: { type: 'string' },
    calibration: { type: 'string' },
    batch: { type: 'string', default: '1' },
    overlays: { type: 'string', default: '4' },
  },
  help: {
    data: 'dataset folder in the ISBI 2015 layout',
    weights: 'weights (.safetensors); CHH names carry the temperatures (T = 1 otherwise)',
    split: 'split to evaluate (default test2)',
    out: 'output folder: results.json, report.html, overlay-*.png (default runs/test)',
    size: 'image size WxH (default: the size stored in the weights, else 640x800)',
    calibration: 'calibration.json of the temperature-scaling run, shown in the report',
    batch: 'images per forward pass (default 1)',
    overlays: 'images with heatmap overlays in the report (default 4)',
  },
  async run(v) {
    const data = requireString('data', v.data);
    const weights = requireString('weights', v.weights);
    const bytes = await readWeights(weights);
    const size = sizeFor(v.size, bytes);
    const out = String(v.out);
    const samples = await loadSplit(data, split('split', v.split), size);
    const engine = await createEngine();
    try {
      const { model, state, temperatures } = loadModel(engine, bytes);
      const bar = new ProgressBar(samples.length, `test ${String(v.split)}`);
      const evaluation = await evaluateModel(engine, model, state, samples, {
        temperatures,
        batchSize: positiveInt('batch', v.batch),
        label: String(v.split),
        heatmaps: { count: Number(v.overlays) },
        onProgress: (done) => bar.update(done),
      });
      const calibration = v.calibration ? (JSON.parse(await readFile(String(v.calibration), 'utf8')) as CalibrateResult) : null;
      await writeEvaluation(out, evaluation, samples, calibration, [`weights: ${weights}`, `data: ${data} (${String(v.split)})`]);
      printSummary(evaluation);
      console.log(`report: ${resolve(join(out, 'report.html'))}`);
      state.dispose();
    } finally {
      engine.destroy();
    }
  },
};

const compress = (raw: Uint8Array): Uint8Array => new Uint8Array(deflateSync(raw));

export async function writeEvaluation(out: string, evaluation: EvaluationResult, samples: readonly IsbiSample[], calibration: CalibrateResult | null, notes: string[]): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'results.json'), JSON.stringify(evaluation, null, 1));
  const overlays = buildOverlays(evaluation, samples, { compress });
  for (const o of overlays) if (o.png instanceof Uint8Array) await writeFile(join(out, `overlay-${o.id}.png`), o.png);
  await writeFile(join(out, 'report.html'), renderReport({ evaluation, calibration, overlays, notes: [...notes, `date: ${new Date().toISOString()}`] }));
}

export function printSummary(e: EvaluationResult): void {
  const s = e.summary;
  console.log(`MRE ${s.mre.mean.toFixed(3)} +- ${s.mre.std.toFixed(3)} mm over ${s.count} landmarks of ${s.images} images`);
  console.log(`SDR ${s.sdr.map((d) => `${d.thresholdMm} mm: ${d.percent.toFixed(1)}%`).join(', ')}`);
  const before = e.comparison ? `${e.comparison.calibration.ece.toFixed(4)} (T = 1) -> ` : '';
  console.log(`ECE ${before}${s.calibration.ece.toFixed(4)}`);
  console.log(`ERE vs radial error: Pearson ${s.ereVsError.binnedCorrelation.toFixed(3)} over bins of ${s.ereVsError.binSize} (raw ${s.ereVsError.rawCorrelation.toFixed(3)})`);
  if (s.roc) console.log(`ROC of ERE for errors > 4 mm: AUC ${s.roc.auc.toFixed(3)}, threshold ${s.roc.proposedThreshold.toFixed(3)} mm (first TPR > 0.5)`);
  else console.log('ROC: not defined (every landmark is on one side of 4 mm)');
}

const predictCommand: Command = {
  summary: 'landmarks of one image (BMP) with ERE and an erroneous flag, as JSON and an overlay PNG',
  usage: 'chh predict IMAGE.bmp --weights FILE [--size WxH] [--pixel-size MM] [--json FILE] [--overlay FILE.png] [--ere-threshold MM] [--save-logits FILE]',
  options: {
    weights: { type: 'string' },
    size: { type: 'string' },
    'pixel-size': { type: 'string', default: '0.1' },
    json: { type: 'string' },
    overlay: { type: 'string' },
    'ere-threshold': { type: 'string', default: '1.5' },
    'save-logits': { type: 'string' },
  },
  help: {
    weights: 'weights (.safetensors); CHH names carry the temperatures',
    size: 'image size WxH (default: the size stored in the weights, else 640x800)',
    'pixel-size': 'mm per pixel of the original image (default 0.1, the ISBI scanner)',
    json: 'write the landmarks here (default: print to stdout)',
    overlay: 'write the heatmaps and landmarks over the image as PNG',
    'ere-threshold': 'landmarks with ERE above this (mm) are flagged erroneous (default 1.5)',
    'save-logits': 'write the raw logit maps [1, L, H, W] as safetensors',
  },
  async run(v, positionals) {
    const image = positionals[0];
    if (!image) throw new UsageError('give the image to predict: chh predict IMAGE.bmp --weights FILE');
    const bytes = await readWeights(requireString('weights', v.weights));
    const size = sizeFor(v.size, bytes);
    const originalPixel = positiveNumber('pixel-size', v['pixel-size']);
    const threshold = positiveNumber('ere-threshold', v['ere-threshold']);
    const bmp = new Uint8Array(await readFile(image));
    const engine = await createEngine();
    try {
      const loaded = loadModel(engine, bytes);
      const p = await predictBmp(engine, loaded.model, loaded.state, bmp, size, {
        temperatures: loaded.temperatures,
        pixelSizeMm: originalPixel,
        ereThresholdMm: threshold,
        heatmap: Boolean(v.overlay),
        logits: Boolean(v['save-logits']),
      });
      const landmarks = p.landmarks.map((l) => ({
        index: l.index,
        name: l.name,
        x_px: l.x,
        y_px: l.y,
        x_mm: l.x * originalPixel,
        y_mm: l.y * originalPixel,
        ere_mm: l.ereMm,
        mode_probability: l.modeProbability,
        erroneous: l.erroneous,
      }));
      const report = { image, width: p.original.width, height: p.original.height, pixel_size_mm: originalPixel, ere_threshold_mm: threshold, landmarks };
      if (v.json) await writeFile(String(v.json), JSON.stringify(report, null, 2));
      else console.log(JSON.stringify(report, null, 2));
      if (v.overlay) {
        // The overlay is drawn on the image the network saw; the points go back to its pixels.
        const predicted = p.landmarks.flatMap((l) => [l.x * p.scale, l.y * p.scale]);
        const sample = { image: p.input.image, width: p.input.width, height: p.input.height, landmarks: new Float32Array(0) };
        await writeFile(String(v.overlay), overlayPng(sample, p.heatmap, predicted, landmarks.map((l) => l.erroneous), { compress }));
        console.error(`overlay: ${resolve(String(v.overlay))}`);
      }
      if (p.logits) {
        const shape = [1, loaded.config.landmarks, size.height, size.width];
        const meta = { image, temperatures: JSON.stringify(Array.from(loaded.temperatures)) };
        await writeFile(String(v['save-logits']), serializeSafetensors(new Map([['logits', { dtype: 'F32', shape, data: p.logits }]]), meta));
      }
      loaded.dispose();
    } finally {
      engine.destroy();
    }
  },
};

const benchCommand: Command = {
  summary: 'the benchmark (npm run bench): kernels and the full model, ours vs TensorFlow.js in headless Chromium',
  usage: 'chh bench [--size HxW] [--batch N] [--no-tfjs] [--runtime node] [--soak N] [--out FILE] ... (chh bench --help lists them all)',
  options: {},
  help: {},
  passThrough: true,
  async run(_v, args) {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const r = spawnSync(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'bench/run.ts'), ...args], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) throw new Error(`the benchmark exited with ${r.status ?? r.signal}`);
  },
};

export const COMMANDS: Record<string, Command> = {
  synth,
  train: trainCommand,
  calibrate: calibrateCommand,
  test: testCommand,
  predict: predictCommand,
  bench: benchCommand,
};

function commandHelp(name: string, c: Command): string {
  const lines = [`chh ${name}: ${c.summary}`, '', `usage: ${c.usage}`, ''];
  for (const [opt, text] of Object.entries(c.help)) lines.push(`  --${opt.padEnd(12)} ${text}`);
  return lines.join('\n');
}

export function mainHelp(): string {
  return [
    'chh: Contour-Hugging Heatmaps on WebGPU',
    '',
    ...Object.entries(COMMANDS).map(([n, c]) => `  chh ${n.padEnd(10)} ${c.summary}`),
    '',
    'chh COMMAND --help shows the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`chh: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  if (command.passThrough) {
    try {
      await command.run({}, rest);
      return 0;
    } catch (e) {
      console.error(`chh ${name}: ${(e as Error).message}`);
      return 1;
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  } catch (e) {
    console.error(`chh ${name}: ${(e as Error).message}\n\n${commandHelp(name, command)}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(commandHelp(name, command));
    return 0;
  }
  try {
    await command.run(parsed.values, parsed.positionals);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`chh ${name}: ${e.message}\n\n${commandHelp(name, command)}`);
      return 2;
    }
    console.error(`chh ${name}: ${(e as Error).message}`);
    return 1;
  }
}
