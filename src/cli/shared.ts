// What the commands share: the engine in Node, a split of an ISBI folder with a progress bar, weights files with
// clear errors, the input size a command runs at, and the evaluation's summary and files.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { Engine } from '../engine/engine.ts';
import { weightsInputSize, type InputSize } from '../io/weights.ts';
import { loadIsbiSplit, type IsbiSample, type IsbiSplit } from '../data/isbi.ts';
import { PREDICTION } from '../chh/config.ts';
import type { CalibrateResult } from '../chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { reportStep } from '../pipeline/steps.ts';
import { nodeFolder, NodeFolderImageCache } from '../node/files.ts';
import { ProgressBar } from '../node/progress.ts';
import { writeFileAtomic } from '../node/atomic.ts';
import { UsageError } from './options.ts';

export const compress = (raw: Uint8Array): Uint8Array => new Uint8Array(deflateSync(raw));

/** The value of a required option. */
export function required<T>(name: string, v: T | undefined): T {
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export async function createEngine(): Promise<Engine> {
  const engine = await Engine.create({ runtime: 'node' });
  const a = engine.adapter;
  console.log(`WebGPU adapter: ${a.vendor} ${a.architecture} ${a.description}${a.isFallbackAdapter ? ' (CPU fallback: expect it to be slow)' : ''}`);
  return engine;
}

/** One split of an ISBI-layout folder at the network's input size, with a progress bar. */
export async function loadSplit(dir: string, split: IsbiSplit, size: InputSize, landmarks?: number): Promise<IsbiSample[]> {
  if (!existsSync(dir)) throw new UsageError(`--data ${dir} does not exist (make a synthetic set with: chh synth --out ${dir})`);
  const bar = new ProgressBar(1, `load ${split}`);
  return loadIsbiSplit(nodeFolder(dir), split, {
    ...size,
    landmarks,
    cache: new NodeFolderImageCache(join(dir, '.chh-cache')),
    onWarning: (m) => console.warn(`warning: ${m}`),
    onProgress: (done, total) => {
      bar.total = total;
      bar.update(done);
    },
  });
}

/** The weights file's bytes, with a clear error when it is missing. */
export async function readWeights(file: string): Promise<Uint8Array> {
  if (!existsSync(file)) throw new UsageError(`--weights ${file} does not exist`);
  return new Uint8Array(await readFile(file));
}

const paperSize = PREDICTION.inputSize.default;
/** The help of --size where the weights usually say it. */
export const SIZE_FROM_WEIGHTS_HELP = `image size WxH (default: the size stored in the weights, else ${paperSize.width}x${paperSize.height})`;

/** --size when given, else the input size stored in the weights (ours), else the paper's. */
export function sizeFor(size: InputSize | undefined, weights: Uint8Array): InputSize {
  return size ?? weightsInputSize(weights) ?? { ...PREDICTION.inputSize.default };
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
export async function writeEvaluation(out: string, evaluation: EvaluationResult, samples: readonly IsbiSample[], calibration: CalibrateResult | null, notes: string[]): Promise<void> {
  await writeFileAtomic(join(out, 'results.json'), JSON.stringify(evaluation, null, 1));
  const report = reportStep(evaluation, calibration, samples, { notes, compress });
  for (const o of report.overlays) if (o.png instanceof Uint8Array) await writeFileAtomic(join(out, `overlay-${o.id}.png`), o.png);
  await writeFileAtomic(join(out, 'report.html'), report.html);
}
