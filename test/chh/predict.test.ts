import { describe, expect, it } from 'vitest';
import { toImagePixels, type PredictedLandmark } from '../../src/chh/predict.ts';

const landmark = (x: number, y: number, erroneous = false): PredictedLandmark => ({ index: 0, name: 'sella', x, y, ereMm: 0.5, modeProbability: 0.2, erroneous });

describe('toImagePixels', () => {
  it('scales to the image and flags points in the right/bottom padding as erroneous, keeping ERE flags', () => {
    // A 100x50 image padded to 64x64 input: 100/64 image pixels per input pixel; rows below y = 50 are padding.
    const s = 100 / 64;
    const out = toImagePixels([landmark(10.5, 10.5), landmark(10.5, 40.5), landmark(63.5, 20.5), landmark(5.5, 5.5, true)], s, { width: 100, height: 50 });
    expect(out.map((l) => [l.x, l.y])).toEqual([[10.5 * s, 10.5 * s], [10.5 * s, 40.5 * s], [63.5 * s, 20.5 * s], [5.5 * s, 5.5 * s]]);
    expect(out.map((l) => l.erroneous)).toEqual([false, true, false, true]);
  });
});
