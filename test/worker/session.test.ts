// A served training session on a real GPU (Dawn in Node; the client over a MessageChannel, as a page over its
// Worker): a tiny run pauses after its first epoch (its checkpoint written), loses its device while paused, ends in the 'lost' phase with
// the epoch-1 checkpoint kept, resumes from it on a new device, and its weights record the input size they were
// trained at and predict again after loading. The demo test (test/demo) does the same in Chromium, unpaused.
import { afterAll, describe, expect, it } from 'vitest';
import { serveTrainingWorker } from '../../src/worker/serve.ts';
import { TrainingWorker, type WorkerLike } from '../../src/worker/client.ts';
import { memoryStore, type SessionStore } from '../../src/worker/idb-store.ts';
import { CHECKPOINT_FILE } from '../../src/chh/checkpoint.ts';
import { DEFAULT_SESSION_SETTINGS, type SessionSettings } from '../../src/worker/settings.ts';
import { weightsSize } from '../../src/worker/weights-size.ts';
import type { Events, Phase } from '../../src/worker/protocol.ts';
import { createNodeEngine } from '../../src/node/gpu.ts';
import { generateSyntheticCase } from '../../src/data/synthetic/dataset.ts';
import { encodeBmpGray8 } from '../../src/io/bmp.ts';
import { parseSafetensorsHeader } from '../../src/io/safetensors.ts';

const SETTINGS: SessionSettings = {
  ...DEFAULT_SESSION_SETTINGS,
  trainImages: 4, calibrationImages: 2, testImages: 1, width: 32, height: 32, model: 'tiny', batch: 2, epochs: 2, augment: false, heatmapEvery: 1000,
  precision: 'f16', // the page's "precision" setting: kept through the resume, recorded in the weights
};

// Pause exactly after the first checkpoint (the store is written between epochs; a Pause sent by message would
// race steps this small, which take a tenth of a second).
const store = memoryStore();
let pauseAfterCheckpoint = true;
const pausing: SessionStore = {
  ...store,
  save: async (name, bytes) => {
    await store.save(name, bytes);
    if (name === CHECKPOINT_FILE && pauseAfterCheckpoint) {
      pauseAfterCheckpoint = false;
      session.pause();
    }
  },
};
const channel = new MessageChannel();
const session = serveTrainingWorker(channel.port1, {
  store: pausing,
  createEngine: () => createNodeEngine(),
  render: async (_image, points) => ({ ...points, bitmap: null as unknown as ImageBitmap }),
});
const client = new TrainingWorker(channel.port2 as unknown as WorkerLike);
channel.port1.start();
channel.port2.start();
afterAll(() => {
  session.engine?.destroy();
  channel.port1.close();
  channel.port2.close();
});

const phases: { phase: Phase; message: string }[] = [];
const steps: number[] = [];
const rewinds: Events['rewind'][] = [];
client.on('phase', (p) => phases.push(p));
if (process.env.CHH_DEBUG) for (const t of ['phase', 'step', 'epoch', 'log', 'rewind'] as const) client.on(t, (d) => console.log(`${(performance.now() / 1000).toFixed(1)} ${t} ${JSON.stringify(d).slice(0, 160)}`));
client.on('step', (s) => steps.push(s.globalStep));
const logs: string[] = [];
client.on('log', (l) => logs.push(l.message));
client.on('rewind', (r) => rewinds.push(r));

/** Resolves on the first event of a type that passes the test; fails on the 'error' phase. */
const next = <K extends keyof Events>(type: K, test: (data: Events[K]) => boolean = () => true): Promise<Events[K]> =>
  new Promise((resolve, reject) => {
    const offs = [
      client.on(type, (data) => {
        if (!test(data)) return;
        offs.forEach((off) => off());
        resolve(data);
      }),
      client.on('phase', (p) => {
        if (p.phase !== 'error') return;
        offs.forEach((off) => off());
        reject(new Error(`waiting for ${type}, the session failed: ${p.message}`));
      }),
    ];
  });

describe('a training session behind the protocol, on a GPU', () => {
  it('survives a device loss while paused, resumes from the checkpoint, and predicts with its weights', async () => {
    await client.load(SETTINGS);
    const firstEpoch = next('epoch');
    const training = client.train();
    training.catch(() => {}); // awaited below
    await firstEpoch;
    await next('phase', (p) => p.phase === 'paused');
    expect(steps).toEqual([1, 2]);
    expect(logs).toContain('tensor cores: none (the adapter has no chromium-experimental-subgroup-matrix feature): f16 storage and loss scaling only');
    expect(logs.some((l) => /^epoch 1\/2: mean loss [\d.]+, .*, loss scale 65536; checkpoint saved/.test(l))).toBe(true);
    await client.loseDevice();
    await expect(training).rejects.toThrow(/device lost|destroyed/i);
    expect(phases.at(-1)?.phase).toBe('lost');
    expect(phases.at(-1)?.message).toMatch(/checkpoint of epoch 1 is kept/);
    expect(await client.unfinishedRun()).toMatchObject({ finishedEpochs: 1, settings: { epochs: 2 } });

    const stepsBefore = steps.length;
    await expect(client.train(true)).resolves.toEqual({ outcome: 'trained' });
    expect(rewinds.at(-1)).toEqual({ globalStep: 2, epoch: 1 });
    expect(steps.slice(stepsBefore)).toEqual([3, 4]); // epoch 2 only, on the new device
    expect(await client.unfinishedRun()).toBeNull(); // finished

    const weights = await client.weights();
    expect(weightsSize(weights)).toMatchObject({ inputSize: { width: 32, height: 32 }, from: 'metadata' });
    expect(parseSafetensorsHeader(weights).metadata.precision).toBe('f16');
    const loaded = await client.loadWeights(weights);
    expect(loaded).toMatchObject({ inputSize: { width: 32, height: 32 }, from: 'metadata', format: 'chh', configFromFile: true, model: { config: { landmarks: 19 } } });
    const c = generateSyntheticCase(5, 0, { width: 96 });
    const p = await client.predict(encodeBmpGray8({ width: c.width, height: c.height, data: c.pixels }), { inputSize: loaded.inputSize, pixelSizeMm: c.pixelSizeMm });
    expect(p.landmarks).toHaveLength(19);
    expect(p.original).toEqual({ width: c.width, height: c.height });
    expect(p.frame.imageWidth).toBe(32);
    expect(p.frame.predicted).toHaveLength(38);
  }, 180_000);
});
