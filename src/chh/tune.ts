// Tuning a model's convolutions ahead of time (`chh tune`, `--tune`, the demo's button): the GEMM shapes of the
// steps a run will take are collected from dry runs (the same ones compileModel traces), then each is timed
// with the kernels that apply on the adapter (src/ops/conv2d/autotune.ts), and the winners are kept only where the
// whole model runs faster with them; the engine uses them at once, and the caller persists them
// (src/node/tune-store.ts, or IndexedDB in the browser).
import type { Engine } from '../engine/engine.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { backward } from '../ops/backward.ts';
import { recordConvShapes, type ConvShape } from '../ops/conv2d/conv2d.ts';
import { tuneConv2d, type TuneChoice, type TuneOptions } from '../ops/conv2d/autotune.ts';
import { conv2dTuning } from '../ops/conv2d/tuning.ts';
import { full } from '../ops/fill.ts';
import { traceModel, type CompilePlan } from './compile.ts';
import { trainingLoss } from './loss.ts';
import { inPrecision } from './precision.ts';

/** The conv GEMM shapes of the plan's steps (training: forward, dgrad, wgrad; inference: forward), each once. */
export function modelConvShapes(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan): ConvShape[] {
  return recordConvShapes(engine, () => void traceModel(engine, model, state, plan));
}

/** The whole model's time with the winners and with the defaults (the fastest of a few runs each, interleaved). */
export interface ModelCheck {
  tunedMs: number;
  defaultMs: number;
  /** Whether the winners were kept (the model was faster with them by the margin). */
  kept: boolean;
}

export interface TuneModelResult {
  choices: TuneChoice[];
  /** Null where every shape kept its default (nothing to check). */
  check: ModelCheck | null;
}

export interface TuneModelOptions extends TuneOptions {
  /** Progress of the whole-model check, in runs of the plan's steps. */
  onCheckProgress?: (p: { done: number; total: number }) => void;
}

/** Runs of each side in the whole-model check, alternating. */
const CHECK_ROUNDS = 3;

/**
 * Tunes every conv shape of the plan's steps, then checks the winners in the whole model: kernels timed one by one
 * can rank otherwise inside the model (on SwiftShader the per-shape winners made the model's steps 25% slower:
 * BENCHMARKS.md), so unless the plan's steps run faster with them by the margin, every shape keeps its default.
 * Resolves with what each shape runs now.
 */
export async function tuneModel(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan, options: TuneModelOptions = {}): Promise<TuneModelResult> {
  const tuned = await tuneConv2d(engine, modelConvShapes(engine, model, state, plan), options);
  if (tuned.every((c) => c.isDefault)) return { choices: tuned, check: null };
  const check = await checkInModel(engine, model, plan, tuned, { margin: options.margin ?? 0.03, onProgress: options.onCheckProgress });
  if (check.kept) return { choices: tuned, check };
  const defaults = tuned.map((c): TuneChoice => ({ ...c, kernel: c.defaultKernel, variant: c.defaultVariant, isDefault: true, ms: c.defaultMs }));
  for (const c of defaults) conv2dTuning(engine).tuned.set(c.key, c.kernel);
  return { choices: defaults, check };
}

export interface ModelCheckOptions {
  /** How much faster the choices must be to be kept (0.03: 3%). */
  margin: number;
  onProgress?: (p: { done: number; total: number }) => void;
  /**
   * Milliseconds of one run of the plan's steps with the kernels the engine has now: by default a wall clock
   * around them; the tests give a clock of their own, so that the check's logic does not rest on a noisy machine.
   */
  time?: (runSteps: () => Promise<number>) => Promise<number>;
}

/**
 * Times the plan's steps with the choices' kernels and with their defaults, alternating (a throwaway copy of the
 * model, zero inputs); kept: the choices were faster by the margin. Leaves the choices' kernels in the engine.
 */
