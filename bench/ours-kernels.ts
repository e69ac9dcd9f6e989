// The kernel cases of our side of the benchmark: every distinct conv shape of the model (--preset) at the benchmark
// size (forward, dgrad, wgrad), batchnorm, maxpool, upsample+concat, softmax+NLL and ERE, each on its own inputs.
// Timed by bench/ours-timing.ts; Adam, which needs the allocated model, is timed in bench/ours.ts.
import { conv2dKernels } from '../src/ops/conv2d/conv2d.ts';
import { conv2dOutputSize, planName, type ConvDevice, type Geometry } from '../src/ops/conv2d/plan.ts';
import { conv2dTuning, type Conv2dTuning } from '../src/ops/conv2d/tuning.ts';
import { batchNorm2d } from '../src/ops/batchnorm.ts';
import { maxPool2d } from '../src/ops/maxpool.ts';
import { upsampleConcat } from '../src/ops/upsample.ts';
import { softmaxNll } from '../src/ops/softmax-nll.ts';
import { expectedRadialError } from '../src/ops/ere.ts';
import { full } from '../src/ops/fill.ts';
import type { ResnetUnet } from '../src/nn/unet.ts';
import type { Conv2d } from '../src/nn/module.ts';
import { backwardCase, kernelCase, randTensor, type BenchRun } from './ours-timing.ts';

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

/** GFLOP of one conv GEMM: 2 x MACs, the same count for the forward, dgrad and wgrad. */
export function gemmGflop(g: Pick<Geometry, 'N' | 'C' | 'Co' | 'Ho' | 'Wo' | 'KH' | 'KW'>): number {
  return (2 * g.N * g.Co * g.Ho * g.Wo * g.C * g.KH * g.KW) / 1e9;
}

/** GFLOP of one GEMM of conv s at batch n. */
export function convGflop(s: ConvShape, n: number): number {
  return gemmGflop(convGeometry(s, n));
}

/** The conv GFLOP of one forward pass and of one training step (forward, dgrad where needed, wgrad) of the model. */
export function modelConvGflop(model: ResnetUnet, h: number, w: number, n: number): { forward: number; trainStep: number } {
  let forward = 0;
  let trainStep = 0;
  for (const s of convShapes(model, h, w)) {
    const g = convGflop(s, n) * s.count;
    forward += g;
    trainStep += g * (s.needsDgrad ? 3 : 2);
  }
  return { forward, trainStep };
}

export function convName(kind: 'fwd' | 'dgrad' | 'wgrad', s: ConvShape): string {
  return `conv.${kind}.${s.C}x${s.Co}.k${s.k}s${s.s}.${s.H}x${s.W}`;
}

/** The geometry of one conv of the model at batch n (as src/ops/conv2d/plan.ts's geometry() gives it). */
export function convGeometry(s: ConvShape, n: number): Geometry {
  const Ho = conv2dOutputSize(s.H, s.k, s.s, s.p);
  const Wo = conv2dOutputSize(s.W, s.k, s.s, s.p);
  return { N: n, C: s.C, H: s.H, W: s.W, Co: s.Co, KH: s.k, KW: s.k, SH: s.s, SW: s.s, PH: s.p, PW: s.p, Ho, Wo };
}

/**
 * The kernel plan.ts chooses for one GEMM of a conv on this device and tuning (whatever set the tuning: the
 * defaults, a hand-set conv2dTuning, the autotuner), as describePlan names it ("forward_flat TM8 TN8 subgroups",
 * "tiled_forward 64x64x16 r4x4"); wgrad adds how far it splits K.
 */
export function convVariant(e: ConvDevice, tuning: Conv2dTuning, g: Geometry, kind: 'fwd' | 'dgrad' | 'wgrad'): string {
  return planName(e, kind === 'fwd' ? 'forward' : kind, g, tuning);
}

/** Forward, dgrad (but for the stem, whose input needs no gradient) and wgrad of every distinct conv. */
async function convCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  const { engine, cfg } = run;
  const n = cfg.batch;
  for (const s of convShapes(model, cfg.h, cfg.w)) {
    const g = convGeometry(s, n);
    const { Ho, Wo } = g;
    const gflop = gemmGflop(g);
    const x = randTensor(engine, [n, s.C, s.H, s.W]);
    const wt = randTensor(engine, [s.Co, s.C, s.k, s.k], 0.1);
    const bias = s.bias ? randTensor(engine, [s.Co], 0.1) : null;
    const dy = randTensor(engine, [n, s.Co, Ho, Wo]);
    const opts = { stride: s.s, padding: s.p };
    const timed = async (kind: 'fwd' | 'dgrad' | 'wgrad', record: () => void) => {
      await kernelCase(run, convName(kind, s), record, { gflop, perStep: s.count });
      // Asked after the case ran: what plan.ts chose for the calls just timed.
      run.cases.at(-1)!.variant = convVariant(engine, conv2dTuning(engine), g, kind);
    };
    await timed('fwd', () => void conv2dKernels.forward(x, wt, bias, opts));
    if (s.needsDgrad) await timed('dgrad', () => void conv2dKernels.dgrad(dy, x, wt, opts));
    await timed('wgrad', () => void conv2dKernels.wgrad(dy, x, wt, s.bias, opts));
    for (const t of [x, wt, bias, dy]) t?.dispose();
  }
}

