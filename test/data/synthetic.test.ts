import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBmp } from '../../src/io/bmp.ts';
import { ISBI_LANDMARK_NAMES, loadIsbiSplit } from '../../src/data/isbi.ts';
import { nodeFolder, writeSyntheticIsbi } from '../../src/node/files.ts';
import { generateSyntheticCase, loadSyntheticSplit, syntheticIds, type SyntheticCase } from '../../src/data/synthetic/dataset.ts';

const W = 387;
const H = 480;

function curveOf(c: SyntheticCase, name: string): Float32Array {
  const curve = c.curves.find((k) => k.name === name);
  if (!curve) throw new Error(`no curve ${name}`);
  return curve.points;
}

/** Distance from (x, y) to the polyline, and the unit tangent there. */
function nearest(points: Float32Array, x: number, y: number): { d: number; tx: number; ty: number } {
  let best = Infinity;
  let bi = 0;
  for (let i = 0; i < points.length; i += 2) {
    const d = Math.hypot(points[i] - x, points[i + 1] - y);
    if (d < best) {
      best = d;
      bi = i;
    }
  }
  const a = Math.max(0, bi - 6);
  const b = Math.min(points.length - 2, bi + 6);
  const tx = points[b] - points[a];
  const ty = points[b + 1] - points[a + 1];
  const l = Math.hypot(tx, ty) || 1;
  return { d: best, tx: tx / l, ty: ty / l };
}

function localStd(c: SyntheticCase, x: number, y: number, r: number): number {
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let yy = Math.max(0, Math.floor(y) - r); yy <= Math.min(c.height - 1, Math.floor(y) + r); yy++) {
    for (let xx = Math.max(0, Math.floor(x) - r); xx <= Math.min(c.width - 1, Math.floor(x) + r); xx++) {
      const v = c.pixels[yy * c.width + xx];
      s += v;
      s2 += v * v;
      n++;
    }
  }
  return Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2));
}