export async function checkInModel(engine: Engine, model: ResnetUnet, plan: CompilePlan, choices: readonly TuneChoice[], options: ModelCheckOptions): Promise<ModelCheck> {
  const tuning = conv2dTuning(engine).tuned;
  const use = (pick: 'kernel' | 'defaultKernel'): void => choices.forEach((c) => tuning.set(c.key, c[pick]));
  const steps = planSteps(engine, model, plan);
  const time = (): Promise<number> => (options.time ? options.time(() => steps.time()) : steps.time());
  try {
    let tunedMs = Infinity;
    let defaultMs = Infinity;
    for (let round = 0; round <= CHECK_ROUNDS; round++) {
      use('defaultKernel');
      const d = await time();
      use('kernel');
      const t = await time();
      options.onProgress?.({ done: 2 * (round + 1), total: 2 * (CHECK_ROUNDS + 1) });
      // Round 0 warms both up (first uses compile and allocate).
      if (round > 0) [defaultMs, tunedMs] = [Math.min(defaultMs, d), Math.min(tunedMs, t)];
    }
    return { tunedMs, defaultMs, kept: tunedMs < defaultMs * (1 - options.margin) };
  } finally {
    steps.dispose();
  }
}

/**
 * One training step per training batch (forward, loss, backward) and one frozen forward per inference batch, on a
 * throwaway copy of the model (the caller's weights, gradients and batch statistics are never touched).
 */
function planSteps(engine: Engine, model: ResnetUnet, plan: CompilePlan): { time: () => Promise<number>; dispose: () => void } {
  const state = model.allocate(engine, 0);
  const L = model.config.landmarks;
  const inputs = engine.untracked(() => {
    const batches = [...new Set([...(plan.train ?? []), ...(plan.infer ?? [])])];
    return new Map(batches.map((b) => [b, { images: full(engine, [b, 1, plan.height, plan.width], 0.5), targets: engine.tensor(new Int32Array(b * L), [b, L]) }]));
  });
  const temperatures = engine.untracked(() => full(engine, [L], 1));
  const run = (): void =>
    inPrecision(engine, plan.precision, () => {
      for (const b of new Set(plan.train ?? [])) {
        state.training = true;
        const { images, targets } = inputs.get(b)!;
        engine.scope(() => backward(trainingLoss(model, state, images, temperatures, targets)));
      }
      for (const b of new Set(plan.infer ?? [])) {
        state.training = false;
        engine.scope(() => void engine.noGrad(() => model.forward(state, inputs.get(b)!.images)));
      }
    });
  return {
    async time() {
      await engine.sync();
      const t0 = performance.now();
      run();
      await engine.sync();
      return performance.now() - t0;
    },
    dispose() {
      for (const { images, targets } of inputs.values()) [images, targets].forEach((t) => t.dispose());
      temperatures.dispose();
      state.dispose();
    },
  };
}

/** The choices' table, then what the whole-model check measured and decided. */
export function formatTuneResult({ choices, check }: TuneModelResult): string {
  const table = formatTuneChoices(choices);
  if (!check) return table;
  const verdict = check.kept ? 'the winners kept' : 'not faster with the winners: every shape keeps its default';
  return `${table}\n  the whole model's steps: ${check.tunedMs.toFixed(1)} ms with the winners, ${check.defaultMs.toFixed(1)} ms with the defaults: ${verdict}`;
}

/** A table of the choices, one line per shape: what won, its time and the default's. */
function formatTuneChoices(choices: readonly TuneChoice[]): string {
  const rows = choices.map((c) => {
    const speedup = c.defaultMs / c.ms;
    const kept = c.isDefault ? ' (default kept)' : '';
    return `  ${c.key.padEnd(52)} ${c.variant.padEnd(30)} ${c.ms.toFixed(3).padStart(9)} ms  default ${c.defaultMs.toFixed(3).padStart(9)} ms  x${speedup.toFixed(2)}${kept}`;
  });
  const total = choices.reduce((s, c) => s + c.ms, 0);
  const totalDefault = choices.reduce((s, c) => s + c.defaultMs, 0);
  const summary = `  all ${choices.length} GEMMs: ${total.toFixed(2)} ms tuned, ${totalDefault.toFixed(2)} ms with the defaults (x${(totalDefault / total).toFixed(2)})`;
  return [...rows, summary, ...refusals(choices)].join('\n');
}

/** The candidates the device refused to compile, once per variant (the same refusal tends to repeat on every shape). */
function refusals(choices: readonly TuneChoice[]): string[] {
  const byVariant = new Map<string, { reason: string; shapes: number }>();
  for (const c of choices) {
    for (const r of c.refused) {
      const seen = byVariant.get(r.variant);
      if (seen) seen.shapes++;
      else byVariant.set(r.variant, { reason: r.reason.split('\n')[0], shapes: 1 });
    }
  }
  return [...byVariant].map(([variant, r]) => `  refused by the device on ${r.shapes} shape(s): ${variant}: ${r.reason}`);
}
