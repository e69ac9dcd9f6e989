// A CheckpointStore in a folder. Each save writes a temporary file and renames it over the old one, so a crash
// mid-write leaves the previous checkpoint intact.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointStore } from '../chh/train.ts';

export function folderStore(dir: string): CheckpointStore {
  return {
    async save(name: string, bytes: Uint8Array): Promise<void> {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.${process.pid}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(dir, name));
    },
    async load(name: string): Promise<Uint8Array | null> {
      try {
        const b = await readFile(join(dir, name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
  };
}
