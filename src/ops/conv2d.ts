// conv2d: 2-D convolution over NCHW images with [Cout, Cin, kh, kw] weights (PyTorch's layout and semantics,
// dilation 1, groups 1), its input gradient (dgrad), weight gradient (wgrad) and bias gradient, wired into autograd.
// The kernels are implicit GEMMs with register tiles (src/shaders/conv2d.wgsl explains the design); this file
// checks the inputs, picks the kernel family (row-tiled by default), tile and workgroup shapes per call, and
// records the dispatches: forward 1 dispatch; backward 1 (dgrad, if x needs a gradient) + 2 (wgrad partial sums
// and their deterministic reduction, which also yields the bias gradient).
import { record } from '../runtime/autograd.ts';
import { checkInputs } from '../runtime/ops.ts';
import { Tensor, shapeString } from '../runtime/tensor.ts';
import type { Engine } from '../runtime/engine.ts';
import { isCpuAdapter } from '../runtime/device.ts';

export interface Conv2dOptions {
  /** Stride, one number for both axes or [sh, sw]. Default 1. */
  stride?: number | readonly [number, number];
  /** Zero padding on each side, one number or [ph, pw]. Default 0. */
  padding?: number | readonly [number, number];
}

/**
 * Register tile of one kernel: TM output rows (4 or 8), TN pixels per invocation (1..8; for the row-tiled
 * kernels the largest TN, the actual one is balanced over the row). `rows` picks the row-tiled forward/dgrad
 * entry points (sliding input window) over the column-interleaved ones; wgrad has only the latter.
 */
export interface ConvTile {
  tm: 4 | 8;
  tn: number;
  rows?: boolean;
  /**
   * With rows: every tap unrolled over a window loaded once per (channel, kernel row): `forward_flat` where the
   * kernel is at most 7 wide and the window (tn-1)*stride + kw at most 24, `dgrad_flat` for stride 1.
   */
  flat?: boolean;
}

/**
 * Kernel choices, tunable at run time (benchmarks, tests, an adapter-specific setup). null means the default
 * below, chosen from measurements with bench/conv-micro.ts (SwiftShader, 2 CPU cores), bench/model-step.ts and on
 * NVIDIA H100 / H200 GPUs through Dawn's Vulkan backend (the same choice won on both kinds of adapter):
 *  - forward/dgrad: row-tiled, TM=8 x TN=8, taps unrolled (forward_flat, dgrad_flat for stride 1; dgrad_rows for
 *    strided dgrad). SwiftShader (bench/conv-micro.ts, 64->64 3x3 at 40x32, GFLOP per CPU-second): forward 0.53 ->
 *    0.99, dgrad 0.55 -> 0.96 against the row kernels with their per-tap loop. NVIDIA H200 (bench/model-step.ts,
 *    whole ResNet34-UNet at 800x640 batch 4): forward 69 -> 51 ms, training step 197 -> 174 ms against the earlier
 *    choice (8x8 or 4x4 row kernels by occupancy, the column kernel for a strided forward); at 128x160 batch 1 all
 *    choices were within 10% (launch-bound).
 *  - wgrad: row-tiled with TM=8 (H100, stride 1: 6.5-10.8 TFLOP/s vs 4.6-8.1 for the column kernel). Strided ones
 *    too: on an H100 the column kernel was faster per kernel (5.8 vs 4.3 TFLOP/s), but in the whole training step
 *    on an H200 (800x640 batch 4) row-tiled everywhere measured 177 and 177 ms against 181 and 198 ms.
 *  - targetInvocations: how far wgrad splits its K dimension (batch*Ho*Wo): enough splits that about this many
 *    invocations run. A GPU needs tens of thousands in flight; SwiftShader runs on a few CPU cores, where every
 *    split only adds partial sums to write and add up, so it gets a small target.
 */
