// The messages between a page and a training worker (serve.ts in the worker, client.ts in the page): requests
// with an id, one response per request (its result, or the worker's error message), and events (phase, log,
// progress, steps, epochs, heatmap frames). Everything here is structured-cloneable; heatmaps travel as
// ImageBitmaps (transferred), weights and images as bytes (transferred).
import type { UnetConfig } from '../nn/unet.ts';
import type { InputSize } from '../io/weights.ts';
import type { PathFile } from '../io/files.ts';
import type { TrainProgress } from '../chh/train.ts';
import type { EpochSummary } from '../chh/checkpoint.ts';
import type { CalibrateResult } from '../chh/calibrate/calibrate.ts';
import type { EvaluationResult } from '../chh/evaluate.ts';
import type { PredictedLandmark } from '../chh/predict.ts';
import type { SessionSettings } from './settings.ts';
import type { TuneSummary } from './tuning.ts';

export type Phase = 'idle' | 'loading' | 'tuning' | 'compiling' | 'training' | 'paused' | 'stopped' | 'trained' | 'lost' | 'evaluating' | 'evaluated' | 'error';

export interface StepInfo extends TrainProgress {
  /** Steps done in this run (all epochs), and in total. */
  globalStep: number;
  totalSteps: number;
  stepsPerSecond: number;
  etaSeconds: number;
  liveBytes: number;
}

/** The points of an overlay, in the pixels of an image imageWidth wide (the page draws them at display scale). */
export interface OverlayPoints {
  imageWidth: number;
  /** L * 2 (x, y); empty when there is no truth. */
  truth: ArrayLike<number>;
  predicted: ArrayLike<number>;
  flagged: ArrayLike<boolean>;
}

/** A heatmap over its image, rendered in the worker (report/overlay.ts overlayImage, without points), and the points. */
export interface HeatmapFrame extends OverlayPoints {
  bitmap: ImageBitmap;
}

/** The run of a session, kept in the store beside its checkpoint. */
export interface RunRecord {
  settings: SessionSettings;
  config: UnetConfig;
  finishedEpochs: number;
}

/** The model a session holds. */
export interface ModelInfo {
  config: UnetConfig;
  parameters: number;
  /** Temperatures fitted (evaluate) or loaded with weights. */
  calibrated: boolean;
}

/** What a session holds: its data (and the settings that made it) and its model. */
export interface SessionState {
  data: { settings: SessionSettings; train: number; calibration: number; test: number } | null;
  model: ModelInfo | null;
}

export interface EvaluationOutput {
  calibration: CalibrateResult;
  /** The evaluation without its heatmap snapshots (the overlays below are them, rendered). */
  evaluation: EvaluationResult;
  overlays: { id: string; frame: HeatmapFrame; flagged: number }[];
  reportHtml: string;
}

/** How a weights file's input size was found: its metadata (ours), or the paper's (converted PyTorch weights). */
export interface WeightsSize {
  inputSize: InputSize;
  from: 'metadata' | 'paper';
}

export interface LoadedWeights extends WeightsSize {
  model: ModelInfo;
  format: string;
  /** The configuration was in the file (ours), or assumed (the paper's ResNet34-UNet). */
  configFromFile: boolean;
}

export interface PredictionOutput {
  landmarks: PredictedLandmark[];
  original: InputSize;
  /** The network's input (the image padded and resized) with the heatmap over it; points in its pixels. */
  frame: HeatmapFrame;
}

/** Every request: its arguments and its result. */
export interface Requests {
  load: { args: { settings: SessionSettings; files: PathFile[] | null }; result: SessionState };
  train: { args: { resume: boolean }; result: { outcome: 'trained' | 'stopped' } };
  pause: { args: null; result: void };
  resume: { args: null; result: void };
  stop: { args: null; result: void };
  /** Destroys the GPU device under the session (tests; the "simulate device loss" of a page). */
  loseDevice: { args: null; result: void };
  evaluate: { args: null; result: EvaluationOutput };
  /** The live heatmap of the first test image, now (e.g. with the calibrated temperatures), as a heatmap event. */
  showHeatmap: { args: { caption?: string }; result: void };
  weights: { args: null; result: Uint8Array };
  loadWeights: { args: { bytes: Uint8Array }; result: LoadedWeights };
  predict: { args: { bmp: Uint8Array; inputSize: InputSize; pixelSizeMm: number; name: string }; result: PredictionOutput };
  unfinishedRun: { args: null; result: RunRecord | null };
  /** Tunes the conv kernels for the settings' shapes on this GPU and stores the winners (src/worker/tuning.ts). */
  tune: { args: { settings: SessionSettings }; result: TuneSummary };
}

export type RequestType = keyof Requests;
export type Args<K extends RequestType> = Requests[K]['args'];
export type Result<K extends RequestType> = Requests[K]['result'];

export type RequestMessage = { [K in RequestType]: { kind: 'request'; id: number; type: K; args: Args<K> } }[RequestType];

export interface WorkerErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

export type ResponseMessage =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: WorkerErrorInfo };

/** Every event: its data. */
export interface Events {
  phase: { phase: Phase; message: string };
  log: { message: string };
  progress: { task: string; done: number; total: number };
  step: StepInfo;
  epoch: EpochSummary;
  heatmap: { frame: HeatmapFrame; caption: string };
  /** Training resumes from a checkpoint: steps after globalStep will be run again. */
  rewind: { globalStep: number; epoch: number };
  state: SessionState;
}

export type EventType = keyof Events;
export type EventMessage = { [K in EventType]: { kind: 'event'; type: K; data: Events[K] } }[EventType];

export type WorkerMessage = ResponseMessage | EventMessage;

/** The error of a failed request, as the worker threw it (its name, message and stack travel). */
export class TrainingWorkerError extends Error {
  constructor(
    readonly request: RequestType,
    info: WorkerErrorInfo,
  ) {
    super(info.message);
    this.name = info.name === 'Error' ? 'TrainingWorkerError' : info.name;
    if (info.stack) this.workerStack = info.stack;
  }

  /** The stack in the worker, when it had one. */
  workerStack?: string;
}

/** An error as data (structured clone keeps an Error's message but not always its name or subclass). */
export function errorInfo(e: unknown): WorkerErrorInfo {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}