/** The distinct shapes batchnorm sees (every conv output but the head's), with how often each occurs. */
function batchnormShapes(model: ResnetUnet, n: number, h: number, w: number): { shape: number[]; count: number }[] {
  const byShape = new Map<string, { shape: number[]; count: number }>();
  for (const s of convShapes(model, h, w).slice(0, -1)) {
    const shape = [n, s.Co, conv2dOutputSize(s.H, s.k, s.s, s.p), conv2dOutputSize(s.W, s.k, s.s, s.p)];
    const key = shape.join('x');
    const prev = byShape.get(key);
    if (prev) prev.count += s.count;
    else byShape.set(key, { shape, count: s.count });
  }
  return [...byShape.values()];
}

/** BatchNorm (+ReLU, as most of the model's) in training mode, forward and backward, per distinct shape. */
async function batchnormCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  const { engine, cfg } = run;
  for (const { shape, count } of batchnormShapes(model, cfg.batch, cfg.h, cfg.w)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const C = shape[1];
    const x = randTensor(engine, shape, 1, true);
    const dy = randTensor(engine, shape);
    const gamma = engine.untracked(() => full(engine, [C], 1));
    const beta = engine.untracked(() => engine.zeros([C]));
    const rm = engine.untracked(() => engine.zeros([C]));
    const rv = engine.untracked(() => full(engine, [C], 1));
    const bn = () => batchNorm2d(x, { weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true, relu: true });
    const tag = shape.slice(1).join('x');
    // forward: reads x twice (statistics, normalisation), writes y
    await kernelCase(run, `batchnorm.fwd.${tag}`, () => void engine.noGrad(bn), { gbytes: (3 * size * 4) / 1e9, perStep: count });
    // backward: reads x, dy, y twice (partial sums, then dx), writes dx
    await backwardCase(run, `batchnorm.bwd.${tag}`, bn, dy, { gbytes: (7 * size * 4) / 1e9, perStep: count });
    for (const t of [x, dy, gamma, beta, rm, rv]) t.dispose();
  }
}

/** Max pooling 3x3/2 after the stem, forward and backward. */
async function maxpoolCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  const { engine, cfg } = run;
  const { batch: n, h, w } = cfg;
  const c = model.config.encoderChannels[0];
  const shape = [n, c, h / 2, w / 2];
  const size = shape.reduce((a, b) => a * b, 1);
  const x = randTensor(engine, shape, 1, true);
  const dy = randTensor(engine, [n, c, h / 4, w / 4]);
  const tag = shape.slice(1).join('x');
  // forward: reads the input, writes the output (a quarter of the input) and a byte per output (where in its window
  // the max was); the backward is rated on the same bytes
  const gbytes = ((size + size / 4) * 4 + size / 4) / 1e9;
  await kernelCase(run, `maxpool.fwd.${tag}`, () => void engine.noGrad(() => maxPool2d(x)), { gbytes });
  await backwardCase(run, `maxpool.bwd.${tag}`, () => maxPool2d(x), dy, { gbytes });
  x.dispose();
  dy.dispose();
}

/** Upsample x2 + concat with the skip, decoder block 3 (64 + 64 channels out at H/2 x W/2 in the paper's model). */
async function upsampleCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  const { engine, cfg } = run;
  const { batch: n, h, w } = cfg;
  const cx = model.config.decoderChannels[2];
  const cs = model.config.encoderChannels[0];
  const x = randTensor(engine, [n, cx, h / 4, w / 4], 1, true);
  const skip = randTensor(engine, [n, cs, h / 2, w / 2], 1, true);
  const outSize = n * (cx + cs) * (h / 2) * (w / 2);
  const dy = randTensor(engine, [n, cx + cs, h / 2, w / 2]);
  const tag = `${cx}+${cs}.${h / 4}x${w / 4}`;
  const bytes = ((x.size + skip.size + outSize) * 4) / 1e9;
  await kernelCase(run, `upsample_concat.fwd.${tag}`, () => void engine.noGrad(() => upsampleConcat(x, skip)), { gbytes: bytes });
  await backwardCase(run, `upsample_concat.bwd.${tag}`, () => upsampleConcat(x, skip), dy, { gbytes: bytes });
  for (const t of [x, skip, dy]) t.dispose();
}

/** The loss and the inference statistics on the head's output. */
async function lossCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  const { engine, cfg } = run;
  const { batch: n, h, w } = cfg;
  const L = model.config.landmarks;
  const logits = randTensor(engine, [n, L, h, w], 4, true);
  const temps = engine.untracked(() => full(engine, [L], 1));
  const targets = engine.untracked(() => engine.tensor(Int32Array.from({ length: n * L }, (_, i) => (i * 7919) % (h * w)), [n, L]));
  const pix = engine.untracked(() => full(engine, [n, 2], 0.1));
  const tag = `${L}x${h}x${w}`;
  // forward with the gradient (the training path: one fused pass per map computes loss and dlogits)
  await kernelCase(run, `softmax_nll.fwd_grad.${tag}`, () => void softmaxNll(logits, temps, targets), { gbytes: (2 * logits.size * 4) / 1e9, note: 'fused loss + gradient' });
  await kernelCase(run, `ere.${tag}`, () => void expectedRadialError(logits, temps, pix), { gbytes: (logits.size * 4) / 1e9, perStep: 0, note: 'bytes: one read of the logits; inference only' });
  for (const t of [logits, temps, targets, pix]) t.dispose();
}

/** Every kernel case but Adam's, in the order of the table. */
export async function kernelCases(run: BenchRun, model: ResnetUnet): Promise<void> {
  await convCases(run, model);
  await batchnormCases(run, model);
  await maxpoolCases(run, model);
  await upsampleCases(run, model);
  await lossCases(run, model);
}
