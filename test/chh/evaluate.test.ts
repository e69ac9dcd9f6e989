// Evaluation (src/chh/evaluate.ts): every per-landmark number against a CPU recomputation (f64) from the raw
// logits read back (argmax, radial error, mode probability, ERE, NLL, heatmap snapshots), the summary against
// metrics.summarize on those numbers, the point convention on exact geometry, and JSON round trips.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import { calibration } from '../../src/chh/metrics/calibration.ts';
import { summarize } from '../../src/chh/metrics/summary.ts';
import type { IsbiSample } from '../../src/data/isbi.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import { BatchLoader, targetPixels } from '../../src/data/batches.ts';
import { annotatorSpreadMm, calibrationBinsFor, evaluateModel, evaluateSplit, heatmapSnapshot, REFERENCE_CALIBRATION_BINS, unetNetwork, type FrozenNetwork } from '../../src/chh/evaluate.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

const CONFIG: UnetConfig = { inChannels: 1, landmarks: 3, encoderChannels: [4, 4, 8, 8, 8], encoderBlocks: [1, 1, 1, 1], decoderChannels: [8, 8, 4, 4, 4] };

interface CpuMap {
  argmax: number;
  modeProb: number;
  ere: number;
  nll: number;
}

/** f64 reference of one map: softmax(z / T), first argmax, mode probability, ERE (cutoff), NLL of the target. */
function cpuMap(z: ArrayLike<number>, t: number, w: number, h: number, sx: number, sy: number, cutoff: number, target: number): CpuMap {
  let best = 0;
  for (let i = 1; i < w * h; i++) if (z[i] / t > z[best] / t) best = i;
  const zmax = z[best] / t;
  let s = 0;
  for (let i = 0; i < w * h; i++) s += Math.exp(z[i] / t - zmax);
  let kw = 0;
  let kd = 0;
  for (let i = 0; i < w * h; i++) {
    const r = Math.exp(z[i] / t - zmax);
    if (r > cutoff) {
      kw += r;
      kd += r * Math.hypot(((i % w) - (best % w)) * sx, (Math.floor(i / w) - Math.floor(best / w)) * sy);
    }
  }
  return { argmax: best, modeProb: 1 / s, ere: kd / kw, nll: -(z[target] / t - zmax - Math.log(s)) };
}

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-12, Math.abs(b));
}

