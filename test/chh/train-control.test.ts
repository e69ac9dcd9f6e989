// train()'s beforeStep hook (the demo page's Pause / Resume / Stop): a pending promise pauses between steps, 'stop'
// ends training before the step, keeps the last finished epoch's checkpoint, and a resumed run finishes the schedule.
import { beforeAll, describe, expect, it } from 'vitest';
import { ResnetUnet, type UnetConfig } from '../../src/nn/unet.ts';
import { loadSyntheticSplit } from '../../src/data/synthetic/dataset.ts';
import type { IsbiSample } from '../../src/data/isbi.ts';
import { parseSafetensorsHeader } from '../../src/io/safetensors.ts';
import { train, type CheckpointStore, type TrainOptions } from '../../src/chh/train.ts';
import { CHECKPOINT_FILE } from '../../src/chh/checkpoint.ts';
import { useEngine } from '../helpers/gpu.ts';

const engine = useEngine();

const TINY: UnetConfig = { inChannels: 1, landmarks: 4, encoderChannels: [4, 4, 8, 8, 8], encoderBlocks: [1, 1, 1, 1], decoderChannels: [8, 8, 4, 4, 4] };

function memoryStore(): CheckpointStore & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async save(name, bytes) {
      files.set(name, bytes.slice());
    },
    async load(name) {
      return files.get(name) ?? null;
    },
  };
}

let samples: IsbiSample[];
beforeAll(async () => {
  samples = await loadSyntheticSplit('train', { counts: { train: 6 }, width: 193, landmarks: 4, seed: 5 }, { width: 64, height: 64 });
});

const options: TrainOptions = { epochs: 3, batch: 4, lr: 3e-3, optimizer: 'adam', milestones: [], gamma: 0.1, seed: 7, augment: null };

describe('train: beforeStep', () => {
  it('pauses while its promise is pending, stops on "stop" keeping the last finished epoch, and resumes from there', async () => {
    const e = engine();
    const model = new ResnetUnet(TINY);
    const state = model.allocate(e, 1);
    const store = memoryStore();
    const calls: string[] = [];
    const steps: string[] = [];
    let release: (() => void) | null = null;
    const result = await train({
      engine: e,
      model,
      state,
      samples,
      options,
      store,
      resume: false,
      onStep: (p) => steps.push(`${p.epoch}.${p.step}`),
      beforeStep: ({ epoch, step }) => {
        calls.push(`${epoch}.${step}`);
        if (epoch === 0 && step === 1) {
          // Pause before the second step: resumed by a timer, during which no step may run.
          return new Promise<void>((resolve) => {
            const before = steps.length;
            release = () => {
              expect(steps.length).toBe(before);
              resolve();
            };
            setTimeout(() => release!(), 200);
          });
        }
        if (epoch === 1 && step === 1) return 'stop';
      },
    });
    expect(release).not.toBeNull();
    expect(calls).toEqual(['0.0', '0.1', '1.0', '1.1']);
    expect(steps).toEqual(['0.1', '0.2', '1.1']);
    expect(result.stopped).toBe(true);
    expect(result.nextEpoch).toBe(1);
    expect(result.epochs.map((s) => s.epoch)).toEqual([1]);
    const meta = parseSafetensorsHeader(store.files.get(CHECKPOINT_FILE)!).metadata;
    expect(meta.next_epoch).toBe('1');

    // The state is still usable, and a resumed run finishes the schedule from the kept checkpoint.
    const resumed = await train({ engine: e, model, state, samples, options, store, resume: true });
    expect(resumed.stopped).toBe(false);
    expect(resumed.nextEpoch).toBe(3);
    expect(resumed.epochs.map((s) => s.epoch)).toEqual([2, 3]);
    state.dispose();
  });
});
