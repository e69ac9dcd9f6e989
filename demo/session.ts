// One training session of the demo page, without DOM code: the data (settings.ts), the engine and the model,
// training with Pause / Resume / Stop between steps (train()'s beforeStep hook), a checkpoint per epoch in
// IndexedDB, the live heatmap of a validation image, then temperature scaling, evaluation, the report and the
// weights, all through the pipeline's steps (src/pipeline/steps.ts). The page (main.ts) listens to its events.
import { Engine } from '../src/engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, type UnetConfig } from '../src/nn/unet.ts';
import type { ModelState } from '../src/nn/module.ts';
import { saveWeights } from '../src/io/weights.ts';
import type { PngImage } from '../src/io/png.ts';
import type { IsbiSample } from '../src/data/isbi.ts';
import type { TrainProgress, TrainResult } from '../src/chh/train.ts';
import { CHECKPOINT_FILE, type EpochSummary } from '../src/chh/checkpoint.ts';
import type { CalibrateResult } from '../src/chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../src/chh/evaluate.ts';
import { predictImage } from '../src/chh/predict.ts';
import { overlayImage } from '../src/report/overlay.ts';
import { adapterName, calibrateStep, compileStep, evaluateStep, reportStep, trainOptions, trainStep, type Emit, type RunData } from '../src/pipeline/steps.ts';
import { idbStore, type IdbStore } from './idb-store.ts';
import { DEFAULT_SETTINGS, loadDemoData, runSettingsOf, type DemoSettings } from './settings.ts';

export type { DemoSettings } from './settings.ts';

export type Phase = 'idle' | 'loading' | 'compiling' | 'training' | 'paused' | 'stopped' | 'trained' | 'lost' | 'evaluating' | 'evaluated' | 'error';

export interface StepInfo extends TrainProgress {
  /** Steps done in this run (all epochs), and in total. */
  globalStep: number;
  totalSteps: number;
  stepsPerSecond: number;
  etaSeconds: number;
  liveBytes: number;
}

export interface SessionEvents {
  phase(phase: Phase, message?: string): void;
  log(message: string): void;
  progress(task: string, done: number, total: number): void;
  step(info: StepInfo): void;
  epoch(summary: EpochSummary): void;
  /** A heatmap over an image without points (overlayImage), and the points in the image's pixels. */
  heatmap(view: OverlayView, caption: string): void;
  /** Training resumes from a checkpoint: steps after this one will be run again. */
  rewind(globalStep: number, epoch: number): void;
}

export interface OverlayView {
  base: PngImage;
  imageWidth: number;
  truth: Float32Array;
  predicted: number[];
  flagged: boolean[];
}

/** overlayImage of the image and map only; the page draws the points at display scale (draw.ts drawOverlay). */
export function overlayView(
  sample: Pick<IsbiSample, 'image' | 'width' | 'height' | 'landmarks'>,
  map: Parameters<typeof overlayImage>[1],
  predicted: number[],
  flagged: boolean[],
): OverlayView {
  const base = overlayImage({ ...sample, landmarks: new Float32Array(0) }, map, [], [], { maxWidth: 640 });
  return { base, imageWidth: sample.width, truth: sample.landmarks, predicted, flagged };
}

export interface EvaluationOutput {
  calibration: CalibrateResult;
  evaluation: EvaluationResult;
  overlays: { id: string; view: OverlayView; flagged: number }[];
  reportHtml: string;
}

const RUN_FILE = 'run.json';

interface RunRecord {
  settings: DemoSettings;
  config: UnetConfig;
  finishedEpochs: number;
}

/** The steps' progress and log events, shown by the page. */
function pageEmitter(on: SessionEvents): Emit {
  return (e) => (e.kind === 'log' ? on.log(e.message) : on.progress(e.task, e.done, e.total));
}

/** Times training steps (heatmaps and pauses do not count) for the steps per second and the ETA. */
class StepClock {
  private activeMs = 0;
  private steps = 0;
  private last = performance.now();

