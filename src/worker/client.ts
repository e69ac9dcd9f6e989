// The page side of the protocol (protocol.ts): a TrainingWorker wraps a Worker that runs serveTrainingWorker
// (serve.ts), gives a promise per request (the worker's errors arrive as rejections with its message) and calls
// back on its events. Bundler-agnostic: the page makes the Worker, e.g.
//   const worker = new TrainingWorker(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
//   worker.on('step', (s) => console.log(s.loss));
//   await worker.load(DEFAULT_SESSION_SETTINGS);
//   await worker.train();
import { pickedFiles, type PathFile } from '../io/files.ts';
import type { InputSize } from '../io/weights.ts';
import type { SessionSettings } from './settings.ts';
import { TrainingWorkerError, type Args, type Events, type EventType, type RequestMessage, type RequestType, type Result, type WorkerMessage } from './protocol.ts';

/** What a Worker (or a MessagePort) offers the client. */
export interface WorkerLike {
  postMessage(message: unknown, options?: { transfer?: Transferable[] }): void;
  addEventListener(type: 'message' | 'error' | 'messageerror', listener: (event: Event) => void): void;
  terminate?(): void;
}

export type EventHandler<K extends EventType> = (data: Events[K]) => void;
export type EventHandlers = { [K in EventType]?: EventHandler<K> };

interface Pending {
  type: RequestType;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** The bytes as an ArrayBuffer of their own, to transfer (a view of a larger buffer is copied first). */
function ownBuffer(bytes: Uint8Array | ArrayBuffer): Uint8Array<ArrayBuffer> {
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes as Uint8Array<ArrayBuffer>;
  return bytes.slice();
}

export class TrainingWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<EventType, Set<(data: never) => void>>();
  private heard = false;
  private failure: Error | null = null;

  constructor(
    private readonly worker: WorkerLike,
    handlers: EventHandlers = {},
  ) {
    for (const [type, fn] of Object.entries(handlers)) if (fn) this.on(type as EventType, fn as EventHandler<EventType>);
    worker.addEventListener('message', (e) => this.receive((e as MessageEvent).data as WorkerMessage));
    worker.addEventListener('messageerror', () => this.failAll(new Error('a message from the training worker could not be read')));
    worker.addEventListener('error', (e) => {
      const message = (e as ErrorEvent).message || 'the worker module did not load';
      // Before the worker said anything it did not start: every request fails. Later, an uncaught error is a log line.
      if (!this.heard) this.failAll(new Error(`the training worker failed: ${message}`));
      else this.dispatch({ kind: 'event', type: 'log', data: { message: `worker error: ${message}` } });
    });
  }

  /** Calls fn on every event of a type; returns a function that stops it. */
  on<K extends EventType>(type: K, fn: EventHandler<K>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn as (data: never) => void);
    return () => set.delete(fn as (data: never) => void);
  }

  /** Any request by name; the methods below are these with types spelled out. */
  request<K extends RequestType>(type: K, args: Args<K>, transfer: Transferable[] = []): Promise<Result<K>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Result<K>>((resolve, reject) => {
      this.pending.set(id, { type, resolve: resolve as (v: unknown) => void, reject });
      try {
        this.worker.postMessage({ kind: 'request', id, type, args } as RequestMessage, { transfer });
      } catch (e) {
        this.pending.delete(id);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  private receive(m: WorkerMessage): void {
    this.heard = true;
    if (!m || typeof m !== 'object') return;
    if (m.kind === 'event') {
      this.dispatch(m);
      return;
    }
    if (m.kind !== 'response') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new TrainingWorkerError(p.type, m.error));
  }

  private dispatch(m: Extract<WorkerMessage, { kind: 'event' }>): void {
    for (const fn of this.listeners.get(m.type) ?? []) {
      try {
        (fn as (data: unknown) => void)(m.data);
      } catch (e) {
        console.error(e); // one listener's error neither stops the others nor the worker
      }
    }
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  /** Loads the data of the settings: synthetic, or the picked folder's files (File objects or files with paths). */
  load(settings: SessionSettings, files: ArrayLike<File> | Iterable<File> | readonly PathFile[] | null = null): Promise<Result<'load'>> {
    const list: (File | PathFile)[] | null = files ? Array.from(files as ArrayLike<File | PathFile>) : null;
    const withPaths = list && list.every((f): f is PathFile => 'path' in f && 'file' in f) ? (list as PathFile[]) : list && pickedFiles(list as File[]);
    return this.request('load', { settings, files: withPaths });
  }

  /** Trains the loaded data from scratch, or from the stored checkpoint (resume). */
  train(resume = false): Promise<Result<'train'>> {
    return this.request('train', { resume });
  }

  pause(): Promise<void> {
    return this.request('pause', null);
  }

  resume(): Promise<void> {
    return this.request('resume', null);
  }

  stop(): Promise<void> {
    return this.request('stop', null);
  }

  /** Destroys the worker's GPU device (tests of device loss: training ends in the 'lost' phase, the checkpoint kept). */
  loseDevice(): Promise<void> {
    return this.request('loseDevice', null);
  }

  /** Temperature scaling and every metric on the test split, the overlays (frames) and the report. */
  evaluate(): Promise<Result<'evaluate'>> {
    return this.request('evaluate', null);
  }

  /** A 'heatmap' event of the first test image now. */
  showHeatmap(caption?: string): Promise<void> {
    return this.request('showHeatmap', { caption });
  }

  /** The model's weights (.safetensors with PyTorch names, the temperatures, the configuration and input size). */
  weights(): Promise<Uint8Array> {
    return this.request('weights', null);
  }

  /** Makes a weights file the session's model. Its buffer is transferred (detached here) unless it is a view. */
  loadWeights(bytes: Uint8Array | ArrayBuffer): Promise<Result<'loadWeights'>> {
    const own = ownBuffer(bytes);
    return this.request('loadWeights', { bytes: own }, [own.buffer]);
  }

  /** Landmarks on a BMP at an input size; its buffer is transferred like loadWeights'. */
  predict(bmp: Uint8Array | ArrayBuffer, options: { inputSize: InputSize; pixelSizeMm: number; name?: string }): Promise<Result<'predict'>> {
    const own = ownBuffer(bmp);
    return this.request('predict', { bmp: own, inputSize: options.inputSize, pixelSizeMm: options.pixelSizeMm, name: options.name ?? 'image.bmp' }, [own.buffer]);
  }

  /** The stored run when its checkpoint is there and training did not finish, else null. */
  unfinishedRun(): Promise<Result<'unfinishedRun'>> {
    return this.request('unfinishedRun', null);
  }

  /** Tunes the conv kernels for these settings' shapes on the worker's GPU; the winners are stored and used from now on. */
  tune(settings: SessionSettings): Promise<Result<'tune'>> {
    return this.request('tune', { settings });
  }

  /** Ends the worker; pending requests fail. */
  terminate(): void {
    this.worker.terminate?.();
    this.failAll(new Error('the training worker was terminated'));
  }
}
