import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBmpGray8 } from '../../src/io/bmp.ts';
import { IsbiDataError, loadIsbiSplit, parseAnnotation, type IsbiLoadStats } from '../../src/data/isbi.ts';
import { MemoryImageCache } from '../../src/data/image-cache.ts';
import { MemoryFileSystem, fileListSource, type FileSource } from '../../src/io/files.ts';
import { NodeFolderImageCache, nodeFolder } from '../../src/node/files.ts';
import { areaResize, padAndResize } from '../../src/data/resize.ts';

const W0 = 387;
const H0 = 480;
// Target 128x160: scale = max(387/128, 480/160) = 3.0234375, the same ratio as ISBI's 1935 -> 640.
const TW = 128;
const TH = 160;
const SCALE = 387 / 128;
const L = 19;

/** Landmark k of image n for annotator a (a = 0 junior, 1 senior): integers inside 387x480. */
function landmark(n: number, k: number, a: number): [number, number] {
  return [20 + ((n * 53 + k * 17) % 340) + 2 * a, 30 + ((n * 31 + k * 23) % 420) - 4 * a];
}

function annotationText(n: number, a: number): string {
  const lines: string[] = [];
  for (let k = 0; k < L; k++) lines.push(landmark(n, k, a).join(','));
  lines.push('1', '3', '2', '', '4'); // extra lines after the landmarks, as in ISBI's files
  return `${lines.join('\r\n')}\r\n`;
}

/** Image n: dark gradient background with a 255 block of 9x9 pixels centred on landmark 0 of annotator 0. */
function image(n: number): Uint8Array {
  const data = new Uint8Array(W0 * H0);
  for (let y = 0; y < H0; y++) for (let x = 0; x < W0; x++) data[y * W0 + x] = (x + y + n) % 50;
  const [lx, ly] = landmark(n, 0, 0);
  for (let y = ly - 4; y <= ly + 4; y++) for (let x = lx - 4; x <= lx + 4; x++) data[y * W0 + x] = 255;
  return encodeBmpGray8({ width: W0, height: H0, data });
}

async function writeDataset(write: (path: string, bytes: Uint8Array) => Promise<void>): Promise<void> {
  const enc = new TextEncoder();
  for (let n = 1; n <= 3; n++) {
    const id = String(n).padStart(3, '0');
    await write(`RawImage/TrainingData/${id}.bmp`, image(n));
    await write(`AnnotationsByMD/400_junior/${id}.txt`, enc.encode(annotationText(n, 0)));
    await write(`AnnotationsByMD/400_senior/${id}.txt`, enc.encode(annotationText(n, 1)));
  }
  await write('RawImage/Test1Data/151.bmp', image(151));
  await write('AnnotationsByMD/400_junior/151.txt', enc.encode(annotationText(151, 0)));
  await write('AnnotationsByMD/400_senior/151.txt', enc.encode(annotationText(151, 1)));
}

async function memoryDataset(): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  await writeDataset((p, b) => fs.write(p, b));
  return fs;
}

