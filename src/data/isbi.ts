// The ISBI 2015 cephalometric dataset, laid out and preprocessed as the reference code (jfm15/ContourHuggingHeatmaps,
// landmark_dataset.py) reads it:
//
//   RawImage/{TrainingData,Test1Data,Test2Data}/NNN.bmp      1935x2400 8-bit gray BMPs, 0.1 mm pixels
//   AnnotationsByMD/{400_junior,400_senior}/NNN.txt          19 lines "x,y" (original pixels), then lines to ignore
//
// Each image is padded right/bottom to the target aspect ratio and downscaled to the target size (default 640x800,
// the reference's CACHED_IMAGE_SIZE) by area averaging, then rounded to 8 bits like the reference's PNG cache; see
// resize.ts for the coordinate convention and the padding/resampling choices. Landmarks are scaled the same way
// (x / scale); the pixel size is originalPixelSizeMm * scale on both axes; the target is the mean of the
// annotators, all of which are kept. Images stay 0-255 (not normalised): the reference feeds 0-255 to the network.
//
// Guarantees: loadIsbiSplit loads and validates everything up front (eager). When it resolves, every returned
// sample is complete and valid, so training never meets an I/O or parse error mid-epoch. A corrupt BMP, a missing
// annotation file, a line that is not "x,y" or a landmark outside the image rejects with an IsbiDataError naming
// the file (and the line); with skipBad the image is skipped instead and the same message goes to onWarning.
// Missing dataset folders always reject. Resized images go through an optional ImageCache keyed by the file's
// path, size and mtime (or a content hash when the source has no stat) and the target size, so a second load does
// not decode any BMP.
//
// Browser and Node: everything here works over the FileSource interface (src/io/files.ts, with MemoryFileSystem over
// in-memory bytes and fileListSource over browser File objects); src/node/files.ts implements it over fs. The image
// cache and its key are in image-cache.ts.
import { BmpError, decodeBmp } from '../io/bmp.ts';
import { joinPath, type FileEntry, type FileSource } from '../io/files.ts';
import { cacheKey, type CachedImage, type ImageCache } from './image-cache.ts';
import { padAndResize, padResizePlan, toBytes } from './resize.ts';

export type IsbiSplit = 'train' | 'test1' | 'test2';

export const ISBI_SPLIT_DIRS: Record<IsbiSplit, string> = {
  train: 'RawImage/TrainingData',
  test1: 'RawImage/Test1Data',
  test2: 'RawImage/Test2Data',
};
export const ISBI_ANNOTATION_DIR = 'AnnotationsByMD';
/** Optional file at the dataset root: {"pixelSizeMm": number} (the synthetic set writes it). */
export const DATASET_META_FILE = 'chh-dataset.json';
export const ISBI_PIXEL_SIZE_MM = 0.1;
export const ISBI_LANDMARKS = 19;

export const ISBI_LANDMARK_NAMES = [
  'sella',
  'nasion',
  'orbitale',
  'porion',
  'subspinale (A point)',
  'supramentale (B point)',
  'pogonion',
  'menton',
  'gnathion',
  'gonion',
  'lower incisal incision',
  'upper incisal incision',
  'upper lip',
  'lower lip',
  'subnasale',
  'soft tissue pogonion',
  'posterior nasal spine',
  'anterior nasal spine',
  'articulare',
] as const;

export interface IsbiSample {
  /** File name without extension, e.g. "001". */
  id: string;
  split: IsbiSplit;
  /** height * width gray levels 0-255 (integers, not normalised), rows top to bottom. */
  image: Float32Array;
  width: number;
  height: number;
  /** L * 2: (x, y) per landmark in resized pixels, the mean of the annotators. */
  landmarks: Float32Array;
  /** One L * 2 array per annotator, in resized pixels, in the order of annotatorNames. */
  annotators: Float32Array[];
  annotatorNames: string[];
  /** Millimetres per resized pixel, [x, y]. */
  pixelSizeMm: [number, number];
  /** Original pixels per resized pixel (both axes). */
  scale: number;
  originalSize: { width: number; height: number };
}

export interface IsbiLoadStats {
  /** BMPs decoded and resized (cache misses). */
  decoded: number;
  /** Images taken from the cache. */
  cacheHits: number;
  /** Images skipped (skipBad). */
  skipped: { id: string; message: string }[];
}

