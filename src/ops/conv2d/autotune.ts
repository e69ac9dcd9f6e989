// The conv2d autotuner: for each GEMM shape a run uses (recordConvShapes), time the kernels that apply on this
// adapter and keep the fastest in conv2dTuning(engine).tuned, where plan.ts looks first. It runs only when asked
// (`chh tune`, `--tune`, the demo's button): a shape not tuned runs its adapter class's default and never waits.
// CPU adapters try only register tiles (workgroup memory and barriers are what they pay most for:
// docs/decisions.md); GPUs try the workgroup-memory tiles of conv2d_tiled.wgsl.in too.
//
// Timing: every candidate's pipelines are compiled first, all at once; then each candidate runs once untimed and
// `reps` times timed, with timestamp queries where the adapter has them, else a wall clock around engine.sync().
// A timed span holds enough runs to last about a millisecond, and a candidate's time is its fastest span: noise
// only ever adds (SwiftShader's timestamps jump by ~3 ms now and then). A candidate more than three times as slow as
// the best so far in its first two spans stops there. The default is replaced only by a candidate at least `margin`
// faster, so noise does not churn the choices.
import type { Engine } from '../../engine/engine.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { Kernel } from '../../engine/kernel.ts';
import { GpuTimer } from '../../engine/profiler.ts';
import { isCpuAdapter } from '../../engine/device.ts';
import { conv2dKernels, type ConvShape } from './conv2d.ts';
import { defaultKernel, keyAllowsF16, planName, sharedTileProblem, type ConvDevice, type Geometry } from './plan.ts';
import { conv2dTuning, isSharedTile, type ConvKernel, type ConvOp, type SharedTile } from './tuning.ts';

/** Register tiles worth a try besides the default (conv2d.wgsl.in's families). */
const REGISTER_CANDIDATES: Record<ConvOp, readonly ConvKernel[]> = {
  forward: [{ tm: 8, tn: 8, rows: true, flat: true }, { tm: 4, tn: 8, rows: true, flat: true }, { tm: 8, tn: 4 }],
  dgrad: [{ tm: 8, tn: 8, rows: true, flat: true }, { tm: 4, tn: 8, rows: true, flat: true }, { tm: 8, tn: 4, rows: true }],
  wgrad: [{ tm: 8, tn: 4, rows: true }, { tm: 4, tn: 4, rows: true }, { tm: 8, tn: 4 }],
};

/** Workgroup-memory tiles tried on GPUs (those the adapter's limits allow): big tiles for big GEMMs, narrow ones for few channels. */
const SHARED_CANDIDATES: readonly SharedTile[] = [
  { bm: 128, bn: 128, bk: 8, rm: 8, rn: 8 },
  { bm: 128, bn: 64, bk: 8, rm: 8, rn: 4 },
  { bm: 64, bn: 128, bk: 8, rm: 4, rn: 8 },
  { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4 },
  { bm: 64, bn: 64, bk: 32, rm: 4, rn: 4 },
  { bm: 64, bn: 64, bk: 8, rm: 4, rn: 4 },
  { bm: 32, bn: 64, bk: 16, rm: 4, rn: 4 },
  { bm: 64, bn: 32, bk: 16, rm: 4, rn: 4 },
  { bm: 128, bn: 32, bk: 16, rm: 8, rn: 2 },
  { bm: 32, bn: 32, bk: 16, rm: 2, rn: 2 },
  { bm: 16, bn: 64, bk: 16, rm: 2, rn: 4 },
  // Double-buffered (twice the workgroup memory: the first three fit the 16 KiB every adapter has).
  { bm: 64, bn: 64, bk: 8, rm: 4, rn: 4, double: true },
  { bm: 128, bn: 64, bk: 8, rm: 8, rn: 4, double: true },
  { bm: 64, bn: 128, bk: 8, rm: 4, rn: 8, double: true },
  { bm: 128, bn: 128, bk: 8, rm: 8, rn: 8, double: true },
  { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4, double: true },
];

/**
 * Subgroup-matrix tiles (tensor cores), tried on the GEMMs recorded as allowed f16 operands (conv2dTuning.f16Ops; the
 * shape key's dtype f16), where the adapter
 * runs them natively (sharedTileProblem: the feature, an f16 -> f32 config of the side, one subgroup size, the limits).
 */
