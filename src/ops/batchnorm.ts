// batchNorm2d: batch normalisation over NCHW tensors with PyTorch's semantics (nn.BatchNorm2d), optionally fused
// with a following ReLU, recorded for autograd with respect to x, weight and bias.
//
// Training: per-channel batch mean and biased variance over N*H*W normalise x; the running statistics are updated
// in place on the GPU: running = (1 - momentum) * running + momentum * batch (the unbiased variance, n/(n-1), for
// running_var). Eval: the running statistics normalise x and nothing is updated.
// Kernels: batchnorm.wgsl.in (batchnorm_f16x: backward and the recomputed output reading x as the f16 pairs the f16
// memory policy saved).
import { checkInputs } from './check.ts';
import { shapeString, type Tensor } from '../engine/tensor.ts';
import type { Engine } from '../engine/engine.ts';
import type { TapeNode } from '../engine/tape.ts';
import { isCpuAdapter } from '../engine/device.ts';
import type { Shader, UniformValues } from '../engine/kernel.ts';
import { SHADERS } from '../generated/shaders.ts';
import { recomputableFromStored, save, type StoredValues } from './saved.ts';

export interface BatchNorm2dOptions {
  /** gamma, [C] (a parameter). */
  weight: Tensor;
  /** beta, [C] (a parameter). */
  bias: Tensor;
  /** [C], updated in place in training mode. */
  runningMean: Tensor;
  /** [C], updated in place in training mode (with the unbiased batch variance). */
  runningVar: Tensor;
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training: boolean;
  /** Default 0.1, as PyTorch. */
  momentum?: number;
  /** Default 1e-5, as PyTorch. */
  eps?: number;
  /** Apply max(y, 0) to the output in the same kernel (nn.BatchNorm2d followed by ReLU). */
  relu?: boolean;
  /**
   * This is x's last use: x is disposed, and y is written over x's buffer where nothing else holds it (nothing
   * kept x itself for a backward: the f16 policies save a packed copy, inference saves nothing), so the output
   * needs no buffer of its own at the forward's peak.
   */
  consume?: boolean;
}

/** Elements each workgroup of a per-channel reduction covers (256 invocations, ~16 values each). */
const CHUNK_TARGET = 4096;
/** At most this many partial results per channel, combined sequentially by one invocation per channel. */
const MAX_PARTS = 256;

/** Threads for a chunk reduction: a power of two from 32 to 256, about one per 4 values of the chunk (4 on a CPU). */
function reductionThreads(e: Engine, chunk: number): number {
  // CPU adapters: 4 invocations, one SIMD group, so the tree's barriers switch no coroutines (16x faster on
  // SwiftShader: docs/decisions.md).
  if (isCpuAdapter(e.adapter)) return 4;
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(Math.ceil(chunk / 4)))));
}

/**
 * Chunking of a per-channel reduction over N image planes of HW values: each plane splits into `blocks` chunks of
 * at most `chunk` positions (contiguous in memory), so a channel has nparts = N * blocks chunks. No chunk is empty.
 */
function chunking(N: number, HW: number): { chunk: number; blocks: number; nparts: number } {
  const want = Math.max(1, Math.min(Math.ceil(HW / CHUNK_TARGET), Math.floor(MAX_PARTS / N)));
  const chunk = Math.ceil(HW / want);
  const blocks = Math.ceil(HW / chunk);
  return { chunk, blocks, nparts: N * blocks };
}

/** Elementwise kernels: WGE invocations x EPI elements along a plane, one workgroup row per (n, c) plane. */
const WGE = 64;
const EPI = 4;
function planeGrid(e: Engine, planes: number, HW: number): [number, number, number] {
  const max = e.limits.maxComputeWorkgroupsPerDimension;
  const bx = Math.ceil(HW / (WGE * EPI));
  const bz = Math.ceil(planes / max);
  if (bx > max || bz > max) throw new Error(`batchNorm2d: ${planes} planes of ${HW} values exceed this adapter's workgroup grid`);
  return [bx, Math.ceil(planes / bz), bz]; // rows past `planes` return at once
}

/** Everything one batchNorm2d call dispatches with: the tensors, the chunking and the uniforms. */
interface BnCall {
  e: Engine;
  x: Tensor;
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  training: boolean;
  C: number;
  nparts: number;
  chunk: number;
  params: UniformValues;
  /** Grids of the elementwise kernels (one row per plane) and of the per-channel kernels. */
  planes: [number, number, number];
  perChannel: [number, number, number];
  /** Override constants of the kernels that read the ReLU mask. */
  relu: { RELU: number };
}

