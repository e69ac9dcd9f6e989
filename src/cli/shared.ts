// What the commands share: the engine in Node, a split of an ISBI folder with a progress bar, weights files with
// clear errors, the input size a command runs at, and the evaluation's summary and files.
import { readdir, readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { Engine } from '../engine/engine.ts';
import { createNodeEngine, envDawnFlags } from '../node/gpu.ts';
import { weightsInputSize, type InputSize } from '../io/weights.ts';
import { ISBI_ANNOTATION_DIR, loadIsbiSplit, type IsbiSample, type IsbiSplit } from '../data/isbi.ts';
import { EVALUATION, PREDICTION } from '../chh/config.ts';
import { ACTIVATION_STORAGES, type ActivationStorage } from '../ops/saved.ts';
import { nativeMatrixSides } from '../ops/conv2d/matrix-tile.ts';
import { f16OverflowWarning, tensorCoreNote } from '../chh/precision.ts';
import { SUBGROUP_MATRIX_FEATURE } from '../engine/device.ts';
import type { CalibrateResult } from '../chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { reportStep } from '../pipeline/steps.ts';
import { nodeFolder } from '../node/files.ts';
import { imageCacheFor, userCacheDir } from '../node/cache.ts';
import { checkModelFits, type UnetConfig } from '../nn/unet.ts';
import { ProgressBar } from '../node/progress.ts';
import { cleanStaleTemps, writeFileAtomic } from '../node/atomic.ts';
import { opt, UsageError, type OptionValues } from './options.ts';

export const compress = (raw: Uint8Array): Uint8Array => new Uint8Array(deflateSync(raw));

/** The value of a required option. */
export function required<T>(name: string, v: T | undefined): T {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export async function createEngine(): Promise<Engine> {
  const engine = await createNodeEngine();
  const a = engine.adapter;
  console.log(`WebGPU adapter: ${a.vendor} ${a.architecture} ${a.description}${a.isFallbackAdapter ? ' (CPU fallback: expect it to be slow)' : ''}`);
  return engine;
}

/** The options of every command that reads a dataset: where its preprocessed images are cached, which annotators. */
export const DATA_OPTIONS = {
  cache: opt.string(`cache folder of the preprocessed images (default: ${userCacheDir()}/images/..., one per dataset; never inside --data)`),
  'no-cache': opt.flag('preprocess the images every run, cache nothing'),
  annotators: opt.string('annotator folders under AnnotationsByMD to average, comma separated (default: all of them, which must be two or more)'),
};
type DataChoice = OptionValues<typeof DATA_OPTIONS>;

/**
 * At precision f16, one line on whether the autotuner can offer tensor cores here, and how to get them in Node
 * where Dawn hides the feature (null at f32).
 */
export function tensorCoreLine(engine: Engine, precision: ActivationStorage): string | null {
  if (precision !== 'f16') return null;
  const hidden = nativeMatrixSides(engine).problem?.includes(SUBGROUP_MATRIX_FEATURE) && envDawnFlags().length === 0;
  return tensorCoreNote(engine, hidden ? 'Dawn in Node exposes it with CHH_DAWN_FLAGS=enable-dawn-features=allow_unsafe_apis' : '');
}

/** After inference at f16: prints (stderr) that a value beyond f16's range was rounded, if one was. */
export async function warnIfF16Overflowed(engine: Engine, precision: ActivationStorage): Promise<void> {
  const warning = precision === 'f16' ? await f16OverflowWarning(engine) : null;
  if (warning) console.error(warning);
}

/** --precision of the inference commands (test, calibrate, predict). */
export const INFERENCE_PRECISION = { precision: opt.choiceFrom(ACTIVATION_STORAGES, EVALUATION.precision) };

/**
 * The annotators to average: the ones asked for, else every folder under AnnotationsByMD; a lone folder is refused
 * unless asked for, since the ISBI set has two and a missing one would silently change the targets.
 */
async function annotatorsOf(dir: string, asked: string | undefined): Promise<string[] | undefined> {
  if (asked) return asked.split(',').filter((a) => a !== '');
  const found = (await readdir(join(dir, ISBI_ANNOTATION_DIR), { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory()).map((e) => e.name);
  if (found.length === 1) {
    throw new UsageError(
      `${join(dir, ISBI_ANNOTATION_DIR)} has one annotator folder (${found[0]}); the ISBI 2015 set has two (400_junior, 400_senior) and the ` +
        `targets are their mean. Restore the missing one, or pass --annotators ${found[0]} to use that one alone.`,
    );
  }
  return undefined;
}

/** One split of an ISBI-layout folder at the network's input size, with a progress bar. Writes nothing into it. */
export async function loadSplit(dir: string, split: IsbiSplit, size: InputSize, data: DataChoice, landmarks?: number): Promise<IsbiSample[]> {
  if (!existsSync(dir)) throw new UsageError(`--data ${dir} does not exist (make a synthetic set with: chh synth --out ${dir})`);
  const bar = new ProgressBar(1, `load ${split}`);
  const cache = await imageCacheFor(dir, { dir: data.cache, off: data['no-cache'] });
  return loadIsbiSplit(nodeFolder(dir), split, {
    ...size,
    landmarks,
    annotators: await annotatorsOf(dir, data.annotators),
    cache: cache ?? undefined,
    onWarning: (m) => console.warn(`warning: ${m}`),
    onProgress: (done, total) => {
      bar.total = total;
      bar.update(done);
    },
  });
}

/** The output folder, with the temporary files of killed runs removed. */
export async function outputFolder(dir: string): Promise<string> {
  const stale = await cleanStaleTemps(dir);
  if (stale.length > 0) console.log(`removed ${stale.length} temporary file${stale.length === 1 ? '' : 's'} a killed run left in ${dir}`);
  return dir;
}

/** Refuses, before anything runs, a model whose buffers the adapter cannot hold at this size and batch. */
export function checkFits(engine: Engine, config: UnetConfig, size: InputSize, batch: number): void {
  try {
    checkModelFits(engine, config, size.width, size.height, batch);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A file an option names: its bytes, with errors that name the option and the path. */
export async function readNamedFile(option: string, file: string): Promise<Uint8Array> {
  const s = await stat(file).catch(() => null);
  if (!s) throw new UsageError(`${option} ${file} does not exist`);
  if (!s.isFile()) throw new UsageError(`${option} ${file} is ${s.isDirectory() ? 'a directory' : 'not a regular file'}, not a file`);
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new Error(`${option} ${file}: cannot read it (${(e as Error).message})`);
  }
}

/** The weights file's bytes, with a clear error when it is missing, a directory or unreadable. */
export function readWeights(file: string): Promise<Uint8Array> {
  return readNamedFile('--weights', file);
}

const paperSize = PREDICTION.inputSize.default;
/** The help of --size where the weights usually say it. */
export const SIZE_FROM_WEIGHTS_HELP = `image size WxH (default: the size stored in the weights, else ${paperSize.width}x${paperSize.height})`;

/** --size when given, else the input size stored in the weights (ours), else the paper's. */
export function sizeFor(size: InputSize | undefined, weights: Uint8Array, file: string): InputSize {
  if (size) return size;
  try {
    return weightsInputSize(weights) ?? { ...PREDICTION.inputSize.default };
  } catch (e) {
    throw new UsageError(`--weights ${file}: ${(e as Error).message}`);
  }
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

/** results.json, the overlays as PNG files and report.html of an evaluation, each written atomically. */
export async function writeEvaluation(out: string, evaluation: EvaluationResult, samples: readonly IsbiSample[], calibration: CalibrateResult | null, notes: string[], precision: string): Promise<void> {
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify({ precision, ...evaluation }, null, 1));
  const report = reportStep(evaluation, calibration, samples, { notes, compress });
  for (const o of report.overlays) if (o.png instanceof Uint8Array) await writeFileAtomic(join(out, `overlay-${o.id}.png`), o.png);
  await writeFileAtomic(join(out, 'report.html'), report.html);
}
