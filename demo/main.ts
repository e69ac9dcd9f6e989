// The demo page: wires the form, the buttons, the charts and the canvases to a training worker (worker.ts, the
// library's serveTrainingWorker) through a TrainingWorker; the page itself only draws, so it answers input while the
// worker trains. Each step's error shows in its own panel. window.__chhDemo exposes the page's state (phase, losses,
// metrics, errors, long tasks) for the end-to-end test (test/demo/demo.test.ts).
import { fmtBytes } from '../src/engine/buffer-pool.ts';
import type { PredictedLandmark } from '../src/chh/predict.ts';
import type { ModelPreset } from '../src/nn/unet.ts';
import { PREDICTION } from '../src/chh/config.ts';
import { TrainingWorker } from '../src/worker/client.ts';
import type { EvaluationOutput, Phase, RunRecord, SessionState } from '../src/worker/protocol.ts';
import { DEFAULT_SESSION_SETTINGS, settingsProblem, type SessionSettings } from '../src/worker/settings.ts';
import { weightsSize } from '../src/worker/weights-size.ts';
import { LossChart } from './loss-chart.ts';
import { download, drawOverlay } from './draw.ts';
import { showEvaluation, type EvaluationSummary } from './evaluation-view.ts';

/** The steps of the page, each with its own error line (#<step>-error). */
type Step = 'train' | 'evaluate' | 'predict';

interface DemoState {
  phase: Phase;
  message: string;
  webgpu: 'checking' | 'ok' | 'missing' | 'no-adapter';
  adapter: string;
  losses: number[];
  epochLosses: number[];
  heatmapUpdates: number;
  evaluation: null | EvaluationSummary;
  prediction: null | PredictedLandmark[];
  /** Uncaught errors and rejections of the page. */
  errors: string[];
  /** The error shown next to each step, if any. */
  stepErrors: Partial<Record<Step, string>>;
  /** The main thread's long tasks (over 50 ms) since the page loaded: start and duration in ms (performance.now). */
  longTasks: { start: number; duration: number }[];
  /** Input events that took 16 ms or more to the next paint (Event Timing): when, and how long until handled. */
  slowInputs: { name: string; start: number; delay: number; duration: number }[];
  session: SessionState;
  worker: TrainingWorker;
}

// How responsive the page is, from its load on: long tasks, and inputs slow to be handled or painted.
const longTasks: DemoState['longTasks'] = [];
const slowInputs: DemoState['slowInputs'] = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as PerformanceEventTiming[]) slowInputs.push({ name: e.name, start: e.startTime, delay: e.processingStart - e.startTime, duration: e.duration });
  }).observe({ type: 'event', durationThreshold: 16, buffered: true } as PerformanceObserverInit);
} catch {
  /* no long-task or event timing in this browser */
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};
const num = (id: string): number => Number($<HTMLInputElement>(id).value);
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const logEl = $('log');
function log(message: string): void {
  logEl.textContent += `[${new Date().toLocaleTimeString()}] ${message}\n`;
  logEl.scrollTop = logEl.scrollHeight;
}

const chart = new LossChart($('loss-chart'));

/**
 * The progress line and bar, drawn once per frame however many events come (compiling sends one per kernel); the
 * bar moves by a transform, which the compositor animates without the main thread.
 */
let progress: { text: string; fraction: number } | null = null;
function showProgress(text: string, fraction: number): void {
  if (!progress) {
    requestAnimationFrame(() => {
      if (!progress) return;
      $('progress-text').textContent = progress.text;
      $('progress-bar').style.transform = `scaleX(${Math.min(1, Math.max(0, progress.fraction))})`;
      progress = null;
    });
  }
  progress = { text, fraction };
}
let evaluationOutput: EvaluationOutput | null = null;

const worker = new TrainingWorker(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }), {
  phase: ({ phase, message }) => setPhase(phase, message),
  log: ({ message }) => log(message),
  progress: ({ task, done, total }) => {
    showProgress(`${task}: ${done}/${total}`, done / Math.max(1, total));
  },
  step: (p) => {
    state.losses.push(p.loss);
    chart.addStep(p.globalStep, p.loss);
    showProgress(`epoch ${p.epoch + 1}/${p.epochs}, step ${p.step}/${p.stepsPerEpoch} (${p.globalStep}/${p.totalSteps}); loss ${p.loss.toFixed(4)}; lr ${p.lr.toExponential(1)}`, p.globalStep / p.totalSteps);
    $('stats').textContent = `${p.stepsPerSecond.toFixed(2)} steps/s; ETA ${formatSeconds(p.etaSeconds)}; GPU memory in use ${fmtBytes(p.liveBytes)}`;
  },
  epoch: (s) => {
    state.epochLosses.push(s.meanLoss);
    chart.addEpoch(s.meanLoss);
  },
  rewind: ({ globalStep, epoch }) => {
    state.losses = state.losses.slice(0, globalStep);
    state.epochLosses = state.epochLosses.slice(0, epoch);
    chart.rewind(globalStep, state.losses, state.epochLosses);
  },
  heatmap: ({ frame, caption }) => {
    drawOverlay($<HTMLCanvasElement>('live-heatmap'), frame);
    $('live-caption').textContent = `${caption}. Green +: truth, red: prediction; colour: softmax maps of all landmarks (each / its max, max over landmarks).`;
    state.heatmapUpdates++;
  },
  state: (s) => {
    state.session = s;
    setPhase(state.phase, state.message);
  },
});

