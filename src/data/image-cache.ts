// The cache of preprocessed images: CachedImage (a padded, resized, 8-bit image with what is needed to use it
// without the original), the ImageCache interface with an in-memory implementation, and the cache key. The key names
// the preprocessing version, the target size and the file's path, plus its size and mtime, or a content hash
// (fnv1a64) when the source has no stat. Kept apart from the ISBI loader (isbi.ts) so cache implementations, such
// as the folder-backed one in src/node/files.ts, need not depend on the loader.
import type { FileSource } from '../io/files.ts';
import { fnv1a64 } from '../engine/hash.ts';

/** A preprocessed (padded, resized, 8-bit) image and what is needed to use it without the original. */
export interface CachedImage {
  width: number;
  height: number;
  originalWidth: number;
  originalHeight: number;
  /** Original pixels per resized pixel (both axes). */
  scale: number;
  /** width * height gray levels, rows top to bottom. */
  pixels: Uint8Array;
}

export interface ImageCache {
  get(key: string): Promise<CachedImage | undefined>;
  set(key: string, image: CachedImage): Promise<void>;
}

export class MemoryImageCache implements ImageCache {
  private readonly map = new Map<string, CachedImage>();
  async get(key: string): Promise<CachedImage | undefined> {
    return this.map.get(key);
  }
  async set(key: string, image: CachedImage): Promise<void> {
    this.map.set(key, image);
  }
  get size(): number {
    return this.map.size;
  }
}

/** Bump when the preprocessing changes, so stale cache entries are not used. */
export const PREPROCESS_VERSION = 'pad-rb0+area+u8/v1';

/** The cache key of an image file resized to width x height; `bytes` is set when reading them was needed for it. */
export async function cacheKey(source: FileSource, path: string, width: number, height: number): Promise<{ key: string; bytes?: Uint8Array }> {
  const base = `${PREPROCESS_VERSION}|${width}x${height}|${path}`;
  if (source.stat) {
    const s = await source.stat(path);
    return { key: `${base}|size=${s.size}|mtime=${s.mtimeMs}` };
  }
  const bytes = await source.read(path);
  return { key: `${base}|size=${bytes.length}|fnv=${fnv1a64(bytes)}`, bytes };
}
