// The autotune cache in Node: one JSON file, $XDG_CACHE_HOME/chh-webgpu/autotune.json (else ~/.cache/...), or the
// file CHH_TUNE_CACHE names (`off`: none). Engines from createNodeEngine read it; `chh tune` and `--tune` add to it.
// A save re-reads the file under a lock and merges, then writes atomically, so two processes tuning at once keep
// both their results and never leave half a file; a corrupt or foreign file is reported in one line and rewritten.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from '../engine/engine.ts';
import type { AdapterDescription } from '../engine/device.ts';
import type { TuneChoice } from '../ops/conv2d/autotune.ts';
import { adapterIdentity, applyTuneCache, emptyTuneCache, mergeTuneChoices, parseTuneCache, type TuneCache } from '../ops/conv2d/tune-cache.ts';
import { withFileLock, writeFileAtomic } from './atomic.ts';
import { userCacheDir } from './cache.ts';

/** The cache file this process uses, or null where CHH_TUNE_CACHE is `off`. */
export function tuneCachePath(): string | null {
  const env = process.env.CHH_TUNE_CACHE;
  if (env === 'off') return null;
  return env || join(userCacheDir(), 'autotune.json');
}

/** The cache in `path` (empty where there is no file); a corrupt, foreign or unreadable file gives a warning and an empty cache. */
export async function readTuneCache(path: string, warn: (line: string) => void = console.warn): Promise<TuneCache> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`autotune cache ${path} cannot be read (${(e as Error).message}); ignored`);
    return emptyTuneCache();
  }
  const { cache, warning } = parseTuneCache(text, path);
  if (warning) warn(warning);
  return cache;
}

/** Adds an adapter's choices (engine.adapter) to the cache file, merged with what other processes wrote meanwhile. */
export async function saveTuneChoices(path: string, adapter: AdapterDescription, choices: readonly TuneChoice[], warn: (line: string) => void = console.warn): Promise<void> {
  await withFileLock(path, async () => {
    const merged = mergeTuneChoices(await readTuneCache(path, warn), adapterIdentity(adapter), choices);
    await writeFileAtomic(path, `${JSON.stringify(merged, null, 1)}\n`);
  });
}

/**
 * Gives the engine the file's choices for its adapter. Returns how many were applied; where the adapter's choices
 * are from another kernel set, says once that they will be tuned again.
 */
export async function loadTuneCache(engine: Engine, path: string | null = tuneCachePath(), warn: (line: string) => void = console.warn): Promise<number> {
  if (!path) return 0;
  const { applied, stale } = applyTuneCache(engine, await readTuneCache(path, warn));
  if (stale) warn(`autotune cache ${path}: this adapter's choices were timed with other kernels; the defaults run until \`chh tune\` tunes again`);
  return applied;
}