/** Fast exact equality of typed arrays (vitest's deep equality is slow on 10^5 elements). */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('synthetic cephalograms', () => {
  const cases = [1, 2, 3, 4, 5, 6].map((i) => generateSyntheticCase(11, i, { width: W }));

  it('is deterministic for a seed and varies with the seed and the image', () => {
    const again = generateSyntheticCase(11, 2, { width: W });
    expect(again.width).toBe(W);
    expect(again.height).toBe(H);
    expect(same(again.pixels, cases[1].pixels)).toBe(true);
    expect(again.annotators).toEqual(cases[1].annotators);
    expect(again.truth).toEqual(cases[1].truth);
    const other = generateSyntheticCase(12, 2, { width: W });
    expect(same(other.pixels, cases[1].pixels)).toBe(false);
    expect(other.truth).not.toEqual(cases[1].truth);
    expect(cases[2].truth).not.toEqual(cases[1].truth);
    expect(cases[0].pixelSizeMm).toBeCloseTo(0.5, 12); // 0.1 mm * 1935 / 387
  });

  it('puts the landmarks inside the image and on their generating contour', () => {
    for (const c of cases) {
      expect(c.truth.length).toBe(2 * 19);
      expect(c.landmarkCurves.length).toBe(19);
      for (let k = 0; k < 19; k++) {
        const x = c.truth[2 * k];
        const y = c.truth[2 * k + 1];
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThan(W);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThan(H);
        expect(nearest(curveOf(c, c.landmarkCurves[k]), x, y).d).toBeLessThan(1e-3);
        for (const a of c.annotators) {
          expect(a[2 * k] >= 0 && a[2 * k] < W && a[2 * k + 1] >= 0 && a[2 * k + 1] < H).toBe(true);
          // Within ~5 sigma of the truth (sigma at most 2.2 px at 640 wide = 1.3 px here).
          expect(Math.hypot(a[2 * k] - x, a[2 * k + 1] - y)).toBeLessThan(7);
        }
      }
    }
  });

  it('annotators disagree more along the contour than across it', () => {
    let along = 0;
    let across = 0;
    for (const c of cases) {
      for (let k = 0; k < 19; k++) {
        const x = c.truth[2 * k];
        const y = c.truth[2 * k + 1];
        const { tx, ty } = nearest(curveOf(c, c.landmarkCurves[k]), x, y);
        for (const a of c.annotators) {
          const dx = a[2 * k] - x;
          const dy = a[2 * k + 1] - y;
          along += (dx * tx + dy * ty) ** 2;
          across += (dx * -ty + dy * tx) ** 2;
        }
      }
    }
    const n = cases.length * 19 * 2;
    const alongStd = Math.sqrt(along / n) * (640 / W);
    const acrossStd = Math.sqrt(across / n) * (640 / W);
    expect(alongStd).toBeGreaterThan(1.2); // in pixels of a 640-wide image
    expect(alongStd).toBeLessThan(2.6);
    expect(acrossStd).toBeLessThan(1.0);
    expect(alongStd).toBeGreaterThan(1.8 * acrossStd);
  });

  it('landmarks sit on image structure: local contrast there is well above the image median', () => {
    for (const c of cases) {
      const grid: number[] = [];
      for (let y = 8; y < H - 8; y += 12) for (let x = 8; x < W - 8; x += 12) grid.push(localStd(c, x, y, 3));
      grid.sort((a, b) => a - b);
      const median = grid[grid.length >> 1];
      const atLandmarks = Array.from({ length: 19 }, (_, k) => localStd(c, c.truth[2 * k], c.truth[2 * k + 1], 3));
      const mean = atLandmarks.reduce((s, v) => s + v, 0) / atLandmarks.length;
      expect(mean).toBeGreaterThan(3 * median);
      expect(atLandmarks.filter((v) => v > median).length).toBeGreaterThanOrEqual(18);
    }
  });

  it('supports fewer and more landmarks (extra ones along contours)', () => {
    const few = generateSyntheticCase(11, 1, { width: 194, landmarks: 5 });
    const many = generateSyntheticCase(11, 1, { width: 194, landmarks: 27 });
    expect(few.truth.length).toBe(10);
    expect(many.truth.length).toBe(54);
    expect(Array.from(many.truth.subarray(0, 10))).toEqual(Array.from(few.truth));
    for (let k = 19; k < 27; k++) {
      expect(nearest(curveOf(many, many.landmarkCurves[k]), many.truth[2 * k], many.truth[2 * k + 1]).d).toBeLessThan(1e-3);
    }
    expect(ISBI_LANDMARK_NAMES.length).toBe(19);
  });

  it('writes the ISBI layout, which loads back through the ISBI loader with the same landmarks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chh-synth-'));
    dirs.push(dir);
    const counts = { train: 3, test1: 1, test2: 1 };
    const summary = await writeSyntheticIsbi(dir, { counts, width: W, seed: 11 });
    expect(summary.ids).toEqual({ train: ['001', '002', '003'], test1: ['004'], test2: ['005'] });
    expect(syntheticIds(counts)).toEqual(summary.ids);
    expect((await readdir(join(dir, 'RawImage/TrainingData'))).sort()).toEqual(['001.bmp', '002.bmp', '003.bmp']);
    expect((await readdir(join(dir, 'AnnotationsByMD'))).sort()).toEqual(['400_junior', '400_senior']);
    const text = await readFile(join(dir, 'AnnotationsByMD/400_senior/002.txt'), 'utf8');
    expect(text.split('\r\n').filter((l) => /^[\d.]+,[\d.]+$/.test(l)).length).toBe(19);
    expect(same(decodeBmp(await readFile(join(dir, 'RawImage/TrainingData/002.bmp')), '002.bmp').data, cases[1].pixels)).toBe(true);

    const samples = await loadIsbiSplit(nodeFolder(dir), 'train', { width: 128, height: 160 });
    const scale = W / 128;
    expect(samples.length).toBe(3);
    for (const [i, s] of samples.entries()) {
      const c = cases[i];
      expect(s.pixelSizeMm[0]).toBeCloseTo(0.5 * scale, 10); // from chh-dataset.json
      expect(s.originalSize).toEqual({ width: W, height: H });
      for (let k = 0; k < 38; k++) {
        expect(s.annotators[0][k]).toBeCloseTo(c.annotators[0][k] / scale, 4);
        expect(s.annotators[1][k]).toBeCloseTo(c.annotators[1][k] / scale, 4);
        expect(s.landmarks[k]).toBeCloseTo((c.annotators[0][k] + c.annotators[1][k]) / 2 / scale, 4);
      }
    }
    // The in-memory generator gives the same samples without disk.
    const memory = await loadSyntheticSplit('train', { counts, width: W, seed: 11 }, { width: 128, height: 160 });
    expect(memory.map((s) => s.id)).toEqual(samples.map((s) => s.id));
    for (const [i, s] of memory.entries()) {
      expect(same(s.image, samples[i].image)).toBe(true);
      expect(same(s.landmarks, samples[i].landmarks)).toBe(true);
      expect(s.pixelSizeMm).toEqual(samples[i].pixelSizeMm);
    }
    const test2 = await loadSyntheticSplit('test2', { counts, width: W, seed: 11 }, { width: 128, height: 160 });
    expect(test2.map((s) => s.id)).toEqual(['005']);
  });
});
