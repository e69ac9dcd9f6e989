// The worker side of the protocol (protocol.ts): a TrainingSession (session.ts) answering requests and telling its
// events. A worker module is two lines:
//   import { serveTrainingWorker } from 'chh-webgpu';
//   serveTrainingWorker(self);
// and the page talks to it through a TrainingWorker (client.ts). Requests run as they come: pause, resume, stop
// and loseDevice are answered while training runs; heatmap frames and weights are transferred, not copied.
import type { Engine } from '../engine/engine.ts';
import { idbStore, DEFAULT_DATABASE, type SessionStore } from './idb-store.ts';
import { TrainingSession, type SessionHost } from './session.ts';
import { renderFrame } from './bitmap.ts';
import { errorInfo, type Args, type EventMessage, type RequestMessage, type RequestType, type ResponseMessage, type Result } from './protocol.ts';

/** What a worker's global scope (or a MessagePort) offers: posting with transfers, and message events. */
export interface WorkerScope {
  postMessage(message: unknown, options?: { transfer?: Transferable[] }): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

export interface ServeOptions {
  /** Where checkpoints go (default: IndexedDB, the database below). */
  store?: SessionStore;
  /** The IndexedDB database of the default store (default 'chh-webgpu-demo', the demo page's). */
  database?: string;
  /** The engine (default Engine.create() on the worker's navigator.gpu). */
  createEngine?: () => Promise<Engine>;
  /** How heatmaps become frames (default: ImageBitmaps, bitmap.ts). */
  render?: SessionHost['render'];
}

/** The ImageBitmaps in a value (heatmap frames), a few levels deep: transferred, not copied. */
function bitmaps(value: unknown, depth = 0, out: Transferable[] = []): Transferable[] {
  if (value === null || typeof value !== 'object' || depth > 4 || ArrayBuffer.isView(value)) return out;
  if (typeof ImageBitmap !== 'undefined' && value instanceof ImageBitmap) out.push(value);
  else for (const v of Array.isArray(value) ? value : Object.values(value)) bitmaps(v, depth + 1, out);
  return out;
}

/** What a message transfers: its bitmaps, and the bytes of fresh weights (nothing else the session keeps). */
function transferables(type: RequestType | null, value: unknown): Transferable[] {
  if (type === 'weights' && value instanceof Uint8Array && value.buffer instanceof ArrayBuffer) return [value.buffer];
  return bitmaps(value);
}

type Handlers = { [K in RequestType]: (args: Args<K>) => Promise<Result<K>> | Result<K> };

function handlers(session: TrainingSession): Handlers {
  return {
    load: ({ settings, files }) => session.loadData(settings, files),
    train: ({ resume }) => session.train(resume),
    pause: () => session.pause(),
    resume: () => session.resume(),
    stop: () => session.stop(),
    loseDevice: () => session.loseDevice(),
    evaluate: () => session.evaluate(),
    showHeatmap: async ({ caption }) => {
      const sample = session.data?.test[0];
      if (sample) await session.showLiveHeatmap(sample, caption ?? `validation image ${sample.id}`);
    },
    weights: () => session.weights(),
    loadWeights: ({ bytes }) => session.loadWeights(bytes),
    tune: ({ settings }) => session.tune(settings),
    predict: ({ bmp, inputSize, pixelSizeMm, name }) => session.predict(bmp, inputSize, pixelSizeMm, name),
    unfinishedRun: () => session.unfinishedRun(),
  };
}

/** Serves a training session on a worker's scope (or a MessagePort); returns the session. */
export function serveTrainingWorker(scope: WorkerScope, options: ServeOptions = {}): TrainingSession {
  const post = (message: ResponseMessage | EventMessage, transfer: Transferable[]): void => scope.postMessage(message, { transfer });
  const host: SessionHost = {
    emit: (type, data) => post({ kind: 'event', type, data } as EventMessage, bitmaps(data)),
    render: options.render ?? renderFrame,
  };
  const session = new TrainingSession(host, { store: options.store ?? idbStore(options.database ?? DEFAULT_DATABASE), createEngine: options.createEngine });
  const table = handlers(session);
  scope.addEventListener('message', (event) => {
    const m = event.data as RequestMessage;
    if (!m || m.kind !== 'request') return;
    void (async () => {
      try {
        const handler = table[m.type] as ((args: unknown) => unknown) | undefined;
        if (!handler) throw new Error(`unknown request "${String(m.type)}"`);
        const result = await handler(m.args);
        post({ kind: 'response', id: m.id, ok: true, result }, transferables(m.type, result));
      } catch (e) {
        post({ kind: 'response', id: m.id, ok: false, error: errorInfo(e) }, []);
      }
    })();
  });
  return session;
}
