// conv2d: 2-D convolution over NCHW images with [Cout, Cin, kh, kw] weights (PyTorch's layout and semantics,
// dilation 1, groups 1), its input gradient (dgrad), weight gradient (wgrad) and bias gradient, wired into autograd.
// The kernels are implicit GEMMs with register tiles (conv2d.wgsl.in explains them); plan.ts picks the entry point,
// tile and workgroup shape of each call from the engine's conv2dTuning (tuning.ts); this file records them: forward
// 1 dispatch; backward 1 (dgrad, if x needs a gradient) + 2 (wgrad partial sums and their deterministic reduction,
// which also yields the bias gradient; a copy instead of the reduction when there is one split).
import type { Binding, Engine } from '../../engine/engine.ts';
import type { GradientInto } from '../../engine/tape.ts';
import { shapeString, type Tensor } from '../../engine/tensor.ts';
import { SHADERS } from '../../generated/shaders.ts';
import { checkInputs } from '../check.ts';
import { save, type SavedTensor, type StoredValues } from '../saved.ts';
import { f16RangeFlag } from '../f16-range.ts';
import { roundsToF16 } from './matrix-tile.ts';
import { conv2dTuning, type ConvOp } from './tuning.ts';
import { convUniforms, dgradPlan, forwardPlan, geometry, planName, readingPairs, shapeKey, wgradPlan, type Conv2dOptions, type DispatchPlan, type Geometry } from './plan.ts';

export type { Conv2dOptions } from './plan.ts';

/** One GEMM shape a run used, as recordConvShapes collects them for the autotuner. */
export interface ConvShape {
  key: string;
  op: ConvOp;
  geometry: Geometry;
  /** How many times the run used it. */
  count: number;
}

const recorders = new WeakMap<Engine, Map<string, ConvShape>>();

function note(e: Engine, op: ConvOp, g: Geometry): void {
  const shapes = recorders.get(e);
  if (!shapes) return;
  const key = shapeKey(op, g, conv2dTuning(e));
  const seen = shapes.get(key);
  if (seen) seen.count++;
  else shapes.set(key, { key, op, geometry: g, count: 1 });
}

/** The GEMM shapes fn's conv2d calls use on this engine (fn may be a dry run inside engine.traceKernels), in first-use order. */
export function recordConvShapes(engine: Engine, fn: () => void): ConvShape[] {
  if (recorders.has(engine)) throw new Error('recordConvShapes: already recording on this engine');
  const shapes = new Map<string, ConvShape>();
  recorders.set(engine, shapes);
  try {
    fn();
  } finally {
    recorders.delete(engine);
  }
  return [...shapes.values()];
}

function dispatch(e: Engine, plan: DispatchPlan, bindings: Readonly<Record<string, Binding>>): void {
  // A tile that rounds operands to f16 also reports one outside f16's range (f16-range.ts).
  const all = roundsToF16(plan.shader) ? { ...bindings, f16_overflow: f16RangeFlag(e) } : bindings;
  const k = e.kernel({ shader: plan.shader, entry: plan.entry, bindings: Object.keys(all), constants: plan.constants });
  e.run(k, all, plan.grid);
}

function forwardRaw(e: Engine, x: StoredValues, weight: Tensor, bias: Tensor | null, g: Geometry): Tensor {
  note(e, 'forward', g);
  const plan = forwardPlan(e, g, conv2dTuning(e));
  const out = e.empty([g.N, g.Co, g.Ho, g.Wo], { label: 'conv2d' });
  // Without a bias the kernel never reads `bias`; the weight stands in so the binding is valid.
  const bindings = { x: x.tensor, weight, bias: bias ?? weight, out, params: convUniforms(g, bias !== null) };
  dispatch(e, x.packed ? readingPairs(plan) : plan, bindings);
  return out;
}

function dgradRaw(e: Engine, dy: Tensor, weight: Tensor, g: Geometry): Tensor {
  note(e, 'dgrad', g);
  const plan = dgradPlan(e, g, conv2dTuning(e));
  const dx = e.empty([g.N, g.C, g.H, g.W], { label: 'conv2d.dx' });
  dispatch(e, plan, { dy, weight, dx, params: convUniforms(g, false) });
  return dx;
}