export const conv2dTuning: {
  forward: ConvTile | null;
  dgrad: ConvTile | null;
  wgrad: ConvTile | null;
  targetInvocations: number | null;
  /** Cap on the wgrad partial-sum buffer, bytes. */
  maxPartialBytes: number;
  /**
   * Row-tiled kernels from conv2d_subgroups.wgsl (weight / dy loads shared through subgroupBroadcast): null uses
   * them where the adapter has the `subgroups` feature and reports subgroups of at least 4 invocations; true
   * insists (an error where the adapter cannot), false never. Measured: SwiftShader wgrad 0.74 -> 0.87 GFLOP per
   * CPU-second (64->64 3x3 at 40x32), forward/dgrad +5-15%; NVIDIA H200 training step at 800x640 batch 4 188 -> 174 ms.
   */
  subgroups: boolean | null;
} = {
  forward: null,
  dgrad: null,
  wgrad: null,
  targetInvocations: null,
  maxPartialBytes: 64 << 20,
  subgroups: null,
};

/** Whether the adapter can run conv2d_subgroups.wgsl: the feature, and subgroups of >= 4 (the kernels broadcast from invocations 0..3). */
export function conv2dSubgroupsSupported(e: Engine): boolean {
  return e.features.has('subgroups') && (e.adapter.subgroupMinSize ?? 0) >= 4;
}

/** The shader of the row-tiled kernels for this adapter and conv2dTuning.subgroups. */
function rowShader(e: Engine): 'conv2d' | 'conv2d_subgroups' {
  const want = conv2dTuning.subgroups;
  if (want === false) return 'conv2d';
  const ok = conv2dSubgroupsSupported(e);
  if (want === true && !ok) {
    throw new Error(
      `conv2d: conv2dTuning.subgroups is true but this adapter has ${e.features.has('subgroups') ? `subgroups of min size ${e.adapter.subgroupMinSize ?? 'unknown'} (needs >= 4)` : 'no subgroups feature'}`,
    );
  }
  return ok ? 'conv2d_subgroups' : 'conv2d';
}

function targetInvocations(e: Engine): number {
  if (conv2dTuning.targetInvocations !== null) return conv2dTuning.targetInvocations;
  return isCpuAdapter(e.adapter) ? 2048 : 32768;
}

/** The tile for a forward or dgrad GEMM: conv2dTuning's, else the default above (the same on every adapter measured). */
function gemmTile(which: 'forward' | 'dgrad'): ConvTile {
  const tile = conv2dTuning[which] ?? { tm: 8, tn: 8, rows: true, flat: true };
  checkTile(tile, which);
  return tile;
}

interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  Co: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PH: number;
  PW: number;
  Ho: number;
  Wo: number;
}