  /** Restarts the clock (after a pause). */
  restart(): void {
    this.last = performance.now();
  }

  /** Excludes time spent outside training (a heatmap) from the step being timed. */
  skip(ms: number): void {
    this.last += ms;
  }

  /** Counts a finished step; returns steps per second so far. */
  step(): number {
    const now = performance.now();
    this.activeMs += now - this.last;
    this.last = now;
    this.steps++;
    return this.steps / Math.max(1e-3, this.activeMs / 1000);
  }
}

export class DemoSession {
  engine: Engine | null = null;
  model: ResnetUnet | null = null;
  state: ModelState | null = null;
  settings: DemoSettings = DEFAULT_SETTINGS;
  data: RunData | null = null;
  temperatures: Float32Array | null = null;
  readonly store: IdbStore = idbStore();
  private deviceLost = false;
  private paused = false;
  private stopRequested = false;
  private resumeWaiter: (() => void) | null = null;
  private running = false;

  constructor(private readonly on: SessionEvents) {}

  get isRunning(): boolean {
    return this.running;
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
    const engine = await Engine.create({ runtime: 'browser' });
    this.deviceLost = false;
    // Any loss of the current engine's device (a driver reset, or loseDevice below) counts; retired engines don't.
    void engine.device.lost.then((info) => {
      console.info(`GPU device lost (${info.reason}): ${info.message}`);
      if (this.engine === engine) this.deviceLost = true;
    });
    this.engine = engine;
    return engine;
  }

  /** For tests and the "simulate device loss" button: destroys the GPUDevice under the running training. */
  loseDevice(): void {
    this.engine?.device.destroy();
  }

  async loadData(settings: DemoSettings, files: FileList | File[] | null): Promise<void> {
    this.settings = settings;
    this.data = await loadDemoData(settings, files, pageEmitter(this.on));
  }

  private disposeModel(): void {
    try {
      this.state?.dispose();
    } catch {
      /* the device may be gone */
    }
    this.state = null;
    this.model = null;
  }

  /** A fresh model for the data's landmark count (seeded init; a resumed run loads the checkpoint over it). */
  private async newModel(data: RunData): Promise<{ engine: Engine; model: ResnetUnet; state: ModelState; config: UnetConfig }> {
    const config: UnetConfig = { ...MODEL_PRESETS[this.settings.model], landmarks: data.train[0].landmarks.length / 2 };
    const engine = await this.ensureEngine();
    this.disposeModel();
    this.temperatures = null;
    const model = new ResnetUnet(config);
    const state = model.allocate(engine, this.settings.seed);
    this.model = model;
    this.state = state;
    return { engine, model, state, config };
  }

  /** Before each step: stop, wait while paused, and refresh the live heatmap every heatmapEvery steps. */
  private async beforeStep(epoch: number, step: number, stepsPerEpoch: number, clock: StepClock, view: IsbiSample): Promise<'stop' | void> {
    if (this.stopRequested) return 'stop';
    if (this.paused) {
      this.on.phase('paused');
      await new Promise<void>((r) => (this.resumeWaiter = r));
      if (this.stopRequested) return 'stop';
      this.on.phase('training');
      clock.restart();
    }
    const g = epoch * stepsPerEpoch + step;
    if (g > 0 && g % this.settings.heatmapEvery === 0) {
      const t = performance.now();
      await this.showLiveHeatmap(view, `validation image ${view.id}, before step ${g + 1} (epoch ${epoch + 1})`);
      clock.skip(performance.now() - t); // heatmaps do not count against steps per second
    }
  }

