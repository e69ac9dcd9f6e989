// Temperature scaling (src/chh/calibrate/) and batching (src/data/batches.ts): over- and underconfident
// maps get T > 1 and T < 1, the best-ECE temperatures are returned, the argmax never changes, augmentation runs, and
// a tiny ResNet-UNet with its head scaled up (overconfident) gets T > 1.
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import { conv2d } from '../../src/ops/conv2d/conv2d.ts';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import type { IsbiSample } from '../../src/data/isbi.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import { BatchLoader, pixelCentre, shuffledOrder, splitHalves, targetPixels } from '../../src/data/batches.ts';
import { readFileSync } from 'node:fs';
import { calibrateTemperatures, type CalibrateOptions, type CalibrateProgress } from '../../src/chh/calibrate/calibrate.ts';
import { CpuAdam, eceAndGradient, modeProbabilitySlopes } from '../../src/chh/calibrate/ece-objective.ts';
import { calibration, correctRadiusMm } from '../../src/chh/metrics/calibration.ts';
import { evaluateSplit, unetNetwork, type FrozenNetwork } from '../../src/chh/evaluate.ts';
import { useEngine } from '../helpers/gpu.ts';
import { mulberry32 } from '../../src/engine/random.ts';

const engine = useEngine();


/**
 * Blob images: one Gaussian spot per image (sigma 1.5 px, peak 255) at a random point; every landmark's truth is
 * the spot's centre plus Gaussian noise (noise px). A 1x1 convolution with weight k_l makes landmark l's logits
 * k_l * image, so its map peaks on the spot, as sharply as k_l says.
 */
function blobSamples(count: number, size: number, landmarks: number, noise: number, seed: number, pixelMm = 0.1): IsbiSample[] {
  const random = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, (_, n) => {
    const cx = size * (0.25 + 0.5 * random());
    const cy = size * (0.25 + 0.5 * random());
    const image = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) image[y * size + x] = 255 * Math.exp(-((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2) / (2 * 1.5 ** 2));
    }
    const lm = new Float32Array(landmarks * 2);
    for (let l = 0; l < landmarks; l++) {
      lm[2 * l] = cx + noise * gauss();
      lm[2 * l + 1] = cy + noise * gauss();
    }
    return {
      id: String(n + 1).padStart(3, '0'),
      split: 'test1',
      image,
      width: size,
      height: size,
      landmarks: lm,
      annotators: [lm],
      annotatorNames: ['a'],
      pixelSizeMm: [pixelMm, pixelMm],
      scale: 1,
      originalSize: { width: size, height: size },
    } satisfies IsbiSample;
  });
}

function convNetwork(e: Engine, weights: number[]): FrozenNetwork & { dispose(): void } {
  const w = e.untracked(() => e.tensor(Float32Array.from(weights), [weights.length, 1, 1, 1], { label: 'fake.weight' }));
  return {
    landmarks: weights.length,
    forward: (images: Tensor) => e.noGrad(() => conv2d(images, w, null)),
    dispose: () => w.dispose(),
  };
}

