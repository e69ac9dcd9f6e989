// A synthetic cephalometric dataset: lateral-skull-X-ray-like grayscale images with landmarks ON smooth anatomical
// contours, deterministic from a seed, no downloads. Pure TypeScript (browser and Node). docs/synthetic.md describes
// every effect (the README shows pictures); every parameter is in params.ts.
//
// Each image is drawn from contours of a skull in the 1935x2400 ISBI frame, face to the right (anatomy.ts), jittered
// per image; shape modes change its proportions (modes.ts); the head is posed at random; bilateral structures get a
// far side (bilateral.ts); it is rendered like an X-ray (render.ts: fills, cortical strokes, occluders.ts: metal and
// rulers, quality.ts: blur, scatter, collimation, exposure and noise).
//
// The 19 landmarks follow the ISBI 2015 definitions' spirit (order and names of ISBI_LANDMARK_NAMES) and lie on the
// contours by construction; two simulated annotators click with per-landmark noise, midway between the near and far
// side on bilateral landmarks, and now and then grossly wrong (landmarks.ts).
//
// Deterministic: the same (seed, image number, size) gives the same image and landmarks in any JS engine whose
// Math.exp/sin/cos agree (V8 in Node and Chromium do); landmarks depend only on the seed and the image number.
import { encodeBmpGray8 } from '../../io/bmp.ts';
import { MemoryFileSystem, joinPath, type FileSink } from '../../io/files.ts';
import { DATASET_META_FILE, ISBI_ANNOTATION_DIR, ISBI_LANDMARKS, ISBI_SPLIT_DIRS, loadIsbiSplit } from '../isbi.ts';
import type { IsbiLoadOptions, IsbiSample, IsbiSplit } from '../isbi.ts';
import { Rng, imageSeed } from '../../engine/random.ts';
import { REFERENCE_HEIGHT, REFERENCE_WIDTH, applyPose, buildAnatomy, drawPose, keepInside, sampleCurves } from './anatomy.ts';
import { farSides } from './bilateral.ts';
import type { Curve } from './geometry.ts';
import { annotate, landmarkRules, locate } from './landmarks.ts';
import type { Clicks } from './landmarks.ts';
import { applyShapeModes, drawShapeModes } from './modes.ts';
import type { ShapeModes } from './modes.ts';
import type { Occluders } from './occluders.ts';
import { drawQuality } from './quality.ts';
import type { Quality } from './quality.ts';
import { renderImage } from './render.ts';

export { REFERENCE_HEIGHT, REFERENCE_WIDTH } from './anatomy.ts';
export const SYNTHETIC_ANNOTATORS = ['400_junior', '400_senior'] as const;

// ---------------------------------------------------------------------------------------------------------------
// One image

export interface SyntheticOptions {
  /** Image width in pixels (default 1935, the ISBI width); geometry scales with it. */
  width?: number;
  /** Image height (default round(width * 2400 / 1935)). */
  height?: number;
  /** Landmarks per image (default 19, the ISBI set; more are added along contours). */
  landmarks?: number;
}

export interface SyntheticCase {
  width: number;
  height: number;
  /** width * height gray levels, rows top to bottom. */
  pixels: Uint8Array;
  /** L * 2 landmark positions (original pixels) exactly on the generating contours. */
  truth: Float32Array;
  /** Two simulated annotators, L * 2 each (original pixels, rounded to 0.01). */
  annotators: [Float32Array, Float32Array];
  /** How each annotator's clicks were made (between the near and far side; gross slips). */
  clicks: [Clicks, Clicks];
  /** Per landmark, what the annotators' noise was multiplied by on this image (clickNoiseFactor of its quality). */
  clickNoiseFactor: Float32Array;
  /** Name of the contour each landmark lies on. */
  landmarkCurves: string[];
  /**
   * The generating contours, densely sampled (about 1 pixel apart): x0, y0, x1, y1, ... in original pixels; the far
   * sides of bilateral structures (farEar, farOrbit, farMandible) follow, sample for sample with their near side.
   */
  curves: { name: string; closed: boolean; points: Float32Array }[];
  /** Millimetres per original pixel: 0.1 * 1935 / width. */
  pixelSizeMm: number;
  /** What this image was drawn with (params.ts says what each is). */
  effects: SyntheticEffects;
}

export interface SyntheticEffects {
  shape: ShapeModes;
  tiltDeg: number;
  headScale: number;
  yawDeg: number;
  rollDeg: number;
  quality: Omit<Quality, 'field'>;
  occluders: Occluders;
}

