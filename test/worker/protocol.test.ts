// The training worker's protocol without a browser or a GPU: serveTrainingWorker on one end of a MessageChannel,
// a TrainingWorker on the other (Node's MessagePort speaks the same postMessage / message-event API as a Worker).
// Requests are matched to their responses by id, whatever order they finish in; a worker's error arrives as a
// rejection with its message (and the 'error' phase before it); transfers detach the sender's bytes; a worker that
// never loads fails every request. The demo test (test/demo) runs the same protocol in Chromium, with the GPU.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { serveTrainingWorker } from '../../src/worker/serve.ts';
import { TrainingWorker, type WorkerLike } from '../../src/worker/client.ts';
import { memoryStore, type SessionStore } from '../../src/worker/idb-store.ts';
import { DEFAULT_SESSION_SETTINGS, settingsProblem, type SessionSettings } from '../../src/worker/settings.ts';
import { weightsSize } from '../../src/worker/weights-size.ts';
import { TrainingWorkerError, type Events, type EventType, type RunRecord } from '../../src/worker/protocol.ts';
import { serializeSafetensors } from '../../src/io/safetensors.ts';
import { weightsMetadata } from '../../src/io/weights.ts';
import { MODEL_PRESETS } from '../../src/nn/unet.ts';
import { CHECKPOINT_FILE } from '../../src/chh/checkpoint.ts';
import { PREDICTION } from '../../src/chh/config.ts';

const TINY: SessionSettings = { ...DEFAULT_SESSION_SETTINGS, trainImages: 1, calibrationImages: 2, testImages: 1, width: 32, height: 32, model: 'tiny', epochs: 1, batch: 1 };
const NO_GPU = 'no GPU in this test';

const channels: MessageChannel[] = [];
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});

/** A served session and its client, with every event recorded in order. */
function connect(store: SessionStore = memoryStore()) {
  const channel = new MessageChannel();
  channels.push(channel);
  const session = serveTrainingWorker(channel.port1, {
    store,
    createEngine: () => Promise.reject(new Error(NO_GPU)),
    render: async (_image, points) => ({ ...points, bitmap: null as unknown as ImageBitmap }),
  });
  const events: { type: EventType; data: unknown }[] = [];
  const client = new TrainingWorker(channel.port2 as unknown as WorkerLike);
  for (const type of ['phase', 'log', 'progress', 'state', 'heatmap', 'step', 'epoch', 'rewind'] as const) {
    client.on(type, (data) => events.push({ type, data }));
  }
  channel.port1.start();
  channel.port2.start();
  return { client, session, events };
}

const phases = (events: { type: EventType; data: unknown }[]) => events.filter((e) => e.type === 'phase').map((e) => (e.data as Events['phase']).phase);