const MATRIX_CANDIDATES: readonly SharedTile[] = [
  { bm: 64, bn: 64, bk: 32, rm: 2, rn: 2, matrix: 16 },
  { bm: 128, bn: 64, bk: 32, rm: 4, rn: 2, matrix: 16 },
  { bm: 64, bn: 128, bk: 32, rm: 2, rn: 4, matrix: 16 },
  { bm: 128, bn: 128, bk: 16, rm: 4, rn: 2, matrix: 16 },
  { bm: 64, bn: 64, bk: 16, rm: 2, rn: 2, matrix: 16, double: true },
  { bm: 32, bn: 64, bk: 32, rm: 2, rn: 2, matrix: 16 },
  { bm: 64, bn: 64, bk: 32, rm: 2, rn: 2, matrix: 8 },
  { bm: 32, bn: 32, bk: 32, rm: 2, rn: 2, matrix: 8 },
];

/**
 * Half tiles (blocks of f16, f32 arithmetic), tried like the matrix tiles on GEMMs allowed f16 operands, where the
 * adapter has shader-f16: shapes of the shared candidates, one with twice their K step, and a double-buffered
 * 128x128 with bk 16, whose blocks would take 32.1 KiB in f32 (16 KiB in f16: it fits every adapter).
 */
const HALF_CANDIDATES: readonly SharedTile[] = [
  { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4, half: true },
  { bm: 64, bn: 64, bk: 32, rm: 4, rn: 4, half: true },
  { bm: 128, bn: 64, bk: 16, rm: 8, rn: 4, half: true },
  { bm: 64, bn: 128, bk: 16, rm: 4, rn: 8, half: true },
  { bm: 128, bn: 128, bk: 16, rm: 8, rn: 8, double: true, half: true },
  { bm: 64, bn: 64, bk: 16, rm: 4, rn: 4, double: true, half: true },
];

export interface TuneOptions {
  /** Timed spans per candidate (default 3; the fastest counts). */
  reps?: number;
  /** How much faster than the default a candidate must be to replace it (default 0.03: 3%). */
  margin?: number;
  onProgress?: (p: { done: number; total: number; shape: string }) => void;
}

/** What tuning one GEMM shape found. */
export interface TuneChoice {
  key: string;
  op: ConvOp;
  kernel: ConvKernel;
  /** The adapter class's default for this shape (what runs untuned). */
  defaultKernel: ConvKernel;
  /** describePlan's name of the winner and of the default; whether the default won. */
  variant: string;
  defaultVariant: string;
  isDefault: boolean;
  /** Milliseconds of one run of the winner and of the default. */
  ms: number;
  defaultMs: number;
  /** Every candidate timed (those with the same plan once): its name and milliseconds (Infinity where it stopped early). */
  timings: { variant: string; ms: number }[];
  /** Candidates the device refused to compile (subgroup-matrix tiles on a driver that rejects them), with its message. */
  refused: { variant: string; reason: string }[];
}

function sameKernel(a: ConvKernel, b: ConvKernel): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The kernels worth timing for one GEMM on this adapter, the default first. */
export function candidateKernels(e: ConvDevice, op: ConvOp, g: Geometry, f16Ops: ReadonlySet<ConvOp> = new Set()): ConvKernel[] {
  const list: ConvKernel[] = [defaultKernel(e, op, g)];
  const tiles = f16Ops.has(op) ? [...SHARED_CANDIDATES, ...HALF_CANDIDATES, ...MATRIX_CANDIDATES] : SHARED_CANDIDATES;
  const shared = isCpuAdapter(e.adapter) ? [] : tiles.filter((t) => sharedTileProblem(e, t) === null);
  for (const k of [...REGISTER_CANDIDATES[op], ...shared]) if (!list.some((l) => sameKernel(l, k))) list.push(k);
  return list;
}

/** The plan a kernel gets for this shape, by name (what `chh tune` prints). */
export function variantName(e: Engine, op: ConvOp, g: Geometry, kernel: ConvKernel): string {
  return planName(e, op, g, { ...conv2dTuning(e), [op]: kernel });
}

