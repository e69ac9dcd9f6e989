// One training session, without DOM code (it runs in a worker; serve.ts wires it to messages): the data
// (settings.ts), the engine and the model, training with Pause / Resume / Stop between steps (train()'s beforeStep
// hook), a checkpoint per epoch in the store (IndexedDB), the live heatmap of a validation image, then temperature
// scaling, evaluation, the report and the weights, all through the pipeline's steps (src/pipeline/steps.ts); and
// prediction with the trained or a loaded model. What happens is told as protocol events (protocol.ts).
import { Engine } from '../engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, checkModelFits, type UnetConfig } from '../nn/unet.ts';
import type { ModelState } from '../nn/module.ts';
import { loadModel, saveWeights, type InputSize } from '../io/weights.ts';
import type { PngImage } from '../io/png.ts';
import type { PathFile } from '../io/files.ts';
import type { IsbiSample } from '../data/isbi.ts';
import type { TrainResult } from '../chh/train.ts';
import { CHECKPOINT_FILE, scalingNote } from '../chh/checkpoint.ts';
import { TRAINING } from '../chh/config.ts';
import { tensorCoreNote, usePrecision } from '../chh/precision.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import { predictBmp, predictImage } from '../chh/predict.ts';
import { overlayImage } from '../report/overlay.ts';
import { adapterName, calibrateStep, compileStep, evaluateStep, reportStep, trainOptions, trainStep, type Emit, type RunData } from '../pipeline/steps.ts';
import { DEFAULT_SESSION_SETTINGS, loadSessionData, runSettingsOf, type SessionSettings } from './settings.ts';
import type { SessionStore } from './idb-store.ts';
import { StepClock } from './step-clock.ts';
import { weightsSize } from './weights-size.ts';
import { applyStoredTuning, tuneForSettings, type TuneSummary } from './tuning.ts';
import type { EvaluationOutput, Events, EventType, HeatmapFrame, LoadedWeights, OverlayPoints, Phase, PredictionOutput, RunRecord, SessionState } from './protocol.ts';

/** Where a session's events go, and how its heatmaps become frames (ImageBitmaps in a worker). */
export interface SessionHost {
  emit<K extends EventType>(type: K, data: Events[K]): void;
  render(image: PngImage, points: OverlayPoints): Promise<HeatmapFrame>;
}

export interface SessionOptions {
  store: SessionStore;
  /** The engine of a session (default: Engine.create() on navigator.gpu); again after a device loss. */
  createEngine?: () => Promise<Engine>;
}

const RUN_FILE = 'run.json';

export class TrainingSession {
  engine: Engine | null = null;
  model: ResnetUnet | null = null;
  state: ModelState | null = null;
  settings: SessionSettings = DEFAULT_SESSION_SETTINGS;
  data: RunData | null = null;
  temperatures: Float32Array | null = null;
  /** The input size of the model held: the settings it was trained at, or its weights' size. */
  inputSize: InputSize | null = null;
  readonly store: SessionStore;
  private readonly createEngine: () => Promise<Engine>;
  private deviceLost = false;
  private paused = false;
  private stopRequested = false;
  private resumeWaiter: (() => void) | null = null;
  private running = false;
  /** The current training run; a run that is no longer it (its device was lost under it) may not act. */
  private run = 0;

  constructor(
    private readonly host: SessionHost,
    options: SessionOptions,
  ) {
    this.store = options.store;
    this.createEngine = options.createEngine ?? (() => Engine.create({ runtime: 'browser' }));
  }

  get isRunning(): boolean {
    return this.running;
  }

  private phase(phase: Phase, message = ''): void {
    this.host.emit('phase', { phase, message });
  }

  private log(message: string): void {
    this.host.emit('log', { message });
  }

  /** The steps' progress and log events. */
  private readonly emitter: Emit = (e) => (e.kind === 'log' ? this.log(e.message) : this.host.emit('progress', { task: e.task, done: e.done, total: e.total }));

  /** What the session holds now, as the 'state' event tells it. */
  snapshot(): SessionState {
    const { data, model, state } = this;
    return {
      data: data && { settings: this.settings, train: data.train.length, calibration: data.calibration.length, test: data.test.length },
      model: model && state ? { config: model.config, parameters: state.params.count, calibrated: this.temperatures !== null } : null,
    };
  }

  private changed(): void {
    this.host.emit('state', this.snapshot());
  }