describe('evaluateSplit', () => {
  it('matches a CPU recomputation from the logits (tiny UNet, uneven batches, temperatures != 1)', async () => {
    const e = engine();
    const samples = await loadSyntheticSplit('test2', { counts: { test2: 5 }, width: 160, landmarks: 3, seed: 4 }, { width: 64, height: 64 });
    const model = new ResnetUnet(CONFIG);
    const state = model.allocate(e, 2);
    const temps = [1, 0.7, 1.5];
    const progress: number[] = [];
    try {
      const result = await evaluateModel(e, model, state, samples, {
        temperatures: temps,
        batchSize: 2,
        heatmaps: { count: 2, maxSize: 32 },
        summary: { ereVsError: { binSize: 4 } },
        label: 'synthetic test2',
        onProgress: (done) => progress.push(done),
      });
      expect(progress).toEqual([2, 4, 5]);
      expect(state.training).toBe(true);

      // The raw logits of all five images in one batch.
      const loader = new BatchLoader(e, samples, { batchSize: 5 });
      const batch = loader.batch([0, 1, 2, 3, 4]);
      const logitsT = unetNetwork(model, state).forward(batch.images);
      const logits = (await logitsT.read()) as Float32Array;
      logitsT.dispose();
      loader.dispose();

      const hw = 64 * 64;
      const radial: number[] = [];
      const eres: number[] = [];
      const modes: number[] = [];
      let nll = 0;
      samples.forEach((s, n) => {
        const im = result.images[n];
        expect(im.id).toBe(s.id);
        expect(im.truth).toEqual(Array.from(s.landmarks));
        const targets = targetPixels(s.landmarks, 64, 64);
        for (let l = 0; l < 3; l++) {
          const z = logits.subarray((n * 3 + l) * hw, (n * 3 + l + 1) * hw);
          const c = cpuMap(z, temps[l], 64, 64, s.pixelSizeMm[0], s.pixelSizeMm[1], 0.05, targets[l]);
          expect(im.argmax[l]).toBe(c.argmax);
          const x = (c.argmax % 64) + 0.5;
          const y = Math.floor(c.argmax / 64) + 0.5;
          expect(im.predicted.slice(2 * l, 2 * l + 2)).toEqual([x, y]);
          const err = Math.hypot((x - s.landmarks[2 * l]) * s.pixelSizeMm[0], (y - s.landmarks[2 * l + 1]) * s.pixelSizeMm[1]);
          expect(im.radialErrorsMm[l]).toBeCloseTo(err, 9);
          expect(rel(im.modeProbabilities[l], c.modeProb)).toBeLessThan(1e-4);
          expect(rel(im.ereMm[l], c.ere)).toBeLessThan(1e-4);
          radial.push(err);
          eres.push(c.ere);
          modes.push(c.modeProb);
          nll += c.nll;
        }
      });
      expect(rel(result.meanNll, nll / 15)).toBeLessThan(1e-4);

      const sizes = samples.flatMap((s) => [s.pixelSizeMm, s.pixelSizeMm, s.pixelSizeMm]);
      const ref = summarize(
        { radialErrorsMm: radial, ereMm: eres, modeProbabilities: modes, pixelSizeMm: sizes, landmarksPerImage: 3 },
        { calibration: calibrationBinsFor(64, 64), ereVsError: { binSize: 4 } },
      );
      const s = result.summary;
      expect(s.count).toBe(15);
      expect(s.mre.mean).toBeCloseTo(ref.mre.mean, 9);
      expect(s.sdr).toEqual(ref.sdr);
      s.perLandmark.forEach((m, l) => expect(m.mean).toBeCloseTo(ref.perLandmark[l].mean, 9));
      expect(s.calibration.ece).toBeCloseTo(ref.calibration.ece, 4);
      expect(s.calibration.bins.map((b) => b.count)).toEqual(ref.calibration.bins.map((b) => b.count));
      expect(s.ereVsError.bins.length).toBe(3);
      expect(s.ereVsError.binnedCorrelation).toBeCloseTo(ref.ereVsError.binnedCorrelation, 4);
      expect(s.split.good.count + s.split.erroneous.count).toBe(15);
      for (const im of result.images) expect(im.flagged).toEqual(im.ereMm.map((v) => v > s.split.ereThresholdMm));

      // The comparison at T = 1 (temperatures are not all 1).
      expect(result.comparison?.temperatures).toEqual([1, 1, 1]);
      const modes1: number[] = [];
      samples.forEach((smp, n) => {
        for (let l = 0; l < 3; l++) modes1.push(cpuMap(logits.subarray((n * 3 + l) * hw, (n * 3 + l + 1) * hw), 1, 64, 64, 1, 1, 0.05, 0).modeProb);
      });
      expect(result.comparison!.calibration.ece).toBeCloseTo(calibration(radial, modes1, sizes, calibrationBinsFor(64, 64)).ece, 4);

      // Heatmaps of the first two images, max-pooled 64 -> 32, each landmark's map divided by its maximum.
      expect(result.heatmaps.map((m) => m.id)).toEqual([samples[0].id, samples[1].id]);
      for (const [n, m] of result.heatmaps.entries()) {
        expect([m.width, m.height, m.factor, m.reduce]).toEqual([32, 32, 2, 'max']);
        expect(Math.max(...m.values)).toBe(1);
        expect(Math.min(...m.values)).toBeGreaterThanOrEqual(0);
        expect(m.values).toEqual(heatmapSnapshot(m.id, logits.subarray(n * 3 * hw, (n + 1) * 3 * hw), temps, 64, 64, { maxSize: 32 }).values);
      }

      // Plain data: a JSON round trip keeps everything but NaN / Infinity (null).
      const back = JSON.parse(JSON.stringify(result));
      expect(back.images).toEqual(result.images);
      expect(back.summary.mre.mean).toBe(result.summary.mre.mean);
    } finally {
      state.dispose();
    }
  });

  it("measures errors from the argmax pixel's centre ('centre') or its index ('index', the reference's)", async () => {
    const e = engine();
    // A spike in one pixel per image; truth offsets (3, 4) px from its centre, 0.5 mm pixels: 2.5 mm exactly.
    const size = 16;
    const samples: IsbiSample[] = [
      [5, 6],
      [10, 2],
      [7, 11],
    ].map(([px, py], n) => {
      const image = new Float32Array(size * size);
      image[py * size + px] = 255;
      const lm = new Float32Array([px + 0.5 + 3, py + 0.5 + 4]);
      return {
        id: `s${n}`,
        split: 'test1',
        image,
        width: size,
        height: size,
        landmarks: lm,
        annotators: [lm],
        annotatorNames: ['a'],
        pixelSizeMm: [0.5, 0.5],
        scale: 1,
        originalSize: { width: size, height: size },
      };
    });
    const w = e.untracked(() => e.tensor(new Float32Array([0.1]), [1, 1, 1, 1]));
    const net: FrozenNetwork = { landmarks: 1, forward: (images: Tensor) => e.noGrad(() => conv2d(images, w, null)) };
    try {
      const centre = await evaluateSplit(e, net, samples, { batchSize: 3, summary: { ereVsError: { binSize: 1 } } });
      for (const im of centre.images) expect(im.radialErrorsMm[0]).toBeCloseTo(2.5, 6);
      for (const im of centre.images) expect(im.annotatorSpreadMm).toBeNull(); // one annotator
      expect(centre.images.map((im) => im.predicted)).toEqual([
        [5.5, 6.5],
        [10.5, 2.5],
        [7.5, 11.5],
      ]);
      expect(centre.comparison).toBeNull(); // T = 1 already
      expect(centre.summary.roc).toBeNull(); // no error > 4 mm
      const index = await evaluateSplit(e, net, samples, { pointConvention: 'index', heatmaps: { count: 0 } });
      for (const im of index.images) expect(im.radialErrorsMm[0]).toBeCloseTo(0.5 * Math.hypot(3.5, 4.5), 6);
      expect(index.heatmaps).toEqual([]);
      // The map is nearly one-hot (logit 25.5 vs 0): mode probability e^25.5 / (e^25.5 + 255), ERE ~ 0.
      const p = Math.exp(25.5) / (Math.exp(25.5) + 255);
      expect(centre.images[0].modeProbabilities[0]).toBeCloseTo(p, 6);
      expect(centre.images[0].ereMm[0]).toBeLessThan(1e-6);
      await expect(evaluateSplit(e, net, samples, { temperatures: [-1] })).rejects.toThrow(/temperature 0 is -1/);
    } finally {
      w.dispose();
    }
  });
});

