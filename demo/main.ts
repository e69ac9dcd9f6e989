// The demo page: wires the form, the buttons, the charts and the canvases to a DemoSession (session.ts).
// window.__chhDemo exposes the page's state (phase, losses, metrics) for the end-to-end test (test/demo.test.ts).
import { fmtBytes } from '../src/engine/buffer-pool.ts';
import { reliabilityDiagramSvg, ereVsErrorSvg, rocSvg } from '../src/report/plots.ts';
import { overlayImage } from '../src/report/overlay.ts';
import { predictBmp, type PredictedLandmark } from '../src/chh/predict.ts';
import { loadModel } from '../src/io/weights.ts';
import { parseSafetensorsHeader } from '../src/io/safetensors.ts';
import type { ModelPreset } from '../src/nn/unet.ts';
import { DemoSession, type EvaluationOutput, type Phase } from './session.ts';
import { DEFAULT_SETTINGS, type DemoSettings } from './settings.ts';
import { PREDICTION } from '../src/chh/config.ts';
import { LossChart } from './loss-chart.ts';
import { download, drawOverlay } from './draw.ts';

interface DemoState {
  phase: Phase;
  message: string;
  webgpu: 'checking' | 'ok' | 'missing' | 'no-adapter';
  adapter: string;
  losses: number[];
  epochLosses: number[];
  heatmapUpdates: number;
  evaluation: null | { mreMm: number; sdr: { thresholdMm: number; percent: number }[]; eceBefore: number; eceAfter: number; testEceBefore: number | null; testEceAfter: number; auc: number | null; flagged: number; landmarks: number };
  prediction: null | PredictedLandmark[];
  errors: string[];
  session: DemoSession;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};
const num = (id: string): number => Number($<HTMLInputElement>(id).value);

const logEl = $('log');
function log(message: string): void {
  logEl.textContent += `[${new Date().toLocaleTimeString()}] ${message}\n`;
  logEl.scrollTop = logEl.scrollHeight;
}

const chart = new LossChart($('loss-chart'));
let evaluationOutput: EvaluationOutput | null = null;