  /** A fresh engine when there is none or its device was lost. */
  async ensureEngine(): Promise<Engine> {
    if (this.engine && !this.deviceLost) return this.engine;
    const old = this.engine;
    this.engine = null;
    this.disposeModel();
    if (old) {
      try {
        old.destroy();
      } catch {
        /* already gone */
      }
    }
    const engine = await this.createEngine();
    const tuned = await applyStoredTuning(engine, this.store, (m) => this.log(m));
    if (tuned > 0) this.log(`kernels: ${tuned} shapes tuned for this GPU earlier`);
    this.deviceLost = false;
    // Any loss of the current engine's device (a driver reset, or loseDevice below) counts; retired engines don't.
    void engine.device.lost.then((info) => {
      console.info(`GPU device lost (${info.reason}): ${info.message}`);
      if (this.engine === engine) this.deviceLost = true;
    });
    this.engine = engine;
    return engine;
  }

  /** Tunes the conv kernels of these settings' shapes (phase 'tuning'); the engine uses the winners, the store keeps them. */
  async tune(settings: SessionSettings): Promise<TuneSummary> {
    if (this.running) throw new Error('training is running: tune before or after it');
    this.phase('tuning', 'timing the conv kernels for these shapes on this GPU');
    try {
      return await tuneForSettings(await this.ensureEngine(), settings, this.data ? this.data.train[0].landmarks.length / 2 : null, this.store, this.emitter);
    } finally {
      this.phase('idle');
    }
  }

  /** For tests and a "simulate device loss" button: destroys the GPUDevice under the running training. */
  loseDevice(): void {
    this.engine?.device.destroy();
  }

  async loadData(settings: SessionSettings, files: readonly PathFile[] | null): Promise<SessionState> {
    this.phase('loading');
    this.settings = settings;
    this.data = null;
    this.data = await loadSessionData(settings, files, this.emitter);
    this.changed();
    return this.snapshot();
  }

  private disposeModel(): void {
    try {
      this.state?.dispose();
    } catch {
      /* the device may be gone */
    }
    const had = this.model !== null;
    this.state = null;
    this.model = null;
    if (had) this.changed();
  }

  /** A fresh model for the data's landmark count (seeded init; a resumed run loads the checkpoint over it). */
  private async newModel(data: RunData): Promise<{ engine: Engine; model: ResnetUnet; state: ModelState; config: UnetConfig }> {
    const config: UnetConfig = { ...MODEL_PRESETS[this.settings.model], landmarks: data.train[0].landmarks.length / 2 };
    const engine = await this.ensureEngine();
    checkModelFits(engine, config, this.settings.width, this.settings.height, this.settings.batch);
    this.disposeModel();
    this.temperatures = null;
    const model = new ResnetUnet(config);
    const state = model.allocate(engine, this.settings.seed);
    usePrecision(engine, runSettingsOf(this.settings).precision ?? TRAINING.precision.default); // for all this model does
    this.model = model;
    this.state = state;
    this.inputSize = { width: this.settings.width, height: this.settings.height };
    this.changed();
    return { engine, model, state, config };
  }

  /** The store as one run sees it: a run that was abandoned may not write checkpoints over a newer one's. */
  private runStore(run: number): SessionStore {
    const live = (): void => {
      if (run !== this.run) throw new Error('an abandoned training run may not write to the store');
    };
    return { ...this.store, save: async (name, bytes) => (live(), this.store.save(name, bytes)), saveJson: async (name, value) => (live(), this.store.saveJson(name, value)) };
  }

  /** Before each step: stop, wait while paused, and refresh the live heatmap every heatmapEvery steps. */
  private async beforeStep(epoch: number, step: number, stepsPerEpoch: number, clock: StepClock, view: IsbiSample): Promise<'stop' | void> {
    if (this.stopRequested) return 'stop';
    if (this.deviceLost) throw new Error('the GPU device was lost');
    if (this.paused) {
      this.phase('paused');
      await new Promise<void>((r) => (this.resumeWaiter = r));
      if (this.stopRequested) return 'stop';
      this.phase('training');
      clock.restart();
    }
    const g = epoch * stepsPerEpoch + step;
    if (g > 0 && g % this.settings.heatmapEvery === 0) {
      const t = performance.now();
      await this.showLiveHeatmap(view, `validation image ${view.id}, before step ${g + 1} (epoch ${epoch + 1})`);
      clock.skip(performance.now() - t); // heatmaps do not count against steps per second
    }
  }