function checkBatchNorm(op: string, x: Tensor, options: BatchNorm2dOptions): BnCall {
  if (options === null || typeof options !== 'object') throw new Error(`${op}: options { weight, bias, runningMean, runningVar, training } are required`);
  const { weight, bias, runningMean, runningVar, training, momentum = 0.1, eps = 1e-5, relu = false } = options;
  const e: Engine = checkInputs(op, { x, weight, bias, runningMean, runningVar });
  if (x.shape.length !== 4) throw new Error(`${op}: x must be 4-D [N, C, H, W], got "${x.label}" ${shapeString(x.shape)}`);
  const [N, C, H, W] = x.shape;
  for (const [name, t] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (t.shape.length !== 1 || t.shape[0] !== C) {
      throw new Error(`${op}: ${name} must be [${C}] (x ${shapeString(x.shape)} has ${C} channels), got "${t.label}" ${shapeString(t.shape)}`);
    }
  }
  if (typeof training !== 'boolean') throw new Error(`${op}: options.training must be true or false, got ${String(training)}`);
  if (!(Number.isFinite(momentum) && momentum >= 0 && momentum <= 1)) throw new Error(`${op}: momentum must be in [0, 1], got ${momentum}`);
  if (!(Number.isFinite(eps) && eps >= 0)) throw new Error(`${op}: eps must be a finite number >= 0, got ${eps}`);
  const HW = H * W;
  const count = N * HW;
  if (training && count <= 1) {
    throw new Error(`${op}: expected more than 1 value per channel when training, got input ${shapeString(x.shape)}`);
  }
  if (runningMean.requiresGrad || runningVar.requiresGrad) {
    throw new Error(`${op}: runningMean and runningVar are buffers updated in place and must not require gradients`);
  }
  const maxGroups = e.limits.maxComputeWorkgroupsPerDimension;
  if (C > maxGroups) throw new Error(`${op}: ${C} channels is more than this adapter's ${maxGroups} workgroups per dimension`);
  const { chunk, blocks, nparts } = chunking(N, HW);
  const params: UniformValues = { count, hw: HW, channels: C, chunk, blocks, nparts, total: x.size, planes: N * C, momentum, eps };
  const grids = { planes: planeGrid(e, N * C, HW), perChannel: [Math.ceil(C / 64), 1, 1] as [number, number, number] };
  return { e, x, weight, bias, runningMean, runningVar, training, C, nparts, chunk, params, ...grids, relu: { RELU: relu ? 1 : 0 } };
}

/** Saved statistics [mean (C), invstd (C)]: from the batch (updating the running ones) or the running ones. */
function statistics(b: BnCall): Tensor {
  const { e, x, C, params, perChannel } = b;
  const stats = e.empty([2 * C], { label: 'batchNorm2d.stats' });
  if (b.training) {
    const partials = e.empty([C * b.nparts * 3], { label: 'batchNorm2d.partials' });
    const kp = e.kernel({ shader: SHADERS.batchnorm, entry: 'stats_partial', bindings: ['x', 'partials', 'params'], constants: { WG: reductionThreads(e, b.chunk) } });
    e.run(kp, { x, partials, params }, [b.nparts, C, 1]);
    const kc = e.kernel({ shader: SHADERS.batchnorm, entry: 'stats_combine', bindings: ['partials', 'stats', 'running_mean', 'running_var', 'params'] });
    e.run(kc, { partials, stats, running_mean: b.runningMean, running_var: b.runningVar, params }, perChannel);
    partials.dispose();
  } else {
    const ke = e.kernel({ shader: SHADERS.batchnorm, entry: 'eval_stats', bindings: ['stats', 'running_mean', 'running_var', 'params'] });
    e.run(ke, { stats, running_mean: b.runningMean, running_var: b.runningVar, params }, perChannel);
  }
  return stats;
}

/** The variant of the kernels that reads x as saved: the f16 pairs as they are, with no unpacked copy (250 MiB at 800x640). */
function shaderReading(saved: StoredValues): Shader {
  return saved.packed ? SHADERS.batchnorm_f16x : SHADERS.batchnorm;
}

/**
 * The gradients [dx, dweight, dbias] from the saved input x (f32, or the f16 pairs it was saved as). With ReLU
 * the kernels mask dy by the output computed again from x, the statistics, weight and bias by the forward's own
 * expression: exactly PyTorch's relu backward (dy where out > 0) with no output kept for it.
 */