const state: DemoState = {
  phase: 'idle',
  message: '',
  webgpu: 'checking',
  adapter: '',
  losses: [],
  epochLosses: [],
  heatmapUpdates: 0,
  evaluation: null,
  prediction: null,
  errors: [],
  stepErrors: {},
  longTasks,
  slowInputs,
  session: { data: null, model: null },
  worker,
};
(window as unknown as { __chhDemo: DemoState }).__chhDemo = state;
window.addEventListener('error', (e) => state.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => state.errors.push(String(e.reason instanceof Error ? e.reason.message : e.reason)));

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** Shows (or clears, with null) the error of a step in its panel; it goes to the log too. */
function stepError(step: Step, message: string | null): void {
  const el = $(`${step}-error`);
  el.hidden = message === null;
  el.textContent = message ?? '';
  if (message === null) delete state.stepErrors[step];
  else {
    state.stepErrors[step] = message;
    log(`${step} failed: ${message}`);
  }
}

// ------------------------------------------------------------------ buttons by phase

const buttons = {
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  resumeCheckpoint: $<HTMLButtonElement>('resume-checkpoint'),
  tune: $<HTMLButtonElement>('tune'),
  evaluate: $<HTMLButtonElement>('evaluate'),
  weights: $<HTMLButtonElement>('download-weights'),
  report: $<HTMLButtonElement>('download-report'),
};

function setPhase(phase: Phase, message = ''): void {
  state.phase = phase;
  state.message = message;
  document.body.dataset.phase = phase;
  const gpu = state.webgpu === 'ok';
  const busy = phase === 'loading' || phase === 'tuning' || phase === 'compiling' || phase === 'training' || phase === 'paused' || phase === 'evaluating';
  buttons.start.disabled = !gpu || busy;
  buttons.tune.disabled = !gpu || busy;
  buttons.pause.disabled = phase !== 'training';
  buttons.resume.disabled = phase !== 'paused';
  buttons.stop.disabled = phase !== 'training' && phase !== 'paused';
  const hasModel = state.session.model !== null && phase !== 'lost';
  buttons.evaluate.disabled = busy || !hasModel || !state.session.data;
  buttons.weights.disabled = busy || !hasModel;
  buttons.report.disabled = busy || !evaluationOutput;
  buttons.resumeCheckpoint.hidden = phase !== 'lost' && !(phase === 'idle' && pendingRun);
  // Errors show next to their step (stepError); this line says what the page is waiting for.
  const note = $('resume-note');
  note.hidden = !message || phase === 'error';
  note.textContent = phase === 'error' ? '' : message;
}

// ------------------------------------------------------------------ settings

function readSettings(): SessionSettings {
  const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value as SessionSettings['source'];
  const s: SessionSettings = {
    source,
    trainImages: num('train-images'),
    calibrationImages: num('calibration-images'),
    testImages: num('test-images'),
    width: num('width'),
    height: num('height'),
    model: $<HTMLSelectElement>('model').value as ModelPreset,
    batch: num('batch'),
    epochs: num('epochs'),
    lr: num('lr'),
    augment: $<HTMLInputElement>('augment').checked,
    calibrationEpochs: num('calibration-epochs'),
    calibrationObjective: $<HTMLSelectElement>('calibration-objective').value === 'nll' ? 'nll' : 'ece',
    heatmapEvery: Math.max(1, num('heatmap-every')),
    seed: 0,
    precision: $<HTMLSelectElement>('precision').value === 'f16' ? 'f16' : 'f32',
  };
  const problem = settingsProblem(s);
  if (problem) throw new Error(problem);
  return s;
}

