// Our side of the benchmark: kernel cases (every distinct conv shape of the model (--preset) at the benchmark size,
// batchnorm, maxpool, upsample, softmax+NLL, ERE, Adam) and model cases (forward, training step, soak). Runs in
// the browser (called by bench/run.ts through src/node/browser.ts) or in Node through Dawn (--runtime node).
// The kernel cases but Adam's are in bench/ours-kernels.ts, the clocks in bench/ours-timing.ts.
//
// Timing: a kernel case records R identical dispatches, submits them and waits; its time is (time) / R, R chosen
// so that one timed run lasts about kernelTargetMs. The engine records all dispatches into one compute pass, so
// per-dispatch timestamp queries would need a pass per kernel: where the adapter has timestamp-query, one pair of
// timestamps spans the R dispatches (wallMs keeps the wall clock too); elsewhere it is the wall clock around
// engine.sync(), which includes the submit and the wait (small next to SwiftShader's milliseconds-long kernels,
// not on a real GPU, where R grows to amortise it).
import { Engine } from '../src/engine/engine.ts';
import { backward } from '../src/ops/backward.ts';
import { Adam } from '../src/nn/adam.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { full } from '../src/ops/fill.ts';
import { ResnetUnet, MODEL_PRESETS } from '../src/nn/unet.ts';
import type { BenchConfig } from './args.ts';
import { kernelCases, modelConvGflop } from './ours-kernels.ts';
import { formatTuneResult, tuneModel } from '../src/chh/tune.ts';
import type { TuneChoice } from '../src/ops/conv2d/autotune.ts';
import { kernelCase, log, modelCase, randomData, startRun, type BenchRun, type OurCase } from './ours-timing.ts';
import { trainingLoss } from '../src/chh/loss.ts';
import type { LossScaler } from '../src/nn/loss-scale.ts';
import { lossScalerFor, usePrecision } from '../src/chh/precision.ts';
import type { Holder, PeakAllocation } from '../src/engine/buffer-pool.ts';

// Re-exported so that bench/run.ts, bench/report.ts and the tests keep one module to import our side from.
export { convGeometry, convGflop, convName, convShapes, convVariant, modelConvGflop, type ConvShape } from './ours-kernels.ts';
export { stats, type OurCase, type Stats } from './ours-timing.ts';

/** What our side of the benchmark needs of the command line (a type-only import: this file runs in the page). */
export type OursConfig = Pick<BenchConfig, 'runtime' | 'h' | 'w' | 'batch' | 'preset' | 'reps' | 'kernelReps' | 'kernelTargetMs' | 'kernels' | 'model' | 'soak' | 'tune' | 'precision'>;

export interface OursResult {
  adapter: Engine['adapter'];
  features: string[];
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  parameters: number;
  cases: OurCase[];
  memory: { peakLiveBytes: number; peakAllocatedBytes: number; liveBytesBeforeStep: number; createdBuffers: number; holders: Holder[]; peakAt: PeakAllocation | null } | null;
  soak: {
    steps: number;
    liveBytesStart: number;
    liveBytesEnd: number;
    /** Smallest and largest live bytes over samples taken every 10 steps (after each sync). */
    liveBytesMin: number;
    liveBytesMax: number;
    samples: number;
    createdBuffersStart: number;
    createdBuffersEnd: number;
    ms: number;
  } | null;
  timing: string;
  /** With --tune: what won, shape by shape (bench/run.ts saves them to the autotune cache). */
  tuned: TuneChoice[] | null;
}

/** With --tune: the conv shapes of the benchmark's training step and forward, tuned on this engine before any case. */
async function tuneFirst(engine: Engine, model: ResnetUnet, cfg: OursConfig): Promise<TuneChoice[] | null> {
  if (!cfg.tune) return null;
  const state = model.allocate(engine, 0);
  try {
    const t0 = performance.now();
    const result = await tuneModel(engine, model, state, { width: cfg.w, height: cfg.h, train: [cfg.batch], infer: [cfg.batch] });
    log(`ours: tuned ${result.choices.length} conv shapes in ${((performance.now() - t0) / 1000).toFixed(1)} s:\n${formatTuneResult(result)}`);
    return result.choices;
  } finally {
    state.dispose();
  }
}

export async function runOurs(cfg: OursConfig): Promise<OursResult> {
  // Node's GPU module is loaded only there: this file also runs in the page.
  const engine = await (cfg.runtime === 'node' ? import('../src/node/gpu.ts').then((m) => m.createNodeEngine()) : Engine.create({ runtime: 'browser' }));
  try {
    return await runOn(engine, cfg);
  } finally {
    engine.destroy();
  }
}

/** The allocated model, its optimizer and fixed inputs, and one full training step on them. */
interface Training {
  model: ResnetUnet;
  state: ReturnType<ResnetUnet['allocate']>;
  adam: Adam;
  /** Where the step's gradients may round to f16 (--precision f16), as train() scales the loss. */
  scaler: LossScaler | null;
  images: Tensor;
  step: () => void;
}