function batchNormBackward(b: BnCall, saved: StoredValues, stats: Tensor, dy: Tensor, overwriteDy: boolean): (Tensor | null)[] {
  const { e, weight, bias, C, params } = b;
  const x = saved.tensor;
  const shader = shaderReading(saved);
  const gparts = e.empty([C * b.nparts * 2], { label: 'batchNorm2d.gradPartials' });
  const kgp = e.kernel({
    shader,
    entry: 'grad_partial',
    bindings: ['x', 'dy', 'saved', 'weight', 'bias', 'partials', 'params'],
    constants: { ...b.relu, WG: reductionThreads(e, b.chunk) },
  });
  e.run(kgp, { x, dy, saved: stats, weight, bias, partials: gparts, params }, [b.nparts, C, 1]);
  const dgamma = e.empty([C], { label: 'batchNorm2d.dweight' });
  const dbeta = e.empty([C], { label: 'batchNorm2d.dbias' });
  const kgc = e.kernel({ shader: SHADERS.batchnorm, entry: 'grad_combine', bindings: ['gsum', 'dgamma', 'dbeta', 'params'] });
  e.run(kgc, { gsum: gparts, dgamma, dbeta, params }, b.perChannel);
  gparts.dispose();
  let dx: Tensor | null = null;
  if (b.x.requiresGrad) {
    // Where nothing else reads dy, dx is written over it (dy's last read is this pass, element by element).
    dx = overwriteDy ? dy : e.empty(b.x.shape, { label: 'batchNorm2d.dx' });
    const entry = overwriteDy ? 'backward_dx_in_place' : 'backward_dx';
    const names = ['x', 'saved', 'weight', 'bias', 'dgamma_in', 'dbeta_in', 'dx', 'params'];
    const kdx = e.kernel({ shader, entry, bindings: overwriteDy ? names : ['dy', ...names], constants: { ...b.relu, TRAIN: b.training ? 1 : 0, WGE, EPI } });
    const bindings = { x, saved: stats, weight, bias, dgamma_in: dgamma, dbeta_in: dbeta, dx, params };
    e.run(kdx, overwriteDy ? bindings : { ...bindings, dy }, b.planes);
  }
  const gw = weight.requiresGrad ? dgamma : (dgamma.dispose(), null);
  const gb = bias.requiresGrad ? dbeta : (dbeta.dispose(), null);
  return [dx, gw, gb];
}

/**
 * y = weight * (x - mean) * invstd + bias (then max(y, 0) with ReLU) from the statistics: the forward, and its
 * recomputation from x as saved (the f16 pairs read directly).
 */
function normalize(b: BnCall, saved: StoredValues, stats: Tensor): Tensor {
  const { e, weight, bias } = b;
  const x = saved.tensor;
  const y = e.empty(b.x.shape, { label: b.relu.RELU ? 'batchNorm2d+relu' : 'batchNorm2d' });
  const kn = e.kernel({ shader: shaderReading(saved), entry: 'normalize', bindings: ['x', 'saved', 'weight', 'bias', 'y', 'params'], constants: { ...b.relu, WGE, EPI } });
  e.run(kn, { x, saved: stats, weight, bias, y, params: b.params }, b.planes);
  return y;
}

/** normalize() over x's own buffer, which y takes over (x is disposed). */
function normalizeInPlace(b: BnCall, x: Tensor, stats: Tensor): Tensor {
  const { e, weight, bias } = b;
  const y = e.adopt(x, x.shape, b.relu.RELU ? 'batchNorm2d+relu' : 'batchNorm2d');
  const kn = e.kernel({ shader: SHADERS.batchnorm, entry: 'normalize_in_place', bindings: ['saved', 'weight', 'bias', 'y', 'params'], constants: { ...b.relu, WGE, EPI } });
  e.run(kn, { saved: stats, weight, bias, y, params: b.params }, b.planes);
  return y;
}

/** The forward's output: in x's buffer where x is consumed and can give it (options.consume), else a new one. */
function forwardOutput(b: BnCall, x: Tensor, stats: Tensor, consume: boolean): Tensor {
  if (consume && x.canGiveBuffer) return normalizeInPlace(b, x, stats);
  const y = normalize(b, { tensor: x, packed: false }, stats);
  if (consume) x.dispose();
  return y;
}

/**
 * Batch normalisation of x [N, C, H, W] per channel: y = weight * (x - mean) / sqrt(var + eps) + bias, then
 * max(y, 0) when `relu` is set. Differentiable with respect to x, weight and bias. Backward reads x (saved:
 * src/ops/saved.ts) and the statistics; y is never kept for it.
 */
export function batchNorm2d(x: Tensor, options: BatchNorm2dOptions): Tensor {
  const op = 'batchNorm2d';
  const b = checkBatchNorm(op, x, options);
  const { e, weight, bias } = b;
  const inputs = [x, weight, bias];
  const stats = statistics(b);
  const savedX = e.tape.willRecord(inputs) ? save(x) : null;
  const y = forwardOutput(b, x, stats, options.consume === true);
  if (!savedX) {
    // Not recorded (no input needs a gradient, or noGrad): nothing will run backward, the statistics are not needed.
    stats.dispose();
    return y;
  }
  recomputableFromStored(y, savedX, (xv) => normalize(b, xv, stats));
  const backward: TapeNode['backward'] = (dy, { gradOutputIsFree }) => savedX.useStored((xv) => batchNormBackward(b, xv, stats, dy, gradOutputIsFree));
  return e.tape.record(op, inputs, y, backward, [savedX]);
}