function writeSettings(s: SessionSettings): void {
  (document.querySelector(`input[name=source][value=${s.source}]`) as HTMLInputElement).checked = true;
  const set = (id: string, v: number | string) => ($<HTMLInputElement>(id).value = String(v));
  set('train-images', s.trainImages);
  set('calibration-images', s.calibrationImages);
  set('test-images', s.testImages);
  set('width', s.width);
  set('height', s.height);
  $<HTMLSelectElement>('model').value = s.model;
  set('batch', s.batch);
  set('epochs', s.epochs);
  set('lr', s.lr);
  $<HTMLInputElement>('augment').checked = s.augment;
  set('calibration-epochs', s.calibrationEpochs);
  $<HTMLSelectElement>('calibration-objective').value = s.calibrationObjective ?? 'ece';
  $<HTMLSelectElement>('precision').value = s.precision ?? 'f32';
  set('heatmap-every', s.heatmapEvery);
  $('folder-row').hidden = s.source !== 'folder';
}

function setPredictSize(size: { width: number; height: number }): void {
  $<HTMLInputElement>('predict-width').value = String(size.width);
  $<HTMLInputElement>('predict-height').value = String(size.height);
}

// The form starts from the demo run's settings (src/chh/config.ts); the page's HTML holds no defaults of its own.
writeSettings(DEFAULT_SESSION_SETTINGS);
setPredictSize(DEFAULT_SESSION_SETTINGS);
$<HTMLInputElement>('predict-pixel').value = String(PREDICTION.pixelSizeMm.default);

for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=source]'))) {
  r.addEventListener('change', () => ($('folder-row').hidden = r.value !== 'folder' || !r.checked));
}

// ------------------------------------------------------------------ training

let pendingRun: RunRecord | null = null;

async function runTraining(resume: boolean): Promise<void> {
  stepError('train', null);
  try {
    if (!resume || !state.session.data) {
      const settings = readSettings();
      await worker.load(settings, $<HTMLInputElement>('folder').files);
      setPredictSize(settings); // predictions with the model trained here: its input size
    }
    if (!resume) {
      chart.clear();
      state.losses = [];
      state.epochLosses = [];
    }
    evaluationOutput = null;
    state.evaluation = null;
    pendingRun = null;
    const { outcome } = await worker.train(resume);
    if (outcome === 'trained' && $<HTMLInputElement>('auto-evaluate').checked) await runEvaluation();
  } catch (e) {
    if (state.phase === 'lost') {
      console.warn(e); // reported in the page, with the resume button
      return;
    }
    if (state.phase !== 'error') setPhase('error', messageOf(e));
    stepError('train', messageOf(e));
  }
}

buttons.start.addEventListener('click', () => void runTraining(false));
buttons.tune.addEventListener('click', async () => {
  stepError('train', null);
  try {
    const t = await worker.tune(readSettings());
    const model = t.check
      ? `; the whole model's steps ${t.check.tunedMs.toFixed(0)} ms with the winners, ${t.check.defaultMs.toFixed(0)} ms with the defaults: ${t.check.kept ? 'winners kept' : 'defaults kept'}`
      : '';
    log(`tuned ${t.shapes} conv shapes for this GPU: ${t.tunedMs.toFixed(1)} ms per step's convolutions, ${t.defaultMs.toFixed(1)} ms with the defaults${model} (kept in this browser; every run here uses them)`);
  } catch (e) {
    stepError('train', `tuning: ${messageOf(e)}`);
  }
});
buttons.pause.addEventListener('click', () => void worker.pause());
buttons.resume.addEventListener('click', () => void worker.resume());
buttons.stop.addEventListener('click', () => void worker.stop());
buttons.resumeCheckpoint.addEventListener('click', () => {
  if (pendingRun) writeSettings(pendingRun.settings);
  void runTraining(true);
});

// ------------------------------------------------------------------ evaluation

async function runEvaluation(): Promise<void> {
  stepError('evaluate', null);
  try {
    const out = await worker.evaluate();
    evaluationOutput = out;
    const { summary, line } = showEvaluation(out, { metrics: $('metrics'), plots: $('plots'), overlays: $('overlays') });
    state.evaluation = summary;
    log(line);
    setPhase('evaluated');
  } catch (e) {
    if (state.phase !== 'error') setPhase('error', messageOf(e));
    stepError('evaluate', messageOf(e));
  }
}

buttons.evaluate.addEventListener('click', () => void runEvaluation());
buttons.weights.addEventListener('click', async () => {
  try {
    download('chh-webgpu.safetensors', await worker.weights(), 'application/octet-stream');
  } catch (e) {
    stepError('evaluate', `weights: ${messageOf(e)}`);
  }
});
buttons.report.addEventListener('click', () => {
  if (evaluationOutput) download('chh-report.html', evaluationOutput.reportHtml, 'text/html');
});