/** The options' image size and landmark count, defaults filled in. */
function resolveSize(options: SyntheticOptions): { width: number; height: number; landmarks: number } {
  const width = options.width ?? REFERENCE_WIDTH;
  return {
    width,
    height: options.height ?? Math.round((width * REFERENCE_HEIGHT) / REFERENCE_WIDTH),
    landmarks: options.landmarks ?? ISBI_LANDMARKS,
  };
}

/** Generates one image, deterministic from (seed, index) and the size. */
export function generateSyntheticCase(seed: number, index: number, options: SyntheticOptions = {}): SyntheticCase {
  const { width: W, height: H, landmarks: L } = resolveSize(options);
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 32 || H < 32) throw new Error(`synthetic: invalid size ${W}x${H}`);
  if (!Number.isInteger(L) || L <= 0) throw new Error(`synthetic: invalid landmark count ${L}`);
  // One stream for the whole image, drawn in this order: anatomy, shape modes, pose, far sides, image quality,
  // annotators, rendering.
  const rng = new Rng(imageSeed(seed, index));
  const specs = buildAnatomy(rng);
  const shape = drawShapeModes(rng);
  applyShapeModes(specs, shape);
  const pose = drawPose(rng, W, H);
  applyPose(specs, pose);
  const curves = sampleCurves(specs);
  // All 19 ISBI landmarks are located whatever L (some rules start from others) and kept inside the image, so the
  // first L landmarks of any count are the same points (the pixels differ: the annotators' draws come first).
  const all = locate(landmarkRules(Math.max(L, ISBI_LANDMARKS)), curves, pose.forward, pose.down, shape.mouthOpen);
  keepInside(curves, pose, all.slice(0, ISBI_LANDMARKS), W, H);
  const located = all.slice(0, L);
  const far = farSides(curves, pose, rng);
  const pixelSizeMm = (0.1 * REFERENCE_WIDTH) / W;
  const quality = drawQuality(rng, W);
  const { truth, annotators, clicks, noiseFactor } = annotate(located, far.curves, quality, rng, W, H, pixelSizeMm);
  const { pixels, occluders } = renderImage(curves, far, pose, quality, W, H, rng);
  const { field: _field, ...qualityDrawn } = quality;
  const effects: SyntheticEffects = {
    shape,
    tiltDeg: (Math.atan2(pose.sin, pose.cos) * 180) / Math.PI,
    headScale: Math.hypot(pose.cos, pose.sin),
    yawDeg: far.yawDeg,
    rollDeg: far.rollDeg,
    quality: qualityDrawn,
    occluders,
  };
  return {
    width: W,
    height: H,
    pixels,
    truth,
    annotators,
    clicks,
    clickNoiseFactor: noiseFactor,
    landmarkCurves: located.map((l) => l.curve.name),
    curves: curvePoints([...curves.values(), ...far.curves.values()]),
    pixelSizeMm,
    effects,
  };
}