  /** Runs training with the page's hooks; returns the result and the last global step. */
  private async runTraining(engine: Engine, model: ResnetUnet, state: ModelState, config: UnetConfig, resume: boolean, data: RunData): Promise<{ result: TrainResult; globalStep: number }> {
    const s = this.settings;
    const stepsPerEpoch = Math.ceil(data.train.length / s.batch);
    const totalSteps = stepsPerEpoch * s.epochs;
    const clock = new StepClock();
    const view = data.test[0] ?? data.train[0];
    let globalStep = 0;
    const result = await trainStep({
      engine, model, state, samples: data.train, options: trainOptions(runSettingsOf(s)), store: this.store, resume,
      emit: () => {}, // the page shows steps and epochs itself (below)
      beforeStep: ({ epoch, step }) => this.beforeStep(epoch, step, stepsPerEpoch, clock, view),
      onStep: (p) => {
        const rate = clock.step();
        globalStep = p.epoch * p.stepsPerEpoch + p.step;
        this.on.step({ ...p, globalStep, totalSteps, stepsPerSecond: rate, etaSeconds: (totalSteps - globalStep) / rate, liveBytes: engine.memory().liveBytes });
      },
      onEpoch: (summary) => {
        this.on.epoch(summary);
        this.on.log(`epoch ${summary.epoch}/${s.epochs}: mean loss ${summary.meanLoss.toFixed(4)}, lr ${summary.lr.toExponential(1)}, ${summary.seconds.toFixed(1)} s; checkpoint saved (IndexedDB)`);
        void this.store.saveJson(RUN_FILE, { settings: s, config, finishedEpochs: summary.epoch } satisfies RunRecord);
      },
    });
    await this.showLiveHeatmap(view, `validation image ${view.id}, after ${globalStep} steps`);
    return { result, globalStep };
  }

