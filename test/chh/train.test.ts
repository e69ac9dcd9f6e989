// The training loop: loss falls, resuming from a checkpoint gives exactly the uninterrupted result, a non-finite
// loss stops training and keeps the last good checkpoint, the lr schedule, and the GPU target-pixel kernel.
import { beforeAll, describe, expect, it } from 'vitest';
import { landmarkTargets } from '../../src/ops/targets.ts';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import type { IsbiSample } from '../../src/data/isbi.ts';
import {
  train, learningRate, gpuAugmenter, NonFiniteLossError,
  type CheckpointStore, type TrainOptions,
} from '../../src/chh/train.ts';
import { CHECKPOINT_FILE } from '../../src/chh/checkpoint.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.ts';
import { useEngine } from '../helpers/gpu.ts';
import { fill } from '../../src/ops/fill.ts';
import { f16RangeFlag } from '../../src/ops/f16-range.ts';
import { memoryPolicy } from '../../src/ops/saved.ts';
import { mixSeed } from '../../src/engine/random.ts';

const engine = useEngine();

const TINY: UnetConfig = {
  inChannels: 1,
  landmarks: 4,
  encoderChannels: [4, 4, 8, 8, 8],
  encoderBlocks: [1, 1, 1, 1],
  decoderChannels: [8, 8, 4, 4, 4],
};

class MemoryStore implements CheckpointStore {
  readonly files = new Map<string, Uint8Array>();
  saves = 0;
  async save(name: string, bytes: Uint8Array): Promise<void> {
    this.saves++;
    this.files.set(name, bytes.slice());
  }
  async load(name: string): Promise<Uint8Array | null> {
    return this.files.get(name) ?? null;
  }
}

let samples: IsbiSample[];
beforeAll(async () => {
  samples = await loadSyntheticSplit('train', { counts: { train: 6 }, width: 193, landmarks: 4, seed: 5 }, { width: 64, height: 64 });
});

const options = (o: Partial<TrainOptions> = {}): TrainOptions => ({
  epochs: 3, batch: 4, lr: 3e-3, optimizer: 'adam', milestones: [2], gamma: 0.1, seed: 7, augment: gpuAugmenter, ...o,
});

async function weightsOf(state: { params: { flat: { read(): Promise<Float32Array | Int32Array> } } }): Promise<Float32Array> {
  return (await state.params.flat.read()) as Float32Array;
}

