// What the autotuner found, kept between runs: one JSON document (a file in Node, src/node/tune-store.ts; an
// IndexedDB record in the browser, src/worker/), the choices of each adapter under its identity, with a checksum
// of the conv kernel set they were timed with. A changed kernel (or planner) changes the checksum, and that
// adapter's choices are dropped and tuned again; another adapter's stay. Parsing never throws: a corrupt or foreign
// document yields an empty cache and a one-line warning, and the next save rewrites it.
import type { Engine } from '../../engine/engine.ts';
import type { AdapterDescription } from '../../engine/device.ts';
import { fnv1a64 } from '../../engine/hash.ts';
import { SHADERS } from '../../generated/shaders.ts';
import { kernelRunsOn, type TuneChoice } from './autotune.ts';
import { conv2dTuning, type ConvKernel } from './tuning.ts';

export const TUNE_CACHE_FORMAT = 'chh-webgpu/autotune';
export const TUNE_CACHE_VERSION = 1;
/** Bump when plan.ts changes what a tuned kernel means (the WGSL is in the checksum already). */
const PLANNER_VERSION = 'plan/v1';

export interface TunedShape {
  kernel: ConvKernel;
  /** describePlan's name of the winner, and its median milliseconds against the default's. */
  variant: string;
  ms: number;
  defaultMs: number;
  tunedAt: string;
}

export interface AdapterTuning {
  adapter: string;
  /** kernelSetChecksum() of the kernels these shapes were timed with. */
  kernels: string;
  shapes: Record<string, TunedShape>;
}

export interface TuneCache {
  format: typeof TUNE_CACHE_FORMAT;
  version: typeof TUNE_CACHE_VERSION;
  adapters: Record<string, AdapterTuning>;
}

export function emptyTuneCache(): TuneCache {
  return { format: TUNE_CACHE_FORMAT, version: TUNE_CACHE_VERSION, adapters: {} };
}

/** The adapter as the cache names it: runtime, vendor, architecture, device and description (as far as reported). */
export function adapterIdentity(a: AdapterDescription): string {
  return [a.runtime, a.vendor, a.architecture, a.device, a.description].map((s) => s || '-').join(' | ');
}

/** A checksum of every conv2d kernel's WGSL and of the planner's version. */
export function kernelSetChecksum(): string {
  const code = [SHADERS.conv2d, SHADERS.conv2d_subgroups, SHADERS.conv2d_tiled, SHADERS.conv2d_tiled_half, SHADERS.conv2d_mma8, SHADERS.conv2d_mma16].map((s) => s.code).join('\n');
  return fnv1a64(new TextEncoder().encode(`${PLANNER_VERSION}\n${code}`));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function validShape(v: unknown): v is TunedShape {
  if (!isObject(v) || !isObject(v.kernel) || typeof v.variant !== 'string') return false;
  const k = v.kernel;
  const nums = 'bm' in k ? [k.bm, k.bn, k.bk, k.rm, k.rn] : [k.tm, k.tn];
  const flags = 'bm' in k ? [k.double, k.half] : [k.rows, k.flat];
  if ('matrix' in k && k.matrix !== 8 && k.matrix !== 16) return false;
  return nums.every((n) => typeof n === 'number') && flags.every((f) => f === undefined || typeof f === 'boolean') && typeof v.ms === 'number' && typeof v.defaultMs === 'number';
}

/** Why a parsed document is not a tune cache, or null. */
function problem(doc: unknown): string | null {
  if (!isObject(doc) || doc.format !== TUNE_CACHE_FORMAT) return `not a ${TUNE_CACHE_FORMAT} document`;
  if (doc.version !== TUNE_CACHE_VERSION) return `version ${JSON.stringify(doc.version)}, this build reads ${TUNE_CACHE_VERSION}`;
  if (!isObject(doc.adapters)) return 'no adapters object';
  for (const [id, a] of Object.entries(doc.adapters)) {
    if (!isObject(a) || typeof a.kernels !== 'string' || !isObject(a.shapes)) return `adapter "${id}" is malformed`;
    const bad = Object.keys(a.shapes).find((k) => !validShape((a.shapes as Record<string, unknown>)[k]));
    if (bad) return `shape "${bad}" of adapter "${id}" is malformed`;
  }
  return null;
}

/** The cache in `text` (from `source`, for the warning), or an empty one and a one-line warning saying why not. */
export function parseTuneCache(text: string, source: string): { cache: TuneCache; warning: string | null } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { cache: emptyTuneCache(), warning: `autotune cache ${source} is not JSON (${(e as Error).message}); ignored, it will be rewritten` };
  }
  return tuneCacheFrom(doc, source);
}

/** The cache in a parsed document (null: none yet), or an empty one and a one-line warning saying why not. */
export function tuneCacheFrom(doc: unknown, source: string): { cache: TuneCache; warning: string | null } {
  if (doc === null || doc === undefined) return { cache: emptyTuneCache(), warning: null };
  const why = problem(doc);
  if (why) return { cache: emptyTuneCache(), warning: `autotune cache ${source}: ${why}; ignored, it will be rewritten` };
  return { cache: doc as TuneCache, warning: null };
}

/** The cache with these choices added for this adapter (its choices from another kernel set dropped first). */
export function mergeTuneChoices(cache: TuneCache, adapter: string, choices: readonly TuneChoice[], now = new Date()): TuneCache {
  const kernels = kernelSetChecksum();
  const old = cache.adapters[adapter];
  const shapes: Record<string, TunedShape> = old && old.kernels === kernels ? { ...old.shapes } : {};
  for (const c of choices) shapes[c.key] = { kernel: c.kernel, variant: c.variant, ms: c.ms, defaultMs: c.defaultMs, tunedAt: now.toISOString() };
  return { ...cache, adapters: { ...cache.adapters, [adapter]: { adapter, kernels, shapes } } };
}

/**
 * Gives the engine the cache's choices for its adapter: conv2dTuning(engine).tuned. Returns how many were applied,
 * and whether the adapter had choices from another kernel set (stale: not applied, tuned again on the next tune).
 */
export function applyTuneCache(engine: Engine, cache: TuneCache): { applied: number; stale: boolean } {
  const entry = cache.adapters[adapterIdentity(engine.adapter)];
  if (!entry) return { applied: 0, stale: false };
  if (entry.kernels !== kernelSetChecksum()) return { applied: 0, stale: true };
  const tuned = conv2dTuning(engine).tuned;
  let applied = 0;
  for (const [key, shape] of Object.entries(entry.shapes)) {
    if (!kernelRunsOn(engine, shape.kernel)) continue;
    tuned.set(key, shape.kernel);
    applied++;
  }
  return { applied, stale: false };
}
