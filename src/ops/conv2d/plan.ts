// How one conv2d GEMM runs on an adapter: the geometry of the call, then which entry point of conv2d.wgsl.in, with
// which tile and workgroup shape (override constants) and how many workgroups. Pure functions of the geometry,
// the adapter's limits and features, and the engine's Conv2dTuning; conv2d.ts records what they plan.
import { isCpuAdapter } from '../../engine/device.ts';
import { shapeString, type Tensor } from '../../engine/tensor.ts';
import { foldedGrid, type Shader } from '../../engine/kernel.ts';
import { SHADERS } from '../../generated/shaders.ts';
import { DEFAULT_TILES, GPU_DEFAULT_TILE, isSharedTile, type Conv2dTuning, type ConvDevice, type ConvKernel, type ConvOp, type ConvTile, type SharedTile } from './tuning.ts';
import { isMatrixShader, matrixDescription, matrixTileKernel, matrixTileProblem } from './matrix-tile.ts';

export type { ConvDevice } from './tuning.ts';

export interface Conv2dOptions {
  /** Stride, one number for both axes or [sh, sw]. Default 1. */
  stride?: number | readonly [number, number];
  /** Zero padding on each side, one number or [ph, pw]. Default 0. */
  padding?: number | readonly [number, number];
  /**
   * This is x's last use: conv2d disposes it. Where the f16 memory policy saved x as f16 pairs for the backward,
   * the forward reads those pairs too (the _f16x kernels: the values rounded to f16 once, as the backward sees
   * them), so x's f32 buffer goes before the output's is allocated.
   */
  consume?: boolean;
}

