// The autotuner in the browser: the cache is one JSON record ('autotune') in the session's store (IndexedDB in a
// page's worker), read when the session makes an engine and written after the page asks to tune. The record is
// the same document as the Node cache file (src/ops/conv2d/tune-cache.ts), so a corrupt or foreign one is
// reported in one line and rewritten, and a changed kernel set is tuned again.
import type { Engine } from '../engine/engine.ts';
import { ResnetUnet, MODEL_PRESETS } from '../nn/unet.ts';
import { SYNTHETIC } from '../chh/config.ts';
import { tuneStep, type Emit } from '../pipeline/steps.ts';
import { adapterIdentity, applyTuneCache, mergeTuneChoices, tuneCacheFrom, type TuneCache } from '../ops/conv2d/tune-cache.ts';
import { formatTuneResult, type ModelCheck } from '../chh/tune.ts';
import type { SessionStore } from './idb-store.ts';
import type { SessionSettings } from './settings.ts';

export const TUNE_RECORD = 'autotune';

/** What tuning found, for the page: how many shapes, the step's conv time tuned and with the defaults, the whole-model check, the table. */
export interface TuneSummary {
  shapes: number;
  /** The per-shape times of the convolutions of a step, summed: with what each shape runs now, and the defaults. */
  tunedMs: number;
  defaultMs: number;
  /** The whole model's steps with the per-shape winners and with the defaults (null: every default won anyway). */
  check: ModelCheck | null;
  table: string;
}

async function readCache(store: SessionStore, warn: (line: string) => void): Promise<TuneCache> {
  let doc: unknown = null;
  try {
    doc = await store.loadJson<unknown>(TUNE_RECORD);
  } catch (e) {
    doc = { unreadable: (e as Error).message }; // not JSON: reported (and rewritten) like any foreign record
  }
  const { cache, warning } = tuneCacheFrom(doc, `record "${TUNE_RECORD}"`);
  if (warning) warn(warning);
  return cache;
}

/** Gives the engine the stored choices for its adapter; returns how many. */
export async function applyStoredTuning(engine: Engine, store: SessionStore, warn: (line: string) => void): Promise<number> {
  const { applied, stale } = applyTuneCache(engine, await readCache(store, warn));
  if (stale) warn(`the stored kernel choices for this GPU were timed with other kernels; the defaults run until it is tuned again`);
  return applied;
}

/** Tunes the conv shapes of the settings' training step and inference on the engine, and stores the winners. */
export async function tuneForSettings(engine: Engine, s: SessionSettings, landmarks: number | null, store: SessionStore, emit: Emit): Promise<TuneSummary> {
  const model = new ResnetUnet({ ...MODEL_PRESETS[s.model], landmarks: landmarks ?? SYNTHETIC.landmarks.default });
  const state = model.allocate(engine, s.seed);
  try {
    const result = await tuneStep(engine, model, state, { width: s.width, height: s.height, train: [s.batch], augment: s.augment, precision: s.precision, infer: [1, s.batch] }, emit);
    const { choices } = result;
    // A bad record was reported when the session made its engine (applyStoredTuning); here it is just replaced.
    await store.saveJson(TUNE_RECORD, mergeTuneChoices(await readCache(store, () => {}), adapterIdentity(engine.adapter), choices));
    const sum = (f: (c: (typeof choices)[number]) => number) => choices.reduce((t, c) => t + f(c), 0);
    return { shapes: choices.length, tunedMs: sum((c) => c.ms), defaultMs: sum((c) => c.defaultMs), check: result.check, table: formatTuneResult(result) };
  } finally {
    state.dispose();
  }
}