/** Zero tensors of one shape's GEMM and a function that runs it once (its outputs freed by the caller's scope). */
function gemmRunner(e: Engine, op: ConvOp, g: Geometry): { run: () => void; inputs: Tensor[] } {
  const options = { stride: [g.SH, g.SW] as const, padding: [g.PH, g.PW] as const };
  const x = e.zeros([g.N, g.C, g.H, g.W], { label: 'tune.x' });
  const w = e.zeros([g.Co, g.C, g.KH, g.KW], { label: 'tune.w' });
  if (op === 'forward') return { inputs: [x, w], run: () => void conv2dKernels.forward(x, w, null, options) };
  const dy = e.zeros([g.N, g.Co, g.Ho, g.Wo], { label: 'tune.dy' });
  if (op === 'dgrad') return { inputs: [x, w, dy], run: () => void conv2dKernels.dgrad(dy, x, w, options) };
  return { inputs: [x, w, dy], run: () => void conv2dKernels.wgrad(dy, x, w, true, options) };
}

/** Runs fn with the engine's choice for `op` set to `kernel`. */
function withKernel<T>(e: Engine, op: ConvOp, kernel: ConvKernel, fn: () => T): T {
  const t = conv2dTuning(e);
  const saved = t[op];
  t[op] = kernel;
  try {
    return fn();
  } finally {
    t[op] = saved;
  }
}

/** Milliseconds per run of `reps` spans of `inner` runs each (timestamp queries where there are, else a wall clock). */
async function timeSpans(e: Engine, run: () => void, reps: number, inner: number, timer: GpuTimer | null): Promise<number[]> {
  const span = () => e.scope(() => {
    for (let i = 0; i < inner; i++) run();
  });
  if (timer) {
    for (let i = 0; i < reps; i++) timer.time(span);
    return (await timer.read()).map((ms) => ms / inner);
  }
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    span();
    await e.sync();
    out.push((performance.now() - t0) / inner);
  }
  return out;
}

/** Milliseconds of one run of `kernel` on this shape: the fastest of `reps` spans, Infinity where two are past `giveUpMs`. */
async function timeKernel(e: Engine, op: ConvOp, kernel: ConvKernel, run: () => void, t: { reps: number; inner: number; timer: GpuTimer | null; giveUpMs: number }): Promise<number> {
  return withKernel(e, op, kernel, async () => {
    await timeSpans(e, run, 1, 1, null); // untimed: uploads, first-use costs
    const first = Math.min(...(await timeSpans(e, run, Math.min(2, t.reps), t.inner, t.timer)));
    if (first > t.giveUpMs && t.reps > 2) return Infinity;
    return t.reps > 2 ? Math.min(first, ...(await timeSpans(e, run, t.reps - 2, t.inner, t.timer))) : first;
  });
}

/** Times every candidate of one shape; returns the choice (the default unless beaten by the margin). */
async function tuneShape(e: Engine, shape: ConvShape, candidates: readonly ConvKernel[], timer: GpuTimer | null, reps: number, margin: number): Promise<Omit<TuneChoice, 'refused'>> {
  const { op, geometry: g } = shape;
  const { run, inputs } = gemmRunner(e, op, g);
  const timings: { variant: string; ms: number }[] = [];
  try {
    // Enough runs per span to last about a millisecond, from one span of the default.
    await timeSpans(e, run, 1, 1, null);
    const once = Math.min(...(await timeSpans(e, run, 3, 1, timer)));
    const inner = Math.min(32, Math.max(1, Math.ceil(1 / Math.max(once, 1e-3))));
    let best = Infinity;
    for (const kernel of candidates) {
      const ms = await timeKernel(e, op, kernel, run, { reps, inner, timer, giveUpMs: 3 * best });
      timings.push({ variant: variantName(e, op, g, kernel), ms });
      best = Math.min(best, ms);
    }
  } finally {
    for (const t of inputs) t.dispose();
  }
  const defaultMs = timings[0].ms;
  let win = 0;
  timings.forEach((t, i) => {
    if (t.ms < timings[win].ms) win = i;
  });
  if (win !== 0 && timings[win].ms > defaultMs * (1 - margin)) win = 0;
  const { variant, ms } = timings[win];
  return { key: shape.key, op, kernel: candidates[win], defaultKernel: candidates[0], variant, defaultVariant: timings[0].variant, isDefault: win === 0, ms, defaultMs, timings };
}

