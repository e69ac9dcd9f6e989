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
// Browser and Node: everything here works over the FileSource interface; node-files.ts implements it over fs, and
// MemoryFileSystem below over in-memory bytes (e.g. the synthetic set generated in a browser). A browser
// implementation over File objects (webkitdirectory: webkitRelativePath, size, lastModified) or a
// FileSystemDirectoryHandle (entries() with kind, getFile()) fits the same interface.
import { BmpError, decodeBmp } from '../io/bmp.ts';
import { padAndResize, padResizePlan, toBytes } from './resize.ts';

// ---------------------------------------------------------------------------------------------------------------
// Files

export interface FileEntry {
  name: string;
  kind: 'file' | 'directory';
}

export interface FileStat {
  size: number;
  mtimeMs: number;
}

/** Read access to a folder tree. Paths are '/'-separated and relative to the tree's root ('' is the root). */
export interface FileSource {
  /** Entries of a directory; rejects if it does not exist. */
  list(dir: string): Promise<FileEntry[]>;
  /** A file's bytes; rejects if it does not exist. */
  read(path: string): Promise<Uint8Array>;
  /** Size and modification time, for cache keys; without it the cache is keyed by a content hash. */
  stat?(path: string): Promise<FileStat>;
  /** How to name a path in messages (e.g. the absolute path); default: the relative path. */
  describe?(path: string): string;
}

/** Write access to a folder tree (parents are created as needed). */
export interface FileSink {
  write(path: string, bytes: Uint8Array): Promise<void>;
}

/** An in-memory folder tree: a FileSource and a FileSink (browser, tests, the synthetic set without disk). */
export class MemoryFileSystem implements FileSource, FileSink {
  readonly files = new Map<string, { bytes: Uint8Array; mtimeMs: number }>();
  private clock = 0;

  constructor(private readonly label = 'memory:') {}

  async write(path: string, bytes: Uint8Array): Promise<void> {
    this.files.set(normalize(path), { bytes, mtimeMs: ++this.clock });
  }

  async read(path: string): Promise<Uint8Array> {
    const f = this.files.get(normalize(path));
    if (!f) throw new Error(`${this.describe(path)}: no such file`);
    return f.bytes;
  }

  async stat(path: string): Promise<FileStat> {
    const f = this.files.get(normalize(path));
    if (!f) throw new Error(`${this.describe(path)}: no such file`);
    return { size: f.bytes.length, mtimeMs: f.mtimeMs };
  }

  async list(dir: string): Promise<FileEntry[]> {
    const prefix = normalize(dir) === '' ? '' : `${normalize(dir)}/`;
    const seen = new Map<string, FileEntry>();
    for (const path of this.files.keys()) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      const name = slash < 0 ? rest : rest.slice(0, slash);
      if (!seen.has(name)) seen.set(name, { name, kind: slash < 0 ? 'file' : 'directory' });
    }
    if (seen.size === 0 && prefix !== '') throw new Error(`${this.describe(dir)}: no such directory`);
    return [...seen.values()];
  }

  describe(path: string): string {
    return `${this.label}${normalize(path)}`;
  }
}

/**
 * A FileSource over browser File objects, e.g. from <input type="file" webkitdirectory> (paths from
 * webkitRelativePath, else the name). The folder the user picked is the first path component of every file; it is
 * stripped when all files share it, so the tree's root is the dataset folder itself.
 */