  /** Runs training with the session's hooks; returns the result and the last global step. */
  private async runTraining(engine: Engine, model: ResnetUnet, state: ModelState, config: UnetConfig, resume: boolean, data: RunData): Promise<{ result: TrainResult; globalStep: number }> {
    const s = this.settings;
    const stepsPerEpoch = Math.ceil(data.train.length / s.batch);
    const totalSteps = stepsPerEpoch * s.epochs;
    const clock = new StepClock();
    const view = data.test[0] ?? data.train[0];
    const run = this.run;
    const store = this.runStore(run);
    let globalStep = 0;
    const result = await trainStep({
      engine, model, state, samples: data.train, options: trainOptions(runSettingsOf(s)), store, resume,
      emit: () => {}, // steps and epochs are events of their own (below)
      beforeStep: ({ epoch, step }) => (run === this.run ? this.beforeStep(epoch, step, stepsPerEpoch, clock, view) : Promise.resolve('stop' as const)),
      onStep: (p) => {
        if (run !== this.run) return;
        const rate = clock.step();
        globalStep = p.epoch * p.stepsPerEpoch + p.step;
        this.host.emit('step', { ...p, globalStep, totalSteps, stepsPerSecond: rate, etaSeconds: (totalSteps - globalStep) / rate, liveBytes: engine.memory().liveBytes });
      },
      onEpoch: (summary) => {
        if (run !== this.run) return;
        this.host.emit('epoch', summary);
        this.log(`epoch ${summary.epoch}/${s.epochs}: mean loss ${summary.meanLoss.toFixed(4)}, lr ${summary.lr.toExponential(1)}, ${summary.seconds.toFixed(1)} s${scalingNote(summary)}; checkpoint saved (IndexedDB)`);
        void store.saveJson(RUN_FILE, { settings: s, config, finishedEpochs: summary.epoch } satisfies RunRecord).catch(() => {});
      },
    });
    await this.showLiveHeatmap(view, `validation image ${view.id}, after ${globalStep} steps`);
    return { result, globalStep };
  }

  /** Trains from scratch (resume false) or from the store's checkpoint (resume true). */
  async train(resume: boolean): Promise<{ outcome: 'trained' | 'stopped' }> {
    const data = this.data;
    if (!data) throw new Error('no data loaded');
    if (this.running) throw new Error('training is already running');
    this.running = true;
    this.paused = false;
    this.stopRequested = false;
    this.run++;
    const s = this.settings;
    try {
      const { engine, model, state, config } = await this.newModel(data);
      await this.prepareRun(config, resume, Math.ceil(data.train.length / s.batch));
      this.phase('compiling');
      // Every kernel of the training step, the live heatmap and the evaluation, compiled before the clock starts.
      await compileStep(engine, model, state, { width: s.width, height: s.height, train: [s.batch], augment: s.augment, precision: s.precision, infer: [1, s.batch] }, this.emitter);
      this.log(`${resume ? 'resuming' : 'training'}: ${s.model} ResNet-UNet, ${(state.params.count / 1e6).toFixed(3)} M parameters, batch ${s.batch}, Adam lr ${s.lr}, ${s.epochs} epochs on ${engine.adapter.vendor} ${engine.adapter.architecture} ${engine.adapter.description}`.trim());
      if (s.precision === 'f16') this.log(tensorCoreNote(engine));
      this.phase('training');
      const { result } = await this.untilLost(engine, this.runTraining(engine, model, state, config, resume, data));
      if (result.stopped) {
        this.log(`stopped in epoch ${result.nextEpoch + 1}; the checkpoint of epoch ${result.nextEpoch} stays in IndexedDB. The model as it is now can be evaluated.`);
        this.phase('stopped');
        return { outcome: 'stopped' };
      }
      this.phase('trained');
      return { outcome: 'trained' };
    } catch (e) {
      await this.trainingFailed(e);
      throw e;
    } finally {
      this.running = false;
      this.resumeWaiter = null;
    }
  }

  /**
   * The work, or an error as soon as the engine's device is lost: a run paused between steps waits for Resume, not
   * for the device, and a read in flight may take its time to fail; the run must still end now, in the 'lost'
   * phase. The run left behind is abandoned (this.run moves on): it neither tells events nor writes to the store.
   */
  private async untilLost<T>(engine: Engine, work: Promise<T>): Promise<T> {
    const lost = engine.device.lost.then((info) => info);
    const first = await Promise.race([work.then((value) => ({ value })), lost.then((info) => ({ info }))]);
    if ('value' in first) return first.value;
    this.run++;
    work.catch(() => {}); // its own failure, if it ever comes, is no news
    throw new Error(`${first.info.message} (reason: ${first.info.reason})`);
  }

