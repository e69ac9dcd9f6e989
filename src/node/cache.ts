// Where the preprocessed images of a dataset are cached: in the user's cache folder ($XDG_CACHE_HOME, else
// ~/.cache, then chh-webgpu/images/), one folder per dataset path, never inside the dataset itself (which may be
// read-only or shared); or a folder the user names; or nowhere.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fnv1a64 } from '../engine/hash.ts';
import { NodeFolderImageCache } from './files.ts';
import { cleanStaleTemps } from './atomic.ts';

/** The project's folder in the user's cache: $XDG_CACHE_HOME/chh-webgpu, else ~/.cache/chh-webgpu. */
export function userCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'chh-webgpu');
}

/** The image cache folder of a dataset: `dir` when given, else one in the user's cache named after the dataset's path. */
export function imageCacheDir(dataDir: string, dir?: string): string {
  if (dir) return resolve(dir);
  const abs = resolve(dataDir);
  return join(userCacheDir(), 'images', fnv1a64(new TextEncoder().encode(abs)));
}

/** The image cache of a dataset (null: no cache), with what killed runs left there removed. */
export async function imageCacheFor(dataDir: string, choice: { dir?: string; off?: boolean }): Promise<NodeFolderImageCache | null> {
  if (choice.off) return null;
  const dir = imageCacheDir(dataDir, choice.dir);
  await cleanStaleTemps(dir);
  return new NodeFolderImageCache(dir);
}