function pair(v: unknown, name: string, min: number, what: string): [number, number] {
  const arr = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? v : null;
  if (!arr || !arr.every((d) => Number.isInteger(d) && d >= min)) {
    throw new Error(`conv2d: ${name} must be ${what} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return [arr[0], arr[1]];
}

/** Output spatial size for one axis, PyTorch's formula (dilation 1). */
export function conv2dOutputSize(inSize: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((inSize + 2 * padding - kernel) / stride) + 1;
}

function geometry(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions): Geometry {
  const xs = shapeString(x.shape);
  const ws = shapeString(weight.shape);
  if (x.shape.length !== 4) throw new Error(`conv2d: x must be 4-D [N, C, H, W], got ${xs}`);
  if (weight.shape.length !== 4) throw new Error(`conv2d: weight must be 4-D [Cout, Cin, kh, kw], got ${ws}`);
  const [N, C, H, W] = x.shape;
  const [Co, Ci, KH, KW] = weight.shape;
  if (C !== Ci) {
    throw new Error(`conv2d: channel mismatch, x ${xs} has ${C} channels but weight ${ws} expects Cin = ${Ci}`);
  }
  if (bias !== null && (bias.shape.length !== 1 || bias.shape[0] !== Co)) {
    throw new Error(`conv2d: bias must have shape [${Co}] (Cout of weight ${ws}), got ${shapeString(bias.shape)}`);
  }
  const [SH, SW] = pair(options.stride ?? 1, 'stride', 1, 'a positive integer');
  const [PH, PW] = pair(options.padding ?? 0, 'padding', 0, 'a non-negative integer');
  if (KH > H + 2 * PH || KW > W + 2 * PW) {
    throw new Error(
      `conv2d: kernel ${KH}x${KW} (weight ${ws}) is larger than the padded input ${H + 2 * PH}x${W + 2 * PW} ` +
        `(x ${xs}, padding [${PH},${PW}])`,
    );
  }
  const Ho = conv2dOutputSize(H, KH, SH, PH);
  const Wo = conv2dOutputSize(W, KW, SW, PW);
  // Unreachable after the check above (kernel <= padded input gives >= 1), kept as the last line of defence.
  if (Ho <= 0 || Wo <= 0) {
    throw new Error(`conv2d: non-positive output size ${Ho}x${Wo} for x ${xs}, weight ${ws}, stride [${SH},${SW}], padding [${PH},${PW}]`);
  }
  return { N, C, H, W, Co, KH, KW, SH, SW, PH, PW, Ho, Wo };
}

function nextPow2(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * Workgroup shape for a GEMM with `cols` columns (pixels or taps) and `rows` rows (channels): up to 64
 * invocations, as many as useful along the columns (a multiple of 4, one SIMD group on SwiftShader, and no more
 * than the columns need), the rest along channel tiles, so small images (10x8 at the bottom of the UNet) do not
 * leave most of a workgroup idle.
 */
function workgroupShape(cols: number, rows: number, tile: ConvTile): { WGX: number; WGY: number } {
  const WGX = Math.min(64, Math.max(4, Math.ceil(Math.ceil(cols / tile.tn) / 4) * 4));
  const WGY = Math.max(1, Math.min(Math.floor(64 / WGX), nextPow2(Math.ceil(rows / tile.tm))));
  return { WGX, WGY };
}

/**
 * Workgroup shape for the row-tiled kernels: the subgroup variant needs every invocation of a workgroup on the
 * same channel tile (WGY = 1), since a subgroup's lanes can come from anywhere in the workgroup.
 */
function rowWorkgroupShape(shader: 'conv2d' | 'conv2d_subgroups', cols: number, rows: number, tm: 4 | 8): { WGX: number; WGY: number } {
  if (shader === 'conv2d') return workgroupShape(cols, rows, { tm, tn: 1 });
  return { WGX: Math.min(64, Math.max(4, Math.ceil(cols / 4) * 4)), WGY: 1 };
}

function checkTile(tile: ConvTile, which: string): void {
  if ((tile.tm !== 4 && tile.tm !== 8) || !Number.isInteger(tile.tn) || tile.tn < 1 || tile.tn > 8) {
    throw new Error(`conv2d: conv2dTuning.${which} must have tm 4 or 8 and tn in 1..8, got ${JSON.stringify(tile)}`);
  }
}

function uniforms(g: Geometry, hasBias: boolean, rowsPerSplit = 0, splits = 0, total = 0, biasAt = 0): Record<string, number> {
  const { N, C, H, W, Co, Ho, Wo, KH, KW, SH, SW, PH, PW } = g;
  return { N, C, H, W, Co, Ho, Wo, KH, KW, SH, SW, PH, PW, hasBias: hasBias ? 1 : 0, rowsPerSplit, splits, total, biasAt };
}

/** Splits `blocks` workgroups over x and y when x alone would pass the per-dimension limit. */
function fold(e: Engine, blocks: number): [number, number] {
  const max = e.limits.maxComputeWorkgroupsPerDimension;
  if (blocks <= max) return [blocks, 1];
  const y = Math.ceil(blocks / max);
  return [Math.ceil(blocks / y), y];
}

/** Pixels per row tile: at most tn, balanced so that a row of `cols` splits into equal chunks (5 -> 5, 10 -> 5+5). */
function rowTile(cols: number, tn: number): { tn: number; chunks: number } {
  const chunks = Math.ceil(cols / tn);
  return { tn: Math.ceil(cols / chunks), chunks };
}

function forwardRaw(e: Engine, x: Tensor, weight: Tensor, bias: Tensor | null, g: Geometry): Tensor {
  const tile = gemmTile('forward');
  if (tile.rows && tile.flat && g.KW <= 7 && (rowTile(g.Wo, tile.tn).tn - 1) * g.SW + g.KW <= 24) {
    return forwardRowTiled(e, x, weight, bias, g, tile, 'forward_flat');
  }
  if (tile.rows) return forwardRowTiled(e, x, weight, bias, g, tile, 'forward_rows');
  const P = g.N * g.Ho * g.Wo;
  const { WGX, WGY } = workgroupShape(P, g.Co, tile);
  const out = e.empty([g.N, g.Co, g.Ho, g.Wo], { label: 'conv2d' });
  const k = e.kernel({
    shader: 'conv2d',
    entry: 'forward',
    bindings: ['x', 'weight', 'bias', 'out', 'params'],
    constants: { TM: tile.tm, TN: tile.tn, WGX, WGY },
  });
  const [bx, by] = fold(e, Math.ceil(P / (WGX * tile.tn)));
  const bz = Math.ceil(g.Co / (WGY * tile.tm));
  // Without a bias the kernel never reads `bias`; the weight stands in so the binding is valid.
  e.run(k, { x, weight, bias: bias ?? weight, out, params: uniforms(g, bias !== null) }, [bx, by, bz]);
  return out;
}

/** The row-tiled forward: forward_rows (taps in a loop, a sliding window) or forward_flat (taps unrolled). */
function forwardRowTiled(e: Engine, x: Tensor, weight: Tensor, bias: Tensor | null, g: Geometry, tile: ConvTile, entry: 'forward_rows' | 'forward_flat'): Tensor {
  const { tn, chunks } = rowTile(g.Wo, tile.tn);
  const tiles = g.N * g.Ho * chunks;
  const shader = rowShader(e);
  const { WGX, WGY } = rowWorkgroupShape(shader, tiles, g.Co, tile.tm);
  const out = e.empty([g.N, g.Co, g.Ho, g.Wo], { label: 'conv2d' });
  const flat: Record<string, number> = entry === 'forward_flat' ? { KWC: g.KW, SXC: g.SW, WINC: (tn - 1) * g.SW + g.KW } : {};
  const k = e.kernel({ shader, entry, bindings: ['x', 'weight', 'bias', 'out', 'params'], constants: { TM: tile.tm, TN: tn, WGX, WGY, ...flat } });
  const [bx, by] = fold(e, Math.ceil(tiles / WGX));
  const bz = Math.ceil(g.Co / (WGY * tile.tm));
  e.run(k, { x, weight, bias: bias ?? weight, out, params: uniforms(g, bias !== null) }, [bx, by, bz]);
  return out;
}

function dgradFlat(e: Engine, dy: Tensor, weight: Tensor, g: Geometry, tile: ConvTile): Tensor {
  const { tn, chunks } = rowTile(g.W, tile.tn);
  const tiles = g.N * g.H * chunks;
  const shader = rowShader(e);
  const { WGX, WGY } = rowWorkgroupShape(shader, tiles, g.C, tile.tm);
  const dx = e.empty([g.N, g.C, g.H, g.W], { label: 'conv2d.dx' });
  const k = e.kernel({
    shader,
    entry: 'dgrad_flat',
    bindings: ['dy', 'weight', 'dx', 'params'],
    constants: { TM: tile.tm, TN: tn, WGX, WGY, KWC: g.KW, WINC: tn + g.KW - 1 },
  });
  const [bx, by] = fold(e, Math.ceil(tiles / WGX));
  const bz = Math.ceil(g.C / (WGY * tile.tm));
  e.run(k, { dy, weight, dx, params: uniforms(g, false) }, [bx, by, bz]);
  return dx;
}

function dgradRows(e: Engine, dy: Tensor, weight: Tensor, g: Geometry, tile: ConvTile): Tensor {
  // The widest phase has ceil(H/SH) rows of ceil(W/SW) pixels.
  const { tn, chunks } = rowTile(Math.ceil(g.W / g.SW), tile.tn);
  const tiles = g.N * Math.ceil(g.H / g.SH) * chunks;
  const shader = rowShader(e);
  const { WGX, WGY } = rowWorkgroupShape(shader, tiles, g.C, tile.tm);
  const dx = e.empty([g.N, g.C, g.H, g.W], { label: 'conv2d.dx' });
  const k = e.kernel({
    shader,
    entry: 'dgrad_rows',
    bindings: ['dy', 'weight', 'dx', 'params'],
    constants: { TM: tile.tm, TN: tn, WGX, WGY },
  });
  const [bx, by] = fold(e, Math.ceil(tiles / WGX));
  const bz = g.SH * g.SW * Math.ceil(g.C / (WGY * tile.tm));
  if (bz > e.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`conv2d: dgrad needs ${bz} workgroups along z (stride ${g.SH}x${g.SW}, Cin ${g.C}), above the adapter's limit`);
  }
  e.run(k, { dy, weight, dx, params: uniforms(g, false) }, [bx, by, bz]);
  return dx;
}

function dgradRaw(e: Engine, dy: Tensor, weight: Tensor, g: Geometry): Tensor {
  const tile = gemmTile('dgrad');
  if (tile.rows && tile.flat && g.SH === 1 && g.SW === 1 && g.KW <= 7 && rowTile(g.W, tile.tn).tn + g.KW - 1 <= 24) {
    return dgradFlat(e, dy, weight, g, tile);
  }
  if (tile.rows) return dgradRows(e, dy, weight, g, tile);
  // Pixels per stride phase, at most (the largest phase has ceil(H/SH) x ceil(W/SW) rows and columns).
  const Pq = g.N * Math.ceil(g.H / g.SH) * Math.ceil(g.W / g.SW);
  const { WGX, WGY } = workgroupShape(Pq, g.C, tile);
  const dx = e.empty([g.N, g.C, g.H, g.W], { label: 'conv2d.dx' });
  const k = e.kernel({
    shader: 'conv2d',
    entry: 'dgrad',
    bindings: ['dy', 'weight', 'dx', 'params'],
    constants: { TM: tile.tm, TN: tile.tn, WGX, WGY },
  });
  const [bx, by] = fold(e, Math.ceil(Pq / (WGX * tile.tn)));
  const bz = g.SH * g.SW * Math.ceil(g.C / (WGY * tile.tm));
  if (bz > e.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`conv2d: dgrad needs ${bz} workgroups along z (stride ${g.SH}x${g.SW}, Cin ${g.C}), above the adapter's limit`);
  }
  e.run(k, { dy, weight, dx, params: uniforms(g, false) }, [bx, by, bz]);
  return dx;
}