  /** A new run clears the checkpoint and records its settings; a resumed one rewinds the page to the checkpoint. */
  private async prepareRun(config: UnetConfig, resume: boolean, stepsPerEpoch: number): Promise<void> {
    if (!resume) {
      await this.store.remove(CHECKPOINT_FILE);
      await this.store.saveJson(RUN_FILE, { settings: this.settings, config, finishedEpochs: 0 } satisfies RunRecord);
      return;
    }
    const run = await this.store.loadJson<RunRecord>(RUN_FILE);
    const done = run?.finishedEpochs ?? 0;
    this.host.emit('rewind', { globalStep: done * stepsPerEpoch, epoch: done });
  }

  /**
   * A lost device fails the reads in flight first (e.g. "Buffer was unmapped before mapping was resolved");
   * device.lost resolves soon after. Wait for it a little before calling this an ordinary error.
   */
  private async trainingFailed(e: unknown): Promise<void> {
    const lost = this.engine?.device.lost;
    if (lost && !this.deviceLost) await Promise.race([lost, new Promise((r) => setTimeout(r, 10_000))]);
    console.info(`training ended by an error; device lost: ${this.deviceLost}`);
    const message = e instanceof Error ? e.message : String(e);
    if (this.deviceLost || /device (was )?lost|destroyed/i.test(message)) {
      this.deviceLost = true;
      this.disposeModel(); // its buffers went with the device
      const run = await this.store.loadJson<RunRecord>(RUN_FILE);
      this.log(`GPU device lost: ${message}`);
      this.phase('lost', `The GPU device was lost during training. The checkpoint of epoch ${run?.finishedEpochs ?? 0} is kept in IndexedDB; resume continues from it.`);
    } else {
      this.phase('error', message);
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.resumeWaiter?.();
    this.resumeWaiter = null;
  }

  stop(): void {
    this.stopRequested = true;
    this.resume();
  }

  /** The previous run, when its checkpoint is still in the store and training did not finish. */
  async unfinishedRun(): Promise<RunRecord | null> {
    try {
      const run = await this.store.loadJson<RunRecord>(RUN_FILE);
      if (!run || run.finishedEpochs >= run.settings.epochs || run.finishedEpochs === 0) return null;
      return (await this.store.load(CHECKPOINT_FILE)) ? run : null;
    } catch {
      return null;
    }
  }

  /** The heatmap of an image over it (overlayImage without points), and its points, as a frame. */
  private frame(sample: Pick<IsbiSample, 'image' | 'width' | 'height' | 'landmarks'>, map: Parameters<typeof overlayImage>[1], predicted: number[], flagged: boolean[]): Promise<HeatmapFrame> {
    const base = overlayImage({ ...sample, landmarks: new Float32Array(0) }, map, [], [], { maxWidth: 640 });
    return this.host.render(base, { imageWidth: sample.width, truth: sample.landmarks, predicted, flagged });
  }

  /** The current heatmaps of a sample, as a 'heatmap' event. */
  async showLiveHeatmap(sample: IsbiSample, caption: string): Promise<void> {
    if (!this.engine || !this.model || !this.state) return;
    const p = await predictImage(this.engine, this.model, this.state, { data: sample.image, width: sample.width, height: sample.height }, {
      temperatures: this.temperatures ?? undefined,
      pixelSizeMm: sample.pixelSizeMm[0],
      heatmap: true,
    });
    const predicted = p.landmarks.flatMap((l) => [l.x, l.y]);
    const flagged = p.landmarks.map((l) => (this.temperatures ? l.erroneous : false));
    this.host.emit('heatmap', { frame: await this.frame(sample, p.heatmap, predicted, flagged), caption });
  }

  /** Temperature scaling on the fine-tuning split, then every metric on the test split, the overlays and the report. */
  async evaluate(): Promise<EvaluationOutput> {
    const { engine, model, state, data } = this;
    if (!engine || !model || !state || !data) throw new Error('train a model first');
    if (this.running) throw new Error('training is running: stop it first');
    const s = this.settings;
    this.phase('evaluating');
    try {
      const run = runSettingsOf(s, model.config.landmarks);
      const calibration = await calibrateStep(engine, model, state, data.calibration, run, this.emitter, (epoch, best) => {
        this.log(`calibration epoch ${epoch.epoch}: ECE ${(100 * epoch.ece).toFixed(2)}%${best ? ' (best)' : ''}`);
      });
      this.temperatures = calibration.temperatures;
      this.changed();
      const label = s.source === 'synthetic' ? 'synthetic test split' : 'ISBI Test2Data';
      const evaluation = await evaluateStep(engine, model, state, data.test, calibration.temperatures, { batch: s.batch, label, heatmaps: { count: 4 } }, this.emitter);
      const notes = [`adapter: ${adapterName(engine)}`, `model: ${s.model} (${state.params.count} parameters), input ${s.width}x${s.height}, ${s.epochs} epochs, batch ${s.batch}, Adam lr ${s.lr}`];
      const report = reportStep(evaluation, calibration, data.test, { title: `Contour-Hugging Heatmaps on WebGPU (in the browser): ${evaluation.label}`, notes });
      const overlays = await this.overlayFrames(evaluation, data.test);
      const sample = data.test[0];
      if (sample) await this.showLiveHeatmap(sample, `validation image ${sample.id}, calibrated`);
      // The page sets 'evaluated' once it has drawn them.
      return { calibration, evaluation: { ...evaluation, heatmaps: [] }, overlays, reportHtml: report.html };
    } catch (e) {
      this.phase('error', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  private overlayFrames(evaluation: EvaluationResult, test: readonly IsbiSample[]): Promise<EvaluationOutput['overlays']> {
    const byId = new Map(test.map((x) => [x.id, x]));
    const perImage = new Map(evaluation.images.map((e) => [e.id, e]));
    return Promise.all(
      evaluation.heatmaps.map(async (h) => {
        const e = perImage.get(h.id)!;
        return { id: h.id, frame: await this.frame(byId.get(h.id)!, h, e.predicted, e.flagged), flagged: e.flagged.filter(Boolean).length };
      }),
    );
  }

  /** Weights with PyTorch (CHH) names and the temperatures, plus the configuration and input size as metadata. */
  async weights(): Promise<Uint8Array> {
    const { engine, model, state } = this;
    if (!engine || !model || !state) throw new Error('no model: train one or load weights first');
    const L = model.config.landmarks;
    const temps = engine.untracked(() => engine.tensor(this.temperatures ?? new Float32Array(L).fill(1), [L], { label: 'temperatures' }));
    try {
      const size = this.inputSize ?? { width: this.settings.width, height: this.settings.height };
      return await saveWeights(model, state, size, temps, runSettingsOf(this.settings).precision);
    } finally {
      temps.dispose();
    }
  }

  /** Replaces the model with weights from a file (ours or converted from the authors' checkpoint). */
  async loadWeights(bytes: Uint8Array): Promise<LoadedWeights> {
    if (this.running) throw new Error('training is running: stop it first');
    const size = weightsSize(bytes);
    const engine = await this.ensureEngine();
    const loaded = loadModel(engine, bytes);
    this.disposeModel();
    this.model = loaded.model;
    this.state = loaded.state;
    this.temperatures = loaded.temperatures;
    this.inputSize = size.inputSize;
    this.changed();
    // The kernels of predictions at this size, compiled ahead of the first.
    await compileStep(engine, loaded.model, loaded.state, { ...size.inputSize, infer: [1] }, this.emitter);
    return { ...size, model: this.snapshot().model!, format: loaded.format, configFromFile: size.hasConfig };
  }

  /** Landmarks on a BMP, padded and resized to the input size; the heatmap over the network's input. */
  async predict(bmp: Uint8Array, inputSize: InputSize, pixelSizeMm: number, name: string): Promise<PredictionOutput> {
    const { engine, model, state } = this;
    if (!engine || !model || !state || this.deviceLost) throw new Error('train a model or load weights first');
    if (this.running) throw new Error('training is running: stop it first');
    const p = await predictBmp(engine, model, state, bmp, inputSize, { temperatures: this.temperatures ?? undefined, pixelSizeMm, heatmap: true, imageName: name });
    // The overlay is on the network's input (resized), so the heatmap and the points line up pixel for pixel.
    const input = { image: p.input.image, width: p.input.width, height: p.input.height, landmarks: new Float32Array(0) };
    const base = overlayImage(input, p.heatmap, [], []);
    const frame = await this.host.render(base, { imageWidth: p.input.width, truth: [], predicted: p.landmarks.flatMap((l) => [l.x * p.scale, l.y * p.scale]), flagged: p.landmarks.map((l) => l.erroneous) });
    return { landmarks: p.landmarks, original: p.original, frame };
  }
}
