// Our side of the benchmark: kernel cases (every distinct conv shape of the ResNet34-UNet at the benchmark size,
// batchnorm, maxpool, upsample, softmax+NLL, ERE, Adam) and model cases (forward, training step, soak). Runs in
// the browser (called by bench/run.ts through src/node/browser.ts) or in Node through Dawn (--runtime node).
//
// Timing: wall clock around engine.sync(). A kernel case records R identical dispatches, submits them and waits;
// its time is (wall time) / R, R chosen so that one timed run lasts about kernelTargetMs. The engine records all
// dispatches into one compute pass, so per-dispatch timestamp queries would need a pass per kernel; this method
// includes the submit and the wait (small next to SwiftShader's milliseconds-long kernels, not on a real GPU,
// where R grows to amortise it).
import { Engine } from '../src/engine/engine.ts';
import { backward } from '../src/ops/backward.ts';
import { Adam } from '../src/nn/adam.ts';
import { GpuTimer } from '../src/engine/profiler.ts';
import type { TapeNode } from '../src/engine/tape.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import { conv2dKernels } from '../src/ops/conv2d/conv2d.ts';
import { conv2dOutputSize } from '../src/ops/conv2d/plan.ts';
import { batchNorm2d } from '../src/ops/batchnorm.ts';
import { maxPool2d } from '../src/ops/maxpool.ts';
import { upsampleConcat } from '../src/ops/upsample.ts';
import { softmaxNll } from '../src/ops/softmax-nll.ts';
import { expectedRadialError } from '../src/ops/ere.ts';
import { ResnetUnet, RESNET34_UNET } from '../src/nn/unet.ts';
import type { Conv2d } from '../src/nn/module.ts';
import type { BenchConfig } from './args.ts';
import { full } from '../src/ops/fill.ts';

/** What our side of the benchmark needs of the command line (a type-only import: this file runs in the page). */
export type OursConfig = Pick<BenchConfig, 'runtime' | 'h' | 'w' | 'batch' | 'reps' | 'kernelReps' | 'kernelTargetMs' | 'kernels' | 'model' | 'soak'>;

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export interface OurCase {
  name: string;
  kind: 'model' | 'kernel';
  ms: Stats;
  /** Dispatches (or steps) per timed run. */
  perSync?: number;
  gflop?: number;
  gbytes?: number;
  /** How many times the model's training step runs this kernel (conv cases). */
  perStep?: number;
  note?: string;
  /** Kernel cases timed by GPU timestamps: the wall-clock median per dispatch too (submit and wait included). */
  wallMs?: number;
}

export interface OursResult {
  adapter: Engine['adapter'];
  features: string[];
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
  parameters: number;
  cases: OurCase[];
  memory: { peakLiveBytes: number; peakAllocatedBytes: number; liveBytesBeforeStep: number; createdBuffers: number } | null;
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
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, min: s[0], max: s[s.length - 1], runs: s.length };
}

export interface ConvShape {
  C: number;
  Co: number;
  k: number;
  s: number;
  p: number;
  H: number;
  W: number;
  /** Occurrences in the model. */
  count: number;
  /** The input of the first conv (the image) needs no gradient: no dgrad in training. */
  needsDgrad: boolean;
  bias: boolean;
}

/** Every distinct conv of the model at input N x inC x H x W, in forward order, with how often it occurs. */
export function convShapes(model: ResnetUnet, h: number, w: number): ConvShape[] {
  const list: ConvShape[] = [];
  const add = (c: Conv2d, H: number, W: number, needsDgrad = true) => {
    const prev = list.find((s) => s.C === c.inChannels && s.Co === c.outChannels && s.k === c.kernel && s.s === c.stride && s.p === c.padding && s.H === H && s.W === W);
    if (prev) prev.count++;
    else list.push({ C: c.inChannels, Co: c.outChannels, k: c.kernel, s: c.stride, p: c.padding, H, W, count: 1, needsDgrad, bias: c.bias !== null });
    return [conv2dOutputSize(H, c.kernel, c.stride, c.padding), conv2dOutputSize(W, c.kernel, c.stride, c.padding)];
  };
  let [H, W] = add(model.conv1, h, w, false);
  const skips: [number, number][] = [[H, W]];
  H = conv2dOutputSize(H, 3, 2, 1);
  W = conv2dOutputSize(W, 3, 2, 1);
  for (const layer of model.layers) {
    for (const block of layer) {
      const [h1, w1] = add(block.conv1, H, W);
      add(block.conv2, h1, w1);
      if (block.downsample) add(block.downsample.conv, H, W);
      [H, W] = [h1, w1];
    }
    skips.push([H, W]);
  }
  for (const block of model.decoder) {
    [H, W] = [H * 2, W * 2];
    add(block.conv1, H, W);
    add(block.conv2, H, W);
  }
  add(model.head, H, W);
  return list;
}