  /** Trains from scratch (resume false) or from the IndexedDB checkpoint (resume true). */
  async train(resume: boolean): Promise<void> {
    const data = this.data;
    if (!data) throw new Error('no data loaded');
    this.running = true;
    this.paused = false;
    this.stopRequested = false;
    const s = this.settings;
    try {
      const { engine, model, state, config } = await this.newModel(data);
      await this.prepareRun(config, resume, Math.ceil(data.train.length / s.batch));
      this.on.phase('compiling');
      // Every kernel of the training step, the live heatmap and the evaluation, compiled before the clock starts.
      await compileStep(engine, model, state, { width: s.width, height: s.height, train: [s.batch], augment: s.augment, infer: [1, s.batch] }, pageEmitter(this.on));
      this.on.log(`${resume ? 'resuming' : 'training'}: ${s.model} ResNet-UNet, ${(state.params.count / 1e6).toFixed(3)} M parameters, batch ${s.batch}, Adam lr ${s.lr}, ${s.epochs} epochs on ${engine.adapter.vendor} ${engine.adapter.architecture} ${engine.adapter.description}`.trim());
      this.on.phase('training');
      const { result } = await this.runTraining(engine, model, state, config, resume, data);
      if (result.stopped) {
        this.on.log(`stopped in epoch ${result.nextEpoch + 1}; the checkpoint of epoch ${result.nextEpoch} stays in IndexedDB. The model as it is now can be evaluated.`);
        this.on.phase('stopped');
      } else {
        this.on.phase('trained');
      }
    } catch (e) {
      await this.trainingFailed(e);
      throw e;
    } finally {
      this.running = false;
      this.resumeWaiter = null;
    }
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
    this.on.rewind(done * stepsPerEpoch, done);
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
      const run = await this.store.loadJson<RunRecord>(RUN_FILE);
      this.on.log(`GPU device lost: ${message}`);
      this.on.phase('lost', `The GPU device was lost during training. The checkpoint of epoch ${run?.finishedEpochs ?? 0} is kept in IndexedDB; resume continues from it.`);
    } else {
      this.on.phase('error', message);
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

  /** The previous page's run, when its checkpoint is still in IndexedDB and training did not finish. */
  async unfinishedRun(): Promise<RunRecord | null> {
    try {
      const run = await this.store.loadJson<RunRecord>(RUN_FILE);
      if (!run || run.finishedEpochs >= run.settings.epochs || run.finishedEpochs === 0) return null;
      return (await this.store.load(CHECKPOINT_FILE)) ? run : null;
    } catch {
      return null;
    }
  }

  async showLiveHeatmap(sample: IsbiSample, caption: string): Promise<void> {
    if (!this.engine || !this.model || !this.state) return;
    const p = await predictImage(this.engine, this.model, this.state, { data: sample.image, width: sample.width, height: sample.height }, {
      temperatures: this.temperatures ?? undefined,
      pixelSizeMm: sample.pixelSizeMm[0],
      heatmap: true,
    });
    const predicted = p.landmarks.flatMap((l) => [l.x, l.y]);
    const flagged = p.landmarks.map((l) => (this.temperatures ? l.erroneous : false));
    this.on.heatmap(overlayView(sample, p.heatmap, predicted, flagged), caption);
  }

  /** Temperature scaling on the fine-tuning split, then every metric on the test split, the overlays and the report. */
  async evaluate(): Promise<EvaluationOutput> {
    const { engine, model, state, data } = this;
    if (!engine || !model || !state || !data) throw new Error('train a model first');
    const s = this.settings;
    this.on.phase('evaluating');
    try {
      const run = runSettingsOf(s, model.config.landmarks);
      const emit = pageEmitter(this.on);
      const calibration = await calibrateStep(engine, model, state, data.calibration, run, emit, (epoch, best) => {
        this.on.log(`calibration epoch ${epoch.epoch}: ECE ${(100 * epoch.ece).toFixed(2)}%${best ? ' (best)' : ''}`);
      });
      this.temperatures = calibration.temperatures;
      const label = s.source === 'synthetic' ? 'synthetic test split' : 'ISBI Test2Data';
      const evaluation = await evaluateStep(engine, model, state, data.test, calibration.temperatures, { batch: s.batch, label, heatmaps: { count: 4 } }, emit);
      const notes = [`adapter: ${adapterName(engine)}`, `model: ${s.model} (${state.params.count} parameters), input ${s.width}x${s.height}, ${s.epochs} epochs, batch ${s.batch}, Adam lr ${s.lr}`];
      const report = reportStep(evaluation, calibration, data.test, { title: `Contour-Hugging Heatmaps on WebGPU (in the browser): ${evaluation.label}`, notes });
      return { calibration, evaluation, overlays: this.overlayViews(evaluation, data.test), reportHtml: report.html }; // the page sets 'evaluated' once it has drawn them
    } catch (e) {
      this.on.phase('error', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  private overlayViews(evaluation: EvaluationResult, test: readonly IsbiSample[]): EvaluationOutput['overlays'] {
    const byId = new Map(test.map((x) => [x.id, x]));
    const perImage = new Map(evaluation.images.map((e) => [e.id, e]));
    return evaluation.heatmaps.map((h) => {
      const e = perImage.get(h.id)!;
      return { id: h.id, view: overlayView(byId.get(h.id)!, h, e.predicted, e.flagged), flagged: e.flagged.filter(Boolean).length };
    });
  }

  /** Weights with PyTorch (CHH) names and the temperatures, plus the configuration and input size as metadata. */
  async weights(): Promise<Uint8Array> {
    const { engine, model, state } = this;
    if (!engine || !model || !state) throw new Error('no model');
    const L = model.config.landmarks;
    const temps = engine.untracked(() => engine.tensor(this.temperatures ?? new Float32Array(L).fill(1), [L], { label: 'temperatures' }));
    try {
      return await saveWeights(model, state, { width: this.settings.width, height: this.settings.height }, temps);
    } finally {
      temps.dispose();
    }
  }

  /** Compiles the kernels of predictions at this size ahead of the first (after loading weights). */
  async prepareInference(width: number, height: number): Promise<void> {
    const { engine, model, state } = this;
    if (!engine || !model || !state) return;
    await compileStep(engine, model, state, { width, height, infer: [1] }, pageEmitter(this.on));
  }

  /** Replaces the model with weights from a file (ours or converted from the authors' checkpoint). */
  adopt(model: ResnetUnet, state: ModelState, temperatures: Float32Array): void {
    this.disposeModel();
    this.model = model;
    this.state = state;
    this.temperatures = temperatures;
  }
}