/** The candidates of a shape, one per distinct plan (two tiles can plan alike, e.g. row tiles balanced to one width). */
function distinctCandidates(e: Engine, shape: ConvShape): ConvKernel[] {
  const seen = new Set<string>();
  // The shape's key says whether its run allowed f16 operands (it may have been recorded under another precision).
  const f16Ops = new Set(keyAllowsF16(shape.key) ? [shape.op] : []);
  return candidateKernels(e, shape.op, shape.geometry, f16Ops).filter((k) => {
    const name = variantName(e, shape.op, shape.geometry, k);
    if (seen.has(name)) return false;
    seen.add(name);
    return true;
  });
}

/** Every pipeline the candidates of these shapes need, traced (nothing runs) for one parallel compile. */
function candidatePipelines(e: Engine, shapes: readonly ConvShape[], candidates: readonly ConvKernel[][]): Kernel[] {
  return e.traceKernels(() =>
    shapes.forEach((s, i) => {
      const { run } = gemmRunner(e, s.op, s.geometry);
      for (const k of candidates[i]) withKernel(e, s.op, k, run);
    }),
  );
}

/**
 * The candidates whose pipelines the device accepts. Subgroup-matrix and half tiles are compiled first in error
 * scopes (engine.probeKernels): the extension is experimental, f16 in workgroup memory is new to many drivers, and
 * a driver that rejects one of their pipelines must cost that candidate, not the engine. Every other kernel is core
 * WGSL this adapter's limits were checked against.
 */
async function acceptedCandidates(e: Engine, shapes: readonly ConvShape[], candidates: ConvKernel[][]): Promise<TuneChoice['refused'][]> {
  const probes = shapes.flatMap((s, i) =>
    candidates[i]
      .filter((k) => isSharedTile(k) && (k.matrix !== undefined || k.half === true))
      .map((k) => ({ i, k, kernels: e.traceKernels(() => withKernel(e, s.op, k, gemmRunner(e, s.op, s.geometry).run)) })),
  );
  const refusedKernels = await e.probeKernels(probes.flatMap((p) => p.kernels));
  const refused: TuneChoice['refused'][] = shapes.map(() => []);
  for (const { i, k, kernels } of probes) {
    const reason = kernels.map((kernel) => refusedKernels.get(kernel)).find((r) => r !== undefined);
    if (reason === undefined) continue;
    refused[i].push({ variant: variantName(e, shapes[i].op, shapes[i].geometry, k), reason });
    candidates[i] = candidates[i].filter((c) => c !== k);
  }
  return refused;
}

/**
 * Tunes these GEMM shapes on the engine: conv2dTuning(engine).tuned gets each winner (a shared tile or register
 * tile; plan.ts uses it from the next conv2d call on). Returns what won, shape by shape.
 */
export async function tuneConv2d(e: Engine, shapes: readonly ConvShape[], options: TuneOptions = {}): Promise<TuneChoice[]> {
  const reps = options.reps ?? 3;
  const margin = options.margin ?? 0.03;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`tuneConv2d: reps must be a positive integer, got ${reps}`);
  const candidates = shapes.map((s) => distinctCandidates(e, s));
  const refused = await acceptedCandidates(e, shapes, candidates);
  await e.compileKernels(candidatePipelines(e, shapes, candidates));
  const timer = GpuTimer.supported(e) ? new GpuTimer(e, Math.max(3, reps)) : null;
  const choices: TuneChoice[] = [];
  try {
    for (let i = 0; i < shapes.length; i++) {
      const choice = { ...(await tuneShape(e, shapes[i], candidates[i], timer, reps, margin)), refused: refused[i] };
      conv2dTuning(e).tuned.set(choice.key, choice.kernel);
      choices.push(choice);
      options.onProgress?.({ done: i + 1, total: shapes.length, shape: shapes[i].key });
    }
  } finally {
    timer?.dispose();
  }
  return choices;
}

/** Whether a tuned kernel is one this adapter can run (a cache entry from another adapter or an older kernel set may not be). */
export function kernelRunsOn(e: ConvDevice, kernel: ConvKernel): boolean {
  if (isSharedTile(kernel)) return sharedTileProblem(e, kernel) === null;
  return (kernel.tm === 4 || kernel.tm === 8) && Number.isInteger(kernel.tn) && kernel.tn >= 1 && kernel.tn <= 8;
}