// ------------------------------------------------------------------ prediction

async function loadWeightsFile(file: File): Promise<void> {
  stepError('predict', null);
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    // The input size from the header alone (ours: their metadata; converted PyTorch weights: the paper's).
    const size = weightsSize(bytes);
    setPredictSize(size.inputSize);
    const loaded = await worker.loadWeights(bytes);
    const m = loaded.model;
    const sizeNote = loaded.from === 'metadata' ? 'its input size' : 'no input size inside: the paper\'s';
    log(`weights ${file.name}: ${loaded.format} names, ${m.config.landmarks} landmarks, ${m.parameters} parameters${loaded.configFromFile ? '' : ' (no configuration inside: assumed the paper\'s ResNet34-UNet)'}; ${sizeNote} ${loaded.inputSize.width}x${loaded.inputSize.height}`);
    setPhase(state.phase === 'evaluated' || state.phase === 'trained' ? state.phase : 'idle');
  } catch (err) {
    stepError('predict', `weights ${file.name}: ${messageOf(err)}`);
  }
}

$('weights-file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void loadWeightsFile(file);
});

async function predictFile(file: File): Promise<void> {
  stepError('predict', null);
  try {
    const inputSize = { width: num('predict-width'), height: num('predict-height') };
    const p = await worker.predict(await file.arrayBuffer(), { inputSize, pixelSizeMm: num('predict-pixel'), name: file.name });
    drawOverlay($<HTMLCanvasElement>('predict-canvas'), p.frame);
    $('predict-table').innerHTML = `<table id="prediction"><thead><tr><th>landmark</th><th>x (px)</th><th>y (px)</th><th>ERE (mm)</th><th>p(mode)</th></tr></thead><tbody>${p.landmarks
      .map((l) => `<tr class="${l.erroneous ? 'flagged' : ''}"><td>${l.index + 1}. ${l.name}</td><td>${l.x.toFixed(1)}</td><td>${l.y.toFixed(1)}</td><td>${l.ereMm.toFixed(2)}</td><td>${l.modeProbability.toFixed(3)}</td></tr>`)
      .join('')}</tbody></table><p class="hint">${file.name}: ${p.original.width}x${p.original.height}; highlighted rows (yellow squares on the image) have ERE above 1.5 mm or lie outside the image, and are likely erroneous.</p>`;
    state.prediction = p.landmarks;
    log(`predicted ${p.landmarks.length} landmarks on ${file.name}`);
  } catch (e) {
    stepError('predict', `predict ${file.name}: ${messageOf(e)}`);
  }
}

$('bmp-file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void predictFile(f);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void predictFile(f);
});

// ------------------------------------------------------------------ WebGPU check

async function checkWebGpu(): Promise<void> {
  const status = $('gpu-status');
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const how =
    'To enable it: use a recent Chrome or Edge (113+) or Safari 26 / Firefox 141+ where WebGPU is on; open the page over https:// or http://localhost; ' +
    'in Chrome see chrome://gpu. On Linux, start Chrome with --enable-unsafe-webgpu --enable-features=Vulkan (and, without a GPU, --use-webgpu-adapter=swiftshader).';
  if (!gpu) {
    state.webgpu = 'missing';
    status.className = 'status bad';
    status.textContent = `This browser has no WebGPU (navigator.gpu is missing${window.isSecureContext ? '' : ': the page is not in a secure context'}), so nothing can be trained here.\n${how}`;
    setPhase('idle');
    return;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) {
    state.webgpu = 'no-adapter';
    status.className = 'status bad';
    status.textContent = `WebGPU is present but found no GPU adapter (the GPU may be blocklisted or the driver unsupported).\n${how}`;
    setPhase('idle');
    return;
  }
  const info = adapter.info;
  pendingRun = await worker.unfinishedRun().catch(() => null);
  state.webgpu = 'ok';
  state.adapter = `${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim();
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  status.className = 'status ok';
  status.textContent = `WebGPU adapter: ${state.adapter || 'unnamed'}${fallback ? ' (a CPU fallback: expect training to be about 100x slower than on a GPU; keep the tiny model and small images)' : ''}. Training runs in a worker; this page stays responsive.`;
  if (pendingRun) {
    writeSettings(pendingRun.settings);
    setPhase('idle', `A previous run stopped after epoch ${pendingRun.finishedEpochs} of ${pendingRun.settings.epochs}; its checkpoint is in this browser (IndexedDB).${pendingRun.settings.source === 'folder' ? ' Pick the same folder, then resume.' : ''}`);
  } else {
    setPhase('idle');
  }
}

void checkWebGpu();
