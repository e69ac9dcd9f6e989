// Node-only file access for the data pipeline: a FileSource and FileSink over a folder, a folder-backed ImageCache,
// and writeSyntheticIsbi (the synthetic set written to disk in the ISBI layout).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PREPROCESS_VERSION } from '../data/image-cache.ts';
import { fnv1a64 } from '../engine/hash.ts';
import type { CachedImage, ImageCache } from '../data/image-cache.ts';
import type { FileEntry, FileSink, FileSource, FileStat } from '../io/files.ts';
import { writeSyntheticDataset } from '../data/synthetic/dataset.ts';
import { writeFileAtomic } from './atomic.ts';
import type { SyntheticDatasetOptions, SyntheticDatasetSummary } from '../data/synthetic/dataset.ts';

function toFsPath(root: string, path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`path ${JSON.stringify(path)} leaves the folder ${root}`);
  return join(root, ...parts);
}

/** A FileSource and FileSink over a folder of the local file system. */
export function nodeFolder(root: string): FileSource & FileSink {
  const abs = resolve(root);
  return {
    async list(dir: string): Promise<FileEntry[]> {
      const entries = await readdir(toFsPath(abs, dir), { withFileTypes: true });
      const out: FileEntry[] = [];
      for (const e of entries) {
        if (e.isFile()) out.push({ name: e.name, kind: 'file' });
        else if (e.isDirectory()) out.push({ name: e.name, kind: 'directory' });
        else if (e.isSymbolicLink()) {
          const s = await stat(join(toFsPath(abs, dir), e.name)).catch(() => undefined);
          if (s?.isFile()) out.push({ name: e.name, kind: 'file' });
          else if (s?.isDirectory()) out.push({ name: e.name, kind: 'directory' });
        }
      }
      return out;
    },
    async read(path: string): Promise<Uint8Array> {
      const buf = await readFile(toFsPath(abs, path));
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    },
    async stat(path: string): Promise<FileStat> {
      const s = await stat(toFsPath(abs, path));
      return { size: s.size, mtimeMs: s.mtimeMs };
    },
    describe(path: string): string {
      return toFsPath(abs, path);
    },
    write(path: string, bytes: Uint8Array): Promise<void> {
      return writeFileAtomic(toFsPath(abs, path), bytes);
    },
  };
}

const MAGIC = 0x49484843; // "CHHI" little-endian
const FORMAT = 1;

/**
 * An ImageCache in a folder: one file per entry, `<dir>/<fnv1a64(key)>.bin`, holding the full key
 * (checked on read, so a hash collision is a miss), the sizes, the scale and the 8-bit pixels. Writes are atomic
 * (atomic.ts), so a killed run never leaves a torn entry; unreadable entries are misses.
 */
export class NodeFolderImageCache implements ImageCache {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  private file(key: string): string {
    return join(this.dir, `${fnv1a64(new TextEncoder().encode(`${PREPROCESS_VERSION}\n${key}`))}.bin`);
  }

  async get(key: string): Promise<CachedImage | undefined> {
    let buf: Buffer;
    try {
      buf = await readFile(this.file(key));
    } catch {
      return undefined;
    }
    try {
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== FORMAT) return undefined;
      const keyLen = view.getUint32(8, true);
      const storedKey = new TextDecoder().decode(buf.subarray(12, 12 + keyLen));
      if (storedKey !== key) return undefined;
      let o = 12 + keyLen;
      const width = view.getUint32(o, true);
      const height = view.getUint32(o + 4, true);
      const originalWidth = view.getUint32(o + 8, true);
      const originalHeight = view.getUint32(o + 12, true);
      const scale = view.getFloat64(o + 16, true);
      o += 24;
      if (buf.byteLength !== o + width * height) return undefined;
      const pixels = new Uint8Array(width * height);
      pixels.set(buf.subarray(o, o + width * height));
      return { width, height, originalWidth, originalHeight, scale, pixels };
    } catch {
      return undefined;
    }
  }

  async set(key: string, image: CachedImage): Promise<void> {
    const file = this.file(key);
    const keyBytes = new TextEncoder().encode(key);
    const header = 12 + keyBytes.length + 24;
    const out = new Uint8Array(header + image.pixels.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, FORMAT, true);
    view.setUint32(8, keyBytes.length, true);
    out.set(keyBytes, 12);
    let o = 12 + keyBytes.length;
    view.setUint32(o, image.width, true);
    view.setUint32(o + 4, image.height, true);
    view.setUint32(o + 8, image.originalWidth, true);
    view.setUint32(o + 12, image.originalHeight, true);
    view.setFloat64(o + 16, image.scale, true);
    o += 24;
    out.set(image.pixels, o);
    await writeFileAtomic(file, out);
  }
}

/** Writes the synthetic set (src/data/synthetic/) to outDir in the ISBI layout: RawImage/..., AnnotationsByMD/..., chh-dataset.json. */
export async function writeSyntheticIsbi(outDir: string, options: SyntheticDatasetOptions = {}): Promise<SyntheticDatasetSummary> {
  return writeSyntheticDataset(nodeFolder(outDir), options);
}