const session = new DemoSession({
  phase: (phase, message) => setPhase(phase, message),
  log,
  progress: (task, done, total) => {
    $('progress-text').textContent = `${task}: ${done}/${total}`;
    $('progress-bar').style.width = `${(100 * done) / Math.max(1, total)}%`;
  },
  step: (p) => {
    state.losses.push(p.loss);
    chart.addStep(p.globalStep, p.loss);
    $('progress-bar').style.width = `${(100 * p.globalStep) / p.totalSteps}%`;
    $('progress-text').textContent = `epoch ${p.epoch + 1}/${p.epochs}, step ${p.step}/${p.stepsPerEpoch} (${p.globalStep}/${p.totalSteps}); loss ${p.loss.toFixed(4)}; lr ${p.lr.toExponential(1)}`;
    $('stats').textContent = `${p.stepsPerSecond.toFixed(2)} steps/s; ETA ${formatSeconds(p.etaSeconds)}; GPU memory in use ${fmtBytes(p.liveBytes)}`;
  },
  epoch: (s) => {
    state.epochLosses.push(s.meanLoss);
    chart.addEpoch(s.meanLoss);
  },
  rewind: (globalStep, epoch) => {
    state.losses = state.losses.slice(0, globalStep);
    state.epochLosses = state.epochLosses.slice(0, epoch);
    chart.rewind(globalStep, state.losses, state.epochLosses);
  },
  heatmap: (view, caption) => {
    drawOverlay($<HTMLCanvasElement>('live-heatmap'), view.base, view);
    $('live-caption').textContent = `${caption}. Green +: truth, red: prediction; colour: softmax maps of all landmarks (each / its max, max over landmarks).`;
    state.heatmapUpdates++;
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
  session,
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

// ------------------------------------------------------------------ buttons by phase

const buttons = {
  start: $<HTMLButtonElement>('start'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  resumeCheckpoint: $<HTMLButtonElement>('resume-checkpoint'),
  evaluate: $<HTMLButtonElement>('evaluate'),
  weights: $<HTMLButtonElement>('download-weights'),
  report: $<HTMLButtonElement>('download-report'),
};

function setPhase(phase: Phase, message = ''): void {
  state.phase = phase;
  state.message = message;
  document.body.dataset.phase = phase;
  const gpu = state.webgpu === 'ok';
  const busy = phase === 'loading' || phase === 'compiling' || phase === 'training' || phase === 'paused' || phase === 'evaluating';
  buttons.start.disabled = !gpu || busy;
  buttons.pause.disabled = phase !== 'training';
  buttons.resume.disabled = phase !== 'paused';
  buttons.stop.disabled = phase !== 'training' && phase !== 'paused';
  const hasModel = session.model !== null && phase !== 'lost';
  buttons.evaluate.disabled = busy || !hasModel || !session.data;
  buttons.weights.disabled = busy || !hasModel;
  buttons.report.disabled = busy || !evaluationOutput;
  buttons.resumeCheckpoint.hidden = phase !== 'lost' && !(phase === 'idle' && pendingRun);
  const note = $('resume-note');
  note.hidden = !message;
  note.textContent = message;
  if (phase === 'error') log(`error: ${message}`);
}

// ------------------------------------------------------------------ settings

function readSettings(): DemoSettings {
  const source = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value as DemoSettings['source'];
  const s: DemoSettings = {
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
  };
  for (const [k, v] of [['width', s.width], ['height', s.height]] as const) {
    if (!Number.isInteger(v) || v < 32 || v % 32 !== 0) throw new Error(`${k} must be a multiple of 32 (the network downsamples 5 times), got ${v}`);
  }
  for (const [k, v] of [['batch', s.batch], ['epochs', s.epochs]] as const) if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer`);
  if (source === 'synthetic' && (s.trainImages < 1 || s.calibrationImages < 2 || s.testImages < 1)) {
    throw new Error('synthetic data needs at least 1 train, 2 fine-tune (two halves) and 1 test image');
  }
  if (!(s.lr > 0)) throw new Error('lr must be > 0');
  return s;
}

function writeSettings(s: DemoSettings): void {
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
  set('heatmap-every', s.heatmapEvery);
  $('folder-row').hidden = s.source !== 'folder';
}

// The form starts from the demo run's settings (src/chh/config.ts); the page's HTML holds no defaults of its own.
writeSettings(DEFAULT_SETTINGS);
$<HTMLInputElement>('predict-width').value = String(DEFAULT_SETTINGS.width);
$<HTMLInputElement>('predict-height').value = String(DEFAULT_SETTINGS.height);
$<HTMLInputElement>('predict-pixel').value = String(PREDICTION.pixelSizeMm.default);

for (const r of Array.from(document.querySelectorAll<HTMLInputElement>('input[name=source]'))) {
  r.addEventListener('change', () => ($('folder-row').hidden = r.value !== 'folder' || !r.checked));
}

// ------------------------------------------------------------------ training

let pendingRun: Awaited<ReturnType<DemoSession['unfinishedRun']>> = null;

async function runTraining(resume: boolean): Promise<void> {
  try {
    if (!resume || !session.data) {
      const settings = readSettings();
      setPhase('loading');
      await session.loadData(settings, $<HTMLInputElement>('folder').files);
    }
    if (!resume) {
      chart.clear();
      state.losses = [];
      state.epochLosses = [];
    }
    evaluationOutput = null;
    state.evaluation = null;
    pendingRun = null;
    $<HTMLInputElement>('predict-width').value = String(session.settings.width);
    $<HTMLInputElement>('predict-height').value = String(session.settings.height);
    await session.train(resume);
    if (state.phase === 'trained' && $<HTMLInputElement>('auto-evaluate').checked) await runEvaluation();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (state.phase === 'lost') {
      console.warn(e); // reported in the page, with the resume button
      return;
    }
    if (state.phase !== 'error') setPhase('error', message);
    console.error(e);
  }
}

buttons.start.addEventListener('click', () => void runTraining(false));
buttons.pause.addEventListener('click', () => session.pause());
buttons.resume.addEventListener('click', () => session.resume());
buttons.stop.addEventListener('click', () => session.stop());
buttons.resumeCheckpoint.addEventListener('click', () => {
  if (pendingRun) writeSettings(pendingRun.settings);
  void runTraining(true);
});

// ------------------------------------------------------------------ evaluation

function pct(v: number): string {
  return `${(100 * v).toFixed(2)}%`;
}

async function runEvaluation(): Promise<void> {
  try {
    const out = await session.evaluate();
    evaluationOutput = out;
    const { evaluation: ev, calibration: cal } = out;
    const s = ev.summary;
    const flagged = ev.images.reduce((n, e) => n + e.flagged.filter(Boolean).length, 0);
    state.evaluation = {
      mreMm: s.mre.mean,
      sdr: s.sdr.map((d) => ({ thresholdMm: d.thresholdMm, percent: d.percent })),
      eceBefore: cal.eceBefore,
      eceAfter: cal.eceAfter,
      testEceBefore: ev.comparison ? ev.comparison.calibration.ece : null,
      testEceAfter: s.calibration.ece,
      auc: s.roc ? s.roc.auc : null,
      flagged,
      landmarks: s.count,
    };
    $('metrics').innerHTML = `
<table id="metrics-table"><thead><tr><th>${ev.label}</th><th>landmarks</th><th>MRE (mm)</th><th>SD (mm)</th>${s.sdr.map((d) => `<th>SDR ${d.thresholdMm} mm</th>`).join('')}<th>ECE T=1</th><th>ECE calibrated</th><th>ROC AUC</th><th>flagged (ERE &gt; ${s.split.ereThresholdMm.toFixed(2)} mm)</th></tr></thead>
<tbody><tr><td>all</td><td>${s.count}</td><td id="mre">${s.mre.mean.toFixed(3)}</td><td>${s.mre.std.toFixed(3)}</td>${s.sdr.map((d) => `<td>${d.percent.toFixed(1)}%</td>`).join('')}<td>${ev.comparison ? pct(ev.comparison.calibration.ece) : '–'}</td><td>${pct(s.calibration.ece)}</td><td>${s.roc ? s.roc.auc.toFixed(3) : 'n/a'}</td><td>${flagged}</td></tr></tbody></table>
<p class="hint">Temperature scaling: ${cal.fitCount} images fit, ${cal.validationCount} measure the ECE; best epoch ${cal.bestEpoch}; ECE on the fine-tune half ${pct(cal.eceBefore)} → ${pct(cal.eceAfter)}. Temperatures: ${Array.from(cal.temperatures, (t) => t.toFixed(2)).join(' ')}.</p>`;
    // The plots are report.ts's SVGs (the same figures as the downloadable report, no second implementation).
    const plots: string[] = [];
    if (ev.comparison) plots.push(reliabilityDiagramSvg('demo-reliability-before', 'Reliability, T = 1 (before scaling)', ev.comparison.calibration));
    plots.push(reliabilityDiagramSvg('demo-reliability-after', 'Reliability, calibrated T', s.calibration, ev.comparison ? [`before: ${pct(ev.comparison.calibration.ece)}`] : []));
    plots.push(ereVsErrorSvg(ev), rocSvg(ev));
    $('plots').innerHTML = plots.join('\n');
    const figures = $('overlays');
    figures.textContent = '';
    for (const o of out.overlays) {
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      drawOverlay(canvas, o.view.base, o.view, 300);
      const cap = document.createElement('figcaption');
      cap.textContent = `${o.id}: ${o.flagged} landmark${o.flagged === 1 ? '' : 's'} flagged erroneous by ERE (yellow squares)`;
      fig.append(canvas, cap);
      figures.append(fig);
    }
    // Live view with the calibrated temperatures.
    const sample = session.data?.test[0];
    if (sample) await session.showLiveHeatmap(sample, `validation image ${sample.id}, calibrated`);
    log(`test: MRE ${s.mre.mean.toFixed(3)} mm, SDR 2 mm ${s.sdr[0]?.percent.toFixed(1)}%, ECE ${ev.comparison ? pct(ev.comparison.calibration.ece) + ' → ' : ''}${pct(s.calibration.ece)}, ${flagged} landmarks flagged`);
    setPhase('evaluated');
  } catch (e) {
    if (state.phase !== 'error') setPhase('error', e instanceof Error ? e.message : String(e));
    console.error(e);
  }
}

buttons.evaluate.addEventListener('click', () => void runEvaluation());
buttons.weights.addEventListener('click', async () => {
  try {
    download('chh-webgpu.safetensors', await session.weights(), 'application/octet-stream');
  } catch (e) {
    log(`weights: ${e instanceof Error ? e.message : String(e)}`);
  }
});
buttons.report.addEventListener('click', () => {
  if (evaluationOutput) download('chh-report.html', evaluationOutput.reportHtml, 'text/html');
});

// ------------------------------------------------------------------ prediction

$('weights-file').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const meta = parseSafetensorsHeader(bytes).metadata;
    const engine = await session.ensureEngine();
    const loaded = loadModel(engine, bytes);
    session.adopt(loaded.model, loaded.state, loaded.temperatures);
    const paper = PREDICTION.inputSize.default; // converted PyTorch weights: the paper's input size
    const w = loaded.inputSize?.width ?? (meta.config ? session.settings.width : paper.width);
    const h = loaded.inputSize?.height ?? (meta.config ? session.settings.height : paper.height);
    $<HTMLInputElement>('predict-width').value = String(w);
    $<HTMLInputElement>('predict-height').value = String(h);
    log(`weights ${file.name}: ${loaded.format} names, ${loaded.config.landmarks} landmarks, ${loaded.state.params.count} parameters${meta.config ? '' : ' (no configuration inside: assumed the paper\'s ResNet34-UNet)'}`);
    await session.prepareInference(w, h);
    setPhase(state.phase === 'evaluated' || state.phase === 'trained' ? state.phase : 'idle');
  } catch (err) {
    log(`weights ${file.name}: ${err instanceof Error ? err.message : String(err)}`);
  }
});

async function predictFile(file: File): Promise<void> {
  try {
    const { engine, model, state: modelState } = session;
    if (!engine || !model || !modelState) throw new Error('train a model or load weights first');
    const size = { width: num('predict-width'), height: num('predict-height') };
    const p = await predictBmp(engine, model, modelState, await file.arrayBuffer(), size, {
      temperatures: session.temperatures ?? undefined,
      pixelSizeMm: num('predict-pixel'),
      heatmap: true,
    });
    // Overlay on the network's input (resized), so the heatmap and the points line up pixel for pixel.
    const inputPoints = p.landmarks.flatMap((l) => [l.x * p.scale, l.y * p.scale]);
    const base = overlayImage({ image: p.input.image, width: p.input.width, height: p.input.height, landmarks: new Float32Array(0) }, p.heatmap, [], []);
    drawOverlay($<HTMLCanvasElement>('predict-canvas'), base, { imageWidth: p.input.width, truth: [], predicted: inputPoints, flagged: p.landmarks.map((l) => l.erroneous) });
    $('predict-table').innerHTML = `<table id="prediction"><thead><tr><th>landmark</th><th>x (px)</th><th>y (px)</th><th>ERE (mm)</th><th>p(mode)</th></tr></thead><tbody>${p.landmarks
      .map((l) => `<tr class="${l.erroneous ? 'flagged' : ''}"><td>${l.index + 1}. ${l.name}</td><td>${l.x.toFixed(1)}</td><td>${l.y.toFixed(1)}</td><td>${l.ereMm.toFixed(2)}</td><td>${l.modeProbability.toFixed(3)}</td></tr>`)
      .join('')}</tbody></table><p class="hint">${file.name}: ${p.original.width}x${p.original.height}; highlighted rows (yellow squares on the image) have ERE above 1.5 mm and are likely erroneous.</p>`;
    state.prediction = p.landmarks;
    log(`predicted ${p.landmarks.length} landmarks on ${file.name}`);
  } catch (e) {
    log(`predict ${file.name}: ${e instanceof Error ? e.message : String(e)}`);
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
  pendingRun = await session.unfinishedRun();
  state.webgpu = 'ok';
  state.adapter = `${info.vendor} ${info.architecture} ${info.description}`.replace(/\s+/g, ' ').trim();
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  status.className = 'status ok';
  status.textContent = `WebGPU adapter: ${state.adapter || 'unnamed'}${fallback ? ' (a CPU fallback: expect training to be about 100x slower than on a GPU; keep the tiny model and small images)' : ''}`;
  if (pendingRun) {
    writeSettings(pendingRun.settings);
    setPhase('idle', `A previous run stopped after epoch ${pendingRun.finishedEpochs} of ${pendingRun.settings.epochs}; its checkpoint is in this browser (IndexedDB).${pendingRun.settings.source === 'folder' ? ' Pick the same folder, then resume.' : ''}`);
  } else {
    setPhase('idle');
  }
}

void checkWebGpu();
