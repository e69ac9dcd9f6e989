// One training session of the demo page, without DOM code: the data (generated in the page or read from an ISBI
// folder), the engine and the model, training with Pause / Resume / Stop between steps (train()'s beforeStep hook),
// a checkpoint per epoch in IndexedDB, the live heatmap of a validation image, then temperature scaling, evaluation,
// the report and the weights. The page (main.ts) listens to its events.
import { Engine } from '../src/engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS, type ModelPreset, type UnetConfig } from '../src/nn/unet.ts';
import type { ModelState } from '../src/nn/module.ts';
import { saveSafetensors } from '../src/io/state-dict.ts';
import { loadSyntheticSplit } from '../src/data/synthetic.ts';
import { fileListSource, loadIsbiSplit, type IsbiSample, type IsbiSplit } from '../src/data/isbi.ts';
import { train, gpuAugmenter, CHECKPOINT_FILE, type EpochSummary, type TrainProgress } from '../src/chh/train.ts';
import { calibrateTemperatures, type CalibrateResult, type CalibrationObjective } from '../src/chh/calibrate.ts';
import { evaluateModel, unetNetwork, type EvaluationResult } from '../src/chh/evaluate.ts';
import { buildOverlays, overlayImage, renderReport } from '../src/report/report.ts';
import type { PngImage } from '../src/io/png.ts';
import { predictImage } from '../src/chh/predict.ts';
import { idbStore, type IdbStore } from './idb-store.ts';

export interface DemoSettings {
  source: 'synthetic' | 'folder';
  /** Synthetic counts, or the most images taken from each split of a folder (0: all). */
  trainImages: number;
  calibrationImages: number;
  testImages: number;
  width: number;
  height: number;
  model: ModelPreset;
  batch: number;
  epochs: number;
  lr: number;
  augment: boolean;
  calibrationEpochs: number;
  /** What temperature scaling minimises (src/pipeline/calibrate.ts); absent in runs saved before the option: 'ece'. */
  calibrationObjective?: CalibrationObjective;
  /** Refresh the live heatmap every this many steps. */
  heatmapEvery: number;
  seed: number;
}

export const DEFAULT_SETTINGS: DemoSettings = {
  source: 'synthetic',
  trainImages: 24,
  calibrationImages: 8,
  testImages: 8,
  width: 128,
  height: 160,
  model: 'tiny',
  batch: 4,
  epochs: 10,
  lr: 3e-3,
  augment: true,
  calibrationEpochs: 5,
  calibrationObjective: 'ece',
  heatmapEvery: 5,
  seed: 0,
};

export type Phase = 'idle' | 'loading' | 'training' | 'paused' | 'stopped' | 'trained' | 'lost' | 'evaluating' | 'evaluated' | 'error';

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

export class DemoSession {
  engine: Engine | null = null;
  model: ResnetUnet | null = null;
  state: ModelState | null = null;
  settings: DemoSettings = DEFAULT_SETTINGS;
  data: { train: IsbiSample[]; calibration: IsbiSample[]; test: IsbiSample[] } | null = null;
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
    const size = { width: settings.width, height: settings.height };
    const progress = (task: string) => (done: number, total: number) => this.on.progress(task, done, total);
    if (settings.source === 'synthetic') {
      const originalWidth = Math.min(1935, Math.max(193, 3 * settings.width));
      const synth = {
        counts: { train: settings.trainImages, test1: settings.calibrationImages, test2: settings.testImages },
        width: originalWidth,
        landmarks: 19,
        seed: settings.seed,
      };
      const load = (split: IsbiSplit, task: string) => loadSyntheticSplit(split, synth, { ...size, onProgress: progress(task) });
      this.data = { train: await load('train', 'data: train'), calibration: await load('test1', 'data: fine-tune'), test: await load('test2', 'data: test') };
      this.on.log(`synthetic cephalograms (${originalWidth} px wide originals): ${settings.trainImages} train / ${settings.calibrationImages} fine-tune / ${settings.testImages} test at ${settings.width}x${settings.height}`);
    } else {
      if (!files || files.length === 0) throw new Error('pick a dataset folder first (ISBI 2015 layout: RawImage/TrainingData, Test1Data, Test2Data and AnnotationsByMD)');
      const source = fileListSource(Array.from(files));
      const limit = (xs: IsbiSample[], n: number) => (n > 0 ? xs.slice(0, n) : xs);
      const load = async (split: IsbiSplit, n: number, task: string) => limit(await loadIsbiSplit(source, split, { ...size, onProgress: progress(task) }), n);
      this.data = {
        train: await load('train', settings.trainImages, 'data: TrainingData'),
        calibration: await load('test1', settings.calibrationImages, 'data: Test1Data'),
        test: await load('test2', settings.testImages, 'data: Test2Data'),
      };
      this.on.log(`ISBI folder: ${this.data.train.length} train / ${this.data.calibration.length} fine-tune (Test1) / ${this.data.test.length} test (Test2) at ${settings.width}x${settings.height}`);
    }
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