export function convName(kind: 'fwd' | 'dgrad' | 'wgrad', s: ConvShape): string {
  return `conv.${kind}.${s.C}x${s.Co}.k${s.k}s${s.s}.${s.H}x${s.W}`;
}

const log = (line: string) => console.log(line);

export async function runOurs(cfg: OursConfig): Promise<OursResult> {
  const engine = await Engine.create({ runtime: cfg.runtime });
  try {
    return await runOn(engine, cfg);
  } finally {
    engine.destroy();
  }
}

async function runOn(engine: Engine, cfg: OursConfig): Promise<OursResult> {
  const { h, w, batch: n } = cfg;
  const model = new ResnetUnet(RESNET34_UNET);
  const cases: OurCase[] = [];
  const rand = (count: number, scale = 1) => {
    const a = new Float32Array(count);
    let s = 12345;
    for (let i = 0; i < count; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      a[i] = ((s / 4294967296) - 0.5) * scale;
    }
    return a;
  };
  const randTensor = (shape: number[], scale = 1, requiresGrad = false) =>
    engine.untracked(() => engine.tensor(rand(shape.reduce((a, b) => a * b, 1), scale), shape, { requiresGrad }));
  log(`ours: adapter ${engine.adapter.vendor} ${engine.adapter.architecture} (${engine.adapter.runtime}), features ${[...engine.features].join(',')}`);

  /**
   * Times `record` (which records dispatches and returns nothing that outlives it): one warm-up (compiles), one
   * calibration run with one dispatch, then kernelReps runs of R dispatches each; `prepare` (untimed, synced
   * before the clock starts) may set up per-run state such as forward passes whose tape the record consumes.
   */
  const timer = GpuTimer.supported(engine) ? new GpuTimer(engine, 4) : null;

  async function kernelCase(
    name: string,
    record: (i: number) => void,
    extra: Partial<OurCase> = {},
    prepare?: (r: number) => void,
  ): Promise<void> {
    // GPU time of the R dispatches from timestamps where the adapter has them (no submit or wait in it), else wall.
    const once = async (r: number): Promise<{ wall: number; gpu: number }> => {
      prepare?.(r);
      await engine.sync();
      const t0 = performance.now();
      const recordAll = () =>
        engine.scope(() => {
          for (let i = 0; i < r; i++) record(i);
        });
      const span = timer ? timer.time(recordAll) : (recordAll(), -1);
      await engine.sync();
      const wall = performance.now() - t0;
      return { wall, gpu: timer ? (await timer.read())[span] : NaN };
    };
    await once(1); // compile + first touch of the buffers
    const t1 = (await once(1)).wall;
    const r = Math.max(1, Math.min(64, Math.round(cfg.kernelTargetMs / Math.max(t1, 0.01))));
    const times: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < cfg.kernelReps; i++) {
      const t = await once(r);
      walls.push(t.wall / r);
      times.push((timer ? t.gpu : t.wall) / r);
    }
    const c: OurCase = { name, kind: 'kernel', ms: stats(times), perSync: r, ...extra, ...(timer ? { wallMs: stats(walls).median } : {}) };
    cases.push(c);
    const rate = c.gflop ? `${(c.gflop / (c.ms.median / 1000)).toFixed(2)} GFLOP/s` : c.gbytes ? `${(c.gbytes / (c.ms.median / 1000)).toFixed(2)} GB/s` : '';
    log(`ours: ${name} ${c.ms.median.toFixed(2)} ms ${rate} (x${r} per sync)`);
  }

  /** Backward closures of `count` fresh forward passes, taken off the tape (each may be run once). */
  function tapeNodes(count: number, forward: () => Tensor): { nodes: TapeNode[]; outputs: Tensor[] } {
    const nodes: TapeNode[] = [];
    const outputs: Tensor[] = [];
    for (let i = 0; i < count; i++) {
      const start = engine.tape.length;
      outputs.push(forward());
      nodes.push(...engine.tape.splice(start));
    }
    return { nodes, outputs };
  }

  async function backwardCase(name: string, forward: () => Tensor, dy: Tensor, extra: Partial<OurCase>): Promise<void> {
    let pending: { nodes: TapeNode[]; outputs: Tensor[] } | null = null;
    const release = () => {
      for (const o of pending?.outputs ?? []) o.dispose();
      pending = null;
    };
    await kernelCase(
      name,
      (i) => {
        const node = pending!.nodes[i];
        engine.noGrad(() => node.backward(dy));
      },
      extra,
      (r) => {
        release();
        pending = tapeNodes(r, forward);
      },
    );
    release();
  }

  // ------------------------------------------------------------------ kernel cases
  if (cfg.kernels) {
    for (const s of convShapes(model, h, w)) {
      const Ho = conv2dOutputSize(s.H, s.k, s.s, s.p);
      const Wo = conv2dOutputSize(s.W, s.k, s.s, s.p);
      const gflop = (2 * n * s.Co * Ho * Wo * s.C * s.k * s.k) / 1e9;
      const x = randTensor([n, s.C, s.H, s.W]);
      const wt = randTensor([s.Co, s.C, s.k, s.k], 0.1);
      const bias = s.bias ? randTensor([s.Co], 0.1) : null;
      const dy = randTensor([n, s.Co, Ho, Wo]);
      const opts = { stride: s.s, padding: s.p };
      const extra = { gflop, perStep: s.count };
      await kernelCase(convName('fwd', s), () => void conv2dKernels.forward(x, wt, bias, opts), extra);
      if (s.needsDgrad) await kernelCase(convName('dgrad', s), () => void conv2dKernels.dgrad(dy, x, wt, opts), extra);
      await kernelCase(convName('wgrad', s), () => void conv2dKernels.wgrad(dy, x, wt, s.bias, opts), extra);
      for (const t of [x, wt, bias, dy]) t?.dispose();
    }

    // BatchNorm (+ReLU, as most of the model's) after every distinct conv output but the head's.
    const bnShapes = new Map<string, { shape: number[]; count: number }>();
    for (const s of convShapes(model, h, w).slice(0, -1)) {
      const shape = [n, s.Co, conv2dOutputSize(s.H, s.k, s.s, s.p), conv2dOutputSize(s.W, s.k, s.s, s.p)];
      const key = shape.join('x');
      const prev = bnShapes.get(key);
      if (prev) prev.count += s.count;
      else bnShapes.set(key, { shape, count: s.count });
    }
    for (const { shape, count } of bnShapes.values()) {
      const size = shape.reduce((a, b) => a * b, 1);
      const C = shape[1];
      const x = randTensor(shape, 1, true);
      const dy = randTensor(shape);
      const gamma = engine.untracked(() => full(engine, [C], 1));
      const beta = engine.untracked(() => engine.zeros([C]));
      const rm = engine.untracked(() => engine.zeros([C]));
      const rv = engine.untracked(() => full(engine, [C], 1));
      const bn = () => batchNorm2d(x, { weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true, relu: true });
      const tag = shape.slice(1).join('x');
      // forward: reads x twice (statistics, normalisation), writes y
      await kernelCase(`batchnorm.fwd.${tag}`, () => void engine.noGrad(bn), { gbytes: (3 * size * 4) / 1e9, perStep: count });
      // backward: reads x, dy, y twice (partial sums, then dx), writes dx
      await backwardCase(`batchnorm.bwd.${tag}`, bn, dy, { gbytes: (7 * size * 4) / 1e9, perStep: count });
      for (const t of [x, dy, gamma, beta, rm, rv]) t.dispose();
    }

    // Max pooling 3x3/2 after the stem.
    {
      const shape = [n, 64, h / 2, w / 2];
      const size = shape.reduce((a, b) => a * b, 1);
      const x = randTensor(shape, 1, true);
      const dy = randTensor([n, 64, h / 4, w / 4]);
      const tag = shape.slice(1).join('x');
      await kernelCase(`maxpool.fwd.${tag}`, () => void engine.noGrad(() => maxPool2d(x)), { gbytes: ((size + (2 * size) / 4) * 4) / 1e9 });
      await backwardCase(`maxpool.bwd.${tag}`, () => maxPool2d(x), dy, { gbytes: ((size + (2 * size) / 4) * 4) / 1e9 });
      x.dispose();
      dy.dispose();
    }

    // Upsample x2 + concat with the skip, decoder block 3 (64 + 64 channels out at H/2 x W/2).
    {
      const x = randTensor([n, 64, h / 4, w / 4], 1, true);
      const skip = randTensor([n, 64, h / 2, w / 2], 1, true);
      const outSize = n * 128 * (h / 2) * (w / 2);
      const dy = randTensor([n, 128, h / 2, w / 2]);
      const tag = `64+64.${h / 4}x${w / 4}`;
      const bytes = ((x.size + skip.size + outSize) * 4) / 1e9;
      await kernelCase(`upsample_concat.fwd.${tag}`, () => void engine.noGrad(() => upsampleConcat(x, skip)), { gbytes: bytes });
      await backwardCase(`upsample_concat.bwd.${tag}`, () => upsampleConcat(x, skip), dy, { gbytes: bytes });
      for (const t of [x, skip, dy]) t.dispose();
    }

    // The loss and the inference statistics on the head's output.
    {
      const L = RESNET34_UNET.landmarks;
      const logits = randTensor([n, L, h, w], 4, true);
      const temps = engine.untracked(() => full(engine, [L], 1));
      const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L]));
      const pix = engine.untracked(() => full(engine, [n, 2], 0.1));
      const tag = `${L}x${h}x${w}`;
      // forward with the gradient (the training path: one fused pass per map computes loss and dlogits)
      await kernelCase(`softmax_nll.fwd_grad.${tag}`, () => void softmaxNll(logits, temps, targets), { gbytes: (2 * logits.size * 4) / 1e9, note: 'fused loss + gradient' });
      await kernelCase(`ere.${tag}`, () => void expectedRadialError(logits, temps, pix), { gbytes: (logits.size * 4) / 1e9, perStep: 0, note: 'bytes: one read of the logits; inference only' });
      for (const t of [logits, temps, targets, pix]) t.dispose();
    }
  }

  // ------------------------------------------------------------------ model cases
  const state = model.allocate(engine, 0);
  const L = RESNET34_UNET.landmarks;
  const adam = new Adam(state.params, { lr: 1e-3 });
  const images = engine.untracked(() => engine.tensor(rand(n * h * w, 255).map((v) => v + 127.5), [n, 1, h, w], { label: 'images' }));
  const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L], { label: 'targets' }));
  const temperatures = engine.untracked(() => full(engine, [L], 1, { label: 'temperatures' }));
  const trainStep = () => {
    engine.scope(() => {
      const loss = softmaxNll(model.forward(state, images), temperatures, targets);
      backward(loss);
    });
    adam.step();
    adam.zeroGrad();
  };

  if (cfg.kernels) {
    // Adam over every parameter (one dispatch over the flat buffer); gradients from one real step.
    trainStep();
    await engine.sync();
    const P = state.params.count;
    await kernelCase(`adam.${P}`, () => adam.step(), { gbytes: (7 * P * 4) / 1e9, note: 'reads param, grad, m, v; writes param, m, v' });
  }

  let memory: OursResult['memory'] = null;
  let soak: OursResult['soak'] = null;
  if (cfg.model) {
    const tag = `${h}x${w}.b${n}`;
    const time = async (name: string, fn: () => void) => {
      const out: number[] = [];
      for (let i = 0; i < cfg.reps + 1; i++) {
        await engine.sync();
        const t0 = performance.now();
        fn();
        await engine.sync();
        const t = performance.now() - t0;
        if (i > 0) out.push(t);
        log(`ours: ${name} ${i === 0 ? 'warm-up' : `run ${i}`} ${t.toFixed(0)} ms`);
      }
      cases.push({ name, kind: 'model', ms: stats(out) });
    };
    await time(`unet.forward.${tag}`, () => engine.scope(() => void engine.noGrad(() => model.forward(state, images))));
    trainStep(); // Adam state exists from here on: the peak below is a steady-state step's
    await engine.sync();
    const before = engine.memory();
    engine.pool.resetPeak();
    await time(`unet.train_step.${tag}`, trainStep);
    const m = engine.memory();
    memory = { peakLiveBytes: m.peakLiveBytes, peakAllocatedBytes: m.peakAllocatedBytes, liveBytesBeforeStep: before.liveBytes, createdBuffers: m.createdBuffers };
  }

  if (cfg.soak > 0) {
    trainStep();
    await engine.sync();
    const start = engine.memory();
    const t0 = performance.now();
    let min = start.liveBytes;
    let max = start.liveBytes;
    let samples = 1;
    for (let i = 0; i < cfg.soak; i++) {
      trainStep();
      if (i % 10 === 9 || i === cfg.soak - 1) {
        await engine.sync();
        const live = engine.memory().liveBytes;
        min = Math.min(min, live);
        max = Math.max(max, live);
        samples++;
      }
    }
    const end = engine.memory();
    soak = {
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
  }

  timer?.dispose();
  return {
    adapter: engine.adapter,
    features: [...engine.features],
    limits: { maxStorageBufferBindingSize: engine.limits.maxStorageBufferBindingSize, maxBufferSize: engine.limits.maxBufferSize },
    parameters: state.params.count,
    cases,
    memory,
    soak,
    timing:
      (timer
        ? 'kernel cases: GPU timestamps (timestamp-query) around R identical dispatches (R chosen to fill ~kernelTargetMs), per dispatch; '
        : 'kernel cases: wall clock around engine.sync() over R identical dispatches per sync (R chosen to fill ~kernelTargetMs), per dispatch; ') +
      'model cases: wall clock around engine.sync(), one forward or training step per sync (as TF.js is timed). Median, min, max over the timed runs after warm-up.',
  };
}