function prepareTraining(run: BenchRun, model: ResnetUnet): Training {
  const { engine, cfg } = run;
  const { h, w, batch: n } = cfg;
  const L = model.config.landmarks;
  const state = model.allocate(engine, 0);
  const adam = new Adam(state.params, { lr: 1e-3 });
  const images = engine.untracked(() => engine.tensor(randomData(n * h * w, 255).map((v) => v + 127.5), [n, 1, h, w], { label: 'images' }));
  const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L], { label: 'targets' }));
  const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures' }));
  const scaler = lossScalerFor(engine);
  const step = () => {
    scaler?.beginStep();
    engine.scope(() => {
      const loss = trainingLoss(model, state, images, temperatures, targets);
      backward(loss, { seed: scaler?.scale });
    });
    adam.step(scaler);
    adam.zeroGrad();
  };
  return { model, state, adam, scaler, images, step };
}

/** Adam over every parameter (one dispatch over the flat buffer); gradients from one real step. */
async function adamCase(run: BenchRun, t: Training): Promise<void> {
  t.step();
  await run.engine.sync();
  const P = t.state.params.count;
  await kernelCase(run, `adam.${P}`, () => t.adam.step(), { gbytes: (7 * P * 4) / 1e9, note: 'reads param, grad, m, v; writes param, m, v' });
}

/** The whole model's forward pass and training step, and the memory of a steady-state step. */
async function modelCases(run: BenchRun, t: Training): Promise<OursResult['memory']> {
  const { engine, cfg } = run;
  const tag = `${cfg.h}x${cfg.w}.b${cfg.batch}`;
  const convGflop = modelConvGflop(t.model, cfg.h, cfg.w, cfg.batch);
  await modelCase(run, `unet.forward.${tag}`, () => engine.scope(() => void engine.noGrad(() => t.model.forward(t.state, t.images))), convGflop.forward);
  t.step(); // Adam state exists from here on: the peak below is a steady-state step's
  await engine.sync();
  const before = engine.memory();
  engine.pool.resetPeak();
  await modelCase(run, `unet.train_step.${tag}`, t.step, convGflop.trainStep);
  const m = engine.memory();
  const holders = engine.pool.holders().slice(0, 10);
  const peakAt = engine.pool.peakAllocation();
  return { peakLiveBytes: m.peakLiveBytes, peakAllocatedBytes: m.peakAllocatedBytes, liveBytesBeforeStep: before.liveBytes, createdBuffers: m.createdBuffers, holders, peakAt };
}

/** cfg.soak training steps in a row: live bytes sampled every 10 steps show whether anything leaks. */
async function soakRun(run: BenchRun, t: Training): Promise<NonNullable<OursResult['soak']>> {
  const { engine, cfg } = run;
  t.step();
  await engine.sync();
  const start = engine.memory();
  const t0 = performance.now();
  let min = start.liveBytes;
  let max = start.liveBytes;
  let samples = 1;
  for (let i = 0; i < cfg.soak; i++) {
    t.step();
    if (i % 10 === 9 || i === cfg.soak - 1) {
      await engine.sync();
      const live = engine.memory().liveBytes;
      min = Math.min(min, live);
      max = Math.max(max, live);
      samples++;
    }
  }
  const end = engine.memory();
  const soak = {
    steps: cfg.soak,
    liveBytesStart: start.liveBytes,
    liveBytesEnd: end.liveBytes,
    liveBytesMin: min,
    liveBytesMax: max,
    samples,
    createdBuffersStart: start.createdBuffers,
    createdBuffersEnd: end.createdBuffers,
    ms: performance.now() - t0,
  };
  log(`ours: soak ${cfg.soak} steps, live bytes ${start.liveBytes} -> ${end.liveBytes}, buffers created ${start.createdBuffers} -> ${end.createdBuffers}`);
  return soak;
}

/** How the cases were timed, as the report states it (the kernel clock depends on timestamp-query). */
function timingNote(timestamps: boolean): string {
  return (
    (timestamps
      ? 'kernel cases: GPU timestamps (timestamp-query) around R identical dispatches (R chosen to fill ~kernelTargetMs), per dispatch; '
      : 'kernel cases: wall clock around engine.sync() over R identical dispatches per sync (R chosen to fill ~kernelTargetMs), per dispatch; ') +
    'model cases: wall clock around engine.sync(), one forward or training step per sync (as TF.js is timed). Median, min, max over the timed runs after warm-up.'
  );
}

async function runOn(engine: Engine, cfg: OursConfig): Promise<OursResult> {
  const model = new ResnetUnet(MODEL_PRESETS[cfg.preset]);
  usePrecision(engine, cfg.precision); // f16: storage, the GEMMs' f16 operands where tuned, loss scaling
  engine.pool.trackOwners(); // the step's peak per layer (memory.holders)
  log(`ours: adapter ${engine.adapter.vendor} ${engine.adapter.architecture} (${engine.adapter.runtime}), features ${[...engine.features].join(',')}`);
  const tuned = await tuneFirst(engine, model, cfg);
  const run = startRun(engine, cfg);
  // The kernel cases run before the model is allocated: its parameters and Adam state are not yet in GPU memory.
  if (cfg.kernels) await kernelCases(run, model);
  const training = prepareTraining(run, model);
  if (cfg.kernels) await adamCase(run, training);
  const memory = cfg.model ? await modelCases(run, training) : null;
  const soak = cfg.soak > 0 ? await soakRun(run, training) : null;
  run.timer?.dispose();
  return {
    adapter: engine.adapter,
    features: [...engine.features],
    limits: { maxStorageBufferBindingSize: engine.limits.maxStorageBufferBindingSize, maxBufferSize: engine.limits.maxBufferSize },
    parameters: training.state.params.count,
    cases: run.cases,
    memory,
    soak,
    timing: timingNote(run.timer !== null),
    tuned,
  };
}