export function fileListSource(files: Iterable<File>): FileSource {
  const all = [...files].map((f) => ({ file: f, path: normalize((f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name) }));
  const first = all[0]?.path.split('/')[0];
  const strip = first !== undefined && all.every((f) => f.path.startsWith(`${first}/`));
  const byPath = new Map<string, File>();
  for (const { file, path } of all) byPath.set(strip ? path.slice(first.length + 1) : path, file);
  const memory = new MemoryFileSystem('');
  for (const path of byPath.keys()) memory.files.set(path, { bytes: new Uint8Array(0), mtimeMs: 0 });
  const get = (path: string): File => {
    const f = byPath.get(normalize(path));
    if (!f) throw new Error(`${path}: no such file`);
    return f;
  };
  return {
    list: (dir) => memory.list(dir),
    read: async (path) => new Uint8Array(await get(path).arrayBuffer()),
    stat: async (path) => {
      const f = get(path);
      return { size: f.size, mtimeMs: f.lastModified };
    },
  };
}

function normalize(path: string): string {
  return path.split('/').filter((p) => p !== '' && p !== '.').join('/');
}

export function joinPath(...parts: string[]): string {
  return normalize(parts.join('/'));
}

// ---------------------------------------------------------------------------------------------------------------
// Cache

/** A preprocessed (padded, resized, 8-bit) image and what is needed to use it without the original. */
export interface CachedImage {
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
  /** Original pixels per resized pixel (both axes). */
  scale: number;
  /** width * height gray levels, rows top to bottom. */
  pixels: Uint8Array;
}

export interface ImageCache {
  get(key: string): Promise<CachedImage | undefined>;
  set(key: string, image: CachedImage): Promise<void>;
}

export class MemoryImageCache implements ImageCache {
  private readonly map = new Map<string, CachedImage>();
  async get(key: string): Promise<CachedImage | undefined> {
    return this.map.get(key);
  }
  async set(key: string, image: CachedImage): Promise<void> {
    this.map.set(key, image);
  }
  get size(): number {
    return this.map.size;
  }
}

/** 64-bit FNV-1a as 16 hex digits (two 32-bit lanes); used for content hashes and cache file names. */
export function fnv1a64(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i], 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ bytes[i] ^ (h1 >>> 24), 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** Bump when the preprocessing changes, so stale cache entries are not used. */
export const PREPROCESS_VERSION = 'pad-rb0+area+u8/v1';

// ---------------------------------------------------------------------------------------------------------------
// Loader

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

async function cacheKey(source: FileSource, path: string, width: number, height: number): Promise<{ key: string; bytes?: Uint8Array }> {
  const base = `${PREPROCESS_VERSION}|${width}x${height}|${path}`;
  if (source.stat) {
    const s = await source.stat(path);
    return { key: `${base}|size=${s.size}|mtime=${s.mtimeMs}` };
  }
  const bytes = await source.read(path);
  return { key: `${base}|size=${bytes.length}|fnv=${fnv1a64(bytes)}`, bytes };
}

/** Decodes, pads and resizes one BMP to width x height (rounded to 8 bits). */
export function preprocessBmp(bytes: Uint8Array, file: string, width: number, height: number): CachedImage {
  const img = decodeBmp(bytes, file);
  const { data, plan } = padAndResize(img.data, img.width, img.height, width, height);
  return { width, height, originalWidth: img.width, originalHeight: img.height, scale: plan.scale, pixels: toBytes(data) };
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
  let annotatorNames = options.annotators;
  if (!annotatorNames) {
    const entries = await listOrThrow(source, ISBI_ANNOTATION_DIR, 'annotation folder');
    annotatorNames = entries.filter((e) => e.kind === 'directory').map((e) => e.name).sort();
    if (annotatorNames.length === 0) {
      throw new IsbiDataError(describe(source, ISBI_ANNOTATION_DIR), 'has no annotator sub-folders (e.g. 400_junior, 400_senior)');
    }
  }
  const annotatorFiles: Set<string>[] = [];
  for (const name of annotatorNames) {
    const entries = await listOrThrow(source, joinPath(ISBI_ANNOTATION_DIR, name), `annotation folder of "${name}"`);
    annotatorFiles.push(new Set(entries.filter((e) => e.kind === 'file').map((e) => e.name)));
  }

  const samples: IsbiSample[] = [];
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    try {
      samples.push(await loadOne(source, split, id, annotatorNames, annotatorFiles, width, height, count, pixelSizeMm, options.cache, stats));
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

async function loadOne(
  source: FileSource,
  split: IsbiSplit,
  id: string,
  annotatorNames: string[],
  annotatorFiles: Set<string>[],
  width: number,
  height: number,
  count: number,
  pixelSizeMm: number,
  cache: ImageCache | undefined,
  stats: IsbiLoadStats,
): Promise<IsbiSample> {
  // Annotations first: cheap, and a missing one should not cost a decode.
  const raw: { points: Float64Array; lines: number[]; file: string }[] = [];
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

  const imagePath = joinPath(ISBI_SPLIT_DIRS[split], `${id}.bmp`);
  const imageFile = describe(source, imagePath);
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
  } else {
    bytes ??= await source.read(imagePath);
    cached = preprocessBmp(bytes, imageFile, width, height);
    stats.decoded++;
    if (cache && key) await cache.set(key, cached);
  }

  const { originalWidth, originalHeight, scale } = cached;
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
    annotatorNames: [...annotatorNames],
    pixelSizeMm: [pixelSizeMm * scale, pixelSizeMm * scale],
    scale,
    originalSize: { width: originalWidth, height: originalHeight },
  };
}