/**
 * Where wgradRaw may write the weight and bias gradients: each a request for the buffer backward lends
 * (GradientInto), made only where wgradRaw can write all of it; null or absent: a new buffer.
 */
interface WgradInto {
  dw?: (() => Tensor | null) | null;
  db?: (() => Tensor | null) | null;
}

function wgradRaw(e: Engine, x: StoredValues, dy: Tensor, g: Geometry, withBias: boolean, into: WgradInto = {}): { dw: Tensor; db: Tensor | null } {
  note(e, 'wgrad', g);
  const plan = wgradPlan(e, g, conv2dTuning(e));
  const params = convUniforms(g, withBias, plan);
  const dwShape = [g.Co, g.C, g.KH, g.KW];
  // With one split and no bias the partial sums are the weight gradient exactly: written straight into a lent buffer.
  const direct = plan.splits === 1 && !withBias ? (into.dw?.() ?? null) : null;
  const partial = direct ?? e.empty([plan.splits * plan.total], { label: 'conv2d.wgrad.partial' });
  dispatch(e, x.packed ? readingPairs(plan.partial) : plan.partial, { x: x.tensor, dy, partial, params });
  if (direct) return { dw: direct, db: null };

  if (plan.splits === 1) {
    // Nothing to add up: the partial sums are the weight gradient (wgrad_reduce would gather and scatter every
    // element, 30% of the 512->512 wgrad at 5x4 on SwiftShader), so the buffer becomes dw, the bias gradient
    // copied out of its tail first: no second buffer of the weights' size at the step's peak.
    let db: Tensor | null = null;
    if (withBias) {
      db = into.db?.() ?? e.empty([g.Co], { label: 'conv2d.db' });
      e.copy(partial.view(plan.biasAt, [g.Co]), db);
    }
    return { dw: e.adopt(partial, dwShape, 'conv2d.dw'), db };
  }
  const dw = into.dw?.() ?? e.empty(dwShape, { label: 'conv2d.dw' });
  // The reduction writes db only when there is a bias; a one-element stand-in keeps the binding valid.
  const db = (withBias ? into.db?.() : null) ?? e.empty([withBias ? g.Co : 1], { label: withBias ? 'conv2d.db' : 'conv2d.db.unused' });
  const r = e.kernel({ shader: SHADERS.conv2d, entry: 'wgrad_reduce', bindings: ['parts', 'dw', 'db', 'params'] });
  e.run(r, { parts: partial, dw, db, params }, e.grid1d(plan.total, r));
  partial.dispose();
  if (!withBias) {
    db.dispose();
    return { dw, db: null };
  }
  return { dw, db };
}

/**
 * The backward of conv2d: [dx, dw, db] (db only with a bias), null where an input needs no gradient. The input's
 * values (savedX) are read only for the weight gradient, which runs first and lets them go: the f16 pairs read as
 * they are (the _f16x kernels), or what was kept, unpacked or recomputed for it, are gone before dgrad allocates
 * dx. The weight and bias gradients go into the parameters' zeroed .grad where backward lends it (`into`).
 */
function conv2dBackward(e: Engine, x: Tensor, savedX: SavedTensor | null, weight: Tensor, b: Tensor | null, g: Geometry, dy: Tensor, into: GradientInto): (Tensor | null)[] {
  const lend: WgradInto = { dw: weight.requiresGrad ? () => into(weight) : null, db: b?.requiresGrad ? () => into(b) : null };
  const grads = savedX ? savedX.useStored((xv) => wgradRaw(e, xv, dy, g, b !== null, lend), true) : null;
  const dx = x.requiresGrad ? dgradRaw(e, dy, weight, g) : null;
  let dw = grads?.dw ?? null;
  if (dw && !weight.requiresGrad) {
    dw.dispose();
    dw = null;
  }
  let db = grads?.db ?? null;
  if (db && b && !b.requiresGrad) {
    db.dispose();
    db = null;
  }
  return b ? [dx, dw, db] : [dx, dw];
}