describe('training', () => {
  it('MultiStepLR', () => {
    const o = { lr: 1e-3, milestones: [4, 6, 8], gamma: 0.1 };
    expect([0, 3, 4, 5, 6, 8, 14].map((e) => learningRate(o, e))).toEqual([1e-3, 1e-3, 1e-3 * 0.1, 1e-3 * 0.1, 1e-3 * 0.1 ** 2, 1e-3 * 0.1 ** 3, 1e-3 * 0.1 ** 3]);
  });

  it('landmarkTargets: the containing pixel, clamped to the image', async () => {
    const e = engine();
    const pts = e.tensor([0.2, 0.9, 5.99, 3.0, -4, 2.5, 9.5, 100], [8]);
    const t = landmarkTargets(pts, 2, 2, 7, 6);
    expect(Array.from(await t.read())).toEqual([0 * 6 + 0, 3 * 6 + 5, 2 * 6 + 0, 6 * 6 + 5]);
    expect(() => landmarkTargets(pts, 3, 2, 7, 6)).toThrow(/not N\*L\*2 = 12/);
    pts.dispose();
    t.dispose();
  });

  it('the loss falls on a fixed batch', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const state = model.allocate(e, 2);
    const r = await train({
      engine: e, model, state, samples: samples.slice(0, 4), store: new MemoryStore(), resume: false,
      options: options({ epochs: 8, lr: 1e-2, milestones: [], augment: null }),
    });
    expect(r.epochs[7].meanLoss).toBeLessThan(r.epochs[0].meanLoss - 0.5);
    state.dispose();
  });

  it('resuming after an epoch gives exactly the uninterrupted result', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const full = model.allocate(e, 3);
    const storeA = new MemoryStore();
    const losses: number[] = [];
    const a = await train({ engine: e, model, state: full, samples, options: options(), store: storeA, resume: false, onStep: (p) => losses.push(p.loss) });
    expect(a.nextEpoch).toBe(3);
    expect(storeA.saves).toBe(3);
    expect(losses.length).toBe(6);
    expect(losses.every(Number.isFinite)).toBe(true);

    const part = model.allocate(e, 3);
    const storeB = new MemoryStore();
    const b1 = await train({ engine: e, model, state: part, samples, options: options(), store: storeB, resume: true, stopAfterEpochs: 1 });
    expect(b1.nextEpoch).toBe(1);
    // A fresh process: new weights (another seed, so nothing carries over by accident), resumed from the file.
    const resumed = model.allocate(e, 99);
    const b2 = await train({ engine: e, model, state: resumed, samples, options: options(), store: storeB, resume: true });
    expect(b2.epochs.map((x) => x.epoch)).toEqual([2, 3]);
    expect(b2.epochs.map((x) => x.meanLoss)).toEqual(a.epochs.slice(1).map((x) => x.meanLoss));
    expect(await weightsOf(resumed)).toEqual(await weightsOf(full));
    expect(Array.from(await resumed.buffer('encoder.bn1.running_var').read())).toEqual(Array.from(await full.buffer('encoder.bn1.running_var').read()));
    for (const s of [full, part, resumed]) s.dispose();
  });

  it('precision f16 scales the loss: an overflowed step is skipped and counted, and resuming restores the scaler', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    // The first step of epoch 2 overflows f16 (its flag set as a matrix tile would set it, from inside the step).
    const overflowing = mixSeed(7, 1, 1000);
    const augment: TrainOptions['augment'] = (images, landmarks, seed) => {
      if (seed === overflowing) e.write(f16RangeFlag(e), Int32Array.of(1));
      return gpuAugmenter(images, landmarks, seed);
    };
    const o = options({ precision: 'f16', augment });
    const full = model.allocate(e, 4);
    const a = await train({ engine: e, model, state: full, samples, options: o, store: new MemoryStore(), resume: false });
    expect(a.epochs.map((x) => [x.lossScale, x.skippedSteps])).toEqual([[2 ** 16, 0], [2 ** 15, 1], [2 ** 15, 0]]);
    expect(memoryPolicy(e).storage).toBe('f32'); // put back after training

    const store = new MemoryStore();
    await train({ engine: e, model, state: model.allocate(e, 4), samples, options: o, store, resume: false, stopAfterEpochs: 2 });
    const resumed = model.allocate(e, 99);
    const b = await train({ engine: e, model, state: resumed, samples, options: o, store, resume: true });
    expect(b.epochs.map((x) => [x.epoch, x.meanLoss, x.lossScale, x.skippedSteps])).toEqual([[3, a.epochs[2].meanLoss, 2 ** 15, 0]]);
    expect(await weightsOf(resumed)).toEqual(await weightsOf(full));
    full.dispose();
    resumed.dispose();
  });

  it('precision f16 resumes a checkpoint from before loss scaling: the scale starts again, Adam\'s step count goes on', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const o = options({ precision: 'f16', epochs: 2 });
    const full = model.allocate(e, 6);
    await train({ engine: e, model, state: full, samples, options: o, store: new MemoryStore(), resume: false });
    const store = new MemoryStore();
    await train({ engine: e, model, state: model.allocate(e, 6), samples, options: o, store, resume: false, stopAfterEpochs: 1 });
    const { tensors, metadata } = parseSafetensors(store.files.get(CHECKPOINT_FILE)!);
    expect(tensors.delete('optimizer.loss_scaler')).toBe(true);
    store.files.set(CHECKPOINT_FILE, serializeSafetensors(tensors, metadata));
    const resumed = model.allocate(e, 99);
    const b = await train({ engine: e, model, state: resumed, samples, options: o, store, resume: true });
    expect(b.epochs.map((x) => [x.epoch, x.lossScale, x.skippedSteps])).toEqual([[2, 2 ** 16, 0]]);
    // Power-of-two scales change no value: with the step count carried on, the weights are the uninterrupted run's.
    expect(await weightsOf(resumed)).toEqual(await weightsOf(full));
    full.dispose();
    resumed.dispose();
  });

  it('precision f16: an epoch whose every step overflowed stops training with an error naming --precision f32', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const state = model.allocate(e, 5);
    const augment: TrainOptions['augment'] = (images, landmarks, seed) => {
      e.write(f16RangeFlag(e), Int32Array.of(1));
      return gpuAugmenter(images, landmarks, seed);
    };
    const store = new MemoryStore();
    const run = train({ engine: e, model, state, samples, options: options({ precision: 'f16', augment, epochs: 1 }), store, resume: false });
    await expect(run).rejects.toThrow(/every step of this epoch overflowed f16 \(loss scale now 16384\).*train with --precision f32/);
    expect(store.saves).toBe(0);
    state.dispose();
  });

  it('resuming refuses any setting that changes the result, naming it and both values, and keeps the whole history', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const state = model.allocate(e, 4);
    const store = new MemoryStore();
    const o = options({ epochs: 2, augment: null });
    await train({ engine: e, model, state, samples, options: o, store, resume: false, stopAfterEpochs: 1 });
    const refuse = (changed: Partial<TrainOptions>, pattern: RegExp, data = samples) =>
      expect(train({ engine: e, model, state, samples: data, options: { ...o, ...changed }, store, resume: true })).rejects.toThrow(pattern);
    await refuse({ lr: 1e-2 }, /lr: the checkpoint has 0\.003, this run 0\.01/);
    await refuse({ batch: 2 }, /batch: the checkpoint has 4, this run 2/);
    await refuse({ milestones: [1] }, /milestones: the checkpoint has 2, this run 1/);
    await refuse({ gamma: 0.5 }, /gamma: the checkpoint has 0\.1, this run 0\.5/);
    await refuse({ augment: gpuAugmenter }, /augment: the checkpoint has off, this run on/);
    await refuse({ precision: 'f16' }, /precision: the checkpoint has f32, this run f16/);
    await refuse({ seed: 8, optimizer: 'sgd' }, /optimizer: the checkpoint has adam, this run sgd\n {2}seed: the checkpoint has 7, this run 8/);
    await refuse({}, /training images: the checkpoint has 6 .*, this run 5/, samples.slice(1));
    const resumedAt: number[] = [];
    const r = await train({ engine: e, model, state, samples, options: o, store, resume: true, onResume: (n) => resumedAt.push(n) });
    expect(resumedAt).toEqual([1]);
    expect(r.epochs.map((x) => x.epoch)).toEqual([2]);
    expect(r.history.map((x) => x.epoch)).toEqual([1, 2]);
    const done = await train({ engine: e, model, state, samples, options: o, store, resume: true });
    expect(done.epochs).toEqual([]);
    expect(done.history.map((x) => x.epoch)).toEqual([1, 2]);
    state.dispose();
  });

  it('a non-finite loss stops training with a clear error and keeps the last good checkpoint', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const state = model.allocate(e, 1);
    const store = new MemoryStore();
    await train({ engine: e, model, state, samples, options: options({ epochs: 2, augment: null }), store, resume: false, stopAfterEpochs: 1 });
    const good = store.files.get(CHECKPOINT_FILE)!;
    // Poison one weight: the next forward gives NaN logits.
    fill(state.param('segmentation_head.0.bias'), Number.NaN);
    await expect(
      train({ engine: e, model, state, samples, options: options({ epochs: 2, augment: null }), store, resume: false }),
    ).rejects.toThrow(NonFiniteLossError);
    await expect(
      train({ engine: e, model, state, samples, options: options({ epochs: 2, augment: null }), store, resume: false }),
    ).rejects.toThrow(/loss became NaN at epoch 1, step 1.*last good checkpoint/);
    expect(store.files.get(CHECKPOINT_FILE)).toEqual(good);
    state.dispose();
  });

  it('rejects mismatched data and bad options', async () => {
    const e = engine();
    const model = new ResnetUnet({ ...TINY, landmarks: 5 });
    const state = model.allocate(e, 1);
    const store = new MemoryStore();
    await expect(train({ engine: e, model, state, samples, options: options(), store, resume: false })).rejects.toThrow(/predicts 5 landmarks but the data has 4/);
    await expect(train({ engine: e, model, state, samples: [], options: options(), store, resume: false })).rejects.toThrow(/train: no samples|no training samples/);
    await expect(train({ engine: e, model, state, samples, options: options({ batch: 0 }), store, resume: false })).rejects.toThrow(/batch must be a positive integer/);
    const bf16 = options({ precision: 'bf16' as TrainOptions['precision'] });
    await expect(train({ engine: e, model, state, samples, options: bf16, store, resume: false })).rejects.toThrow('train: precision must be one of f32, f16, got "bf16"');
    state.dispose();
  });
});