describe('heatmapSnapshot', () => {
  it("folds maps with 'max' (each over its own maximum) or 'sum', and max-pools by an integer factor", () => {
    // Two 3x2 maps: landmark 0 peaks at pixel 0, landmark 1 at pixel 5.
    const logits = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, Math.log(4)];
    const m = heatmapSnapshot('x', logits, [1, 1], 3, 2, { maxSize: 3 });
    expect([m.width, m.height, m.factor]).toEqual([3, 2, 1]);
    // max(e^-2, 1/4) = 1/4 everywhere but the two peaks.
    expect(m.values).toEqual([1, 0.25, 0.25, 0.25, 0.25, 1]);
    const pooled = heatmapSnapshot('x', logits, [1, 1], 3, 2, { maxSize: 2 });
    expect([pooled.width, pooled.height, pooled.factor]).toEqual([2, 1, 2]);
    expect(pooled.values).toEqual([1, 1]);
    const summed = heatmapSnapshot('x', logits, [1, 1], 3, 2, { reduce: 'sum' });
    expect(Math.max(...summed.values)).toBe(1);
    expect(summed.reduce).toBe('sum');
  });
});

describe('calibrationBinsFor', () => {
  it("is the reference's [0, 0.15] at 640x800 and scales with the pixel area elsewhere, up to 1", () => {
    expect(calibrationBinsFor(640, 800)).toEqual(REFERENCE_CALIBRATION_BINS);
    expect(calibrationBinsFor(320, 400).maxConfidence).toBeCloseTo(0.6, 12);
    expect(calibrationBinsFor(128, 160).maxConfidence).toBe(1);
    expect(calibrationBinsFor(1280, 1600).maxConfidence).toBeCloseTo(0.0375, 12);
  });
});

describe('annotatorSpreadMm', () => {
  it('is the mean distance in mm over every pair of annotators, per landmark', () => {
    // Landmark 0: annotators at (0,0), (3,4), (0,8) px with 0.5 x 0.25 mm pixels: pairs hypot(1.5, 1), 2, hypot(1.5, 1).
    const annotators = [new Float32Array([0, 0, 1, 1]), new Float32Array([3, 4, 1, 1]), new Float32Array([0, 8, 1, 1])];
    const s = { annotators, pixelSizeMm: [0.5, 0.25] } as unknown as IsbiSample;
    const d = annotatorSpreadMm(s, 2)!;
    expect(d[0]).toBeCloseTo((Math.hypot(1.5, 1) + 2 + Math.hypot(1.5, 1)) / 3, 6);
    expect(d[1]).toBe(0);
    expect(annotatorSpreadMm({ ...s, annotators: annotators.slice(0, 1) }, 2)).toBeNull();
  });
});