const opts = { width: TW, height: TH };

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chh-isbi-'));
  const folder = nodeFolder(join(dir, 'data'));
  await writeDataset((p, b) => folder.write(p, b));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ISBI loader', () => {
  it('pads, resizes and scales landmarks; pixel size; mean of the annotators', async () => {
    const samples = await loadIsbiSplit(nodeFolder(join(dir, 'data')), 'train', opts);
    expect(samples.map((s) => s.id)).toEqual(['001', '002', '003']);
    for (const [i, s] of samples.entries()) {
      const n = i + 1;
      expect(s.split).toBe('train');
      expect(s.width).toBe(TW);
      expect(s.height).toBe(TH);
      expect(s.image.length).toBe(TW * TH);
      expect(s.originalSize).toEqual({ width: W0, height: H0 });
      expect(s.scale).toBeCloseTo(SCALE, 12);
      expect(s.pixelSizeMm[0]).toBeCloseTo(0.1 * SCALE, 12);
      expect(s.pixelSizeMm[1]).toBeCloseTo(0.1 * SCALE, 12);
      expect(s.annotatorNames).toEqual(['400_junior', '400_senior']);
      expect(s.landmarks.length).toBe(2 * L);
      for (let k = 0; k < L; k++) {
        const [jx, jy] = landmark(n, k, 0);
        const [sx, sy] = landmark(n, k, 1);
        expect(s.annotators[0][2 * k]).toBeCloseTo(jx / SCALE, 4);
        expect(s.annotators[0][2 * k + 1]).toBeCloseTo(jy / SCALE, 4);
        expect(s.annotators[1][2 * k]).toBeCloseTo(sx / SCALE, 4);
        expect(s.annotators[1][2 * k + 1]).toBeCloseTo(sy / SCALE, 4);
        expect(s.landmarks[2 * k]).toBeCloseTo((jx + sx) / 2 / SCALE, 4);
        expect(s.landmarks[2 * k + 1]).toBeCloseTo((jy + sy) / 2 / SCALE, 4);
      }
      // The bright block around junior's landmark 0 lands where the scaled landmark is.
      let best = 0;
      for (let p = 1; p < s.image.length; p++) if (s.image[p] > s.image[best]) best = p;
      const [lx, ly] = landmark(n, 0, 0);
      expect(Math.abs((best % TW) + 0.5 - lx / SCALE)).toBeLessThan(1.2);
      expect(Math.abs(Math.floor(best / TW) + 0.5 - ly / SCALE)).toBeLessThan(1.2);
      // 0-255, integers (8-bit like the reference's cache), not normalised.
      expect(s.image[best]).toBeGreaterThan(100);
      expect(s.image.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).toBe(true);
      // Padding: 160 rows * 3.023 = 483.75 original rows; the last resized row is all padding (0).
      expect(Array.from(s.image.subarray((TH - 1) * TW)).every((v) => v === 0)).toBe(true);
    }
    const test1 = await loadIsbiSplit(nodeFolder(join(dir, 'data')), 'test1', opts);
    expect(test1.map((s) => s.id)).toEqual(['151']);
  });

  it('area resize matches a brute-force mean over each output footprint', () => {
    const w = 23;
    const h = 17;
    const src = Float32Array.from({ length: w * h }, (_, i) => (i * 7919) % 251);
    const { data, plan } = padAndResize(src, w, h, 8, 8);
    expect(plan.scale).toBeCloseTo(23 / 8, 12);
    const s = plan.scale;
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        // Exact overlap of the output footprint [j*s, (j+1)*s) x [i*s, (i+1)*s) with each source pixel.
        let acc = 0;
        for (let y = 0; y < h; y++) {
          const oy = Math.max(0, Math.min((i + 1) * s, y + 1) - Math.max(i * s, y));
          for (let x = 0; x < w; x++) {
            const ox = Math.max(0, Math.min((j + 1) * s, x + 1) - Math.max(j * s, x));
            acc += ox * oy * src[y * w + x];
          }
        }
        expect(data[i * 8 + j]).toBeCloseTo(acc / (s * s), 3);
      }
    }
    // Coordinates: pixel x covers [x, x + 1). A block of original pixels [40, 49) x [60, 69) (centre 44.5, 64.5)
    // keeps its intensity centroid at (44.5 / scale, 64.5 / scale) in resized coordinates.
    const big = new Float32Array(200 * 150);
    for (let y = 60; y < 69; y++) for (let x = 40; x < 49; x++) big[y * 200 + x] = 255;
    const small = padAndResize(big, 200, 150, 64, 64);
    let m = 0;
    let mx = 0;
    let my = 0;
    for (let i = 0; i < 64 * 64; i++) {
      m += small.data[i];
      mx += small.data[i] * ((i % 64) + 0.5);
      my += small.data[i] * (Math.floor(i / 64) + 0.5);
    }
    expect(small.plan.scale).toBeCloseTo(200 / 64, 12);
    // (Box resampling puts each cell's mass at its centre: exact up to a fraction of a resized pixel.)
    expect(Math.abs(mx / m - 44.5 / small.plan.scale)).toBeLessThan(0.1);
    expect(Math.abs(my / m - 64.5 / small.plan.scale)).toBeLessThan(0.1);
    // A constant image stays constant under an integer-ratio downscale.
    const flat = areaResize(new Float32Array(12 * 9).fill(77), 12, 9, 4, 3, 3, 3);
    expect(Array.from(flat).every((v) => Math.abs(v - 77) < 1e-4)).toBe(true);
  });

  it('parses "x,y" lines like numpy.loadtxt (blank lines skipped, later lines ignored)', () => {
    const { points, lines } = parseAnnotation('1,2\r\n\r\n 3.5 , 4e1 \n5,6\nfoo\n', 3, 'a.txt');
    expect(Array.from(points)).toEqual([1, 2, 3.5, 40, 5, 6]);
    expect(lines).toEqual([1, 3, 4]);
  });

  describe('errors name the file and line', () => {
    it('missing annotation file', async () => {
      const fs = await memoryDataset();
      fs.files.delete('AnnotationsByMD/400_senior/002.txt');
      const e = await rejection(loadIsbiSplit(fs, 'train', opts));
      expect(e).toBeInstanceOf(IsbiDataError);
      expect(e.message).toBe('memory:AnnotationsByMD/400_senior/002.txt: annotation file is missing');
    });

    it('a line that is not x,y', async () => {
      const fs = await memoryDataset();
      const text = annotationText(3, 0).split('\r\n');
      text[4] = '12;40';
      await fs.write('AnnotationsByMD/400_junior/003.txt', new TextEncoder().encode(text.join('\n')));
      const e = await rejection(loadIsbiSplit(fs, 'train', opts));
      expect(e).toBeInstanceOf(IsbiDataError);
      expect((e as IsbiDataError).line).toBe(5);
      expect(e.message).toBe('memory:AnnotationsByMD/400_junior/003.txt line 5: expected "x,y" (landmark 5 of 19), got "12;40"');
    });

    it('too few landmark lines', async () => {
      const fs = await memoryDataset();
      await fs.write('AnnotationsByMD/400_junior/001.txt', new TextEncoder().encode('1,2\n3,4\n'));
      const e = await rejection(loadIsbiSplit(fs, 'train', opts));
      expect(e.message).toBe('memory:AnnotationsByMD/400_junior/001.txt: has 2 landmark line(s), expected 19');
    });

    it('a landmark outside the image', async () => {
      const fs = await memoryDataset();
      const text = annotationText(2, 1).split('\r\n');
      text[6] = '387,100'; // x must be < 387
      await fs.write('AnnotationsByMD/400_senior/002.txt', new TextEncoder().encode(text.join('\r\n')));
      const e = await rejection(loadIsbiSplit(fs, 'train', opts));
      expect(e).toBeInstanceOf(IsbiDataError);
      expect(e.message).toBe(
        'memory:AnnotationsByMD/400_senior/002.txt line 7: landmark 7 (387, 100) is outside the 387x480 image memory:RawImage/TrainingData/002.bmp',
      );
    });

    it('a corrupt BMP', async () => {
      const fs = await memoryDataset();
      const bmp = await fs.read('RawImage/TrainingData/001.bmp');
      await fs.write('RawImage/TrainingData/001.bmp', bmp.subarray(0, 5000));
      const e = await rejection(loadIsbiSplit(fs, 'train', opts));
      expect(e.message).toMatch(/^memory:RawImage\/TrainingData\/001\.bmp: truncated BMP/);
    });

    it('a missing split folder', async () => {
      const fs = await memoryDataset();
      const e = await rejection(loadIsbiSplit(fs, 'test2', opts));
      expect(e.message).toMatch(/^memory:RawImage\/Test2Data: image folder for split "test2" not found/);
    });

    it('skipBad skips with a warning instead', async () => {
      const fs = await memoryDataset();
      fs.files.delete('AnnotationsByMD/400_junior/001.txt');
      const bmp = await fs.read('RawImage/TrainingData/003.bmp');
      await fs.write('RawImage/TrainingData/003.bmp', Uint8Array.from([0x42, 0x4e, ...bmp.subarray(2)]));
      const warnings: string[] = [];
      const stats: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const samples = await loadIsbiSplit(fs, 'train', { ...opts, skipBad: true, onWarning: (m) => warnings.push(m), stats });
      expect(samples.map((s) => s.id)).toEqual(['002']);
      expect(warnings).toEqual([
        'skipping image 001 of split "train": memory:AnnotationsByMD/400_junior/001.txt: annotation file is missing',
        'skipping image 003 of split "train": memory:RawImage/TrainingData/003.bmp: not a BMP file (bad magic: expected "BM", got 0x42 0x4e)',
      ]);
      expect(stats.skipped.map((s) => s.id)).toEqual(['001', '003']);
    });
  });

  it('reads the same samples through browser File objects (fileListSource)', async () => {
    const fs = await memoryDataset();
    // As from <input webkitdirectory>: every path starts with the picked folder's name.
    const files = [...fs.files.entries()].map(([path, f]) => {
      const file = new File([f.bytes.slice()], path.split('/').pop() ?? path, { lastModified: 1000 });
      Object.defineProperty(file, 'webkitRelativePath', { value: `ISBI2015/${path}` });
      return file;
    });
    const viaFiles = await loadIsbiSplit(fileListSource(files), 'train', opts);
    const viaMemory = await loadIsbiSplit(fs, 'train', opts);
    expect(viaFiles.map((s) => s.id)).toEqual(['001', '002', '003']);
    expect(viaFiles.map((s) => Array.from(s.image))).toEqual(viaMemory.map((s) => Array.from(s.image)));
    expect(viaFiles.map((s) => Array.from(s.landmarks))).toEqual(viaMemory.map((s) => Array.from(s.landmarks)));
  });

  describe('cache', () => {
    it('memory cache: the second load decodes nothing and gives the same samples', async () => {
      const fs = await memoryDataset();
      let bmpReads = 0;
      const counting: FileSource = {
        list: (d) => fs.list(d),
        stat: (p) => fs.stat(p),
        describe: (p) => fs.describe(p),
        read: (p) => {
          if (p.endsWith('.bmp')) bmpReads++;
          return fs.read(p);
        },
      };
      const cache = new MemoryImageCache();
      const s1: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const first = await loadIsbiSplit(counting, 'train', { ...opts, cache, stats: s1 });
      expect(s1).toMatchObject({ decoded: 3, cacheHits: 0 });
      expect(bmpReads).toBe(3);
      const s2: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const second = await loadIsbiSplit(counting, 'train', { ...opts, cache, stats: s2 });
      expect(s2).toMatchObject({ decoded: 0, cacheHits: 3 });
      expect(bmpReads).toBe(3);
      expect(second.map((s) => Array.from(s.image))).toEqual(first.map((s) => Array.from(s.image)));
      expect(second.map((s) => Array.from(s.landmarks))).toEqual(first.map((s) => Array.from(s.landmarks)));
      // Another target size is another key.
      const s3: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(counting, 'train', { width: 64, height: 80, cache, stats: s3 });
      expect(s3.decoded).toBe(3);
      // A changed file (new mtime) is decoded again.
      await fs.write('RawImage/TrainingData/002.bmp', await fs.read('RawImage/TrainingData/002.bmp'));
      const s4: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(counting, 'train', { ...opts, cache, stats: s4 });
      expect(s4).toMatchObject({ decoded: 1, cacheHits: 2 });
    });

    it('without stat the key is a content hash', async () => {
      const fs = await memoryDataset();
      const noStat: FileSource = { list: (d) => fs.list(d), read: (p) => fs.read(p) };
      const cache = new MemoryImageCache();
      const s1: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(noStat, 'train', { ...opts, cache, stats: s1 });
      const s2: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(noStat, 'train', { ...opts, cache, stats: s2 });
      expect([s1.decoded, s2.decoded, s2.cacheHits]).toEqual([3, 0, 3]);
      const bmp = (await fs.read('RawImage/TrainingData/001.bmp')).slice();
      bmp[2000] ^= 0xff;
      await fs.write('RawImage/TrainingData/001.bmp', bmp);
      const s3: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(noStat, 'train', { ...opts, cache, stats: s3 });
      expect([s3.decoded, s3.cacheHits]).toEqual([1, 2]);
    });

    it('Node folder cache survives a new cache object; a touched file is decoded again', async () => {
      const source = nodeFolder(join(dir, 'data'));
      const cacheDir = join(dir, 'cache');
      const s1: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const first = await loadIsbiSplit(source, 'train', { ...opts, cache: new NodeFolderImageCache(cacheDir), stats: s1 });
      expect(s1.decoded).toBe(3);
      const s2: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const second = await loadIsbiSplit(source, 'train', { ...opts, cache: new NodeFolderImageCache(cacheDir), stats: s2 });
      expect(s2).toMatchObject({ decoded: 0, cacheHits: 3 });
      expect(second.map((s) => Array.from(s.image))).toEqual(first.map((s) => Array.from(s.image)));
      expect(second[1].scale).toBe(first[1].scale);
      await utimes(join(dir, 'data', 'RawImage/TrainingData/003.bmp'), new Date(), new Date(Date.now() + 5000));
      const s3: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      await loadIsbiSplit(source, 'train', { ...opts, cache: new NodeFolderImageCache(cacheDir), stats: s3 });
      expect(s3).toMatchObject({ decoded: 1, cacheHits: 2 });
      // A torn or garbage cache file is a miss, not an error.
      for (const f of await readdir(cacheDir)) await writeFile(join(cacheDir, f), 'garbage');
      const s4: IsbiLoadStats = { decoded: 0, cacheHits: 0, skipped: [] };
      const fourth = await loadIsbiSplit(source, 'train', { ...opts, cache: new NodeFolderImageCache(cacheDir), stats: s4 });
      expect(s4).toMatchObject({ decoded: 3, cacheHits: 0 });
      expect(fourth.map((s) => Array.from(s.image))).toEqual(first.map((s) => Array.from(s.image)));
    });
  });
});
