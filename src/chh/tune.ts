// Tuning a model's convolutions ahead of time (`chh tune`, `--tune`, the demo's button): the GEMM shapes of the
// steps a run will take are collected from dry runs (the same ones compileModel traces), then each is timed
// with the kernels that apply on the adapter (src/ops/conv2d/autotune.ts); the engine uses the winners at once,
// and the caller persists them (src/node/tune-store.ts, or IndexedDB in the browser).
import type { Engine } from '../engine/engine.ts';
import type { ModelState } from '../nn/module.ts';
import type { ResnetUnet } from '../nn/unet.ts';
import { recordConvShapes, type ConvShape } from '../ops/conv2d/conv2d.ts';
import { tuneConv2d, type TuneChoice, type TuneOptions } from '../ops/conv2d/autotune.ts';
import { traceModel, type CompilePlan } from './compile.ts';

/** The conv GEMM shapes of the plan's steps (training: forward, dgrad, wgrad; inference: forward), each once. */
export function modelConvShapes(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan): ConvShape[] {
  return recordConvShapes(engine, () => void traceModel(engine, model, state, plan));
}

/** Tunes every conv shape of the plan's steps; resolves with what won, shape by shape. */
export async function tuneModel(engine: Engine, model: ResnetUnet, state: ModelState, plan: CompilePlan, options: TuneOptions = {}): Promise<TuneChoice[]> {
  return tuneConv2d(engine, modelConvShapes(engine, model, state, plan), options);
}

/** A table of the choices, one line per shape: what won, its time and the default's. */
export function formatTuneChoices(choices: readonly TuneChoice[]): string {
  const rows = choices.map((c) => {
    const speedup = c.defaultMs / c.ms;
    const kept = c.isDefault ? ' (default kept)' : '';
    return `  ${c.key.padEnd(52)} ${c.variant.padEnd(30)} ${c.ms.toFixed(3).padStart(9)} ms  default ${c.defaultMs.toFixed(3).padStart(9)} ms  x${speedup.toFixed(2)}${kept}`;
  });
  const total = choices.reduce((s, c) => s + c.ms, 0);
  const totalDefault = choices.reduce((s, c) => s + c.defaultMs, 0);
  return `${rows.join('\n')}\n  all ${choices.length} GEMMs: ${total.toFixed(2)} ms tuned, ${totalDefault.toFixed(2)} ms with the defaults (x${(totalDefault / total).toFixed(2)})`;
}
