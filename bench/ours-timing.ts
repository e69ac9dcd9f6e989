// The timing helpers of our side of the benchmark (bench/ours.ts): the run's shared state, deterministic inputs,
// the kernel-case clock (R identical dispatches per sync, GPU timestamps where the adapter has them) and the
// model-case clock (one forward or training step per sync). Every case they time is appended to `cases` in the
// order it ran: bench/report.ts keeps that order in the JSON and the table.
import type { Engine } from '../src/engine/engine.ts';
import { GpuTimer } from '../src/engine/profiler.ts';
import { freeSaved, type TapeNode } from '../src/engine/tape.ts';
import type { Tensor } from '../src/engine/tensor.ts';
import type { OursConfig } from './ours.ts';

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
  /** Model cases: the GFLOP of every conv GEMM the pass or step runs (bench/ours-kernels.ts, modelConvGflop). */
  convGflop?: number;
  /** Conv cases: the kernel plan.ts chose on this engine (bench/ours-kernels.ts, convVariants). */
  variant?: string;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, min: s[0], max: s[s.length - 1], runs: s.length };
}

/** What every case of one run shares: the engine, the options, the timer and the list the results go to. */
export interface BenchRun {
  engine: Engine;
  cfg: OursConfig;
  /** GPU timestamps around each timed run, or null where the adapter has no timestamp-query (wall clock then). */
  timer: GpuTimer | null;
  cases: OurCase[];
}

export const log = (line: string) => console.log(line);

export function startRun(engine: Engine, cfg: OursConfig): BenchRun {
  // Capacity 4: a kernel case reads the timer after every timed run, so one span is in use at a time.
  return { engine, cfg, timer: GpuTimer.supported(engine) ? new GpuTimer(engine, 4) : null, cases: [] };
}

/**
 * `count` values uniform in [-scale/2, scale/2) from a fixed LCG seed: every call gives the same sequence, so
 * each case's inputs are the same from run to run and do not depend on which cases ran before it.
 */
export function randomData(count: number, scale = 1): Float32Array {
  const a = new Float32Array(count);
  let s = 12345;
  for (let i = 0; i < count; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = ((s / 4294967296) - 0.5) * scale;
  }
  return a;
}

/** An input tensor of randomData, outside any scope (the case disposes it). */
export function randTensor(engine: Engine, shape: number[], scale = 1, requiresGrad = false): Tensor {
  return engine.untracked(() => engine.tensor(randomData(shape.reduce((a, b) => a * b, 1), scale), shape, { requiresGrad }));
}

/**
 * One run of `r` dispatches of `record` in one scope and one sync. GPU time of the R dispatches from timestamps
 * where the adapter has them (no submit or wait in it), else NaN; the wall time always.
 */
async function timeDispatches(run: BenchRun, r: number, record: (i: number) => void, prepare?: (r: number) => void): Promise<{ wall: number; gpu: number }> {
  const { engine, timer } = run;
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
}

/**
 * Times `record` (which records dispatches and returns nothing that outlives it): one warm-up (compiles), one
 * calibration run with one dispatch, then kernelReps runs of R dispatches each; `prepare` (untimed, synced
 * before the clock starts) may set up per-run state such as forward passes whose tape the record consumes.
 */
export async function kernelCase(run: BenchRun, name: string, record: (i: number) => void, extra: Partial<OurCase> = {}, prepare?: (r: number) => void): Promise<void> {
  const { cfg, timer } = run;
  await timeDispatches(run, 1, record, prepare); // compile + first touch of the buffers
  const t1 = (await timeDispatches(run, 1, record, prepare)).wall;
  // Enough dispatches per sync to fill about kernelTargetMs, so that the submit and the wait amortise.
  const r = Math.max(1, Math.min(64, Math.round(cfg.kernelTargetMs / Math.max(t1, 0.01))));
  const times: number[] = [];
  const walls: number[] = [];
  for (let i = 0; i < cfg.kernelReps; i++) {
    const t = await timeDispatches(run, r, record, prepare);
    walls.push(t.wall / r);
    times.push((timer ? t.gpu : t.wall) / r);
  }
  const c: OurCase = { name, kind: 'kernel', ms: stats(times), perSync: r, ...extra, ...(timer ? { wallMs: stats(walls).median } : {}) };
  run.cases.push(c);
  const rate = c.gflop ? `${(c.gflop / (c.ms.median / 1000)).toFixed(2)} GFLOP/s` : c.gbytes ? `${(c.gbytes / (c.ms.median / 1000)).toFixed(2)} GB/s` : '';
  log(`ours: ${name} ${c.ms.median.toFixed(2)} ms ${rate} (x${r} per sync)`);
}

/** Backward closures of `count` fresh forward passes, taken off the tape (each may be run once). */
function tapeNodes(engine: Engine, count: number, forward: () => Tensor): { nodes: TapeNode[]; outputs: Tensor[] } {
  const nodes: TapeNode[] = [];
  const outputs: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    const start = engine.tape.length;
    outputs.push(forward());
    nodes.push(...engine.tape.splice(start));
  }
  return { nodes, outputs };
}

/**
 * Times the backward kernel of `forward`'s op alone: before each timed run, R forward passes are recorded
 * untimed and their tape nodes taken off, and the timed run calls each node's backward once with `dy`.
 */
export async function backwardCase(run: BenchRun, name: string, forward: () => Tensor, dy: Tensor, extra: Partial<OurCase>): Promise<void> {
  const { engine } = run;
  let pending: { nodes: TapeNode[]; outputs: Tensor[] } | null = null;
  const release = () => {
    for (const o of pending?.outputs ?? []) o.dispose();
    pending = null;
  };
  await kernelCase(
    run,
    name,
    (i) => {
      const node = pending!.nodes[i];
      // Nothing is lent (no .grad to write into, dy not to be overwritten: every rep reads it): the kernels that make
      // the gradients are timed as they run for fresh tensors.
      engine.noGrad(() => node.backward(dy, { into: () => null, gradOutputIsFree: false }));
      freeSaved(node);
    },
    extra,
    (r) => {
      release();
      pending = tapeNodes(engine, r, forward);
    },
  );
  release();
}

/** Times `fn` once per sync: one warm-up run, then reps timed runs (the way TF.js's anchor is timed). */
export async function modelCase(run: BenchRun, name: string, fn: () => void, convGflop?: number): Promise<void> {
  const { engine, cfg } = run;
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
  run.cases.push({ name, kind: 'model', ms: stats(out), ...(convGflop !== undefined ? { convGflop } : {}) });
}