export interface IsbiLoadOptions {
  /** Target width (default 640). */
  width?: number;
  /** Target height (default 800). */
  height?: number;
  /** Landmarks read from each annotation file (default: chh-dataset.json's count, else 19); later lines are ignored. */
  landmarks?: number;
  /** Annotator folders under AnnotationsByMD; default: all of its sub-folders, sorted (as the reference). */
  annotators?: string[];
  /** Original pixel size in mm; default: pixelSizeMm from chh-dataset.json at the root if present, else 0.1. */
  originalPixelSizeMm?: number;
  /** Skip images with a problem (with a warning) instead of rejecting. */
  skipBad?: boolean;
  onWarning?: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
  cache?: ImageCache;
  /** Filled in with counts (decoded, cache hits, skipped). */
  stats?: IsbiLoadStats;
}

export class IsbiDataError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  constructor(file: string, message: string, line?: number) {
    super(line === undefined ? `${file}: ${message}` : `${file} line ${line}: ${message}`);
    this.name = 'IsbiDataError';
    this.file = file;
    this.line = line;
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses the first `count` non-blank lines of an annotation file as "x,y" (blank lines are skipped and later lines
 * ignored, like numpy.loadtxt(delimiter=",", max_rows=count)). Returns count * 2 numbers in original pixels.
 */
export function parseAnnotation(text: string, count: number, file = '<annotation>'): { points: Float64Array; lines: number[] } {
  const rows = text.split(/\r\n|\n|\r/);
  const points = new Float64Array(count * 2);
  const lines: number[] = [];
  let k = 0;
  for (let i = 0; i < rows.length && k < count; i++) {
    const raw = rows[i].trim();
    if (raw === '') continue;
    const parts = raw.split(',');
    const x = parts[0]?.trim() ?? '';
    const y = parts[1]?.trim() ?? '';
    if (parts.length !== 2 || !NUMBER.test(x) || !NUMBER.test(y)) {
      throw new IsbiDataError(file, `expected "x,y" (landmark ${k + 1} of ${count}), got ${JSON.stringify(clip(rows[i]))}`, i + 1);
    }
    points[2 * k] = Number(x);
    points[2 * k + 1] = Number(y);
    lines.push(i + 1);
    k++;
  }
  if (k < count) {
    throw new IsbiDataError(file, `has ${k} landmark line(s), expected ${count}`);
  }
  return { points, lines };
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

async function listOrThrow(source: FileSource, dir: string, what: string): Promise<FileEntry[]> {
  try {
    return await source.list(dir);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new IsbiDataError(describe(source, dir), `${what} not found or not readable (${reason})`);
  }
}

function describe(source: FileSource, path: string): string {
  return source.describe ? source.describe(path) : path;
}

/** What chh-dataset.json at the dataset root says (written by the synthetic generator; absent in the ISBI set). */
async function readDatasetMeta(source: FileSource): Promise<{ pixelSizeMm?: number; landmarks?: number }> {
  let entries: FileEntry[];
  try {
    entries = await source.list('');
  } catch {
    return {};
  }
  if (!entries.some((e) => e.name === DATASET_META_FILE && e.kind === 'file')) return {};
  const text = new TextDecoder().decode(await source.read(DATASET_META_FILE));
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (e) {
    throw new IsbiDataError(describe(source, DATASET_META_FILE), `invalid JSON (${(e as Error).message})`);
  }
  const { pixelSizeMm, landmarks } = (meta ?? {}) as { pixelSizeMm?: unknown; landmarks?: unknown };
  if (pixelSizeMm !== undefined && (typeof pixelSizeMm !== 'number' || !(pixelSizeMm > 0))) {
    throw new IsbiDataError(describe(source, DATASET_META_FILE), `pixelSizeMm must be a positive number, got ${JSON.stringify(pixelSizeMm)}`);
  }
  if (landmarks !== undefined && (typeof landmarks !== 'number' || !Number.isInteger(landmarks) || landmarks <= 0)) {
    throw new IsbiDataError(describe(source, DATASET_META_FILE), `landmarks must be a positive integer, got ${JSON.stringify(landmarks)}`);
  }
  return { pixelSizeMm, landmarks };
}

/** The image ids (file names without .bmp, sorted) of a split. */
export async function listIsbiSplit(source: FileSource, split: IsbiSplit): Promise<string[]> {
  const dir = ISBI_SPLIT_DIRS[split];
  const entries = await listOrThrow(source, dir, `image folder for split "${split}"`);
  return entries
    .filter((e) => e.kind === 'file' && /\.bmp$/i.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((n) => n.replace(/\.bmp$/i, ''));
}

/** Decodes, pads and resizes one BMP to width x height (rounded to 8 bits). */
export function preprocessBmp(bytes: Uint8Array, file: string, width: number, height: number): CachedImage {
  const img = decodeBmp(bytes, file);
  const { data, plan } = padAndResize(img.data, img.width, img.height, width, height);
  return { width, height, originalWidth: img.width, originalHeight: img.height, scale: plan.scale, pixels: toBytes(data) };
}

/** What loading one image of a split needs besides its id (fixed for the whole split). */
interface SplitContext {
  source: FileSource;
  split: IsbiSplit;
  annotatorNames: string[];
  /** Per annotator, the file names in its folder. */
  annotatorFiles: Set<string>[];
  width: number;
  height: number;
  /** Landmarks per annotation file. */
  count: number;
  /** Original pixel size in mm. */
  pixelSizeMm: number;
  cache: ImageCache | undefined;
  stats: IsbiLoadStats;
}

/** One annotator's landmarks of one image, in original pixels, with the lines they came from. */
interface RawAnnotation {
  points: Float64Array;
  lines: number[];
  file: string;
}

/** Loads, preprocesses and validates every image of a split (see the file header for the guarantees). */
export async function loadIsbiSplit(source: FileSource, split: IsbiSplit, options: IsbiLoadOptions = {}): Promise<IsbiSample[]> {
  const width = options.width ?? 640;
  const height = options.height ?? 800;
  const meta = await readDatasetMeta(source);
  const count = options.landmarks ?? meta.landmarks ?? ISBI_LANDMARKS;
  padResizePlan(1, 1, width, height); // validates width/height
  if (!Number.isInteger(count) || count <= 0) throw new Error(`loadIsbiSplit: landmarks must be a positive integer, got ${count}`);
  const stats = options.stats ?? { decoded: 0, cacheHits: 0, skipped: [] };
  const pixelSizeMm = options.originalPixelSizeMm ?? meta.pixelSizeMm ?? ISBI_PIXEL_SIZE_MM;

  const ids = await listIsbiSplit(source, split);
  if (ids.length === 0) {
    throw new IsbiDataError(describe(source, ISBI_SPLIT_DIRS[split]), `no .bmp images for split "${split}"`);
  }
  const annotatorNames = options.annotators ?? (await listAnnotators(source));
  const annotatorFiles = await listAnnotationFiles(source, annotatorNames);
  const context: SplitContext = {
    source, split, annotatorNames, annotatorFiles, width, height, count, pixelSizeMm, cache: options.cache, stats,
  };

  const samples: IsbiSample[] = [];
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    try {
      samples.push(await loadOne(context, id));
    } catch (e) {
      if (!(e instanceof IsbiDataError) && !(e instanceof BmpError)) throw e;
      if (!options.skipBad) throw e;
      stats.skipped.push({ id, message: e.message });
      options.onWarning?.(`skipping image ${id} of split "${split}": ${e.message}`);
    }
    options.onProgress?.(n + 1, ids.length);
  }
  if (samples.length === 0) {
    throw new IsbiDataError(describe(source, ISBI_SPLIT_DIRS[split]), `all ${ids.length} image(s) of split "${split}" were skipped`);
  }
  return samples;
}

/** The annotator folders under AnnotationsByMD, sorted (as the reference). */
async function listAnnotators(source: FileSource): Promise<string[]> {
  const entries = await listOrThrow(source, ISBI_ANNOTATION_DIR, 'annotation folder');
  const names = entries.filter((e) => e.kind === 'directory').map((e) => e.name).sort();
  if (names.length === 0) {
    throw new IsbiDataError(describe(source, ISBI_ANNOTATION_DIR), 'has no annotator sub-folders (e.g. 400_junior, 400_senior)');
  }
  return names;
}

/** Per annotator, the names of the files in its folder. */
async function listAnnotationFiles(source: FileSource, annotatorNames: string[]): Promise<Set<string>[]> {
  const files: Set<string>[] = [];
  for (const name of annotatorNames) {
    const entries = await listOrThrow(source, joinPath(ISBI_ANNOTATION_DIR, name), `annotation folder of "${name}"`);
    files.push(new Set(entries.filter((e) => e.kind === 'file').map((e) => e.name)));
  }
  return files;
}

async function loadOne(context: SplitContext, id: string): Promise<IsbiSample> {
  const { source, split, width, height, pixelSizeMm } = context;
  // Annotations first: cheap, and a missing one should not cost a decode.
  const raw = await readAnnotations(context, id);
  const imagePath = joinPath(ISBI_SPLIT_DIRS[split], `${id}.bmp`);
  const imageFile = describe(source, imagePath);
  const cached = await loadImage(context, imagePath, imageFile);
  const { annotators, mean } = scaleAnnotations(raw, cached, imageFile, context.count);
  const { originalWidth, originalHeight, scale } = cached;
  const image = new Float32Array(cached.pixels.length);
  for (let i = 0; i < image.length; i++) image[i] = cached.pixels[i];
  return {
    id,
    split,
    image,
    width,
    height,
    landmarks: mean,
    annotators,
    annotatorNames: [...context.annotatorNames],
    pixelSizeMm: [pixelSizeMm * scale, pixelSizeMm * scale],
    scale,
    originalSize: { width: originalWidth, height: originalHeight },
  };
}

/** Reads and parses the annotation file of image `id` of every annotator (rejects if one is missing or bad). */
async function readAnnotations(context: SplitContext, id: string): Promise<RawAnnotation[]> {
  const { source, annotatorNames, annotatorFiles, count } = context;
  const raw: RawAnnotation[] = [];
  for (let a = 0; a < annotatorNames.length; a++) {
    const path = joinPath(ISBI_ANNOTATION_DIR, annotatorNames[a], `${id}.txt`);
    const file = describe(source, path);
    if (!annotatorFiles[a].has(`${id}.txt`)) throw new IsbiDataError(file, 'annotation file is missing');
    let text: string;
    try {
      text = new TextDecoder().decode(await source.read(path));
    } catch (e) {
      throw new IsbiDataError(file, `cannot read annotation file (${e instanceof Error ? e.message : String(e)})`);
    }
    raw.push({ ...parseAnnotation(text, count, file), file });
  }
  return raw;
}

/** The preprocessed image, from the cache if it holds a usable one, else decoded (and then cached). */
async function loadImage(context: SplitContext, imagePath: string, imageFile: string): Promise<CachedImage> {
  const { source, width, height, cache, stats } = context;
  let cached: CachedImage | undefined;
  let key: string | undefined;
  let bytes: Uint8Array | undefined;
  if (cache) {
    const k = await cacheKey(source, imagePath, width, height);
    key = k.key;
    bytes = k.bytes;
    cached = await cache.get(key);
    if (cached && (cached.width !== width || cached.height !== height || cached.pixels.length !== width * height)) cached = undefined;
  }
  if (cached) {
    stats.cacheHits++;
    return cached;
  }
  bytes ??= await source.read(imagePath);
  const image = preprocessBmp(bytes, imageFile, width, height);
  stats.decoded++;
  if (cache && key) await cache.set(key, image);
  return image;
}

/**
 * Checks that every landmark lies inside the original image and scales the annotations to resized pixels: one
 * array per annotator and their mean.
 */
function scaleAnnotations(
  raw: RawAnnotation[],
  image: CachedImage,
  imageFile: string,
  count: number,
): { annotators: Float32Array[]; mean: Float32Array } {
  const { originalWidth, originalHeight, scale } = image;
  const annotators: Float32Array[] = [];
  const sum = new Float64Array(count * 2);
  for (const r of raw) {
    const pts = new Float32Array(count * 2);
    for (let k = 0; k < count; k++) {
      const x = r.points[2 * k];
      const y = r.points[2 * k + 1];
      if (!(x >= 0 && x < originalWidth && y >= 0 && y < originalHeight)) {
        throw new IsbiDataError(
          r.file,
          `landmark ${k + 1} (${x}, ${y}) is outside the ${originalWidth}x${originalHeight} image ${imageFile}`,
          r.lines[k],
        );
      }
      pts[2 * k] = x / scale;
      pts[2 * k + 1] = y / scale;
      sum[2 * k] += x / scale;
      sum[2 * k + 1] += y / scale;
    }
    annotators.push(pts);
  }
  const mean = new Float32Array(count * 2);
  for (let i = 0; i < mean.length; i++) mean[i] = sum[i] / raw.length;
  return { annotators, mean };
}