/** How far wgrad splits K (the rows n, oy of the output) so that about targetInvocations invocations run. */
function splitRows(e: Engine, g: Geometry, invocations: number, total: number): { splits: number; rowsPerSplit: number } {
  const rows = g.N * g.Ho;
  let splits = Math.max(1, Math.min(rows, Math.ceil(targetInvocations(e) / invocations)));
  splits = Math.max(1, Math.min(splits, Math.floor(conv2dTuning.maxPartialBytes / (total * 4)), e.limits.maxComputeWorkgroupsPerDimension));
  const rowsPerSplit = Math.ceil(rows / splits);
  return { splits: Math.ceil(rows / rowsPerSplit), rowsPerSplit };
}

function wgradRaw(e: Engine, x: Tensor, dy: Tensor, g: Geometry, withBias: boolean): { dw: Tensor; db: Tensor | null } {
  const tile = conv2dTuning.wgrad ?? { tm: 8, tn: 4, rows: true };
  checkTile(tile, 'wgrad');
  const NT = g.C * g.KH * g.KW;
  // Per split: the weight entries, then the bias entries from an offset a buffer view can start at.
  const align = e.limits.minStorageBufferOffsetAlignment / 4;
  const biasAt = Math.ceil((g.Co * NT) / align) * align;
  const total = biasAt + g.Co;
  const max = e.limits.maxComputeWorkgroupsPerDimension;
  let dispatch: (partial: Tensor, params: Record<string, number>) => void;
  let invocations: number;
  if (tile.rows && g.KW <= 8) {
    // Row-tiled: TC channel rows (c, ky) of all KW taps per invocation, in at most 8 accumulator slots. TC*KW is
    // kept <= 6 where the kernel allows: with 8 slots (x TM=8 channels) SwiftShader took 3.5 s to compile the
    // pipeline (0.35 s with 6), for little speed.
    const CR = g.C * g.KH;
    const TC = Math.max(1, Math.min(Math.floor(6 / g.KW), CR));
    const shader = rowShader(e);
    const { WGX, WGY } = rowWorkgroupShape(shader, Math.ceil(CR / TC), g.Co, tile.tm);
    const bx = Math.ceil(CR / (TC * WGX));
    const by = Math.ceil(g.Co / (WGY * tile.tm));
    if (bx > max || by > max) throw new Error(`conv2d: wgrad grid ${bx}x${by} is above the adapter's per-dimension limit ${max}`);
    invocations = bx * by * WGX * WGY;
    const k = e.kernel({
      shader,
      entry: 'wgrad_rows',
      bindings: ['x', 'dy', 'partial', 'params'],
      constants: { TM: tile.tm, TC, KWC: g.KW, SXC: g.SW, WGX, WGY },
    });
    dispatch = (partial, params) => e.run(k, { x, dy, partial, params }, [bx, by, params.splits]);
  } else {
    const { WGX, WGY } = workgroupShape(NT, g.Co, tile);
    const bx = Math.ceil(NT / (WGX * tile.tn));
    const by = Math.ceil(g.Co / (WGY * tile.tm));
    if (bx > max || by > max) throw new Error(`conv2d: wgrad grid ${bx}x${by} is above the adapter's per-dimension limit ${max}`);
    invocations = bx * by * WGX * WGY;
    const k = e.kernel({
      shader: 'conv2d',
      entry: 'wgrad',
      bindings: ['x', 'dy', 'partial', 'params'],
      constants: { TM: tile.tm, TN: tile.tn, WGX, WGY },
    });
    dispatch = (partial, params) => e.run(k, { x, dy, partial, params }, [bx, by, params.splits]);
  }
  const { splits, rowsPerSplit } = splitRows(e, g, invocations, total);
  const params = uniforms(g, withBias, rowsPerSplit, splits, total, biasAt);
  const partial = e.empty([splits * total], { label: 'conv2d.wgrad.partial' });
  dispatch(partial, params);

  const dw = e.empty([g.Co, g.C, g.KH, g.KW], { label: 'conv2d.dw' });
  if (splits === 1) {
    // Nothing to add up: copy the two ranges out (a buffer copy; wgrad_reduce would gather and scatter every
    // element, 30% of the 512->512 wgrad at 5x4 on SwiftShader).
    e.copy(partial.view(0, dw.shape), dw);
    let db: Tensor | null = null;
    if (withBias) {
      db = e.empty([g.Co], { label: 'conv2d.db' });
      e.copy(partial.view(biasAt, [g.Co]), db);
    }
    partial.dispose();
    return { dw, db };
  }
  // The reduction writes db only when there is a bias; a one-element stand-in keeps the binding valid.
  const db = e.empty([withBias ? g.Co : 1], { label: withBias ? 'conv2d.db' : 'conv2d.db.unused' });
  const r = e.kernel({ shader: 'conv2d', entry: 'wgrad_reduce', bindings: ['parts', 'dw', 'db', 'params'] });
  e.run(r, { parts: partial, dw, db, params }, e.grid1d(total, r));
  partial.dispose();
  if (!withBias) {
    db.dispose();
    return { dw, db: null };
  }
  return { dw, db };
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
  const out = forwardRaw(e, x, weight, b, g);
  const inputs = b ? [x, weight, b] : [x, weight];
  return record('conv2d', inputs, out, (dy) => {
    const dx = x.requiresGrad ? dgradRaw(e, dy, weight, g) : null;
    const needW = weight.requiresGrad || (b !== null && b.requiresGrad);
    const grads = needW ? wgradRaw(e, x, dy, g, b !== null) : null;
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
  });
}

/** For tests and benchmarks: the three GEMMs without autograd (dy is the gradient of the output). */
export const conv2dKernels = {
  forward(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
    const e = checkInputs('conv2d', bias ? { x, weight, bias } : { x, weight });
    return forwardRaw(e, x, weight, bias, geometry(x, weight, bias, options));
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
    return wgradRaw(e, x, dy, g, withBias);
  },
};

function checkDy(dy: Tensor, g: Geometry): void {
  const want = [g.N, g.Co, g.Ho, g.Wo];
  if (dy.shape.length !== 4 || dy.shape.some((d, i) => d !== want[i])) {
    throw new Error(`conv2d: dy must have the output's shape ${shapeString(want)}, got ${shapeString(dy.shape)}`);
  }
}