  /** Trains from scratch (resume false) or from the IndexedDB checkpoint (resume true). */
  async train(resume: boolean): Promise<void> {
    if (!this.data) throw new Error('no data loaded');
    this.running = true;
    this.paused = false;
    this.stopRequested = false;
    const s = this.settings;
    const landmarks = this.data.train[0].landmarks.length / 2;
    const config: UnetConfig = { ...MODEL_PRESETS[s.model], landmarks };
    try {
      const engine = await this.ensureEngine();
      this.disposeModel();
      this.temperatures = null;
      const model = new ResnetUnet(config);
      const state = model.allocate(engine, s.seed);
      this.model = model;
      this.state = state;
      const stepsPerEpoch = Math.ceil(this.data.train.length / s.batch);
      if (!resume) {
        await this.store.remove(CHECKPOINT_FILE);
        await this.store.saveJson(RUN_FILE, { settings: s, config, finishedEpochs: 0 } satisfies RunRecord);
      } else {
        const run = await this.store.loadJson<RunRecord>(RUN_FILE);
        const done = run?.finishedEpochs ?? 0;
        this.on.rewind(done * stepsPerEpoch, done);
      }
      this.on.log(`${resume ? 'resuming' : 'training'}: ${s.model} ResNet-UNet, ${(state.params.count / 1e6).toFixed(3)} M parameters, batch ${s.batch}, Adam lr ${s.lr}, ${s.epochs} epochs on ${engine.adapter.vendor} ${engine.adapter.architecture} ${engine.adapter.description}`.trim());
      this.on.phase('training');
      const totalSteps = stepsPerEpoch * s.epochs;
      let activeMs = 0;
      let stepsTimed = 0;
      let last = performance.now();
      let globalStep = 0;
      const viewSample = this.data.test[0] ?? this.data.train[0];
      const result = await train({
        engine,
        model,
        state,
        samples: this.data.train,
        store: this.store,
        resume,
        options: { epochs: s.epochs, batch: s.batch, lr: s.lr, optimizer: 'adam', milestones: [Math.max(1, Math.round(s.epochs * 0.75))], gamma: 0.1, seed: s.seed, augment: s.augment ? gpuAugmenter : null },
        beforeStep: async ({ epoch, step }) => {
          if (this.stopRequested) return 'stop';
          if (this.paused) {
            this.on.phase('paused');
            await new Promise<void>((r) => (this.resumeWaiter = r));
            if (this.stopRequested) return 'stop';
            this.on.phase('training');
            last = performance.now();
          }
          const g = epoch * stepsPerEpoch + step;
          if (g > 0 && g % s.heatmapEvery === 0) {
            const t = performance.now();
            await this.showLiveHeatmap(viewSample, `validation image ${viewSample.id}, before step ${g + 1} (epoch ${epoch + 1})`);
            last += performance.now() - t; // heatmaps do not count against steps per second
          }
        },
        onStep: (p) => {
          const now = performance.now();
          activeMs += now - last;
          last = now;
          stepsTimed++;
          globalStep = p.epoch * p.stepsPerEpoch + p.step;
          const rate = stepsTimed / Math.max(1e-3, activeMs / 1000);
          this.on.step({ ...p, globalStep, totalSteps, stepsPerSecond: rate, etaSeconds: (totalSteps - globalStep) / rate, liveBytes: engine.memory().liveBytes });
        },
        onEpoch: (summary) => {
          this.on.epoch(summary);
          this.on.log(`epoch ${summary.epoch}/${s.epochs}: mean loss ${summary.meanLoss.toFixed(4)}, lr ${summary.lr.toExponential(1)}, ${summary.seconds.toFixed(1)} s; checkpoint saved (IndexedDB)`);
          void this.store.saveJson(RUN_FILE, { settings: s, config, finishedEpochs: summary.epoch } satisfies RunRecord);
        },
      });
      await this.showLiveHeatmap(viewSample, `validation image ${viewSample.id}, after ${globalStep} steps`);
      if (result.stopped) {
        this.on.log(`stopped in epoch ${result.nextEpoch + 1}; the checkpoint of epoch ${result.nextEpoch} stays in IndexedDB. The model as it is now can be evaluated.`);
        this.on.phase('stopped');
      } else {
        this.on.phase('trained');
      }
    } catch (e) {
      // A lost device fails the reads in flight first (e.g. "Buffer was unmapped before mapping was resolved");
      // device.lost resolves soon after. Wait for it a little before calling this an ordinary error.
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
      throw e;
    } finally {
      this.running = false;
      this.resumeWaiter = null;
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
      const L = model.config.landmarks;
      const calibration = await calibrateTemperatures(engine, unetNetwork(model, state), data.calibration, {
        objective: s.calibrationObjective ?? 'ece',
        epochs: s.calibrationEpochs,
        seed: s.seed,
        // With augmentation on, the objective's default (plain images for the ECE, augmented for the NLL).
        augment: s.augment ? undefined : null,
        batchSize: s.batch,
        onProgress: (ev) => {
          if (ev.kind === 'epoch') {
            this.on.progress('calibrate', ev.result.epoch, s.calibrationEpochs);
            this.on.log(`calibration epoch ${ev.result.epoch}: ECE ${(100 * ev.result.ece).toFixed(2)}%${ev.best ? ' (best)' : ''}`);
          }
        },
      });
      this.temperatures = calibration.temperatures;
      const evaluation = await evaluateModel(engine, model, state, data.test, {
        temperatures: calibration.temperatures,
        compareTemperatures: new Float32Array(L).fill(1),
        batchSize: s.batch,
        label: s.source === 'synthetic' ? 'synthetic test split' : 'ISBI Test2Data',
        heatmaps: { count: 4 },
        onProgress: (done, total) => this.on.progress('test', done, total),
      });
      const byId = new Map(data.test.map((x) => [x.id, x]));
      const perImage = new Map(evaluation.images.map((e) => [e.id, e]));
      const overlays = evaluation.heatmaps.map((h) => {
        const e = perImage.get(h.id)!;
        return { id: h.id, view: overlayView(byId.get(h.id)!, h, e.predicted, e.flagged), flagged: e.flagged.filter(Boolean).length };
      });
      const a = engine.adapter;
      const reportHtml = renderReport({
        title: `Contour-Hugging Heatmaps on WebGPU (in the browser): ${evaluation.label}`,
        evaluation,
        calibration,
        overlays: buildOverlays(evaluation, data.test),
        notes: [
          `adapter: ${a.vendor} ${a.architecture} ${a.description}`.replace(/\s+/g, ' '),
          `model: ${s.model} (${state.params.count} parameters), input ${s.width}x${s.height}, ${s.epochs} epochs, batch ${s.batch}, Adam lr ${s.lr}`,
          `date: ${new Date().toISOString()}`,
        ],
      });
      return { calibration, evaluation, overlays, reportHtml }; // the page sets 'evaluated' once it has drawn them
    } catch (e) {
      this.on.phase('error', e instanceof Error ? e.message : String(e));
      throw e;
    }
  }

  /** Weights with PyTorch (CHH) names and the temperatures, plus the configuration and input size as metadata. */
  async weights(): Promise<Uint8Array> {
    const { engine, model, state } = this;
    if (!engine || !model || !state) throw new Error('no model');
    const L = model.config.landmarks;
    const temps = engine.untracked(() => engine.tensor(this.temperatures ?? new Float32Array(L).fill(1), [L], { label: 'temperatures' }));
    try {
      return await saveSafetensors(model, state, temps, { config: JSON.stringify(model.config), input_width: String(this.settings.width), input_height: String(this.settings.height) });
    } finally {
      temps.dispose();
    }
  }

  /** Replaces the model with weights from a file (ours or converted from the authors' checkpoint). */
  adopt(model: ResnetUnet, state: ModelState, temperatures: Float32Array): void {
    this.disposeModel();
    this.model = model;
    this.state = state;
    this.temperatures = temperatures;
  }
}