/**
 * The forward at x's last use (options.consume): from the f16 pairs saved for the backward where there are any, x
 * disposed before the output is allocated (the pack that made the pairs was recorded first, so it reads x before
 * its buffer is reused); else from x, disposed after.
 */
function forwardConsuming(e: Engine, x: Tensor, savedX: SavedTensor | null, weight: Tensor, b: Tensor | null, g: Geometry): Tensor {
  const pairs = savedX?.pairs ?? null;
  if (pairs) x.dispose();
  const out = forwardRaw(e, pairs ? { tensor: pairs, packed: true } : { tensor: x, packed: false }, weight, b, g);
  if (!pairs) x.dispose();
  return out;
}

/**
 * 2-D convolution, PyTorch's `F.conv2d(x, weight, bias, stride, padding)` with dilation 1 and groups 1.
 * x: [N, Cin, H, W], weight: [Cout, Cin, kh, kw], bias: [Cout] or null. Returns [N, Cout, Ho, Wo] with
 * Ho = floor((H + 2*ph - kh) / sh) + 1 (likewise Wo). Differentiable in x, weight and bias.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const e = checkInputs('conv2d', bias === null || bias === undefined ? { x, weight } : { x, weight, bias });
  const b = bias ?? null;
  const g = geometry(x, weight, b, options ?? {});
  const inputs = b ? [x, weight, b] : [x, weight];
  const needW = weight.requiresGrad || (b !== null && b.requiresGrad);
  const savedX = needW && e.tape.willRecord(inputs) ? save(x) : null;
  const out = options.consume ? forwardConsuming(e, x, savedX, weight, b, g) : forwardRaw(e, { tensor: x, packed: false }, weight, b, g);
  return e.tape.record('conv2d', inputs, out, (dy, { into }) => conv2dBackward(e, x, savedX, weight, b, g, dy, into), savedX ? [savedX] : []);
}

function checkDy(dy: Tensor, g: Geometry): void {
  const want = [g.N, g.Co, g.Ho, g.Wo];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`conv2d: dy must have the output's shape ${shapeString(want)}, got ${shapeString(dy.shape)}`);
  }
}

/** For tests and benchmarks: the three GEMMs without autograd (dy is the gradient of the output). */
export const conv2dKernels = {
  forward(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
    const e = checkInputs('conv2d', bias ? { x, weight, bias } : { x, weight });
    return forwardRaw(e, { tensor: x, packed: false }, weight, bias, geometry(x, weight, bias, options));
  },
  dgrad(dy: Tensor, x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Tensor {
    const e = checkInputs('conv2d', { dy, x, weight });
    const g = geometry(x, weight, null, options);
    checkDy(dy, g);
    return dgradRaw(e, dy, weight, g);
  },
  wgrad(dy: Tensor, x: Tensor, weight: Tensor, withBias: boolean, options: Conv2dOptions = {}): { dw: Tensor; db: Tensor | null } {
    const e = checkInputs('conv2d', { dy, x, weight });
    const g = geometry(x, weight, null, options);
    checkDy(dy, g);
    return wgradRaw(e, { tensor: x, packed: false }, dy, g, withBias);
  },
};

/**
 * For benchmarks and `chh tune`: the kernels conv2d would run for x [N, Cin, H, W] and weight [Cout, Cin, kh, kw]
 * on this engine now (its explicit choices, else the tuned ones, else the defaults), as planName names them.
 */
export function conv2dVariants(engine: Engine, xShape: readonly number[], weightShape: readonly number[], options: Conv2dOptions = {}): Record<ConvOp, string> {
  const g = geometry({ shape: xShape }, { shape: weightShape }, null, options);
  const t = conv2dTuning(engine);
  return { forward: planName(engine, 'forward', g, t), dgrad: planName(engine, 'dgrad', g, t), wgrad: planName(engine, 'wgrad', g, t) };
}