/** Sizes of one convolution: input N x C x H x W, weight Co x C x KH x KW, stride, padding, output Ho x Wo. */
export interface Geometry {
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


/** One dispatch: a kernel (shader, entry point, override constants) and its workgroup counts. */
export interface DispatchPlan {
  shader: Shader;
  entry: string;
  constants: Record<string, number>;
  grid: [number, number, number];
}

/** wgrad's partial-sum pass (split along K) and the sizes its reduction needs. */
export interface WgradPlan {
  partial: DispatchPlan;
  splits: number;
  rowsPerSplit: number;
  /** Partial sums per split: the weight entries, then the Co bias entries from biasAt (an aligned offset). */
  total: number;
  biasAt: number;
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

/** The geometry of conv2d(x, weight, bias, options), every shape checked. */
export function geometry(x: Pick<Tensor, 'shape'>, weight: Pick<Tensor, 'shape'>, bias: Pick<Tensor, 'shape'> | null, options: Conv2dOptions): Geometry {
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

/** The Params uniform of conv2d.wgsl.in (the wgrad members stay 0 outside wgrad). */
export function convUniforms(g: Geometry, hasBias: boolean, wgrad?: WgradPlan): Record<string, number> {
  const { N, C, H, W, Co, Ho, Wo, KH, KW, SH, SW, PH, PW } = g;
  const { rowsPerSplit = 0, splits = 0, total = 0, biasAt = 0 } = wgrad ?? {};
  return { N, C, H, W, Co, Ho, Wo, KH, KW, SH, SW, PH, PW, hasBias: hasBias ? 1 : 0, rowsPerSplit, splits, total, biasAt };
}

/** Whether the adapter can run conv2d_subgroups: the feature, and subgroups of >= 4 (the kernels broadcast from invocations 0..3). */
export function conv2dSubgroupsSupported(e: ConvDevice): boolean {
  return e.features.has('subgroups') && (e.adapter.subgroupMinSize ?? 0) >= 4;
}

/** The shader of the row-tiled kernels for this adapter and tuning.subgroups. */
function rowShader(e: ConvDevice, tuning: Conv2dTuning): Shader {
  const want = tuning.subgroups;
  if (want === false) return SHADERS.conv2d;
  const ok = conv2dSubgroupsSupported(e);
  if (want === true && !ok) {
    const has = e.features.has('subgroups') ? `subgroups of min size ${e.adapter.subgroupMinSize ?? 'unknown'} (needs >= 4)` : 'no subgroups feature';
    throw new Error(`conv2d: the engine's conv2dTuning.subgroups is true but this adapter has ${has}`);
  }
  return ok ? SHADERS.conv2d_subgroups : SHADERS.conv2d;
}

function checkTile(tile: ConvTile, which: string): ConvTile {
  if ((tile.tm !== 4 && tile.tm !== 8) || !Number.isInteger(tile.tn) || tile.tn < 1 || tile.tn > 8) {
    throw new Error(`conv2d: conv2dTuning.${which} must have tm 4 or 8 and tn in 1..8, got ${JSON.stringify(tile)}`);
  }
  return tile;
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
function workgroupShape(cols: number, rows: number, tile: Pick<ConvTile, 'tm' | 'tn'>): { WGX: number; WGY: number } {
  const WGX = Math.min(64, Math.max(4, Math.ceil(Math.ceil(cols / tile.tn) / 4) * 4));
  const WGY = Math.max(1, Math.min(Math.floor(64 / WGX), nextPow2(Math.ceil(rows / tile.tm))));
  return { WGX, WGY };
}

/**
 * Workgroup shape for the row-tiled kernels, and how many of its invocations have work (`busy`). The subgroup
 * variant needs every invocation of a workgroup on the same channel tile (WGY = 1), since a subgroup's lanes can
 * come from anywhere in the workgroup; it always launches 64 (its subgroups without work return at once), so one
 * pipeline serves every image size: on SwiftShader each distinct WGX cost a compile of ~0.2 s, while the idle
 * subgroups cost nothing measurable (docs/decisions.md, "Fewer pipelines").
 */
function rowWorkgroupShape(shader: Shader, cols: number, rows: number, tm: 4 | 8): { WGX: number; WGY: number; busy: number } {
  if (shader === SHADERS.conv2d) {
    const shape = workgroupShape(cols, rows, { tm, tn: 1 });
    return { ...shape, busy: shape.WGX * shape.WGY };
  }
  return { WGX: 64, WGY: 1, busy: Math.min(64, Math.max(4, Math.ceil(cols / 4) * 4)) };
}

/** A short name of the kernel a plan runs: "forward_flat TM8 TN8", "wgrad_rows TM8 subgroups", "tiled_dgrad 64x64x16 r4x4". */
export function describePlan(plan: DispatchPlan): string {
  const c = plan.constants;
  if (isMatrixShader(plan.shader)) return matrixDescription(plan.entry, plan.shader, c);
  if (plan.shader === SHADERS.conv2d_tiled || plan.shader === SHADERS.conv2d_tiled_half) {
    return `${plan.entry} ${c.BM}x${c.BN}x${c.BK} r${c.RM}x${c.RN}${c.DB === 2 ? ' db' : ''}${plan.shader === SHADERS.conv2d_tiled_half ? ' f16' : ''}`;
  }
  const tile = plan.entry.startsWith('wgrad_rows') ? `TM${c.TM} TC${c.TC}` : `TM${c.TM} TN${c.TN}`;
  return `${plan.entry} ${tile}${plan.shader === SHADERS.conv2d_subgroups ? ' subgroups' : ''}`;
}

/** The name of the kernel one op of this shape runs under `tuning` (describePlan; wgrad with its split of K). */
export function planName(e: ConvDevice, op: ConvOp, g: Geometry, tuning: Conv2dTuning): string {
  if (op === 'forward') return describePlan(forwardPlan(e, g, tuning));
  if (op === 'dgrad') return describePlan(dgradPlan(e, g, tuning));
  const w = wgradPlan(e, g, tuning);
  return `${describePlan(w.partial)} splits${w.splits}`;
}

/** Splits `blocks` workgroups over x and y when x alone would pass the per-dimension limit. */
function fold(e: ConvDevice, blocks: number): [number, number] {
  const [x, y] = foldedGrid(blocks, e.limits.maxComputeWorkgroupsPerDimension);
  return [x, y];
}

/** Pixels per row tile: at most tn, balanced so that a row of `cols` splits into equal chunks (5 -> 5, 10 -> 5+5). */
function rowTile(cols: number, tn: number): { tn: number; chunks: number } {
  const chunks = Math.ceil(cols / tn);
  return { tn: Math.ceil(cols / chunks), chunks };
}

/** A row-tiled dispatch over `tiles` row tiles and `channels` output channels (z also carries `zTimes` phases). */
function rowTiled(e: ConvDevice, shader: Shader, entry: string, tm: 4 | 8, tn: number, tiles: number, channels: number, extra: Record<string, number>, zTimes = 1): DispatchPlan {
  const { WGX, WGY } = rowWorkgroupShape(shader, tiles, channels, tm);
  const [bx, by] = fold(e, Math.ceil(tiles / WGX));
  const bz = zTimes * Math.ceil(channels / (WGY * tm));
  return { shader, entry, constants: { TM: tm, TN: tn, WGX, WGY, ...extra }, grid: [bx, by, bz] };
}

function checkZ(e: ConvDevice, plan: DispatchPlan, g: Geometry): DispatchPlan {
  if (plan.grid[2] > e.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`conv2d: dgrad needs ${plan.grid[2]} workgroups along z (stride ${g.SH}x${g.SW}, Cin ${g.C}), above the adapter's limit`);
  }
  return plan;
}

/**
 * The key of one GEMM's shape in Conv2dTuning.tuned and the autotune cache: the op, the dtype of its operands (f16
 * where tuning.f16Ops allows rounding them: subgroup-matrix tiles may win) and the exact geometry.
 */
export function shapeKey(op: ConvOp, g: Geometry, tuning?: Pick<Conv2dTuning, 'f16Ops'>): string {
  const { N, C, H, W, Co, KH, KW, SH, SW, PH, PW } = g;
  const dtype = tuning?.f16Ops.has(op) ? 'f16' : 'f32';
  return `${op} ${dtype} ${N}x${C}x${H}x${W} w${Co}x${KH}x${KW} s${SH}x${SW} p${PH}x${PW}`;
}

/** Whether a shapeKey is of a GEMM that may take f16 operands. */
export function keyAllowsF16(key: string): boolean {
  return key.split(' ')[1] === 'f16';
}

/** The GEMM of one op: M rows (output channels; input channels for dgrad) x N columns x a reduction of K. */
export function gemmSize(op: ConvOp, g: Geometry): { m: number; n: number; k: number } {
  const taps = g.KH * g.KW;
  if (op === 'forward') return { m: g.Co, n: g.N * g.Ho * g.Wo, k: g.C * taps };
  if (op === 'dgrad') return { m: g.C, n: g.N * g.H * g.W, k: (g.Co * taps) / (g.SH * g.SW) };
  return { m: g.Co, n: g.C * taps, k: g.N * g.Ho * g.Wo };
}

/** What a shape runs before it is tuned: register tiles on a CPU adapter; on a GPU the shared tile where the GEMM fills it. */
export function defaultKernel(e: ConvDevice, op: ConvOp, g: Geometry): ConvKernel {
  if (isCpuAdapter(e.adapter)) return DEFAULT_TILES[op];
  const { m, n } = gemmSize(op, g);
  const fills = m >= GPU_DEFAULT_TILE.bm / 2 && n >= 16 * GPU_DEFAULT_TILE.bn;
  return fills && sharedTileProblem(e, GPU_DEFAULT_TILE) === null ? GPU_DEFAULT_TILE : DEFAULT_TILES[op];
}

/** The kernel of one GEMM: the engine's explicit choice, else the tuned one for this shape, else the default. */
export function chooseKernel(e: ConvDevice, op: ConvOp, g: Geometry, tuning: Conv2dTuning): ConvKernel {
  return tuning[op] ?? tuning.tuned.get(shapeKey(op, g, tuning)) ?? defaultKernel(e, op, g);
}

/** Why the adapter cannot run this workgroup-memory tile (a subgroup-matrix one: natively, or in the emulation), or null. */
export function sharedTileProblem(e: ConvDevice, t: SharedTile, emulateMatrices = false): string | null {
  const ints = [t.bm, t.bn, t.bk, t.rm, t.rn].every((v) => Number.isInteger(v) && v >= 1);
  if (!ints || t.rm > 8 || t.rn > 8) return 'bm, bn, bk must be positive integers and rm, rn in 1..8';
  if (t.matrix !== undefined) return t.half ? 'half and matrix exclude each other' : matrixTileProblem(e, t, emulateMatrices);
  if (t.half && !e.features.has('shader-f16')) return 'the adapter has no shader-f16 feature (half tiles hold f16)';
  if (t.bn % t.rn !== 0 || t.bm % (t.rm * t.rn) !== 0) return 'bn must be a multiple of rn and bm of rm*rn';
  const tx = t.bn / t.rn;
  const ty = t.bm / t.rm;
  const l = e.limits;
  if (tx * ty > l.maxComputeInvocationsPerWorkgroup || tx > l.maxComputeWorkgroupSizeX || ty > l.maxComputeWorkgroupSizeY) {
    return `its workgroup ${tx}x${ty} is above the adapter's limits`;
  }
  const bytes = (t.half ? 2 : 4) * t.bk * (t.bm + 1 + t.bn) * (t.double ? 2 : 1); // As is padded by one row (conv2d_tiled.wgsl.in)
  if (bytes > l.maxComputeWorkgroupStorageSize) return `its ${bytes} bytes of workgroup memory are above the adapter's ${l.maxComputeWorkgroupStorageSize}`;
  return null;
}

function checkShared(e: ConvDevice, t: SharedTile, which: string, tuning: Conv2dTuning): SharedTile {
  const problem = sharedTileProblem(e, t, tuning.emulateMatrices);
  if (problem) throw new Error(`conv2d: conv2dTuning.${which} ${JSON.stringify(t)} cannot run: ${problem}`);
  return t;
}

/**
 * A conv2d_tiled dispatch: `cols` columns of the output matrix in blocks of bn along x (folded into z past the
 * limit), `rows` in blocks of bm along y; the kernel's size is a constant of the pipeline (1x1: a plain GEMM).
 */
function sharedPlan(e: ConvDevice, entry: string, t: SharedTile, g: Geometry, cols: number, rows: number, zTimes: number, tuning: Conv2dTuning): DispatchPlan {
  const [bx, fz] = fold(e, Math.ceil(cols / t.bn));
  const by = Math.ceil(rows / t.bm);
  const constants: Record<string, number> = { BM: t.bm, BN: t.bn, BK: t.bk, RM: t.rm, RN: t.rn, TX: t.bn / t.rn, TY: t.bm / t.rm, DB: t.double ? 2 : 1, KH: g.KH, KW: g.KW };
  let shader = t.half ? SHADERS.conv2d_tiled_half : SHADERS.conv2d_tiled;
  if (t.matrix !== undefined) {
    const m = matrixTileKernel(e, t, tuning.emulateMatrices);
    if (typeof m === 'string') throw new Error(`conv2d: ${entry} with ${JSON.stringify(t)}: ${m}`);
    Object.assign(constants, { TX: m.threads, TY: 1, SGS: m.subgroup, AS: m.as });
    shader = m.shader;
  }
  const plan: DispatchPlan = { shader, entry, constants, grid: [bx, by, fz * zTimes] };
  if (by > e.limits.maxComputeWorkgroupsPerDimension || plan.grid[2] > e.limits.maxComputeWorkgroupsPerDimension) {
    throw new Error(`conv2d: ${entry} needs a ${plan.grid.join('x')} grid, above the adapter's per-dimension limit`);
  }
  return plan;
}

/**
 * Taps x pixels that forward_flat unrolls at most: the stem's 7x7 with 8 pixels (56) took SwiftShader 1.3-1.5 s to
 * compile against 0.14-0.19 s with 4 (28), and ran its forward at 160x128 in 15 ms instead of 11 (docs/decisions.md).
 */
const MAX_FLAT_TAPS = 32;

/** The forward GEMM: forward_flat where the taps fit the unrolled window, else forward_rows, or the column kernel. */
export function forwardPlan(e: ConvDevice, g: Geometry, tuning: Conv2dTuning): DispatchPlan {
  const kernel = chooseKernel(e, 'forward', g, tuning);
  if (isSharedTile(kernel)) return sharedPlan(e, 'tiled_forward', checkShared(e, kernel, 'forward', tuning), g, g.N * g.Ho * g.Wo, g.Co, 1, tuning);
  const tile = checkTile(kernel, 'forward');
  if (tile.rows) {
    // The cap only where forward_flat can run (kernels up to 7 wide): forward_rows keeps its own tn.
    const { tn, chunks } = rowTile(g.Wo, tile.flat && g.KW <= 7 ? Math.min(tile.tn, Math.floor(MAX_FLAT_TAPS / g.KW)) : tile.tn);
    const tiles = g.N * g.Ho * chunks;
    const flat = tile.flat && g.KW <= 7 && (tn - 1) * g.SW + g.KW <= 24;
    const extra: Record<string, number> = flat ? { KWC: g.KW, SXC: g.SW, WINC: (tn - 1) * g.SW + g.KW } : {};
    return rowTiled(e, rowShader(e, tuning), flat ? 'forward_flat' : 'forward_rows', tile.tm, tn, tiles, g.Co, extra);
  }
  const P = g.N * g.Ho * g.Wo;
  const { WGX, WGY } = workgroupShape(P, g.Co, tile);
  const [bx, by] = fold(e, Math.ceil(P / (WGX * tile.tn)));
  const bz = Math.ceil(g.Co / (WGY * tile.tm));
  return { shader: SHADERS.conv2d, entry: 'forward', constants: { TM: tile.tm, TN: tile.tn, WGX, WGY }, grid: [bx, by, bz] };
}

/** The data gradient: dgrad_flat (stride 1, taps unrolled), dgrad_rows (by stride phase), or the column kernel. */
export function dgradPlan(e: ConvDevice, g: Geometry, tuning: Conv2dTuning): DispatchPlan {
  const kernel = chooseKernel(e, 'dgrad', g, tuning);
  if (isSharedTile(kernel)) {
    // The widest stride phase has ceil(H/SH) x ceil(W/SW) pixels; z carries the SH*SW phases.
    const Pq = g.N * Math.ceil(g.H / g.SH) * Math.ceil(g.W / g.SW);
    return sharedPlan(e, 'tiled_dgrad', checkShared(e, kernel, 'dgrad', tuning), g, Pq, g.C, g.SH * g.SW, tuning);
  }
  const tile = checkTile(kernel, 'dgrad');
  if (tile.rows && tile.flat && g.SH === 1 && g.SW === 1 && g.KW <= 7 && rowTile(g.W, tile.tn).tn + g.KW - 1 <= 24) {
    const { tn, chunks } = rowTile(g.W, tile.tn);
    return rowTiled(e, rowShader(e, tuning), 'dgrad_flat', tile.tm, tn, g.N * g.H * chunks, g.C, { KWC: g.KW, WINC: tn + g.KW - 1 });
  }
  if (tile.rows) {
    // The widest phase has ceil(H/SH) rows of ceil(W/SW) pixels.
    const { tn, chunks } = rowTile(Math.ceil(g.W / g.SW), tile.tn);
    const tiles = g.N * Math.ceil(g.H / g.SH) * chunks;
    return checkZ(e, rowTiled(e, rowShader(e, tuning), 'dgrad_rows', tile.tm, tn, tiles, g.C, {}, g.SH * g.SW), g);
  }
  // Pixels per stride phase, at most (the largest phase has ceil(H/SH) x ceil(W/SW) rows and columns).
  const Pq = g.N * Math.ceil(g.H / g.SH) * Math.ceil(g.W / g.SW);
  const { WGX, WGY } = workgroupShape(Pq, g.C, tile);
  const [bx, by] = fold(e, Math.ceil(Pq / (WGX * tile.tn)));
  const bz = g.SH * g.SW * Math.ceil(g.C / (WGY * tile.tm));
  return checkZ(e, { shader: SHADERS.conv2d, entry: 'dgrad', constants: { TM: tile.tm, TN: tile.tn, WGX, WGY }, grid: [bx, by, bz] }, g);
}

/**
 * The wgrad partial-sum kernel and its grid over (taps, channels), without the split along K (grid z), and how many
 * of a workgroup's invocations have work (the split is sized by those).
 */
function wgradKernel(e: ConvDevice, g: Geometry, kernel: ConvKernel, tuning: Conv2dTuning): { plan: DispatchPlan; busy: number } {
  if (isSharedTile(kernel)) {
    const plan = sharedPlan(e, 'tiled_wgrad', checkShared(e, kernel, 'wgrad', tuning), g, g.C * g.KH * g.KW, g.Co, 1, tuning);
    if (plan.grid[2] !== 1) throw new Error(`conv2d: tiled_wgrad over ${g.C * g.KH * g.KW} taps needs more workgroups than the adapter's limit`);
    return { plan, busy: plan.constants.TX * plan.constants.TY };
  }
  const tile = checkTile(kernel, 'wgrad');
  const max = e.limits.maxComputeWorkgroupsPerDimension;
  const check = (bx: number, by: number): void => {
    if (bx > max || by > max) throw new Error(`conv2d: wgrad grid ${bx}x${by} is above the adapter's per-dimension limit ${max}`);
  };
  if (tile.rows && g.KW <= 8) {
    // Row-tiled: TC channel rows (c, ky) of all KW taps per invocation, in at most 8 accumulator slots. TC*KW is
    // kept <= 6 where the kernel allows: with 8 slots SwiftShader took 10x longer to compile the pipeline.
    const CR = g.C * g.KH;
    const TC = Math.max(1, Math.min(Math.floor(6 / g.KW), CR));
    const shader = rowShader(e, tuning);
    const { WGX, WGY, busy } = rowWorkgroupShape(shader, Math.ceil(CR / TC), g.Co, tile.tm);
    const bx = Math.ceil(CR / (TC * WGX));
    const by = Math.ceil(g.Co / (WGY * tile.tm));
    check(bx, by);
    return { plan: { shader, entry: 'wgrad_rows', constants: { TM: tile.tm, TC, KWC: g.KW, SXC: g.SW, WGX, WGY }, grid: [bx, by, 1] }, busy };
  }
  const NT = g.C * g.KH * g.KW;
  const { WGX, WGY } = workgroupShape(NT, g.Co, tile);
  const bx = Math.ceil(NT / (WGX * tile.tn));
  const by = Math.ceil(g.Co / (WGY * tile.tm));
  check(bx, by);
  return { plan: { shader: SHADERS.conv2d, entry: 'wgrad', constants: { TM: tile.tm, TN: tile.tn, WGX, WGY }, grid: [bx, by, 1] }, busy: WGX * WGY };
}

/** Each conv shader's twin reading x as f16 pairs (the f16 memory policy's saved copy: src/ops/saved.ts). */
const PAIRS_TWIN: ReadonlyMap<Shader, Shader> = new Map([
  [SHADERS.conv2d, SHADERS.conv2d_f16x],
  [SHADERS.conv2d_subgroups, SHADERS.conv2d_subgroups_f16x],
  [SHADERS.conv2d_tiled, SHADERS.conv2d_tiled_f16x],
  [SHADERS.conv2d_tiled_half, SHADERS.conv2d_tiled_half_f16x],
  [SHADERS.conv2d_mma_emulated, SHADERS.conv2d_mma_emulated_f16x],
  [SHADERS.conv2d_mma8, SHADERS.conv2d_mma8_f16x],
  [SHADERS.conv2d_mma16, SHADERS.conv2d_mma16_f16x],
]);

/** A forward or wgrad partial-sum plan run on x's f16 pairs: the same entry, tile and grid in the twin shader. */
export function readingPairs(plan: DispatchPlan): DispatchPlan {
  const shader = PAIRS_TWIN.get(plan.shader);
  if (!shader) throw new Error(`conv2d: ${plan.shader.name} has no variant reading f16 pairs`);
  return { ...plan, shader };
}

/** The weight gradient: the partial-sum kernel split along K (rows n, oy) so that about targetInvocations run. */
export function wgradPlan(e: ConvDevice, g: Geometry, tuning: Conv2dTuning): WgradPlan {
  const { plan: partial, busy } = wgradKernel(e, g, chooseKernel(e, 'wgrad', g, tuning), tuning);
  const align = e.limits.minStorageBufferOffsetAlignment / 4;
  const biasAt = Math.ceil((g.Co * g.C * g.KH * g.KW) / align) * align;
  const total = biasAt + g.Co;
  const invocations = partial.grid[0] * partial.grid[1] * busy;
  const target = tuning.targetInvocations ?? (isCpuAdapter(e.adapter) ? 2048 : 32768);
  const rows = g.N * g.Ho;
  let splits = Math.max(1, Math.min(rows, Math.ceil(target / invocations)));
  splits = Math.max(1, Math.min(splits, Math.floor(tuning.maxPartialBytes / (total * 4)), e.limits.maxComputeWorkgroupsPerDimension));
  const rowsPerSplit = Math.ceil(rows / splits);
  splits = Math.ceil(rows / rowsPerSplit);
  partial.grid[2] = splits;
  return { partial, splits, rowsPerSplit, total, biasAt };
}
