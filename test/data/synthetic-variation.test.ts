// The synthetic set's variation measured over many images against its parameters (src/data/synthetic/params.ts):
// each landmark's annotator noise along and across its contour, the gross clicks, the far sides of bilateral
// structures, mouth opening and collimation.
import { describe, expect, it } from 'vitest';
import { generateSyntheticCase, type SyntheticCase } from '../../src/data/synthetic/dataset.ts';
import { clickNoiseFactor, clickNoiseMm as clickNoise, grossShare } from '../../src/data/synthetic/landmarks.ts';
import { ANNOTATORS, QUALITY, SHAPE_MODES } from '../../src/data/synthetic/params.ts';
import { clickNoiseMm, curveOf, nearest } from '../helpers/synthetic.ts';

const W = 194;
const IMAGES = 300;
const L = 19;
const cases = Array.from({ length: IMAGES }, (_, i) => generateSyntheticCase(3, i + 1, { width: W }));

const rms = (v: number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

describe('synthetic variation', () => {
  it("each landmark's click noise along and across its contour has its parameters' std", () => {
    for (let k = 0; k < L; k++) {
      const along: number[] = [];
      const across: number[] = [];
      for (const c of cases) {
        for (const a of [0, 1] as const) {
          if (c.clicks[a].gross[k]) continue;
          const r = clickNoiseMm(c, k, a);
          along.push(r.along / c.clickNoiseFactor[k]);
          across.push(r.across / c.clickNoiseFactor[k]);
        }
      }
      const [sAlong, sAcross] = clickNoise(k);
      // ~600 clicks: the std's own sampling error is about 3%.
      expect(rms(along) / sAlong, `landmark ${k + 1} along`).toBeGreaterThan(0.88);
      expect(rms(along) / sAlong, `landmark ${k + 1} along`).toBeLessThan(1.12);
      expect(rms(across) / sAcross, `landmark ${k + 1} across`).toBeGreaterThan(0.88);
      expect(rms(across) / sAcross, `landmark ${k + 1} across`).toBeLessThan(1.12);
    }
  });

  it('the annotators disagree most on the ambiguous landmarks, as ISBI 2015 annotators do', () => {
    const spread = (k: number): number =>
      mean(cases.map((c) => Math.hypot(c.annotators[0][2 * k] - c.annotators[1][2 * k], c.annotators[0][2 * k + 1] - c.annotators[1][2 * k + 1]) * c.pixelSizeMm));
    const sharp = [0, 10, 11].map(spread); // sella, incisal tips
    const ambiguous = [3, 9, 15].map(spread); // porion, gonion, soft-tissue pogonion
    expect(Math.max(...sharp)).toBeLessThan(1);
    expect(Math.min(...ambiguous)).toBeGreaterThan(2 * Math.max(...sharp));
  });

  it('annotators are less sure on hazy images and on faint structures', () => {
    const spread = (c: SyntheticCase, k: number): number => Math.hypot(c.annotators[0][2 * k] - c.annotators[1][2 * k], c.annotators[0][2 * k + 1] - c.annotators[1][2 * k + 1]);
    const imageSpread = (c: SyntheticCase): number => mean(Array.from({ length: L }, (_, k) => spread(c, k)));
    const clear = cases.filter((c) => c.effects.quality.haze < 0.12).map(imageSpread);
    const hazy = cases.filter((c) => c.effects.quality.haze > 0.33).map(imageSpread);
    // Expected ratio of the noise factors: (0.85 + 0.39) / (0.85 + 0.06), about 1.36.
    expect(mean(hazy) / mean(clear)).toBeGreaterThan(1.2);
    // Orbitale (on the faint orbit): noisier where its edge was faded.
    const faint = cases.filter((c) => c.effects.quality.weakEdge < 0.5).map((c) => spread(c, 2));
    expect(faint.length).toBeGreaterThan(30);
    const strong = cases.filter((c) => c.effects.quality.weakEdge > 0.85).map((c) => spread(c, 2));
    expect(mean(faint) / mean(strong)).toBeGreaterThan(1.1);
    // The factor each case records is the one its quality gives.
    for (const c of cases) for (let k = 0; k < L; k++) expect(c.clickNoiseFactor[k]).toBeCloseTo(clickNoiseFactor(k, c.effects.quality), 5);
  });

  it('gross clicks come at their rate, likelier on ambiguous landmarks, and move the click by millimetres', () => {
    let gross = 0;
    let expected = 0;
    const grossAlong: number[] = [];
    const byKind = { ambiguous: 0, sharp: 0 };
    for (const c of cases) {
      for (let k = 0; k < L; k++) {
        expected += 2 * grossShare(k);
        for (const a of [0, 1] as const) {
          if (!c.clicks[a].gross[k]) continue;
          gross++;
          byKind[ANNOTATORS.ambiguous.includes(k) ? 'ambiguous' : 'sharp']++;
          grossAlong.push(Math.abs(clickNoiseMm(c, k, a).along));
        }
      }
    }
    expect(Math.abs(gross - expected)).toBeLessThan(4 * Math.sqrt(expected));
    const ambiguousCount = ANNOTATORS.ambiguous.length;
    expect(byKind.ambiguous / ambiguousCount).toBeGreaterThan(1.5 * (byKind.sharp / (L - ambiguousCount)));
    expect(mean(grossAlong)).toBeGreaterThan(ANNOTATORS.grossMm[0]);
  });

  it('bilateral landmarks lie between the near and far side, which are millimetres apart', () => {
    const gonionGaps: number[] = [];
    const weights: number[] = [];
    for (const c of cases) {
      for (let k = 0; k < L; k++) {
        const bilateral = ANNOTATORS.bilateral.includes(k);
        for (const a of [0, 1] as const) {
          const w = c.clicks[a].farWeight[k];
          expect(Number.isNaN(w), `landmark ${k + 1}`).toBe(!bilateral);
          if (bilateral) weights.push(w);
        }
      }
      gonionGaps.push(clickNoiseMm(c, 9, 0).farGapMm);
      // The far mandible stops at the chin (the symphysis is single).
      expect(curveOf(c, 'farMandible').length).toBeLessThan(curveOf(c, 'mandible').length);
    }
    expect(Math.min(...weights)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...weights)).toBeLessThanOrEqual(1);
    expect(mean(weights)).toBeCloseTo(0.5, 1);
    gonionGaps.sort((a, b) => a - b);
    const median = gonionGaps[gonionGaps.length >> 1];
    expect(median).toBeGreaterThan(1.5);
    expect(median).toBeLessThan(8);
  });

  it('keeps the chin landmarks in their anatomical order along the contour, the mouth open or not', () => {
    const along = (c: SyntheticCase, k: number): number => nearest(curveOf(c, c.landmarkCurves[k]), c.truth[2 * k], c.truth[2 * k + 1]).index;
    for (const c of cases) {
      // The mandible runs from the condyle round the chin: menton, gnathion, pogonion, B point (0-based 7, 8, 6, 5).
      const [menton, gnathion, pogonion, b] = [7, 8, 6, 5].map((k) => along(c, k));
      const open = `mouth open ${c.effects.shape.mouthOpen}`;
      expect(gnathion, open).toBeGreaterThanOrEqual(menton);
      expect(pogonion, open).toBeGreaterThanOrEqual(gnathion);
      expect(b, open).toBeGreaterThan(pogonion); // the concavity above the chin, never at pogonion or below it
      // The profile runs down the face: upper lip, lower lip, soft-tissue pogonion (12, 13, 15), strictly apart.
      const soft = [12, 13, 15].map((k) => along(c, k));
      expect(soft[1]).toBeGreaterThan(soft[0]);
      expect(soft[2]).toBeGreaterThan(soft[1]);
    }
  });

  it('opens the mouth and collimates in about their shares of the images', () => {
    // Incisor tips apart by more than 6 mm: the mouth is open (closed, the overbite keeps them about 3 mm apart).
    const open = cases.filter((c) => Math.hypot(c.truth[20] - c.truth[22], c.truth[21] - c.truth[23]) * c.pixelSizeMm > 6).length / IMAGES;
    expect(open).toBeGreaterThan(0.4 * SHAPE_MODES.mouthOpenShare);
    expect(open).toBeLessThan(1.2 * SHAPE_MODES.mouthOpenShare);
    // An unexposed left border is bright in the first column.
    const collimated = cases.filter((c) => {
      let s = 0;
      for (let y = 0; y < c.height; y++) s += c.pixels[y * c.width];
      return s / c.height > 180;
    }).length;
    const expected = IMAGES * QUALITY.collimationShare;
    expect(Math.abs(collimated - expected)).toBeLessThan(4 * Math.sqrt(expected));
  });
});