describe('the training worker protocol', () => {
  it('matches concurrent requests to their responses, results and errors alike', async () => {
    const { client, events } = connect();
    const [loaded, run, weights] = await Promise.allSettled([client.load(TINY), client.unfinishedRun(), client.weights()]);
    expect(loaded.status).toBe('fulfilled');
    expect(loaded.status === 'fulfilled' && loaded.value.data).toMatchObject({ train: 1, calibration: 2, test: 1, settings: { width: 32 } });
    expect(run).toEqual({ status: 'fulfilled', value: null });
    expect(weights.status).toBe('rejected');
    const error = (weights as PromiseRejectedResult).reason as TrainingWorkerError;
    expect(error).toBeInstanceOf(TrainingWorkerError);
    expect(error.request).toBe('weights');
    expect(error.message).toMatch(/^no model: train one or load weights first/);
    // The load told its phase, its progress per split, what it loaded, and the session's new state.
    expect(phases(events)).toEqual(['loading']);
    expect(events.some((e) => e.type === 'progress' && (e.data as Events['progress']).task === 'data: train')).toBe(true);
    expect(events.some((e) => e.type === 'log' && /synthetic cephalograms/.test((e.data as Events['log']).message))).toBe(true);
    expect(events.filter((e) => e.type === 'state').at(-1)?.data).toMatchObject({ data: { train: 1 }, model: null });
  });

  it("rejects a failed training with the worker's message, after the 'error' phase", async () => {
    const { client, events } = connect();
    await expect(client.train()).rejects.toThrow('no data loaded');
    await client.load(TINY);
    let phaseBeforeRejection: string[] = [];
    await expect(
      client.train().finally(() => {
        phaseBeforeRejection = phases(events);
      }),
    ).rejects.toThrow(NO_GPU);
    expect(phaseBeforeRejection).toEqual(['loading', 'error']);
    expect(events.find((e) => e.type === 'phase' && (e.data as Events['phase']).phase === 'error')?.data).toEqual({ phase: 'error', message: NO_GPU });
    // Control requests answer at once, training or not.
    await expect(Promise.all([client.pause(), client.resume(), client.stop(), client.loseDevice()])).resolves.toHaveLength(4);
    await expect(client.evaluate()).rejects.toThrow('train a model first');
    await expect(client.request('nope' as never, null as never)).rejects.toThrow('unknown request "nope"');
  });

  it("finds an unfinished run in the store, and reads the settings' problems", async () => {
    const store = memoryStore();
    const record: RunRecord = { settings: { ...TINY, epochs: 3 }, config: { ...MODEL_PRESETS.tiny, landmarks: 19 }, finishedEpochs: 1 };
    await store.saveJson('run.json', record);
    const { client } = connect(store);
    expect(await client.unfinishedRun()).toBeNull(); // no checkpoint beside it
    await store.save(CHECKPOINT_FILE, new Uint8Array([1, 2, 3]));
    expect(await client.unfinishedRun()).toEqual(record);
    expect(settingsProblem(TINY)).toBeNull();
    expect(settingsProblem({ ...TINY, width: 40 })).toMatch(/width must be a multiple of 32/);
    await expect(client.load({ ...TINY, lr: 0 })).rejects.toThrow('lr must be > 0');
    await expect(client.load({ ...TINY, source: 'folder' })).rejects.toThrow(/pick a dataset folder first/);
  });

  it('transfers the bytes it sends: the weights reach the worker, the page keeps an empty buffer', async () => {
    const { client } = connect();
    const bytes = serializeSafetensors({ x: { shape: [2], data: new Float32Array([1, 2]) } }, weightsMetadata(MODEL_PRESETS.tiny, { width: 64, height: 96 }));
    // The worker reads the header (the size is fine), then needs an engine for the model: there is none here.
    await expect(client.loadWeights(bytes)).rejects.toThrow(NO_GPU);
    expect(bytes.byteLength).toBe(0);
    const view = new Uint8Array(new ArrayBuffer(16), 4, 8);
    await expect(client.predict(view, { inputSize: { width: 32, height: 32 }, pixelSizeMm: 0.1 })).rejects.toThrow('train a model or load weights first');
    expect(view.byteLength).toBe(8); // a view of a larger buffer is copied, not detached
  });

  it('fails every request when the worker never loads', async () => {
    const listeners = new Map<string, (e: Event) => void>();
    const fake: WorkerLike = { postMessage: () => {}, addEventListener: (type, fn) => void listeners.set(type, fn) };
    const client = new TrainingWorker(fake);
    const pending = client.unfinishedRun();
    listeners.get('error')!({ message: 'SyntaxError: Unexpected token' } as unknown as Event);
    await expect(pending).rejects.toThrow('the training worker failed: SyntaxError: Unexpected token');
    await expect(client.train()).rejects.toThrow('the training worker failed');
  });
});

describe('the input size to predict at', () => {
  it('is the metadata of our weights (the page, chh train and chh calibrate write it), else the paper 640x800', () => {
    const ours = serializeSafetensors({ x: { shape: [1], data: new Float32Array([0]) } }, weightsMetadata({ ...MODEL_PRESETS.tiny, landmarks: 19 }, { width: 128, height: 160 }));
    expect(weightsSize(ours)).toEqual({ inputSize: { width: 128, height: 160 }, from: 'metadata', hasConfig: true });
    // Written by PyTorch from the authors' kind of state dict: no metadata at all.
    const converted = readFileSync(new URL('../fixtures/unet.weights.safetensors', import.meta.url));
    expect(weightsSize(new Uint8Array(converted))).toEqual({ inputSize: { width: 640, height: 800 }, from: 'paper', hasConfig: false });
    expect(PREDICTION.inputSize.default).toEqual({ width: 640, height: 800 });
    const bad = serializeSafetensors({ x: { shape: [1], data: new Float32Array([0]) } }, { input_width: '33', input_height: '64' });
    expect(() => weightsSize(bad)).toThrow(/input_width x input_height 33 x 64/);
  });
});