function curvePoints(curves: Curve[]): SyntheticCase['curves'] {
  return curves.map((c) => {
    const points = new Float32Array(c.xs.length * 2);
    for (let i = 0; i < c.xs.length; i++) {
      points[2 * i] = c.xs[i];
      points[2 * i + 1] = c.ys[i];
    }
    return { name: c.name, closed: c.closed, points };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// A dataset in the ISBI layout

export interface SyntheticDatasetOptions extends SyntheticOptions {
  /** Images per split (default: ISBI's 150 / 150 / 100). */
  counts?: Partial<Record<IsbiSplit, number>>;
  /** Default 0. */
  seed?: number;
  /** Called after each image is written (the whole set at ISBI's width takes minutes). */
  onProgress?: (done: number, total: number) => void;
}

export interface SyntheticDatasetSummary {
  width: number;
  height: number;
  landmarks: number;
  /** Millimetres per original pixel (also written to chh-dataset.json, which loadIsbiSplit reads). */
  pixelSizeMm: number;
  ids: Record<IsbiSplit, string[]>;
}

const SPLITS: IsbiSplit[] = ['train', 'test1', 'test2'];
const DEFAULT_COUNTS: Record<IsbiSplit, number> = { train: 150, test1: 150, test2: 100 };

/** Image ids per split: numbered from 001 across the splits in order train, test1, test2 (like ISBI). */
export function syntheticIds(counts: Partial<Record<IsbiSplit, number>> = {}): Record<IsbiSplit, string[]> {
  const ids = { train: [], test1: [], test2: [] } as Record<IsbiSplit, string[]>;
  let n = 0;
  const total = SPLITS.reduce((s, sp) => s + (counts[sp] ?? DEFAULT_COUNTS[sp]), 0);
  const digits = Math.max(3, String(total).length);
  for (const split of SPLITS) {
    const count = counts[split] ?? DEFAULT_COUNTS[split];
    if (!Number.isInteger(count) || count < 0) throw new Error(`synthetic: invalid count ${count} for split ${split}`);
    for (let i = 0; i < count; i++) ids[split].push(String(++n).padStart(digits, '0'));
  }
  return ids;
}

function annotationText(points: Float32Array, extra: number[]): string {
  const lines: string[] = [];
  for (let i = 0; i < points.length; i += 2) lines.push(`${fmt(points[i])},${fmt(points[i + 1])}`);
  for (const e of extra) lines.push(String(e));
  return `${lines.join('\r\n')}\r\n`;
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

interface ResolvedOptions {
  seed: number;
  width: number;
  height: number;
  landmarks: number;
  pixelSizeMm: number;
  counts: Record<IsbiSplit, number>;
}

function resolve(options: SyntheticDatasetOptions): ResolvedOptions {
  const size = resolveSize(options);
  return {
    seed: options.seed ?? 0,
    ...size,
    pixelSizeMm: (0.1 * REFERENCE_WIDTH) / size.width,
    counts: { ...DEFAULT_COUNTS, ...options.counts },
  };
}

async function writeSplit(sink: FileSink, split: IsbiSplit, ids: string[], o: ResolvedOptions, written?: () => void): Promise<void> {
  const encoder = new TextEncoder();
  for (const id of ids) {
    const c = generateSyntheticCase(o.seed, Number(id), o);
    await sink.write(joinPath(ISBI_SPLIT_DIRS[split], `${id}.bmp`), encodeBmpGray8({ width: o.width, height: o.height, data: c.pixels }));
    const extra = Array.from({ length: 8 }, (_, i) => 1 + ((Number(id) * 7 + i * 3) % 3));
    for (let a = 0; a < SYNTHETIC_ANNOTATORS.length; a++) {
      const path = joinPath(ISBI_ANNOTATION_DIR, SYNTHETIC_ANNOTATORS[a], `${id}.txt`);
      await sink.write(path, encoder.encode(annotationText(c.annotators[a], extra)));
    }
    written?.();
  }
}

async function writeMeta(sink: FileSink, o: ResolvedOptions, ids: Record<IsbiSplit, string[]>): Promise<void> {
  const meta = {
    pixelSizeMm: o.pixelSizeMm,
    generator: 'chh-webgpu synthetic cephalograms',
    seed: o.seed,
    width: o.width,
    height: o.height,
    landmarks: o.landmarks,
    counts: Object.fromEntries(SPLITS.map((s) => [s, ids[s].length])),
  };
  await sink.write(DATASET_META_FILE, new TextEncoder().encode(`${JSON.stringify(meta, null, 2)}\n`));
}

/**
 * Writes the set through a FileSink in the ISBI layout: RawImage/<split dir>/NNN.bmp (8-bit gray), and
 * AnnotationsByMD/{400_junior,400_senior}/NNN.txt (L lines "x,y" then 8 lines of integers to ignore, like the ISBI
 * files), plus chh-dataset.json with the pixel size (read by loadIsbiSplit). Image NNN is generated from
 * (seed, NNN) alone, so a split's images do not depend on the other splits' counts.
 */
export async function writeSyntheticDataset(sink: FileSink, options: SyntheticDatasetOptions = {}): Promise<SyntheticDatasetSummary> {
  const o = resolve(options);
  const ids = syntheticIds(o.counts);
  const total = SPLITS.reduce((n, split) => n + ids[split].length, 0);
  let done = 0;
  for (const split of SPLITS) await writeSplit(sink, split, ids[split], o, () => options.onProgress?.(++done, total));
  await writeMeta(sink, o, ids);
  return { width: o.width, height: o.height, landmarks: o.landmarks, pixelSizeMm: o.pixelSizeMm, ids };
}

/** The synthetic set as an in-memory ISBI folder tree (for the browser, or tests without disk). */
export async function syntheticIsbiSource(options: SyntheticDatasetOptions = {}): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem('synthetic:');
  await writeSyntheticDataset(fs, options);
  return fs;
}

/**
 * One split of the synthetic set as loaded samples, without disk: the same samples loadIsbiSplit gives on the
 * written set (it is that loader, run over an in-memory copy of this split's files).
 */
export async function loadSyntheticSplit(
  split: IsbiSplit,
  options: SyntheticDatasetOptions = {},
  load: Omit<IsbiLoadOptions, 'landmarks'> = {},
): Promise<IsbiSample[]> {
  const o = resolve(options);
  const ids = syntheticIds(o.counts);
  const fs = new MemoryFileSystem('synthetic:');
  await writeSplit(fs, split, ids[split], o);
  await writeMeta(fs, o, ids);
  return loadIsbiSplit(fs, split, { ...load, landmarks: o.landmarks });
}
