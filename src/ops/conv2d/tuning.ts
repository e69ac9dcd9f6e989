// The kernel choices of conv2d for one engine: which entry points and tiles plan.ts uses. Every engine starts
// from the defaults (the reasons and measurements are in docs/decisions.md, "conv2d kernels"); benchmarks and
// tests change one engine's choices with conv2dTuning(engine), never a global.
import type { Engine } from '../../engine/engine.ts';

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
   * kernel is at most 7 wide and the window (tn-1)*stride + kw at most 24 (tn lowered so that tn*kw <= 32: the
   * stem's 7x7 runs 4 pixels), `dgrad_flat` for stride 1.
   */
  flat?: boolean;
}

/**
 * Workgroup-memory tile of conv2d_tiled.wgsl.in, the family shaped for GPUs: a workgroup computes bm x bn of the
 * output matrix (channels x pixels, or channels x taps for wgrad) in K steps of bk, each invocation an rm x rn
 * register sub-tile (1..8 each), so a workgroup has (bm/rm) x (bn/rn) invocations; bm must be a multiple of rm*rn
 * (the loads of B give each invocation one column). `double` keeps two K blocks in workgroup memory (twice the
 * bytes): the next one loads while the current one is multiplied, one barrier per K step instead of two.
 */
export interface SharedTile {
  bm: number;
  bn: number;
  bk: number;
  rm: number;
  rn: number;
  double?: boolean;
  /**
   * Tensor cores: the side (8 or 16) of the f16 x f16 -> f32 subgroup matrices the blocks are multiplied on
   * (conv2d_mma8 / conv2d_mma16). Then each subgroup owns rm x rn of those matrices (1..4 each, at most 8), the
   * workgroup is a subgroup per rm*matrix x rn*matrix part of the tile, and the operands are rounded to f16.
   */
  matrix?: 8 | 16;
  /**
   * Blocks of f16 (conv2d_tiled_half: adapters with shader-f16): the operands rounded to f16 as with `matrix`, their
   * products and sums in f32 on the ordinary units; half the workgroup memory. Not with `matrix`.
   */
  half?: boolean;
}

/** The kernel of one GEMM: a register tile (conv2d.wgsl.in) or a workgroup-memory tile (conv2d_tiled.wgsl.in). */
export type ConvKernel = ConvTile | SharedTile;

export function isSharedTile(k: ConvKernel): k is SharedTile {
  return 'bm' in k;
}

/** The three GEMMs of a convolution. */
export type ConvOp = 'forward' | 'dgrad' | 'wgrad';

/** What plan.ts needs of an engine. */
export type ConvDevice = Pick<Engine, 'limits' | 'features' | 'adapter'>;

export interface Conv2dTuning {
  /**
   * Kernels of the three GEMMs for every shape; null: the tuned choice of the shape, else the default of the adapter's
   * class (DEFAULT_TILES on a CPU adapter; GPU_DEFAULT_TILE on a GPU where the GEMM fills it).
   */
  forward: ConvKernel | null;
  dgrad: ConvKernel | null;
  wgrad: ConvKernel | null;
  /**
   * What the autotuner (autotune.ts) chose, by shapeKey(op, geometry): consulted where forward/dgrad/wgrad are
   * null. A shape missing here runs the defaults: nothing ever waits for tuning.
   */
  tuned: Map<string, ConvKernel>;
  /**
   * How far wgrad splits its K dimension (batch*Ho*Wo): enough splits that about this many invocations run; null:
   * 2048 on a CPU adapter (every split only adds partial sums there), 32768 on a GPU (it needs tens of thousands in
   * flight).
   */
  targetInvocations: number | null;
  /** Cap on the wgrad partial-sum buffer, bytes. */
  maxPartialBytes: number;
  /**
   * The row-tiled kernels of conv2d_subgroups (weight / dy loads shared through subgroupBroadcast): null uses them
   * where the adapter has the `subgroups` feature with subgroups of at least 4 invocations; true insists (an error
   * where the adapter cannot), false never.
   */
  subgroups: boolean | null;
  /**
   * The GEMMs whose operands may be rounded to f16 (for tensor cores): the autotuner offers subgroup-matrix tiles
   * for these where the adapter has them, and their shapes are tuned under their own key (shapeKey's dtype f16).
   * Default none; training at precision f16 allows all three (src/chh/precision.ts). The gradients' GEMMs round dy
   * too, so training then scales the loss (src/nn/loss-scale.ts).
   */
  f16Ops: ReadonlySet<ConvOp>;
  /**
   * Run subgroup-matrix tiles on conv2d_mma_emulated, on any adapter (each invocation computes its subgroup's
   * matrices whole): for testing the tiling where the adapter has no subgroup matrices. Default false.
   */
  emulateMatrices: boolean;
}

/** The default tiles: row-tiled 8x8 with the taps unrolled for forward and dgrad, row-tiled TM=8 for wgrad. */
export const DEFAULT_TILES: { readonly forward: ConvTile; readonly dgrad: ConvTile; readonly wgrad: ConvTile } = {
  forward: { tm: 8, tn: 8, rows: true, flat: true },
  dgrad: { tm: 8, tn: 8, rows: true, flat: true },
  wgrad: { tm: 8, tn: 4, rows: true },
};

/**
 * The default of GPU adapters for the GEMMs big enough to fill it (plan.ts, defaultKernel): the classic 64x64 tile,
 * 4x4 per invocation, 256 invocations. Not measured on a GPU yet (docs/decisions.md); the autotuner replaces it.
 */
export const GPU_DEFAULT_TILE: SharedTile = { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4 };

function defaultTuning(): Conv2dTuning {
  return { forward: null, dgrad: null, wgrad: null, tuned: new Map(), targetInvocations: null, maxPartialBytes: 64 << 20, subgroups: null, f16Ops: new Set(), emulateMatrices: false };
}

const tunings = new WeakMap<Engine, Conv2dTuning>();

/** This engine's conv2d choices (mutable: assign to change what later conv2d calls on the engine use). */
export function conv2dTuning(engine: Engine): Conv2dTuning {
  let t = tunings.get(engine);
  if (!t) tunings.set(engine, (t = defaultTuning()));
  return t;
}