describe('batches', () => {
  it('uploads images, targets (the pixel containing the landmark, clamped) and pixel sizes; shuffles by seed and epoch', async () => {
    const e = engine();
    const samples = blobSamples(5, 8, 2, 0.5, 3);
    samples[1].landmarks.set([-0.2, 3.99, 8.4, 7.999]);
    expect(Array.from(targetPixels(samples[1].landmarks, 8, 8))).toEqual([3 * 8 + 0, 7 * 8 + 7]);
    expect(pixelCentre(3 * 8 + 5, 8)).toEqual([5.5, 3.5]);
    expect(shuffledOrder(10, 1, 2)).toEqual(shuffledOrder(10, 1, 2));
    expect(shuffledOrder(10, 1, 2)).not.toEqual(shuffledOrder(10, 1, 3));
    expect([...shuffledOrder(10, 1, 2)].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(splitHalves([1, 2, 3, 4, 5])).toEqual([[1, 2], [3, 4, 5]]);

    const loader = new BatchLoader(e, samples, { batchSize: 2, shuffle: true, seed: 7 });
    const order = loader.order(1);
    const seen: number[] = [];
    for (const b of loader.epoch(1)) {
      seen.push(...b.indices);
      const img = await b.images.read();
      const pix = await b.pixelSizeTensor.read();
      expect(b.images.shape).toEqual([b.size, 1, 8, 8]);
      b.samples.forEach((s, i) => {
        expect(Array.from(img.subarray(i * 64, (i + 1) * 64))).toEqual(Array.from(s.image));
        expect(Array.from(pix.subarray(2 * i, 2 * i + 2))).toEqual([Math.fround(0.1), Math.fround(0.1)]);
        expect(Array.from(b.targets.subarray(2 * i, 2 * i + 2))).toEqual(Array.from(targetPixels(s.landmarks, 8, 8)));
      });
    }
    expect(seen).toEqual(order);
    expect(loader.length).toBe(3);
    loader.dispose();
    expect(() => new BatchLoader(e, [samples[0], { ...samples[1], width: 9 }], { batchSize: 1 })).toThrow(/9x8/);
  });
});

describe('calibrateTemperatures', () => {
  it('raises T of an overconfident landmark, lowers T of an underconfident one, keeps the best ECE and never moves the argmax', async () => {
    const e = engine();
    const samples = blobSamples(32, 32, 2, 0.6, 1);
    // Landmark 0: k = 0.05, mode probability ~0.75 against ~30% accuracy (overconfident). Landmark 1: k = 0.01,
    // a nearly flat map (mode probability ~0.01, underconfident).
    const net = convNetwork(e, [0.05, 0.01]);
    const events: CalibrateProgress[] = [];
    try {
      const before = await evaluateSplit(e, net, samples, { batchSize: 8, heatmaps: { count: 0 } });
      const result = await calibrateTemperatures(e, net, samples, {
        objective: 'nll',
        epochs: 8,
        lr: 0.05,
        augment: null,
        calibration: { bins: 10, maxConfidence: 1 },
        onProgress: (ev) => events.push(ev),
      });
      const [t0, t1] = result.temperatures;
      expect(t0).toBeGreaterThan(1.2);
      expect(t1).toBeLessThan(0.8);
      expect(result.eceAfter).toBeLessThan(result.eceBefore);
      expect(result.history).toHaveLength(9);
      expect(result.history[0].epoch).toBe(0);
      const best = result.history[result.bestEpoch];
      expect(best.ece).toBe(Math.min(...result.history.map((h) => h.ece)));
      expect(Array.from(result.temperatures)).toEqual(best.temperatures);
      expect(result.eceAfter).toBe(best.ece);
      expect(result.after.ece).toBe(best.ece);
      expect(result.settings.cachedFit && result.settings.cachedValidation).toBe(true);
      expect(result.fitCount).toBe(16);
      expect(events.filter((ev) => ev.kind === 'step')).toHaveLength(8 * 4);
      expect(events.filter((ev) => ev.kind === 'epoch')).toHaveLength(9);

      // Same numbers without any cache (the network runs every epoch).
      const uncached = await calibrateTemperatures(e, net, samples, { objective: 'nll', epochs: 2, lr: 0.05, augment: null, calibration: { bins: 10, maxConfidence: 1 }, cacheBytes: 0 });
      const cached = await calibrateTemperatures(e, net, samples, { objective: 'nll', epochs: 2, lr: 0.05, augment: null, calibration: { bins: 10, maxConfidence: 1 } });
      expect(uncached.settings.cachedFit || uncached.settings.cachedValidation).toBe(false);
      for (let i = 0; i < 3; i++) {
        expect(uncached.history[i].ece).toBe(cached.history[i].ece);
        uncached.history[i].temperatures.forEach((t, l) => expect(t).toBeCloseTo(cached.history[i].temperatures[l], 6));
      }

      const after = await evaluateSplit(e, net, samples, { batchSize: 8, temperatures: result.temperatures, heatmaps: { count: 0 } });
      expect(after.images.map((im) => im.argmax)).toEqual(before.images.map((im) => im.argmax));
      expect(after.images.map((im) => im.radialErrorsMm)).toEqual(before.images.map((im) => im.radialErrorsMm));
    } finally {
      net.dispose();
    }
  });

  it('with augmentation (src/data/augmentation.ts) on the first half, keeps T finite and positive; clamps at minTemperature', async () => {
    const e = engine();
    const samples = blobSamples(8, 32, 2, 0.6, 2);
    const net = convNetwork(e, [0.05, 0.01]);
    try {
      const result = await calibrateTemperatures(e, net, samples, { objective: 'nll', epochs: 2, lr: 0.05, batchSize: 2, calibration: { bins: 10, maxConfidence: 1 } });
      expect(result.settings.augmented).toBe(true); // the NLL objective augments by default, as the reference
      expect(result.settings.cachedFit).toBe(false);
      for (const h of result.history.slice(1)) {
        expect(Number.isFinite(h.nll)).toBe(true);
        for (const t of h.temperatures) expect(t).toBeGreaterThan(0);
      }
      // A huge learning rate drives T of the underconfident landmark below zero without the clamp.
      const clamped = await calibrateTemperatures(e, net, samples, { objective: 'nll', epochs: 1, lr: 5, augment: null, minTemperature: 0.25, keepInitial: false, calibration: { bins: 10, maxConfidence: 1 } });
      expect(clamped.history[1].temperatures[1]).toBeCloseTo(0.25, 6);
      expect(clamped.bestEpoch).toBe(1);
      // The ECE objective: augmented when asked (finite, positive T), and the same clamp.
      const eceAug = await calibrateTemperatures(e, net, samples, { objective: 'ece', augment: 'reference', epochs: 1, lr: 0.05, batchSize: 2, calibration: { bins: 10, maxConfidence: 1 } });
      expect(eceAug.settings).toMatchObject({ objective: 'ece', augmented: true, cachedFit: false });
      for (const t of eceAug.history[1].temperatures) expect(t).toBeGreaterThan(0);
      expect(Number.isFinite(eceAug.history[1].fitEce)).toBe(true);
      const eceClamped = await calibrateTemperatures(e, net, samples, { objective: 'ece', epochs: 1, lr: 5, minTemperature: 0.25, keepInitial: false, calibration: { bins: 10, maxConfidence: 1 } });
      expect(eceClamped.history[1].temperatures[1]).toBeCloseTo(0.25, 6);
    } finally {
      net.dispose();
    }
  });

  it('a tiny ResNet-UNet with its head scaled up (overconfident) gets T > 1; the argmax is unchanged', async () => {
    const e = engine();
    const config: UnetConfig = { inChannels: 1, landmarks: 3, encoderChannels: [4, 4, 8, 8, 8], encoderBlocks: [1, 1, 1, 1], decoderChannels: [8, 8, 4, 4, 4] };
    const samples = await loadSyntheticSplit('test1', { counts: { test1: 8 }, width: 160, landmarks: 3, seed: 3 }, { width: 64, height: 64 });
    const model = new ResnetUnet(config);
    const state = model.allocate(e, 1);
    try {
      // x12: confident and wrong (ECE about 0.8), yet not so saturated that T's gradient vanishes (x40 left a
      // landmark's ECE flat in T on some images, so the best epoch was T = 1).
      for (const name of ['segmentation_head.0.weight', 'segmentation_head.0.bias']) {
        const p = state.param(name);
        const v = (await p.read()) as Float32Array;
        e.write(p, v.map((x) => x * 12));
      }
      const net = unetNetwork(model, state);
      const before = await evaluateSplit(e, net, samples, { batchSize: 4, heatmaps: { count: 0 } });
      expect(before.summary.calibration.ece).toBeGreaterThan(0.3); // confident and wrong
      for (const objective of ['nll', 'ece'] as const) {
        const result = await calibrateTemperatures(e, net, samples, { objective, epochs: 3, augment: null, batchSize: 2 });
        for (const t of result.temperatures) expect(t, objective).toBeGreaterThan(1);
        expect(result.eceAfter, objective).toBeLessThan(result.eceBefore);
      }
      const result = await calibrateTemperatures(e, net, samples, { epochs: 3, batchSize: 2 });
      expect(result.settings).toMatchObject({ objective: 'ece', augmented: false }); // the defaults
      expect(state.training).toBe(true); // restored after every frozen forward
      const after = await evaluateSplit(e, net, samples, { batchSize: 4, temperatures: result.temperatures, heatmaps: { count: 0 } });
      expect(after.images.map((im) => im.argmax)).toEqual(before.images.map((im) => im.argmax));
    } finally {
      state.dispose();
    }
  });

  it("the 'ece' objective raises T of an overconfident landmark, lowers T of an underconfident one and lowers the validation ECE", async () => {
    const e = engine();
    const samples = blobSamples(32, 32, 2, 0.6, 1);
    const net = convNetwork(e, [0.05, 0.01]);
    const events: CalibrateProgress[] = [];
    try {
      const before = await evaluateSplit(e, net, samples, { batchSize: 8, heatmaps: { count: 0 } });
      const result = await calibrateTemperatures(e, net, samples, {
        objective: 'ece',
        epochs: 10,
        lr: 0.1,
        calibration: { bins: 10, maxConfidence: 1 },
        onProgress: (ev) => events.push(ev),
      });
      expect(result.settings).toMatchObject({ objective: 'ece', augmented: false, cachedFit: true });
      const [t0, t1] = result.temperatures;
      expect(t0).toBeGreaterThan(1.2);
      expect(t1).toBeLessThan(0.8);
      expect(result.eceAfter).toBeLessThan(0.5 * result.eceBefore);
      const best = result.history[result.bestEpoch];
      expect(best.ece).toBe(Math.min(...result.history.map((h) => h.ece)));
      expect(Array.from(result.temperatures)).toEqual(best.temperatures);
      // One Adam step per epoch on the ECE of the whole first half (16 images in batches of 4).
      const steps = events.filter((ev) => ev.kind === 'step');
      expect(steps).toHaveLength(10);
      steps.forEach((ev, i) => {
        expect(ev).toMatchObject({ epoch: i + 1, step: 1, steps: 1 });
        if (ev.kind === 'step') expect(ev.loss).toBe(result.history[i + 1].fitEce);
      });
      for (const h of result.history.slice(1)) expect(Number.isFinite(h.fitEce) && Number.isFinite(h.nll)).toBe(true);
      // The objective is the ECE of the whole first half, exactly as the evaluation measures it.
      const firstHalf = await evaluateSplit(e, net, samples.slice(0, 16), { batchSize: 8, heatmaps: { count: 0 }, summary: { calibration: { bins: 10, maxConfidence: 1 } } });
      expect(result.history[1].fitEce).toBeCloseTo(firstHalf.summary.calibration.ece, 6);
      const after = await evaluateSplit(e, net, samples, { batchSize: 8, temperatures: result.temperatures, heatmaps: { count: 0 } });
      expect(after.images.map((im) => im.argmax)).toEqual(before.images.map((im) => im.argmax));
    } finally {
      net.dispose();
    }
  });

  it('rejects bad input before running anything', async () => {
    const e = engine();
    const net = convNetwork(e, [0.05, 0.01]);
    try {
      const four = blobSamples(4, 8, 2, 0.5, 1);
      const bad: [CalibrateOptions, RegExp][] = [
        [{ objective: 'mse' as never }, /objective must be 'ece' or 'nll', got "mse"/],
        [{ lr: 0 }, /lr must be a positive number, got 0/],
        [{ lr: NaN, objective: 'nll' }, /lr must be a positive number, got NaN/],
        [{ batchSize: 0 }, /batchSize must be a positive integer, got 0/],
        [{ epochs: 1.5 }, /epochs must be a non-negative integer/],
      ];
      for (const [options, message] of bad) await expect(calibrateTemperatures(e, net, four, options)).rejects.toThrow(message);
      await expect(calibrateTemperatures(e, net, blobSamples(1, 8, 2, 0.5, 1))).rejects.toThrow(/at least 2 samples/);
      await expect(calibrateTemperatures(e, net, blobSamples(4, 8, 3, 0.5, 1))).rejects.toThrow(/2 landmarks but the samples have 3/);
      await expect(calibrateTemperatures(e, net, blobSamples(4, 8, 2, 0.5, 1), { initialTemperatures: [1, 0] })).rejects.toThrow(/temperature 1 is 0/);
    } finally {
      net.dispose();
    }
  });
});

/** f64 softmax of one map's logits at temperature t: mode probability, argmax, and dc/dT = c / T^2 (E_p[z] - z_max). */
function modeF64(z: ArrayLike<number>, t: number): { c: number; arg: number; dc: number } {
  let arg = 0;
  for (let i = 1; i < z.length; i++) if (z[i] > z[arg]) arg = i;
  let sum = 0;
  let ez = 0;
  for (let i = 0; i < z.length; i++) {
    const p = Math.exp((z[i] - z[arg]) / t);
    sum += p;
    ez += p * z[i];
  }
  const c = 1 / sum;
  return { c, arg, dc: (c / (t * t)) * (ez / sum - z[arg]) };
}

describe("the 'ece' objective's pieces", () => {
  it('modeProbabilitySlopes: mode probabilities, argmax and dc/dT match an f64 computation', async () => {
    const e = engine();
    const [N, L, H, W] = [3, 4, 5, 6];
    const random = mulberry32(11);
    const logits = new Float32Array(N * L * H * W);
    // Per map a different sharpness, so mode probabilities spread over (0, 1).
    for (let m = 0; m < N * L; m++) {
      const sharp = 0.5 + 4 * random();
      for (let i = 0; i < H * W; i++) logits[m * H * W + i] = sharp * (2 * random() - 1);
    }
    const temps = [0.6, 1, 1.7, 3.1];
    const lt = e.tensor(logits, [N, L, H, W]);
    const px = e.tensor(new Float32Array(N * 2).fill(0.1), [N, 2]);
    try {
      const r = await modeProbabilitySlopes(e, lt, temps, px);
      for (let m = 0; m < N * L; m++) {
        const ref = modeF64(logits.subarray(m * H * W, (m + 1) * H * W), Math.fround(temps[m % L]));
        expect(r.argmax[m]).toBe(ref.arg);
        expect(r.modeProb[m]).toBeCloseTo(ref.c, 6);
        expect(Math.abs(r.slope[m] - ref.dc)).toBeLessThan(2e-3 * Math.abs(ref.dc) + 1e-5);
        expect(r.slope[m]).toBeLessThan(0); // a hotter map is less confident
      }
      await expect(modeProbabilitySlopes(e, lt, [1, 1, 0, 1], px)).rejects.toThrow(/temperature 2 is 0/);
    } finally {
      lt.dispose();
      px.dispose();
    }
  });

  it('eceAndGradient: the ECE is metrics.calibration\'s and the gradient matches a central difference of it', () => {
    const [N, L, HW] = [12, 3, 40];
    const random = mulberry32(5);
    const maps = Array.from({ length: N * L }, () => {
      const sharp = 1 + 9 * random();
      return Array.from({ length: HW }, () => sharp * random());
    });
    const radius = correctRadiusMm(0.1);
    // Radial errors: about half the landmarks within the correct radius.
    const errors = maps.map(() => (random() < 0.5 ? 0.5 : 1.5) * radius);
    const correct = errors.map((r) => r < radius);
    const options = { bins: 5, maxConfidence: 1 };
    const eceAt = (t: number[]) => calibration(errors, maps.map((z, i) => modeF64(z, t[i % L]).c), 0.1, options).ece;
    const temps = [0.8, 1.3, 2.2];
    const at = maps.map((z, i) => modeF64(z, temps[i % L]));
    const { ece, gradient } = eceAndGradient(at.map((m) => m.c), correct, at.map((m) => m.dc), L, options);
    expect(ece).toBeCloseTo(eceAt(temps), 12);
    let nonzero = 0;
    for (let l = 0; l < L; l++) {
      const d = 1e-6;
      const up = temps.map((t, k) => (k === l ? t + d : t));
      const down = temps.map((t, k) => (k === l ? t - d : t));
      const fd = (eceAt(up) - eceAt(down)) / (2 * d);
      expect(Math.abs(gradient[l] - fd)).toBeLessThan(1e-6 + 1e-4 * Math.abs(fd));
      if (Math.abs(fd) > 1e-3) nonzero++;
    }
    expect(nonzero).toBe(L);
    expect(() => eceAndGradient([0.5], [true, false], [0], 1)).toThrow(/1 confidences, 2 correctness flags/);
    expect(() => eceAndGradient([0.5, 0.5, 0.5], [true, true, true], [0, 0, 0], 2)).toThrow(/not whole images of 2 landmarks/);
  });

  it('CpuAdam takes the steps of torch.optim.Adam (the optimizer fixture)', () => {
    const fx = JSON.parse(readFileSync('test/fixtures/optim.json', 'utf8')) as { p0: number[]; grads: number[][]; cases: Record<string, number[][]> };
    const p = Float64Array.from(fx.p0);
    const adam = new CpuAdam(p.length, 1e-2);
    for (let s = 0; s < 3; s++) {
      adam.step(p, fx.grads[s]);
      p.forEach((v, i) => expect(Math.abs(v - fx.cases.adam[s][i])).toBeLessThan(1e-6));
    }
    expect(() => new CpuAdam(2, 0)).toThrow(/lr must be a positive number/);
  });
});
