import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeBmp } from '../../src/io/bmp.ts';
import { ISBI_LANDMARK_NAMES, loadIsbiSplit } from '../../src/data/isbi.ts';
import { nodeFolder, writeSyntheticIsbi } from '../../src/node/files.ts';
import { generateSyntheticCase, loadSyntheticSplit, syntheticIds, type SyntheticCase } from '../../src/data/synthetic/dataset.ts';
import { clickNoiseMm as clickNoise } from '../../src/data/synthetic/landmarks.ts';
import { clickNoiseMm, curveOf, nearest } from '../helpers/synthetic.ts';

const W = 387;
const H = 480;

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
        for (const a of [0, 1] as const) {
          const click = c.annotators[a];
          expect(click[2 * k] >= 0 && click[2 * k] < W && click[2 * k + 1] >= 0 && click[2 * k + 1] < H).toBe(true);
          // Less the share of the way to the far side, a click is within 5 sigma of the truth unless it is a gross slip.
          const { along, across } = clickNoiseMm(c, k, a);
          const [sAlong, sAcross] = clickNoise(k).map((s) => s * c.clickNoiseFactor[k]);
          if (!c.clicks[a].gross[k]) expect(Math.abs(along)).toBeLessThan(5 * sAlong);
          expect(Math.abs(across)).toBeLessThan(5 * sAcross);
        }
      }
    }
  });

  it('landmarks sit on image structure: local contrast there is above the image median', () => {
    for (const c of cases) {
      const grid: number[] = [];
      for (let y = 8; y < H - 8; y += 12) for (let x = 8; x < W - 8; x += 12) grid.push(localStd(c, x, y, 3));
      grid.sort((a, b) => a - b);
      const median = grid[grid.length >> 1];
      const atLandmarks = Array.from({ length: 19 }, (_, k) => localStd(c, c.truth[2 * k], c.truth[2 * k + 1], 3));
      const mean = atLandmarks.reduce((s, v) => s + v, 0) / atLandmarks.length;
      // Random points would give about 1x and 9.5 of 19 (faint soft tissue, haze and noise keep some landmarks low).
      expect(mean).toBeGreaterThan(1.8 * median);
      expect(atLandmarks.filter((v) => v > median).length).toBeGreaterThanOrEqual(15);
    }
  });

  it('supports fewer and more landmarks (extra ones along contours)', () => {
    const few = generateSyntheticCase(11, 1, { width: 194, landmarks: 5 });
    // Six: B point is found from pogonion, the seventh landmark, which is located all the same.
    const six = generateSyntheticCase(11, 1, { width: 194, landmarks: 6 });
    expect(Array.from(six.truth.subarray(0, 10))).toEqual(Array.from(few.truth));
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
    const progress: string[] = [];
    const summary = await writeSyntheticIsbi(dir, { counts, width: W, seed: 11, onProgress: (done, total) => progress.push(`${done}/${total}`) });
    expect(progress).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5']);
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
